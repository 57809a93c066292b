"""Deterministic ids: a replayed or re-assessed report yields the same ids, so nothing happens twice."""

import hashlib

_SEP = "\x1f"


def _digest(*parts: str) -> str:
    return hashlib.sha256(_SEP.join(parts).encode()).hexdigest()[:24]


def incident_id(subprocessor_id: str, reference: str) -> str:
    """The incident a subprocessor calls ``reference``; every report about it shares this id."""
    return "inc_" + _digest("incident", subprocessor_id, reference)


def notice_id(incident: str, recipient: str, audience: str, channel: str, revision: str) -> str:
    """One notice per incident revision, recipient, audience and channel."""
    return "ntc_" + _digest("notice", incident, recipient, audience, channel, revision)
