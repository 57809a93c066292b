"""Notice signatures: Kafka is a trust boundary, so a notice carries an HMAC of what it says and where it goes.

Whoever can write to ``notices.requested`` could otherwise send mail, SMS or signed webhooks anywhere, or skip an
approval by rewriting ``release``. Every producer of notices signs them with ``signing.notice_key``; the notifier
verifies before it does anything else and dead-letters a notice that fails (with an on-call alert).

The signature is HMAC-SHA256 over a canonical encoding of the fields that matter: ids, recipient, audience,
channel, address, release mode, locale, kind, references, the incident facts and the deadlines. The facts and
deadlines are encoded as their JSON (pydantic's, which is stable for a model read back from its own JSON), so a
notice stored in the ledger and republished unchanged (approve, release, DLQ replay) still verifies.
"""

import hashlib
import hmac
import json
from collections.abc import Sequence

from pydantic import SecretStr
from pydantic_core import to_json

from runtime.settings import SigningSettings
from schemas import Audience, Channel, IncidentFacts, NoticeKind, NoticeRequested, Release

PREFIX = "v1="  # names the encoding and algorithm, so a later one can be told apart
DOMAIN = b"breachwire.notice-signature/1\n"


class SignatureError(ValueError):
    """A notice's signature is missing or does not verify with any of the keys."""


# One encoder for every head: json.dumps with options builds a new encoder per call.
_HEAD = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


def head(
    *,
    notice_id: str,
    incident_id: str,
    revision: str,
    recipient_id: str,
    audience: Audience,
    channel: Channel,
    address: str,
    release: Release,
    locale: str,
    kind: NoticeKind,
    references: list[str],
) -> bytes:
    """The first part of the signed bytes: the fields that matter, other than the facts and deadlines, as a JSON
    array in a fixed order."""
    return _HEAD.encode(
        [
            notice_id,
            incident_id,
            revision,
            recipient_id,
            audience.value,
            channel.value,
            address,
            release.value,
            locale,
            kind.value,
            references,
        ]
    ).encode()


def join(head: bytes, facts: bytes, deadlines: bytes) -> bytes:
    """The signed bytes from their three parts; the facts and deadlines as pydantic writes them (``to_json``).
    Lengths keep the parts from running into each other."""
    return b"".join(
        (
            DOMAIN,
            str(len(head)).encode(),
            b"\n",
            head,
            b"\n",
            str(len(facts)).encode(),
            b"\n",
            facts,
            b"\n",
            str(len(deadlines)).encode(),
            b"\n",
            deadlines,
        )
    )


def canonical(notice: NoticeRequested, facts: bytes | None = None) -> bytes:
    """The bytes a notice's signature covers. ``facts``: ``notice.incident`` as JSON, when the caller has it."""
    fields = head(
        notice_id=notice.notice_id,
        incident_id=notice.incident_id,
        revision=notice.revision,
        recipient_id=notice.recipient_id,
        audience=notice.audience,
        channel=notice.channel,
        address=notice.address,
        release=notice.release,
        locale=notice.locale,
        kind=notice.kind,
        references=notice.references,
    )
    return join(fields, to_json(notice.incident) if facts is None else facts, to_json(notice.deadlines))


class NoticeSigner:
    """Signs with the first key, verifies with any (the others are old keys kept during a rotation)."""

    def __init__(self, keys: Sequence[SecretStr]) -> None:
        secrets = [k.get_secret_value().encode() for k in keys]
        if not secrets or any(len(s) < 16 for s in secrets):
            raise ValueError("signing.notice_key: give at least one key of 16 characters or more")
        self._keys = secrets
        # The facts of the last notice signed, as JSON: every notice of a report revision shares one (frozen)
        # facts object, and writing it out again for each of 100,000 notices would cost more than the HMAC.
        self._last_facts: tuple[IncidentFacts, bytes] | None = None

    def signature(self, notice: NoticeRequested) -> str:
        return self.signature_of(canonical(notice, self._facts_json(notice.incident)))

    def signature_of(self, data: bytes) -> str:
        """The signature of ``canonical`` bytes (or of ``join(head(...), facts, deadlines)`` when a builder of
        many notices has the parts already)."""
        return PREFIX + self._mac(self._keys[0], data)

    def sign(self, notice: NoticeRequested) -> NoticeRequested:
        """The notice with its signature set (a copy: messages are frozen)."""
        return notice.model_copy(update={"signature": self.signature(notice)})

    def verify(self, notice: NoticeRequested) -> None:
        """Raises ``SignatureError`` unless the notice carries a signature one of the keys made."""
        given = notice.signature
        if not given:
            raise SignatureError("signature does not verify: the notice has none")
        if not given.startswith(PREFIX):
            raise SignatureError("signature does not verify")
        data = canonical(notice)
        if not any(hmac.compare_digest(given[len(PREFIX) :], self._mac(key, data)) for key in self._keys):
            raise SignatureError("signature does not verify")

    @classmethod
    def from_settings(cls, signing: SigningSettings) -> "NoticeSigner":
        return cls([signing.notice_key, *signing.verify_keys])

    def valid(self, notice: NoticeRequested) -> bool:
        try:
            self.verify(notice)
        except SignatureError:
            return False
        return True

    def _facts_json(self, facts: IncidentFacts) -> bytes:
        last = self._last_facts
        if last is not None and last[0] is facts:
            return last[1]
        encoded = to_json(facts)
        self._last_facts = (facts, encoded)
        return encoded

    @staticmethod
    def _mac(key: bytes, data: bytes) -> str:
        return hmac.digest(key, data, hashlib.sha256).hex()
