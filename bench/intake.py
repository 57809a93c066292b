"""Benchmark: signed reports accepted per second by a real uvicorn intake, against a bare Kafka produce loop.

    .venv/bin/python bench/intake.py [--seconds 10] [--concurrency 1 16 64]

For each concurrency: N client threads post signed reports (each a new webhook-id) to ``breachwire run
intake`` for ``--seconds``; every 202 means Kafka acknowledged the report (acks=all) and the webhook-id is in
the ledger. The baseline, in the same run and against the same broker: N threads each producing the same report
bytes with kafka-python (acks=all) and waiting for each ack, which is the least the intake can do per report.
Prints reports/s and p50/p99 latency, with the ratio to the baseline, and writes bench/results/intake.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from producers.intake.signatures import sign  # noqa: E402
from runtime.kafka import ensure_topics, make_producer  # noqa: E402
from runtime.settings import load_settings  # noqa: E402
from runtime.topics import topics_for  # noqa: E402
from schemas import Report, ReportStatus  # noqa: E402

SECRET = "whsec_bGlub2RlLWV1LWRlbW8tc2VjcmV0LTIwMjY="  # noqa: S105 - the example data map's demo secret
PORT = 18080


def report_bytes() -> bytes:
    report = Report(
        reference=f"BENCH-{uuid.uuid4().hex[:12]}",
        status=ReportStatus.SUSPECTED,
        title="Storage volume snapshot exfiltrated",
        description="Two volumes were copied by an attacker. " * 10,
        aware_at=datetime.now(UTC),
        regions=["eu"],
        data_categories=["contact_details"],
    )
    return report.model_dump_json().encode()


def run_threads(concurrency: int, seconds: float, one: Callable[[], float | None]) -> dict[str, float]:
    """Run ``one`` in ``concurrency`` threads for ``seconds``; ``one`` returns a latency or None on failure."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        mine, failed = [], 0
        while time.monotonic() < deadline:
            latency = one()
            if latency is None:
                failed += 1
            else:
                mine.append(latency)
        with lock:
            latencies.extend(mine)
            failures[0] += failed

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    latencies.sort()
    return {
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else 0.0,
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2) if latencies else 0.0,
        "ok": len(latencies),
        "failed": failures[0],
    }


def intake_one(client: httpx.Client, body: bytes) -> float | None:
    headers = {"content-type": "application/json", **sign(SECRET, f"msg_{uuid.uuid4().hex}", body, int(time.time()))}
    start = time.perf_counter()
    response = client.post("/v1/subprocessors/linode-eu/reports", content=body, headers=headers)
    latency = time.perf_counter() - start
    return latency if response.status_code == 202 else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_INTAKE_SECONDS", 10)))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    state = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    settings = load_settings(
        kafka={"topic_prefix": f"bench-{run}.", "group_prefix": f"bench-{run}"},
        ledger={"url": f"sqlite:///{state / 'ledger.db'}"},
    )
    ensure_topics(settings.kafka, topics_for(settings.kafka).partitions(settings.kafka))
    env = {
        **os.environ,
        "BREACHWIRE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "BREACHWIRE_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "BREACHWIRE_KAFKA__GROUP_PREFIX": settings.kafka.group_prefix,
        "BREACHWIRE_LEDGER__URL": settings.ledger.url,
        "BREACHWIRE_INTAKE__PORT": str(PORT),
        "BREACHWIRE_INTAKE__RATE_LIMIT_PER_MINUTE": "100000000",
        "BREACHWIRE_INTAKE__RATE_LIMIT_BURST": "100000",
        "BREACHWIRE_LOG__LEVEL": "warning",
    }
    server = subprocess.Popen([sys.executable, "-m", "breachwire", "run", "intake"], env=env, cwd=ROOT)
    body = report_bytes()
    results: dict[str, object] = {"seconds_per_run": args.seconds, "report_bytes": len(body), "runs": []}
    try:
        base = f"http://127.0.0.1:{PORT}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        producer = make_producer(settings.kafka)
        topic = topics_for(settings.kafka).reported

        def kafka_one() -> float | None:
            start = time.perf_counter()
            producer.send(topic, key=b"bench", value=body).get(timeout=settings.kafka.ack_timeout_s)
            return time.perf_counter() - start

        kafka_one()  # metadata and connection, outside the measurement
        for concurrency in args.concurrency:
            baseline = run_threads(concurrency, args.seconds, kafka_one)
            limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            with httpx.Client(base_url=base, limits=limits, timeout=30) as client:
                intake_one(client, body)
                intake = run_threads(concurrency, args.seconds, lambda c=client: intake_one(c, body))
            ratio = round(intake["per_second"] / baseline["per_second"], 3) if baseline["per_second"] else 0.0
            row = {"concurrency": concurrency, "intake": intake, "kafka_baseline": baseline, "ratio": ratio}
            results["runs"].append(row)  # type: ignore[attr-defined]
            print(
                f"c={concurrency:>3}  intake {intake['per_second']:>8.1f}/s p50 {intake['p50_ms']:>7.2f} ms "
                f"p99 {intake['p99_ms']:>7.2f} ms (failed {intake['failed']})  |  kafka acks=all "
                f"{baseline['per_second']:>8.1f}/s p50 {baseline['p50_ms']:>7.2f} ms p99 {baseline['p99_ms']:>7.2f} ms"
                f"  |  intake/kafka {ratio:.2f}",
                flush=True,
            )
        producer.close()
    finally:
        server.terminate()
        server.wait(timeout=15)
    out = ROOT / "bench" / "results" / "intake.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
