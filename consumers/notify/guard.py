"""The webhook target guard: a customer's URL must not point the notifier into our own network.

Every address the host resolves to is checked (an attacker's DNS may answer with one public and one private
address); private, loopback, link-local, multicast, reserved and unspecified addresses are refused unless the
allowlist admits them, by host name or by network. Tests and the demo admit loopback through settings; the
default allowlist is empty.

The check is also made where the connection is made: webhooks go through ``GuardedTransport``, whose network backend
resolves the host once, checks those addresses and connects to one of exactly those, so a second, different DNS
answer (DNS rebinding) is never used. Every new connection is checked; a kept-alive one stays on its address.
Resolutions are cached briefly (addresses with their verdict), so a batch to one host resolves it once.
"""

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

from consumers.notify.errors import FinalDelivery, RetryableDelivery

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses the name resolves to, as text; raises OSError when it does not resolve.
Resolver = Callable[[str, int], Awaitable[Iterable[str]]]
# httpcore's own socket option type (not exported), spelled out so connect_tcp overrides it exactly.
SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class RefusedTarget(FinalDelivery):
    """The target resolves to an address the guard refuses; final, since another attempt would be refused too.
    Raised by ``TargetGuard.check`` and, at connect time, out of an ``httpx`` client on ``GuardedTransport``."""


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _forbidden(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _forbidden(address.ipv4_mapped)
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _normal(host: str) -> str:
    return host.lower().rstrip(".")


class TargetGuard:
    def __init__(self, allow: Iterable[str] = (), cache_s: float = 30.0, resolver: Resolver = system_resolver) -> None:
        self._hosts: set[str] = set()
        self._networks: list[IPNetwork] = []
        for entry in allow:
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._hosts.add(_normal(entry))
        self._cache_s = cache_s
        self._resolver = resolver
        # host -> (expiry, the admitted addresses or the reason they are refused)
        self._decided: dict[str, tuple[float, list[IPAddress] | str]] = {}

    def _admitted(self, address: IPAddress) -> bool:
        return not _forbidden(address) or any(address in network for network in self._networks)

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            answers = list(await self._resolver(host, port))
        except OSError as exc:
            # A name that does not resolve now may resolve later (DNS outage): retry, like a refused connection.
            raise RetryableDelivery(f"target {host} does not resolve: {exc.strerror or exc}") from None
        if not answers:
            raise RetryableDelivery(f"target {host} does not resolve: no addresses")
        # dict.fromkeys: once each, in the resolver's order (which is the order to try them in)
        return list(dict.fromkeys(ipaddress.ip_address(answer) for answer in answers))

    async def addresses(self, host: str, port: int) -> list[IPAddress] | None:
        """The addresses a connection to ``host`` may use, every one admitted; None when the allowlist names the
        host (then it is connected to by name). Raises RefusedTarget when any address is refused, and
        RetryableDelivery when the name does not resolve."""
        name = _normal(host)
        if name in self._hosts:
            return None
        now = time.monotonic()
        cached = self._decided.get(name)
        if cached is None or cached[0] < now:
            resolved = await self._resolve(host, port)
            refused = [a for a in resolved if not self._admitted(a)]
            verdict = f"webhook target {name} resolves to a refused address {refused[0]}" if refused else resolved
            cached = (now + self._cache_s, verdict)
            self._decided[name] = cached
        if isinstance(cached[1], str):
            raise RefusedTarget(cached[1])
        return cached[1]

    async def check(self, url: str) -> None:
        """Raise FinalDelivery when the URL may not be called (the connection is checked again when made)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FinalDelivery("webhook URL is not an http(s) URL")
        await self.addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend behind the guard: resolve once, check every address, connect to one of them.

    httpcore starts TLS on the returned stream itself, with the URL's host name as server_hostname, so SNI and
    certificate checks are those of the name, not of the address connected to.
    """

    def __init__(self, guard: TargetGuard, backend: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._guard = guard
        # What httpcore's default (AutoBackend, not exported) picks under asyncio.
        self._backend = backend if backend is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # The connect timeout covers resolving and every address tried, as it does in httpcore's own backend.
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._guard.addresses(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        if addresses is None:
            return await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            try:
                return await self._backend.connect_tcp(str(address), port, remaining, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the next address may answer (e.g. IPv6 listed first on an IPv4-only network)
        raise failure or httpcore.ConnectTimeout(f"connecting to {host} timed out")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with every new connection made through ``GuardedBackend``.

    httpx takes no network backend, so the connection pool it builds is replaced by the same pool on the guarded
    backend; httpx maps httpcore's errors as usual, and lets the guard's RefusedTarget (final) and
    RetryableDelivery out of ``post()`` unchanged. httpx is pinned, and tests/unit/test_guard.py fails should a
    change in it bypass the guard. No proxy is read from the environment: a proxy would connect past the guard.
    """

    def __init__(
        self,
        guard: TargetGuard,
        limits: httpx.Limits | None = None,
        verify: ssl.SSLContext | bool = True,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's default
        super().__init__(verify=verify, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard, backend),
        )
