"""Running one service in the foreground: ``breachwire run intake|assess|notify|record|clock|console``."""

import asyncio
import gc
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import structlog
import uvicorn

from breachwire.workers import Stop, run_workers, stop_on_signals
from runtime.consumer import ConsumerLoop, Runnable, run_together
from runtime.datamap import DataMap, LiveDataMap, load_datamap, load_subprocessor_map
from runtime.kafka import ensure_topics, is_answering, make_producer
from runtime.logging import configure
from runtime.metrics import LedgerCollector, ServiceMetrics
from runtime.probes import serving_probes
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.topics import topics_for

if TYPE_CHECKING:
    from producers.intake.ratelimit import RateLimiter

SERVICES = ("intake", "assess", "notify", "record", "clock", "console")

log = structlog.get_logger(__name__)


def prepare(settings: Settings, service: str) -> None:
    """What every service does first: logging, topics."""
    configure(settings.log, service)
    if settings.kafka.create_topics:
        ensure_topics(settings.kafka, topics_for(settings.kafka).partitions(settings.kafka))


def run_loops(loops: Sequence[ConsumerLoop[Any] | Runnable], stop: threading.Event | None = None) -> None:
    """Run consumer loops until ``stop`` is set (by default: on SIGTERM or SIGINT); each in its own thread when
    there are several."""
    if stop is None:
        stop = threading.Event()
        stop_on_signals(stop)
    if len(loops) == 1:
        loops[0].run(stop)
        return
    run_together(loops, stop)  # one loop that dies stops the others, so the supervisor sees the service exit


def run_intake(settings: Settings, datamap: DataMap) -> None:
    """The intake: one process, or ``intake.workers`` forked ones on one port."""
    from producers.intake.ratelimit import RateLimiter

    limiter = RateLimiter.of(settings.intake, datamap.subprocessors)  # made before forking: the workers share it
    count = settings.intake.workers
    if count == 1:
        _serve_intake(settings, datamap, limiter, None, None)
        return

    def worker(index: int, stop: Stop) -> None:
        configure(settings.log, f"intake.{index}")
        # each worker its own socket on the shared port (SO_REUSEPORT): the kernel spreads new connections
        # evenly over them, where workers accepting from one socket leave most to whichever wakes first
        shared = _listen(settings.intake.host, settings.intake.port, "intake.port", reuse_port=True)
        own = _listen(settings.metrics.host, settings.metrics.port("intake", index), "metrics.intake_port")
        log.info("intake worker listening", port=settings.intake.port, own_port=own.getsockname()[1])
        _serve_intake(settings, datamap, limiter, [shared, own], stop)

    raise SystemExit(run_workers(count, worker))


def _listen(host: str, port: int, setting: str, reuse_port: bool = False) -> socket.socket:
    try:
        return socket.create_server((host, port), reuse_port=reuse_port)
    except OSError as exc:
        raise SystemExit(
            f"breachwire: cannot listen on {host}:{port} ({setting}): {exc.strerror or exc}; "
            "set another port, or stop what holds it"
        ) from None


def _serve_intake(
    settings: Settings,
    datamap: DataMap,
    limiter: "RateLimiter",
    sockets: list[socket.socket] | None,
    stop: Stop | None,
) -> None:
    """Serve the intake until SIGTERM or SIGINT (uvicorn's own handling: requests under way are answered), or,
    in a worker, until its parent is gone. ``sockets``: listen on these rather than on ``intake.host:port``."""
    from producers.publish import ReportPublisher
    from producers.server import build_app

    publisher = ReportPublisher(
        lambda: make_producer(settings.kafka), topics_for(settings.kafka), settings.kafka.ack_timeout_s
    )
    ledger = Ledger.connect(settings.ledger.url)
    app = build_app(settings, datamap, ledger, publisher, limiter=limiter)
    # log_config=None: uvicorn logs through the handler runtime.logging installed (JSON, redacted)
    config = uvicorn.Config(
        app, host=settings.intake.host, port=settings.intake.port, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    if stop is not None:
        threading.Thread(target=_exit_when, args=(stop, server), name="parent-watch", daemon=True).start()
    try:
        server.run(sockets=sockets)
    finally:
        publisher.close()
        ledger.close()


def _exit_when(stop: Stop, server: uvicorn.Server) -> None:
    while not server.should_exit:
        if stop.is_set():
            server.should_exit = True  # uvicorn's way to stop a server from outside its signal handlers
        time.sleep(0.5)


def run_console(settings: Settings, datamap: DataMap) -> None:
    from consumers.assess.rules import load_rules
    from producers.console import create_console_app
    from producers.publish import ReportPublisher

    rules = load_rules(settings.rules_dir)  # the "what if" page assesses as the assess service does
    publisher = ReportPublisher(
        lambda: make_producer(settings.kafka), topics_for(settings.kafka), settings.kafka.ack_timeout_s
    )
    ledger = Ledger.connect(settings.ledger.url)
    app = create_console_app(settings, datamap, ledger, publisher, rules)
    try:
        # proxy headers are trusted from loopback only (uvicorn's default): behind a local https proxy the
        # console sees https and marks its cookies Secure
        # log_config=None: uvicorn logs through the handler runtime.logging installed (JSON, redacted)
        uvicorn.run(app, host=settings.console.host, port=settings.console.port, log_config=None, access_log=False)
    finally:
        publisher.close()
        ledger.close()


def run_service(settings: Settings, service: str) -> None:
    kafka = settings.kafka
    if not is_answering(kafka):
        signed_in = f", signed in as {kafka.username!r}" if kafka.security_protocol == "SASL_SSL" else ""
        raise SystemExit(
            f"breachwire: no Kafka broker answers at {kafka.bootstrap_servers} ({kafka.security_protocol}{signed_in}); "
            "start one with `breachwire kafka up` (`--auth` for SASL_SSL), or check the address and credentials"
        )
    prepare(settings, service)
    # Each service loads what of the data map it uses: the intake knows subprocessors and names, the clock nothing.
    directory = settings.datamap_dir
    runners: dict[str, Callable[[], None]] = {
        "intake": lambda: run_intake(settings, load_subprocessor_map(directory)),
        "assess": lambda: _assess(settings, load_datamap(directory)),
        "notify": lambda: _notify(settings, load_datamap(directory)),
        "record": lambda: _record(settings, load_datamap(directory)),
        "clock": lambda: _clock(settings),
        "console": lambda: run_console(settings, load_datamap(directory)),
    }
    runners[service]()


def _live(settings: Settings, datamap: DataMap) -> LiveDataMap:
    """The map loaded again as its folder changes, in a thread of the calling process (a forked worker's own)."""
    return LiveDataMap(settings.datamap_dir, load_datamap, settings.datamap_reload_s, datamap).start()


def _assess(settings: Settings, datamap: DataMap) -> None:
    from consumers.assess.consumer import build
    from consumers.assess.release import load_release_policy
    from consumers.assess.rules import load_rules

    # once, at start: a bad rules or policy file stops the service here
    rules, policy = load_rules(settings.rules_dir), load_release_policy(settings.release_policy)
    live = _live(settings, datamap)
    try:
        loop = build(settings, live, rules, policy)
        with serving_probes(settings.metrics, settings.kafka, "assess", [loop], ServiceMetrics(), None):
            run_loops([loop])
    finally:
        live.close()


def _notify(settings: Settings, datamap: DataMap) -> None:
    from consumers.notify.consumer import build

    def serve(worker_settings: Settings, stop: Stop, index: int = 0) -> None:
        ledger = Ledger.connect(worker_settings.ledger.url)
        metrics = ServiceMetrics()
        live = _live(worker_settings, datamap)
        try:
            notifier = build(worker_settings, live, ledger, metrics.notify)
            # What start-up made (modules, clients, templates) lives as long as the process: out of the
            # collector's sight. Each notice then makes a few hundred short-lived objects, so collect the
            # young ones less often than the default threshold would.
            gc.freeze()
            gc.set_threshold(10_000, 20, 20)
            with serving_probes(
                worker_settings.metrics,
                worker_settings.kafka,
                "notify",
                notifier.loops,
                metrics,
                ledger.engine,
                worker=index,
            ):
                asyncio.run(notifier.run(stop))
        finally:
            live.close()
            ledger.close()

    count = settings.notify.workers
    if count == 1:
        stop = Stop()
        stop_on_signals(stop)
        serve(settings, stop)
        return
    shared = settings.model_copy(update={"notify": settings.notify.share()})

    def worker(index: int, stop: Stop) -> None:
        configure(settings.log, f"notify.{index}")
        serve(shared, stop, index)

    raise SystemExit(run_workers(count, worker))


def _record(settings: Settings, datamap: DataMap) -> None:
    from consumers.record.consumer import build

    ledger = Ledger.connect(settings.ledger.url)
    live = _live(settings, datamap)
    try:
        loops = build(settings, ledger, live)
        with serving_probes(settings.metrics, settings.kafka, "record", loops, ServiceMetrics(), ledger.engine):
            run_loops(loops)
    finally:
        live.close()
        ledger.close()


def _clock(settings: Settings) -> None:
    from consumers.clock.consumer import build

    ledger = Ledger.connect(settings.ledger.url)
    try:
        service = build(settings, ledger)
        metrics = ServiceMetrics()
        # the deployment's held notices and clocks running out are counted here, one service for all
        fractions, every_s = settings.oncall.reminder_fractions, settings.metrics.ledger_every_s
        metrics.watch_ledger_state(LedgerCollector(ledger.engine, fractions, every_s))
        with serving_probes(settings.metrics, settings.kafka, "clock", service.loops, metrics, ledger.engine):
            run_loops([service])
    finally:
        ledger.close()
