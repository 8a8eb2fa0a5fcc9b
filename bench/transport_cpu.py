"""Micro-benchmark: event-loop CPU per POST of the two delivery transports.

Starts one sink (bench/_sink.py) on 127.0.0.1 and sends 5,000 unsigned 1.5 KB POSTs (after
500 to warm up) through ``AiohttpTransport`` and ``HttpTransport`` alternately, 50 at a time,
with the headers a signed delivery carries. Prints POSTs/s and the event loop's CPU per POST
(thread CPU time of the main thread), twice each. No target; it explains bench/fanout.py.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH, HOST, PY, Procs, free_port, wait_http

from fediaid.federation.transport import AiohttpTransport, HttpTransport

HEADERS = {
    "Content-Type": "application/activity+json",
    "Date": "Mon, 23 Nov 2026 17:00:00 GMT",
    "Digest": "SHA-256=" + "A" * 44,
    "Signature": 'keyId="https://example.org/groups/elm#main-key",algorithm="rsa-sha256",'
                 'headers="(request-target) host date digest content-type",signature="'
                 + "A" * 344 + '"',
}


async def measure(cls: type[AiohttpTransport] | type[HttpTransport], url: str
                  ) -> tuple[float, float]:
    transport = cls(allow_private=True, timeout=10.0, concurrency=50, user_agent="bench/1")
    body = b"x" * 1500

    async def worker(n: int) -> None:
        for _ in range(n):
            result = await transport.post(url, body, HEADERS)
            assert result.status == 202, result

    await asyncio.gather(*(worker(10) for _ in range(50)))
    cpu, wall = time.thread_time(), time.perf_counter()
    await asyncio.gather(*(worker(100) for _ in range(50)))
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    await transport.aclose()
    return 5000 / wall, cpu / 5000 * 1e6


def main() -> int:
    import uvloop

    with Procs() as procs:
        port = free_port()
        procs.start([PY, str(BENCH / "_sink.py"), str(port)])
        wait_http(f"http://{HOST}:{port}/__stats")
        url = f"http://{HOST}:{port}/users/x/inbox"
        for cls in (AiohttpTransport, HttpTransport, AiohttpTransport, HttpTransport):
            rate, us = uvloop.run(measure(cls, url))
            print(f"{cls.__name__:18s} {rate:7,.0f} POST/s, event loop CPU {us:4.0f} us/POST")
    return 0


if __name__ == "__main__":
    sys.exit(main())
