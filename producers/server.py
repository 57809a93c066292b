"""The one HTTP server of the ways in: subprocessor webhooks, the Alertmanager adapter and the on-call API."""

from datetime import timedelta

from fastapi import FastAPI

from producers.intake import create_app
from producers.intake.app import add_body_schemas
from producers.intake.ratelimit import RateLimiter
from producers.monitors import MonitorProducer
from producers.monitors.alertmanager import AlertmanagerPayload, alertmanager_router
from producers.oncall.actions import OncallActions
from producers.oncall.api import BODIES, oncall_router
from producers.oncall.signin import SignIn
from producers.oncall.tokens import Tokens
from producers.probes import probes_router
from producers.publish import ReportPublisher
from runtime.audit import AuditLog
from runtime.datamap import DataMap
from runtime.metrics import ServiceMetrics
from runtime.probes import Readiness
from runtime.settings import Settings
from runtime.store import Ledger


def build_app(
    settings: Settings,
    datamap: DataMap,
    ledger: Ledger,
    publisher: ReportPublisher,
    metrics: ServiceMetrics | None = None,
    limiter: RateLimiter | None = None,
) -> FastAPI:
    """``metrics``: the process's (one of its own when not given); ``limiter``: the rate limits shared by the
    intake's workers (one of its own when not given)."""
    metrics = metrics if metrics is not None else ServiceMetrics()
    metrics.watch_ledger(ledger.engine)
    readiness = Readiness.of(settings.kafka, ledger.engine, settings.metrics.ready_timeout_s)
    subprocessors = set(datamap.subprocessors)
    actions = OncallActions(ledger, publisher, AuditLog(ledger, settings.audit.key), datamap.vocabulary)
    expiry = timedelta(days=settings.oncall.token_expiry_days)
    signin = SignIn(Tokens(ledger, expiry), ledger, settings.oncall)
    app = create_app(
        settings.intake,
        datamap,
        publisher,
        ledger,
        routers=(
            alertmanager_router(settings.monitors, MonitorProducer(publisher, "alertmanager"), subprocessors),
            oncall_router(signin, actions, ledger, settings.intake.retry_after_s),
            probes_router(metrics, readiness),
        ),
        metrics=metrics.intake,
        limiter=limiter,
    )
    add_body_schemas(app, AlertmanagerPayload, *BODIES)  # read after the token is checked, so described by hand
    return app
