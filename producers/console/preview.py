"""A notice as its recipient sees it: what was sent when it was delivered (the ledger keeps it), else the notice
rendered now by the notifier's own renderer, in the recipient's locale."""

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from consumers.notify.errors import FinalDelivery
from consumers.notify.render import Renderer
from runtime.store import Ledger
from runtime.store.tables import notice_queue
from schemas import NoticeRequested

_PART = re.compile(r"^--- (\S+) ---$", re.MULTILINE)


@dataclass(frozen=True)
class Preview:
    notice_id: str
    channel: str
    locale: str
    parts: dict[str, str]
    source: str  # "sent" (what went out) or "rendered now"
    problem: str | None = None

    @property
    def sms_segments(self) -> int:
        from consumers.notify.render import sms_segments

        return sms_segments(self.parts.get("body.txt", ""))


def parse_evidence(text: str) -> dict[str, str]:
    """The parts of a sent notice from the ledger's copy (``Rendered.as_evidence``)."""
    marks = list(_PART.finditer(text))
    parts = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        end = following.start() - 2 if following is not None else len(text)  # (parts are joined by a blank line)
        parts[mark.group(1)] = text[mark.end() + 1 : end]
    return parts


class Previews:
    def __init__(
        self,
        ledger: Ledger,
        renderer: Renderer,
        reassess: Callable[[str, str], NoticeRequested | None],
    ) -> None:
        self._ledger = ledger
        self._renderer = renderer
        # (incident, notice id) → the notice as assess requests it, for a notice the ledger does not keep whole
        self._reassess = reassess

    def request(self, notice_id: str, incident_id: str) -> NoticeRequested | None:
        held = self._ledger.release.held_request(notice_id)
        if held is not None:
            return held
        with self._ledger.engine.connect() as conn:
            queued = conn.execute(select(notice_queue.c.message).where(notice_queue.c.notice_id == notice_id)).scalar()
        if queued is not None:
            return NoticeRequested.model_validate_json(queued)
        return self._reassess(incident_id, notice_id)

    def preview(self, notice: dict[str, object]) -> Preview:
        notice_id, channel = str(notice["notice_id"]), str(notice["channel"])
        sent = self._ledger.delivery.rendered(notice_id) if notice["state"] == "delivered" else None
        if sent:
            return Preview(notice_id, channel, str(notice.get("locale") or ""), parse_evidence(sent), "sent")
        request = self.request(notice_id, str(notice["incident_id"]))
        if request is None:
            return Preview(notice_id, channel, "", {}, "rendered now", "the notice's request is not kept")
        try:
            rendered = self._renderer.render(request)
        except FinalDelivery as exc:
            return Preview(notice_id, channel, request.locale, {}, "rendered now", str(exc))
        return Preview(notice_id, channel, rendered.locale, dict(rendered.parts), "rendered now")
