"""Which addresses outgoing requests may connect to (the SSRF policy), without any HTTP
client: the delivery transport and the httpx backend in ``activitypub.net`` both use it.

The policy does not trust ``ipaddress``'s ``is_global``/``is_private`` alone: their tables
change between Python versions and call some special ranges global (192.0.0.0/24's
192.0.0.9, 6to4 addresses that wrap 127.0.0.1 or 10.x, 3fff::/20). Ours is explicit, from
the IANA IPv4 and IPv6 special-purpose address registries:

- IPv4: refused when in ``DENIED_V4`` (and, as a second opinion, when Python does not call
  it global).
- IPv6: only global unicast (2000::/3) outside ``DENIED_V6`` is allowed, and any IPv4
  address an IPv6 address wraps is judged as well: IPv4-mapped (::ffff:0:0/96), NAT64
  (64:ff9b::/96), 6to4 (2002::/16) and Teredo (2001::/32: the server and the XOR-ed
  client address). IPv4-compatible (::a.b.c.d), SIIT (::ffff:0:a.b.c.d) and local-use
  NAT64 (64:ff9b:1::/48) addresses are never allowed.

A development instance (``allow_private``) may connect anywhere: callers skip this check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from activitypub.errors import UnsafeAddress

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

DENIED_V4: tuple[ipaddress.IPv4Network, ...] = tuple(_V4(n) for n in (
    "0.0.0.0/8",           # "this network"
    "10.0.0.0/8",          # private
    "100.64.0.0/10",       # shared address space (carrier-grade NAT)
    "127.0.0.0/8",         # loopback
    "169.254.0.0/16",      # link-local (cloud metadata services live here)
    "172.16.0.0/12",       # private
    "192.0.0.0/24",        # IETF protocol assignments (incl. 192.0.0.9, .10, .170, .171)
    "192.0.2.0/24",        # documentation (TEST-NET-1)
    "192.31.196.0/24",     # AS112-v4
    "192.52.193.0/24",     # AMT
    "192.88.99.0/24",      # deprecated 6to4 relay anycast
    "192.168.0.0/16",      # private
    "192.175.48.0/24",     # direct delegation AS112 service
    "198.18.0.0/15",       # benchmarking
    "198.51.100.0/24",     # documentation (TEST-NET-2)
    "203.0.113.0/24",      # documentation (TEST-NET-3)
    "224.0.0.0/4",         # multicast
    "240.0.0.0/4",         # reserved (includes 255.255.255.255, limited broadcast)
))

GLOBAL_UNICAST_V6 = _V6("2000::/3")
DENIED_V6: tuple[ipaddress.IPv6Network, ...] = tuple(_V6(n) for n in (
    "2001::/23",           # IETF protocol assignments (Teredo 2001::/32 is judged apart)
    "2001:db8::/32",       # documentation
    "2620:4f:8000::/48",   # direct delegation AS112 service
    "3fff::/20",           # documentation (RFC 9637)
))
# Outside 2000::/3 and refused anyway, named for the reader: ::/128, ::1/128, ::/96
# (IPv4-compatible), ::ffff:0:0:0/96 (SIIT), 64:ff9b:1::/48 (local-use NAT64), 100::/64
# (discard), 5f00::/16 (SRv6), fc00::/7 (unique local), fe80::/10 (link-local), fec0::/10
# (site-local), ff00::/8 (multicast).
MAPPED = _V6("::ffff:0:0/96")
NAT64 = _V6("64:ff9b::/96")
SIX_TO_FOUR = _V6("2002::/16")
TEREDO = _V6("2001::/32")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for: IPv4-mapped, NAT64 (well-known
    prefix), 6to4, or Teredo (server, then client with its XOR undone). Empty otherwise."""
    if ip in MAPPED and ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in NAT64:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip in SIX_TO_FOUR and ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip in TEREDO and ip.teredo is not None:
        server, client = ip.teredo
        return [server, client]
    return []


def _public_v4(ip: ipaddress.IPv4Address) -> bool:
    return not any(ip in net for net in DENIED_V4) and ip.is_global


def _public_v6(ip: ipaddress.IPv6Address) -> bool:
    wrapped = embedded_ipv4(ip)
    if ip in MAPPED or ip in NAT64:
        return _public_v4(wrapped[0])
    if ip in TEREDO:
        return all(_public_v4(v4) for v4 in wrapped)
    if ip not in GLOBAL_UNICAST_V6 or any(ip in net for net in DENIED_V6):
        return False
    return all(_public_v4(v4) for v4 in wrapped)  # 6to4: the IPv4 address inside


def is_public_address(address: str) -> bool:
    """True only for globally routable unicast addresses (an IP literal, not a name)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return _public_v4(ip)
    return _public_v6(ip)


async def resolve_allowed(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Resolve ``host`` and return the addresses we may connect to (in resolver order).
    Raises UnsafeAddress when none is allowed."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        candidates = [host.strip("[]")]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise UnsafeAddress(f"cannot resolve {host}") from exc
        candidates = list(dict.fromkeys(str(info[4][0]) for info in infos))
    allowed = [a for a in candidates if allow_private or is_public_address(a)]
    if not allowed:
        raise UnsafeAddress(f"{host} resolves only to private or special addresses")
    return allowed
