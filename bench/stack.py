"""What the stack benchmarks share: the receivers (webhook, SMTP, Twilio stand-in, each its own process), the
notices a report must lead to, the services' process trees, their consumer groups, and what reached the receivers.

Used by bench/incident.py (one incident, measured) and bench/faults.py (the same path through faults). A receiver
child is this file run as a script (``start_receiver``); it stops on SIGTERM and writes what it accepted.

Fault hooks for bench/faults.py: the webhook receiver answers 500 (and counts nothing) while a file
``webhook.fail`` exists in its folder; a receiver stopped and started again appends to its ``<kind>.jsonl``.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RECEIVERS = ("webhook", "smtp", "sms")
TWILIO_SID = "AC" + "be4c" * 8
TWILIO_TOKEN = "bench-twilio-auth-token"  # noqa: S105 - the local stand-in's, not a secret


# -- the receivers (child processes) ---------------------------------------------------------------------------


def receiver(kind: str, directory: Path, port: int, delay: float) -> None:
    """The child process: one receiver until SIGTERM; then what it accepted, as JSON lines of [id, time]."""
    from bench.notify import fast_webhook_receiver, serve_until_terminated
    from breachwire.dev.sinks import SmtpSink
    from breachwire.dev.twilio import TwilioSink

    accepted: list[tuple[str, float]] = []  # webhooks only: the sinks keep their own lists
    count: Callable[[], int]
    dump: Callable[[], Iterable[tuple[str, float]]]
    stop: Callable[[], None] = lambda: None  # noqa: E731
    if kind == "webhook":
        count, dump = accepted.__len__, lambda: accepted
    elif kind == "smtp":
        mail = SmtpSink(directory / "mail", port=port).start()
        stop = mail.stop
        count, dump = lambda: len(mail.received), lambda: ((m.message_id, m.at) for m in mail.received)
    else:
        sms = TwilioSink(TWILIO_SID, TWILIO_TOKEN, port=port).start()
        stop = sms.stop
        # An SMS is one per (number, text): the same pair twice is the same SMS sent twice.
        count, dump = (
            lambda: len(sms.received),
            lambda: ((f"{m.sid} {m.to} {hash(m.body)}", m.at) for m in sms.received),
        )

    done = threading.Event()

    # A receiver started again (a fault run stops the SMTP server) counts on from what it accepted before.
    before = (
        len((directory / f"{kind}.jsonl").read_text().splitlines()) if (directory / f"{kind}.jsonl").exists() else 0
    )

    def progress() -> None:
        # The bench polls a count, not the receiver: a file replaced twice a second.
        path, temporary = directory / f"{kind}.count", directory / f"{kind}.count.tmp"
        while not done.wait(0.5):
            temporary.write_text(str(before + count()))
            temporary.replace(path)

    threading.Thread(target=progress, daemon=True).start()
    try:
        if kind == "webhook":
            secrets = json.loads((directory / "secrets.json").read_text())
            failing = directory / "webhook.fail"
            serve_until_terminated(
                fast_webhook_receiver(
                    port, delay, secrets, lambda wid: accepted.append((wid, time.time())), failing=failing.exists
                )
            )
        else:
            signal.sigwait({signal.SIGTERM, signal.SIGINT})
    finally:
        done.set()
        stop()
        with (directory / f"{kind}.jsonl").open("a") as out:  # a receiver started again adds to it
            out.writelines(json.dumps([i, at]) + "\n" for i, at in dump())


def start_receiver(kind: str, directory: Path, port: int, delay: float) -> subprocess.Popen[bytes]:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # inherited: sigwait receives them
    try:
        child = subprocess.Popen([sys.executable, __file__, kind, str(directory), str(port), str(delay)])
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return child
        if child.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"the {kind} receiver did not start")


def received_count(directory: Path) -> int:
    total = 0
    for kind in RECEIVERS:
        with contextlib.suppress(OSError, ValueError):
            total += int((directory / f"{kind}.count").read_text() or 0)
    return total


# -- what the report must lead to ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    audience: str
    channel: str
    address: str
    release: str


def expected_notices(
    settings: Any, subprocessor_id: str, report: Any, keep: list[Any] | None = None
) -> tuple[dict[str, Expected], str]:
    """notice id → audience, channel, address and release mode of every notice the report must lead to: the
    assess consumer's own steps, run here, without Kafka, before the clock starts. And the subprocessor's
    webhook secret, which the report is signed with. ``keep`` gets the notices themselves."""
    from consumers.assess.consumer import Assess
    from consumers.assess.release import load_release_policy
    from consumers.assess.rules import load_rules
    from runtime.datamap import load_datamap
    from runtime.notice_signing import NoticeSigner
    from runtime.topics import topics_for
    from schemas import IncidentReported, NoticeRequested, Source, incident_id

    reported = IncidentReported(
        incident_id=incident_id(subprocessor_id, report.reference),
        subprocessor_id=subprocessor_id,
        source=Source.SUBPROCESSOR,
        delivery_id="bench",
        received_at=datetime.now(UTC),
        report=report,
    )
    expected: dict[str, Expected] = {}

    def note(_topic: str, _key: str, message: Any) -> None:
        if isinstance(message, NoticeRequested):
            if keep is not None:
                keep.append(message)
            expected[message.notice_id] = Expected(
                message.audience.value, message.channel.value, message.address, message.release.value
            )

    datamap = load_datamap(settings.datamap_dir)
    Assess(
        datamap,
        load_rules(settings.rules_dir),
        topics_for(settings.kafka),
        note,
        settings.oncall,
        policy=load_release_policy(settings.release_policy),
        signer=NoticeSigner.from_settings(settings.signing),
    ).assess(reported)
    return expected, datamap.subprocessors[subprocessor_id].webhook_secrets[0].get_secret_value()


# -- the services' processes -----------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (a notifier's workers), from Linux's /proc."""
    pids, i = [pid], 0
    while i < len(pids):
        try:
            found = Path(f"/proc/{pids[i]}/task/{pids[i]}/children").read_text().split()
        except OSError:
            found = []
        pids += [int(p) for p in found]
        i += 1
    return pids


def cpu_seconds(pid: int) -> float | None:
    """CPU time a process has used so far (Linux's /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU time a process and its descendants (a service's workers) have used so far."""
    return sum(cpu_seconds(p) or 0.0 for p in process_tree(pid))


def tree_peak_rss_mb(pid: int) -> tuple[float, int]:
    """The sum of the peak RSS (VmHWM) of a process and its descendants, and how many there are."""
    total, processes = 0, 0
    for p in process_tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
                processes += 1
    return total / 1024, processes


def wait_for_groups(settings: Any, stack: Any, workers: int, timeout_s: float = 120.0) -> None:
    """Until every consumer group of the stack stands with its members holding partitions."""
    from runtime.kafka import group_members, make_admin

    prefix = settings.kafka.group_prefix
    groups = {f"{prefix}.assess": 1, f"{prefix}.notify": workers}
    groups |= {f"{prefix}.record.{name}": 1 for name in ("reported", "assessed", "requested", "sent", "dead")}
    admin = make_admin(settings.kafka, client_id="bench-incident")
    try:
        deadline = time.monotonic() + timeout_s
        waiting = dict(groups)
        while waiting:
            waiting = {g: n for g, n in waiting.items() if group_members(admin, g) < n}
            if exited := stack.exited():
                raise RuntimeError(f"services exited while starting: {exited}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"consumer groups not formed in {timeout_s:.0f} s: {sorted(waiting)}")
            time.sleep(0.2)
    finally:
        admin.close()


# -- the figures -----------------------------------------------------------------------------------------------


def read_received(directory: Path, expected: dict[str, Expected]) -> tuple[dict[str, list[float]], dict[str, int]]:
    """notice id → the times it arrived (more than one: a duplicate), and duplicates by receiver. An SMS is
    matched to its notice by number (one SMS per number and incident)."""
    by_address = {e.address: nid for nid, e in expected.items() if e.channel == "sms"}
    arrivals: dict[str, list[float]] = {}
    duplicates: dict[str, int] = {}
    for kind in RECEIVERS:
        seen: Counter[str] = Counter()
        path = directory / f"{kind}.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        for line in lines:
            ident, at = json.loads(line)
            if kind == "sms":
                _sid, to, body = ident.split(" ", 2)
                seen[f"{to} {body}"] += 1
                nid = by_address.get(to, f"unexpected-sms:{to}")
            else:
                seen[ident] += 1
                nid = ident.split("@", 1)[0] if kind == "smtp" else ident
            arrivals.setdefault(nid, []).append(float(at))
        duplicates[kind] = sum(n - 1 for n in seen.values())
    return arrivals, duplicates


def empty_ledger(url: str) -> None:
    """Drop the ledger's tables, so the run starts on an empty ledger (the services create them again)."""
    from sqlalchemy import create_engine

    from runtime.store.tables import metadata

    engine = create_engine(url)
    metadata.drop_all(engine)
    engine.dispose()


def free_port() -> int:
    from bench.notify import free_port as port

    return port()


if __name__ == "__main__":
    receiver(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
