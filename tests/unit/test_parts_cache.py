"""The renderer's kept parts change nothing a reader sees: every template, in every locale it has, for every
audience, channel and kind of notice, renders the same text whether shared blocks are kept or rendered anew."""

from support import project_rules

from breachwire.dev.samples import sample_notice
from consumers.notify.parts_cache import PartsCache
from consumers.notify.render import Renderer
from runtime import resources
from runtime.datamap import load_datamap
from schemas import Audience, Channel, NoticeKind

TEMPLATES = resources.templates_dir()
RULES = project_rules()
STORY = (NoticeKind.PRELIMINARY, NoticeKind.FULL, NoticeKind.FOLLOW_UP, NoticeKind.CLOSING, NoticeKind.ALERT)


def test_kept_parts_render_what_fresh_parts_render() -> None:
    kept, fresh = Renderer(TEMPLATES, RULES), Renderer(TEMPLATES, RULES, parts=PartsCache(0))
    datamap = load_datamap(resources.example_datamap())
    compared = 0
    for audience in Audience:
        kinds = (NoticeKind.ALERT,) if audience is Audience.ONCALL else STORY
        for channel in Channel:
            templates = TEMPLATES / audience.value / channel.value
            for folder in sorted(templates.iterdir()) if templates.is_dir() else []:
                for kind in kinds:
                    for known in (True, False):
                        notice = sample_notice(
                            datamap, audience, channel, rules=RULES, locale=folder.name, kind=kind, known=known
                        )
                        # twice through the keeping renderer: the second time its parts come from what it kept
                        kept.render(notice)
                        assert kept.render(notice).parts == fresh.render(notice).parts, (audience, channel, folder)
                        compared += 1
    assert compared > 100


def test_a_cache_of_size_zero_keeps_nothing_and_a_full_one_starts_again() -> None:
    made: list[str] = []

    def make(text: str) -> str:
        made.append(text)
        return text

    none = PartsCache(0)
    assert [none.get(("a",), lambda: make("a")) for _ in range(2)] == ["a", "a"] and made == ["a", "a"]
    made.clear()
    two = PartsCache(2)
    for key in ("a", "b", "a", "c", "a"):
        two.get((key,), lambda key=key: make(key))
    assert made == ["a", "b", "c", "a"]  # "a" kept until "c" filled the cache past its size
