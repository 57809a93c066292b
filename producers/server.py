"""The one HTTP server of the ways in: subprocessor webhooks, the Alertmanager adapter and the on-call API."""

from datetime import timedelta

from fastapi import FastAPI

from producers.intake import create_app
from producers.intake.app import add_body_schemas
from producers.monitors import MonitorProducer
from producers.monitors.alertmanager import AlertmanagerPayload, alertmanager_router
from producers.oncall.actions import OncallActions
from producers.oncall.api import BODIES, oncall_router
from producers.oncall.signin import SignIn
from producers.oncall.tokens import Tokens
from producers.publish import ReportPublisher
from runtime.audit import AuditLog
from runtime.datamap import DataMap
from runtime.settings import Settings
from runtime.store import Ledger


def build_app(settings: Settings, datamap: DataMap, ledger: Ledger, publisher: ReportPublisher) -> FastAPI:
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
        ),
    )
    add_body_schemas(app, AlertmanagerPayload, *BODIES)  # read after the token is checked, so described by hand
    return app
