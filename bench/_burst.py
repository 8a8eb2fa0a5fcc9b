"""A fixed-size burst of pre-built HTTP/1.1 requests over keep-alive connections.

Used by bench/inbox_apply.py: sends every request of a request file (records
``<byte length>\\n<raw request>``, as bench/inbox.py writes them) exactly once, over
``--connections`` connections, as fast as the server answers, and prints one JSON line:
status counts, latency percentiles (ms), the wall-clock times of the first request and the
last response (``time.time()``, to line up with the server's database timestamps) and each
request's latency per second of the burst (p99 per second).

wrk (bench/inbox.py) runs for a duration and wraps around; a burst needs each request sent
once and every answer counted, with latencies of inbox requests only. The client is a bare
asyncio loop (uvloop) reading the status line and ``content-length``: ~20-30 us of CPU per
request, about what wrk costs. Loopback only.

    python bench/_burst.py --url http://127.0.0.1:PORT --requests FILE [--connections 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from urllib.parse import urlsplit


def load(path: Path) -> list[bytes]:
    data = path.read_bytes()
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        nl = data.index(b"\n", pos)
        size = int(data[pos:nl])
        out.append(data[nl + 1:nl + 1 + size])
        pos = nl + 1 + size
    return out


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


async def run(host: str, port: int, requests: list[bytes], connections: int
              ) -> dict[str, object]:
    assert host == "127.0.0.1", host  # loopback only
    next_index = 0
    statuses: dict[int, int] = {}
    latencies: list[tuple[float, float]] = []  # (time sent, seconds)
    errors = 0

    async def one_connection() -> None:
        nonlocal next_index, errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while next_index < len(requests):
                raw = requests[next_index]
                next_index += 1
                sent = time.perf_counter()
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                latencies.append((sent, time.perf_counter() - sent))
                statuses[status] = statuses.get(status, 0) + 1
                if b"connection: close" in head.lower():
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()

    t0_wall = time.time()
    t0 = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    t1 = time.perf_counter()
    lat = sorted(s for _, s in latencies)
    per_second: dict[int, list[float]] = {}
    for sent, s in latencies:
        per_second.setdefault(int(sent - t0), []).append(s)
    p99_by_second = [round(percentile(sorted(v), 99) * 1000, 1)
                     for _, v in sorted(per_second.items())]
    return {
        "sent": len(latencies), "statuses": statuses, "errors": errors,
        "c202": statuses.get(202, 0), "start_wall": t0_wall, "end_wall": t0_wall + (t1 - t0),
        "duration_s": t1 - t0,
        "p50_ms": percentile(lat, 50) * 1000, "p90_ms": percentile(lat, 90) * 1000,
        "p99_ms": percentile(lat, 99) * 1000, "max_ms": (lat[-1] if lat else 0.0) * 1000,
        "p99_ms_by_second": p99_by_second,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--requests", required=True, type=Path)
    ap.add_argument("--connections", type=int, default=50)
    args = ap.parse_args()
    parts = urlsplit(args.url)
    requests = load(args.requests)
    import uvloop

    result = uvloop.run(run(parts.hostname or "", parts.port or 80, requests,
                            args.connections))
    print("BURST_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
