"""A report from the console's form (fields, or a pasted JSON report), checked by the report's own model."""

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from schemas import Report

LISTS = ("regions", "features", "customer_accounts", "data_categories")
TEXTS = ("reference", "status", "title", "description", "likely_consequences", "measures_taken")
NUMBERS = ("approx_data_subjects", "approx_records")
TIMES = ("aware_at", "occurred_from", "occurred_until")


class FormError(ValueError):
    """A field the form cannot read; ``str`` is ``field: message``, as the API's ValueErrors are."""


def _time(name: str, text: str, zone: str) -> str:
    """A datetime-local field (no zone) is in the viewer's zone; an ISO time with its zone is taken as is."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise FormError(f"{name}: not a date and time (e.g. 2026-06-10T09:30)") from None
    if value.utcoffset() is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value.isoformat()


def report_fields(form: FormData, zone: str) -> dict[str, Any]:
    """The report's fields from a form: the pasted JSON (``report_json``) when given, else the fields."""
    pasted = str(form.get("report_json") or "").strip()
    if pasted:
        try:
            given = json.loads(pasted)
        except json.JSONDecodeError as exc:
            raise FormError(f"report_json: not JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
        if not isinstance(given, dict):
            raise FormError("report_json: a report is a JSON object")
        # an incidents.reported message carries its report
        report = given.get("report", given) if "subprocessor_id" in given else given
        if not isinstance(report, dict):
            raise FormError("report_json: report: a JSON object")
        return report
    fields: dict[str, Any] = {}
    for name in TEXTS:
        if value := str(form.get(name) or "").strip():
            fields[name] = value
    for name in LISTS:
        if value := str(form.get(name) or "").strip():
            fields[name] = [item.strip() for item in value.replace("\n", ",").split(",") if item.strip()]
    for name in NUMBERS:
        if value := str(form.get(name) or "").strip().replace(",", "").replace("_", ""):
            if not value.isdigit():
                raise FormError(f"{name}: a whole number")
            fields[name] = int(value)
    for name in TIMES:
        if value := str(form.get(name) or "").strip():
            fields[name] = _time(name, value, zone)
    contact = {k: v for k in ("name", "email") if (v := str(form.get(f"contact_{k}") or "").strip())}
    if contact:
        fields["contact"] = contact
    return fields


def report_from_form(form: FormData, zone: str) -> Report:
    """Raises FormError, or pydantic's ValidationError naming the report's field."""
    return Report.model_validate(report_fields(form, zone))
