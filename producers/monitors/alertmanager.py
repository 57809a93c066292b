"""``POST /v1/monitors/alertmanager``: Prometheus Alertmanager webhook payloads (version 4) with a bearer token.

A firing alert becomes a suspected-breach report (sequence 1), a resolved alert resolves it (sequence 2); the
report's reference is the alert's fingerprint (or a label named in settings), so every notification about one
alert is one incident. Labels and annotations map to report fields through ``settings.monitors.alertmanager``.
Alertmanager repeats notifications: a repeat is the same incident revision, recorded and assessed once.
"""

import hmac
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from producers.intake.problems import Problem, parse_body, problem_responses
from producers.monitors.producer import MonitorProducer
from runtime.kafka import PublishError
from runtime.settings import AlertmanagerMapping, MonitorsSettings
from runtime.validation import field_errors
from schemas import Report, ReportStatus


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime  # Alertmanager's own field names
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=128)


class AlertmanagerPayload(BaseModel):
    """Alertmanager's webhook body, version 4."""

    model_config = ConfigDict(extra="allow")

    version: Literal["4"]
    groupKey: str = ""
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[Alert] = Field(min_length=1, max_length=1000)


class Published(BaseModel):
    incident_id: str
    revision: str


class MonitorAccepted(BaseModel):
    incidents: list[Published]


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def to_report(alert: Alert, mapping: AlertmanagerMapping) -> tuple[str, Report]:
    """(subprocessor id, report) for one alert; ValueError or ValidationError name what does not fit."""
    subprocessor = alert.labels.get(mapping.subprocessor_label) or mapping.default_subprocessor
    if not subprocessor:
        raise ValueError(f"labels.{mapping.subprocessor_label}: names no subprocessor and no default is set")
    reference = alert.labels.get(mapping.reference_label) if mapping.reference_label else None
    resolved = alert.status == "resolved"
    fields: dict[str, Any] = {
        "reference": f"alert-{reference or alert.fingerprint}",
        "status": ReportStatus.RESOLVED if resolved else ReportStatus.SUSPECTED,
        "sequence": 2 if resolved else 1,
        "title": (alert.annotations.get(mapping.title_annotation) or alert.labels.get("alertname") or "alert")[:200],
        "description": alert.annotations.get(mapping.description_annotation, "")[:20_000],
        "aware_at": alert.startsAt,
        "occurred_from": alert.startsAt,
        "occurred_until": alert.endsAt if resolved else None,
        "regions": _split(alert.labels.get(mapping.region_label)),
        "features": _split(alert.labels.get(mapping.feature_label)),
        "data_categories": _split(alert.labels.get(mapping.data_categories_label)),
        "customer_accounts": _split(alert.labels.get(mapping.customer_accounts_label)),
    }
    return subprocessor, Report.model_validate(fields)


def alertmanager_router(settings: MonitorsSettings, producer: MonitorProducer, subprocessors: set[str]) -> APIRouter:
    router = APIRouter(tags=["monitors"])

    @router.post(
        "/v1/monitors/alertmanager",
        status_code=202,
        response_model=MonitorAccepted,
        summary="Alertmanager webhook (version 4): firing alerts report suspected breaches, resolved ones resolve",
        responses=problem_responses(401, 413, 422, 503),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AlertmanagerPayload"}}},
            }
        },
    )
    async def alertmanager(request: Request) -> MonitorAccepted:
        # The token first: nothing of the body is parsed for a sender that is not authenticated.
        expected = settings.alertmanager_token.get_secret_value() if settings.alertmanager_token else None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        # as bytes: compare_digest refuses str with non-ASCII characters, which a header may carry
        if (
            not expected
            or scheme.lower() != "bearer"
            or not hmac.compare_digest(token.strip().encode(), expected.encode())
        ):
            raise Problem(
                401,
                "unauthenticated",
                "Not authenticated",
                "a valid bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        payload = parse_body(AlertmanagerPayload, await request.body())
        reports: list[tuple[str, Report, str]] = []
        errors: list[dict[str, str]] = []
        for index, alert in enumerate(payload.alerts):
            try:
                subprocessor, report = to_report(alert, settings.alertmanager)
            except ValidationError as exc:
                errors += [{"field": f"alerts[{index}].{path}", "message": msg} for path, msg in field_errors(exc)]
                continue
            except ValueError as exc:
                field, _, why = str(exc).partition(": ")
                errors.append({"field": f"alerts[{index}].{field}", "message": why})
                continue
            if subprocessor not in subprocessors:
                errors.append(
                    {
                        "field": f"alerts[{index}].labels.{settings.alertmanager.subprocessor_label}",
                        "message": f"no subprocessor {subprocessor!r} in the data map",
                    }
                )
                continue
            reports.append((subprocessor, report, f"alertmanager:{alert.fingerprint}:{alert.status}"))
        if errors:
            fields = ", ".join(e["field"] for e in errors)
            raise Problem(422, "invalid-field", "Invalid field", f"invalid field(s): {fields}", errors)
        published = []
        for subprocessor, report, delivery_id in reports:
            try:
                message = await run_in_threadpool(producer.report, subprocessor, report, delivery_id)
            except PublishError:
                raise Problem(
                    503,
                    "unavailable",
                    "Try again later",
                    "Kafka did not acknowledge; Alertmanager will retry",
                    headers={"Retry-After": "5"},
                ) from None
            published.append(Published(incident_id=message.incident_id, revision=message.revision))
        return MonitorAccepted(incidents=published)

    return router
