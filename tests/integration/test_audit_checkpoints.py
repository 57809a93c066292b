"""The record consumer checkpoints the audit chain's head on the real broker: to the ``audit.checkpoints`` topic
and the checkpoint file, and ``audit verify --kafka`` compares the chain with both."""

import argparse
import uuid

import pytest
from sqlalchemy import delete
from support import a_report, wait_until

from breachwire.commands.audit import cmd_audit
from consumers.record.consumer import build as build_record
from producers.publish import ReportPublisher
from runtime.audit import AuditLog
from runtime.checkpoints import CheckpointFile, read_topic
from runtime.kafka import make_producer
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.store.tables import audit_log
from runtime.topics import topics_for
from schemas import Source

pytestmark = pytest.mark.integration


def verify(settings: Settings) -> int:
    return cmd_audit(argparse.Namespace(action="verify", kafka=True), settings)


def test_the_record_consumer_checkpoints_the_head_to_the_topic_and_the_file(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher = ReportPublisher(lambda: make_producer(settings.kafka), topics_for(settings.kafka), 10.0)
    try:
        for _ in range(3):
            publisher.publish("linode-eu", Source.SUBPROCESSOR, f"msg_{uuid.uuid4().hex}", a_report())
    finally:
        publisher.close()
    ledger = Ledger.connect(settings.ledger.url)
    audit = AuditLog(ledger, settings.audit.key)
    loops = build_record(settings, ledger)

    def recorded() -> bool:
        for loop in loops:
            loop.run_once()
        return audit.count() == 3

    wait_until(recorded, 30, "three reports in the audit trail", step_s=0)
    head = audit.head()
    assert head is not None and head.seq == 3

    topic = topics_for(settings.kafka).checkpoints
    published = read_topic(settings.kafka, topic, 10)
    assert published and (published[-1].seq, published[-1].mac) == (3, head.hash)
    written = CheckpointFile(settings.audit_checkpoints).read()
    assert [(c.seq, c.mac) for c in written] == [(c.seq, c.mac) for c in published]

    for loop in loops:  # nothing new: no new checkpoint
        loop.run_once()
    assert len(CheckpointFile(settings.audit_checkpoints).read()) == len(written)

    capsys.readouterr()
    assert verify(settings) == 0
    out = capsys.readouterr().out
    assert f"head entry 3 {head.hash}" in out
    assert f"last checkpoint matched (topic {topic}): entry 3" in out

    # The file is gone (or was never kept): the topic alone still names the cut tail.
    settings.audit_checkpoints.unlink()
    with ledger.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq >= 2))
    assert verify(settings) == 1
    err = capsys.readouterr().err
    assert "entries 2-3 cut from the end: the chain ends at entry 1, but the checkpoint of" in err
    assert f"in topic {topic} saw entry 3" in err
    ledger.close()
