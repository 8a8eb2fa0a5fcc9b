"""Loaded at start by the `fediaid` processes of tests/deploy/test_caddy.py (their
PYTHONPATH holds this directory): the host names in FEDIAID_TEST_HOSTS resolve to 127.0.0.1,
as lines in /etc/hosts would (in asyncio's and uvloop's loops alike), so two servers on one
machine reach each other by name (through each one's Caddy, over HTTPS). Every other name
resolves as usual; the address policy still applies to what they resolve to
(FEDIAID_PEER_ADDRESSES allows 127.0.0.1)."""

from __future__ import annotations

import os
import socket
from typing import Any

_NAMES = frozenset(n.strip().lower() for n in os.environ.get("FEDIAID_TEST_HOSTS", "").split(",")
                   if n.strip())

if _NAMES:
    _getaddrinfo = socket.getaddrinfo

    def _mapped(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.lower().rstrip(".") in _NAMES:
            host = "127.0.0.1"
        return _getaddrinfo(host, port, *args, **kwargs)

    socket.getaddrinfo = _mapped

    # `fediaid` runs on uvloop, whose getaddrinfo is libuv's own, not the socket module's.
    try:
        import uvloop
    except ImportError:
        pass
    else:
        class _Loop(uvloop.Loop):  # type: ignore[misc]
            async def getaddrinfo(self, host: Any, port: Any, **kwargs: Any) -> Any:
                name = host.decode() if isinstance(host, bytes) else host
                if isinstance(name, str) and name.lower().rstrip(".") in _NAMES:
                    host = "127.0.0.1"
                return await super().getaddrinfo(host, port, **kwargs)

        uvloop.new_event_loop = _Loop
