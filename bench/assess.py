"""Benchmark: assess a region-wide incident touching ~300,000 of 1,000,000 customers.

    .venv/bin/python bench/assess.py [--customers 1000000] [--map DIR]

Measures, in one child process (so that its peak RSS is the assessment's own): loading the data map; the
baseline, reading the same affected customers with no logic (each serialised to JSON once); and the assessment
of a Linode EU report: deciding jurisdictions, clocks and audiences and building and serialising every
``incidents.assessed`` and ``notices.requested`` message, as the consumer does, but handing the bytes to a
counter instead of Kafka. Goal: assessment under 30 s, peak RSS under 1.5 GB.

Producing those messages is kafka-python's work, outside the goal, and reported beside it: the project's
producer sends a sample of messages of the mean size to the local broker (started if needed), and the time for
all of them is estimated from its rate. Prints the figures and writes them to bench/results/assess.json.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_SECONDS = 30.0
GOAL_PEAK_MB = 1536.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def child(map_dir: Path) -> dict[str, object]:
    from consumers.assess.consumer import Assess
    from consumers.assess.release import load_release_policy
    from consumers.assess.rules import load_rules
    from runtime.datamap import load_datamap
    from runtime.notice_signing import NoticeSigner
    from runtime.settings import OncallSettings, SigningSettings, load_settings
    from runtime.topics import topics_for
    from schemas import IncidentReported, Report, ReportStatus, Source, incident_id
    from schemas.common import Message

    started = time.perf_counter()
    datamap = load_datamap(map_dir)
    load_s = time.perf_counter() - started
    rss_after_load = peak_mb()
    rules = load_rules(ROOT / "rules")

    affected = datamap.in_region("eu")
    started = time.perf_counter()
    baseline_bytes = sum(len(c.model_dump_json()) for c in affected)
    baseline_s = time.perf_counter() - started

    now = datetime.now(UTC)
    report = Report(
        reference="BENCH-EU-1",
        status=ReportStatus.CONFIRMED,
        title="Linode EU: storage volumes copied",
        description="A leaked API token was used to snapshot the EU cluster's volumes.",
        aware_at=now,
        regions=["eu"],
        approx_data_subjects=2_000_000,
    )
    reported = IncidentReported(
        incident_id=incident_id("linode-eu", report.reference),
        subprocessor_id="linode-eu",
        source=Source.SUBPROCESSOR,
        delivery_id="msg_bench",
        received_at=now,
        report=report,
    )
    counts = {"messages": 0, "bytes": 0}

    def emit(_topic: str, key: str, message: Message) -> None:
        counts["messages"] += 1
        counts["bytes"] += len(key) + len(message.to_json())

    topics = topics_for(load_settings().kafka)
    policy = load_release_policy(ROOT / "rules" / "release.toml")
    signer = NoticeSigner.from_settings(SigningSettings())
    assess = Assess(datamap, rules, topics, emit, OncallSettings(), policy=policy, signer=signer)
    started, cpu_started = time.perf_counter(), time.process_time()
    outcome = assess.assess(reported)
    assess_s = time.perf_counter() - started
    # CPU beside wall time: on a shared machine the wall time grows with the load, the CPU time much less.
    assess_cpu_s = time.process_time() - cpu_started
    return {
        "customers_in_map": len(datamap.customers),
        "customers_affected": outcome.customers,
        "notices_requested": outcome.notices,
        "messages_built": counts["messages"],
        "megabytes_serialised": round(counts["bytes"] / 1e6, 1),
        "load_seconds": round(load_s, 2),
        "peak_rss_mb_after_load": round(rss_after_load, 1),
        "baseline_seconds": round(baseline_s, 2),
        "baseline": "serialise each affected customer to JSON once, no logic",
        "baseline_megabytes": round(baseline_bytes / 1e6, 1),
        "assess_seconds": round(assess_s, 2),
        "assess_cpu_seconds": round(assess_cpu_s, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "assess_vs_baseline": round(assess_s / baseline_s, 2) if baseline_s else None,
        "peak_rss_mb": round(peak_mb(), 1),
        "goal_seconds": GOAL_SECONDS,
        "goal_peak_rss_mb": GOAL_PEAK_MB,
    }


def produce_seconds_per_message(mean_bytes: int, sample: int = 20_000) -> float:
    """Seconds the project's producer takes per message of ``mean_bytes``, sent to the broker and acknowledged."""
    import uuid

    from breachwire.dev import broker
    from runtime.kafka import delete_topics, ensure_topics, make_producer
    from runtime.settings import load_settings

    settings = load_settings(kafka={"topic_prefix": f"bench-assess-{uuid.uuid4().hex[:8]}."})
    broker.start(settings.broker)
    topic = f"{settings.kafka.topic_prefix}notices.requested"
    ensure_topics(settings.kafka, {topic: settings.kafka.partitions["notices.requested"]})
    producer = make_producer(settings.kafka)
    value = b"x" * mean_bytes
    try:
        started = time.perf_counter()
        for i in range(sample):
            producer.send(topic, key=f"c{i % 3000:07d}".encode(), value=value)
        producer.flush()
        return (time.perf_counter() - started) / sample
    finally:
        producer.close()
        delete_topics(settings.kafka, [topic])


def main() -> int:
    parser = argparse.ArgumentParser(description="assess benchmark")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--map", type=Path, default=None, help="data map folder (generated when missing)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "assess.json")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child)))
        return 0

    from bench.gen_datamap import generate

    map_dir = args.map or ROOT / ".breachwire" / "bench" / f"datamap-{args.customers}"
    if not (map_dir / "customers.jsonl").exists():
        print(f"generating {args.customers} customers into {map_dir} (once)", flush=True)
        generate(map_dir, args.customers)
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(map_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["met_goal"] = figures["assess_seconds"] < GOAL_SECONDS and figures["peak_rss_mb"] < GOAL_PEAK_MB
    mean_bytes = round(figures["megabytes_serialised"] * 1e6 / figures["messages_built"])
    per_message = produce_seconds_per_message(mean_bytes)
    figures["produce_us_per_message"] = round(per_message * 1e6, 1)
    figures["produce_seconds_estimated"] = round(per_message * figures["messages_built"], 1)
    figures["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(
        f"map: {figures['customers_in_map']:,} customers loaded in {figures['load_seconds']} s "
        f"(peak RSS {figures['peak_rss_mb_after_load']} MB)\n"
        f"baseline ({figures['baseline']}): {figures['baseline_seconds']} s\n"
        f"assess: {figures['customers_affected']:,} customers, {figures['notices_requested']:,} notices, "
        f"{figures['messages_built']:,} messages ({figures['megabytes_serialised']} MB) in "
        f"{figures['assess_seconds']} s ({figures['assess_cpu_seconds']} CPU s, load {figures['load_average']}) = "
        f"{figures['assess_vs_baseline']}x baseline\n"
        f"peak RSS {figures['peak_rss_mb']} MB; goal < {GOAL_SECONDS:.0f} s and < {GOAL_PEAK_MB:.0f} MB: "
        f"{'met' if figures['met_goal'] else 'NOT met'}\n"
        f"producing them (outside the goal): {figures['produce_us_per_message']} us a message of {mean_bytes} "
        f"bytes to the local broker, about {figures['produce_seconds_estimated']} s for all\n"
        f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
