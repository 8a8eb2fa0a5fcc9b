"""The fan-out yardstick for bench/fanout.py: sign and POST, nothing else.

No database, no queue, no retries: N coroutines take inbox URLs from a list, sign each
delivery with ``activitypub.signatures.sign_cavage`` (RSA-2048, one signature per delivery,
exactly as the app does) and POST it. Variants (``--mode``):

- ``aiohttp``: aiohttp ClientSession, signing inline on the event loop;
- ``aiohttp-threads``: same, but signatures are made in a 2-thread pool in chunks, because
  OpenSSL releases the GIL while signing, so a second core can sign meanwhile;
- ``raw``: a minimal keep-alive HTTP/1.1 client on asyncio streams (no library at all), with
  the same threaded signing (``raw-inline``: signing on the event loop).

Prints one JSON line: {"mode", "n", "seconds", "per_s", "statuses"}.
Usage: python bench/_yardstick.py --key PEM_FILE --key-id ID --body FILE --urls FILE --mode M
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from activitypub.keys import PrivateKey, load_private_key
from activitypub.signatures import sign_cavage

CT = "application/activity+json"


def sign(url: str, body: bytes, key_id: str, key: PrivateKey) -> dict[str, str]:
    headers = {"Content-Type": CT, "Accept": CT}
    return {**headers, **sign_cavage(method="POST", url=url, headers=headers, body=body,
                                     key_id=key_id, private_key=key, now=time.time())}


async def signed_stream(urls: list[str], body: bytes, key_id: str, key: PrivateKey,
                        threads: bool, queue: asyncio.Queue[tuple[str, dict[str, str]] | None],
                        workers: int) -> None:
    """Feed (url, headers) into ``queue``; with ``threads``, sign chunks in a thread pool."""
    if not threads:
        for url in urls:
            await queue.put((url, sign(url, body, key_id, key)))
    else:
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(2)
        chunk = 25

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


async def run_aiohttp(urls: list[str], body: bytes, key_id: str, key: PrivateKey,
                      conc: int, threads: bool) -> Counter[int]:
    import aiohttp

    statuses: Counter[int] = Counter()
    queue: asyncio.Queue[tuple[str, dict[str, str]] | None] = asyncio.Queue(maxsize=2 * conc)
    connector = aiohttp.TCPConnector(limit=conc, limit_per_host=8)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            while (item := await queue.get()) is not None:
                url, headers = item
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    statuses[resp.status] += 1

        await asyncio.gather(signed_stream(urls, body, key_id, key, threads, queue, conc),
                             *(worker() for _ in range(conc)))
    return statuses


async def run_raw(urls: list[str], body: bytes, key_id: str, key: PrivateKey, conc: int,
                  threads: bool) -> Counter[int]:
    """Minimal keep-alive client: one idle-connection list per host:port."""
    statuses: Counter[int] = Counter()
    queue: asyncio.Queue[tuple[str, dict[str, str]] | None] = asyncio.Queue(maxsize=2 * conc)
    idle: dict[tuple[str, int], list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}

    async def post(url: str, headers: dict[str, str]) -> int:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 80
        assert host == "127.0.0.1"
        pool = idle.setdefault((host, port), [])
        reader, writer = pool.pop() if pool else await asyncio.open_connection(host, port)
        head = f"POST {parts.path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + f"Content-Length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body)
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if length:
            await reader.readexactly(length)
        pool.append((reader, writer))
        return int(status_line.split(b" ", 2)[1])

    async def worker() -> None:
        while (item := await queue.get()) is not None:
            statuses[await post(*item)] += 1

    await asyncio.gather(signed_stream(urls, body, key_id, key, threads, queue, conc),
                         *(worker() for _ in range(conc)))
    for pool in idle.values():
        for _, w in pool:
            w.close()
    return statuses


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--key", required=True)
    ap.add_argument("--key-id", required=True)
    ap.add_argument("--body", required=True)
    ap.add_argument("--urls", required=True)
    ap.add_argument("--mode", choices=["aiohttp", "aiohttp-threads", "raw", "raw-inline"],
                    default="aiohttp")
    ap.add_argument("--concurrency", type=int, default=50)
    args = ap.parse_args()
    key = load_private_key(Path(args.key).read_text())
    body = Path(args.body).read_bytes()
    urls = Path(args.urls).read_text().split()
    assert all(u.startswith("http://127.0.0.1:") for u in urls)

    async def go() -> tuple[float, Counter[int]]:
        start = time.perf_counter()
        if args.mode.startswith("raw"):
            st = await run_raw(urls, body, args.key_id, key, args.concurrency,
                                args.mode == "raw")
        else:
            st = await run_aiohttp(urls, body, args.key_id, key, args.concurrency,
                                   args.mode == "aiohttp-threads")
        return time.perf_counter() - start, st

    import uvloop

    seconds, statuses = uvloop.run(go())
    print(json.dumps({"mode": args.mode, "n": len(urls), "seconds": seconds,
                      "per_s": len(urls) / seconds, "statuses": dict(statuses)}))


if __name__ == "__main__":
    main()
