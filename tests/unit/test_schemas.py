import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from consumers.assess.rules import RuleBook
from runtime import resources
from schemas import (
    LEGAL_AUDIENCES,
    NOTICE_AUDIENCE_FOR,
    NOTICE_AUDIENCES,
    Audience,
    Deadline,
    IncidentReported,
    Report,
    Source,
    incident_id,
    notice_id,
)
from schemas.export import JSON_DIR, render


def test_exported_json_schemas_match_the_models() -> None:
    """`make schemas` output is committed; a model change without re-exporting fails here."""
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in JSON_DIR.glob("*.schema.json")}
    assert on_disk == render(), "schemas/json/ drifted from the models: run `make schemas`"


def test_every_message_schema_declares_its_version_field() -> None:
    for name, text in render().items():
        schema = json.loads(text)
        assert "schema" in schema["properties"], name
        assert schema["properties"]["schema"]["const"].endswith("/1"), name


def _report(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "reference": "LIN-1",
        "status": "confirmed",
        "title": "Volume snapshot leaked",
        "aware_at": "2026-11-28T09:00:00Z",
    }
    return base | changes


def test_a_report_round_trips_with_its_schema_field() -> None:
    report = Report.model_validate(_report())
    dumped = json.loads(report.model_dump_json())
    assert dumped["schema"] == "breachwire.report/1"
    assert Report.model_validate(dumped) == report


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"aware_at": "2026-11-28T09:00:00"}, "aware_at"),  # no time zone: ambiguous, refused
        ({"status": "maybe"}, "status"),
        ({"title": ""}, "title"),
        ({"regions": ["EU West!"]}, "regions"),
        (
            {"occurred_from": "2026-11-28T09:00:00Z", "occurred_until": "2026-11-27T09:00:00Z"},
            "occurred_until",
        ),
        ({"unexpected": 1}, "unexpected"),
        ({"determinations": {"sg-pdpa": "2026-11-28T08:00:00Z"}}, "determinations"),  # before awareness
        ({"determinations": {"SG PDPA": "2026-11-29T08:00:00Z"}}, "determinations"),  # not a rules id
    ],
)
def test_a_bad_report_names_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Report.model_validate(_report(**changes))
    assert field in {str(e["loc"][0]) for e in info.value.errors()}


def test_ids_are_deterministic_and_distinct() -> None:
    assert incident_id("linode-eu", "X-1") == incident_id("linode-eu", "X-1")
    assert incident_id("linode-eu", "X-1") != incident_id("linode-uk", "X-1")
    a = notice_id("inc_1", "acme", "controller", "email", "confirmed.1")
    assert a == notice_id("inc_1", "acme", "controller", "email", "confirmed.1")
    assert a != notice_id("inc_1", "acme", "controller", "email", "update.2")
    assert a != notice_id("inc_1", "acme", "controller", "webhook", "confirmed.1")


def test_revision_follows_status_and_sequence() -> None:
    message = IncidentReported(
        incident_id="inc_1",
        subprocessor_id="linode-eu",
        source=Source.SUBPROCESSOR,
        delivery_id="msg_1",
        received_at=datetime(2026, 11, 28, tzinfo=UTC),
        report=Report.model_validate(_report(status="update", sequence=3)),
    )
    assert message.revision == "update.3"


def test_a_deadline_reads_and_writes_its_audience_as_the_rules_file_names_it() -> None:
    for audience in ("controller", "authority", "data_subjects", "consumer_reporting_agencies", "media"):
        wire = json.dumps({"jurisdiction": "us-or", "audience": audience, "due_at": None})
        deadline = Deadline.model_validate_json(wire)
        assert deadline.audience is Audience(audience)
        assert json.loads(deadline.to_json())["audience"] == audience
    with pytest.raises(ValidationError):  # a notice's audience is no party a law names
        Deadline.model_validate({"jurisdiction": "eu-gdpr", "audience": "customer", "due_at": None})


def test_every_audience_the_rules_name_is_a_legal_one_and_every_duty_we_answer_has_templates(
    rules: RuleBook,
) -> None:
    named = {o.audience for j in rules.jurisdictions for o in j.obligations}
    assert named == set(LEGAL_AUDIENCES)
    assert set(NOTICE_AUDIENCE_FOR) <= set(LEGAL_AUDIENCES)
    for audience in NOTICE_AUDIENCES:
        assert (resources.templates_dir() / audience.value).is_dir(), audience
