"""/healthz, /readyz and /metrics: what they check, and the small HTTP server the consumers serve them on.

- alive (``/healthz``): every consumer loop of the process runs, has polled Kafka within ``metrics.stall_s`` (a
  loop stuck longer than Kafka's max.poll.interval has lost its partitions anyway) and has not been out of its
  consumer group (joining, rebalancing) for longer than that. A restart helps.
- ready (``/readyz``): the Kafka broker answers a metadata request and the ledger a ``SELECT 1``, each within
  ``metrics.ready_timeout_s``. A restart does not help; waiting does.

The intake and the console answer the same paths on their own ports (``producers/probes.py``).
"""

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog
from prometheus_client import make_wsgi_app
from sqlalchemy import text
from sqlalchemy.engine import Engine

from runtime.consumer import LoopStats
from runtime.kafka import is_answering
from runtime.metrics import Loop, ServiceMetrics
from runtime.settings import KafkaSettings, MetricsSettings

log = structlog.get_logger(__name__)

Check = Callable[[], bool]
Answer = tuple[int, dict[str, Any]]


def bounded(check: Check, timeout_s: float) -> bool:
    """``check()`` within ``timeout_s``: False when it fails, raises or takes longer (it then finishes unseen,
    on a daemon thread; a connect timeout bounds it too)."""
    result: list[bool] = []

    def run() -> None:
        try:
            result.append(check())
        except Exception as exc:
            log.info("readiness check failed", error=str(exc))
            result.append(False)

    thread = threading.Thread(target=run, name="readiness", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(result and result[0])


def kafka_check(kafka: KafkaSettings, timeout_s: float) -> Check:
    """Any of the bootstrap brokers answers (a cluster with one node down still serves)."""
    addresses = [a.strip() for a in kafka.bootstrap_servers.split(",") if a.strip()]

    def check() -> bool:
        return any(
            is_answering(kafka.model_copy(update={"bootstrap_servers": address}), timeout_s) for address in addresses
        )

    return check


def ledger_check(engine: Engine) -> Check:
    def check() -> bool:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    return check


class Readiness:
    def __init__(self, checks: dict[str, Check], timeout_s: float) -> None:
        self._checks = checks
        self._timeout_s = timeout_s

    @classmethod
    def of(cls, kafka: KafkaSettings, engine: Engine | None, timeout_s: float) -> "Readiness":
        """Kafka, and the ledger when the service uses one (assess does not)."""
        checks = {"kafka": kafka_check(kafka, timeout_s)}
        if engine is not None:
            checks["ledger"] = ledger_check(engine)
        return cls(checks, timeout_s)

    def answer(self) -> Answer:
        """(200 or 503, body); the checks run side by side, so the answer takes one timeout at most."""
        found: dict[str, bool] = {}

        def run(name: str, check: Check) -> None:
            found[name] = bounded(check, self._timeout_s)

        threads = [threading.Thread(target=run, args=item) for item in self._checks.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ready = all(found.get(name, False) for name in self._checks)
        checks = {name: "ok" if found.get(name) else "unreachable" for name in self._checks}
        return (200 if ready else 503), {"status": "ready" if ready else "unready", "checks": checks}


class Liveness:
    def __init__(self, loops: Sequence[Loop], stall_s: float, clock: Callable[[], float] = time.time) -> None:
        self._loops = loops
        self._stall_s = stall_s
        self._clock = clock

    def answer(self) -> Answer:
        now = self._clock()
        states = {loop.name: self._state(loop.stats, now) for loop in self._loops}
        alive = bool(states) and all(state == "running" for state in states.values())
        return (200 if alive else 503), {"status": "alive" if alive else "dead", "loops": states}

    def _state(self, stats: LoopStats, now: float) -> str:
        if not stats.running:
            return "stopped"
        if stats.last_poll and now - stats.last_poll > self._stall_s:
            return "stalled"
        if stats.unsettled_since and now - stats.unsettled_since > self._stall_s:
            return "out of its group"  # joining or rebalancing longer than a rebalance may take
        return "running"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape under way does not hold the process at exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds: not worth a log line
        pass


class ProbeServer:
    """/metrics, /healthz and /readyz of one consumer process, on a thread of its own."""

    def __init__(self, host: str, port: int, metrics: ServiceMetrics, liveness: Liveness, readiness: Readiness) -> None:
        self._metrics_app = make_wsgi_app(metrics.registry)
        self._answers: dict[str, Callable[[], Answer]] = {"/healthz": liveness.answer, "/readyz": readiness.answer}
        self._server = make_server(host, port, self._app, server_class=_Server, handler_class=_QuietHandler)
        self.port: int = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="probes", daemon=True)

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            body: Iterable[bytes] = self._metrics_app(environ, start_response)
            return body
        answer = self._answers.get(path)
        if answer is None:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"status": "not found"}']
        status, content = answer()
        phrase = "200 OK" if status == 200 else "503 Service Unavailable"
        start_response(phrase, [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
        return [json.dumps(content).encode()]

    def start(self) -> "ProbeServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@contextmanager
def serving_probes(
    settings: MetricsSettings,
    kafka: KafkaSettings,
    service: str,
    loops: Sequence[Loop],
    metrics: ServiceMetrics,
    engine: Engine | None,
    worker: int = 0,
) -> Iterator[ProbeServer | None]:
    """A consumer process's probe server while the block runs (None when ``metrics.enabled`` is off); its loops
    are counted in ``metrics``, and the ledger's errors when it has one."""
    metrics.watch_loops(loops)
    if engine is not None:
        metrics.watch_ledger(engine)
    if not settings.enabled:
        yield None
        return
    port = settings.port(service, worker)
    try:
        server = ProbeServer(
            settings.host,
            port,
            metrics,
            Liveness(loops, settings.stall_s),
            Readiness.of(kafka, engine, settings.ready_timeout_s),
        ).start()
    except OSError as exc:
        raise SystemExit(
            f"breachwire: cannot serve /metrics on {settings.host}:{port} (metrics.{service}_port): "
            f"{exc.strerror or exc}; set another port, or 0 for any free one"
        ) from None
    log.info("probes serving", host=settings.host, port=server.port, paths=["/metrics", "/healthz", "/readyz"])
    try:
        yield server
    finally:
        server.close()
