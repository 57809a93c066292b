"""Benchmark: the notifier against a bare client, same bodies, same concurrency, same run.

    .venv/bin/python bench/notify.py [--webhooks 100000] [--emails 20000] [--delay 0.05] [--recipients 500]
                                     [--workers N] [--rounds 4]
    (or BENCH_NOTIFY_WEBHOOKS / BENCH_NOTIFY_EMAILS / BENCH_NOTIFY_WORKERS in the environment)

Webhooks: a local receiver (a child process on asyncio, verifying every Standard Webhooks signature)
answers each POST after ``--delay`` seconds. The baseline is a bare ``httpx.AsyncClient`` (on the notifier's
``SpreadTransport`` pools) posting the same signed bodies with ``notify.concurrency`` requests in flight.
The notifier is the service as deployed, ``breachwire run notify``, with ``notify.workers`` processes (default:
one per CPU) sharing the same overall limits. It is started once per channel and kept running, as a service
runs: process start and its consumer group forming (every worker in it) stay off its clock. Each round the
notices go to Kafka (serialised beforehand; sending them is on the clock) and it reads them, renders, signs,
sends, writes ``notices.sent`` and the ledger (SQLite), and commits; its clock stops at the last delivery the
ledger records. The bare client and the notifier take turns over ``--rounds`` shares of the notices, so a
machine whose speed drifts during the run weighs on both alike. Each first sends ``--warmup`` other notices off
the clock: a service compiles its templates and loads its locales' data once, not for every round.
Emails: a local aiosmtpd server (``SmtpSink``, a child process); the baseline is smtplib's ``sendmail`` over
``notify.smtp_connections`` reused connections in threads, sending the same messages (built before the clock
starts). Goal: the notifier at >= 80% of the bare rate.
Prints the figures, with the ratio of each round (a bare turn and the notifier's turn right after it: how far the
machine's noise moves the figure) and the CPU a message, in each side's turns, of the receiver (a receiver near a
full core is the limit both share), of the sender (this process for the bare client, counting the bodies it builds
off the clock; the notifier's processes) and of the broker (one this checkout started), and writes them to
bench/results/notify.json.
"""

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from email.utils import parseaddr
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import cpu_seconds, tree_cpu  # noqa: E402 - after the path is set

GOAL_RATIO = 0.8


async def fast_webhook_receiver(
    port: int,
    delay: float,
    secrets: dict[str, str],
    on_received: Callable[[str], None] | None = None,
    failing: Callable[[], bool] | None = None,
) -> None:
    """An asyncio HTTP/1.1 receiver: verifies each Standard Webhooks signature, answers 200 after ``delay``;
    ``on_received`` gets the webhook-id of each verified POST as it arrives; while ``failing()`` is true, every
    POST is answered 500 and not counted (a receiver that is down).

    (``WebhookSink``'s thread per connection spends more time on the GIL than on the requests at 64
    connections; this one keeps the receiver from being what the benchmark measures.)
    """
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    hooks = {path: Webhook(secret) for path, secret in secrets.items()}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status = "200 OK"
                if failing is not None and failing():
                    status = "500 Internal Server Error"
                else:
                    try:
                        hooks[path].verify(body.decode(), headers)
                        if on_received is not None:
                            on_received(headers["webhook-id"])
                    except (KeyError, WebhookVerificationError, ValueError):
                        status = "401 Unauthorized"
                await asyncio.sleep(delay)
                writer.write(f"HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def serve_until_terminated(receiving: Coroutine[Any, Any, None]) -> None:
    """Run a receiver until SIGTERM or SIGINT, then cancel it. asyncio's own signal handler, which runs on the
    loop between callbacks: a SystemExit raised by a plain handler can land inside asyncio's shutdown of the
    connections' tasks, and once left a receiver hanging until killed."""

    async def until_signalled() -> None:
        task = asyncio.ensure_future(receiving)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    asyncio.run(until_signalled())


def receiver(kind: str, directory: Path, port: int, delay: float, secrets_file: Path) -> None:
    """The child process: a webhook receiver or an SMTP server, until SIGTERM."""
    if kind == "webhook":
        serve_until_terminated(fast_webhook_receiver(port, delay, json.loads(secrets_file.read_text())))
        return
    from breachwire.dev.sinks import SmtpSink

    sink = SmtpSink(directory, port=port).start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    sink.stop()


def free_port() -> int:
    """A port for a server the benchmark starts: one no outgoing connection takes meanwhile (``free_port_run``)."""
    from breachwire.dev.broker import free_port_run

    return free_port_run(1)


def start_receiver(kind: str, directory: Path, delay: float, secrets_file: Path, port: int) -> subprocess.Popen[bytes]:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # inherited: sigwait receives them
    try:
        child = subprocess.Popen(
            [sys.executable, __file__, "--receiver", kind, str(directory), str(port), str(delay), str(secrets_file)]
        )
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    deadline = time.monotonic() + 20
    import socket

    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return child
        time.sleep(0.1)
    raise RuntimeError(f"the {kind} receiver did not start")


def write_datamap(directory: Path, recipients: int, port: int) -> dict[str, str]:
    """A data map of ``recipients`` customers whose webhooks go to the local receiver; path → secret."""
    directory.mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "datamap" / "subprocessors.toml", directory / "subprocessors.toml")
    secrets = {}
    with (directory / "customers.jsonl").open("w") as out:
        for i in range(recipients):
            cid = f"bench-{i:05d}"
            secret = "whsec_" + base64.b64encode(f"bench-webhook-secret-{i:08d}".encode()).decode()
            secrets[f"/hooks/{cid}"] = secret
            record = {
                "id": cid,
                "name": f"Bench Customer {i}",
                "region": "eu",
                "country": "DE",
                "timezone": "Europe/Berlin",
                "locale": "en",
                "features": ["helpdesk"],
                "data_subjects": 1000,
                "privacy_email": f"privacy@{cid}.example",
                "webhook_url": f"http://127.0.0.1:{port}/hooks/{cid}",
                "webhook_secret": secret,
            }
            out.write(json.dumps(record) + "\n")
    return secrets


def bare_webhooks(notices: list[Any], datamap: Any, renderer: Any, concurrency: int) -> float:
    """Seconds a bare httpx client takes to POST the same signed bodies, ``concurrency`` at a time."""
    import httpx

    from consumers.notify.spread import SpreadTransport
    from consumers.notify.webhook import sign_headers

    bodies = [(n.address, datamap.customers[n.recipient_id].webhook_secret.get_secret_value(), n.notice_id,
               renderer.render(n).json_body) for n in notices]  # fmt: skip

    ssl_context = httpx.create_ssl_context()

    def pool(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
        return httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits)

    async def run() -> float:
        # The notifier's layout of connection pools, without its target guard (in one pool of 64 connections
        # httpcore spent ~10 ms of CPU a request, which is what this measured before: ~80 requests/s).
        async with httpx.AsyncClient(transport=SpreadTransport(concurrency, pool), timeout=30) as client:
            pending = iter(bodies)

            async def post_each() -> None:
                for url, secret, nid, body in pending:  # (the workers share the iterator: each body once)
                    headers = {"content-type": "application/json", **sign_headers(secret, nid, body)}
                    response = await client.post(url, content=body, headers=headers)
                    response.raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(post_each() for _ in range(concurrency)))
            return time.perf_counter() - started

    return asyncio.run(run())


def bare_emails(notices: list[Any], renderer: Any, settings: Any) -> float:
    """Seconds smtplib takes to send the same messages over the same number of reused connections (8bit, as the
    notifier sends them to a server that announces 8BITMIME, as aiosmtpd does)."""
    from consumers.notify.email import build_message

    messages = [  # (the bytes aiosmtplib sends to a server that announces 8BITMIME)
        (n.address, bytes(build_message(settings.smtp.sender, n.address, n.notice_id, renderer.render(n))))
        for n in notices
    ]
    started = time.perf_counter()
    send_8bit(messages, settings)
    return time.perf_counter() - started


def send_8bit(messages: list[tuple[str, bytes]], settings: Any) -> None:
    """(recipient, message bytes) sent by smtplib with BODY=8BITMIME over ``notify.smtp_connections`` reused
    connections, one thread each."""
    sender = parseaddr(settings.smtp.sender)[1]
    size = settings.notify.smtp_connections
    chunks = [messages[i::size] for i in range(size)]

    def send_all(chunk: list[tuple[str, bytes]]) -> None:
        with smtplib.SMTP(settings.smtp.host, settings.smtp.port) as smtp:
            for to, message in chunk:
                smtp.sendmail(sender, [to], message, mail_options=["BODY=8BITMIME"])

    with ThreadPoolExecutor(size) as pool:
        list(pool.map(send_all, chunks))


def wait_for_group(admin: Any, group: str, members: int, stack: Any, timeout_s: float = 60.0) -> None:
    """Until the notifier's consumer group stands with all ``members`` of it holding partitions."""
    from runtime.kafka import group_members

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if group_members(admin, group) >= members:
            return
        if exited := stack.exited():
            raise RuntimeError(f"the notifier exited while starting: {exited}")
        time.sleep(0.05)
    raise RuntimeError(f"the notifier's group {group} did not form with {members} members in {timeout_s:.0f} s")


def committed(admin: Any, group: str, topic: str) -> int:
    """How many of a fresh topic's messages the group has committed: the notifier commits a batch only after
    the ledger holds its outcomes. (Counting rows in the ledger instead scanned its whole table, rendered
    evidence and all, twice a second: at 100,000 notices that took a good part of a core from the notifier.)"""
    offsets = admin.list_group_offsets({group: None}).get(group, {})
    return sum(max(meta.offset, 0) for tp, meta in offsets.items() if tp.topic == topic)


class Notifier:
    """The notifier service as deployed (``breachwire run notify``, ``workers`` processes sharing the overall
    limits), started once and kept running across rounds, as a service runs: what it pays once (process start,
    imports, the group forming with every worker in it) stays out of its clock.

    ``deliver`` hands it a round of notices: its clock runs from the first notice sent to Kafka to the last
    one the ledger records delivered.
    """

    def __init__(self, settings: Any, workers: int, log_dir: Path) -> None:
        from breachwire.stack import Stack
        from runtime.kafka import make_admin, make_producer
        from runtime.settings import settings_env
        from runtime.topics import topics_for

        self._settings = settings
        self._topic = topics_for(settings.kafka, settings.notify.retry_delays_s).requested
        self._group = f"{settings.kafka.group_prefix}.notify"
        self._producer = make_producer(settings.kafka)
        self._admin = make_admin(settings.kafka, client_id="bench")
        service = settings.model_copy(update={"notify": settings.notify.model_copy(update={"workers": workers})})
        self._stack = Stack(settings_env(service), services=["notify"], log_dir=log_dir)
        self._stack.start()
        try:
            wait_for_group(self._admin, self._group, workers, self._stack)
        except BaseException:
            self.close()
            raise
        self.delivered = 0

    def cpu_seconds(self) -> float:
        """CPU time the notifier's processes have used so far."""
        return tree_cpu(self._stack.processes["notify"].pid)

    def deliver(self, notices: list[Any]) -> float:
        """Seconds the running notifier takes to deliver ``notices``."""
        from sqlalchemy import func, select

        from runtime.notice_signing import NoticeSigner
        from runtime.store import Ledger
        from runtime.store.tables import notices as notice_rows

        # Signed (as assess signs) and serialised before the clock starts, like the bare client's bodies; sending
        # them is on the clock.
        signer = NoticeSigner.from_settings(self._settings.signing)
        records = [(n.recipient_id.encode(), signer.sign(n).to_json()) for n in notices]
        started = time.time()
        for key, value in records:
            self._producer.send(self._topic, key=key, value=value)
        self._producer.flush(timeout=120)
        self.delivered += len(notices)
        while committed(self._admin, self._group, self._topic) < self.delivered:
            if exited := self._stack.exited():
                raise RuntimeError(f"the notifier exited: {exited}")
            time.sleep(0.2)
        ledger = Ledger.connect(self._settings.ledger.url)
        try:
            with ledger.engine.connect() as conn:
                count, last = conn.execute(
                    select(func.count(), func.max(notice_rows.c.delivered_at)).where(notice_rows.c.state == "delivered")
                ).one()
        finally:
            ledger.close()
        if count != self.delivered:
            raise RuntimeError(f"{count} notices delivered of {self.delivered}")
        return float(last.timestamp() - started)

    def close(self) -> None:
        self._stack.stop(timeout_s=60)
        self._admin.close()
        self._producer.close()


def cpu_used(receiver_pid: int, broker_pid: int | None, notifier: Notifier) -> dict[str, float]:
    """CPU seconds so far of each part a round is measured by; the bare client's (this process's) counts building
    its bodies too."""
    return {
        "receiver": cpu_seconds(receiver_pid) or 0.0,
        "broker": (cpu_seconds(broker_pid) or 0.0) if broker_pid else 0.0,
        "bare": time.process_time(),
        "notifier": notifier.cpu_seconds(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webhooks", type=int, default=int(os.environ.get("BENCH_NOTIFY_WEBHOOKS", 100_000)))
    parser.add_argument("--emails", type=int, default=int(os.environ.get("BENCH_NOTIFY_EMAILS", 20_000)))
    parser.add_argument("--delay", type=float, default=0.05, help="the webhook receiver's answer time, seconds")
    parser.add_argument("--recipients", type=int, default=500)
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("BENCH_NOTIFY_WORKERS", os.cpu_count() or 1)),
        help="the notifier's processes (notify.workers); default: one per CPU",
    )
    parser.add_argument("--rounds", type=int, default=4, help="turns the bare client and the notifier take")
    parser.add_argument(
        "--warmup", type=int, default=1000, help="notices each sends first, off the clock (at most a tenth of a run)"
    )
    parser.add_argument("--receiver", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        kind, directory, port, delay, secrets = args.receiver
        receiver(kind, Path(directory), int(port), float(delay), Path(secrets))
        return 0

    from breachwire.dev import broker
    from breachwire.dev.samples import controller_notices
    from consumers.assess.rules import load_rules
    from consumers.notify.render import Renderer
    from runtime.datamap import load_datamap
    from runtime.kafka import delete_topics, ensure_topics
    from runtime.logging import configure
    from runtime.settings import load_settings
    from runtime.topics import topics_for
    from schemas import Channel

    work = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    run = uuid.uuid4().hex[:8]
    base = load_settings()
    broker.start(base.broker)
    web_port = free_port()
    secrets = write_datamap(work / "datamap", args.recipients, web_port)
    (work / "secrets.json").write_text(json.dumps(secrets))
    children: list[subprocess.Popen[bytes]] = []
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "ledger": "sqlite",
        "receiver_delay_s": args.delay,
    }
    try:
        children.append(start_receiver("webhook", work / "hooks", args.delay, work / "secrets.json", web_port))
        smtp_port = free_port()
        children.append(start_receiver("smtp", work / "mail", 0, work / "secrets.json", smtp_port))
        datamap_dir = work / "datamap"
        settings = load_settings(
            kafka={"topic_prefix": f"bench-{run}.", "group_prefix": f"bench-{run}"},
            ledger={"url": f"sqlite:///{work / 'ledger.db'}"},
            datamap_dir=datamap_dir,
            smtp={"host": "127.0.0.1", "port": smtp_port},
            notify={
                "allow_targets": ["127.0.0.0/8"],
                "require_https": False,
                "per_host": 10_000,
            },  # one local host takes everything
            # Warnings only: a log line a notice would be work the bare client does not do.
            log={"format": "json", "level": "warning"},
        )
        configure(settings.log, "bench")
        table = topics_for(settings.kafka, settings.notify.retry_delays_s).partitions(settings.kafka)
        ensure_topics(settings.kafka, table)
        datamap = load_datamap(datamap_dir)
        rules = load_rules(settings.rules_dir)
        renderer = Renderer(settings.templates_dir, rules)
        concurrency = settings.notify.concurrency
        results["concurrency"] = concurrency
        results["smtp_connections"] = settings.notify.smtp_connections
        results["notifier_workers"] = args.workers
        results["notifier_batch_size"] = settings.notify.batch_size
        results["rounds"] = args.rounds
        results["warmup"] = args.warmup

        for kind, count in (("webhook", args.webhooks), ("email", args.emails)):
            if count <= 0:
                continue
            channel = Channel.WEBHOOK if kind == "webhook" else Channel.EMAIL
            warmup = min(args.warmup, count // 10)
            notices = controller_notices(datamap, rules, channel, warmup + count)
            warm, notices = notices[:warmup], notices[warmup:]
            print(f"{kind}: {count} notices to {args.recipients} recipients, concurrency {concurrency}", flush=True)
            # The notifier gets its own ledger per channel, so the second run does not skip the first's ids.
            channel_settings = settings.model_copy(
                update={
                    "ledger": settings.ledger.model_copy(update={"url": f"sqlite:///{work / f'ledger-{kind}.db'}"}),
                    "kafka": settings.kafka.model_copy(
                        update={"topic_prefix": f"bench-{run}-{kind}.", "group_prefix": f"bench-{run}-{kind}"}
                    ),
                }
            )
            ensure_topics(
                channel_settings.kafka,
                topics_for(channel_settings.kafka, settings.notify.retry_delays_s).partitions(channel_settings.kafka),
            )
            logs = ROOT / ".breachwire" / "bench" / f"notify-{kind}"
            receiver_pid = children[0 if kind == "webhook" else 1].pid
            broker_pid = broker.running_pid(base.broker)  # None: a broker this checkout did not start
            parts = ["receiver", "sender", *(["broker"] if broker_pid else [])]
            # Bare and notifier take turns, a share of the notices each round: a machine whose speed drifts
            # over the minutes of a run (a shared one does) then weighs on both alike.
            bare_s = notify_s = 0.0
            round_ratios: list[float] = []  # each round's notifier rate over the bare rate just before it
            # CPU a message, in each side's turns: the receiver, the sender (the bare client, this process; or the
            # notifier's processes) and the broker. On a machine of few cores they share, it is what rates follow.
            cpu = {f"{part}_{side}": 0.0 for part in parts for side in ("bare", "notifier")}
            size = -(-count // args.rounds)

            def bare(chunk: list[Any], kind: str = kind) -> float:
                if kind == "webhook":
                    return bare_webhooks(chunk, datamap, renderer, concurrency)
                return bare_emails(chunk, renderer, settings)

            running = Notifier(channel_settings, args.workers, logs)
            try:
                # A first turn each, off the clock: what a service does once (compile its templates, load its
                # locales' data, open connections) is not its rate, and it weighed on the notifier's first round.
                if warm:
                    bare(warm)
                    running.deliver(warm)

                for start in range(0, count, size):
                    chunk = notices[start : start + size]
                    before = cpu_used(receiver_pid, broker_pid, running)
                    bare_round = bare(chunk)
                    between = cpu_used(receiver_pid, broker_pid, running)
                    notify_round = running.deliver(chunk)
                    after = cpu_used(receiver_pid, broker_pid, running)
                    bare_s += bare_round
                    notify_s += notify_round
                    round_ratios.append(round(bare_round / notify_round, 3))
                    for side, start_at, end_at in (("bare", before, between), ("notifier", between, after)):
                        for part in parts:
                            measured = side if part == "sender" else part
                            cpu[f"{part}_{side}"] += end_at[measured] - start_at[measured]
            finally:
                running.close()
            bare_rate, notify_rate = count / bare_s, count / notify_s
            results[kind] = {
                "notices": count,
                "bare_per_s": round(bare_rate, 1),
                "notifier_per_s": round(notify_rate, 1),
                "ratio": round(notify_rate / bare_rate, 3),
                "round_ratios": round_ratios,
            }
            results[kind]["cpu_ms_a_message"] = {k: round(v / count * 1000, 3) for k, v in cpu.items()}
            print(
                f"  bare client {bare_rate:8.1f}/s   notifier {notify_rate:8.1f}/s ({args.workers} worker(s))   "
                f"ratio {notify_rate / bare_rate:.0%} (goal {GOAL_RATIO:.0%})",
                flush=True,
            )
            print(f"  ratio round by round: {'  '.join(f'{r:.0%}' for r in round_ratios)}")
            ms = results[kind]["cpu_ms_a_message"]
            for part in parts:
                bare_ms, notifier_ms = ms[f"{part}_bare"], ms[f"{part}_notifier"]
                print(f"  {part} CPU a message: {bare_ms:.3f} ms (bare run), {notifier_ms:.3f} ms (notifier run)")
            delete_topics(
                channel_settings.kafka,
                topics_for(channel_settings.kafka, settings.notify.retry_delays_s).partitions(channel_settings.kafka),
            )
        delete_topics(settings.kafka, table)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    out = ROOT / "bench" / "results" / "notify.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
