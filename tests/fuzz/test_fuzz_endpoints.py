"""A fuzz of every operation in the server's OpenAPI document (intake, Alertmanager, on-call): no answer is a 5xx.

schemathesis generates each request from the document (valid and invalid, ``GenerationMode``); hypothesis
strategies then rewrite its headers (webhook-id / -timestamp / -signature, authorization, content-type and
-length) with
hostile values: non-ASCII bytes, huge values, digits of other scripts, near-valid signatures. A share of the
cases carries a valid signature or token for the exact bytes sent, so bodies get past authentication and reach
parsing, the ledger and the real broker. Every answer is counted; any answer >= 500 fails the run, and the first
few are printed with the seed and the request as sent.

``FUZZ_CASES`` sets how many cases in all (300 by default, what the test suite runs; ``make fuzz`` runs 10,000),
``FUZZ_SEED`` replays a run, ``FUZZ_REPORT`` names a JSON file for the counts (``make fuzz``:
bench/results/fuzz.json).
"""

import base64
import json
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.generation.case import Case
from support import a_report, held_authority_notice

from producers.intake.signatures import sign
from producers.oncall.tokens import Role, Tokens
from producers.publish import ReportPublisher
from producers.server import build_app
from runtime.datamap import DataMap
from runtime.kafka import make_producer
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.topics import topics_for
from schemas import (
    ReportStatus,
    Source,
)

pytestmark = pytest.mark.integration

CASES = int(os.environ.get("FUZZ_CASES", "300"))
SEED = int(os.environ.get("FUZZ_SEED") or random.randrange(2**32))
REPORT = os.environ.get("FUZZ_REPORT")
MONITOR_TOKEN = "am-token-for-the-fuzz"
SHOWN = 5  # offending cases printed in full


@dataclass
class World:
    """What a case may name to get past authentication and lookups."""

    secrets: dict[str, str]  # subprocessor id -> one active secret
    tokens: dict[Role, str]
    incidents: list[str]
    notices: list[str]


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    per_operation: dict[str, Counter[int]] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    not_problems: Counter[str] = field(default_factory=Counter)  # error answers that are not problem+json

    @property
    def cases(self) -> int:
        return sum(self.statuses.values())

    def add(self, operation: str, status: int) -> None:
        self.statuses[status] += 1
        self.per_operation.setdefault(operation, Counter())[status] += 1


# --- hostile header values (hypothesis strategies) ---------------------------------------------------------

# What an HTTP/1.1 server hands an application: visible ASCII, obs-text (0x80-0xFF), spaces and tabs inside.
_FIELD_BYTES = st.binary(max_size=200).map(lambda b: bytes(c for c in b if (c >= 0x21 and c != 0x7F) or c in (9, 32)))
_NON_ASCII_TEXT = st.text(st.characters(min_codepoint=0x80, exclude_categories=["Cs"]), min_size=1, max_size=40)
_UNICODE_DIGITS = st.text(st.characters(categories=["Nd"]), min_size=1, max_size=20)
_HUGE = st.tuples(st.sampled_from("9aZ=+/ é"), st.integers(1_000, 300_000)).map(lambda t: t[0] * t[1])


def _bytes(value: str) -> bytes:
    return value.encode("utf-8")


HOSTILE_VALUE: st.SearchStrategy[bytes] = st.one_of(
    st.just(b""),
    _FIELD_BYTES,
    _NON_ASCII_TEXT.map(_bytes),
    _UNICODE_DIGITS.map(_bytes),
    _HUGE.map(_bytes),
    st.text(st.characters(codec="ascii", min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(_bytes),
)


def _timestamps(now: int) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.integers(-(10**20), 10**20).map(lambda n: _bytes(str(n))),
        st.integers(-600, 600).map(lambda d: _bytes(str(now + d))),
        st.integers(0, 10_000).map(lambda n: b"9" * n),
        st.sampled_from([b" 1", b"+1", b"1e9", b"0x10", b"1_000", b"\xd9\xa1\xd9\xa7", "１７".encode()]),
        _UNICODE_DIGITS.map(_bytes),
        HOSTILE_VALUE,
    )


_B64 = st.binary(max_size=64).map(lambda b: base64.b64encode(b))
SIGNATURES = st.one_of(
    _B64.map(lambda s: b"v1," + s),
    st.lists(st.one_of(_B64.map(lambda s: b"v1," + s), HOSTILE_VALUE), min_size=2, max_size=50).map(b" ".join),
    st.sampled_from([b"v1,", b"v1,=", b"v2,abc", b"v1a,abc", b"v1,!!!!", b","]),
    st.just(100_000).map(lambda n: b"v1," + b"A" * n),
    HOSTILE_VALUE,
)
AUTHORIZATIONS = st.one_of(
    HOSTILE_VALUE.map(lambda v: b"Bearer " + v),
    st.sampled_from([b"Bearer", b"Bearer ", b"bearer  bw_x", b"Basic dXNlcjpwYXNz", b"Bearer bw_\xff\xfe", b"Token x"]),
    HOSTILE_VALUE,
)
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            b"application/json",
            b"application/json; charset=latin-1",
            b"APPLICATION/JSON",
            b"application/problem+json",
            b"application/+json",
            b"application/x-www-form-urlencoded",
            b"multipart/form-data; boundary=x",
            b"text/plain",
            b";",
        ]
    ),
    HOSTILE_VALUE,
)


def header_overrides(now: int) -> st.SearchStrategy[dict[str, bytes]]:
    """Up to three of the headers the ways in read, each replaced by a hostile value."""
    return st.fixed_dictionaries(
        {},
        optional={
            "webhook-id": st.one_of(HOSTILE_VALUE, st.just(b"msg_" + b"x" * 200)),
            "webhook-timestamp": _timestamps(now),
            "webhook-signature": SIGNATURES,
            "authorization": AUTHORIZATIONS,
            "content-type": CONTENT_TYPES,
            "content-length": st.one_of(st.integers(0, 10**6).map(lambda n: _bytes(str(n))), _HUGE.map(_bytes)),
        },
    ).filter(lambda d: len(d) <= 3)


AUTH_HEADERS = {"webhook-id", "webhook-timestamp", "webhook-signature", "authorization"}


@dataclass(frozen=True)
class Plan:
    """How a generated case is sent: authenticated or not, naming a real subject or not, which headers replaced."""

    authentic: bool
    real_subject: bool
    role: Role
    overrides: dict[str, bytes]
    pick: int


def plans() -> st.SearchStrategy[Plan]:
    now = int(time.time())
    return st.builds(
        Plan,
        authentic=st.sampled_from([True, True, False]),  # two in three get past authentication
        real_subject=st.booleans(),
        role=st.sampled_from([Role.ADMIN, Role.ADMIN, Role.APPROVER, Role.RESPONDER]),
        overrides=header_overrides(now),
        pick=st.integers(0, 1000),
    )


# --- the server and what it knows --------------------------------------------------------------------------


@pytest.fixture
def ledger(settings: Settings) -> Iterator[Ledger]:
    store = Ledger.connect(settings.ledger.url)
    yield store
    store.close()


@pytest.fixture
def app(settings: Settings, datamap: DataMap, ledger: Ledger) -> Iterator[tuple[FastAPI, ReportPublisher]]:
    configured = settings.model_copy(
        update={
            "monitors": settings.monitors.model_copy(update={"alertmanager_token": SecretStr(MONITOR_TOKEN)}),
            # high enough that signed reports reach Kafka, not only the 429 of the rate limit
            "intake": settings.intake.model_copy(update={"rate_limit_per_minute": 100_000, "rate_limit_burst": 1000}),
        }
    )
    publisher = ReportPublisher(lambda: make_producer(settings.kafka), topics_for(settings.kafka), 10.0)
    yield build_app(configured, datamap, ledger, publisher), publisher
    publisher.close()


@pytest.fixture
def world(app: tuple[FastAPI, ReportPublisher], ledger: Ledger, datamap: DataMap) -> World:
    """Tokens of every role, two incidents in the ledger (one open, one resolved) and a notice held for approval."""
    _, publisher = app
    incidents = []
    for status in (ReportStatus.SUSPECTED, ReportStatus.RESOLVED):
        message = publisher.publish(
            "linode-eu", Source.SUBPROCESSOR, f"seed_{uuid.uuid4().hex}", a_report(status=status)
        )
        ledger.incidents.record_report(message)  # what the record consumer does
        incidents.append(message.incident_id)
    held = held_authority_notice(ledger, incidents[0])
    return World(
        secrets={
            s.id: s.webhook_secrets[0].get_secret_value() for s in datamap.subprocessors.values() if s.webhook_secrets
        },
        tokens={role: Tokens(ledger).create(f"fuzz-{role.value}", role) for role in Role},
        incidents=incidents,
        notices=[held.notice_id],
    )


# --- one case ----------------------------------------------------------------------------------------------


def _request(case: Case, plan: Plan, world: World) -> tuple[str, str, list[tuple[str, bytes]], bytes]:
    """(method, url, raw headers, body bytes) for a case as ``plan`` says to send it."""
    parameters = dict(case.path_parameters or {})
    if plan.authentic and plan.real_subject:
        if "subprocessor_id" in parameters:
            parameters["subprocessor_id"] = sorted(world.secrets)[plan.pick % len(world.secrets)]
        if "incident_id" in parameters:
            parameters["incident_id"] = world.incidents[plan.pick % len(world.incidents)]
        if "notice_id" in parameters:
            parameters["notice_id"] = world.notices[plan.pick % len(world.notices)]
        case.path_parameters = parameters
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    if "json" in kwargs:
        body = json.dumps(kwargs["json"]).encode()
    else:
        data = kwargs.get("data")
        body = data.encode() if isinstance(data, str) else bytes(data or b"")
    headers: dict[str, bytes] = {
        str(k).lower(): v if isinstance(v, bytes) else str(v).encode() for k, v in kwargs.get("headers", {}).items()
    }
    path = case.formatted_path
    if plan.authentic:
        if path.startswith("/v1/subprocessors/"):
            secret = world.secrets.get(parameters.get("subprocessor_id", ""))
            if secret is not None:
                signed = sign(secret, f"msg_{uuid.uuid4().hex}", body, int(time.time()))
                headers.update({k: v.encode() for k, v in signed.items()})
        elif path.startswith("/v1/monitors/"):
            headers["authorization"] = f"Bearer {MONITOR_TOKEN}".encode()
        else:
            headers["authorization"] = f"Bearer {world.tokens[plan.role]}".encode()
    for name, value in plan.overrides.items():
        if plan.authentic and name in AUTH_HEADERS:
            continue  # an authenticated case keeps what authenticates it
        headers[name] = value
    url = kwargs["url"]
    params = kwargs.get("params")
    if params:
        url += "?" + (params if isinstance(params, str) else urlencode(params, doseq=True))
    return case.method.upper(), url, list(headers.items()), body


def _describe(method: str, url: str, headers: list[tuple[str, bytes]], body: bytes, status: int) -> str:
    shown = [(k, v if len(v) <= 300 else v[:300] + b"...") for k, v in headers]
    text = body if len(body) <= 2000 else body[:2000] + b"..."
    return f"{status} <- {method} {url}\n  headers={shown!r}\n  body={text!r} ({len(body)} bytes)"


def _run(client: TestClient, case: Case, plan: Plan, world: World, tally: Tally) -> None:
    method, url, headers, body = _request(case, plan, world)
    response = client.request(method, url, headers=headers, content=body)
    tally.add(f"{case.method.upper()} {case.path}", response.status_code)
    if response.status_code >= 400 and response.headers.get("content-type") != "application/problem+json":
        tally.not_problems[f"{response.status_code} {response.text[:120]}"] += 1
    if response.status_code >= 500:
        tally.server_errors.append(
            _describe(method, url, headers, body, response.status_code) + f"\n  answer={response.text[:500]!r}"
        )


# --- the run -----------------------------------------------------------------------------------------------


def test_no_input_gets_a_5xx(app: tuple[FastAPI, ReportPublisher], world: World) -> None:
    server, _ = app
    schema = schemathesis.openapi.from_asgi("/openapi.json", server)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13, [op.label for op in operations]
    tally = Tally()
    started = time.monotonic()
    client = TestClient(server, raise_server_exceptions=False)
    runs = [(op, mode) for op in operations for mode in GenerationMode]
    round_ = 0
    while tally.cases < CASES and round_ < 5:
        budget = max(1, -(-(CASES - tally.cases) // len(runs)))  # what is left, spread over every run
        for operation, mode in runs:
            strategy = st.tuples(operation.as_strategy(mode), plans())

            def one(drawn: tuple[Case, Plan]) -> None:
                _run(client, drawn[0], drawn[1], world, tally)

            bounded = hypothesis_settings(
                max_examples=budget,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
                phases=[Phase.explicit, Phase.generate],
            )(seed(SEED + round_)(given(strategy)(one)))
            try:
                bounded()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # an operation without inputs has no invalid request
        round_ += 1
    elapsed = time.monotonic() - started

    summary = _summary(tally, elapsed)
    print(json.dumps(summary, indent=2))
    if REPORT:
        Path(REPORT).write_text(json.dumps(summary, indent=2) + "\n")

    assert tally.cases >= CASES, summary
    assert set(tally.per_operation) == {f"{op.method.upper()} {op.path}" for op in operations}, summary
    # a share of every authenticated way in got past authentication
    for name, statuses in tally.per_operation.items():
        assert set(statuses) - {401}, f"{name} never got past authentication: {statuses}"
    assert not tally.not_problems, f"error answers that are not problem+json: {dict(tally.not_problems)}"
    shown = "\n\n".join(tally.server_errors[:SHOWN])
    assert not tally.server_errors, (
        f"{len(tally.server_errors)} answers >= 500 in {tally.cases} cases (FUZZ_SEED={SEED}); the first:\n\n{shown}"
    )


def _summary(tally: Tally, elapsed: float) -> dict[str, Any]:
    return {
        "cases": tally.cases,
        "seconds": round(elapsed, 1),
        "seed": SEED,
        "answers_5xx": sum(n for status, n in tally.statuses.items() if status >= 500),
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "not_problem_json": dict(tally.not_problems.most_common(10)),
        "operations": {
            name: {"cases": sum(c.values()), "statuses": {str(k): v for k, v in sorted(c.items())}}
            for name, c in sorted(tally.per_operation.items())
        },
    }
