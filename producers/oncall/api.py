"""The on-call API: ``/v1/oncall/...`` with bearer tokens whose role decides what each may do."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError

from producers.intake.problems import Problem, invalid_fields, parse_body, problem_responses, unknown_names
from producers.oncall.actions import Conflict, NotFound, OncallActions, UnknownNames
from producers.oncall.signin import SignIn, Throttled
from producers.oncall.tokens import Action, Actor, Forbidden, Unauthenticated
from producers.oncall.views import IncidentSummary, IncidentView, incident_list, incident_view
from runtime.kafka import PublishError
from runtime.store import Ledger
from schemas import Report


class DeclareBody(BaseModel):
    subprocessor_id: str = Field(min_length=1, max_length=64)
    report: Report


class ActBody(BaseModel):
    note: str = Field(default="", max_length=5000)
    changes: dict[str, Any] = Field(default_factory=dict, description="Report fields to change, by name.")


class ApproveBody(BaseModel):
    reason: str = Field(min_length=1, max_length=5000)


class ReleaseBody(BaseModel):
    audience: Literal["controller", "customer"] | None = Field(
        default=None, description="Release only this audience's held notices; all of them when left out."
    )
    reason: str = Field(min_length=1, max_length=5000)


class RejectBody(BaseModel):
    reason: str = Field(min_length=1, max_length=5000)


class Released(BaseModel):
    incident_id: str
    audience: str | None
    released: int = Field(description="Notices released now (0 when none was held any more).")


class Reported(BaseModel):
    incident_id: str
    revision: str
    status: str = "accepted"


class Approved(BaseModel):
    notice_id: str
    approved_by: str
    reason: str
    approved_at: datetime


class Rejected(BaseModel):
    notice_id: str
    rejected_by: str
    reason: str


ERRORS = problem_responses(401, 403, 404, 409, 422, 429, 503)
ERRORS[429]["description"] = "Too many failed sign-ins from this address (or overall)"

BODIES: tuple[type[BaseModel], ...] = (DeclareBody, ActBody, ApproveBody, ReleaseBody, RejectBody)
"""Read by hand once the token is checked; ``add_body_schemas`` puts them in the OpenAPI document."""


def body_of(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` describing a body the route reads itself."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def oncall_router(signin: SignIn, actions: OncallActions, ledger: Ledger, retry_after_s: int = 5) -> APIRouter:
    router = APIRouter(prefix="/v1/oncall", tags=["on-call"])

    async def actor(request: Request) -> Actor:
        # No route declares a body parameter, so this runs before any byte of the body is parsed.
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else None
        try:
            return await run_in_threadpool(signin.identify, given, client_address(request))
        except Unauthenticated as exc:
            raise Problem(
                401, "unauthenticated", "Not authenticated", str(exc), headers={"WWW-Authenticate": "Bearer"}
            ) from None
        except Throttled as exc:
            raise Problem(
                429,
                "too-many-sign-ins",
                "Too many failed sign-ins",
                str(exc),
                headers={"Retry-After": str(exc.retry_after)},
            ) from None

    Who = Annotated[Actor, Depends(actor)]

    async def run(func: Any, *args: Any) -> Any:
        try:
            return await run_in_threadpool(func, *args)
        except Forbidden as exc:
            raise Problem(403, "forbidden", "Not allowed", str(exc)) from None
        except NotFound as exc:
            raise Problem(404, "not-found", "Not found", str(exc)) from None
        except Conflict as exc:
            raise Problem(409, "conflict", "Does not fit the incident's state", str(exc)) from None
        except ValidationError as exc:
            raise invalid_fields(exc) from None
        except UnknownNames as exc:
            raise unknown_names(exc.unknown) from None
        except ValueError as exc:
            field, _, message = str(exc).partition(": ")
            raise Problem(
                422, "invalid-field", "Invalid field", str(exc), [{"field": field, "message": message}]
            ) from None
        except PublishError:
            raise Problem(
                503,
                "unavailable",
                "Try again later",
                "Kafka did not acknowledge; nothing was done",
                headers={"Retry-After": str(retry_after_s)},
            ) from None

    @router.post(
        "/incidents",
        status_code=202,
        response_model=Reported,
        responses=ERRORS,
        summary="Declare an incident",
        openapi_extra=body_of(DeclareBody),
    )
    async def declare(request: Request, who: Who) -> Reported:
        body = parse_body(DeclareBody, await request.body())
        message = await run(actions.declare, who, body.subprocessor_id, body.report)
        return Reported(incident_id=message.incident_id, revision=message.revision)

    def acting(action: Action) -> Any:
        async def act(incident_id: str, request: Request, who: Who) -> Reported:
            body = parse_body(ActBody, await request.body())
            message = await run(actions.act, who, action, incident_id, body.note, body.changes)
            return Reported(incident_id=message.incident_id, revision=message.revision)

        return act

    for action in (Action.CONFIRM, Action.DISMISS, Action.UPDATE, Action.RESOLVE):
        router.add_api_route(
            f"/incidents/{{incident_id}}/{action.value}",
            acting(action),
            methods=["POST"],
            status_code=202,
            response_model=Reported,
            responses=ERRORS,
            summary=f"{action.value.capitalize()} an incident",
            name=f"oncall_{action.value}",
            openapi_extra=body_of(ActBody),
        )

    @router.get(
        "/incidents", response_model=list[IncidentSummary], responses=ERRORS, summary="Every incident, newest first"
    )
    async def list_incidents(who: Who) -> list[IncidentSummary]:
        return await run_in_threadpool(incident_list, ledger)

    @router.get(
        "/incidents/{incident_id}",
        response_model=IncidentView,
        responses=ERRORS,
        summary="An incident's timeline, customers by jurisdiction, notices and legal clocks",
    )
    async def show_incident(incident_id: str, who: Who) -> IncidentView:
        view = await run_in_threadpool(incident_view, ledger, incident_id, datetime.now(UTC))
        if view is None:
            raise Problem(404, "not-found", "Not found", f"no incident {incident_id}")
        return view

    @router.post(
        "/notices/{notice_id}/approve",
        response_model=Approved,
        responses=ERRORS,
        summary="Approve a held notice",
        openapi_extra=body_of(ApproveBody),
    )
    async def approve(notice_id: str, request: Request, who: Who) -> Approved:
        body = parse_body(ApproveBody, await request.body())
        approval = await run(actions.approve, who, notice_id, body.reason)
        return Approved(**{k: approval[k] for k in ("notice_id", "approved_by", "reason", "approved_at")})

    @router.post(
        "/incidents/{incident_id}/release",
        response_model=Released,
        responses=ERRORS,
        summary="Release an incident's held notices (all, or one audience's)",
        openapi_extra=body_of(ReleaseBody),
    )
    async def release(incident_id: str, request: Request, who: Who) -> Released:
        body = parse_body(ReleaseBody, await request.body())
        count = await run(actions.release, who, incident_id, body.audience, body.reason)
        return Released(incident_id=incident_id, audience=body.audience, released=count)

    @router.post(
        "/notices/{notice_id}/reject",
        response_model=Rejected,
        responses=ERRORS,
        summary="Reject an authority report that awaits approval: it is never sent",
        openapi_extra=body_of(RejectBody),
    )
    async def reject(notice_id: str, request: Request, who: Who) -> Rejected:
        body = parse_body(RejectBody, await request.body())
        await run(actions.reject, who, notice_id, body.reason)
        return Rejected(notice_id=notice_id, rejected_by=who.name, reason=body.reason)

    return router
