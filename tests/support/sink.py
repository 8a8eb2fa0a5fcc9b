"""A sink for deliveries: many distinct inboxes on one loopback port, run as its own process.

    python -m tests.support.sink --port P --inboxes 500 --delay 0.04 --log FILE
        [--key-id KEYID --key-pem PEMFILE]

``POST /inbox/{n}`` (0 <= n < inboxes) waits ``delay`` seconds, records the delivery and
answers 202. Every delivery is appended to ``--log`` as one JSON line
``{"path", "id", "type", "sig", "t"}`` (with ``--bodies``, the whole activity too, as
``"body"``; written and flushed before the 202, so a delivery the
sender saw acknowledged is always in the file). ``sig`` is ``"valid"`` when the request
carries an HTTP signature that verifies against the given key (``--key-pem``) with keyId
``--key-id``, ``"invalid"`` when it does not, ``"missing"`` when there is none, and
``"present"`` when no key was given to check it with.

``GET /_stats`` answers the counts as JSON: requests, deliveries (distinct (path, id)
pairs), duplicates, inboxes (distinct paths), signatures by outcome, and gets.
Any other GET is recorded (``{"method": "GET", "path", "t"}`` in ``--log``, counted in
``gets``) and answers 404: a test can tell that nobody fetched from the sink.
Anything else answers 404.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

from activitypub.errors import SignatureError
from activitypub.keys import PublicKey, load_public_key
from activitypub.verify import parse_request_signature


class Sink:
    def __init__(self, *, port: int, inboxes: int, delay: float, log: Path,
                 key_id: str | None, key: PublicKey | None, bodies: bool = False) -> None:
        self.bodies = bodies
        self.port = port
        self.inboxes = inboxes
        self.delay = delay
        self.log = log.open("a", encoding="utf-8")
        self.key_id = key_id
        self.key = key
        self.requests = 0
        self.pairs: Counter[tuple[str, str]] = Counter()
        self.paths: set[str] = set()
        self.sigs: Counter[str] = Counter()
        self.gets = 0

    def _check_signature(self, request: web.Request, body: bytes) -> str:
        # Header names are case-insensitive (httpx over aiohttp sends them in lower case):
        # ask aiohttp's case-insensitive mapping, not a dict copy of it.
        if "Signature" not in request.headers and "Signature-Input" not in request.headers:
            return "missing"
        headers = dict(request.headers)
        if self.key is None:
            return "present"
        url = f"http://127.0.0.1:{self.port}{request.path_qs}"
        try:
            signed = parse_request_signature(method=request.method, url=url, headers=headers,
                                             body=body, now=time.time())
            if signed.key_id != self.key_id:
                return "invalid"
            signed.verify(self.key)
        except SignatureError:
            return "invalid"
        return "valid"

    async def inbox(self, request: web.Request) -> web.Response:
        raw = request.match_info["n"]
        if not raw.isdigit() or int(raw) >= self.inboxes:
            return web.Response(status=404)
        body = await request.read()
        sig = self._check_signature(request, body)
        try:
            doc: Any = json.loads(body)
        except ValueError:
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        if self.delay:
            await asyncio.sleep(self.delay)
        entry = {"path": request.path, "id": doc.get("id"), "type": doc.get("type"), "sig": sig,
                 "t": round(time.time(), 4)}
        if self.bodies:
            entry["body"] = doc
        self.log.write(json.dumps(entry) + "\n")
        self.log.flush()
        self.requests += 1
        self.pairs[(request.path, str(doc.get("id")))] += 1
        self.paths.add(request.path)
        self.sigs[sig] += 1
        return web.Response(status=202)

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({
            "requests": self.requests,
            "deliveries": len(self.pairs),
            "duplicates": self.requests - len(self.pairs),
            "inboxes": len(self.paths),
            "signatures": dict(self.sigs),
            "gets": self.gets,
        })

    async def other_get(self, request: web.Request) -> web.Response:
        self.gets += 1
        entry = {"method": "GET", "path": request.path, "t": round(time.time(), 4)}
        self.log.write(json.dumps(entry) + "\n")
        self.log.flush()
        return web.Response(status=404)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/inbox/{n}", self.inbox)
        app.router.add_get("/_stats", self.stats)
        app.router.add_get("/{tail:.*}", self.other_get)
        return app


def read_log(path: Path) -> list[dict[str, Any]]:
    """The deliveries a sink recorded (for tests)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--inboxes", type=int, default=500)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--log", type=Path, required=True)
    p.add_argument("--key-id")
    p.add_argument("--key-pem", type=Path)
    p.add_argument("--bodies", action="store_true", help="log each activity whole")
    args = p.parse_args()
    key = load_public_key(args.key_pem.read_text()) if args.key_pem else None
    sink = Sink(port=args.port, inboxes=args.inboxes, delay=args.delay, log=args.log,
                key_id=args.key_id, key=key, bodies=args.bodies)
    web.run_app(sink.app(), host="127.0.0.1", port=args.port, print=None,
                access_log=None, shutdown_timeout=1)


if __name__ == "__main__":
    main()
