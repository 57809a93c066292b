"""Faults: the stack as deployed, on a three-node Kafka cluster and a PostgreSQL ledger, through crashes and outages.

    .venv/bin/python bench/faults.py [--notices 20000] [--outage 30] [--faults broker,notify,...]
    (or FAULTS_NOTICES / FAULTS_OUTAGE_S in the environment)

Everything is the run's own, so nothing shared is disturbed: a three-node KRaft cluster (``breachwire kafka up
--brokers 3``'s code) on free ports in a temporary folder, a PostgreSQL server (initdb, pg_ctl) on a free port,
the receivers of bench/stack.py. On them: two intake replicas, assess, two notifier processes and record
(``breachwire run ...``, one process each), all on the one PostgreSQL ledger.

Reports stream in at ``--rate`` per second, alternately to the two intakes (a subcontractor's reports, which
reach no customer: they exercise intake, assess and record). One signed "Linode EU: confirmed" report fans out
about ``--notices`` notices (webhooks, email, SMS). While it does, the faults, one after the other:

- notify: kill -9 one notifier process, started again at once;
- smtp: the SMTP server stopped for ``--outage`` seconds;
- webhook: the webhook receiver answers 500 for ``--outage`` seconds;
- broker: kill -9 the node leading the busiest partition (most records), started again after ``--outage`` / 3;
- postgres: PostgreSQL stopped (fast shutdown: connections cut) for ``--outage`` seconds;
- record, assess, intake: kill -9, started again at once (intake: one of the two replicas).

A fault has recovered when a report posted after it was cleared is answered 202 and its assessment is in the
ledger (the path intake → Kafka → assess → record → PostgreSQL works again), and, while notices are still due,
one more has reached a receiver. Recovered after: seconds from the injection.

Then, with every due notice delivered or dead (or ``--timeout``), asserted and printed: every report answered 202
is on ``incidents.reported``; every notice requested to be sent at once (on ``notices.requested`` or
``notices.alerts``) is delivered or dead in the ledger, exactly once in the audit chain; every id at a receiver is
a requested notice's (a duplicate carries the same webhook-id or Message-ID, never a new one); ``breachwire audit
verify`` passes. Written to bench/results/faults.json. Exit status 1 when an assertion fails.
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import (  # noqa: E402 - after the path is set
    RECEIVERS,
    TWILIO_SID,
    TWILIO_TOKEN,
    expected_notices,
    free_port,
    process_tree,
    read_received,
    received_count,
    start_receiver,
)

FAULTS = ("notify", "smtp", "webhook", "broker", "postgres", "record", "assess", "intake")
NOTICES_PER_CUSTOMER = 0.78  # what "Linode EU: confirmed" leads to over bench/gen_datamap.py's map
CALM_S = 10.0  # how long reports stream on after the last fault, at the least
STREAM_FROM = "quality-unit-ukraine"  # a subcontractor no customer of the generated map granted: no notices


@dataclass
class Fault:
    name: str
    what: str
    injected_s: float = 0.0
    cleared_s: float | None = None
    recovered_after_s: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Posted:
    at: float
    status: int
    incident_id: str
    intake: int


class Streamer:
    """Posts signed reports at a steady rate, alternately to the intakes, noting every answer."""

    def __init__(self, ports: list[int], secret: str, rate: float) -> None:
        self.ports, self.secret, self.rate = ports, secret, rate
        self.posted: list[Posted] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._n = 0

    def post(self, port: int | None = None) -> Posted:
        from breachwire.dev.demo import linode_eu_breach, post_report
        from schemas import incident_id

        self._n += 1
        port = port if port is not None else self.ports[self._n % len(self.ports)]
        report = linode_eu_breach(datetime.now(UTC)).report.model_copy(
            update={"reference": f"QU-{uuid.uuid4().hex[:12]}", "title": "Quality Unit Ukraine: suspected"}
        )
        url = f"http://127.0.0.1:{port}/v1/subprocessors/{STREAM_FROM}/reports"
        try:
            status = post_report(url, self.secret, report).status_code
        except Exception:
            status = 0
        posted = Posted(time.time(), status, incident_id(STREAM_FROM, report.reference), port)
        self.posted.append(posted)
        return posted

    def _run(self) -> None:
        while not self._stop.wait(1.0 / self.rate):
            self.post()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


class Supervisor:
    """Starts again any service that exits, as the deployment's restart policy does (compose: ``restart:
    unless-stopped``; a service whose ledger or broker connection breaks exits for it): at once, then after a
    wait doubling from 0.5 s to 15 s while it keeps exiting, counted per service."""

    def __init__(self, stacks: dict[str, Any]) -> None:
        self.stacks = stacks
        self.lock = threading.Lock()  # held by a fault that kills and restarts a service itself
        self.restarts: dict[str, int] = {}
        self._backoff: dict[str, float] = {}
        self._started: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            with self.lock:
                for label, stack in self.stacks.items():
                    for name in stack.exited():
                        key = f"{name}.{label}"
                        now = time.monotonic()
                        if now - self._started.get(key, 0.0) > 10:
                            self._backoff[key] = 0.0  # it ran a while: start at once again
                        if now - self._started.get(key, 0.0) < self._backoff.get(key, 0.0):
                            continue
                        self.restarts[key] = self.restarts.get(key, 0) + 1
                        self._backoff[key] = min(15.0, max(0.5, 2 * self._backoff.get(key, 0.0)))
                        self._started[key] = now
                        stack.start(name)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def run(
    notices: int,
    outage_s: float,
    faults: list[str],
    rate: float,
    timeout_s: float,
    out: Path | None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    from pydantic import SecretStr
    from sqlalchemy import create_engine, text

    from bench.gen_datamap import WEBHOOK_SECRET, generate
    from breachwire.dev import broker
    from breachwire.dev.demo import linode_eu_breach, post_report
    from breachwire.dev.postgres import LocalPostgres
    from breachwire.stack import Stack, wait_for_http
    from runtime.kafka import ensure_topics, make_admin
    from runtime.logging import configure
    from runtime.settings import KafkaSettings, load_settings, settings_env
    from runtime.topics import topics_for
    from schemas import incident_id

    work = Path(tempfile.mkdtemp(prefix="breachwire-faults-"))
    work.chmod(0o755)  # PostgreSQL's folder inside belongs to its own user, who must get there
    base = broker.free_port_run(6)
    cluster = load_settings().broker.model_copy(
        update={
            "brokers": 3,
            "port": base,
            "controller_port": base + 1,
            "heap": "384m",
            "cluster_data_dir": work / "nodes",
            "data_dir": work / "single",
        }
    )
    pg = LocalPostgres(work / "postgres", free_port())
    web_port, smtp_port, sms_port, intake_a, intake_b = (free_port() for _ in range(5))
    notify_probes = {"a": free_port(), "b": free_port()}  # each notifier's /metrics, read while notices stay open
    receivers_dir = work / "receivers"
    receivers_dir.mkdir()
    stacks: list[Stack] = []
    children: dict[str, subprocess.Popen[bytes]] = {}
    streamer: Streamer | None = None
    supervisor: Supervisor | None = None
    figures: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "outage_s": outage_s,
        "report_rate_per_s": rate,
        "ledger": "postgresql",
        "kafka_nodes": 3,
        "intakes": 2,
        "notifiers": 2,
    }
    started = time.monotonic()
    try:
        log(f"three Kafka nodes on ports {base}-{base + 5}, PostgreSQL on {pg.port}, in {work}")
        broker.start(cluster)
        pg.init().start()
        pg.create_database()
        customers = max(50, round(notices / NOTICES_PER_CUSTOMER))
        generate(work / "datamap", customers, webhook_base=f"http://127.0.0.1:{web_port}/hooks")
        run_id = uuid.uuid4().hex[:8]
        kafka = broker.client_settings(
            cluster, KafkaSettings(topic_prefix=f"faults-{run_id}.", group_prefix=f"faults-{run_id}", ack_timeout_s=30)
        )
        settings = load_settings(
            ledger={"url": pg.url},
            datamap_dir=work / "datamap",
            state_dir=work / "state",
            intake={"host": "127.0.0.1", "port": intake_a},
            smtp={"host": "127.0.0.1", "port": smtp_port},
            notify={
                "allow_targets": ["127.0.0.0/8"],
                "require_https": False,
                "per_host": 10_000,
                "workers": 1,
                # Short waits, so that a 30 s outage is retried through within the run and the last is dead.
                "retry_delays_s": [2, 5, 10, 20, 40],
            },
            twilio={
                "base_url": f"http://127.0.0.1:{sms_port}",
                "account_sid": TWILIO_SID,
                "auth_token": SecretStr(TWILIO_TOKEN),
                "from_number": "+15005550006",
            },
            log={"format": "json"},
            # Two notifiers (and whoever else runs on this machine): each probe server on a free port.
            metrics={"assess_port": 0, "record_port": 0, "clock_port": 0, "notify_port": 0},
        ).model_copy(update={"kafka": kafka})
        configure(settings.log.model_copy(update={"level": "critical"}), "faults")  # its clients see the faults
        report = linode_eu_breach(datetime.now(UTC)).report
        incident = incident_id("linode-eu", report.reference)
        expected, report_secret = expected_notices(settings, "linode-eu", report)
        auto = {nid: e for nid, e in expected.items() if e.release == "auto"}
        figures |= {"customers_in_map": customers, "notices_expected": len(auto)}
        hooks = [e.address.rsplit("/", 1)[1] for e in auto.values() if e.channel == "webhook"]
        secrets = {f"/hooks/{customer}": WEBHOOK_SECRET for customer in hooks}
        (receivers_dir / "secrets.json").write_text(json.dumps(secrets))
        subprocessors = tomllib.loads((work / "datamap" / "subprocessors.toml").read_text())["subprocessors"]
        stream_secret = next(s for s in subprocessors if s["id"] == STREAM_FROM)["webhook_secrets"][0]

        table = topics_for(settings.kafka, settings.notify.retry_delays_s).partitions(settings.kafka)
        ensure_topics(settings.kafka, table)
        ports = {"webhook": web_port, "smtp": smtp_port, "sms": sms_port}
        for kind in RECEIVERS:
            children[kind] = start_receiver(kind, receivers_dir, ports[kind], 0.01)
        env = settings_env(settings)
        # Two stacks: A runs intake, assess, notify and record; B a second intake (its own port) and notifier.
        a = Stack(
            env | {"BREACHWIRE_METRICS__NOTIFY_PORT": str(notify_probes["a"])},
            services=("record", "assess", "notify", "intake"),
            log_dir=work / "logs" / "a",
        )
        b = Stack(
            env
            | {"BREACHWIRE_INTAKE__PORT": str(intake_b), "BREACHWIRE_METRICS__NOTIFY_PORT": str(notify_probes["b"])},
            services=("intake", "notify"),
            log_dir=work / "logs" / "b",
        )
        stacks += [a, b]
        a.start("record")  # first, alone: it makes the ledger's tables
        time.sleep(3)
        for service in ("assess", "notify", "intake"):
            a.start(service)
        b.start()
        wait_for_http(f"http://127.0.0.1:{intake_a}/healthz", 180, a)
        wait_for_http(f"http://127.0.0.1:{intake_b}/healthz", 180, b)
        _wait_for_groups(settings, stacks)
        log(f"{len(auto):,} notices due from {customers:,} customers; stack up in {time.monotonic() - started:.0f} s")

        engine = create_engine(pg.url, pool_pre_ping=True)

        def assessed(incident_ids: list[str]) -> bool:
            try:
                with engine.connect() as conn:
                    rows = conn.execute(
                        text("SELECT count(*) FROM assessments WHERE incident_id = ANY(:ids)"), {"ids": incident_ids}
                    ).scalar()
                return rows == len(incident_ids)
            except Exception:
                return False

        supervisor = Supervisor({"a": a, "b": b})
        supervisor.start()
        streamer = Streamer([intake_a, intake_b], stream_secret, rate)
        streamer.start()
        t0 = time.time()
        while (
            answer := post_report(
                f"http://127.0.0.1:{intake_a}/v1/subprocessors/linode-eu/reports", report_secret, report
            )
        ).status_code != 202:
            if time.time() - t0 > 60:
                raise RuntimeError(f"the incident's report was answered {answer.status_code}: {answer.text}")
            time.sleep(1)
        figures["incident"] = incident
        log(f"incident {incident} accepted; faults: {', '.join(faults)}")

        def recover(fault: Fault, cleared: float) -> None:
            """Until a report posted now goes through to the ledger and, while notices are due, one more arrives."""
            fault.cleared_s = round(cleared - t0, 1)
            received_then = received_count(receivers_dir)
            probe: Posted | None = None
            deadline = time.time() + max(300.0, 10 * outage_s)
            admin = make_admin(settings.kafka, client_id="faults")
            try:
                _probe(fault, probe, deadline, received_then, admin)
            finally:
                admin.close()

        def _probe(fault: Fault, probe: Posted | None, deadline: float, received_then: int, admin: Any) -> None:
            through = delivered = False
            while time.time() < deadline:
                if probe is None or probe.status != 202:
                    probe = streamer.post(intake_a)
                    if probe.status != 202:
                        time.sleep(0.5)
                        continue
                through = through or assessed([probe.incident_id])
                now_received = received_count(receivers_dir)
                delivered = delivered or now_received > received_then or now_received >= len(auto)
                if through and delivered and not _groups_short(settings, admin):
                    fault.recovered_after_s = round(time.time() - t0 - fault.injected_s, 1)
                    return
                time.sleep(0.2)
            path, delivery = ("ok" if through else "stuck"), ("ok" if delivered else "stuck")
            fault.notes.append(f"not recovered: report path {path}, delivery {delivery}")

        results: list[Fault] = []
        # Let the fan-out get going before the first fault.
        while received_count(receivers_dir) < min(len(auto) // 10, 200) and time.time() - t0 < 120:
            time.sleep(0.2)
        for name in faults:
            fault = Fault(name, "")
            fault.injected_s = round(time.time() - t0, 1)
            if name in ("notify", "record", "assess", "intake"):
                with supervisor.lock:
                    fault.what = f"kill -9 {name} (pid {a.processes[name].pid}), started again at once"
                    for pid in reversed(process_tree(a.processes[name].pid)):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    a.processes[name].wait()
                    a.start(name)
                if name == "intake":
                    wait_for_http(f"http://127.0.0.1:{intake_a}/healthz", 120, a)
                cleared = time.time()
            elif name == "smtp":
                fault.what = f"SMTP server stopped for {outage_s:.0f} s"
                children["smtp"].send_signal(signal.SIGTERM)
                children["smtp"].wait(timeout=60)
                time.sleep(outage_s)
                children["smtp"] = start_receiver("smtp", receivers_dir, smtp_port, 0.01)
                cleared = time.time()
            elif name == "webhook":
                fault.what = f"webhook receiver answering 500 for {outage_s:.0f} s"
                (receivers_dir / "webhook.fail").touch()
                time.sleep(outage_s)
                (receivers_dir / "webhook.fail").unlink()
                cleared = time.time()
            elif name == "broker":
                topic, partition, leader = _busiest_leader(settings.kafka, list(table))
                node = next(n for n in broker.nodes(cluster) if n.id == leader)
                fault.what = (
                    f"kill -9 Kafka node {leader}, leader of {topic}[{partition}], "
                    f"started again after {outage_s / 3:.0f} s"
                )
                os.kill(broker.node_pid(node) or 0, signal.SIGKILL)
                time.sleep(outage_s / 3)
                broker.start(cluster)
                cleared = time.time()
            elif name == "postgres":
                fault.what = f"PostgreSQL stopped for {outage_s:.0f} s"
                pg.stop("fast")
                time.sleep(outage_s)
                pg.start()
                cleared = time.time()
            else:
                raise ValueError(f"unknown fault {name!r}: one of {', '.join(FAULTS)}")
            recover(fault, cleared)
            results.append(fault)
            notes = " ".join(fault.notes)
            log(f"  {fault.injected_s:6.1f} s  {fault.what}: recovered after {fault.recovered_after_s} s {notes}")
            if supervisor.restarts:
                fault.notes.append(f"restarts so far: {supervisor.restarts}")
        figures["faults"] = [asdict(f) for f in results]

        # The end: every due notice at a terminal state in the ledger, its ending in the audit trail (or the timeout).
        # Reports stream on meanwhile, for CALM_S at least, so that the check also holds reports taken once the
        # faults are over (while faults follow each other, few may be answered 202).
        calm_from = time.time()
        deadline, next_log = time.time() + timeout_s, time.time() + 15
        while time.time() < deadline:
            still_open = _open_notices(engine, incident, len(auto))
            if still_open == 0 and time.time() - calm_from >= CALM_S:
                streamer.stop()
                if assessed([p.incident_id for p in streamer.posted if p.status == 202]) and _all_due_settled(
                    settings, engine
                ):
                    break
            if time.time() >= next_log:
                still = "?" if still_open is None else f"{still_open:,}"  # None: PostgreSQL not answering
                log(f"  {time.time() - t0:6.1f} s  {still} notices not yet delivered or dead and audited")
                for line in _why_open(engine, notify_probes):
                    log(f"           {line}")
                next_log += 15
            time.sleep(2)
        figures["done_s"] = round(time.time() - t0, 1)
        log(f"settled at {figures['done_s']} s; checking")
        supervisor.stop()
        figures["restarted_by_supervisor"] = supervisor.restarts
        for stack in stacks:
            stack.stop(timeout_s=30)
        for child in children.values():  # each writes what it accepted as it stops
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=60)
        figures["assertions"] = _assertions(settings, engine, streamer.posted, receivers_dir, auto, env)
        engine.dispose()
    finally:
        if supervisor is not None:
            supervisor.stop()
        if streamer is not None:
            streamer.stop()
        for stack in stacks:
            stack.stop(timeout_s=30)
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                child.wait(timeout=60)
        broker.stop(cluster)
        pg.stop("immediate")
    figures["ok"] = all(a["ok"] for a in figures["assertions"].values()) and all(
        f["recovered_after_s"] is not None for f in figures["faults"]
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2) + "\n")
    if figures["ok"]:
        shutil.rmtree(work, ignore_errors=True)
    else:
        figures["kept"] = str(work)  # the services' logs, the receivers' lists, the cluster's and PostgreSQL's
    return figures


def _groups_short(settings: Any, admin: Any) -> list[str]:
    """The consumer groups short of members: assess, record's five, and the notifiers' two."""
    from runtime.kafka import group_members

    prefix = settings.kafka.group_prefix
    groups = {f"{prefix}.assess": 1, f"{prefix}.notify": 2}
    groups |= {f"{prefix}.record.{name}": 1 for name in ("reported", "assessed", "requested", "sent", "dead")}
    try:
        return sorted(g for g, n in groups.items() if group_members(admin, g) < n)
    except Exception:
        return sorted(groups)


def _wait_for_groups(settings: Any, stacks: list[Any], timeout_s: float = 180.0) -> None:
    """Until every consumer group stands with all its members."""
    from runtime.kafka import make_admin

    admin = make_admin(settings.kafka, client_id="faults")
    try:
        deadline = time.monotonic() + timeout_s
        while groups := _groups_short(settings, admin):
            if exited := {k: v for s in stacks for k, v in s.exited().items()}:
                raise RuntimeError(f"services exited while starting: {exited}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"consumer groups not formed in {timeout_s:.0f} s: {sorted(groups)}")
            time.sleep(0.5)
    finally:
        admin.close()


def _busiest_leader(kafka: Any, topics: list[str]) -> tuple[str, int, int]:
    """The topic and partition holding the most records, and the node leading it."""
    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition

    from runtime.kafka import connection, make_admin

    admin = make_admin(kafka, client_id="faults")
    try:
        described = admin.describe_topics(topics)
    finally:
        admin.close()
    leaders = {(t["name"], p["partition_index"]): p["leader_id"] for t in described for p in t["partitions"]}
    consumer = KafkaConsumer(**connection(kafka), group_id=None, enable_auto_commit=False)
    try:
        ends = consumer.end_offsets([TopicPartition(t, p) for t, p in leaders])
    finally:
        consumer.close()
    busiest = max(ends, key=lambda tp: ends[tp])
    return busiest.topic, busiest.partition, leaders[(busiest.topic, busiest.partition)]


def _read_topic(kafka: Any, topic: str) -> list[bytes]:
    """Every record of a topic, from the beginning of each partition to its end now."""
    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition

    from runtime.kafka import connection

    consumer = KafkaConsumer(**connection(kafka), group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        values: list[bytes] = []
        deadline = time.monotonic() + 300
        while any(consumer.position(tp) < ends[tp] for tp in partitions) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000, max_records=5000).values():
                values.extend(r.value for r in records)
        return values
    finally:
        consumer.close()


def _open_notices(engine: Any, incident: str, due: int) -> int | None:
    """Notices still on their way (requested, retrying in the ledger, or settled there while record has not yet
    written their ending to the audit trail: it reads notices.sent behind the notifier), or None while the
    incident's are not all recorded yet or PostgreSQL does not answer."""
    from sqlalchemy import text

    try:
        with engine.connect() as conn:
            recorded = conn.execute(
                text(
                    "SELECT count(*) FROM notices WHERE incident_id = :i"
                    " AND state IN ('requested', 'retrying', 'delivered', 'dead')"
                ),
                {"i": incident},
            ).scalar()
            open_ = conn.execute(text("SELECT count(*) FROM notices WHERE state IN ('requested', 'retrying')")).scalar()
            settled = conn.execute(text("SELECT count(*) FROM notices WHERE state IN ('delivered', 'dead')")).scalar()
            endings = conn.execute(
                text("SELECT count(*) FROM audit_log WHERE kind IN ('notice.delivered', 'notice.dead')")
            ).scalar()
    except Exception:
        return None
    return int(open_) + max(0, int(settled) - int(endings)) if recorded >= due else None


def _why_open(engine: Any, probes: dict[str, int]) -> list[str]:
    """Where the open notices stand: by state and audience in the ledger, and per notifier the partitions it
    holds with records to read (lag) and those it does not read for now (paused)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families
    from sqlalchemy import text

    lines: list[str] = []
    with contextlib.suppress(Exception):
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT state, audience, count(*) FROM notices WHERE state NOT IN ('delivered', 'dead', 'rejected')"
                    " GROUP BY state, audience ORDER BY 3 DESC"
                )
            ).all()
        lines.append(
            "ledger: " + (", ".join(f"{n:,} {state} {audience}" for state, audience, n in rows) or "none open")
        )
    for name, port in probes.items():
        try:
            exposition = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError as exc:
            lines.append(f"notify {name}: /metrics not answering ({type(exc).__name__})")
            continue
        lag: list[str] = []
        paused: list[str] = []
        for family in text_string_to_metric_families(exposition):
            for s in family.samples:
                where = f"{s.labels.get('topic', '').split('.', 1)[-1]}[{s.labels.get('partition')}]"
                if s.name == "breachwire_consumer_lag" and s.value > 0:
                    lag.append(f"{where} {s.value:,.0f}")
                elif s.name == "breachwire_consumer_paused":
                    paused.append(where)
        lines.append(f"notify {name}: lag {', '.join(lag) or 'none'}; paused {', '.join(paused) or 'none'}")
    return lines


def _standing(settings: Any, engine: Any) -> tuple[list[Any], dict[str, Any], dict[str, str], dict[str, int]]:
    """Every notice requested (on notices.requested and notices.alerts, as the notifier reads them), those of them
    due at once by id, each notice's state in the ledger, and how many endings (delivered, dead) the audit chain
    holds for each."""
    from sqlalchemy import text

    from schemas import NoticeRequested

    requested = [
        NoticeRequested.model_validate_json(v)
        for topic in _topics(settings).notices
        for v in _read_topic(settings.kafka, topic)
    ]
    due = {m.notice_id: m for m in requested if m.release.value == "auto"}
    with engine.connect() as conn:
        states = dict(conn.execute(text("SELECT notice_id, state FROM notices")).all())
        endings: dict[str, int] = {}
        for (key,) in conn.execute(
            text("SELECT key FROM audit_log WHERE kind IN ('notice.delivered', 'notice.dead')")
        ).all():
            nid = key.split(":")[1]
            endings[nid] = endings.get(nid, 0) + 1
    return requested, due, states, endings


def _all_due_settled(settings: Any, engine: Any) -> bool:
    """Whether every notice due at once so far, read from the topics, is delivered or dead in the ledger with its
    ending in the audit chain: the ledger alone misses a notice requested but not yet recorded (the on-call alert
    of a report streamed last)."""
    try:
        _, due, states, endings = _standing(settings, engine)
    except Exception:  # (PostgreSQL or Kafka not answering: not yet)
        return False
    return all(states.get(n) in ("delivered", "dead") and endings.get(n, 0) > 0 for n in due)


def _assertions(
    settings: Any, engine: Any, posted: list[Posted], receivers_dir: Path, auto: dict[str, Any], env: dict[str, str]
) -> dict[str, dict[str, Any]]:
    from schemas import IncidentReported

    checks: dict[str, dict[str, Any]] = {}
    topics = _topics(settings)

    # 1. every report answered 202 is on incidents.reported
    reported = _read_topic(settings.kafka, topics.reported)
    on_topic = {IncidentReported.model_validate_json(v).incident_id for v in reported}
    accepted = {p.incident_id for p in posted if p.status == 202}
    missing = sorted(accepted - on_topic)
    checks["reports_202_on_topic"] = {
        "ok": not missing,
        "accepted": len(accepted),
        "posted": len(posted),
        "answers": {str(k): v for k, v in sorted(Counter(p.status for p in posted).items())},  # 0: no answer
        "missing": missing[:20],
    }

    # 2. every notice requested (to go at once) delivered or dead in the ledger, exactly once in the audit chain
    # (customer alerts on notices.alerts, legal notices on notices.requested, as the notifier reads them)
    requested, due, states, endings = _standing(settings, engine)
    not_settled = sorted(n for n in due if states.get(n) not in ("delivered", "dead"))
    not_once = sorted(n for n in due if endings.get(n, 0) != 1)
    by_state: dict[str, int] = {}
    for n in due:
        by_state[str(states.get(n))] = by_state.get(str(states.get(n)), 0) + 1
    checks["notices_settled_once"] = {
        "ok": not not_settled and not not_once and set(auto) <= set(due),
        "requested": len(requested),
        "due": len(due),
        "states": by_state,
        "not_delivered_or_dead": not_settled[:20],
        "not_exactly_once_in_audit": [(n, endings.get(n, 0)) for n in not_once[:20]],
        "expected_not_requested": sorted(set(auto) - set(due))[:20],
    }

    # 3. a duplicate at a receiver carries the same id: every id seen is a requested notice's
    arrivals, duplicates = read_received(receivers_dir, auto)
    requested_ids = {m.notice_id for m in requested}
    unknown = sorted(nid for nid in arrivals if nid not in requested_ids)
    checks["duplicates_same_id"] = {
        "ok": not unknown,
        "received": len(arrivals),
        "duplicates": duplicates,
        "unknown_ids": unknown[:20],
        "due_not_received": len(set(auto) - set(arrivals)),
    }

    # 4. the audit chain verifies
    verify = subprocess.run(
        [sys.executable, "-m", "breachwire", "audit", "verify"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    checks["audit_chain_verifies"] = {
        "ok": verify.returncode == 0,
        "output": (verify.stdout + verify.stderr).strip().splitlines()[-5:],
    }
    return checks


def _topics(settings: Any) -> Any:
    from runtime.topics import topics_for

    return topics_for(settings.kafka, settings.notify.retry_delays_s)


def print_figures(figures: dict[str, Any], out: Path | None) -> None:
    print(
        f"\n{figures.get('notices_expected', 0):,} notices due, reports at {figures['report_rate_per_s']}/s to two "
        f"intakes; two notifiers; three Kafka nodes; PostgreSQL ledger"
    )
    for f in figures.get("faults", []):
        recovered = f"{f['recovered_after_s']:6.1f} s" if f["recovered_after_s"] is not None else "   NEVER"
        print(f"  at {f['injected_s']:6.1f} s  recovered after {recovered}  {f['what']} {' '.join(f['notes'])}")
    for name, check in figures.get("assertions", {}).items():
        detail = {k: v for k, v in check.items() if k != "ok" and v not in ([], 0)}
        print(f"  {'ok  ' if check['ok'] else 'FAIL'} {name}: {detail}")
    print(f"  all done at {figures.get('done_s')} s: {'ok' if figures.get('ok') else 'FAILED'}")
    if out is not None:
        print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notices", type=int, default=int(os.environ.get("FAULTS_NOTICES", 20_000)))
    parser.add_argument("--outage", type=float, default=float(os.environ.get("FAULTS_OUTAGE_S", 30)))
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"in this order, of: {','.join(FAULTS)}")
    parser.add_argument("--rate", type=float, default=5.0, help="reports posted per second, throughout")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for every notice, at the end")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "faults.json")
    args = parser.parse_args()
    figures = run(args.notices, args.outage, args.faults.split(","), args.rate, args.timeout, args.out)
    print_figures(figures, args.out)
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
