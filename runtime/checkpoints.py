"""Checkpoints of the audit chain's head, kept where a database writer cannot reach: appended to a file outside
the database (one JSON line each, fsynced) and published to their own topic (``audit.checkpoints``).

A chain that verifies on its own may still have lost its newest entries, or been rewritten whole by someone with
the key's help; compared with the checkpoints, ``audit verify`` names the cut range or the rewritten entry.
"""

import json
import os
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from kafka import KafkaProducer
from pydantic import ValidationError

from runtime.audit import AuditLog, Verdict
from runtime.kafka import publish, read_key
from runtime.settings import KafkaSettings
from schemas.common import Message

TOPIC_KEY = "audit.head"


class Checkpoint(Message):
    """The head of the audit chain when it was taken: its position and MAC."""

    seq: int
    mac: str
    at: datetime


class CheckpointError(ValueError):
    """A checkpoint file or topic that cannot be read."""


class CheckpointFile:
    """Append-only: each checkpoint a line, on disk (fsync) before ``append`` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, checkpoint: Checkpoint) -> None:
        line = checkpoint.model_dump_json() + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())

    def read(self) -> list[Checkpoint]:
        if not self.path.exists():
            return []
        checkpoints = []
        with self.path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    checkpoints.append(Checkpoint.model_validate_json(line))
                except ValidationError as exc:
                    first = exc.errors()[0]
                    where = ".".join(str(p) for p in first["loc"]) or "line"
                    raise CheckpointError(f"{self.path}:{number}: not a checkpoint ({where}: {first['msg']})") from exc
        return checkpoints


def read_topic(settings: KafkaSettings, topic: str, timeout_s: float = 30.0) -> list[Checkpoint]:
    """Every checkpoint published to ``topic`` so far, oldest first."""
    found = []
    for number, value in enumerate(read_key(settings, topic, TOPIC_KEY, timeout_s), start=1):
        try:
            found.append(Checkpoint.model_validate_json(value))
        except ValidationError as exc:
            raise CheckpointError(f"{topic}: record {number} under {TOPIC_KEY!r} is not a checkpoint") from exc
    return found


class Checkpointer:
    """Called after each batch of appends: when the head moved, it goes to the file, then to the topic."""

    def __init__(
        self, audit: AuditLog, file: CheckpointFile, producer: KafkaProducer, topic: str, timeout_s: float
    ) -> None:
        self._audit, self._file, self._producer, self._topic, self._timeout_s = audit, file, producer, topic, timeout_s
        self._lock = threading.Lock()
        self._last = 0

    def __call__(self) -> Checkpoint | None:
        with self._lock:
            head = self._audit.head()
            if head is None or head.seq <= self._last:
                return None
            checkpoint = Checkpoint(seq=head.seq, mac=head.hash, at=datetime.now(UTC).replace(microsecond=0))
            self._file.append(checkpoint)
            publish(self._producer, self._topic, TOPIC_KEY, checkpoint, self._timeout_s)
            self._last = head.seq
            return checkpoint


def anchor(verdict: Verdict, checkpoints: Iterable[Checkpoint], where: str) -> tuple[str | None, Checkpoint | None]:
    """Compare a verified chain with its checkpoints (from ``where``): the problem, if any, and the newest
    checkpoint that matched."""
    matched: Checkpoint | None = None
    for cp in sorted(checkpoints, key=lambda c: c.seq):
        if cp.seq > verdict.head_seq:
            cut = f"entry {cp.seq}" if cp.seq == verdict.head_seq + 1 else f"entries {verdict.head_seq + 1}-{cp.seq}"
            return (
                f"{cut} cut from the end: the chain ends at entry {verdict.head_seq}, "
                f"but the checkpoint of {cp.at.isoformat()} in {where} saw entry {cp.seq}",
                matched,
            )
        if verdict.macs.get(cp.seq) != cp.mac:
            return (
                f"entry {cp.seq} differs from the checkpoint of {cp.at.isoformat()} in {where}: "
                "the chain was rewritten",
                matched,
            )
        matched = cp
    return None, matched


def as_json(checkpoints: Iterable[Checkpoint]) -> list[dict[str, object]]:
    return [json.loads(cp.model_dump_json()) for cp in checkpoints]
