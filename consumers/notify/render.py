"""Rendering a notice from ``templates/<audience>/<channel>/<locale>/``, in Jinja2's sandbox.

HTML is autoescaped; StrictUndefined makes a template that names a missing value fail loudly instead of
printing nothing. A locale without templates falls back to English, and the result records which it used.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_decimal
from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from consumers.notify.errors import FinalDelivery
from schemas import NoticeRequested

FALLBACK_LOCALE = "en"

# Which files make a notice, per channel.
PARTS = {
    "email": ("subject.txt.j2", "body.txt.j2", "body.html.j2"),
    "webhook": ("body.json.j2",),
    "sms": ("body.txt.j2",),
}


@dataclass(frozen=True)
class Rendered:
    locale: str
    parts: dict[str, str]

    @property
    def subject(self) -> str:
        # A subject is one line, whatever the report's title held: no header injection.
        return " ".join(self.parts.get("subject", "").split())

    @property
    def text(self) -> str:
        return self.parts.get("body.txt", "")

    @property
    def html(self) -> str:
        return self.parts.get("body.html", "")

    @property
    def json_body(self) -> bytes:
        """The webhook body, re-serialised compactly: proves the template produced valid JSON."""
        return json.dumps(json.loads(self.parts["body.json"]), separators=(",", ":"), ensure_ascii=False).encode()

    def as_evidence(self) -> str:
        """The notice as it went out, for the ledger."""
        return "\n\n".join(f"--- {name} ---\n{text}" for name, text in self.parts.items())


class Renderer:
    def __init__(self, templates_dir: Path) -> None:
        self._dir = templates_dir
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader(str(templates_dir)),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self._env.filters["tojson"] = lambda value: json.dumps(value, ensure_ascii=False)

    def locale_for(self, audience: str, channel: str, locale: str) -> str:
        """The locale whose templates exist for this audience and channel: the asked one, else English."""
        for candidate in (locale, locale.split("_")[0], FALLBACK_LOCALE):
            if (self._dir / audience / channel / candidate).is_dir():
                return candidate
        return FALLBACK_LOCALE

    def context(self, notice: NoticeRequested, locale: str) -> dict[str, Any]:
        zone = ZoneInfo(notice.timezone)

        def when(value: datetime | None) -> str:
            """The time in the reader's zone and words, with UTC beside it."""
            if value is None:
                return ""
            local = format_datetime(value.astimezone(zone), "medium", locale=locale)
            utc = value.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M UTC")
            return f"{local} {value.astimezone(zone).tzname()} ({utc})"

        def number(value: int | None) -> str:
            return "" if value is None else format_decimal(value, locale=locale)

        return {
            "notice": notice.model_dump(mode="json"),
            "incident": notice.incident.model_dump(mode="json"),
            "deadlines": [d.model_dump(mode="json") for d in notice.deadlines],
            "when": when,
            "number": number,
            "aware_at": when(notice.incident.aware_at),
            "occurred_from": when(notice.incident.occurred_from),
            "occurred_until": when(notice.incident.occurred_until),
            "deadline_times": {i: when(d.due_at) for i, d in enumerate(notice.deadlines)},
            "locale": locale,
        }

    def render(self, notice: NoticeRequested) -> Rendered:
        audience, channel = notice.audience.value, notice.channel.value
        locale = self.locale_for(audience, channel, notice.locale)
        context = self.context(notice, locale)
        parts: dict[str, str] = {}
        try:
            for name in PARTS[channel]:
                template = self._env.get_template(f"{audience}/{channel}/{locale}/{name}")
                parts[name.removesuffix(".j2").replace("subject.txt", "subject")] = template.render(context)
        except TemplateNotFound as exc:
            raise FinalDelivery(f"no template {exc.name}") from None
        rendered = Rendered(locale, parts)
        if channel == "webhook":
            try:
                rendered.json_body  # noqa: B018 - validates the JSON now, not at send time
            except ValueError as exc:
                raise FinalDelivery(f"webhook template gave invalid JSON: {exc}") from None
        return rendered
