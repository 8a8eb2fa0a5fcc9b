"""The fan-out yardstick for bench/fanout.py: sign and POST, nothing else.

No database, no queue, no retries, no address checks: N coroutines take inbox URLs from a
list and POST each delivery, signed with ``activitypub.signatures.sign_cavage`` (RSA-2048,
one signature per delivery, exactly as the app does) in a 2-thread pool in chunks (OpenSSL
releases the GIL while signing, as in the app). Variants (``--mode``):

- ``httpx-aiohttp`` (the yardstick): the same client stack as fediaid, an
  ``httpx.AsyncClient`` over ``httpx_aiohttp.AiohttpTransport`` with an aiohttp session of at
  most 8 connections per server, without fediaid's policy layers;
- ``aiohttp``: aiohttp's own API on the same kind of session (for context: what the httpx
  layer costs).

The clock starts once imports are done and the key is loaded, with no connection open (as
cold as fediaid's pools at the start of a round), and stops at the last answer.
TLS: certificates are verified against ``SSL_CERT_FILE`` (the benchmark's CA).

Prints one JSON line: {"mode", "n", "seconds", "per_s", "statuses"}.
Usage: python bench/_yardstick.py --key PEM_FILE --key-id ID --body FILE --urls FILE --mode M
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from activitypub.keys import PrivateKey, load_private_key
from activitypub.signatures import sign_cavage

CT = "application/activity+json"
PER_HOST = 8

Post = Callable[[str, dict[str, str]], Awaitable[int]]


def sign(url: str, body: bytes, key_id: str, key: PrivateKey) -> dict[str, str]:
    headers = {"Content-Type": CT, "Accept": CT}
    return {**headers, **sign_cavage(method="POST", url=url, headers=headers, body=body,
                                     key_id=key_id, private_key=key, now=time.time())}


async def signed_stream(urls: list[str], body: bytes, key_id: str, key: PrivateKey,
                        queue: asyncio.Queue[tuple[str, dict[str, str]] | None],
                        workers: int) -> None:
    """Feed (url, headers) into ``queue``, signing chunks in a 2-thread pool."""
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(2)
    chunk = 16

    def sign_chunk(part: list[str]) -> list[tuple[str, dict[str, str]]]:
        return [(u, sign(u, body, key_id, key)) for u in part]

    pending = [loop.run_in_executor(pool, sign_chunk, urls[i:i + chunk])
               for i in range(0, min(len(urls), 4 * chunk), chunk)]
    nxt = min(len(urls), 4 * chunk)
    while pending:
        done = await pending.pop(0)
        if nxt < len(urls):
            pending.append(loop.run_in_executor(pool, sign_chunk, urls[nxt:nxt + chunk]))
            nxt += chunk
        for item in done:
            await queue.put(item)
    pool.shutdown()
    for _ in range(workers):
        await queue.put(None)


def session(conc: int, tls: ssl.SSLContext) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=conc, limit_per_host=PER_HOST, ssl=tls),
        cookie_jar=aiohttp.DummyCookieJar())


async def run(mode: str, urls: list[str], body: bytes, key_id: str, key: PrivateKey,
              conc: int) -> tuple[float, Counter[int]]:
    tls = httpx.create_ssl_context(trust_env=True)
    statuses: Counter[int] = Counter()
    queue: asyncio.Queue[tuple[str, dict[str, str]] | None] = asyncio.Queue(maxsize=2 * conc)
    start = time.perf_counter()
    if mode == "httpx-aiohttp":
        client = httpx.AsyncClient(
            transport=AiohttpTransport(verify=tls, client=lambda: session(conc, tls)))

        async def post(url: str, headers: dict[str, str]) -> int:
            resp = await client.post(url, content=body, headers=headers)
            return resp.status_code

        close: Callable[[], Awaitable[None]] = client.aclose
    else:
        s = session(conc, tls)

        async def post(url: str, headers: dict[str, str]) -> int:
            async with s.post(url, data=body, headers=headers) as resp:
                await resp.read()
                return resp.status

        close = s.close

    async def worker() -> None:
        while (item := await queue.get()) is not None:
            statuses[await post(*item)] += 1

    await asyncio.gather(signed_stream(urls, body, key_id, key, queue, conc),
                         *(worker() for _ in range(conc)))
    seconds = time.perf_counter() - start
    await close()
    return seconds, statuses


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--key", required=True)
    ap.add_argument("--key-id", required=True)
    ap.add_argument("--body", required=True)
    ap.add_argument("--urls", required=True)
    ap.add_argument("--mode", choices=["httpx-aiohttp", "aiohttp"], default="httpx-aiohttp")
    ap.add_argument("--concurrency", type=int, default=50)
    args = ap.parse_args()
    key = load_private_key(Path(args.key).read_text())
    body = Path(args.body).read_bytes()
    urls = Path(args.urls).read_text().split()
    assert all(u.startswith(("http://127.0.0.1:", "https://127.0.0.1:")) for u in urls)
    assert os.environ.get("SSL_CERT_FILE") or not urls[0].startswith("https")

    import uvloop

    seconds, statuses = uvloop.run(run(args.mode, urls, body, args.key_id, key,
                                       args.concurrency))
    print(json.dumps({"mode": args.mode, "n": len(urls), "seconds": seconds,
                      "per_s": len(urls) / seconds, "statuses": dict(statuses)}))


if __name__ == "__main__":
    main()
