"""The address policy (``activitypub.addresses``) judged on addresses alone: no connection is
opened. Special-purpose ranges (the IANA IPv4 and IPv6 special-purpose registries) are
refused by our own table, not by whatever this Python's ``ipaddress`` happens to call global,
and IPv4 addresses wrapped in IPv6 (mapped, IPv4-compatible, NAT64, 6to4, Teredo) are judged
by the IPv4 address inside."""

from __future__ import annotations

import ipaddress

import pytest

from activitypub.addresses import embedded_ipv4, is_public_address, resolve_allowed
from activitypub.errors import UnsafeAddress

NOT_PUBLIC = [
    # IPv4 special-purpose registry (and multicast, reserved, broadcast)
    "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254",
    "127.0.0.1", "127.255.255.254", "169.254.169.254", "172.16.0.1", "172.31.255.255",
    "192.0.0.1", "192.0.0.9", "192.0.0.10", "192.0.0.170", "192.0.2.1", "192.88.99.1",
    "192.168.0.1", "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.254", "255.255.255.255",
    # IPv6 special-purpose registry
    "::", "::1", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "ff02::1", "ff0e::1",
    "fec0::1", "100::1", "100::ffff", "2001:2::1", "2001:db8::1", "2001:db8:ffff::1",
    "2001:10::1", "2001:20::1", "3fff::1", "5f00::1", "64:ff9b:1::a00:1",
    "64:ff9b:1::808:808",
    # IPv4 wrapped in IPv6: the IPv4 address inside is not public
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:0.0.0.0",
    "::127.0.0.1", "::10.0.0.1", "::8.8.8.8",       # IPv4-compatible (deprecated): never
    "::ffff:0:127.0.0.1", "::ffff:0:8.8.8.8",       # SIIT IPv4-translated: never
    "64:ff9b::127.0.0.1", "64:ff9b::10.1.2.3", "64:ff9b::192.168.1.1",  # NAT64
    "2002:7f00:1::", "2002:7f00:1::1", "2002:a00:1::1", "2002:c0a8:101::1",  # 6to4
    "2002:a9fe:a9fe::1", "2002::1",
    # Teredo: server 65.54.227.120, client 127.0.0.1 / 10.0.0.1 (XOR-ed in the last 32 bits)
    "2001:0:4136:e378:8000:63bf:80ff:fffe", "2001:0:4136:e378:8000:63bf:f5ff:fffe",
    # Teredo with a private server address
    "2001:0:a00:1:8000:63bf:f7f7:f7f7",
    # not addresses
    "", "localhost", "example.com", "1.2.3", "1.2.3.4.5", "::g", "[::1]",
]

PUBLIC = [
    "93.184.216.34", "8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.1",
    "172.15.255.255", "172.32.0.1", "192.0.1.1", "192.0.3.1", "198.17.255.255",
    "198.20.0.1", "223.255.255.255", "11.0.0.1",
    "2606:2800:220:1:248:1893:25c8:1946", "2a00:1450:4001:82a::200e", "2001:4860::8888",
    "::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1",
    # Teredo: server 65.54.227.120, client 8.8.8.8
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_special_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_global_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


def test_embedded_ipv4_is_unwrapped() -> None:
    def v4(a: str) -> list[str]:
        return [str(x) for x in embedded_ipv4(ipaddress.IPv6Address(a))]

    assert v4("::ffff:127.0.0.1") == ["127.0.0.1"]
    assert v4("64:ff9b::10.1.2.3") == ["10.1.2.3"]
    assert v4("2002:7f00:1::5") == ["127.0.0.1"]
    assert v4("2001:0:4136:e378:8000:63bf:80ff:fffe") == ["65.54.227.120", "127.0.0.1"]
    assert v4("2606:2800:220:1:248:1893:25c8:1946") == []


async def test_literals_are_judged_without_resolving_and_dev_allows_them() -> None:
    for literal in ("127.0.0.1", "[::1]", "2002:7f00:1::1", "[64:ff9b::7f00:1]", "192.0.0.9"):
        with pytest.raises(UnsafeAddress):
            await resolve_allowed(literal, 443, allow_private=False)
        # A development instance talks to peers on loopback and private addresses.
        assert await resolve_allowed(literal, 443, allow_private=True) == [literal.strip("[]")]
    assert await resolve_allowed("8.8.8.8", 443, allow_private=False) == ["8.8.8.8"]
