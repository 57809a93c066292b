"""On-call staff through the API on the real broker: roles, actions, approvals that release held notices."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from support import a_report, held_authority_notice, read_topic

from producers.oncall.tokens import Actor, Role, Tokens
from producers.publish import ReportPublisher
from producers.server import build_app
from runtime.audit import AuditLog
from runtime.datamap import DataMap
from runtime.kafka import make_producer
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.store.delivery import NoticeState
from runtime.store.tables import api_tokens
from runtime.topics import topics_for
from schemas import (
    Deadline,
    IncidentAssessed,
    IncidentReported,
    NoticeRequested,
    ReportStatus,
    incident_id,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def ledger(settings: Settings) -> Iterator[Ledger]:
    store = Ledger.connect(settings.ledger.url)
    yield store
    store.close()


@pytest.fixture
def client(settings: Settings, datamap: DataMap, ledger: Ledger) -> Iterator[TestClient]:
    publisher = ReportPublisher(
        lambda: make_producer(settings.kafka), topics_for(settings.kafka), settings.kafka.ack_timeout_s
    )
    yield TestClient(build_app(settings, datamap, ledger, publisher))
    publisher.close()


@pytest.fixture
def tokens(ledger: Ledger) -> dict[Role, str]:
    return {role: Tokens(ledger).create(f"{role.value}-person", role) for role in Role}


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def record_reports(settings: Settings, ledger: Ledger, expected: int) -> list[IncidentReported]:
    """What the record consumer does with incidents.reported, for the incidents these tests declare."""
    records = read_topic(settings, topics_for(settings.kafka).reported, expected)
    messages = [IncidentReported.model_validate_json(r.value) for r in records]
    for message in messages:
        ledger.incidents.record_report(message)
    return messages


def declare(client: TestClient, token: str) -> str:
    body = {"subprocessor_id": "linode-eu", "report": a_report(status=ReportStatus.SUSPECTED).model_dump(mode="json")}
    response = client.post("/v1/oncall/incidents", json=body, headers=auth(token))
    assert response.status_code == 202, response.text
    return str(response.json()["incident_id"])


def test_tokens_are_stored_hashed(ledger: Ledger, tokens: dict[Role, str]) -> None:
    with ledger.engine.connect() as conn:
        stored = conn.execute(select(api_tokens.c.token_hash)).scalars().all()
    assert len(stored) == 3
    assert not set(stored) & set(tokens.values())
    assert all(len(h) == 64 for h in stored)


def test_no_token_or_an_unknown_one_gets_401(client: TestClient) -> None:
    body = {"subprocessor_id": "linode-eu", "report": a_report().model_dump(mode="json")}
    for headers in ({}, auth("bw_not-a-token"), {"authorization": "Basic dXNlcjpwYXNz"}):
        response = client.post("/v1/oncall/incidents", json=body, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("role", list(Role))
def test_every_role_runs_an_incident_to_its_end(
    client: TestClient, settings: Settings, ledger: Ledger, tokens: dict[Role, str], role: Role
) -> None:
    incident = declare(client, tokens[role])
    record_reports(settings, ledger, 1)
    confirmed = client.post(
        f"/v1/oncall/incidents/{incident}/confirm",
        json={"note": "logs show access", "changes": {"approx_data_subjects": 5000}},
        headers=auth(tokens[role]),
    )
    assert confirmed.status_code == 202, confirmed.text
    assert confirmed.json()["revision"] == "confirmed.2"
    record_reports(settings, ledger, 2)
    resolved = client.post(f"/v1/oncall/incidents/{incident}/resolve", json={}, headers=auth(tokens[role]))
    assert resolved.json()["revision"] == "resolved.3"
    messages = record_reports(settings, ledger, 3)
    assert [m.report.status for m in messages] == [
        ReportStatus.SUSPECTED,
        ReportStatus.CONFIRMED,
        ReportStatus.RESOLVED,
    ]
    assert messages[1].report.approx_data_subjects == 5000
    assert {m.source.value for m in messages} == {"oncall"}
    again = client.post(f"/v1/oncall/incidents/{incident}/confirm", json={}, headers=auth(tokens[role]))
    assert again.status_code == 409
    kinds = [e.kind for e in AuditLog(ledger).entries(incident)]
    assert kinds == ["oncall.declare", "oncall.confirm", "oncall.resolve"]
    assert {e.actor for e in AuditLog(ledger).entries(incident)} == {f"{role.value}-person"}


def test_an_invalid_change_gets_422_naming_the_field(
    client: TestClient, settings: Settings, ledger: Ledger, tokens: dict[Role, str]
) -> None:
    incident = declare(client, tokens[Role.RESPONDER])
    record_reports(settings, ledger, 1)
    response = client.post(
        f"/v1/oncall/incidents/{incident}/update",
        json={"changes": {"approx_records": -1}},
        headers=auth(tokens[Role.RESPONDER]),
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["approx_records"]


def test_a_declaration_naming_an_unknown_region_gets_422_naming_the_field(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    report = a_report(regions=["eu", "europe"], status=ReportStatus.SUSPECTED).model_dump(mode="json")
    response = client.post(
        "/v1/oncall/incidents",
        json={"subprocessor_id": "linode-eu", "report": report},
        headers=auth(tokens[Role.RESPONDER]),
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "report.regions[1]"
    assert "unknown region 'europe'" in error["message"]


def test_an_update_naming_an_unknown_feature_gets_422_naming_the_field(
    client: TestClient, settings: Settings, ledger: Ledger, tokens: dict[Role, str]
) -> None:
    incident = declare(client, tokens[Role.RESPONDER])
    record_reports(settings, ledger, 1)
    response = client.post(
        f"/v1/oncall/incidents/{incident}/update",
        json={"changes": {"features": ["helpdesk", "hepldesk"]}},
        headers=auth(tokens[Role.RESPONDER]),
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["changes.features[1]"]


def test_an_unknown_incident_gets_404(client: TestClient, tokens: dict[Role, str]) -> None:
    response = client.post("/v1/oncall/incidents/inc_nope/confirm", json={}, headers=auth(tokens[Role.ADMIN]))
    assert response.status_code == 404


def test_a_responder_cannot_approve(client: TestClient, ledger: Ledger, tokens: dict[Role, str]) -> None:
    notice = held_authority_notice(ledger, incident_id("linode-eu", "REF-1"))
    response = client.post(
        f"/v1/oncall/notices/{notice.notice_id}/approve", json={"reason": "fine"}, headers=auth(tokens[Role.RESPONDER])
    )
    assert response.status_code == 403
    assert not ledger.release.is_approved(notice.notice_id)
    assert ledger.delivery.notice_state(notice.notice_id) is NoticeState.AWAITING_APPROVAL


def test_an_approval_needs_a_reason(client: TestClient, ledger: Ledger, tokens: dict[Role, str]) -> None:
    notice = held_authority_notice(ledger, incident_id("linode-eu", "REF-2"))
    response = client.post(
        f"/v1/oncall/notices/{notice.notice_id}/approve", json={"reason": ""}, headers=auth(tokens[Role.APPROVER])
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "reason"


@pytest.mark.parametrize("role", [Role.APPROVER, Role.ADMIN])
def test_approving_records_who_and_why_and_releases_the_notice(
    client: TestClient, settings: Settings, ledger: Ledger, tokens: dict[Role, str], role: Role
) -> None:
    notice = held_authority_notice(ledger, incident_id("linode-eu", "REF-3"))
    response = client.post(
        f"/v1/oncall/notices/{notice.notice_id}/approve",
        json={"reason": "facts checked with legal"},
        headers=auth(tokens[role]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["approved_by"] == f"{role.value}-person"
    assert ledger.release.is_approved(notice.notice_id)
    assert ledger.delivery.notice_state(notice.notice_id) is NoticeState.REQUESTED
    [released] = read_topic(settings, topics_for(settings.kafka).notices, 1)
    assert NoticeRequested.model_validate_json(released.value) == notice
    [entry] = AuditLog(ledger).entries(notice.incident_id)
    assert (entry.kind, entry.actor, entry.data["reason"]) == (
        "notice.approved",
        f"{role.value}-person",
        "facts checked with legal",
    )


def test_approving_an_unknown_notice_gets_404(client: TestClient, tokens: dict[Role, str]) -> None:
    response = client.post("/v1/oncall/notices/ntc_x/approve", json={"reason": "x"}, headers=auth(tokens[Role.ADMIN]))
    assert response.status_code == 404


def test_any_role_reads_the_incident_its_notices_and_clocks(
    client: TestClient, settings: Settings, ledger: Ledger, tokens: dict[Role, str]
) -> None:
    incident = declare(client, tokens[Role.RESPONDER])
    record_reports(settings, ledger, 1)
    held = held_authority_notice(ledger, incident)
    due = datetime.now(UTC) + timedelta(hours=72)
    ledger.incidents.record_assessment(
        IncidentAssessed(
            incident_id=incident,
            revision="suspected.1",
            customer_id="acme-eu",
            assessed_at=datetime.now(UTC),
            jurisdictions=["eu-gdpr"],
            deadlines=[Deadline(jurisdiction="eu-gdpr", audience="authority", due_at=due, citation="Art. 33(1)")],
        )
    )
    for role in Role:
        listed = client.get("/v1/oncall/incidents", headers=auth(tokens[role]))
        assert listed.status_code == 200
        assert incident in [i["incident_id"] for i in listed.json()]
    shown = client.get(f"/v1/oncall/incidents/{incident}", headers=auth(tokens[Role.RESPONDER])).json()
    assert shown["incident"]["status"] == "suspected"
    assert [e["kind"] for e in shown["timeline"]] == ["oncall.declare"]
    assert shown["customers_by_jurisdiction"] == {"eu-gdpr": ["acme-eu"]}
    assert [(n["notice_id"], n["state"]) for n in shown["notices"]] == [(held.notice_id, "awaiting_approval")]
    [clock] = shown["clocks"]
    assert clock["jurisdiction"] == "eu-gdpr" and 71 * 3600 < clock["seconds_left"] <= 72 * 3600
    assert client.get(f"/v1/oncall/incidents/{incident}").status_code == 401
    assert client.get("/v1/oncall/incidents/inc_nope", headers=auth(tokens[Role.ADMIN])).status_code == 404


def test_a_responder_cannot_reject(client: TestClient, ledger: Ledger, tokens: dict[Role, str]) -> None:
    notice = held_authority_notice(ledger, incident_id("linode-eu", "REF-4"))
    response = client.post(
        f"/v1/oncall/notices/{notice.notice_id}/reject", json={"reason": "no"}, headers=auth(tokens[Role.RESPONDER])
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert ledger.delivery.notice_state(notice.notice_id) is NoticeState.AWAITING_APPROVAL
    assert ledger.release.decision(notice.notice_id) is None


def test_a_rejection_needs_a_reason_and_a_notice_that_awaits_approval(
    client: TestClient, ledger: Ledger, tokens: dict[Role, str]
) -> None:
    notice = held_authority_notice(ledger, incident_id("linode-eu", "REF-5"))
    path = f"/v1/oncall/notices/{notice.notice_id}/reject"
    empty = client.post(path, json={"reason": ""}, headers=auth(tokens[Role.APPROVER]))
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "reason"
    unknown = client.post("/v1/oncall/notices/ntc_x/reject", json={"reason": "x"}, headers=auth(tokens[Role.ADMIN]))
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"


def test_a_release_names_a_known_incident_an_audience_it_may_hold_and_a_reason(
    client: TestClient, settings: Settings, ledger: Ledger, tokens: dict[Role, str]
) -> None:
    incident = declare(client, tokens[Role.RESPONDER])
    record_reports(settings, ledger, 1)
    path = f"/v1/oncall/incidents/{incident}/release"
    for body, field in (({"reason": ""}, "reason"), ({"audience": "authority", "reason": "x"}, "audience")):
        response = client.post(path, json=body, headers=auth(tokens[Role.RESPONDER]))
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == field
    unknown = client.post(
        "/v1/oncall/incidents/inc_nope/release", json={"reason": "x"}, headers=auth(tokens[Role.RESPONDER])
    )
    assert unknown.status_code == 404
    nothing = client.post(path, json={"reason": "nothing held"}, headers=auth(tokens[Role.RESPONDER]))
    assert nothing.status_code == 200 and nothing.json()["released"] == 0
    assert client.post(path, json={"reason": "x"}).status_code == 401


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    "path",
    [
        "/v1/oncall/incidents",
        "/v1/oncall/incidents/inc_x/confirm",
        "/v1/oncall/notices/n_x/approve",
        "/v1/oncall/incidents/inc_x/release",
        "/v1/oncall/notices/n_x/reject",
    ],
)
def test_the_token_is_checked_before_the_body_is_parsed(client: TestClient, tokens: dict[Role, str], path: str) -> None:
    json_headers = {"content-type": "application/json"}
    assert client.post(path, content=DEEP, headers=json_headers).status_code == 401
    assert client.post(path, content=DEEP, headers={**json_headers, **auth("bw_bad")}).status_code == 401
    good = client.post(path, content=DEEP, headers={**json_headers, **auth(tokens[Role.ADMIN])})
    assert good.status_code == 422, good.text
    assert good.json()["errors"] == [{"field": "body", "message": "not valid JSON"}]


def test_a_body_read_by_hand_still_names_its_fields_and_is_in_the_openapi_document(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    answer = client.post("/v1/oncall/notices/n_x/approve", json={"reason": ""}, headers=auth(tokens[Role.ADMIN]))
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "reason"
    document = client.get("/openapi.json").json()
    for path, model in (
        ("/v1/oncall/incidents", "DeclareBody"),
        ("/v1/oncall/incidents/{incident_id}/confirm", "ActBody"),
        ("/v1/oncall/notices/{notice_id}/approve", "ApproveBody"),
        ("/v1/oncall/incidents/{incident_id}/release", "ReleaseBody"),
        ("/v1/oncall/notices/{notice_id}/reject", "RejectBody"),
    ):
        body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{model}"}
        assert model in document["components"]["schemas"]
    assert "Report" in document["components"]["schemas"]  # what DeclareBody refers to


def test_expired_and_revoked_tokens_get_a_clear_401(
    client: TestClient, ledger: Ledger, tokens: dict[Role, str]
) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(update(api_tokens).where(api_tokens.c.role == "responder").values(expires_at=datetime.now(UTC)))
    expired = client.get("/v1/oncall/incidents", headers=auth(tokens[Role.RESPONDER]))
    assert expired.status_code == 401 and "the token expired at" in expired.json()["detail"]
    Tokens(ledger).revoke(Actor("root", Role.ADMIN), "approver-person")
    revoked = client.get("/v1/oncall/incidents", headers=auth(tokens[Role.APPROVER]))
    assert revoked.status_code == 401 and "the token was revoked at" in revoked.json()["detail"]
    assert client.get("/v1/oncall/incidents", headers=auth(tokens[Role.ADMIN])).status_code == 200


def test_failed_sign_ins_get_429_with_retry_after_and_good_tokens_elsewhere_go_on(
    client: TestClient, settings: Settings, tokens: dict[Role, str]
) -> None:
    for _ in range(settings.oncall.signin_failure_burst):
        assert client.get("/v1/oncall/incidents", headers=auth("bw_guess")).status_code == 401
    assert client.get("/v1/oncall/incidents", headers=auth(tokens[Role.ADMIN])).status_code == 429
    throttled = client.get("/v1/oncall/incidents", headers=auth("bw_guess"))
    assert throttled.status_code == 429
    assert throttled.headers["content-type"] == "application/problem+json"
    assert int(throttled.headers["retry-after"]) >= 1
    assert throttled.json()["type"].endswith("too-many-sign-ins")
    # no token at all is not a guess: still a 401, not counted
    assert client.get("/v1/oncall/incidents").status_code == 401
    elsewhere = TestClient(client.app, client=("10.9.8.7", 50000))
    assert elsewhere.get("/v1/oncall/incidents", headers=auth(tokens[Role.ADMIN])).status_code == 200
