"""The intake API: ``POST /v1/subprocessors/{subprocessor_id}/reports`` takes a signed report and answers 202
with the incident id only after Kafka has acknowledged it.

Steps of a request, in order:
  1. limit        — a body over ``max_body_bytes`` gets 413 while it streams in, whatever its transfer encoding
                    (``BodyLimit``, before anything else reads it);
  2. authenticate — Standard Webhooks signature with every active secret of the subprocessor in the path
                    (rotation), timestamp within 5 minutes; the sender's identity is the secret that verified;
  3. parse        — JSON (415 otherwise) into ``schemas.Report`` (422 naming each invalid field), and every
                    region, feature and data category it names known to the data map (422 naming each other);
  4. dedupe       — a webhook-id already accepted gets the same answer, and nothing is published again; else the
                    request claims it in the ledger, with the answer it will give (``deliveries``);
  5. throttle     — over the subprocessor's rate limit: 429 with Retry-After;
  6. publish      — acks=all within the ack timeout, else 503 with Retry-After (and the claim is released);
  7. answer       — 202; the claim, which holds this answer, is marked accepted in the ledger.
"""

import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from producers.intake import signatures
from producers.intake.bodylimit import BodyLimit
from producers.intake.deliveries import Deliveries
from producers.intake.problems import Problem, parse_body, problem_responses, unknown_names
from producers.intake.ratelimit import RateLimiter, retry_after
from producers.publish import ReportPublisher
from runtime.datamap import DataMap
from runtime.kafka import PublishError
from runtime.metrics import IntakeMetrics
from runtime.settings import IntakeSettings
from runtime.store import Ledger
from runtime.validation import field_path
from schemas import Report, Source

log = structlog.get_logger(__name__)


class Accepted(BaseModel):
    incident_id: str
    status: str = "accepted"


def is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def parse_report(body: bytes) -> Report:
    return parse_body(Report, body)


Endpoint = Callable[[str, Request], Awaitable[Response]]


def counted(metrics: IntakeMetrics | None) -> Callable[[Endpoint], Endpoint]:
    """Count each answer to a report by outcome: accepted, repeated, or the problem type of a refusal."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        if metrics is None:
            return endpoint

        @functools.wraps(endpoint)  # (the same name: the same operationId in the OpenAPI document)
        async def counting(subprocessor_id: str, request: Request) -> Response:
            started, outcome = time.perf_counter(), "error"
            try:
                response = await endpoint(subprocessor_id, request)
                outcome = getattr(request.state, "report_outcome", "accepted")
                return response
            except Problem as exc:
                outcome = exc.slug
                raise
            finally:
                metrics.answered(Source.SUBPROCESSOR.value, outcome, time.perf_counter() - started)

        return counting

    return wrap


def reports_router(
    settings: IntakeSettings,
    datamap: DataMap,
    publisher: ReportPublisher,
    deliveries: Deliveries,
    limiter: RateLimiter,
    metrics: IntakeMetrics | None = None,
) -> APIRouter:
    router = APIRouter(tags=["subprocessors"])
    vocabulary = datamap.vocabulary
    timed = metrics.step if metrics is not None else lambda _: contextlib.nullcontext()

    @router.post(
        "/v1/subprocessors/{subprocessor_id}/reports",
        status_code=202,
        response_model=Accepted,
        summary="Report an actual or potential security breach",
        description="Signed per Standard Webhooks with one of the subprocessor's active secrets. A repeated "
        "webhook-id is the same delivery: it gets the same answer and is published once.",
        responses={
            202: {"description": "Accepted: Kafka has the report (a repeated webhook-id gets the first answer)"},
            **problem_responses(401, 409, 413, 415, 422, 429, 503, retry_after=(409, 429, 503)),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Report"}}},
            },
            "parameters": [
                {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
                for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
            ],
        },
    )
    @counted(metrics)
    async def post_report(subprocessor_id: str, request: Request) -> Response:
        body = await request.body()  # within max_body_bytes: BodyLimit has read it

        subprocessor = datamap.subprocessors.get(subprocessor_id)
        if subprocessor is None or not subprocessor.webhook_secrets:
            raise Problem(401, "unknown-sender", "Not authenticated", "no such subprocessor with an active secret")
        try:
            verified = signatures.verify(
                [s.get_secret_value() for s in subprocessor.webhook_secrets],
                body,
                request.headers,
                now=time.time(),
                tolerance_s=settings.timestamp_tolerance_s,
            )
        except signatures.WebhookSignatureError as exc:
            raise Problem(401, "bad-signature", "Signature not verified", str(exc)) from None
        sender = subprocessor.id  # who signed, never who the body claims to be

        if not is_json(request.headers.get("content-type", "")):
            raise Problem(415, "not-json", "Unsupported media type", "reports are sent as application/json")
        report = parse_report(body)
        unknown = vocabulary.unknown_in(report)
        if unknown:
            raise unknown_names(unknown)

        key = (sender, verified.delivery_id)
        message = publisher.message(sender, Source.SUBPROCESSOR, verified.delivery_id, report)
        answer = Accepted(incident_id=message.incident_id).model_dump_json()
        async with deliveries.locks.hold(key):
            with timed("claim"):
                earlier = await deliveries.claim(*key, answer)
            if earlier is not None:
                log.info("repeated delivery answered again", subprocessor_id=sender)
                request.state.report_outcome = "repeated"
                return earlier
            wait = limiter.take(sender)
            if wait > 0:
                await deliveries.release(*key)
                raise Problem(
                    429,
                    "rate-limited",
                    "Too many reports",
                    f"over the rate limit of subprocessor {sender}",
                    headers={"Retry-After": retry_after(wait)},
                )
            try:
                with timed("publish"):
                    await publisher.publish_report(message)
            except PublishError as exc:
                await deliveries.release(*key)
                log.error("report not acknowledged by Kafka", subprocessor_id=sender, error=str(exc))
                raise Problem(
                    503,
                    "unavailable",
                    "Try again later",
                    "the report could not be stored; nothing was accepted",
                    headers={"Retry-After": str(settings.retry_after_s)},
                ) from None
            deliveries.accept(*key)
        log.info(
            "report accepted",
            incident_id=message.incident_id,
            subprocessor_id=sender,
            revision=message.revision,
            secret_index=verified.secret_index,
        )
        return Response(answer, status_code=202, media_type="application/json")

    @router.get(
        "/v1/schemas/report",
        summary="The JSON Schema of a report, to validate before sending",
        response_class=JSONResponse,
        responses={200: {"content": {"application/schema+json": {"schema": {"type": "object"}}}}},
    )
    async def report_schema() -> Response:
        schema = Report.model_json_schema(by_alias=True, mode="validation")
        return JSONResponse(schema, media_type="application/schema+json")

    return router


def add_body_schemas(app: FastAPI, *models: type[BaseModel]) -> None:
    """Put each model's JSON Schema (and the models it uses) under ``components/schemas``, where a request body read
    by hand (after its sender is authenticated) refers to it: generators and validators then resolve it like any
    other component."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}))
            components[model.__name__] = schema
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    settings: IntakeSettings,
    datamap: DataMap,
    publisher: ReportPublisher,
    ledger: Ledger,
    routers: tuple[APIRouter, ...] = (),
    metrics: IntakeMetrics | None = None,
    limiter: RateLimiter | None = None,
) -> FastAPI:
    """The intake; ``routers`` adds the other ways in (monitors, on-call) to the same app. ``limiter``: the
    subprocessors' rate limits, when shared with other worker processes (one of its own when not given)."""
    if limiter is None:
        limiter = RateLimiter.of(settings, datamap.subprocessors)
    deliveries = Deliveries(ledger, wait_s=publisher.ack_timeout_s + 5, retry_after_s=settings.retry_after_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        deliveries.close()  # the claims and accepts queued so far reach the ledger

    app = FastAPI(
        lifespan=lifespan,
        title="breachwire intake",
        version="1",
        description="Subprocessors report actual or potential security breaches here, signed per Standard "
        "Webhooks; internal monitors and on-call staff use the same API with bearer tokens.",
    )

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return exc.response(str(request.url.path))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        # the framework's own refusals (a body it cannot parse, no such route or method) as problem+json too
        phrase = HTTPStatus(exc.status_code).phrase
        slug = phrase.lower().replace(" ", "-")
        headers = dict(exc.headers) if exc.headers else None
        return Problem(exc.status_code, slug, phrase, str(exc.detail), headers=headers).response(str(request.url.path))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "field": field_path(tuple(e["loc"][1:] if e["loc"][:1] == ("body",) else e["loc"])) or "body",
                "message": e["msg"],
            }
            for e in exc.errors()
        ]
        detail = "invalid field(s): " + ", ".join(e["field"] for e in errors)
        return Problem(422, "invalid-field", "Invalid field", detail, errors).response(str(request.url.path))

    # first of all: a body over the limit is refused while it streams in, before anything reads or checks it
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    app.include_router(reports_router(settings, datamap, publisher, deliveries, limiter, metrics))
    for router in routers:
        app.include_router(router)

    add_body_schemas(app, Report)
    return app
