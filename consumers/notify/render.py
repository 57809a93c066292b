"""Rendering a notice from ``templates/<audience>/<channel>/<locale>/``, in Jinja2's sandbox.

HTML is autoescaped; StrictUndefined makes a template that names a missing value fail loudly instead of
printing nothing. A locale without templates falls back to English, and the result records which it used.
Dates, times and numbers are formatted with Babel in the recipient's locale and time zone, with UTC beside
every time. Words several templates share (data categories, jurisdictions, ...) live in
``templates/_shared/words/<locale>.j2``. A body's facts partial (``facts.txt.j2``, ``facts.html.j2``) is the incident
block every notice of a report shares: rendered once per report, locale and time zone (it takes ~half of a controller
email's rendering), from those alone.

An SMS is one line, transliterated to the GSM 03.38 alphabet (Slovak diacritics would otherwise switch the
message to UCS-2 and cut a segment from 160 characters to 70); its templates put who, what and where to read
more in the first 160 characters.
"""

import json
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from math import copysign
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time, format_timedelta, get_timezone_name
from babel.numbers import format_decimal
from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateError, TemplateNotFound, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from consumers.assess.rules import RuleBook
from consumers.notify.errors import FinalDelivery
from consumers.notify.law import ART_33_3_FACTS, Law
from consumers.notify.parts_cache import PartsCache
from schemas import Audience, Deadline, NoticeRequested

FALLBACK_LOCALE = "en"

# Other names a recipient's locale may come under (Babel reads "tl", Tagalog, as Filipino).
LOCALE_ALIASES = {"tl": "fil"}

# Which files make a notice, per channel.
PARTS = {
    "email": ("subject.txt.j2", "body.txt.j2", "body.html.j2"),
    "webhook": ("body.json.j2",),
    "sms": ("body.txt.j2",),
}

# The GSM 03.38 default alphabet, and its extension table (each of those costs two of the 160 septets).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€")
_GSM7_REPLACEMENTS = {
    "‘": "'",
    "’": "'",
    "‚": "'",
    "‛": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "«": '"',
    "»": '"',
    "–": "-",
    "—": "-",
    "‑": "-",
    "−": "-",
    "…": "...",
    "•": "-",
    "·": "-",
}
# A body's partial holding the incident's facts, rendered once per report and reader's zone (``Renderer.facts``).
FACTS_PARTIALS = {"body.txt.j2": "facts.txt.j2", "body.html.j2": "facts.html.j2"}
# A body's partial saying what the recipient's law asks the notice to carry, rendered once per law view
# (``Renderer.law``): the same for every notice under the same laws, in one locale, with the same facts known.
LAW_PARTIALS = {"body.txt.j2": "law.txt.j2", "body.html.j2": "law.html.j2", "body.json.j2": "law.json.j2"}
# All a facts partial sees: what the facts, the locale and the time zone decide, and nothing of the recipient's.
FACTS_CONTEXT = ("incident", "pending", "aware_at", "occurred_from", "occurred_until", "when", "number", "locale")
SMS_SEGMENT = 160
SMS_CONCATENATED_SEGMENT = 153


# The control characters (Unicode category Cc: C0, DEL and C1), mapped to nothing by str.translate.
_CONTROLS = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)])


def oneline(value: object) -> str:
    """Any text on one line: CR, LF, tabs and other separators become single spaces; control characters go."""
    text = str(value).strip()
    # Most text is one line already: printable means no control character and no whitespace but the space
    # (str.isprintable), so only a doubled space would change: those are returned as they are.
    if text.isprintable() and "  " not in text:
        return text
    return " ".join(text.split()).translate(_CONTROLS)


def clip(value: object, length: int) -> str:
    """One line of at most ``length`` characters, ending in "..." when cut."""
    text = oneline(value)
    return text if len(text) <= length else text[: max(length - 3, 0)].rstrip() + "..."


def gsm7(text: str) -> str:
    """The text in the GSM 03.38 alphabet: typographic marks simplified, diacritics the alphabet lacks dropped."""
    out: list[str] = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENDED:
            out.append(ch)
        elif ch in _GSM7_REPLACEMENTS:
            out.append(_GSM7_REPLACEMENTS[ch])
        elif ch.isspace():
            out.append(" ")
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and all(c in GSM7_BASIC for c in base) else "?")
    return "".join(out)


def gsm7_septets(text: str) -> int:
    """How many of an SMS's 7-bit characters the text takes (extension characters count twice)."""
    return sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)


def sms_segments(text: str) -> int:
    septets = gsm7_septets(text)
    return 1 if septets <= SMS_SEGMENT else -(-septets // SMS_CONCATENATED_SEGMENT)


# A batch is mostly one incident's notices to many recipients: the same few times and numbers in the same few
# zones and locales. Each Babel format is made once, not once per notice.


@lru_cache(maxsize=4096)
def local_time(value: datetime, timezone: str, locale: str) -> str:
    """The time in the reader's zone and words, with UTC beside it."""
    utc = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if timezone in ("UTC", "Etc/UTC"):
        return utc
    zone = ZoneInfo(timezone)
    babel_locale = Locale.parse(locale)
    local = value.astimezone(zone)
    stamp = babel_locale.datetime_formats["long"].format(
        format_time(local, "short", locale=babel_locale),
        format_date(local, "long", locale=babel_locale),
    )
    return f"{stamp} ({get_timezone_name(zone, 'long', locale=babel_locale)}; {utc})"


@lru_cache(maxsize=4096)
def local_number(value: int, locale: str) -> str:
    return format_decimal(value, locale=locale)


@lru_cache(maxsize=4096)
def time_from(value: datetime, now: datetime, locale: str) -> str:
    """How far ``value`` lies from ``now``, in words: "in 14 hours", "2 hours ago"."""
    seconds = (value - now).total_seconds()
    # Whole days from four days on, whole hours from one hour on, else minutes ("in 70 hours").
    unit = 86_400 if abs(seconds) >= 4 * 86_400 else 3_600 if abs(seconds) >= 3_600 else 60
    count = max(1, round(abs(seconds) / unit))
    rounded = timedelta(seconds=copysign(count * unit, seconds))
    # A threshold of ``count`` makes Babel keep this unit instead of rounding up to the next one.
    return format_timedelta(rounded, threshold=count, add_direction=True, locale=locale)


@dataclass(frozen=True)
class Rendered:
    locale: str
    parts: dict[str, str]

    @property
    def subject(self) -> str:
        # A subject is one line, whatever the report's title held: no header injection.
        return oneline(self.parts.get("subject", ""))

    @property
    def text(self) -> str:
        return self.parts.get("body.txt", "")

    @property
    def sms(self) -> str:
        """The text as an SMS carries it: one line."""
        return " ".join(self.text.split())

    @property
    def html(self) -> str:
        return self.parts.get("body.html", "")

    @cached_property  # made when rendering (to check it) and read again to send
    def json_body(self) -> bytes:
        """The webhook body, re-serialised compactly: proves the template produced valid JSON."""
        return _COMPACT_JSON(json.loads(self.parts["body.json"])).encode()

    def as_evidence(self) -> str:
        """The notice as it went out, for the ledger."""
        return "\n\n".join(f"--- {name} ---\n{text}" for name, text in self.parts.items())


# A dict's own attributes (``items``, ``get``, ...), which a template's ``d.name`` finds before a key ``name``.
_DICT_ATTRIBUTES = frozenset(dir(dict))
_DICT_READERS = frozenset({"get", "items", "keys", "values"})

_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class Renderer:
    """Renders notices from ``templates_dir``; ``rules`` say what each notice cites and carries (``law.py``)."""

    def __init__(self, templates_dir: Path, rules: RuleBook, parts: PartsCache | None = None) -> None:
        """``parts``: where shared blocks are kept rendered (``PartsCache(0)`` keeps none)."""
        self._dir = templates_dir
        self._law = Law(rules, templates_dir)
        self._locales: dict[tuple[str, str, str], str] = {}
        self._partials: dict[str, dict[str, str]] = {}
        # Jinja's own sandbox, as its authors ship it: a notice's template is data, and the sandbox is the boundary.
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader(str(templates_dir)),
            # Each template is read once per process, not stat'ed on every render: a notifier picks up changed
            # templates when it restarts.
            auto_reload=False,
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        # Templates see what the context gives them (templates/README.md), not Jinja's default globals (range,
        # lipsum, cycler, ...): none uses them, and each render would merge them into its context.
        self._env.globals.clear()
        # Jinja's own tojson, keeping non-ASCII text as it is (a webhook body is re-encoded compactly anyway).
        self._env.policies["json.dumps_kwargs"] = {"ensure_ascii": False}
        self._parts = parts if parts is not None else PartsCache()
        self._env.filters["oneline"] = oneline
        self._env.filters["clip"] = clip

    def locale_for(self, audience: str, channel: str, locale: str) -> str:
        """The locale whose templates exist for this audience and channel: the asked one, else English."""
        key = (audience, channel, locale)
        if key not in self._locales:  # (looked up once, like the templates themselves)
            asked = locale.replace("-", "_")
            language = asked.split("_")[0]
            candidates = (asked, language, LOCALE_ALIASES.get(language, language))
            found = (c for c in candidates if c and (self._dir / audience / channel / c).is_dir())
            self._locales[key] = next(found, FALLBACK_LOCALE)
        return self._locales[key]

    def context(self, notice: NoticeRequested, locale: str) -> dict[str, Any]:
        now = notice.requested_at

        def when(value: datetime | str | None) -> str:
            """The time in the reader's zone and words, with UTC beside it."""
            if value is None:
                return ""
            return local_time(
                datetime.fromisoformat(value) if isinstance(value, str) else value, notice.timezone, locale
            )

        def number(value: int | None) -> str:
            return "" if value is None else local_number(value, locale)

        def until(value: datetime | str | None) -> str:
            """How far a time lies from when the notice was requested: "in 14 hours", "2 hours ago"."""
            if value is None:
                return ""
            return time_from(datetime.fromisoformat(value) if isinstance(value, str) else value, now, locale)

        def clock(deadline: Deadline, dumped: dict[str, Any]) -> dict[str, Any]:
            """Where a deadline stands when the notice was requested; ``used`` counts from awareness."""
            due = deadline.due_at
            used: int | None = None
            if due is not None and due > notice.incident.aware_at:
                span = (due - notice.incident.aware_at).total_seconds()
                used = round(100 * (now - notice.incident.aware_at).total_seconds() / span)
            return {
                **dumped,
                **self._law.clock_terms(deadline),
                "due": when(due),
                "left": until(due),
                "used": used,
                "expired": due is not None and due <= now,
            }

        # One dump of the notice; its incident and deadlines are the same values as their own dumps.
        dumped = notice.model_dump(mode="json")
        clocks = [
            clock(d, dumped_deadline) for d, dumped_deadline in zip(notice.deadlines, dumped["deadlines"], strict=True)
        ]
        running = [c for c in clocks if c["used"] is not None]
        urgent = max(running, key=lambda c: (c["expired"], c["used"]), default=None)
        incident = notice.incident
        pending = [
            name
            for name in ART_33_3_FACTS
            if (name == "contact" and not incident.contact_name and not incident.contact_email)
            or (name != "contact" and getattr(incident, name) in (None, "", []))
        ]
        audience = notice.audience
        law = (
            self._law.for_controller(notice.deadlines, incident, locale)
            if audience is Audience.CONTROLLER
            else self._law.for_authority(notice.deadlines, incident, locale)
            if audience is Audience.AUTHORITY
            else None
        )
        return {
            "notice": dumped,
            "law": law,
            "incident": dumped["incident"],
            "deadlines": dumped["deadlines"],
            "clocks": clocks,
            "urgent": urgent,
            "pending": pending,
            "ref": notice.incident_id[:12],
            "when": when,
            "number": number,
            "until": until,
            "aware_at": when(incident.aware_at),
            "occurred_from": when(incident.occurred_from),
            "occurred_until": when(incident.occurred_until),
            "requested_at": when(notice.requested_at),
            "deadline_times": {i: when(d.due_at) for i, d in enumerate(notice.deadlines)},
            "locale": locale,
        }

    def template(self, name: str) -> Template:
        return self._env.get_template(name)

    def _block(self, template: str, key: tuple[Any, ...], context: dict[str, Any]) -> str:
        """A block every notice of a report shares, rendered once per ``key`` from ``context`` alone (its only
        names: StrictUndefined fails it on any other), so the key, with the template, decides what it prints."""
        return self._parts.get((template, *key), lambda: self.template(template).render(context))

    def incident_json(self, incident: dict[str, Any], facts_json: str) -> str:
        """``_shared/incident.json.j2`` for these facts: the same in every webhook of a report (and locale), so
        rendered once per distinct facts. Keyed by the facts themselves, never by their ids: an on-call alert
        carries an incident's ids with its own description."""
        return self._block("_shared/incident.json.j2", (facts_json,), {"incident": incident})

    def deadlines_json(self, clocks: list[dict[str, Any]]) -> str:
        """``_shared/deadlines.json.j2`` for these clocks: the same in every webhook of a report read in one locale
        and zone, so rendered once for them. It sees only ``clocks``, and is keyed by every value of each (labels
        and local times included)."""
        key = tuple(tuple(sorted(clock.items())) for clock in clocks)
        return self._block("_shared/deadlines.json.j2", key, {"clocks": clocks})

    def deadline_label(self, clock: dict[str, Any], locale: str) -> str:
        """The words' ``deadline(c)`` line for a clock (``c.label`` in the templates), made once per distinct
        clock: a report's notices carry the same few. Keyed by every value of the clock, so the macro may read
        any of them."""
        return self._parts.get(
            ("label", locale, *sorted(clock.items())),
            lambda: str(self.template(f"_shared/words/{locale}.j2").module.deadline(clock)),  # type: ignore[attr-defined]
        )

    def partials(self, folder: str) -> dict[str, str]:
        """The folder's partials (``facts.txt.j2``, ``law.txt.j2`` beside ``body.txt.j2``, ...) that exist, by name."""
        if folder not in self._partials:  # (looked up once, like the templates themselves)
            self._partials[folder] = {
                partial: f"{folder}/{partial}"
                for partial in (*FACTS_PARTIALS.values(), *LAW_PARTIALS.values())
                if (self._dir / folder / partial).is_file()
            }
        return self._partials[folder]

    def law(self, partial: str | None, law: dict[str, Any] | None) -> str | None:
        """A body's law partial, if it has one: what the recipient's law asks the notice to carry, the same for every
        notice with the same law view (``Law``: laws, locale and facts known), so rendered once for them. It sees
        only ``law``."""
        if partial is None or law is None:
            return None
        text = self._block(partial, ("law", law["key"]), {"law": law})
        if partial.endswith(".html.j2"):
            return Markup(text)  # noqa: S704 - autoescaped by its own template: not to escape twice
        return text

    def facts(self, partial: str | None, context: dict[str, Any], timezone: str, facts_json: str) -> str | None:
        """A body's facts partial, if it has one: the incident block that is the same in every notice of a report
        read in one locale and zone, so rendered once for them all. It sees only ``FACTS_CONTEXT`` (StrictUndefined
        fails it on anything else), so what it prints is decided by the key: the facts, the zone and the template,
        whose folder is the locale."""
        if partial is None:
            return None
        facts = self._block(partial, (timezone, facts_json), {key: context[key] for key in FACTS_CONTEXT})
        if partial.endswith(".html.j2"):
            return Markup(facts)  # noqa: S704 - autoescaped by its own template: not to escape twice
        return facts

    def render(self, notice: NoticeRequested) -> Rendered:
        audience, channel = notice.audience.value, notice.channel.value
        locale = self.locale_for(audience, channel, notice.locale)
        folder = f"{audience}/{channel}/{locale}"
        context = self.context(notice, locale)
        partials = self.partials(folder)
        # What both kept blocks are keyed by, serialised only when one is used (not for an SMS, a customer alert).
        # (pydantic's serialiser takes a third of json's time over the dumped dict; the same facts, the same text)
        facts_json = notice.incident.model_dump_json() if partials or channel == "webhook" else ""
        parts: dict[str, str] = {}
        try:
            for clock in context["clocks"]:  # (a macro of the templates': its errors are the templates')
                clock["label"] = self.deadline_label(clock, locale)
            if channel == "webhook":
                context["incident_json"] = self.incident_json(context["incident"], facts_json)
                context["deadlines_json"] = self.deadlines_json(context["clocks"])
            for name in PARTS[channel]:
                if name in FACTS_PARTIALS:  # (None for a body without a partial)
                    context["facts"] = self.facts(
                        partials.get(FACTS_PARTIALS[name]), context, notice.timezone, facts_json
                    )
                if name in LAW_PARTIALS:
                    context["law_part"] = self.law(partials.get(LAW_PARTIALS[name]), context["law"])
                template = self.template(f"{folder}/{name}")
                parts[name.removesuffix(".j2").replace("subject.txt", "subject")] = template.render(context)
        except TemplateNotFound as exc:
            raise FinalDelivery(f"no template {exc.name}") from None
        except TemplateError as exc:
            raise FinalDelivery(f"template {audience}/{channel}/{locale} failed: {exc}") from None
        if channel == "sms":
            parts["body.txt"] = gsm7(" ".join(parts["body.txt"].split()))
        rendered = Rendered(locale, parts)
        if channel == "webhook":
            try:
                rendered.json_body  # noqa: B018 - validates the JSON now, not at send time
            except ValueError as exc:
                raise FinalDelivery(f"webhook template gave invalid JSON: {exc}") from None
        return rendered
