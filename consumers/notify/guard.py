"""The webhook target guard: a customer's URL must not point the notifier into our own network.

Every address the host resolves to is checked (an attacker's DNS may answer with one public and one private
address); private, loopback, link-local, multicast, reserved and unspecified addresses are refused unless the
allowlist admits them, by host name or by network. Tests and the demo admit loopback through settings; the
default allowlist is empty. Decisions are cached briefly, so a batch to one host resolves it once.
"""

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from consumers.notify.errors import FinalDelivery, RetryableDelivery

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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


class TargetGuard:
    def __init__(self, allow: Iterable[str] = (), cache_s: float = 30.0) -> None:
        self._hosts: set[str] = set()
        self._networks: list[IPNetwork] = []
        for entry in allow:
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._hosts.add(entry.lower().rstrip("."))
        self._cache_s = cache_s
        self._decided: dict[str, tuple[float, str | None]] = {}

    def _admitted(self, address: IPAddress) -> bool:
        return not _forbidden(address) or any(address in network for network in self._networks)

    async def _addresses(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            # A name that does not resolve now may resolve later (DNS outage): retry, like a refused connection.
            raise RetryableDelivery(f"target {host} does not resolve: {exc.strerror}") from None
        return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]

    async def check(self, url: str) -> None:
        """Raise FinalDelivery when the URL may not be called."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FinalDelivery("webhook URL is not an http(s) URL")
        host = parts.hostname.lower().rstrip(".")
        if host in self._hosts:
            return
        now = time.monotonic()
        cached = self._decided.get(host)
        if cached is None or cached[0] < now:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            refused = [a for a in await self._addresses(host, port) if not self._admitted(a)]
            verdict = f"webhook target {host} resolves to a refused address {refused[0]}" if refused else None
            cached = (now + self._cache_s, verdict)
            self._decided[host] = cached
        if cached[1] is not None:
            raise FinalDelivery(cached[1])
