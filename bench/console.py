"""Benchmark: the console's incident view of an incident reaching 20,000 customers.

    .venv/bin/python bench/console.py [--customers 20000] [--rounds 20]

Builds a synthetic data map (bench/gen_datamap.py) and a ledger in a temporary folder, assesses an AWS report
(every region: every customer) with the assess consumer's own steps, and records what the record and clock
consumers would (assessments and who is affected, every notice, every clock, the audit entries). Then renders,
signed in, through the console's own app: the incident view (first page of customers, clocks and notices), a
search, the last page of customers, and the incidents list. Goal: the incident view in under 1 s. Prints the
figures and writes them to bench/results/console.json. A figure, not a test: nothing fails when it is slower.
"""

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_SECONDS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="build the map and ledger in this folder, and keep them")
    args = parser.parse_args()

    from fastapi.testclient import TestClient
    from sqlalchemy import insert

    from bench.gen_datamap import generate
    from breachwire.commands.assess import offline_assessor
    from consumers.assess.rules import load_rules
    from producers.console import create_console_app
    from producers.console.queries import affected_page
    from producers.oncall.tokens import Role, Tokens
    from producers.publish import ReportPublisher
    from runtime.audit import GENESIS, entry_hash
    from runtime.datamap import load_datamap
    from runtime.kafka import make_producer
    from runtime.logging import configure
    from runtime.settings import load_settings
    from runtime.store import Ledger
    from runtime.store.incidents import Assessment
    from runtime.store.tables import audit_log, clocks
    from runtime.topics import topics_for
    from schemas import IncidentAssessed, IncidentReported, NoticeRequested, Report, ReportStatus, Source, incident_id
    from schemas.common import Message

    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        folder = args.keep or Path(tmp)
        generate(folder / "map", args.customers)
        settings = load_settings(
            datamap_dir=folder / "map", ledger={"url": f"sqlite:///{folder / 'ledger.db'}"}, log={"level": "warning"}
        )
        configure(settings.log, "bench-console")
        datamap, rules = load_datamap(settings.datamap_dir), load_rules(settings.rules_dir)
        ledger = Ledger.connect(settings.ledger.url)

        now = datetime.now(UTC)
        report = Report(
            reference="BENCH-CONSOLE-1",
            status=ReportStatus.CONFIRMED,
            title="AWS: storage snapshots copied in every region",
            description="A benchmark incident.",
            aware_at=now,
            regions=sorted({c.region for c in datamap.customers.values()}),
            data_categories=["contact_details", "chat_transcripts"],
        )
        reported = IncidentReported(
            incident_id=incident_id("aws", report.reference),
            subprocessor_id="aws",
            source=Source.SUBPROCESSOR,
            delivery_id="bench",
            received_at=now,
            report=report,
        )
        emitted: list[Message] = []
        offline_assessor(datamap, rules, settings, lambda _t, _k, m: emitted.append(m), lambda: now).assess(reported)
        assessed = [m for m in emitted if isinstance(m, IncidentAssessed) and m.customer_id]
        notices = [m for m in emitted if isinstance(m, NoticeRequested)]
        started = time.perf_counter()
        ledger.incidents.record_report(reported)
        ledger.incidents.record_assessments(
            [
                Assessment(m, datamap.customers[m.customer_id].name, datamap.customers[m.customer_id].region)
                for m in assessed
            ]
        )
        ledger.delivery.record_requested(notices)
        clock_rows = {
            (m.customer_id, d.jurisdiction, d.audience): {
                "incident_id": m.incident_id,
                "customer_id": m.customer_id,
                "jurisdiction": d.jurisdiction,
                "audience": d.audience,
                "started_at": now,
                "due_at": d.due_at,
                "citation": d.citation,
                "stage": 0,
            }
            for m in assessed
            for d in m.deadlines
            if d.due_at is not None
        }
        entries, prev = [], GENESIS
        kinds = [("incident.assessed", m.customer_id) for m in assessed] + [
            ("notice.requested", n.notice_id) for n in notices
        ]
        for seq, (kind, key) in enumerate([("report.received", "report"), *kinds], start=1):
            data = json.dumps({"id": key}, separators=(",", ":"))
            digest = entry_hash(seq, now, reported.incident_id, kind, "bench", data, prev)
            entries.append(
                {"seq": seq, "key": f"{kind}:{key}", "at": now, "incident_id": reported.incident_id, "kind": kind,
                 "actor": "bench", "data": data, "prev_hash": prev, "hash": digest}
            )  # fmt: skip
            prev = digest
        with ledger.engine.begin() as conn:
            conn.execute(insert(clocks), list(clock_rows.values()))
            conn.execute(insert(audit_log), entries)
        recorded_s = time.perf_counter() - started

        # (made lazily, on a first publish: the pages read, so no producer and no broker are needed)
        publisher = ReportPublisher(lambda: make_producer(settings.kafka), topics_for(settings.kafka), 1)
        app = create_console_app(settings, datamap, ledger, publisher, rules)
        client = TestClient(app)
        token = Tokens(ledger).create("bench", Role.RESPONDER)
        page = client.get("/sign-in")
        nonce = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert nonce is not None
        client.post("/sign-in", data={"token": token, "csrf": nonce.group(1)})

        def timed(path: str) -> tuple[float, float, int]:
            """(first render, median of the rounds after it, page bytes) in seconds."""
            first_started = time.perf_counter()
            answer = client.get(path)
            first = time.perf_counter() - first_started
            assert answer.status_code == 200, (path, answer.status_code)
            times = []
            for _ in range(args.rounds):
                t = time.perf_counter()
                client.get(path)
                times.append(time.perf_counter() - t)
            return first, statistics.median(times), len(answer.content)

        view = f"/incidents/{reported.incident_id}"
        _, at = affected_page(
            ledger, reported.incident_id, search="", jurisdiction="", region="", page=1, size=settings.console.page_size
        )
        figures = {
            "incident_view": timed(view),
            "search": timed(f"{view}?q=c00012"),
            "last_page": timed(f"{view}?page={at.last}"),
            "incidents_list": timed("/"),
        }
        ledger.close()

    view_first, view_median, view_bytes = figures["incident_view"]
    result = {
        "customers_affected": len(assessed),
        "notices": len(notices),
        "clocks": len(clock_rows),
        "audit_entries": len(entries),
        "recording_seconds": round(recorded_s, 1),
        **{
            name: {"first_s": round(first, 4), "median_s": round(median, 4), "bytes": size}
            for name, (first, median, size) in figures.items()
        },
        "goal_seconds": GOAL_SECONDS,
        "met_goal": view_first < GOAL_SECONDS and view_median < GOAL_SECONDS,
        "rounds": args.rounds,
        "ledger": "sqlite",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(
        f"incident view of an incident reaching {len(assessed)} customers ({len(notices)} notices, "
        f"{len(clock_rows)} clocks): first {view_first * 1000:.0f} ms, median {view_median * 1000:.0f} ms "
        f"over {args.rounds} renders ({view_bytes // 1024} KiB); goal under {GOAL_SECONDS:.0f} s: "
        f"{'met' if result['met_goal'] else 'NOT met'}"
    )
    for name in ("search", "last_page", "incidents_list"):
        first, median, _ = figures[name]
        print(f"  {name:<15} first {first * 1000:.0f} ms, median {median * 1000:.0f} ms")
    out = ROOT / "bench" / "results" / "console.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
