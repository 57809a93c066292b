"""schemathesis against the intake's own OpenAPI document: no 5xx, and every answer matches the document.

Each generated request is sent twice: as generated (so unsigned: the 401 path and every header the generator
makes up) and signed with the subprocessor's secret over the exact bytes sent (so the body reaches parsing,
rate limiting and Kafka). Examples are bounded so the whole file runs in well under two minutes.
"""

import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.specs.openapi import checks
from support import LINODE_EU_SECRET

from producers.intake import create_app
from producers.intake.signatures import sign
from producers.publish import ReportPublisher
from runtime.datamap import DataMap
from runtime.kafka import make_producer
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.topics import topics_for

pytestmark = pytest.mark.integration


@pytest.fixture
def intake_app(settings: Settings, datamap: DataMap) -> Iterator[FastAPI]:
    ledger = Ledger.connect(settings.ledger.url)
    publisher = ReportPublisher(
        lambda: make_producer(settings.kafka), topics_for(settings.kafka), settings.kafka.ack_timeout_s
    )
    yield create_app(settings.intake, datamap, publisher, ledger)
    publisher.close()
    ledger.close()


def _body_bytes(case: Case) -> bytes | None:
    body = getattr(case, "body", None)
    if body is None or type(body).__name__ == "NotSet":
        return None
    if isinstance(body, bytes):
        return body
    return json.dumps(body).encode()


SEEN: Counter[int] = Counter()


def test_the_intake_keeps_to_its_document(intake_app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", intake_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 2
    for operation, mode in itertools.product(operations, GenerationMode):
        run = given(case=operation.as_strategy(mode))(_check)
        bounded = hypothesis_settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )(run)
        try:
            bounded(intake_app=intake_app)
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # an operation without inputs has no invalid request
    # the run reached both sides: refusals of unsigned requests, and signed reports Kafka acknowledged
    assert SEEN[401] and SEEN[202] and SEEN[422], SEEN


def _check(case: Case, intake_app: FastAPI) -> None:
    response = case.call()
    assert response.status_code < 500, response.text
    SEEN[response.status_code] += 1
    case.validate_response(response, excluded_checks=_excluded())

    body = _body_bytes(case)
    if case.method.upper() != "POST" or body is None:
        return
    path = case.formatted_path
    if "subprocessor_id" in (case.path_parameters or {}):
        path = "/v1/subprocessors/linode-eu/reports"
    headers = {
        **{k: str(v) for k, v in (case.headers or {}).items()},
        "content-type": "application/json",
        **sign(LINODE_EU_SECRET, f"msg_{uuid.uuid4().hex}", body, int(time.time())),
    }
    with TestClient(intake_app) as client:
        signed = client.post(path, content=body, headers=headers)
    assert signed.status_code < 500, signed.text
    SEEN[signed.status_code] += 1
    # signed, the request is no longer the generated one: check only that the answer fits the document
    case.validate_response(signed, checks=_CONFORMANCE)


_CONFORMANCE = [
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def _excluded() -> list[Any]:
    # A generated body the JSON Schema allows can still break a rule the schema cannot express (for
    # example occurred_until before occurred_from), and unsigned requests are refused by design: neither
    # means the answer disagrees with the document.
    return [checks.positive_data_acceptance]
