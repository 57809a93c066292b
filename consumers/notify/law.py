"""What the law asks of a notice, in the reader's words: whose law it cites, whom it names, what it must carry.

The rules (``rules/*.toml``) say per obligation what a notice must carry (``contents``: slugs), its citation and,
for an authority, the authority's real name. ``templates/_shared/contents.toml`` says which incident facts fill each
item, and ``templates/_shared/words/<locale>.toml`` gives each item and fact its words (English where a locale has
none, else the slug in plain words). So a new jurisdiction needs a rules file and, at most, words: no code.

- A controller notice cites the controller duties of the jurisdictions its clocks come from (ours to it, e.g.
  GDPR Art. 33(2), Cal. Civ. Code 1798.82(b)), lists the items those duties ask for and says which facts are
  still missing.
- An authority report cites its obligation, is addressed to its authority and carries that obligation's items,
  each filled from the facts or said to be not yet known.
"""

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from consumers.assess.rules import Jurisdiction, Obligation, RuleBook
from schemas import Audience, Deadline, IncidentFacts

FALLBACK_LOCALE = "en"
VIEWS_KEPT = 1024

# The GDPR Art. 33(3) facts a notice carries; the ones still unknown are listed as pending (Art. 33(4)).
ART_33_3_FACTS = (
    "description",
    "data_categories",
    "approx_data_subjects",
    "approx_records",
    "likely_consequences",
    "measures_taken",
    "contact",
)

# The incident facts an item can be filled from (templates print each; templates/_shared/contents.toml names them).
FACTS = (*ART_33_3_FACTS, "occurred", "aware_at")


def known_facts(incident: IncidentFacts) -> frozenset[str]:
    """The facts of ``FACTS`` the report gives (awareness always: every report has it)."""
    values = {
        "description": incident.description,
        "data_categories": incident.data_categories,
        "approx_data_subjects": incident.approx_data_subjects,
        "approx_records": incident.approx_records,
        "likely_consequences": incident.likely_consequences,
        "measures_taken": incident.measures_taken,
        "contact": incident.contact_name or incident.contact_email,
        "occurred": incident.occurred_from,
        "aware_at": incident.aware_at,
    }
    return frozenset(name for name, value in values.items() if value not in (None, "", []))


def plain(slug: str) -> str:
    """A slug in plain words, for an item no words file names: "sample_copy_of_notice" -> "Sample copy of notice"."""
    return slug.replace("_", " ").replace("-", " ").capitalize()


class WordsError(ValueError):
    """A words or contents file under templates/ cannot be read: the message names the file and the entry."""


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise WordsError(f"{path}: {exc}") from None


def _table(path: Path, data: dict[str, Any], name: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise WordsError(f"{path}: [{name}] must be a table")
    return table


def read_fills(path: Path) -> dict[str, tuple[str, ...]]:
    """``contents.toml``: which facts fill each item."""
    fills: dict[str, tuple[str, ...]] = {}
    for slug, facts in _table(path, _read_toml(path), "contents").items():
        if not isinstance(facts, list) or not all(isinstance(f, str) for f in facts):
            raise WordsError(f"{path}: contents.{slug}: a list of fact names")
        unknown = [f for f in facts if f not in FACTS]
        if unknown:
            raise WordsError(f"{path}: contents.{slug}: no fact {unknown[0]!r} (facts: {', '.join(FACTS)})")
        fills[slug] = tuple(facts)
    return fills


def read_words(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``words/<locale>.toml``: (words per item, words per fact)."""
    data = _read_toml(path)
    tables = []
    for name in ("contents", "facts"):
        table = _table(path, data, name)
        for key, value in table.items():
            if not isinstance(value, str) or not value.strip():
                raise WordsError(f"{path}: {name}.{key}: words, as a non-empty string")
        tables.append(table)
    return tables[0], tables[1]


@dataclass(frozen=True)
class Words:
    """One locale's words for items and facts, English beneath them."""

    contents: dict[str, str]
    facts: dict[str, str]

    def item(self, slug: str) -> str:
        return self.contents.get(slug) or plain(slug)


@dataclass(frozen=True)
class _Duties:
    """What a set of obligations asks for, without the facts of one report."""

    citations: tuple[str, ...]
    items: tuple[tuple[str, str, tuple[str, ...]], ...]  # (slug, words, facts)
    late: tuple[str, ...]  # words of the items a late notice adds


class Law:
    """The rule book and the words under ``templates/_shared``, read once; what each notice cites and carries."""

    def __init__(self, rules: RuleBook, templates_dir: Path) -> None:
        self._rules = rules
        self._shared = templates_dir / "_shared"
        self._fills = read_fills(self._shared / "contents.toml")
        self._words: dict[str, Words] = {}
        # Every words file read now: a broken one stops the notifier at start, naming the file, not a notice later.
        for path in sorted((self._shared / "words").glob("*.toml")):
            self.words(path.stem)
        self._duties: dict[tuple[Any, ...], _Duties] = {}
        self._views: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._terms: dict[tuple[str, str], dict[str, Any]] = {}

    @cached_property
    def _english(self) -> tuple[dict[str, str], dict[str, str]]:
        return read_words(self._shared / "words" / f"{FALLBACK_LOCALE}.toml")

    def words(self, locale: str) -> Words:
        if locale not in self._words:
            contents, facts = self._english
            if locale != FALLBACK_LOCALE:
                own_contents, own_facts = read_words(self._shared / "words" / f"{locale}.toml")
                contents, facts = {**contents, **own_contents}, {**facts, **own_facts}
            self._words[locale] = Words(contents, facts)
        return self._words[locale]

    def fills(self, slug: str) -> tuple[str, ...]:
        """The facts that fill an item; none for an item ``contents.toml`` does not name."""
        return self._fills.get(slug, ())

    @property
    def filled(self) -> frozenset[str]:
        """The items ``contents.toml`` names."""
        return frozenset(self._fills)

    def find(self, jurisdiction_id: str, obligation_id: str = "") -> tuple[Jurisdiction, Obligation | None] | None:
        """A deadline's jurisdiction and obligation in the rule book; None for a jurisdiction it no longer has."""
        try:
            jurisdiction = self._rules[jurisdiction_id]
        except KeyError:
            return None
        found = next((o for o in jurisdiction.obligations if o.id == obligation_id), None)
        return jurisdiction, found

    def clock_terms(self, deadline: Deadline) -> dict[str, Any]:
        """What a deadline's line names beside its own fields: the law's name and the authority's real name."""
        key = (deadline.jurisdiction, deadline.obligation)
        if key not in self._terms:  # (a few per report, every notice: looked up once)
            found = self.find(*key)
            if found is None:
                self._terms[key] = {"law": deadline.jurisdiction, "authority": None}
            else:
                jurisdiction, obligation = found
                authority = obligation.authority.name if obligation is not None and obligation.authority else None
                self._terms[key] = {"law": jurisdiction.name, "authority": authority}
        return self._terms[key]

    def _forget_if_full(self) -> None:
        # Views are per set of jurisdictions, locale and known facts: a few per report, kept for the next notices.
        if len(self._views) >= VIEWS_KEPT:
            self._views.clear()

    def _duties_of(self, obligations: list[Obligation], locale: str) -> _Duties:
        words = self.words(locale)
        citations = list(dict.fromkeys(o.citation for o in obligations))
        slugs = list(dict.fromkeys(slug for o in obligations for slug in o.contents))
        late = list(dict.fromkeys(slug for o in obligations for slug in o.late_contents))
        return _Duties(
            tuple(citations),
            tuple((slug, words.item(slug), self.fills(slug)) for slug in slugs),
            tuple(words.item(slug) for slug in late),
        )

    def _view(self, duties: _Duties, known: frozenset[str], locale: str) -> dict[str, Any]:
        """The items with what the facts fill, and what is missing, in the reader's words."""
        fact_words = self.words(locale).facts
        items: list[dict[str, Any]] = []
        missing: list[str] = []
        first_with: dict[tuple[str, ...], int] = {}
        for number, (slug, words, facts) in enumerate(duties.items, start=1):
            items.append(
                {
                    "item": slug,
                    "words": words,
                    "facts": list(facts),
                    "known": bool(facts) and all(f in known for f in facts),
                    # An item filled by the same facts as an earlier one refers to it instead of repeating it.
                    "same_as": first_with.get(facts) if facts else None,
                }
            )
            if facts:
                first_with.setdefault(facts, number)
                missing += [fact_words.get(f, plain(f)) for f in facts if f not in known]
            else:
                missing.append(words)
        return {
            "citations": list(duties.citations),
            "contents": items,
            "missing": list(dict.fromkeys(missing)),
            "unfilled": [i["item"] for i in items if not i["facts"]],  # items no fact of a report fills
            # (the items as a webhook carries them)
            "required": [{"item": i["item"], "label": i["words"], "known": i["known"]} for i in items],
            "late_items": list(duties.late),
            "fact_words": fact_words,
        }

    def for_controller(self, deadlines: Iterable[Deadline], incident: IncidentFacts, locale: str) -> dict[str, Any]:
        """A controller notice's law: the controller duties (ours to it) of the jurisdictions its clocks come
        from, their citations, the items they ask for and the facts still missing."""
        jurisdictions = tuple(dict.fromkeys(d.jurisdiction for d in deadlines))
        known = known_facts(incident)
        key = ("controller", jurisdictions, locale, known)
        if key not in self._views:
            self._forget_if_full()
            duties_key = ("controller", jurisdictions, locale)
            if duties_key not in self._duties:
                obligations = [
                    o
                    for j in jurisdictions
                    if (found := self.find(j)) is not None
                    for o in found[0].obligations_for(Audience.CONTROLLER)
                ]
                self._duties[duties_key] = self._duties_of(obligations, locale)
            self._views[key] = {**self._view(self._duties[duties_key], known, locale), "key": key}
        return self._views[key]

    def for_authority(self, deadlines: Iterable[Deadline], incident: IncidentFacts, locale: str) -> dict[str, Any]:
        """An authority report's law: its filing's authority, citation and items (the first authority clock the
        report carries; a report carries its own filing's clock)."""
        filing = next((d for d in deadlines if d.audience is Audience.AUTHORITY), None)
        known = known_facts(incident)
        key = ("authority", filing.jurisdiction if filing else "", filing.obligation if filing else "", locale, known)
        if key not in self._views:
            self._forget_if_full()
            found = self.find(filing.jurisdiction, filing.obligation) if filing else None
            obligation = found[1] if found else None
            duties = self._duties_of([obligation] if obligation else [], locale)
            view = self._view(duties, known, locale)
            authority = obligation.authority if obligation else None
            view.update(
                {
                    "authority": authority.name if authority else None,
                    "url": authority.url if authority else None,
                    "law": found[0].name if found else None,
                    # A clock whose obligation the rules no longer have still carries its citation.
                    "citations": view["citations"] or ([filing.citation] if filing and filing.citation else []),
                    "key": key,
                }
            )
            self._views[key] = view
        return self._views[key]
