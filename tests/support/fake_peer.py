"""A tiny fake ActivityPub server on 127.0.0.1 for the tests that make fediaid fetch from a
peer (a linked group's actor, its blocklist, needs picture, directory entry): a real HTTP
server in a thread of its own that answers GETs with JSON documents as
``application/activity+json`` and records every request it gets, so a test can check what
was fetched and verify the HTTP signatures on it.

    peer = FakePeer({"/groups/g": lambda: {"id": peer.actor, ...},
                     "/list.json": {"type": "DomainBlocklist", ...}})
    ...
    peer.requests  # [(path, headers), ...], header names in lower case
    peer.close()

``documents`` is either a mapping of path to a document, or a function of the path that
returns the document (``None``: 404). In the mapping, a value may itself be a function
without arguments, called at each request (a document that names the peer's URLs, or one
the test changes); the mapping is kept, not copied, so the test may add paths to it after
the server has started (once ``base`` is known). A document is JSON (a dict or a list,
serialised here) or ``bytes``, sent as they are (too big, not JSON). A path that is not in
the mapping answers 404; every request is recorded, a 404 too. ``signers`` verifies the
HTTP signatures of the recorded GETs of a path against an instance's own actors' keys.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from activitypub.keys import load_public_key
from activitypub.verify import ResolvedKey, verify_request
from fediaid.services.runtime import Runtime
from fediaid.storage import actors as actors_repo

AP = "application/activity+json"

Document = dict[str, Any] | list[Any] | bytes
Documents = Mapping[str, Document | Callable[[], Document | None]] | Callable[
    [str], Document | None]


class FakePeer:
    """``base`` (``http://127.0.0.1:PORT``), ``domain`` (``127.0.0.1:PORT``) and ``actor``
    (``base`` + ``actor_path``) are known as soon as it is made; ``requests`` lists the
    ``(path, headers)`` of every GET, in order, with the header names in lower case."""

    def __init__(self, documents: Documents | None = None, *,
                 actor_path: str = "/groups/g") -> None:
        self.documents: Documents = {} if documents is None else documents
        self.requests: list[tuple[str, dict[str, str]]] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                peer.requests.append((self.path, {k.lower(): v
                                                  for k, v in self.headers.items()}))
                doc = peer.document(self.path)
                if doc is None:
                    self.send_error(404)
                    return
                body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", AP)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.domain = f"127.0.0.1:{self.server.server_address[1]}"
        self.base = f"http://{self.domain}"
        self.actor = self.base + actor_path
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def document(self, path: str) -> Document | None:
        """What a GET of ``path`` answers (``None``: 404)."""
        if not isinstance(self.documents, Mapping):
            return self.documents(path)
        doc = self.documents.get(path)
        return doc() if callable(doc) else doc

    @property
    def paths(self) -> list[str]:
        """The path of every request, in order."""
        return [path for path, _ in self.requests]

    async def signers(self, path: str, rt: Runtime) -> list[str]:
        """Who signed each GET of ``path``, in order: the request's signature verified
        against the keys ``rt``'s group and instance actors publish (only those two; a
        request not signed by one of them fails)."""
        async with rt.db.read() as conn:
            keys = {a.key_id: a for a in (
                await actors_repo.find_by_uri(conn, rt.identity.group.uri),
                await actors_repo.find_by_uri(conn, rt.identity.instance.uri))
                if a is not None}

        async def resolve(key_id: str, refresh: bool) -> ResolvedKey:
            actor = keys[key_id]
            assert actor.public_key_pem is not None
            return ResolvedKey(key_id, actor.uri, load_public_key(actor.public_key_pem))

        out = []
        for got, headers in self.requests:
            if got == path:
                verified = await verify_request(
                    method="GET", url=self.base + path, headers=headers | {"host": self.domain},
                    body=None, resolve_key=resolve, now=time.time())
                out.append(verified.owner)
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
