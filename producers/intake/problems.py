"""RFC 9457 problem details (application/problem+json): every error the intake answers with."""

import json
from typing import Any, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from runtime.datamap import Unknown
from runtime.validation import field_errors

PROBLEM_TYPE_BASE = "https://breachwire.dev/problems/"


class Problem(Exception):
    """An error answer; raise it anywhere in a handler and the app turns it into problem+json."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}

    def response(self, instance: str) -> JSONResponse:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        if self.errors:
            body["errors"] = self.errors
        return JSONResponse(body, status_code=self.status, headers=self.headers, media_type="application/problem+json")


M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], body: bytes) -> M:
    """A JSON body as ``model``; 422 problem+json for anything else, however hostile.

    Not JSON, not UTF-8, nested past the parser's depth (RecursionError) or an integer past Python's 4,300 digits
    (ValueError) are all "not valid JSON"; a body that parses is validated, each invalid field named.
    """
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise Problem(
            422,
            "invalid-json",
            "Body is not JSON",
            f"the body is not valid JSON: {reason}",
            [{"field": "body", "message": "not valid JSON"}],
        ) from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise invalid_fields(exc) from None


def invalid_fields(error: ValidationError) -> Problem:
    errors = [{"field": path or "body", "message": message} for path, message in field_errors(error)]
    fields = ", ".join(e["field"] for e in errors)
    return Problem(422, "invalid-field", "Invalid field", f"invalid field(s): {fields}", errors)


def unknown_names(unknown: list[Unknown]) -> Problem:
    """A report naming regions, features or data categories the data map does not know: refused, each named."""
    errors = [{"field": u.field, "message": u.message} for u in unknown]
    fields = ", ".join(e["field"] for e in errors)
    return Problem(
        422, "unknown-name", "Unknown region, feature or data category", f"not in the data map: {fields}", errors
    )


def problem_schema() -> dict[str, Any]:
    """The OpenAPI schema of a problem document, for the responses the intake declares."""
    return {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }


def problem_responses(*codes: int, retry_after: tuple[int, ...] = (429, 503)) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem answers; ``retry_after`` codes declare the Retry-After header."""
    descriptions = {
        401: "Not authenticated: bad or missing signature or token, unknown sender",
        403: "Authenticated, but the role does not allow this",
        404: "No such incident or notice",
        409: "The same delivery is being processed right now, or the action does not fit the incident's state",
        413: "Body over the size limit",
        415: "Body is not JSON",
        422: "Invalid field(s), or regions, features or data categories the data map does not know, each named",
        429: "Over the sender's rate limit",
        503: "Kafka did not acknowledge in time, or the ledger is unavailable; nothing was accepted",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {
            "description": descriptions.get(code, "Problem"),
            "content": {"application/problem+json": {"schema": problem_schema()}},
        }
        if code in retry_after:
            entry["headers"] = {
                "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "string"}}
            }
        out[code] = entry
    return out
