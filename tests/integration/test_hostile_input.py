"""Hostile senders against the running ways in (intake, monitors, on-call): every answer is a 4xx problem+json,
nothing is buffered past the limit, and no sender that is not authenticated gets its body parsed."""

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from pydantic import SecretStr
from support import LINODE_EU_SECRET

from producers.intake.signatures import sign
from producers.publish import ReportPublisher
from producers.server import build_app
from runtime.datamap import DataMap
from runtime.kafka import make_producer
from runtime.settings import Settings
from runtime.store import Ledger
from runtime.topics import topics_for

pytestmark = pytest.mark.integration

MONITOR_TOKEN = "am-token-for-hostile-tests"
REPORTS = "/v1/subprocessors/linode-eu/reports"


@pytest.fixture
def client(settings: Settings, datamap: DataMap) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={"monitors": settings.monitors.model_copy(update={"alertmanager_token": SecretStr(MONITOR_TOKEN)})}
    )
    publisher = ReportPublisher(lambda: make_producer(settings.kafka), topics_for(settings.kafka), 10.0)
    ledger = Ledger.connect(settings.ledger.url)
    yield TestClient(build_app(configured, datamap, ledger, publisher), raise_server_exceptions=False)
    ledger.close()
    publisher.close()


def signed(body: bytes, **changes: str) -> dict[str, str]:
    signature = sign(LINODE_EU_SECRET, f"msg_{uuid.uuid4().hex}", body, int(time.time()))
    headers = {"content-type": "application/json", **signature}
    headers.update(changes)
    return headers


def assert_problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    return body


def test_a_chunked_body_over_the_limit_is_refused_while_it_streams(settings: Settings, datamap: DataMap) -> None:
    """Over a real socket: a chunked 400 MB body with no signature is answered 413 once past the limit, and what
    follows is discarded as it comes, never held: the server's memory does not grow with the body."""
    publisher = ReportPublisher(lambda: make_producer(settings.kafka), topics_for(settings.kafka), 10.0)
    ledger = Ledger.connect(settings.ledger.url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(build_app(settings, datamap, ledger, publisher), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        sent = 0
        before = _rss_mb()
        chunk = b"x" * 65536
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(
                f"POST {REPORTS} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n".encode()
            )
            try:
                for _ in range(400 * 16):  # 400 MB if it were all read
                    connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
            except OSError:
                pass  # the server answered and closed: what we sent past that, nobody reads
            answer = b""
            try:
                while b"\r\n\r\n" not in answer:
                    data = connection.recv(65536)
                    if not data:
                        break
                    answer += data
            except OSError:
                pass
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"application/problem+json" in answer
        grown = _rss_mb() - before
        assert grown < 100, f"the server grew by {grown:.0f} MB while {sent / 2**20:.0f} MB were sent"
    finally:
        server.should_exit = True
        thread.join(10)
        ledger.close()
        publisher.close()


def _rss_mb() -> float:
    with Path("/proc/self/status").open(encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_a_declared_length_over_the_limit_is_refused_before_reading(client: TestClient, settings: Settings) -> None:
    body = b"x" * (settings.intake.max_body_bytes + 1)
    assert_problem(client.post(REPORTS, content=body, headers=signed(body)), 413)


def test_a_timestamp_in_other_digits_is_a_401(client: TestClient) -> None:
    body = b"{}"
    response = client.post(REPORTS, content=body, headers=signed(body) | {"webhook-timestamp": "١٧٦٤٧٥٠٠٠٠".encode()})
    assert_problem(response, 401)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # nested past any parser's depth
        b'{"reference": "R", "status": "confirmed", "title": "t", "aware_at": "2026-12-03T10:00:00Z",'
        b' "approx_data_subjects": ' + b"9" * 5000 + b"}",  # an integer of 5,000 digits
        b'{"reference": "R", "status": "confirmed", "title": "t", "aware_at": "2026-12-03T10:00:00Z",'
        b' "approx_records": ' + b"9" * 40 + b"}",  # parses, but no breach has that many records
        b"\xff\xfe{}",
    ],
)
def test_a_signed_but_hostile_body_is_a_422_or_401(client: TestClient, body: bytes) -> None:
    response = client.post(REPORTS, content=body, headers=signed(body))
    assert response.status_code in (401, 422), response.text  # not UTF-8 is refused at the signature
    assert response.headers["content-type"] == "application/problem+json"


def test_the_monitor_endpoint_checks_its_token_before_the_body(client: TestClient) -> None:
    garbage = b"[" * 100_000
    for authorization in ("", "Bearer wrong", "Bearer t\xe9st".encode("latin-1")):
        headers: dict[str, str | bytes] = {"content-type": "application/json"}
        if authorization:
            headers["authorization"] = authorization
        body = assert_problem(client.post("/v1/monitors/alertmanager", content=garbage, headers=headers), 401)
        assert body["detail"] == "a valid bearer token is required"
    # authenticated, the same body is a 422 naming it, not a crash
    body = assert_problem(
        client.post(
            "/v1/monitors/alertmanager",
            content=garbage,
            headers={"content-type": "application/json", "authorization": f"Bearer {MONITOR_TOKEN}"},
        ),
        422,
    )
    assert body["errors"] == [{"field": "body", "message": "not valid JSON"}]


def test_an_oncall_token_with_non_ascii_bytes_is_a_401(client: TestClient) -> None:
    response = client.get("/v1/oncall/incidents", headers={"authorization": "Bearer t\xe9st\xff".encode("latin-1")})
    assert_problem(response, 401)
