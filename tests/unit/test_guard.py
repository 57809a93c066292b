"""The webhook target guard where the connection is made: the address checked is the address connected to.

A scripted resolver plays the customer's DNS server, so a test can answer the guard's check with one address and
the connection's lookup with another (DNS rebinding). The receiver is a real HTTP server on 127.0.0.1.
"""

import asyncio
import re
import socket
import ssl
from collections.abc import Iterable, Sequence

import httpcore
import httpx
import pytest

from breachwire.dev.samples import notice_from_report, sample_report
from breachwire.dev.sinks import WebhookSink
from consumers.assess.rules import RuleBook
from consumers.notify.delivery import Attempt, Dispatcher
from consumers.notify.errors import FinalDelivery, RetryableDelivery
from consumers.notify.guard import GuardedTransport, RefusedTarget, SocketOption, TargetGuard
from consumers.notify.render import Renderer
from consumers.notify.webhook import WebhookSender
from runtime import resources
from runtime.datamap import DataMap
from runtime.settings import WebhookSettings, load_settings
from schemas import Audience, Channel

PUBLIC = "93.184.215.14"  # never connected to: tests that admit it connect through a recording mock backend
PATH = "/hooks/acme-eu"
NOTICE_ID = "notice-guard-1"
BODY = b'{"notice": "guard test"}'
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
REFUSED_LOOPBACK = re.escape("refused address 127.0.0.1")


class ScriptedDns:
    """Answers lookup n with the n-th answer (the last one repeats); an OSError answer is raised."""

    def __init__(self, *answers: Sequence[str] | OSError) -> None:
        self._answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        answer = self._answers[min(len(self.lookups), len(self._answers)) - 1]
        if isinstance(answer, OSError):
            raise answer
        return list(answer)


class HangingDns:
    async def __call__(self, host: str, port: int) -> list[str]:
        await asyncio.sleep(3600)
        return []


NXDOMAIN = socket.gaierror(socket.EAI_NONAME, "Name or service not known")


class RecordingStream(httpcore.AsyncMockStream):
    def __init__(self, buffer: list[bytes], tls_names: list[str | None]) -> None:
        super().__init__(buffer)
        self._tls_names = tls_names

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        self._tls_names.append(server_hostname)
        return self


class RecordingBackend(httpcore.AsyncMockBackend):
    """Answers every connection with canned responses, noting where it was asked to connect (no network)."""

    def __init__(self, buffer: list[bytes]) -> None:
        super().__init__(buffer)
        self.connects: list[tuple[str, int]] = []
        self.tls_names: list[str | None] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        return RecordingStream(list(self._buffer), self.tls_names)


def secret(datamap: DataMap) -> str:
    key = datamap.customers["acme-eu"].webhook_secret
    assert key is not None
    return key.get_secret_value()


def send(guard: TargetGuard, url: str, datamap: DataMap) -> str:
    """One webhook through WebhookSender on a guarded client, as the notifier sends it."""

    async def run() -> str:
        async with httpx.AsyncClient(transport=GuardedTransport(guard)) as client:
            return await WebhookSender(WebhookSettings(timeout_s=5), client, guard).send(
                url, secret(datamap), NOTICE_ID, BODY
            )

    return asyncio.run(run())


def post(transport: GuardedTransport, *urls: str, timeout_s: float = 5) -> list[int]:
    """Bare POSTs through the transport, no check before: what the transport alone lets through."""

    async def run() -> list[int]:
        async with httpx.AsyncClient(transport=transport) as client:
            return [(await client.post(url, content=BODY, timeout=timeout_s)).status_code for url in urls]

    return asyncio.run(run())


def untouched(sink: WebhookSink) -> bool:
    return sink.attempts == {} and sink.rejected == 0 and sink.received == []


def test_a_rebinding_answer_at_connect_time_never_reaches_the_local_server(
    webhook_sink: WebhookSink, datamap: DataMap
) -> None:
    # The check hears a public address, the connection's lookup 127.0.0.1; "localhost" is what any second,
    # unguarded lookup (the system's, as httpx made before) would also turn into this machine.
    dns = ScriptedDns([PUBLIC], ["127.0.0.1"])
    guard = TargetGuard(cache_s=0, resolver=dns)
    with pytest.raises(FinalDelivery, match=REFUSED_LOOPBACK):
        send(guard, f"http://localhost:{webhook_sink.port}{PATH}", datamap)
    assert dns.lookups == ["localhost", "localhost"]  # the check's, then the connection's
    assert untouched(webhook_sink)


def test_the_transport_alone_refuses_a_rebound_name(webhook_sink: WebhookSink) -> None:
    dns = ScriptedDns(["127.0.0.1"])
    with pytest.raises(RefusedTarget, match=REFUSED_LOOPBACK):
        post(GuardedTransport(TargetGuard(resolver=dns)), f"http://localhost:{webhook_sink.port}{PATH}")
    assert untouched(webhook_sink)


def test_the_connection_goes_to_the_address_that_was_checked() -> None:
    # The check's answer is cached; a different later answer is not looked up, let alone connected to.
    dns = ScriptedDns([PUBLIC], ["127.0.0.1"])
    guard = TargetGuard(resolver=dns)
    backend = RecordingBackend([OK])

    async def run() -> int:
        await guard.check("http://hooks.example/in")
        async with httpx.AsyncClient(transport=GuardedTransport(guard, backend=backend)) as client:
            return (await client.post("http://hooks.example/in", content=BODY)).status_code

    assert asyncio.run(run()) == 200
    assert backend.connects == [(PUBLIC, 80)]
    assert dns.lookups == ["hooks.example"]


def test_a_kept_alive_connection_stays_on_its_checked_address() -> None:
    dns = ScriptedDns([PUBLIC], ["127.0.0.1"])
    backend = RecordingBackend([OK, OK])
    transport = GuardedTransport(TargetGuard(cache_s=0, resolver=dns), backend=backend)
    assert post(transport, "http://hooks.example/in", "http://hooks.example/in") == [200, 200]
    assert backend.connects == [(PUBLIC, 80)]  # one connection, reused; no second lookup to rebind
    assert dns.lookups == ["hooks.example"]


def test_tls_is_started_with_the_host_name_not_the_address() -> None:
    backend = RecordingBackend([OK])
    transport = GuardedTransport(TargetGuard(resolver=ScriptedDns([PUBLIC])), backend=backend)
    assert post(transport, "https://hooks.example/in") == [200]
    assert backend.connects == [(PUBLIC, 443)]
    assert backend.tls_names == ["hooks.example"]  # SNI and certificate check on the name


def test_a_name_resolving_to_a_public_and_a_private_address_is_refused(
    webhook_sink: WebhookSink, datamap: DataMap
) -> None:
    url = f"http://localhost:{webhook_sink.port}{PATH}"
    with pytest.raises(FinalDelivery, match=REFUSED_LOOPBACK):
        send(TargetGuard(resolver=ScriptedDns([PUBLIC, "127.0.0.1"])), url, datamap)
    with pytest.raises(RefusedTarget, match=REFUSED_LOOPBACK):
        post(GuardedTransport(TargetGuard(resolver=ScriptedDns([PUBLIC, "127.0.0.1"]))), url)
    assert untouched(webhook_sink)


def test_an_allowlisted_loopback_still_delivers(webhook_sink: WebhookSink, datamap: DataMap) -> None:
    dns = ScriptedDns(["127.0.0.1"])
    assert send(TargetGuard(["127.0.0.0/8"], resolver=dns), f"http://localhost:{webhook_sink.port}{PATH}", datamap) == (
        "HTTP 200"
    )
    assert send(TargetGuard(["127.0.0.0/8"]), webhook_sink.url(PATH), datamap) == "HTTP 200"  # the system resolver
    assert [h.webhook_id for h in webhook_sink.received] == [NOTICE_ID, NOTICE_ID]


def test_a_host_the_allowlist_names_is_connected_to_by_name(webhook_sink: WebhookSink, datamap: DataMap) -> None:
    dns = ScriptedDns(["10.0.0.1"])  # never asked: the name itself is admitted
    assert send(TargetGuard(["localhost"], resolver=dns), f"http://localhost:{webhook_sink.port}{PATH}", datamap) == (
        "HTTP 200"
    )
    assert dns.lookups == []
    assert [h.webhook_id for h in webhook_sink.received] == [NOTICE_ID]


def test_when_one_admitted_address_refuses_the_next_is_tried(webhook_sink: WebhookSink, datamap: DataMap) -> None:
    dns = ScriptedDns(["127.0.0.2", "127.0.0.1"])  # the receiver listens on 127.0.0.1 only
    assert send(
        TargetGuard(["127.0.0.0/8"], resolver=dns), f"http://hooks.example:{webhook_sink.port}{PATH}", datamap
    ) == ("HTTP 200")
    assert [h.webhook_id for h in webhook_sink.received] == [NOTICE_ID]


def test_a_name_that_does_not_resolve_is_retried_not_dead(webhook_sink: WebhookSink, datamap: DataMap) -> None:
    url = f"http://hooks.example:{webhook_sink.port}{PATH}"
    with pytest.raises(RetryableDelivery, match="does not resolve"):
        send(TargetGuard(resolver=ScriptedDns(NXDOMAIN)), url, datamap)
    # resolved for the check, gone by the time of the connection
    with pytest.raises(RetryableDelivery, match="does not resolve"):
        send(TargetGuard(["127.0.0.0/8"], cache_s=0, resolver=ScriptedDns(["127.0.0.1"], NXDOMAIN)), url, datamap)
    with pytest.raises(RetryableDelivery, match="does not resolve"):
        post(GuardedTransport(TargetGuard(resolver=ScriptedDns(NXDOMAIN))), url)
    assert untouched(webhook_sink)


def test_a_lookup_that_hangs_ends_as_a_connect_timeout() -> None:
    with pytest.raises(httpx.ConnectTimeout):
        post(GuardedTransport(TargetGuard(resolver=HangingDns())), "http://hooks.example/in", timeout_s=0.2)


def test_the_notifier_connects_where_the_guard_resolved(
    webhook_sink: WebhookSink, datamap: DataMap, rules: RuleBook
) -> None:
    # "hooks.example" resolves nowhere but through the guard: a delivery shows the notifier's webhook client
    # connects to the guard's addresses; a mixed answer is a final failure, not one to retry.
    settings = load_settings(
        datamap_dir=resources.example_datamap(),
        notify={"allow_targets": ["127.0.0.0/8"], "require_https": False},
    )
    notice = notice_from_report(
        sample_report(),
        datamap,
        Audience.CONTROLLER,
        Channel.WEBHOOK,
        rules=rules,
        customer=datamap.customers["acme-eu"],
    ).model_copy(update={"address": f"http://hooks.example:{webhook_sink.port}{PATH}"})

    async def deliver(answer: list[str]) -> Attempt:
        dispatcher = Dispatcher(
            settings, datamap, Renderer(settings.templates_dir, rules), resolver=ScriptedDns(answer)
        )
        try:
            return await dispatcher.deliver(notice)
        finally:
            await dispatcher.aclose()

    refused = asyncio.run(deliver([PUBLIC, "10.0.0.1"]))  # 10/8 is not on the allowlist
    assert isinstance(refused.error, FinalDelivery) and not refused.retryable
    assert "refused address 10.0.0.1" in str(refused.error)
    assert untouched(webhook_sink)
    delivered = asyncio.run(deliver(["127.0.0.1"]))
    assert delivered.delivered, delivered.error
    assert [h.webhook_id for h in webhook_sink.received] == [notice.notice_id]
