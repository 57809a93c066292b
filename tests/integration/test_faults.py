"""The stack as deployed through faults, small (bench/faults.py; ``make faults`` runs the full set): two intakes,
assess, two notifiers and record on a three-node Kafka cluster and a PostgreSQL ledger of the test's own, reports
streaming in and an incident fanning out a few hundred notices, while the node leading the busiest partition is
killed (kill -9) and started again, a notifier is killed and started again, and PostgreSQL is stopped for 10 s.
Afterwards every report answered 202 is on incidents.reported, every notice due is delivered or dead exactly once,
every id at a receiver is a requested notice's, the audit chain verifies, and each fault was recovered from."""

import json
import shutil
from pathlib import Path

import pytest

from bench.faults import run

pytestmark = pytest.mark.integration


@pytest.mark.skipif(
    not (list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or shutil.which("initdb")),
    reason="PostgreSQL's server binaries (initdb, pg_ctl) are not installed",
)
def test_no_report_or_notice_lost_or_doubled_through_a_leader_killed_a_notifier_killed_and_postgres_stopped() -> None:
    lines: list[str] = []
    figures = run(
        notices=300,
        outage_s=10,
        faults=["broker", "notify", "postgres"],
        rate=2.0,
        timeout_s=120,
        out=None,
        log=lines.append,
    )
    report = "\n".join(lines) + f"\nkept: {figures.get('kept')}"
    assert [f["name"] for f in figures["faults"]] == ["broker", "notify", "postgres"]
    for fault in figures["faults"]:
        assert fault["recovered_after_s"] is not None, (fault, report)
    checks = figures["assertions"]
    assert checks["reports_202_on_topic"]["accepted"] > 10, report
    assert checks["notices_settled_once"]["due"] >= figures["notices_expected"] > 200, report
    for name, check in checks.items():
        assert check["ok"], f"{name}: {json.dumps(check, indent=1)}\n{report}"
