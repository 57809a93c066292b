"""Deterministic ids: a replayed or re-assessed report yields the same ids, so nothing happens twice."""

import hashlib
import re
from typing import Annotated

from pydantic import Field

_SEP = "\x1f"


def _digest(*parts: str) -> str:
    return hashlib.sha256(_SEP.join(parts).encode()).hexdigest()[:24]


def incident_id(subprocessor_id: str, reference: str) -> str:
    """The incident a subprocessor calls ``reference``; every report about it shares this id."""
    return "inc_" + _digest("incident", subprocessor_id, reference)


def notice_id(incident: str, recipient: str, audience: str, channel: str, revision: str) -> str:
    """One notice per incident revision, recipient, audience and channel."""
    return "ntc_" + _digest("notice", incident, recipient, audience, channel, revision)


# What the functions above make, and what tests and hand-made messages may use: a prefix, then letters, digits or
# underscores (at most 64 characters, the ledger's column width). Ids name files in an evidence pack: no dots, no
# slashes.
INCIDENT_ID_PATTERN = r"^inc_[A-Za-z0-9_]{1,60}$"
NOTICE_ID_PATTERN = r"^ntc_[A-Za-z0-9_]{1,60}$"
INCIDENT_ID_RE = re.compile(INCIDENT_ID_PATTERN)
NOTICE_ID_RE = re.compile(NOTICE_ID_PATTERN)

IncidentId = Annotated[str, Field(pattern=INCIDENT_ID_PATTERN)]
NoticeId = Annotated[str, Field(pattern=NOTICE_ID_PATTERN)]


def is_incident_id(value: str) -> bool:
    return INCIDENT_ID_RE.fullmatch(value) is not None
