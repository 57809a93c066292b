"""The notices' words: every template for every audience, channel, locale and kind, with the facts known and
unknown; what the law asks each notice to carry; SMS that make sense in one segment; the locale fallback;
report text that tries to break HTML or mail headers; and ``breachwire notices preview``."""

import email
import email.policy
import json
import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support import project_rules

from breachwire.cli import main
from breachwire.dev.samples import first_eu_customer, sample_notice, sample_report
from consumers.assess.assessment import Assessor
from consumers.notify.email import build_message
from consumers.notify.errors import FinalDelivery
from consumers.notify.render import GSM7_BASIC, GSM7_EXTENDED, SMS_SEGMENT, Rendered, Renderer, oneline
from runtime import resources
from runtime.datamap import DataMap
from schemas import NOTICE_AUDIENCES, Audience, Channel, NoticeKind, NoticeRequested, Release, ReportStatus

TEMPLATES = resources.templates_dir()
RULES = project_rules()  # the clocks the samples carry
LOCALES = ("en", "fil", "sk")
STORY = (NoticeKind.PRELIMINARY, NoticeKind.FULL, NoticeKind.FOLLOW_UP, NoticeKind.CLOSING)
NBSP = "\xa0"
NNBSP = "\u202f"  # Babel puts a narrow no-break space before AM/PM


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TEMPLATES, RULES)


def unknown(notice: NoticeRequested) -> NoticeRequested:
    """The notice with every fact that may be unknown left out (as a first, preliminary report has them)."""
    facts = notice.incident.model_copy(
        update={
            "description": "",
            "data_categories": [],
            "approx_data_subjects": None,
            "approx_records": None,
            "likely_consequences": None,
            "measures_taken": None,
            "contact_name": None,
            "contact_email": None,
            "contact_phone": None,
            "occurred_from": None,
            "occurred_until": None,
        }
    )
    return notice.model_copy(update={"incident": facts})


def notice_for(
    datamap: DataMap, audience: Audience, channel: Channel, locale: str, kind: NoticeKind, known: bool = True
) -> NoticeRequested:
    notice = sample_notice(datamap, audience, channel, rules=RULES, locale=locale, kind=kind, known=known)
    return notice if known else unknown(notice)


def expected_locale(audience: Audience, locale: str) -> str:
    # On-call staff read English: their alerts exist in English only, and every other locale falls back.
    return "en" if audience is Audience.ONCALL else locale


def kinds_for(audience: Audience) -> tuple[NoticeKind, ...]:
    return (NoticeKind.ALERT,) if audience is Audience.ONCALL else (*STORY, NoticeKind.ALERT)


MATRIX = [
    pytest.param(a, c, loc, k, known, id=f"{a.value}-{c.value}-{loc}-{k.value}-{'known' if known else 'unknown'}")
    for a in NOTICE_AUDIENCES
    for c in Channel
    for loc in LOCALES
    for k in kinds_for(a)
    for known in (True, False)
]


# --- every template renders, in the locale asked for ----------------------------------------------------------


@pytest.mark.parametrize(("audience", "channel", "locale", "kind", "known"), MATRIX)
def test_every_template_renders(
    renderer: Renderer,
    datamap: DataMap,
    audience: Audience,
    channel: Channel,
    locale: str,
    kind: NoticeKind,
    known: bool,
) -> None:
    notice = notice_for(datamap, audience, channel, locale, kind, known)
    rendered = renderer.render(notice)

    assert rendered.locale == expected_locale(audience, locale)
    if channel is Channel.EMAIL:
        assert set(rendered.parts) == {"subject", "body.txt", "body.html"}
        assert "\n" not in rendered.subject and notice.incident_id[:12] in rendered.subject
        assert f'<html lang="{rendered.locale}">' in rendered.html
        assert notice.incident.title in rendered.text and notice.incident.title in rendered.html
        for text in (rendered.text, rendered.html):
            assert not re.search(r"\bNone\b", text), "a template printed a missing value as None"
    elif channel is Channel.WEBHOOK:
        body = json.loads(rendered.json_body)
        assert body["notice_id"] == notice.notice_id
        assert body["locale"] == rendered.locale
        assert body["incident"]["id"] == notice.incident_id
        assert body["incident"]["title"] == notice.incident.title
        assert body["type"].endswith(kind.value) or audience is Audience.ONCALL
    else:
        assert rendered.sms == rendered.text, "an SMS is one line"
        assert notice.incident_id[:12] in rendered.sms[:SMS_SEGMENT]
        assert all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in rendered.sms), rendered.sms
        assert not re.search(r"\bNone\b", rendered.sms)


def test_the_samples_carry_the_clocks_the_rules_start(datamap: DataMap) -> None:
    """What a preview shows is what the pipeline sends: each audience's clocks as the assessor and the clock
    service attach them, computed from the rules (``rules/``), never written by hand."""
    customer = first_eu_customer(datamap)
    report = sample_report(NoticeKind.FULL)
    clocks = Assessor(RULES, report).assess(customer).controller_clocks
    controller = notice_for(datamap, Audience.CONTROLLER, Channel.EMAIL, "en", NoticeKind.FULL)
    authority = {loc: notice_for(datamap, Audience.AUTHORITY, Channel.EMAIL, loc, NoticeKind.FULL) for loc in LOCALES}
    oncall = notice_for(datamap, Audience.ONCALL, Channel.EMAIL, "en", NoticeKind.ALERT)

    assert clocks and controller.deadlines == clocks
    assert {(d.jurisdiction, d.audience) for d in clocks} == {("eu-gdpr", "authority"), ("eu-gdpr", "data_subjects")}
    # Art. 34's clock has the rules' 72-hour target, not an empty due time.
    assert all(d.due_at == report.aware_at + timedelta(hours=72) for d in clocks)
    assert notice_for(datamap, Audience.CUSTOMER, Channel.EMAIL, "en", NoticeKind.FULL).deadlines == []
    for locale, jurisdiction in (("en", "eu-gdpr"), ("sk", "eu-gdpr"), ("fil", "ph-dpa")):
        [filing] = authority[locale].deadlines
        assert (filing.jurisdiction, filing.audience) == (jurisdiction, "authority")
        assert filing.obligation == RULES[jurisdiction].obligations_for(Audience.AUTHORITY)[0].id
    [ours] = oncall.deadlines
    assert (ours.jurisdiction, ours.audience, ours.obligation) == ("eu-gdpr", "controller", "controller")
    assert ours.due_at == report.aware_at + timedelta(hours=24)


# --- the controller notice: GDPR Art. 33(3), in every locale --------------------------------------------------

ART_33_3_HEADINGS = {
    "en": [
        "Nature of the breach",
        "Categories of personal data concerned",
        "Approximate number of data subjects concerned",
        "Approximate number of personal data records concerned",
        "Likely consequences",
        "Measures taken or proposed",
        "Contact point for more information",
    ],
    "sk": [
        "Povaha porušenia ochrany osobných údajov",
        "Kategórie dotknutých osobných údajov",
        "Približný počet dotknutých osôb",
        "Približný počet dotknutých záznamov osobných údajov",
        "Pravdepodobné následky",
        "Prijaté alebo navrhované opatrenia",
        "Kontaktné miesto, kde možno získať viac informácií",
    ],
    "fil": [
        "Paglalarawan ng paglabag sa seguridad",
        "Mga kategorya ng Personal na Data na sangkot",
        "Tinatayang bilang ng mga paksa ng data na apektado",
        "Tinatayang bilang ng mga record ng Personal na Data na apektado",
        "Mga posibleng kahihinatnan",
        "Mga hakbang na ginawa o iminumungkahi",
        "Contact para sa karagdagang impormasyon",
    ],
}
# The EU authority as rules/eu-gdpr.toml names it (a controller's clocks name each authority so).
EU_AUTHORITY = "Competent supervisory authority (Art. 55; lead supervisory authority under Art. 56)"
# The sample's facts as each locale writes them: numbers, a data category, the authority deadline's local time.
LOCALISED = {
    "en": {
        "subjects": "about 18,400",
        "records": "about 252,000",
        "category": "chat transcripts",
        "due": f"November 6, 2026, 9:40{NNBSP}AM (Central European Time; 2026-11-06 08:40 UTC)",
        "duty": f"EU (GDPR), notify the {EU_AUTHORITY}",
    },
    "sk": {
        "subjects": f"približne 18{NBSP}400",
        "records": f"približne 252{NBSP}000",
        "category": "prepisy četov",
        "due": "6. novembra 2026, 9:40 (stredoeurópsky čas; 2026-11-06 08:40 UTC)",
        "duty": f"EÚ (GDPR), oznámenie orgánu {EU_AUTHORITY}",
    },
    "fil": {
        "subjects": "humigit-kumulang 18,400",
        "records": "humigit-kumulang 252,000",
        "category": "mga transcript ng chat",
        "due": f"Nobyembre 6, 2026, 9:40{NNBSP}AM (Oras sa Gitnang Europe; 2026-11-06 08:40 UTC)",
        "duty": f"EU (GDPR), abisuhan ang {EU_AUTHORITY}",
    },
}
WILL_FOLLOW = {
    "en": "Not known yet; we will tell you as soon as we know.",
    "sk": "Zatiaľ nie je známe; doplníme hneď, ako to budeme vedieť.",
    "fil": "Hindi pa alam; ipapaalam namin sa inyo sa sandaling malaman namin.",
}


@pytest.mark.parametrize("locale", LOCALES)
def test_controller_notice_carries_every_art_33_3_item(renderer: Renderer, datamap: DataMap, locale: str) -> None:
    notice = notice_for(datamap, Audience.CONTROLLER, Channel.EMAIL, locale, NoticeKind.FULL)
    rendered = renderer.render(notice)
    facts, words = notice.incident, LOCALISED[locale]

    for body in (rendered.text, rendered.html):
        for heading in ART_33_3_HEADINGS[locale]:
            assert heading in body
        assert words["subjects"] in body and words["records"] in body
        assert words["category"] in body
        assert facts.contact_email is not None and facts.contact_email in body
        # The controller's own deadlines: jurisdiction, audience, due time in its zone with UTC beside it.
        assert f"{words['duty']}: " in body and words["due"] in body
    assert facts.likely_consequences is not None and facts.measures_taken is not None
    assert facts.description in rendered.text
    assert facts.likely_consequences in rendered.text and facts.measures_taken in rendered.text
    assert WILL_FOLLOW[locale] not in rendered.text


@pytest.mark.parametrize("locale", LOCALES)
def test_controller_notice_says_unknown_facts_will_follow(renderer: Renderer, datamap: DataMap, locale: str) -> None:
    rendered = renderer.render(
        notice_for(datamap, Audience.CONTROLLER, Channel.EMAIL, locale, NoticeKind.PRELIMINARY, False)
    )

    # Nature, categories, both numbers, consequences and measures: six items, each said to follow.
    assert rendered.text.count(WILL_FOLLOW[locale]) == 6
    assert rendered.html.count(WILL_FOLLOW[locale]) == 6
    for heading in ART_33_3_HEADINGS[locale]:
        assert heading in rendered.text
    # Without a contact from the report, the notice still names one: a reply reaches the response team.
    assert {"en": "Reply to this message", "sk": "Odpovedzte na túto správu", "fil": "Sumagot sa mensaheng ito"}[
        locale
    ] in rendered.text


KIND_WORDS = {
    "en": {
        NoticeKind.PRELIMINARY: ("[Preliminary notice] Suspected personal data breach", "SUSPECTED"),
        NoticeKind.FULL: ("[Notice] Personal data breach", "CONFIRMED"),
        NoticeKind.FOLLOW_UP: ("[Follow-up notice]", "follow-up notice updates"),
        NoticeKind.CLOSING: ("[Closing notice]", "now CLOSED"),
    },
    "sk": {
        NoticeKind.PRELIMINARY: ("[Predbežné oznámenie] Podozrenie na porušenie", "PODOZRENIE"),
        NoticeKind.FULL: ("[Oznámenie] Porušenie ochrany osobných údajov", "POTVRDENÉ"),
        NoticeKind.FOLLOW_UP: ("[Doplňujúce oznámenie]", "doplňujúcim oznámením aktualizujeme"),
        NoticeKind.CLOSING: ("[Záverečné oznámenie]", "je UZAVRETÉ"),
    },
    "fil": {
        NoticeKind.PRELIMINARY: ("[Paunang abiso] Pinaghihinalaang paglabag sa seguridad", "PINAGHIHINALAANG"),
        NoticeKind.FULL: ("[Abiso] Paglabag sa seguridad", "KUMPIRMADONG"),
        NoticeKind.FOLLOW_UP: ("[Karagdagang abiso]", "karagdagang abisong ito"),
        NoticeKind.CLOSING: ("[Pangwakas na abiso]", "SARADO na"),
    },
}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", STORY, ids=[k.value for k in STORY])
def test_controller_notice_says_which_kind_it_is(
    renderer: Renderer, datamap: DataMap, locale: str, kind: NoticeKind
) -> None:
    notice = notice_for(datamap, Audience.CONTROLLER, Channel.EMAIL, locale, kind)
    rendered = renderer.render(notice)
    subject, phrase = KIND_WORDS[locale][kind]

    assert rendered.subject.startswith(subject)
    assert phrase in rendered.text
    # Later notices name the earlier ones (Art. 33(4): facts follow in phases).
    assert len(notice.references) == STORY.index(kind)
    for earlier in notice.references:
        assert earlier in rendered.text and earlier in rendered.html


@pytest.mark.parametrize("locale", LOCALES)
def test_a_dismissed_breach_closes_as_no_breach(renderer: Renderer, datamap: DataMap, locale: str) -> None:
    notice = notice_for(datamap, Audience.CONTROLLER, Channel.EMAIL, locale, NoticeKind.CLOSING)
    notice = notice.model_copy(
        update={"incident": notice.incident.model_copy(update={"status": ReportStatus.DISMISSED})}
    )
    text = renderer.render(notice).text

    assert {"en": "NOT to be a breach", "sk": "sa NEPOTVRDILO", "fil": "HINDI paglabag sa seguridad"}[locale] in text


# --- the authority report: its own obligation's items (GDPR Art. 33(3) for the EU, NPC Circular 16-03 s17(D)) -------

# The samples: en and sk go to an EU supervisory authority, fil to the Philippine NPC (breachwire/dev/samples.py).
AUTHORITY_ITEMS = {
    "en": [
        "Legal basis: GDPR Art. 33(1), (3), (4), under the EU General Data Protection Regulation",
        "Nature of the breach",
        "Categories and approximate number of data subjects concerned",
        "Categories and approximate number of personal data records concerned",
        "Contact point for more information",
        "Likely consequences of the breach",
        "Measures taken or proposed to address the breach",
    ],
    "sk": [
        "Právny základ: GDPR Art. 33(1), (3), (4)",
        "Povaha porušenia ochrany osobných údajov",
        "Kategórie a približný počet dotknutých osôb",
        "Kategórie a približný počet dotknutých záznamov osobných údajov",
        "Kontaktné miesto, kde možno získať viac informácií",
        "Pravdepodobné následky porušenia",
        "Prijaté alebo navrhované opatrenia na riešenie porušenia",
    ],
    "fil": [
        "Legal na batayan: RA 10173 s20(f); IRR s38; NPC Circular 16-03 ss11, 17(A), 17(D)",
        "Paano nangyari ang paglabag, at ang kahinaan ng sistema",
        "Kronolohiya ng paglabag",
        "Tinatayang bilang ng mga paksa ng data o record na sangkot",
        "Contact ng Data Protection Officer",
        "Sensitibong personal na impormasyon na sangkot",
        "Iba pang impormasyon na maaaring magamit sa identity fraud",
        "Mga hakbang para maprotektahan o mabawi ang Personal na Data",
        "Mga hakbang para abisuhan ang mga paksa ng data",
        "Mga hakbang para hindi na maulit",
    ],
}
# What each sample report must not cite: the other law's.
NOT_CITED = {"en": "NPC", "sk": "NPC", "fil": "GDPR"}
AUTHORITY_WILL_FOLLOW = {
    "en": "it will follow in a later report",
    "sk": "doplníme v ďalšom oznámení",
    "fil": "isusumite ito sa susunod na ulat",
}


@pytest.mark.parametrize("locale", LOCALES)
def test_authority_report_carries_its_obligations_items(renderer: Renderer, datamap: DataMap, locale: str) -> None:
    notice = notice_for(datamap, Audience.AUTHORITY, Channel.EMAIL, locale, NoticeKind.FULL)
    rendered = renderer.render(notice)
    facts = notice.incident

    assert notice.release is Release.APPROVE
    for body in (rendered.text, rendered.html.replace("&nbsp;", " ")):
        for item in AUTHORITY_ITEMS[locale]:
            assert item in body, item
        assert NOT_CITED[locale] not in body
        assert LOCALISED[locale]["subjects"] in body and LOCALISED[locale]["records"] in body
        assert LOCALISED[locale]["category"] in body
    assert facts.description in rendered.text
    assert facts.likely_consequences is not None and facts.likely_consequences in rendered.text
    assert facts.measures_taken is not None and facts.measures_taken in rendered.text
    assert facts.contact_email is not None and facts.contact_email in rendered.text
    # The chronology: start, end and awareness, each with UTC.
    for utc in ("2026-11-02 23:10 UTC", "2026-11-03 07:55 UTC", "2026-11-03 08:40 UTC"):
        assert utc in rendered.text


@pytest.mark.parametrize(("locale", "unknown_facts"), [("en", 8), ("sk", 8), ("fil", 11)])
def test_authority_report_with_unknown_facts_says_they_follow(
    renderer: Renderer, datamap: DataMap, locale: str, unknown_facts: int
) -> None:
    rendered = renderer.render(
        notice_for(datamap, Audience.AUTHORITY, Channel.EMAIL, locale, NoticeKind.PRELIMINARY, False)
    )

    # The categories of data in the heading of every report; then EU: nature, both categories, both numbers,
    # consequences, measures. NPC: the facts under its items (an item filled by the same facts as an earlier one
    # refers to it), the occurrence, and four items no report fills.
    assert rendered.text.count(AUTHORITY_WILL_FOLLOW[locale]) == unknown_facts
    body = json.loads(
        renderer.render(
            notice_for(datamap, Audience.AUTHORITY, Channel.WEBHOOK, locale, NoticeKind.PRELIMINARY, False)
        ).json_body
    )
    assert {"description", "approx_data_subjects", "measures_taken"} <= set(body["pending"])
    if locale == "fil":
        assert {"sensitive_personal_information_involved", "measures_to_prevent_recurrence"} <= set(body["pending"])
    assert [i["known"] for i in body["required_contents"]].count(False) >= 5
    assert body["pending_note"]


@pytest.mark.parametrize("locale", LOCALES)
def test_a_late_authority_report_says_it_is_late(renderer: Renderer, datamap: DataMap, locale: str) -> None:
    notice = notice_for(datamap, Audience.AUTHORITY, Channel.EMAIL, locale, NoticeKind.FULL)
    late = notice.model_copy(
        update={"requested_at": notice.incident.aware_at.replace(day=notice.incident.aware_at.day + 4)}
    )
    words = {"en": "made after the deadline", "sk": "po uplynutí lehoty", "fil": "pagkalipas ng deadline"}[locale]

    assert words not in renderer.render(notice).text
    assert words in renderer.render(late).text
    assert json.loads(renderer.render(late.model_copy(update={"channel": Channel.WEBHOOK})).json_body)["late"] is True


# --- the customer alert and the on-call alert --------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_customer_alert_is_short_and_says_what_to_do(renderer: Renderer, datamap: DataMap, locale: str) -> None:
    rendered = renderer.render(notice_for(datamap, Audience.CUSTOMER, Channel.EMAIL, locale, NoticeKind.FULL))
    todo = {"en": "What you need to do", "sk": "Čo máte urobiť vy", "fil": "Ang kailangan ninyong gawin"}[locale]
    service_data = {"en": "Service Data", "sk": "údajov služby", "fil": "Data ng Serbisyo"}[locale]

    assert todo in rendered.text and service_data in rendered.text
    assert LOCALISED[locale]["category"] in rendered.text
    assert len(rendered.text) < 2500, "an operational alert, not the formal notice"


def test_oncall_alert_names_the_clock_and_the_problem(renderer: Renderer, datamap: DataMap) -> None:
    notice = notice_for(datamap, Audience.ONCALL, Channel.EMAIL, "en", NoticeKind.ALERT)
    rendered = renderer.render(notice)

    assert rendered.subject.startswith("[on-call] 80% of a deadline used:")
    assert notice.incident.description in rendered.text
    assert "83% of the time used" in rendered.text and "in 4 hours" in rendered.text

    expired = notice.model_copy(update={"requested_at": notice.incident.aware_at.replace(day=4, hour=10)})
    assert renderer.render(expired).subject.startswith("[on-call] Deadline expired:")
    assert "expired 2 hours ago" in renderer.render(expired).text
    # the late clock's own law, not GDPR's for every clock
    assert "(this clock: GDPR Art. 33(2))" in renderer.render(expired).text
    sms = renderer.render(expired.model_copy(update={"channel": Channel.SMS})).sms
    assert sms.startswith("On-call: DEADLINE EXPIRED, eu-gdpr controller notice was due 2 hours ago.")

    # A report that touched no one: no clocks, only the free text.
    no_one = notice.model_copy(
        update={
            "deadlines": [],
            "incident": notice.incident.model_copy(update={"description": "This report touches no customer."}),
        }
    )
    text = renderer.render(no_one).text
    assert text.startswith("ACTION NEEDED") and "This report touches no customer." in text


@pytest.mark.parametrize("locale", ["fil", "sk", "de"])
def test_oncall_alerts_fall_back_to_english_and_record_it(renderer: Renderer, datamap: DataMap, locale: str) -> None:
    notice = notice_for(datamap, Audience.ONCALL, Channel.EMAIL, locale, NoticeKind.ALERT)
    rendered = renderer.render(notice)

    assert notice.locale == locale
    assert rendered.locale == "en"
    assert "What to do" in rendered.text


# --- locale fallback ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "used"), [("de", "en"), ("sk_SK", "sk"), ("sk-SK", "sk"), ("fil_PH", "fil"), ("tl", "fil")]
)
def test_the_locale_used_is_recorded(renderer: Renderer, datamap: DataMap, asked: str, used: str) -> None:
    rendered = renderer.render(notice_for(datamap, Audience.CONTROLLER, Channel.EMAIL, asked, NoticeKind.FULL))

    assert rendered.locale == used
    assert f'<html lang="{used}">' in rendered.html
    assert ART_33_3_HEADINGS[used][0] in rendered.text


# --- SMS: the first 160 characters stand on their own ----------------------------------------------------------

READ_MORE = {
    (Audience.CONTROLLER, "en"): "Details emailed to your privacy contact, ref",
    (Audience.CONTROLLER, "sk"): "Podrobnosti sme poslali e-mailom, ref.",
    (Audience.CONTROLLER, "fil"): "Detalye: email sa privacy contact ninyo, ref",
    (Audience.CUSTOMER, "en"): "Details emailed to your admins, ref",
    (Audience.CUSTOMER, "sk"): "Podrobnosti v e-maile spravcom, ref.",
    (Audience.CUSTOMER, "fil"): "Detalye: email sa admin, ref",
    (Audience.AUTHORITY, "en"): "sent to you by email",
    (Audience.AUTHORITY, "sk"): "sme vam poslali e-mailom",
    (Audience.AUTHORITY, "fil"): "Naipadala sa email ninyo",
    (Audience.ONCALL, "en"): "Details by email",
}


@pytest.mark.parametrize(
    ("audience", "locale", "kind"),
    [pytest.param(a, loc, k, id=f"{a.value}-{loc}-{k.value}") for (a, loc) in READ_MORE for k in kinds_for(a)],
)
def test_sms_first_segment_makes_sense_even_with_the_longest_names(
    renderer: Renderer, datamap: DataMap, audience: Audience, locale: str, kind: NoticeKind
) -> None:
    notice = notice_for(datamap, audience, Channel.SMS, locale, kind)
    longest = notice.model_copy(
        update={
            "recipient_name": "Ž" * 200,
            "incident": notice.incident.model_copy(
                update={"subprocessor_name": "Š" * 200, "title": "T" * 200, "description": "D" * 2000}
            ),
        }
    )
    for n in (notice, longest):
        sms = renderer.render(n).sms
        head = sms[:SMS_SEGMENT]
        ref = n.incident_id[:12]
        # Who (the subprocessor), what (the kind of message) and where to read more, with the reference.
        assert READ_MORE[(audience, locale)] in head, head
        assert ref in head, head
        assert head.index(ref) + len(ref) < SMS_SEGMENT, "the reference is cut"
        assert ("S" * 10 if n is longest else "Linode") in head
    assert len(renderer.render(longest).sms) > SMS_SEGMENT  # the rest (title, details) follows the first segment


def test_sms_drops_diacritics_the_gsm_alphabet_lacks(renderer: Renderer, datamap: DataMap) -> None:
    kosice = datamap.customers["kosice-energy"]
    notice = notice_for(datamap, Audience.CUSTOMER, Channel.SMS, "sk", NoticeKind.FULL)
    notice = notice.model_copy(update={"recipient_name": kosice.name})
    sms = renderer.render(notice).sms

    assert sms.startswith("Kosice Energia a.s.: potvrdeny unik udajov u Linode")
    assert all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in sms)


# --- report text that tries to break out ---------------------------------------------------------------------------

HOSTILE_TITLE = "Breach <script>alert(\"x\")</script> & 'quotes'\r\nBcc: x@y"
HOSTILE_DESCRIPTION = '<img src=x onerror=alert(1)>\r\nline two "quoted"'


def hostile(notice: NoticeRequested) -> NoticeRequested:
    facts = notice.incident.model_copy(update={"title": HOSTILE_TITLE, "description": HOSTILE_DESCRIPTION})
    return notice.model_copy(update={"incident": facts})


@pytest.mark.parametrize("audience", NOTICE_AUDIENCES, ids=[a.value for a in NOTICE_AUDIENCES])
@pytest.mark.parametrize("locale", LOCALES)
def test_report_text_cannot_break_the_html(
    renderer: Renderer, datamap: DataMap, audience: Audience, locale: str
) -> None:
    rendered = renderer.render(hostile(notice_for(datamap, audience, Channel.EMAIL, locale, kinds_for(audience)[-1])))

    assert "<script>" not in rendered.html and "<img" not in rendered.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;quotes&#39;" in rendered.html
    assert "&lt;img src=x onerror=alert(1)&gt;" in rendered.html


@pytest.mark.parametrize("audience", NOTICE_AUDIENCES, ids=[a.value for a in NOTICE_AUDIENCES])
@pytest.mark.parametrize("locale", LOCALES)
def test_report_text_cannot_inject_a_mail_header(
    renderer: Renderer, datamap: DataMap, audience: Audience, locale: str
) -> None:
    notice = hostile(notice_for(datamap, audience, Channel.EMAIL, locale, kinds_for(audience)[-1]))
    rendered = renderer.render(notice)

    assert not set(rendered.subject) & {"\r", "\n"}
    assert "\nBcc:" not in rendered.text  # the title stays on its line in the body too
    raw = bytes(build_message("breachwire <n@example.org>", notice.address, notice.notice_id, rendered))
    parsed = email.message_from_bytes(raw, policy=email.policy.default)

    assert parsed["Bcc"] is None
    assert not re.search(rb"(?im)^bcc:", raw)
    if audience is not Audience.CUSTOMER:  # (a customer alert's subject names the subprocessor, not the title)
        assert "Bcc: x@y" in str(parsed["Subject"])  # still there, as words of the subject
    assert parsed["To"] == notice.address


@pytest.mark.parametrize("separator", ["\r\n", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\x00"])
def test_no_line_separator_survives_in_a_subject(renderer: Renderer, datamap: DataMap, separator: str) -> None:
    notice = notice_for(datamap, Audience.CONTROLLER, Channel.EMAIL, "en", NoticeKind.FULL)
    facts = notice.incident.model_copy(update={"title": f"First{separator}Bcc: x@y"})
    rendered = renderer.render(notice.model_copy(update={"incident": facts}))

    assert separator not in rendered.subject
    assert "First Bcc: x@y" in rendered.subject or "FirstBcc: x@y" in rendered.subject
    build_message("n@example.org", "to@example.org", notice.notice_id, rendered)


@pytest.mark.parametrize("locale", LOCALES)
def test_webhook_json_keeps_report_text_exactly(renderer: Renderer, datamap: DataMap, locale: str) -> None:
    for audience in (Audience.CONTROLLER, Audience.AUTHORITY, Audience.CUSTOMER):
        rendered = renderer.render(hostile(notice_for(datamap, audience, Channel.WEBHOOK, locale, NoticeKind.FULL)))
        body = json.loads(rendered.json_body)
        assert body["incident"]["title"] == HOSTILE_TITLE
        assert HOSTILE_DESCRIPTION in (body["incident"].get("nature"), body["incident"].get("description"))


# --- breachwire notices preview --------------------------------------------------------------------------------


def preview(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["notices", "preview", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_preview_prints_every_part_of_the_sample(capsys: pytest.CaptureFixture[str], datamap: DataMap) -> None:
    code, out, _ = preview(capsys, "--audience", "controller", "--channel", "email", "--locale", "sk")

    assert code == 0
    assert out.index("--- subject ---") < out.index("--- body.txt ---") < out.index("--- body.html ---")
    assert first_eu_customer(datamap).name in out
    assert "Linode, LLC (EU location)" in out
    assert "Povaha porušenia ochrany osobných údajov" in out
    assert "locale sk," in out


def test_preview_shows_the_sms_segment(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = preview(capsys, "--audience", "customer", "--channel", "sms", "--locale", "fil")

    assert code == 0
    assert "1 segment" in out or "2 segment" in out
    assert "Detalye: email sa admin" in out


def test_preview_says_when_it_fell_back(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = preview(capsys, "--audience", "controller", "--channel", "webhook", "--locale", "de")

    assert code == 0
    assert "locale en (no de templates: fell back)" in out
    json.loads(out[out.index("{") :])


def test_preview_names_a_broken_rules_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "eu-gdpr.toml").write_text('id = "eu-gdpr"\nname = \n', encoding="utf-8")
    monkeypatch.setenv("BREACHWIRE_RULES_DIR", str(tmp_path))

    code, out, err = preview(capsys, "--audience", "controller", "--channel", "email")

    assert code == 2 and out == ""
    assert err.startswith(f"breachwire: {tmp_path / 'eu-gdpr.toml'}: line 2") and "Traceback" not in err


def test_preview_renders_a_report_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = sample_report(NoticeKind.PRELIMINARY).model_copy(
        update={"title": "Snapshot copied from the Frankfurt volume", "approx_data_subjects": 7}
    )
    path = tmp_path / "report.json"
    path.write_text(report.model_dump_json(by_alias=True), encoding="utf-8")

    code, out, _ = preview(capsys, "--audience", "controller", "--channel", "email", "--report", str(path))

    assert code == 0
    assert "Snapshot copied from the Frankfurt volume" in out
    assert "[Preliminary notice] Suspected personal data breach" in out
    assert "about 7\n" in out


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ({"status": "confirmed", "aware_at": "2026-11-03T08:40:00Z", "reference": "R1"}, "title: Field required"),
        (
            {
                "reference": "R1",
                "status": "confirmed",
                "title": "x",
                "aware_at": "2026-11-03T08:40:00Z",
                "approx_data_subjects": -5,
            },
            "approx_data_subjects: Input should be greater than or equal to 0",
        ),
        ({"reference": "R1", "status": "leaked", "title": "x", "aware_at": "2026-11-03T08:40:00Z"}, "status: "),
        ("{not json", "not JSON"),
    ],
)
def test_a_bad_report_file_gets_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: Any, says: str
) -> None:
    path = tmp_path / "bad-report.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")

    code, out, err = preview(capsys, "--audience", "controller", "--channel", "email", "--report", str(path))

    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(path) in err and says in err


def test_a_missing_report_file_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    code, _, err = preview(capsys, "--audience", "customer", "--channel", "sms", "--report", str(path))

    assert code == 2 and str(path) in err and err.count("\n") == 1


def test_rendered_evidence_names_every_part(renderer: Renderer, datamap: DataMap) -> None:
    rendered: Rendered = renderer.render(
        notice_for(datamap, Audience.CONTROLLER, Channel.EMAIL, "fil", NoticeKind.FULL)
    )
    evidence = rendered.as_evidence()

    assert evidence.startswith("--- subject ---\n[Abiso]")
    assert "--- body.txt ---" in evidence and "--- body.html ---" in evidence


# --- the renderer's shortcuts change nothing a reader sees ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("Unauthorised access (EU location)", "Unauthorised access (EU location)"),
        ("Title from a template\n", "Title from a template"),
        ("two  spaces", "two spaces"),
        ("  doubled  spaces\tand a tab ", "doubled spaces and a tab"),
        ("First\u2028Bcc: x@y", "First Bcc: x@y"),
        (f"no{NBSP}break", "no break"),
        ("a\x00b\x7fc\x9fd", "abcd"),
        ("zero\u200bwidth", "zero\u200bwidth"),  # a format character, not a space: kept
        ("", ""),
    ],
)
def test_oneline_puts_text_on_one_line_with_single_spaces(text: str, line: str) -> None:
    assert oneline(text) == line


def test_a_webhook_carries_the_facts_of_its_own_notice_when_ids_repeat(renderer: Renderer, datamap: DataMap) -> None:
    """The incident block is rendered once per distinct facts: an on-call alert reuses an incident's ids with
    another description, and must carry that description, not the cached one."""
    notice = sample_notice(datamap, Audience.ONCALL, Channel.WEBHOOK, rules=RULES)
    other = notice.model_copy(
        update={"incident": notice.incident.model_copy(update={"description": "A notice could not be delivered."})}
    )

    first = json.loads(renderer.render(notice).json_body)["incident"]
    second = json.loads(renderer.render(other).json_body)["incident"]

    assert first["id"] == second["id"] and first["sequence"] == second["sequence"]
    assert first["nature"] == notice.incident.description
    assert second["nature"] == "A notice could not be delivered."


def test_a_template_cannot_reach_past_jinjas_own_sandbox(tmp_path: Path, datamap: DataMap) -> None:
    """A template is data someone may edit: Jinja's stock sandbox, unmodified, is what stands between it and the
    process. A template that reaches for a class's subclasses fails to render (a final failure) instead of running."""
    from consumers.notify.errors import FinalDelivery

    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    body = templates / "controller" / "email" / "en" / "body.txt.j2"
    body.write_text(body.read_text(encoding="utf-8") + "{{ incident.__class__.__subclasses__() }}\n", encoding="utf-8")
    hostile = Renderer(templates, project_rules())
    with pytest.raises(FinalDelivery, match="is unsafe"):
        hostile.render(notice_for(datamap, Audience.CONTROLLER, Channel.EMAIL, "en", NoticeKind.FULL))


@pytest.mark.parametrize("locale", LOCALES)
def test_a_webhooks_deadline_labels_say_what_its_email_says(renderer: Renderer, datamap: DataMap, locale: str) -> None:
    webhook = renderer.render(notice_for(datamap, Audience.CONTROLLER, Channel.WEBHOOK, locale, NoticeKind.FULL))
    email = renderer.render(notice_for(datamap, Audience.CONTROLLER, Channel.EMAIL, locale, NoticeKind.FULL))

    labels = [d["label"] for d in json.loads(webhook.json_body)["deadlines"]]
    assert labels and all(labels)
    for label in labels:
        assert f"- {label}" in email.text


@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.WEBHOOK])
def test_a_notice_rendered_after_others_says_what_it_says_rendered_alone(datamap: DataMap, channel: Channel) -> None:
    """A controller email's facts block, and a webhook's incident and deadlines blocks, are rendered once per
    report, locale and time zone and then reused: each notice must still carry exactly what it would carry had it
    been rendered first."""
    base = notice_for(datamap, Audience.CONTROLLER, channel, "en", NoticeKind.FULL)
    other_facts = base.incident.model_copy(update={"description": "Another report's facts.", "approx_records": 7})
    notices = [
        base,
        base.model_copy(update={"notice_id": "ntc_second", "recipient_name": "Second Customer Ltd"}),
        base.model_copy(update={"timezone": "Asia/Manila"}),
        base.model_copy(update={"incident": other_facts}),
        base.model_copy(update={"requested_at": base.requested_at + timedelta(days=5)}),  # every clock expired
        base.model_copy(update={"deadlines": base.deadlines[1:]}),
        unknown(base),
        *(notice_for(datamap, Audience.CONTROLLER, channel, locale, NoticeKind.FULL) for locale in LOCALES),
        hostile(base),
    ]
    shared = Renderer(TEMPLATES, RULES)

    for notice in notices:
        assert shared.render(notice) == Renderer(TEMPLATES, RULES).render(notice), notice.notice_id

    def said(notice: NoticeRequested) -> str:
        rendered = shared.render(notice)
        return rendered.text if channel is Channel.EMAIL else rendered.json_body.decode()

    assert "Philippine" in said(notices[2]) and "Philippine" not in said(base)
    assert "Another report's facts." in said(notices[3])
    assert said(notices[4]).count("ago") >= len(base.deadlines) and "ago" not in said(base)


def templates_with(tmp_path: Path, name: str, text: str) -> Path:
    """A copy of the project's templates with one file's text replaced."""
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    (templates / name).write_text(text)
    return templates


def test_a_facts_partial_cannot_read_what_differs_between_recipients(datamap: DataMap, tmp_path: Path) -> None:
    """What a facts partial prints is shared by every notice of a report: it sees the facts, never the recipient."""
    partial = (TEMPLATES / "controller/email/en/facts.txt.j2").read_text()
    templates = templates_with(
        tmp_path, "controller/email/en/facts.txt.j2", partial + "Dear {{ notice.recipient_name }}\n"
    )

    with pytest.raises(FinalDelivery, match="'notice' is undefined"):
        Renderer(templates, RULES).render(
            notice_for(datamap, Audience.CONTROLLER, Channel.EMAIL, "en", NoticeKind.FULL)
        )


def test_a_webhooks_deadlines_block_sees_only_the_clocks(datamap: DataMap, tmp_path: Path) -> None:
    """The deadlines block is shared by every webhook with the same clocks: it never sees the recipient."""
    block = (TEMPLATES / "_shared/deadlines.json.j2").read_text()
    templates = templates_with(tmp_path, "_shared/deadlines.json.j2", "{{ notice.notice_id }}" + block)

    with pytest.raises(FinalDelivery, match="'notice' is undefined"):
        Renderer(templates, RULES).render(
            notice_for(datamap, Audience.CONTROLLER, Channel.WEBHOOK, "en", NoticeKind.FULL)
        )


@pytest.mark.parametrize("name", ["range", "lipsum", "cycler", "joiner", "namespace", "dict"])
def test_a_template_sees_only_what_the_context_gives_it(datamap: DataMap, tmp_path: Path, name: str) -> None:
    """Jinja's default globals are not offered (templates/README.md lists what a template can use)."""
    templates = templates_with(tmp_path, "controller/email/en/subject.txt.j2", f"{{{{ {name} }}}}\n")

    with pytest.raises(FinalDelivery, match=f"'{name}' is undefined"):
        Renderer(templates, RULES).render(
            notice_for(datamap, Audience.CONTROLLER, Channel.EMAIL, "en", NoticeKind.FULL)
        )
