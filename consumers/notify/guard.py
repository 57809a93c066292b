"""The webhook target guard: a customer's URL must not point the notifier into our own network.

Every address the host resolves to is checked (an attacker's DNS may answer with one public and one private
address); only globally routable addresses pass: private, loopback, link-local (cloud metadata at
169.254.169.254), carrier-grade NAT (100.64.0.0/10, where some clouds keep their metadata service), multicast,
reserved and unspecified addresses are refused, and so is an IPv6 address that wraps a refused IPv4 one
(IPv4-mapped and -compatible, 6to4, Teredo, NAT64; translation prefixes are not globally routable
and are refused whatever they wrap), unless the allowlist admits them, by host name or by network.
Host names are resolved by the system, so an IPv4 address in any notation (``0x7f.1``, ``2130706433``,
``0177.0.0.1``) is judged as the address it is connected to. With ``require_https`` an ``http://`` target is
refused. Tests and the demo admit loopback and plain HTTP through settings; the default allowlist is empty.

The check is also made where the connection is made: webhooks go through ``GuardedTransport``, an httpx transport
(httpx's public transport interface) over an httpcore connection pool whose network backend resolves the host once,
checks those addresses and connects to one of exactly those, so a second, different DNS answer (DNS rebinding) is
never used. Every new connection is checked; a kept-alive one stays on its address. Resolutions are cached briefly
(addresses with their verdict), so a batch to one host resolves it once.
"""

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
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


# NAT64 prefixes (RFC 6052 well-known, RFC 8215 local use): the last 32 bits are the IPv4 address reached.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _wrapped_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: mapped, compatible, 6to4, Teredo (server and client), NAT64."""
    found: list[ipaddress.IPv4Address] = []
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address in _IPV4_COMPATIBLE or any(address in prefix for prefix in _NAT64):
        found.append(low32)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def _forbidden(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        wrapped = _wrapped_ipv4(address)
        if address.ipv4_mapped is not None:
            return _forbidden(address.ipv4_mapped)  # the IPv4 address itself, reached over a v6 socket
        if any(_forbidden(inner) for inner in wrapped):
            return True
    return not address.is_global or address.is_multicast or address.is_reserved or address.is_unspecified


def _normal(host: str) -> str:
    return host.lower().rstrip(".")


class TargetGuard:
    def __init__(
        self,
        allow: Iterable[str] = (),
        cache_s: float = 30.0,
        resolver: Resolver = system_resolver,
        require_https: bool = False,
    ) -> None:
        self._require_https = require_https
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
        if self._require_https and parts.scheme != "https":
            raise FinalDelivery("webhook URL is not https (notify.require_https)")
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


# httpcore's errors as httpx raises them (httpx maps them the same way inside its own transport).
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.TimeoutException, httpx.TimeoutException),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except tuple(core for core, _ in _HTTPX_ERRORS) as exc:
        mapped = next(ours for core, ours in _HTTPX_ERRORS if isinstance(exc, core))  # the most specific first
        raise mapped(str(exc)) from exc


class _Body(httpx.AsyncByteStream):
    """An httpcore response body as httpx reads it, its errors mapped."""

    def __init__(self, stream: AsyncIterable[bytes], close: Callable[[], Awaitable[None]]) -> None:
        self._stream = stream
        self._close = close

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        await self._close()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose every new connection is made through ``GuardedBackend``.

    httpx's own transport takes no network backend, so this one is built on its public transport interface
    (``AsyncBaseTransport``) over httpcore's connection pool on the guarded backend, as httpx builds its own.
    The guard's RefusedTarget (final) and RetryableDelivery come out of ``post()`` unchanged. No proxy is read
    from the environment: a proxy would connect past the guard.
    """

    def __init__(
        self,
        guard: TargetGuard,
        limits: httpx.Limits | None = None,
        verify: ssl.SSLContext | bool = True,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's default
        self._connections = httpcore.AsyncConnectionPool(
            ssl_context=verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard, backend),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = await self._connections.handle_async_request(core_request)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream, response.aclose),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._connections.aclose()
