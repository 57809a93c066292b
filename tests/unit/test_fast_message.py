"""``fast_message`` against the stock path: for every notice it writes, the very bytes and envelope aiosmtplib's
``send_message`` would send for ``build_message``'s message to a server that announces 8BITMIME; for the rest,
it declines. The corpus is every email template in every locale the templates carry, for every audience and
kind of notice, with the facts known and unknown, plus names, subjects and bodies chosen to hit the edges of
folding and of each transfer encoding."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, formatdate

import pytest
from aiosmtplib.email import extract_recipients, extract_sender, flatten_message
from hypothesis import given, settings
from hypothesis import strategies as st
from support import project_rules

from breachwire.dev.samples import sample_notice
from consumers.notify.email.fast_message import PLAIN_MAILBOX, FastMessage, fast_message
from consumers.notify.email.message import build_message
from consumers.notify.render import Rendered, Renderer
from runtime import resources
from runtime.datamap import load_datamap
from schemas import Audience, Channel, NoticeKind

TEMPLATES = resources.templates_dir()
RULES = project_rules()
SENDER = "breachwire <notices@breachwire.invalid>"
DATE = "Thu, 03 Dec 2026 16:20:04 -0000"
STORY = (NoticeKind.PRELIMINARY, NoticeKind.FULL, NoticeKind.FOLLOW_UP, NoticeKind.CLOSING, NoticeKind.ALERT)


def stock(sender: str, to: str, notice_id: str, rendered: Rendered, date: str = DATE) -> FastMessage | None:
    """What aiosmtplib's ``send_message`` sends for the stock message over an 8BITMIME connection (None: refused)."""
    try:
        message = build_message(sender, to, notice_id, rendered, date)
    except ValueError:
        return None
    (recipient,) = extract_recipients(message)
    envelope_from = extract_sender(message)
    assert envelope_from is not None
    return FastMessage(envelope_from, recipient, flatten_message(message, cte_type="8bit"))


def same_or_declined(sender: str, to: str, notice_id: str, rendered: Rendered, date: str = DATE) -> bool:
    """True where the fast path wrote the message (asserting it is the stock one, byte for byte), False where it
    declined."""
    fast = fast_message(sender, to, notice_id, rendered, date)
    if fast is None:
        return False
    expected = stock(sender, to, notice_id, rendered, date)
    assert expected is not None, "the fast path wrote a message the stock path refuses"
    assert fast.data == expected.data
    assert (fast.sender, fast.recipient) == (expected.sender, expected.recipient)
    return True


def template_corpus() -> list[tuple[str, str, Rendered]]:
    """(address, notice id, rendered) for every email template: audience × the locales its templates carry ×
    kind × facts known and unknown."""
    renderer = Renderer(TEMPLATES, RULES)
    datamap = load_datamap(resources.example_datamap())
    corpus = []
    for audience in Audience:
        kinds = (NoticeKind.ALERT,) if audience is Audience.ONCALL else STORY
        templates = TEMPLATES / audience.value / "email"
        for folder in sorted(templates.iterdir()) if templates.is_dir() else []:  # (not every audience is mailed)
            for kind in kinds:
                for known in (True, False):
                    notice = sample_notice(
                        datamap, audience, Channel.EMAIL, rules=RULES, locale=folder.name, kind=kind, known=known
                    )
                    rendered = renderer.render(notice)
                    assert rendered.locale == folder.name
                    corpus.append((notice.address, notice.notice_id, rendered))
    return corpus


CORPUS = template_corpus()


def test_every_template_in_every_locale_is_the_stock_message_or_declined() -> None:
    written = [same_or_declined(SENDER, to, nid, rendered) for to, nid, rendered in CORPUS]

    assert len(CORPUS) >= 4 * 2 * 2  # (audiences × kinds × facts known or not, at the least)
    assert {r.locale for _, _, r in CORPUS} >= {"en", "fil", "sk"}
    # every one: Slovak subjects (encoded words) included
    assert all(written)


@pytest.mark.parametrize(
    "sender",
    [SENDER, "notices@breachwire.invalid", "Acme Privacy Team <privacy+notices@mail.acme-retail.example>"],
)
@pytest.mark.parametrize(
    "to", ["dpo@example.com", "Data Protection Officer <dpo@example.com>", "first.last@sub.example.co.uk"]
)
def test_plain_names_and_addresses_are_written_as_the_stock_path_writes_them(sender: str, to: str) -> None:
    _, nid, rendered = CORPUS[0]

    assert same_or_declined(sender, to, nid, rendered)


@pytest.mark.parametrize(
    ("sender", "to"),
    [
        ("Služba oznámení <n@example.org>", "dpo@example.com"),  # RFC 2047 for the name
        (SENDER, "Jana Nováková <dpo@example.com>"),
        (SENDER, "dpö@example.com"),  # SMTPUTF8
        ('"Acme, Inc." <n@example.org>', "dpo@example.com"),  # a quoted name
        ("Acme Inc. <n@example.org>", "dpo@example.com"),  # a name the stock path would quote
        (SENDER, '"odd local"@example.com'),
        (SENDER, "dpo@example.com\r\nBcc: x@y"),
        ("n@example.org\nBcc: x@y", "dpo@example.com"),
        ("=?utf-8?q?N=0D=0ABcc:_x@y?= <n@example.org>", "dpo@example.com"),
        (SENDER, "a-very-long-local-part-for-the-data-protection-officer@a-long-domain-name.example.com"),
    ],
)
def test_names_and_addresses_it_does_not_write_are_left_to_the_stock_path(sender: str, to: str) -> None:
    _, nid, rendered = CORPUS[0]

    assert fast_message(sender, to, nid, rendered, DATE) is None


def rendered(
    subject: str = "[Notice] Personal data breach", text: str = "Dear DPO,\n", html: str = "<p>x</p>"
) -> Rendered:
    return Rendered("en", {"subject": subject, "body.txt": text, "body.html": html})


WORDS = "[Follow-up notice] Personal data breach at Linode, LLC (EU location): Unauthorised access to a volume"


@pytest.mark.parametrize(
    "subject",
    [
        "x",
        *(WORDS[:n].strip() for n in range(60, len(WORDS) + 1)),  # every length across one line, two, three
        " ".join([WORDS] * 3),
        "x" * 69,
        "x" * 70,
        "x" * 77,
        "a " + "x" * 77,
        "a " + "x" * 76,
        "y " * 33 + "x" * 76,
        "Subject: inside a subject",
    ],
)
def test_ascii_subjects_are_folded_as_the_stock_path_folds_them_or_declined(subject: str) -> None:
    same_or_declined(SENDER, "dpo@example.com", "ntc_1", rendered(subject=subject))
    if max(len(word) for word in subject.split(" ")) < 77:
        assert same_or_declined(SENDER, "dpo@example.com", "ntc_1", rendered(subject=subject))


@pytest.mark.parametrize(
    "subject",
    [
        "[Oznámenie] Porušenie ochrany osobných údajov",
        "[Oznámenie] Porušenie ochrany osobných údajov v spoločnosti Linode, LLC (umiestnenie EÚ): neoprávnený "
        "prístup k zväzku a jeho kópiám",  # folded over lines
        "ľ" * 100,  # one word longer than a line
        "Ä " * 60,
        "🔒 Notice of a breach",  # beyond the BMP
        "個人データ侵害の通知",
        "Notice: naïve =? no",  # (declined: ``=?``)
    ],
)
def test_subjects_in_other_than_ascii_are_encoded_as_the_stock_path_encodes_them(subject: str) -> None:
    written = same_or_declined(SENDER, "dpo@example.com", "ntc_1", rendered(subject=subject))

    assert written == ("=?" not in subject)


@pytest.mark.parametrize(
    "subject",
    [
        "x" * 78,  # a word longer than a line: encoded words
        "=?utf-8?q?s=0D=0ABcc:_x@y?=",
        "Notice =?utf-8?b?DQpCY2M6IHhAeQ==?= here",
        "",  # (doubled spaces, tabs and line breaks never get here: ``Rendered.subject`` is one plain line)
    ],
)
def test_subjects_it_does_not_write_are_left_to_the_stock_path(subject: str) -> None:
    assert fast_message(SENDER, "dpo@example.com", "ntc_1", rendered(subject=subject), DATE) is None


LONG = "long " * 40
BODIES = [
    "",
    "one",
    "one\ntwo\n",
    "one\r\ntwo\r\n",
    "one\rtwo\n",
    "one\n\n\n",
    ".a line starting with a dot\n..two dots\n.\nend",
    "From the start of a line\nFrom x",
    "trailing space \ntrailing tab\t\n" + "x" * 75 + " \n" + "x" * 76 + " \n" + "x" * 77 + "\t",
    "x" * 78 + "\n" + "x" * 79,
    "Dobrý deň,\nkrátke riadky\n",  # 8bit
    "Dobrý deň,\n" + "dlhý riadok " * 20,  # quoted-printable
    "ÄÖÜ" * 200,  # base64: shorter than quoted-printable
    "Å… ą Ņ\x85\x0b\x0c\u2028 separators other than CR and LF\n" + LONG,  # (0x85 inside UTF-8 sequences)
    "=3D and = signs, =\n" + "=" * 100 + "\n" + LONG,
    LONG + "\n" * 12 + LONG,  # more than the ten lines the encoding is chosen from
    "\n".join(["short ascii line"] * 12 + ["ľ" * 60] * 3),  # the first ten lines favour one, the rest the other
    "\x00\x01 control characters in a body\x7f\n" + LONG,
    "<p>" + "á" * 500 + "</p>",
]


@pytest.mark.parametrize("text", BODIES)
def test_bodies_are_encoded_as_the_stock_path_encodes_them(text: str) -> None:
    assert same_or_declined(SENDER, "dpo@example.com", "ntc_1", rendered(text=text, html=text))


def test_a_lone_surrogate_is_left_to_the_stock_path_which_refuses_it() -> None:
    message = rendered(text="broken \udc80 text")

    assert fast_message(SENDER, "dpo@example.com", "ntc_1", message, DATE) is None
    assert stock(SENDER, "dpo@example.com", "ntc_1", message) is None


@pytest.mark.parametrize(
    "date",
    [
        formatdate(0),
        formatdate(1_800_000_000),
        format_datetime(datetime(2026, 2, 9, 7, 5, 3, tzinfo=UTC)),
        format_datetime(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC) + timedelta(hours=2)),
        formatdate(localtime=True),
    ],
)
def test_the_date_is_written_as_given(date: str) -> None:
    assert same_or_declined(SENDER, "dpo@example.com", "ntc_1", rendered(), date)


@pytest.mark.parametrize("date", ["Thu, 39 Dec 2026 16:20:04 -0000", "Thu, 03 Dec 2026 16:20:04 GMT", "3 Dec 2026", ""])
def test_a_date_the_header_would_write_otherwise_is_left_to_the_stock_path(date: str) -> None:
    assert fast_message(SENDER, "dpo@example.com", "ntc_1", rendered(), date) is None


def test_a_changed_byte_would_be_noticed() -> None:
    """The comparison is of whole messages: one byte changed in the stock message fails it."""
    _, nid, message = CORPUS[0]
    fast = fast_message(SENDER, "dpo@example.com", nid, message, DATE)
    expected = stock(SENDER, "dpo@example.com", nid, message)

    assert fast is not None and expected is not None
    assert fast.data == expected.data
    assert fast.data != expected.data.replace(b"Content-Language: ", b"Content-language: ")


TEXT_CHARS = st.sampled_from([*"ab \t.=-\n\r", "á", "ľ", "€", "Å", "\x85", "x" * 20, "=" * 5])
SUBJECT_WORDS = st.text(alphabet=st.sampled_from(list("abcXYZ019[]():,.-_'\"!")), min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    subject=st.lists(SUBJECT_WORDS, min_size=1, max_size=12).map(" ".join),
    text=st.lists(TEXT_CHARS, max_size=200).map("".join),
    html=st.lists(TEXT_CHARS, max_size=200).map("".join),
)
def test_any_ascii_subject_and_any_body_is_the_stock_message_or_declined(subject: str, text: str, html: str) -> None:
    written = same_or_declined(SENDER, "dpo@example.com", "ntc_1", rendered(subject, text, html))

    assert written or max(len(w) for w in subject.split(" ")) >= 77


@settings(max_examples=300, deadline=None)
@given(
    subject=st.lists(
        st.text(
            alphabet=st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp")),
            min_size=1,
            max_size=30,
        ),
        min_size=1,
        max_size=12,
    ).map(" ".join)
)
def test_any_subject_is_the_stock_header_or_declined(subject: str) -> None:
    written = same_or_declined(SENDER, "dpo@example.com", "ntc_1", rendered(subject=subject))

    assert written or "=?" in subject or (subject.isascii() and max(len(w) for w in subject.split(" ")) >= 77)


@settings(max_examples=200, deadline=None)
@given(
    sender=st.from_regex(PLAIN_MAILBOX, fullmatch=True),
    to=st.from_regex(PLAIN_MAILBOX, fullmatch=True),
    notice_id=st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True),
    locale=st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True),
)
def test_any_plain_mailbox_notice_id_and_locale_are_written_as_the_stock_path_writes_them(
    sender: str, to: str, notice_id: str, locale: str
) -> None:
    message = Rendered(locale, {"subject": "Notice", "body.txt": "text\n", "body.html": "<p>html</p>"})
    written = same_or_declined(sender, to, notice_id, message)

    assert written or max(len(sender) + 6, len(to) + 4, len(notice_id) + 35) > 78
