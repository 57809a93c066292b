"""The words follow the recipient's own law: a controller notice cites the controller's laws and their terms, lists
what they require and what is still missing; an authority report is addressed to its authority, cites its
obligation and carries the items its form asks for; a clock waiting for a determination says so. And every item
the rules name has words (``templates/_shared``), so adding a jurisdiction needs no code."""

import json
import shutil
import tomllib
from pathlib import Path

import pytest
from support import project_rules

from breachwire.dev.samples import notice_from_report, sample_report
from consumers.assess.assessment import Assessor
from consumers.notify.errors import FinalDelivery
from consumers.notify.law import FACTS, Law, Words, plain, read_fills
from consumers.notify.render import Renderer
from runtime import resources
from runtime.datamap import DataMap, load_datamap
from schemas import Audience, Channel, NoticeKind, NoticeRequested

TEMPLATES = resources.templates_dir()
WORDS = TEMPLATES / "_shared" / "words"
RULES = project_rules()
LOCALES = ("en", "fil", "sk")


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TEMPLATES, RULES)


def renderer_words() -> Words:
    return Law(RULES, TEMPLATES).words("en")


def project_customers() -> list[str]:
    return list(load_datamap(resources.example_datamap()).customers)


def controller_notice(
    datamap: DataMap, customer: str, channel: Channel = Channel.EMAIL, locale: str | None = None, **facts: object
) -> NoticeRequested:
    report = sample_report(NoticeKind.FULL).model_copy(update=facts)
    return notice_from_report(
        report, datamap, Audience.CONTROLLER, channel, rules=RULES, customer=datamap.customers[customer], locale=locale
    )


def authority_report(
    datamap: DataMap, jurisdiction: str, obligation: str, channel: Channel = Channel.EMAIL, **facts: object
) -> NoticeRequested:
    """The report the processor files for a controller with ``jurisdiction``'s authority, as the assessor builds it:
    addressed by the authority's name from the rules, carrying that filing's clock."""
    report = sample_report(NoticeKind.FULL).model_copy(update=facts)
    base = notice_from_report(report, datamap, Audience.AUTHORITY, channel, rules=RULES, locale="en")
    duty = RULES[jurisdiction].obligation(obligation)
    assert duty.authority is not None
    [clock] = [
        d
        for d in Assessor(RULES, report).clocks([RULES[jurisdiction]], report.approx_data_subjects)
        if d.obligation == obligation
    ]
    return base.model_copy(
        update={"recipient_name": duty.authority.name, "timezone": RULES[jurisdiction].timezone, "deadlines": [clock]}
    )


# --- controller notices --------------------------------------------------------------------------------------------


def test_a_california_controller_is_told_under_californian_law(renderer: Renderer, datamap: DataMap) -> None:
    rendered = renderer.render(controller_notice(datamap, "sf-software"))

    for body in (rendered.text, rendered.html):
        assert "Cal. Civ. Code 1798.82(b)" in body  # our duty to the owner, in the opening and the contents
        assert "notify the California Attorney General: by" in body
        assert "GDPR" not in body and "Art. 33" not in body
        assert "supervisory authority" not in body
        assert "California, inform the affected individuals: by" in body  # not GDPR's "data subjects"
    # What 1798.82(b) asks the notice to carry, all known in the sample.
    assert "What your law requires this notice to carry (Cal. Civ. Code 1798.82(b))" in rendered.text
    for item in ("Description of the breach", "Personal information involved", "Date of the breach"):
        assert f"- {item}\n" in rendered.text
    assert "Nothing required is missing." in rendered.text


def test_an_eu_controller_is_told_under_the_gdpr(renderer: Renderer, datamap: DataMap) -> None:
    rendered = renderer.render(controller_notice(datamap, "acme-eu"))

    for body in (rendered.text, rendered.html):
        assert "(GDPR Art. 33(2))" in body
        assert "EU (GDPR), notify the Competent supervisory authority" in body
        assert "Cal. Civ. Code" not in body and "Attorney General" not in body


def test_a_controller_under_two_laws_cites_both(renderer: Renderer, datamap: DataMap) -> None:
    """A Californian clinic is under 1798.82 and, as a HIPAA covered entity, 164.410: both duties, both authorities,
    and the union of the items they ask for, each once."""
    rendered = renderer.render(controller_notice(datamap, "la-clinic"))

    assert "What your laws require this notice to carry (Cal. Civ. Code 1798.82(b); 45 CFR 164.410(b), (c))" in (
        rendered.text
    )
    assert "notify the U.S. Department of Health and Human Services, Office for Civil Rights" in rendered.text
    assert rendered.text.count("- Contact point for more information\n") == 1
    # 164.410(c)(1): no report can say who each individual is; it is listed as missing.
    assert "- Identification of each individual affected: not known yet, will follow" in rendered.text
    assert "Still missing from this notice" in rendered.text and "Identification of each individual" in rendered.text


MISSING = {
    "en": "Still missing from this notice, to follow as soon as we have it: "
    "Approximate number of personal data records concerned; Measures taken or proposed.",
    "sk": "V tomto oznámení ešte chýba (doplníme hneď, ako to budeme mať): "
    "Približný počet dotknutých záznamov osobných údajov; Prijaté alebo navrhované opatrenia.",
    "fil": "Kulang pa sa abisong ito (ipapadala namin sa sandaling malaman namin): "
    "Tinatayang bilang ng mga record ng Personal na Data na apektado; Mga hakbang na ginawa o iminumungkahi.",
}


@pytest.mark.parametrize("locale", LOCALES)
def test_a_controller_notice_says_which_required_facts_are_missing(
    renderer: Renderer, datamap: DataMap, locale: str
) -> None:
    notice = controller_notice(datamap, "acme-eu", locale=locale, approx_records=None, measures_taken=None)
    rendered = renderer.render(notice)

    assert MISSING[locale] in rendered.text
    assert MISSING[locale] in rendered.html
    webhook = json.loads(renderer.render(notice.model_copy(update={"channel": Channel.WEBHOOK})).json_body)
    assert webhook["legal_basis"] == ["GDPR Art. 33(2)"]
    assert webhook["missing"] == MISSING[locale].split(": ", 1)[1].rstrip(".").split("; ")
    unknown = [i["item"] for i in webhook["required_contents"] if not i["known"]]
    assert unknown == ["categories_and_numbers_of_records", "measures_taken_or_proposed"]


# --- authority reports ---------------------------------------------------------------------------------------------


def test_a_pdpc_report_is_addressed_to_the_pdpc_with_the_reg_5_items(renderer: Renderer, datamap: DataMap) -> None:
    notice = authority_report(datamap, "sg-pdpa", "pdpc")
    rendered = renderer.render(notice)

    assert rendered.text.startswith("To: Personal Data Protection Commission (PDPC)\n")
    assert "<p>To: <strong>Personal Data Protection Commission (PDPC)</strong></p>" in rendered.html
    for body in (rendered.text, rendered.html):
        assert "Notification of Data Breaches Regulations 2021 regs 3-5" in body
        assert "GDPR" not in body and "NPC" not in body
    assert "Legal basis: PDPA ss26B, 26D(1), (3), (4); Notification of Data Breaches Regulations 2021" in rendered.text
    # Reg 5(1): each item, filled from the report or said to follow.
    for number, item in enumerate(
        (
            "Date and circumstances in which the breach came to light",
            "Chronology of the steps taken since becoming aware, including the assessment",
            "How and when the breach occurred",
            "Number of affected individuals",
            "Personal data affected",
            "Potential harm to the affected individuals",
            "Actions taken to mitigate harm to the individuals",
            "Plans to remedy the breach",
            "Whether the affected individuals are notified, or why not",
            "Contact details of an authorised representative",
        ),
        start=1,
    ):
        assert f"\n{number}. {item}\n" in rendered.text, item
    assert "about 18,400" in rendered.text
    webhook = json.loads(renderer.render(notice.model_copy(update={"channel": Channel.WEBHOOK})).json_body)
    assert webhook["authority"] == "Personal Data Protection Commission (PDPC)"
    assert webhook["legal_basis"] == [RULES["sg-pdpa"].obligation("pdpc").citation]
    assert "chronology_of_steps_and_assessment" in webhook["pending"]


def test_an_hhs_report_cites_164_408(renderer: Renderer, datamap: DataMap) -> None:
    rendered = renderer.render(authority_report(datamap, "us-hipaa", "hhs"))

    assert rendered.text.startswith("To: U.S. Department of Health and Human Services, Office for Civil Rights")
    assert "Legal basis: 45 CFR 164.408(a), (b), under the HIPAA Breach Notification Rule" in rendered.text
    assert "Types of unsecured protected health information involved" in rendered.text
    assert "Safeguards in place before the breach\nNot yet known" in rendered.text
    assert "GDPR" not in rendered.text and "NPC" not in rendered.text


def test_a_late_report_names_what_its_law_asks_it_to_add(renderer: Renderer, datamap: DataMap) -> None:
    notice = authority_report(datamap, "uk-gdpr", "ico")
    late = notice.model_copy(
        update={"requested_at": notice.incident.aware_at.replace(day=notice.incident.aware_at.day + 4)}
    )

    text = renderer.render(late).text
    assert text.startswith("To: Information Commissioner's Office (ICO)\n")
    assert "What the law asks a late report to add (Reasons for the delay) follows in a separate statement." in text


# --- clocks waiting for a determination ----------------------------------------------------------------------------

WAITING = {
    "en": "no later than {due} if the breach is determined notifiable; the clock starts at that determination",
    "sk": "najneskôr do {due}, ak sa rozhodne, že porušenie podlieha oznámeniu; lehota začína plynúť týmto rozhodnutím",
    "fil": "hindi lalampas sa {due} kung mapagpasyahang kailangang iulat ang paglabag; magsisimula ang takdang "
    "panahon sa pagpapasyang iyon",
}


@pytest.mark.parametrize("locale", LOCALES)
def test_a_clock_waiting_for_a_determination_says_so(renderer: Renderer, datamap: DataMap, locale: str) -> None:
    notice = controller_notice(datamap, "sg-shop", locale=locale)
    waiting = [d for d in notice.deadlines if d.waiting_for == "determination"]
    assert waiting, "Singapore's PDPC clock runs from the determination, which the sample report does not carry"
    rendered = renderer.render(notice)
    labels = json.loads(renderer.render(notice.model_copy(update={"channel": Channel.WEBHOOK})).json_body)

    [pdpc] = [c for c in labels["deadlines"] if c["audience"] == "authority"]
    assert pdpc["waiting_for"] == "determination"
    assert WAITING[locale].format(due=pdpc["due_local"]) in pdpc["label"]
    assert f"- {pdpc['label']}" in rendered.text
    # A clock that does not wait says "by" its date.
    started = controller_notice(datamap, "acme-eu", locale=locale)
    assert all(d.waiting_for is None for d in started.deadlines)
    assert WAITING[locale].split("{due}")[1] not in renderer.render(started).text


# --- the words: every item the rules name ---------------------------------------------------------------------------


def rules_items() -> dict[str, list[str]]:
    """Every item a rules file's contents or late_contents names, with where."""
    used: dict[str, list[str]] = {}
    for jurisdiction in RULES.jurisdictions:
        for obligation in jurisdiction.obligations:
            for slug in (*obligation.contents, *obligation.late_contents):
                used.setdefault(slug, []).append(f"{jurisdiction.id}/{obligation.id}")
    return used


def without(words: set[str], used: dict[str, list[str]]) -> str:
    missing = sorted(set(used) - words)
    return "\n".join(f"  {slug} = ...   # {', '.join(used[slug][:4])}" for slug in missing)


def test_every_item_the_rules_name_has_english_words() -> None:
    """A new rules file's new items need their words in templates/_shared/words/en.toml (else notices show the
    slug in plain words): this lists each missing one, with the obligations that use it."""
    used = rules_items()
    words = set(tomllib.loads((WORDS / "en.toml").read_text(encoding="utf-8"))["contents"])

    missing = without(words, used)
    assert not missing, f"items with no words in {WORDS / 'en.toml'} [contents]:\n{missing}"


def test_every_item_the_rules_name_says_which_facts_fill_it() -> None:
    """... and a line in templates/_shared/contents.toml (an empty list when no fact of a report fills it)."""
    used = rules_items()
    fills = read_fills(TEMPLATES / "_shared" / "contents.toml")

    missing = without(set(fills), used)
    assert not missing, f"items not in {TEMPLATES / '_shared' / 'contents.toml'} [contents]:\n{missing}"


# The items of the notices that went out translated before: the EU's and the UK's controller and authority
# notices (Slovak and Filipino controllers are EU customers) and the NPC report (Filipino).
TRANSLATED = [("eu-gdpr", "controller"), ("eu-gdpr", "supervisory-authority"), ("uk-gdpr", "controller")]
TRANSLATED += [("uk-gdpr", "ico"), ("ph-dpa", "controller"), ("ph-dpa", "npc")]


@pytest.mark.parametrize("locale", ["sk", "fil"])
def test_the_translated_notices_stay_translated(locale: str) -> None:
    own = tomllib.loads((WORDS / f"{locale}.toml").read_text(encoding="utf-8"))
    needed = {s for j, o in TRANSLATED for d in [RULES[j].obligation(o)] for s in (*d.contents, *d.late_contents)}

    assert needed - set(own["contents"]) == set()
    assert set(FACTS) - set(own["facts"]) == set()


def test_an_item_without_words_is_shown_in_plain_words(tmp_path: Path) -> None:
    law = Law(RULES, TEMPLATES)

    assert law.words("en").item("sample_copy_of_resident_notice") == "Sample copy of the notice to residents"
    assert law.words("en").item("a_new_item-from_a_new_law") == "A new item from a new law"
    assert plain("toll_free_numbers") == "Toll free numbers"
    # A locale without the item falls back to English, and to plain words after that.
    assert law.words("sk").item("ftc_contacts") == "Contact details of the Federal Trade Commission"
    assert law.words("sk").item("nature") == "Povaha porušenia ochrany osobných údajov"


def test_a_contents_file_naming_an_unknown_fact_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "contents.toml"
    path.write_text('[contents]\nnature = ["description", "mood"]\n', encoding="utf-8")

    with pytest.raises(ValueError, match=r"contents.toml: contents.nature: no fact 'mood'"):
        read_fills(path)


def test_a_jurisdiction_without_words_is_named_by_its_law(datamap: DataMap, tmp_path: Path) -> None:
    """A new rules file needs no words to be named: a clock's line falls back to the law's name from the rules."""
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    words = templates / "_shared/words/en.j2"
    words.write_text("".join(line for line in words.read_text().splitlines(True) if '"my-pdpa"' not in line))
    notice = controller_notice(datamap, "kl-travel")
    assert any(d.jurisdiction == "my-pdpa" for d in notice.deadlines)

    text = Renderer(templates, RULES).render(notice).text
    assert f"- {RULES['my-pdpa'].name}, " in text
    assert "- my-pdpa" not in text and "- Malaysia (PDPA)" not in text
    assert "- Malaysia (PDPA), " in Renderer(TEMPLATES, RULES).render(notice).text


# --- every jurisdiction of the rules, as it is --------------------------------------------------------------------

AUTHORITY_DUTIES = [
    pytest.param(j.id, o.id, id=f"{j.id}/{o.id}")
    for j in RULES.jurisdictions
    for o in j.obligations
    if o.audience == "authority"
]


@pytest.mark.parametrize(("jurisdiction", "obligation"), AUTHORITY_DUTIES)
def test_every_authority_gets_a_report_under_its_own_law(
    renderer: Renderer, datamap: DataMap, jurisdiction: str, obligation: str
) -> None:
    duty = RULES[jurisdiction].obligation(obligation)
    assert duty.authority is not None
    rendered = renderer.render(authority_report(datamap, jurisdiction, obligation))

    assert rendered.text.startswith(f"To: {duty.authority.name}\n")
    assert f"Legal basis: {duty.citation}, under the {RULES[jurisdiction].name}" in rendered.text
    for slug in duty.contents:
        assert f". {renderer_words().item(slug)}\n" in rendered.text, slug
    if "GDPR" not in duty.citation:
        assert "GDPR" not in rendered.text


@pytest.mark.parametrize("customer", sorted(project_customers()))
def test_every_customer_gets_a_controller_notice_under_its_own_laws(
    renderer: Renderer, datamap: DataMap, customer: str
) -> None:
    notice = controller_notice(datamap, customer)
    rendered = renderer.render(notice)
    jurisdictions = {d.jurisdiction for d in notice.deadlines}
    ours = [o for j in sorted(jurisdictions) for o in RULES[j].obligations_for("controller")]

    for duty in ours:
        assert duty.citation in rendered.text
    if not any("GDPR" in o.citation for o in ours):
        assert "GDPR" not in rendered.text


def test_a_notice_naming_a_law_the_rules_no_longer_have_still_renders(renderer: Renderer, datamap: DataMap) -> None:
    """A notice requested before a rules file was renamed keeps what its clock carries: the citation, the id."""
    notice = controller_notice(datamap, "acme-eu")
    gone = [d.model_copy(update={"jurisdiction": "xx-gone", "obligation": "gone"}) for d in notice.deadlines]
    text = renderer.render(notice.model_copy(update={"deadlines": gone})).text

    assert "- xx-gone, notify the authority: by " in text and "[GDPR Art. 33(1), (3), (4)]" in text
    assert "What your law" not in text  # no rules, no list of items to claim

    report = authority_report(datamap, "eu-gdpr", "supervisory-authority")
    orphan = report.model_copy(
        update={"deadlines": [d.model_copy(update={"jurisdiction": "xx-gone"}) for d in report.deadlines]}
    )
    text = renderer.render(orphan).text
    assert "Legal basis: GDPR Art. 33(1), (3), (4)\n" in text
    assert "Nature of the breach: An attacker" in text


def test_a_law_partial_cannot_read_what_differs_between_recipients(datamap: DataMap, tmp_path: Path) -> None:
    """The law part is shared by every notice with the same laws and facts known: it sees ``law``, never the
    recipient."""
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    partial = templates / "controller/email/en/law.txt.j2"
    partial.write_text(partial.read_text() + "Dear {{ notice.recipient_name }}\n")

    with pytest.raises(FinalDelivery, match="'notice' is undefined"):
        Renderer(templates, RULES).render(controller_notice(datamap, "acme-eu"))


def test_notices_sharing_a_law_part_each_say_their_own(renderer: Renderer, datamap: DataMap) -> None:
    """Rendered after one another, notices under other laws or with other facts known get their own law part."""
    first = renderer.render(controller_notice(datamap, "acme-eu")).text
    missing = renderer.render(controller_notice(datamap, "acme-eu", measures_taken=None)).text
    california = renderer.render(controller_notice(datamap, "sf-software")).text

    assert "Nothing required is missing." in first and "Still missing" not in first
    assert "Still missing from this notice, to follow as soon as we have it: Measures taken or proposed." in missing
    assert "(Cal. Civ. Code 1798.82(b))" in california and "GDPR" not in california


def test_a_broken_words_file_stops_the_renderer_at_start_naming_it(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    (templates / "_shared/words/sk.toml").write_text('[contents]\nnature = ""\n', encoding="utf-8")

    with pytest.raises(ValueError, match=r"words/sk.toml: contents.nature: words, as a non-empty string"):
        Renderer(templates, RULES)
