"""The on-call console: server-rendered pages over the ledger, acting through ``producers.oncall.actions``.

Every page works without JavaScript (forms post, the server redirects back); the one script only sets the
viewer's time zone from the browser. Every POST carries the session's CSRF token and is refused (403) without it;
what a role may do is decided by the same ``Actor.require`` the API uses, on the server, whatever the page showed.
"""

import io
import json
import secrets
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError
from starlette.datastructures import FormData

from breachwire.commands.assess import dry_run, offline_assessor
from breachwire.commands.audit import evidence
from breachwire.commands.dlq import replay_dead
from consumers.assess.release import load_release_policy
from consumers.assess.rules import RuleBook
from consumers.notify.render import Renderer
from producers.console import queries
from producers.console.forms import FormError, report_from_form
from producers.console.preview import Previews
from producers.console.sessions import Session, Sessions, same
from producers.console.timefmt import known_zone, left, stamp, zones
from producers.oncall.actions import Conflict, NotFound, OncallActions
from producers.oncall.signin import Throttled
from producers.oncall.tokens import ALLOWED, Action, Forbidden, Unauthenticated
from producers.probes import probes_router
from producers.publish import ReportPublisher
from runtime.audit import AuditLog
from runtime.checkpoints import CheckpointFile, anchor
from runtime.datamap import DataMap
from runtime.kafka import PublishError
from runtime.metrics import ServiceMetrics
from runtime.notice_signing import NoticeSigner
from runtime.probes import Readiness
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.validation import field_errors
from schemas import IncidentReported, NoticeRequested, ReportStatus, Source, incident_id
from schemas.common import Message

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "console_session"
LOGIN_COOKIE = "console_signin"
ZONE_COOKIE = "console_tz"
ACTS = (Action.CONFIRM, Action.DISMISS, Action.UPDATE, Action.RESOLVE)
DONE = {
    "declare": "Declared: the report is on its way to assessment.",
    "confirm": "Confirmed: a new report revision was published.",
    "dismiss": "Dismissed: a closing report was published.",
    "update": "Updated: a new report revision was published.",
    "resolve": "Resolved: a closing report was published.",
    "approve": "Approved: the notice is released to the notifier.",
    "reject": "Rejected: the notice will not be sent.",
    "release": "Released: the held notices are on their way.",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class SignInRequired(Exception):
    """No live session: the viewer is sent to sign in."""


class PageError(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["stamp"] = stamp
    env.filters["pretty_json"] = lambda text: json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return env


def is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def create_console_app(
    settings: Settings,
    datamap: DataMap,
    ledger: Ledger,
    publisher: ReportPublisher,
    rules: RuleBook,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    metrics: ServiceMetrics | None = None,
) -> FastAPI:
    """``metrics``: the process's (one of its own when not given)."""
    metrics = metrics if metrics is not None else ServiceMetrics()
    console = settings.console
    sessions = Sessions(ledger, console, settings.oncall)
    queries.ensure_indexes(ledger.engine)
    audit = AuditLog(ledger, settings.audit.key)
    checkpoints = CheckpointFile(settings.audit_checkpoints)
    actions = OncallActions(ledger, publisher, audit, datamap.vocabulary)
    templates = Jinja2Templates(env=_environment())
    policy = load_release_policy(settings.release_policy)  # the assess service's own: what if assesses as it does

    def reassess(incident: str, notice_id: str) -> NoticeRequested | None:
        """The notice as assess requests it, from the incident's reports in order (the history they make)."""
        found: list[NoticeRequested] = []

        def collect(_topic: str, _key: str, message: Message) -> None:
            if isinstance(message, NoticeRequested) and message.notice_id == notice_id:
                found.append(message)

        reports = ledger.incidents.reports_of(incident)
        received = [clock()]
        # one assessor for the reports in order: each revision's notices refer to the ones before
        assessor = offline_assessor(datamap, rules, settings, collect, lambda: received[0], policy)
        for report in reports:
            received[0] = report.received_at
            assessor.assess(report)
            if found:
                return found[0]
        return None

    previews = Previews(ledger, Renderer(settings.templates_dir, rules), reassess)

    app = FastAPI(title="breachwire console", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("content-security-policy", CSP)
        response.headers["x-content-type-options"] = "nosniff"
        response.headers["referrer-policy"] = "same-origin"
        if not request.url.path.startswith("/static/"):  # (pages carry incident data: kept by no cache)
            response.headers.setdefault("cache-control", "no-store")
        return response

    @app.exception_handler(SignInRequired)
    async def to_sign_in(request: Request, exc: SignInRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        return RedirectResponse(f"/sign-in?next={quote(target)}", status_code=303)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        # (the page keeps its navigation for whoever is signed in)
        session = await run_in_threadpool(sessions.find, request.cookies.get(SESSION_COOKIE), clock())
        return templates.TemplateResponse(
            request,
            "error.html",
            {**base(request, session), "title": exc.title, "detail": exc.detail},
            status_code=exc.status,
        )

    # -- sessions, CSRF, zones ---------------------------------------------------------------------------------

    def zone_of(request: Request) -> str:
        return known_zone(request.cookies.get(ZONE_COOKIE), settings.oncall.timezone)

    def base(request: Request, session: Session | None) -> dict[str, Any]:
        zone = zone_of(request)
        return {
            "session": session,
            "actor": session.actor if session else None,
            "csrf": session.csrf if session else "",
            "zone": zone,
            "now": clock(),
            "Action": Action,
            "stamp": lambda value: stamp(value, zone),
            "left": lambda value: left(value, clock()),
            "may": (lambda action: action in ALLOWED[session.actor.role]) if session else (lambda action: False),
        }

    def signed_in(request: Request) -> Session:
        session = sessions.find(request.cookies.get(SESSION_COOKIE), clock())
        if session is None:
            raise SignInRequired()
        return session

    async def posted(request: Request) -> tuple[Session, FormData]:
        """The session and form of a POST whose CSRF token is the session's; 403 otherwise."""
        session = await run_in_threadpool(signed_in, request)
        form = await request.form()
        csrf = form.get("csrf")
        if not same(csrf if isinstance(csrf, str) else None, session.csrf):
            raise PageError(403, "Forbidden", "The form's CSRF token is missing or wrong: reload the page and retry.")
        return session, form

    def cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
        secure = console.secure_cookies == "always" or (console.secure_cookies == "auto" and is_https(request))
        response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/")

    async def run(func: Callable[..., Any], *args: Any) -> Any:
        """An on-call action, its refusals as the API gives them, as pages."""
        try:
            return await run_in_threadpool(func, *args)
        except Forbidden as exc:
            raise PageError(403, "Not allowed", str(exc)) from None
        except NotFound as exc:
            raise PageError(404, "Not found", str(exc)) from None
        except Conflict as exc:
            raise PageError(409, "Does not fit the incident's state", str(exc)) from None
        except ValidationError as exc:
            detail = "; ".join(f"{field or 'report'}: {message}" for field, message in field_errors(exc))
            raise PageError(422, "Invalid field", detail) from None
        except ValueError as exc:
            raise PageError(422, "Invalid field", str(exc)) from None
        except PublishError:
            raise PageError(503, "Try again later", "Kafka did not acknowledge; nothing was done.") from None

    def text(form: FormData, name: str, limit: int = 5000) -> str:
        value = form.get(name)
        return (value if isinstance(value, str) else "").strip()[:limit]

    def back_to(incident: str, done: str) -> RedirectResponse:
        return RedirectResponse(f"/incidents/{quote(incident)}?done={done}", status_code=303)

    metrics.watch_ledger(ledger.engine)
    readiness = Readiness.of(settings.kafka, ledger.engine, settings.metrics.ready_timeout_s)
    app.include_router(probes_router(metrics, readiness))

    @app.get("/sign-in", response_class=HTMLResponse)
    def sign_in_page(request: Request, next: str = "/") -> Response:
        nonce = secrets.token_urlsafe(32)
        response = templates.TemplateResponse(
            request, "sign_in.html", {**base(request, None), "next": _local(next), "nonce": nonce, "error": ""}
        )
        cookie(response, request, LOGIN_COOKIE, nonce, 600)
        return response

    @app.post("/sign-in", response_class=HTMLResponse)
    async def sign_in(request: Request) -> Response:
        form = await request.form()
        nonce = form.get("csrf")
        expected = request.cookies.get(LOGIN_COOKIE)
        if not expected or not same(nonce if isinstance(nonce, str) else None, expected):
            raise PageError(403, "Forbidden", "The sign-in form's CSRF token is missing or wrong: reload and retry.")
        try:
            client = request.client.host if request.client else "unknown"
            session_id, _ = await run_in_threadpool(sessions.open, text(form, "token", 200), clock(), client)
        except (Unauthenticated, Throttled) as exc:
            page = {**base(request, None), "next": _local(text(form, "next")), "nonce": expected, "error": "unknown"}
            if isinstance(exc, Throttled):
                page.update(error="throttled", retry_after=exc.retry_after)
                return templates.TemplateResponse(
                    request, "sign_in.html", page, status_code=429, headers={"Retry-After": str(exc.retry_after)}
                )
            return templates.TemplateResponse(request, "sign_in.html", page, status_code=401)
        response = RedirectResponse(_local(text(form, "next")), status_code=303)
        cookie(response, request, SESSION_COOKIE, session_id, console.session_ttl_s)
        response.delete_cookie(LOGIN_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        await posted(request)
        await run_in_threadpool(sessions.close, request.cookies.get(SESSION_COOKIE, ""))
        response = RedirectResponse("/sign-in", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.get("/zone", response_class=HTMLResponse)
    def zone_page(request: Request, next: str = "/") -> Response:
        session = signed_in(request)
        return templates.TemplateResponse(
            request, "zone.html", {**base(request, session), "zones": zones(), "next": _local(next)}
        )

    @app.post("/zone")
    async def set_zone(request: Request) -> Response:
        _, form = await posted(request)
        response = RedirectResponse(_local(text(form, "next")), status_code=303)
        zone = known_zone(text(form, "zone", 64), "")
        if zone:
            # a preference the page's script may also set: not HttpOnly
            secure = console.secure_cookies == "always" or (console.secure_cookies == "auto" and is_https(request))
            response.set_cookie(ZONE_COOKIE, zone, max_age=365 * 86400, samesite="strict", secure=secure, path="/")
        return response

    # -- incidents -----------------------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def incident_list(request: Request, status: str = "", subprocessor: str = "") -> Response:
        session = signed_in(request)
        return templates.TemplateResponse(
            request,
            "incidents.html",
            {
                **base(request, session),
                "rows": queries.incident_rows(ledger, status, subprocessor),
                "statuses": [s.value for s in ReportStatus],
                "subprocessors": sorted(datamap.subprocessors),
                "status": status,
                "subprocessor": subprocessor,
            },
        )

    @app.get("/incidents/{incident}", response_class=HTMLResponse)
    def incident_page(
        request: Request,
        incident: str,
        q: str = "",
        jurisdiction: str = "",
        region: str = "",
        page: int = 1,
        clocks_page: int = 1,
        audience: str = "",
        channel: str = "",
        state: str = "",
        notices_page: int = 1,
        done: str = "",
    ) -> Response:
        session = signed_in(request)
        found = ledger.incidents.incident(incident)
        if found is None:
            raise PageError(404, "Not found", f"no incident {incident} in the ledger")
        size = console.page_size
        customers, by_jurisdiction, by_region = queries.affected_counts(ledger, incident)
        # how many rows match, from the counts above when no search narrows them
        known = (
            None
            if q or region
            else by_jurisdiction.get(jurisdiction, 0)
            if jurisdiction
            else sum(by_jurisdiction.values())
        )
        affected_rows, affected_at = queries.affected_page(
            ledger,
            incident,
            search=q[:100],
            jurisdiction=jurisdiction,
            region=region,
            page=page,
            size=size,
            total=known,
        )
        clock_groups = queries.clock_groups(ledger, incident)
        clock_rows, clocks_at = queries.clock_page(
            ledger, incident, clocks_page, size, sum(g["count"] for g in clock_groups)
        )
        now = clock()
        reports = ledger.incidents.reports_of(incident)
        determinations = max(reports, key=lambda r: r.report.sequence).report.determinations if reports else {}
        for group in clock_groups:
            group["waiting"] = queries.waits_for_determination(
                rules, determinations, group["jurisdiction"], group["audience"]
            )
        for row in clock_rows:
            row["state"] = queries.clock_state(row["due_at"], row["notice_states"], now)
            row["waiting"] = queries.waits_for_determination(
                rules, determinations, row["jurisdiction"], row["audience"]
            )
        notice_groups = queries.notice_groups(ledger, incident)
        notice_rows, notices_at = queries.notice_page(
            ledger,
            incident,
            audience=audience,
            channel=channel,
            state=state,
            page=notices_page,
            size=size,
            groups=notice_groups,
        )
        entries, spans = queries.timeline(ledger, incident)
        by_state: dict[str, int] = {}
        for group in notice_groups:
            by_state[group["state"]] = by_state.get(group["state"], 0) + group["count"]
        counted = [
            {"label": label, "count": count, "first_at": spans[kind][0], "last_at": spans[kind][1]}
            for kind, label, count in (
                ("incident.assessed", "customers assessed", customers),
                ("notice.requested", "notices requested", sum(by_state.values())),
                ("notice.delivered", "notices delivered", by_state.get("delivered", 0)),
                ("notice.dead", "notices dead", by_state.get("dead", 0)),
            )
            if kind in spans
        ]
        for entry in entries:
            entry["data"] = json.loads(entry["data"])
        held = queries.held_by_audience(ledger, incident)
        awaiting = queries.notices_in_state(ledger, incident, "awaiting_approval")
        args = {
            "q": q,
            "jurisdiction": jurisdiction,
            "region": region,
            "page": page,
            "clocks_page": clocks_page,
            "audience": audience,
            "channel": channel,
            "state": state,
            "notices_page": notices_page,
        }

        def link(**changes: Any) -> str:
            merged = {k: v for k, v in {**args, **changes}.items() if v not in ("", 1, None)}
            return f"/incidents/{quote(incident)}" + (f"?{urlencode(merged)}" if merged else "")

        return templates.TemplateResponse(
            request,
            "incident.html",
            {
                **base(request, session),
                "incident": found,
                "done": DONE.get(done, ""),
                "customers": customers,
                "by_jurisdiction": by_jurisdiction,
                "by_region": by_region,
                "affected": affected_rows,
                "affected_at": affected_at,
                "clock_groups": clock_groups,
                "clocks": clock_rows,
                "clocks_at": clocks_at,
                "notice_groups": notice_groups,
                "notices": notice_rows,
                "notices_at": notices_at,
                "awaiting": awaiting,
                "held": held,
                "entries": entries,
                "counted": counted,
                "args": args,
                "link": link,
                "acts": ACTS,
                "closed": found["status"] in queries.CLOSED,
            },
        )

    for action in ACTS:

        def acting(action: Action = action) -> Callable[..., Any]:
            async def act(request: Request, incident: str) -> Response:
                session, form = await posted(request)
                await run(actions.act, session.actor, action, incident, text(form, "note"), {})
                return back_to(incident, action.value)

            return act

        app.add_api_route(
            f"/incidents/{{incident}}/{action.value}", acting(), methods=["POST"], name=f"console_{action.value}"
        )

    @app.post("/notices/{notice_id}/approve")
    async def approve(request: Request, notice_id: str) -> Response:
        session, form = await posted(request)
        result = await run(actions.approve, session.actor, notice_id, text(form, "reason"))
        row = await run_in_threadpool(queries.notice_row, ledger, result["notice_id"])
        return back_to(str(row["incident_id"]) if row else "", "approve")

    @app.post("/incidents/{incident}/release")
    async def release(request: Request, incident: str) -> Response:
        session, form = await posted(request)
        audience = text(form, "audience", 32) or None  # none: every held notice of the incident
        await run(actions.release, session.actor, incident, audience, text(form, "reason"))
        return back_to(incident, "release")

    @app.post("/notices/{notice_id}/reject")
    async def reject(request: Request, notice_id: str) -> Response:
        session, form = await posted(request)
        await run(actions.reject, session.actor, notice_id, text(form, "reason"))
        row = await run_in_threadpool(queries.notice_row, ledger, notice_id)
        return back_to(str(row["incident_id"]) if row else "", "reject")

    @app.get("/incidents/{incident}/evidence.zip")
    def evidence_pack(request: Request, incident: str) -> Response:
        signed_in(request)
        try:
            files = evidence(ledger, audit, incident, checkpoints.read())
        except ValueError as exc:  # a notice id in the ledger that is no notice id: it would name a file
            raise PageError(409, "Evidence pack refused", str(exc)) from None
        if files is None:
            raise PageError(404, "Not found", f"no incident {incident} in the ledger")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in files.items():
                archive.writestr(f"{incident}/{name}", content)
        return Response(
            buffer.getvalue(),
            media_type="application/zip",
            headers={"content-disposition": f'attachment; filename="evidence-{incident}.zip"'},
        )

    # -- notices -------------------------------------------------------------------------------------------------

    @app.get("/notices/{notice_id}", response_class=HTMLResponse)
    def notice_page(request: Request, notice_id: str) -> Response:
        session = signed_in(request)
        row = queries.notice_row(ledger, notice_id)
        if row is None:
            raise PageError(404, "Not found", f"no notice {notice_id}")
        preview = previews.preview(row)
        return templates.TemplateResponse(
            request,
            "notice.html",
            {
                **base(request, session),
                "notice": row,
                "preview": preview,
                "approval": ledger.release.approval(notice_id),
                "attempts": ledger.delivery.attempts_of(notice_id),
            },
        )

    # -- declare and what if -----------------------------------------------------------------------------------

    @app.get("/declare", response_class=HTMLResponse)
    def declare_page(request: Request) -> Response:
        session = signed_in(request)
        return report_form(request, session, "declare.html", {}, "")

    def report_form(
        request: Request, session: Session, template: str, values: dict[str, str], error: str, **extra: Any
    ) -> Response:
        return templates.TemplateResponse(
            request,
            template,
            {
                **base(request, session),
                "values": values,
                "error": error,
                "statuses": [s.value for s in ReportStatus],
                "subprocessors": sorted(datamap.subprocessors.values(), key=lambda s: s.id),
                **extra,
            },
            status_code=422 if error else 200,
        )

    def form_values(form: FormData) -> dict[str, str]:
        return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}

    @app.post("/declare", response_class=HTMLResponse)
    async def declare(request: Request) -> Response:
        session, form = await posted(request)
        try:
            report = report_from_form(form, zone_of(request))
        except (FormError, ValidationError) as exc:
            return report_form(request, session, "declare.html", form_values(form), _problem(exc))
        message = await run(actions.declare, session.actor, text(form, "subprocessor_id", 64), report)
        return back_to(message.incident_id, "declare")

    @app.get("/what-if", response_class=HTMLResponse)
    def what_if_page(request: Request) -> Response:
        session = signed_in(request)
        return report_form(request, session, "what_if.html", {}, "", result=None)

    @app.post("/what-if", response_class=HTMLResponse)
    async def what_if(request: Request) -> Response:
        session, form = await posted(request)
        values = form_values(form)
        subprocessor = text(form, "subprocessor_id", 64)
        if subprocessor not in datamap.subprocessors:
            return report_form(
                request,
                session,
                "what_if.html",
                values,
                f"subprocessor_id: no {subprocessor!r} in the data map",
                result=None,
            )
        try:
            report = report_from_form(form, zone_of(request))
        except (FormError, ValidationError) as exc:
            return report_form(request, session, "what_if.html", values, _problem(exc), result=None)
        # refused as the intake and `assess --dry-run` refuse it: a name the map does not know
        if unknown := datamap.vocabulary.unknown_in(report):
            problem = "; ".join(str(u) for u in unknown)
            return report_form(request, session, "what_if.html", values, problem, result=None)
        now = clock()
        reported = IncidentReported(
            incident_id=incident_id(subprocessor, report.reference),
            subprocessor_id=subprocessor,
            source=Source.ONCALL,
            delivery_id="what-if",
            received_at=now,
            report=report,
        )
        result = await run_in_threadpool(dry_run, reported, datamap, rules, settings, now, policy)
        result["assessed_at_dt"] = now
        for customer in result["customers"]:
            for deadline in customer["deadlines"]:
                due = deadline["due_at"]
                deadline["due"] = None if due is None else datetime.fromisoformat(due)
        return report_form(request, session, "what_if.html", values, "", result=result)

    # -- dead letters and the audit chain ----------------------------------------------------------------------

    @app.get("/dead-letters", response_class=HTMLResponse)
    def dead_letters(request: Request, done: int = -1) -> Response:
        session = signed_in(request)
        return templates.TemplateResponse(
            request,
            "dead_letters.html",
            {**base(request, session), "dead": ledger.delivery.dead_notices(), "done": done},
        )

    @app.get("/dead-letters/replay", response_class=HTMLResponse)
    def replay_confirm(request: Request, notice: str = "", all: bool = False) -> Response:
        session = signed_in(request)
        dead = ledger.delivery.dead_notices()
        chosen = dead if all else [d for d in dead if d.notice_id == notice]
        if not chosen:
            raise PageError(404, "Not found", f"no dead notice {notice}" if notice else "no dead notices")
        return templates.TemplateResponse(
            request,
            "replay_confirm.html",
            {**base(request, session), "chosen": chosen, "all": all, "notice": notice},
        )

    @app.post("/dead-letters/replay")
    async def replay(request: Request) -> Response:
        session, form = await posted(request)
        dead = await run_in_threadpool(ledger.delivery.dead_notices)
        every = text(form, "all") == "1"
        ids = [d.notice_id for d in dead] if every else [text(form, "notice", 64)]

        def send(notice: NoticeRequested) -> None:
            publisher.publish_notices([notice])

        def replay_and_record() -> Any:
            outcome = replay_dead(ledger, send, ids, signer=NoticeSigner.from_settings(settings.signing))
            for nid in outcome.replayed:  # who replayed what, in the audit chain
                row = queries.notice_row(ledger, nid)
                audit.append(
                    f"replay:{nid}:{clock().isoformat()}",
                    "notice.replayed",
                    actor=session.actor.name,
                    incident_id=str(row["incident_id"]) if row else None,
                    data={"notice_id": nid, "role": session.actor.role.value},
                )
            return outcome

        outcome = await run_in_threadpool(replay_and_record)
        if outcome.failed is not None:
            raise PageError(503, "Try again later", f"{outcome.failed[0]}: Kafka did not acknowledge; not replayed.")
        return RedirectResponse(f"/dead-letters?done={len(outcome.replayed)}", status_code=303)

    @app.get("/audit", response_class=HTMLResponse)
    def audit_page(request: Request) -> Response:
        session = signed_in(request)
        verdict = audit.verify()
        # a cut tail or a rewritten chain shows only against the checkpoints kept outside the database
        problem, matched = anchor(verdict, checkpoints.read(), str(checkpoints.path)) if verdict.ok else (None, None)
        context = {"verdict": verdict, "anchor_problem": problem, "checkpoint": matched}
        return templates.TemplateResponse(request, "audit.html", {**base(request, session), **context})

    @app.get("/robots.txt", response_class=PlainTextResponse, include_in_schema=False)
    def robots() -> str:
        return "User-agent: *\nDisallow: /\n"

    return app


def _local(target: str) -> str:
    """Only a path of this site: never an open redirect."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{field or 'report'}: {message}" for field, message in field_errors(exc))
    return str(exc)
