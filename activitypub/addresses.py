"""Which addresses outgoing requests may connect to (the SSRF policy), without any HTTP
client: the delivery transport and the httpx backend in ``activitypub.net`` both use it."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from activitypub.errors import UnsafeAddress


def is_public_address(address: str) -> bool:
    """True only for globally routable unicast addresses."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


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
