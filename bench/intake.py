"""Benchmark: signed reports accepted per second by a real uvicorn intake, against a bare Kafka produce loop.

    .venv/bin/python bench/intake.py [--seconds 10] [--concurrency 1 16 64] [--workers 1] [--ledger URL] [--out F]

For each concurrency: N clients, each on its own keep-alive connection, post signed reports (each a new
webhook-id) to ``breachwire run intake`` (``--workers`` processes) for ``--seconds``; every 202 means Kafka
acknowledged the report (acks=all) and the webhook-id is claimed in the ledger. The clients share one event
loop and speak HTTP/1.1 through h11, so that they cost a third of what the intake does per report (threads of
httpx clients cost as much as the intake and measured themselves). The baseline, in the same run and against
the same broker: N threads each producing the same report bytes with kafka-python (acks=all) and waiting for
each ack, which is the least the intake can do per report. For scale, the same clients against a bare HTTP
server (uvicorn and FastAPI answering 202 at once): what HTTP alone costs here. Prints reports/s, p50/p99
latency, the ratio to the baseline, the CPU a report took in the intake (its workers together), the broker and the
clients, against what the machine's cores had a report, and (one worker) the mean time an answer waited on the
ledger's claim and on Kafka's ack, from the intake's /metrics; writes bench/results/intake.json. ``--ledger`` runs
the intake on a PostgreSQL ledger instead of a new SQLite file (the database is EMPTIED first), as replicas of
the intake share one.
"""

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import h11
import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import empty_ledger, tree_cpu  # noqa: E402
from breachwire.dev import broker  # noqa: E402
from producers.intake.signatures import sign  # noqa: E402
from runtime.kafka import ensure_topics, make_producer  # noqa: E402
from runtime.settings import load_settings  # noqa: E402
from runtime.topics import topics_for  # noqa: E402
from schemas import Report, ReportStatus  # noqa: E402

SECRET = "whsec_bGlub2RlLWV1LWRlbW8tc2VjcmV0LTIwMjY="  # noqa: S105 - the example data map's demo secret
PORT = 18080
BARE_PORT = 18081
PATH = "/v1/subprocessors/linode-eu/reports"


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


def summary(latencies: list[float], failed: int, elapsed: float) -> dict[str, float]:
    latencies.sort()
    return {
        "per_second": round(len(latencies) / elapsed, 1),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0.0,
        "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else 0.0,
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2) if latencies else 0.0,
        "ok": len(latencies),
        "failed": failed,
    }


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
    return summary(latencies, failures[0], time.monotonic() - start)


async def post_reports(port: int, concurrency: int, seconds: float, body: bytes) -> dict[str, float]:
    """``concurrency`` clients posting signed reports, each a new webhook-id, for ``seconds``; 202 counts."""
    latencies: list[float] = []
    failures = [0]
    deadline = time.monotonic() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        connection = h11.Connection(h11.CLIENT)
        try:
            while time.monotonic() < deadline:
                signed = sign(SECRET, f"msg_{uuid.uuid4().hex}", body, int(time.time()))
                headers = [("host", "127.0.0.1"), ("content-type", "application/json")]
                headers += [("content-length", str(len(body))), *signed.items()]
                start = time.perf_counter()
                writer.write(
                    connection.send(h11.Request(method="POST", target=PATH, headers=headers))
                    + connection.send(h11.Data(data=body))
                    + connection.send(h11.EndOfMessage())
                )
                status = 0
                while not isinstance(event := connection.next_event(), h11.EndOfMessage):
                    if event is h11.NEED_DATA:
                        connection.receive_data(await reader.read(65536))
                    elif isinstance(event, h11.Response):
                        status = event.status_code
                if status == 202:
                    latencies.append(time.perf_counter() - start)
                else:
                    failures[0] += 1
                connection.start_next_cycle()
        finally:
            writer.close()

    start = time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return summary(latencies, failures[0], time.monotonic() - start)


def posted(port: int, concurrency: int, seconds: float, body: bytes) -> dict[str, float]:
    return asyncio.run(post_reports(port, concurrency, seconds, body))


def step_totals(port: int) -> dict[str, tuple[float, float]]:
    """The intake's ``breachwire_report_step_seconds`` as (sum, count) per step, read from its /metrics."""
    totals: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(httpx.get(f"http://127.0.0.1:{port}/metrics").text):
        if family.name == "breachwire_report_step_seconds":
            for s in family.samples:
                if s.name.endswith(("_sum", "_count")):
                    totals.setdefault(s.labels["step"], [0.0, 0.0])[s.name.endswith("_count")] = s.value
    return {step: (total[0], total[1]) for step, total in totals.items()}


def steps_ms(port: int, run: Callable[[], dict[str, float]]) -> dict[str, float]:
    """``run()``'s figures, with the mean milliseconds a report's answer waited on each step (one worker: the
    scrapes before and after must reach the same process)."""
    before = step_totals(port)
    figures = run()
    for step, (total, count) in step_totals(port).items():
        done = count - before.get(step, (0.0, 0.0))[1]
        if done:
            figures[f"{step}_mean_ms"] = round((total - before.get(step, (0.0, 0.0))[0]) / done * 1000, 2)
    return figures


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measured(pids: dict[str, int | None], run: Callable[[], dict[str, float]]) -> dict[str, float]:
    """``run()``'s figures, with the CPU milliseconds a request took in each process of ``pids`` and in this one
    (the clients), and what the machine's cores had a request in all (cores x seconds / requests)."""
    before = {name: tree_cpu(pid) for name, pid in pids.items() if pid}
    client_before, start = client_cpu_seconds(), time.monotonic()
    figures = run()
    elapsed, requests = time.monotonic() - start, max(1, int(figures["ok"] + figures["failed"]))
    for name, cpu in before.items():
        figures[f"{name}_cpu_ms"] = round((tree_cpu(pids[name] or 0) - cpu) / requests * 1000, 3)
    figures["client_cpu_ms"] = round((client_cpu_seconds() - client_before) / requests * 1000, 3)
    figures["cores_ms"] = round((os.cpu_count() or 1) * elapsed / requests * 1000, 3)
    return figures


def serve_bare(port: int) -> None:
    """The scale's other end: uvicorn and FastAPI reading the body and answering 202, nothing else."""
    import uvicorn
    from fastapi import FastAPI, Request, Response

    app = FastAPI()

    @app.post(PATH)
    async def report(request: Request) -> Response:
        await request.body()
        return Response(b'{"status":"accepted"}', status_code=202, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


def wait_healthy(base: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_INTAKE_SECONDS", 10)))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("BENCH_INTAKE_WORKERS", 1)),
        help="intake.workers (default 1)",
    )
    parser.add_argument(
        "--ledger",
        help="the ledger's SQLAlchemy URL (default: a new SQLite file); a PostgreSQL database is EMPTIED first",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "intake.json")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the bare server's process
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return

    run = uuid.uuid4().hex[:8]
    state = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    ledger_url = args.ledger or f"sqlite:///{state / 'ledger.db'}"
    empty_ledger(ledger_url)
    settings = load_settings(
        kafka={"topic_prefix": f"bench-{run}.", "group_prefix": f"bench-{run}"},
        ledger={"url": ledger_url},
    )
    ensure_topics(settings.kafka, topics_for(settings.kafka).partitions(settings.kafka))
    env = {
        **os.environ,
        "BREACHWIRE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "BREACHWIRE_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "BREACHWIRE_KAFKA__GROUP_PREFIX": settings.kafka.group_prefix,
        "BREACHWIRE_LEDGER__URL": settings.ledger.url,
        "BREACHWIRE_INTAKE__PORT": str(PORT),
        "BREACHWIRE_INTAKE__WORKERS": str(args.workers),
        "BREACHWIRE_METRICS__INTAKE_PORT": "0",
        "BREACHWIRE_INTAKE__RATE_LIMIT_PER_MINUTE": "100000000",
        "BREACHWIRE_INTAKE__RATE_LIMIT_BURST": "100000",
        "BREACHWIRE_LOG__LEVEL": "warning",
    }
    server = subprocess.Popen([sys.executable, "-m", "breachwire", "run", "intake"], env=env, cwd=ROOT)
    bare = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(BARE_PORT)], cwd=ROOT)
    body = report_bytes()
    load = {"start": round(os.getloadavg()[0], 1)}
    runs: list[dict[str, object]] = []
    try:
        wait_healthy(f"http://127.0.0.1:{PORT}")
        wait_healthy(f"http://127.0.0.1:{BARE_PORT}")
        producer = make_producer(settings.kafka)
        topic = topics_for(settings.kafka).reported

        def kafka_one() -> float | None:
            start = time.perf_counter()
            producer.send(topic, key=b"bench", value=body).get(timeout=settings.kafka.ack_timeout_s)
            return time.perf_counter() - start

        kafka_one()  # metadata and connection, outside the measurement
        asyncio.run(post_reports(PORT, 1, 0.5, body))  # the intake's producer and ledger, likewise
        broker_pid = broker.running_pid(settings.broker)  # None: a broker this checkout did not start
        for concurrency in args.concurrency:
            baseline = measured({"broker": broker_pid}, partial(run_threads, concurrency, args.seconds, kafka_one))
            post = partial(posted, PORT, concurrency, args.seconds, body)
            timed = partial(steps_ms, PORT, post) if args.workers == 1 else post
            intake = measured({"intake": server.pid, "broker": broker_pid}, timed)
            intake["cpu_ms_per_report"] = intake["intake_cpu_ms"]
            bare_http = measured({"server": bare.pid}, partial(posted, BARE_PORT, concurrency, args.seconds, body))
            ratio = round(intake["per_second"] / baseline["per_second"], 3) if baseline["per_second"] else 0.0
            runs.append(
                {
                    "concurrency": concurrency,
                    "intake": intake,
                    "kafka_baseline": baseline,
                    "bare_http": bare_http,
                    "ratio": ratio,
                }
            )
            print(
                f"c={concurrency:>3}  intake {intake['per_second']:>7.1f}/s p50 {intake['p50_ms']:>7.2f} ms "
                f"p99 {intake['p99_ms']:>7.2f} ms, {intake['cpu_ms_per_report']:.2f} CPU ms/report "
                f"(failed {intake['failed']})  |  kafka acks=all {baseline['per_second']:>7.1f}/s "
                f"p50 {baseline['p50_ms']:>6.2f} ms p99 {baseline['p99_ms']:>7.2f} ms  |  bare HTTP "
                f"{bare_http['per_second']:>7.1f}/s p99 {bare_http['p99_ms']:>7.2f} ms  |  intake/kafka {ratio:.2f}",
                flush=True,
            )
            nan = float("nan")
            print(
                f"       CPU ms a report: intake ({args.workers} workers) {intake['intake_cpu_ms']:.2f}, broker "
                f"{intake.get('broker_cpu_ms', nan):.2f}, clients {intake['client_cpu_ms']:.2f}, of the "
                f"{intake['cores_ms']:.2f} the cores had a report",
                flush=True,
            )
            if "claim_mean_ms" in intake:
                claim, publish = intake["claim_mean_ms"], intake["publish_mean_ms"]
                print(
                    f"       ms an answer, on average: {intake['mean_ms']:.2f} at the clients; in the intake the "
                    f"ledger's claim {claim:.2f}, Kafka's ack {publish:.2f}, the rest (HTTP, the intake's work, "
                    f"queueing) {intake['mean_ms'] - claim - publish:.2f}  |  the kafka loop's ack "
                    f"{baseline['mean_ms']:.2f}",
                    flush=True,
                )
            print(
                f"       CPU ms a message, kafka loop: its threads {baseline['client_cpu_ms']:.2f}, broker "
                f"{baseline.get('broker_cpu_ms', nan):.2f}  |  a request, bare HTTP: server "
                f"{bare_http['server_cpu_ms']:.2f}, clients {bare_http['client_cpu_ms']:.2f}",
                flush=True,
            )
        producer.close()
    finally:
        for process in (server, bare):
            process.terminate()
            process.wait(timeout=15)
    load["end"] = round(os.getloadavg()[0], 1)
    print(f"load average (1 min): {load['start']} at the start, {load['end']} at the end, on {os.cpu_count()} cores")
    results = {
        "seconds_per_run": args.seconds,
        "intake_workers": args.workers,
        "ledger": make_url(ledger_url).get_backend_name(),
        "report_bytes": len(body),
        "cores": os.cpu_count(),
        "load_average_1m": load,
        "runs": runs,
    }
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
