"""Running one service in the foreground: ``breachwire run intake|assess|notify|record``."""

import signal
import threading
from collections.abc import Callable
from typing import Any

import structlog
import uvicorn

from runtime import broker
from runtime.consumer import ConsumerLoop
from runtime.datamap import DataMap, load_datamap
from runtime.kafka import ensure_topics, make_producer
from runtime.ledger import Ledger
from runtime.logging import configure
from runtime.settings import Settings
from runtime.topics import topics_for

SERVICES = ("intake", "assess", "notify", "record")

log = structlog.get_logger(__name__)


def prepare(settings: Settings, service: str) -> DataMap:
    """What every service does first: logging, topics, the data map."""
    configure(settings.log, service)
    if settings.kafka.create_topics:
        ensure_topics(settings.kafka, topics_for(settings.kafka).partitions(settings.kafka))
    return load_datamap(settings.datamap_dir)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_loops(loops: list[ConsumerLoop[Any]]) -> None:
    """Run consumer loops until SIGTERM or SIGINT; each in its own thread when there are several."""
    stop = threading.Event()
    _stop_on_signals(stop)
    if len(loops) == 1:
        loops[0].run(stop)
        return
    threads = [threading.Thread(target=loop.run, args=(stop,), name=loop.name) for loop in loops]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        for thread in threads:
            thread.join(timeout=0.5)
        if not all(t.is_alive() for t in threads):
            stop.set()  # one loop died: stop the others so the supervisor sees the service exit


def run_intake(settings: Settings, datamap: DataMap) -> None:
    from producers.intake import create_app
    from producers.publish import ReportPublisher

    publisher = ReportPublisher(
        lambda: make_producer(settings.kafka), topics_for(settings.kafka), settings.kafka.ack_timeout_s
    )
    app = create_app(settings.intake, datamap, publisher)
    uvicorn.run(app, host=settings.intake.host, port=settings.intake.port, log_level="warning", access_log=False)
    publisher.close()


def run_service(settings: Settings, service: str) -> None:
    if not broker.is_serving_address(settings.kafka.bootstrap_servers):
        raise SystemExit(
            f"breachwire: no Kafka broker answers at {settings.kafka.bootstrap_servers}; "
            "start one with `breachwire kafka up`"
        )
    datamap = prepare(settings, service)
    runners: dict[str, Callable[[], None]] = {
        "intake": lambda: run_intake(settings, datamap),
        "assess": lambda: _assess(settings, datamap),
        "notify": lambda: _notify(settings, datamap),
        "record": lambda: _record(settings),
    }
    runners[service]()


def _assess(settings: Settings, datamap: DataMap) -> None:
    from consumers.assess.consumer import build

    run_loops([build(settings, datamap)])


def _notify(settings: Settings, datamap: DataMap) -> None:
    from consumers.notify.consumer import build

    ledger = Ledger.connect(settings.ledger.url)
    try:
        run_loops([build(settings, datamap, ledger)])
    finally:
        ledger.close()


def _record(settings: Settings) -> None:
    from consumers.record.consumer import build

    ledger = Ledger.connect(settings.ledger.url)
    try:
        run_loops(build(settings, ledger))
    finally:
        ledger.close()
