"""The intake API: ``POST /v1/subprocessors/{subprocessor_id}/reports`` takes a signed report and answers 202
with the incident id only after Kafka has acknowledged it.

Steps of a request, in order: authenticate (Standard Webhooks signature with the subprocessor's secrets),
parse (JSON into ``schemas.Report``), publish (acks=all), answer.
"""

import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError

from producers.intake import signatures
from producers.intake.problems import Problem, invalid_fields, problem_schema
from producers.publish import ReportPublisher
from runtime.datamap import DataMap
from runtime.kafka import PublishError
from runtime.settings import IntakeSettings
from schemas import Report, Source

log = structlog.get_logger(__name__)

RETRY_AFTER_S = 5


class Accepted(BaseModel):
    incident_id: str
    status: str = "accepted"


def _problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {
        code: {
            "description": "Problem",
            "content": {"application/problem+json": {"schema": problem_schema()}},
        }
        for code in codes
    }


def create_app(settings: IntakeSettings, datamap: DataMap, publisher: ReportPublisher) -> FastAPI:
    app = FastAPI(
        title="breachwire intake",
        version="1",
        description="Subprocessors report actual or potential security breaches here, signed per Standard Webhooks.",
    )

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return exc.response(str(request.url.path))

    @app.middleware("http")
    async def _limit_body(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > settings.max_body_bytes:
            return Problem(
                413, "too-large", "Body too large", f"the body is over {settings.max_body_bytes} bytes"
            ).response(str(request.url.path))
        return await call_next(request)

    @app.post(
        "/v1/subprocessors/{subprocessor_id}/reports",
        status_code=202,
        response_model=Accepted,
        responses=_problem_responses(401, 413, 415, 422, 503),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": Report.model_json_schema(by_alias=True)}},
            },
            "parameters": [
                {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
                for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
            ],
        },
    )
    async def post_report(subprocessor_id: str, request: Request) -> Accepted:
        body = await request.body()
        if len(body) > settings.max_body_bytes:
            raise Problem(413, "too-large", "Body too large", f"the body is over {settings.max_body_bytes} bytes")

        subprocessor = datamap.subprocessors.get(subprocessor_id)
        secrets = [s.get_secret_value() for s in subprocessor.webhook_secrets] if subprocessor else []
        if not secrets or not signatures.verify(secrets, body, request.headers):
            raise Problem(
                401,
                "bad-signature",
                "Signature not verified",
                "the webhook-signature does not verify with this subprocessor's secrets, "
                "or webhook-id/webhook-timestamp are missing or more than 5 minutes off",
            )
        assert subprocessor is not None

        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type and content_type != "application/json" and not content_type.endswith("+json"):
            raise Problem(415, "not-json", "Unsupported media type", "reports are sent as application/json")
        try:
            raw = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise Problem(
                422,
                "invalid-json",
                "Body is not JSON",
                f"the body is not valid JSON: {exc}",
                [{"field": "body", "message": "not valid JSON"}],
            ) from None
        try:
            report = Report.model_validate(raw)
        except ValidationError as exc:
            raise invalid_fields(exc) from None

        delivery_id = request.headers["webhook-id"]
        try:
            message = await run_in_threadpool(
                publisher.publish, subprocessor.id, Source.SUBPROCESSOR, delivery_id, report
            )
        except PublishError as exc:
            log.error("report not acknowledged by Kafka", subprocessor_id=subprocessor.id, error=str(exc))
            raise Problem(
                503,
                "unavailable",
                "Try again later",
                "the report could not be stored; nothing was accepted",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from None
        log.info(
            "report accepted",
            incident_id=message.incident_id,
            subprocessor_id=subprocessor.id,
            revision=message.revision,
        )
        return Accepted(incident_id=message.incident_id)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
