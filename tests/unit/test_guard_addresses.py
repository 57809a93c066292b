"""Hostile webhook targets: every notation of an internal address is refused, whatever form the URL gives it.

Literal addresses and numeric host names go through the system resolver, exactly as a connection would; names
that a hostile DNS points inward go through a scripted resolver.
"""

import asyncio
from collections.abc import Sequence

import pytest

from consumers.notify.errors import FinalDelivery
from consumers.notify.guard import RefusedTarget, TargetGuard


class Dns:
    def __init__(self, answers: Sequence[str]) -> None:
        self._answers = list(answers)

    async def __call__(self, host: str, port: int) -> list[str]:
        return self._answers


def check(url: str, guard: TargetGuard | None = None) -> None:
    asyncio.run((guard or TargetGuard(cache_s=0)).check(url))


HOSTILE_LITERALS = [
    # loopback, in every IPv4 notation the system resolver accepts
    "http://127.0.0.1/",
    "http://127.1/",
    "http://127.0.1/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://017700000001/",
    "http://0177.0.0.1/",
    "http://0x7f.0x0.0x0.0x1/",
    "http://127.255.255.254/",
    # unspecified, "this network"
    "http://0/",
    "http://0.0.0.0/",
    "http://[::]/",
    # private ranges
    "http://10.0.0.1/",
    "http://012.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://3232235777/",  # 192.168.1.1 as one number
    # carrier-grade NAT; Alibaba Cloud's metadata service lives there
    "http://100.64.0.1/",
    "http://100.100.100.200/",
    "http://100.127.255.254/",
    # link-local: the cloud metadata address, in several spellings
    "http://169.254.169.254/",
    "http://0xa9fea9fe/",
    "http://2852039166/",
    "http://0251.0376.0251.0376/",
    "http://169.254.169.254:80/latest/meta-data/",
    # other special-purpose IPv4
    "http://192.0.0.1/",
    "http://198.18.0.1/",
    "http://192.0.2.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://224.0.0.1/",
    # IPv6 loopback, link-local, unique-local (AWS's IPv6 metadata address is fd00:ec2::254)
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",
    "http://[fc00::1]/",
    "http://[ff02::1]/",
    # IPv4-mapped and -compatible
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::ffff:100.64.0.1]/",
    "http://[::127.0.0.1]/",
    "http://[::10.0.0.1]/",
    # 6to4 (2002::/16 wraps the IPv4 address in bits 16-47)
    "http://[2002:7f00:1::]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://[2002:0a00:0001::]/",
    # NAT64, well-known and local-use prefixes
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::169.254.169.254]/",
    "http://[64:ff9b::a00:1]/",
    "http://[64:ff9b:1::a9fe:a9fe]/",
    # Teredo whose client is an internal address (client bits are inverted)
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
]


@pytest.mark.parametrize("url", HOSTILE_LITERALS)
def test_internal_addresses_are_refused_in_every_notation(url: str) -> None:
    with pytest.raises(RefusedTarget, match="refused address"):
        check(url)


HOSTILE_NAMES = [
    ["127.0.0.1"],
    ["169.254.169.254"],  # metadata.google.internal, instance-data, ...
    ["100.100.100.200"],
    ["10.1.2.3"],
    ["::1"],
    ["fd00:ec2::254"],
    ["::ffff:127.0.0.1"],
    ["64:ff9b::a9fe:a9fe"],
    ["2002:a9fe:a9fe::"],
    ["93.184.215.14", "192.168.0.10"],  # one public, one private answer: refused
]


@pytest.mark.parametrize("answers", HOSTILE_NAMES)
def test_names_resolving_inward_are_refused(answers: list[str]) -> None:
    with pytest.raises(RefusedTarget):
        check("https://hooks.customer.example/in", TargetGuard(cache_s=0, resolver=Dns(answers)))


@pytest.mark.parametrize(
    "answers",
    [["93.184.215.14"], ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"], ["::ffff:93.184.215.14"]],
)
def test_public_addresses_pass(answers: list[str]) -> None:
    check("https://hooks.customer.example/in", TargetGuard(cache_s=0, resolver=Dns(answers)))


def test_the_allowlist_admits_what_it_names() -> None:
    check("http://127.0.0.1:8080/hook", TargetGuard(["127.0.0.0/8"], cache_s=0))
    check("http://100.64.0.7/hook", TargetGuard(["100.64.0.0/10"], cache_s=0))
    with pytest.raises(RefusedTarget):
        check("http://100.64.0.7/hook", TargetGuard(["127.0.0.0/8"], cache_s=0))


def test_require_https_refuses_plain_http() -> None:
    guard = TargetGuard(cache_s=0, resolver=Dns(["93.184.215.14"]), require_https=True)
    with pytest.raises(FinalDelivery, match="not https"):
        check("http://hooks.customer.example/in", guard)
    check("https://hooks.customer.example/in", guard)


def test_there_are_at_least_forty_hostile_forms() -> None:
    assert len(HOSTILE_LITERALS) + len(HOSTILE_NAMES) >= 40
