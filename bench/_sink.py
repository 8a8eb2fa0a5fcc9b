"""A delivery sink for bench/fanout.py: answers 202 to any POST, on many loopback ports.

Raw asyncio (uvloop) protocol with a minimal HTTP/1.1 parser, so the sinks take as little of
the 2 cores as possible (they run beside the sender being measured). Each port stands for
one remote server; keep-alive is honoured. With ``--tls CHAIN_PEM`` the ports speak HTTPS
(a certificate from the benchmark's own CA).

It counts requests, signed requests (a ``Signature`` header with ``keyId`` and ``signature``,
plus a ``Digest``) and distinct paths, and keeps every request (headers; bodies once per
distinct body) so the benchmark can verify every signature afterwards, off the clock.
A plain-HTTP control port (``--control PORT``) answers ``GET /__stats`` (counters),
``GET /__requests`` (the kept requests) and ``GET /__reset`` (clears everything and closes
every delivery connection, so the next sender starts with cold connections).

Usage: python bench/_sink.py [--tls CHAIN_PEM] --control PORT PORT [PORT ...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import ssl
import time

STATS = {"requests": 0, "signed": 0, "first_at": 0.0, "last_at": 0.0}
PATHS: set[str] = set()
REQUESTS: list[dict[str, object]] = []
BODIES: dict[str, str] = {}
OPEN: set[Sink] = set()
SCHEME = "http"

ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"


def _reset() -> None:
    STATS.update(requests=0, signed=0, first_at=0.0, last_at=0.0)
    PATHS.clear()
    REQUESTS.clear()
    BODIES.clear()
    for sink in list(OPEN):
        if sink.transport is not None:
            sink.transport.close()


def _json(obj: object) -> bytes:
    body = json.dumps(obj).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


class Sink(asyncio.Protocol):
    def __init__(self, port: int, control: bool = False) -> None:
        self.port = port
        self.control = control
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's own class
        if not self.control:
            OPEN.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        OPEN.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            lines = head.split(b"\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4:end + 4 + length]
            self.buf = self.buf[end + 4 + length:]
            _method, path, _ = lines[0].split(b" ", 2)
            assert self.transport is not None
            if self.control:
                self.transport.write(self._control(path.decode()))
                continue
            self._count(path.decode(), headers, body)
            self.transport.write(ACCEPTED)

    def _control(self, path: str) -> bytes:
        if path == "/__stats":
            return _json({**STATS, "paths": len(PATHS)})
        if path == "/__requests":
            return _json({"requests": REQUESTS, "bodies": BODIES})
        if path == "/__reset":
            _reset()
            return _json({"ok": True})
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

    def _count(self, path: str, headers: dict[bytes, bytes], body: bytes) -> None:
        now = time.time()
        if not STATS["requests"]:
            STATS["first_at"] = now
        STATS["requests"] += 1
        STATS["last_at"] = now
        sig = headers.get(b"signature", b"")
        if b"keyId=" in sig and b"signature=" in sig and b"digest" in headers:
            STATS["signed"] += 1
        PATHS.add(f"{self.port}{path}")
        digest = hashlib.sha256(body).hexdigest()
        if digest not in BODIES:
            BODIES[digest] = base64.b64encode(body).decode()
        REQUESTS.append({
            "url": f"{SCHEME}://127.0.0.1:{self.port}{path}",
            "headers": {k.decode(): v.decode() for k, v in headers.items()},
            "body": digest,
        })


async def main(ports: list[int], control: int, tls: ssl.SSLContext | None) -> None:
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(lambda p=p: Sink(p), "127.0.0.1", p, backlog=1024,
                                        ssl=tls)
               for p in ports]
    servers.append(await loop.create_server(lambda: Sink(control, control=True),
                                            "127.0.0.1", control))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--tls", help="certificate chain and key (PEM): serve HTTPS")
    ap.add_argument("--control", type=int, required=True)
    ap.add_argument("ports", type=int, nargs="+")
    args = ap.parse_args()
    context = None
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls)
        SCHEME = "https"
    try:
        import uvloop

        uvloop.run(main(args.ports, args.control, context))
    except KeyboardInterrupt:
        pass
