"""gzip for text answers (api/middleware.py ``compression``), against a real uvicorn server
on loopback: pages, CSS, JSON and ActivityPub JSON are compressed when the client accepts
gzip and sent as they are otherwise; small answers, images and the streaming API's events
are never compressed (an event must reach the app at once, not wait in a compressor)."""

from __future__ import annotations

import asyncio
import gzip
from urllib.parse import urlsplit

import httpx

from fediaid.services.runtime import Runtime
from tests.api.test_mastodon_streaming import base as base  # the fixture: a real server
from tests.api.test_mastodon_streaming import member
from tests.api.test_web_posts import Login, form
from tests.api.test_web_posts import login as login  # the fixture

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


async def _raw(client: httpx.AsyncClient, path: str, headers: dict[str, str]
               ) -> tuple[httpx.Response, bytes]:
    """The answer and its body exactly as sent (not decoded)."""
    async with client.stream("GET", path, headers=headers) as r:
        return r, b"".join([chunk async for chunk in r.aiter_raw()])


async def test_text_answers_are_gzipped_only_when_accepted(base: str, runtime: Runtime
                                                          ) -> None:
    group = urlsplit(runtime.identity.group.uri).path
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        for path, accept in (("/", "text/html"), ("/static/site.css", "text/css"),
                             (group, "application/activity+json"),
                             ("/api/v1/instance", "application/json")):
            plain, plain_body = await _raw(client, path, IDENTITY | {"Accept": accept})
            assert plain.status_code == 200, path
            assert "content-encoding" not in plain.headers, path
            assert len(plain_body) >= 500, path  # big enough to be worth compressing
            packed, packed_body = await _raw(client, path, GZIP | {"Accept": accept})
            assert packed.headers["content-encoding"] == "gzip", path
            assert "accept-encoding" in packed.headers["vary"].lower(), path
            assert packed.headers["content-type"] == plain.headers["content-type"], path
            assert packed_body[:2] == b"\x1f\x8b", path
            assert gzip.decompress(packed_body) == plain_body, path
            assert len(packed_body) < len(plain_body) * 0.7, path
            # The security headers are still there.
            assert packed.headers["x-content-type-options"] == "nosniff"

        # Small answers and images go as they are.
        r, body = await _raw(client, "/healthz", GZIP)
        assert "content-encoding" not in r.headers and len(body) < 500
        r, body = await _raw(client, "/static/avatar.png", GZIP)
        assert r.status_code == 200 and "content-encoding" not in r.headers
        assert body[:4] == b"\x89PNG"


async def test_streaming_events_are_not_compressed(base: str, runtime: Runtime) -> None:
    _, token = await member(runtime, "admin")
    async with httpx.AsyncClient(base_url=base, timeout=10) as client, client.stream(
            "GET", "/api/v1/streaming/public",
            headers=GZIP | {"Authorization": f"Bearer {token}"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in r.headers
        # The opening comment arrives at once, as sent.
        first = await asyncio.wait_for(anext(r.aiter_raw()), 5)
        assert first == b":)\n\n"


async def test_the_form_token_differs_on_every_page(runtime: Runtime, login: Login) -> None:
    """Compressed pages must not repeat a secret byte for byte next to words a stranger
    can choose (BREACH): each page's CSRF token is masked afresh, and each one works."""
    admin = await login("admin")
    pages = [(await admin.get("/admin/settings")).text for _ in range(3)]
    tokens = [form(page, "/admin/settings")["csrf"] for page in pages]
    assert len(set(tokens)) == 3
    for token in tokens:
        r = await admin.post("/admin/settings",
                             data=form(pages[0], "/admin/settings") | {"csrf": token})
        assert r.status_code == 303
    tampered = tokens[0][:-1] + ("0" if tokens[0][-1] != "0" else "1")
    r = await admin.post("/admin/settings",
                         data=form(pages[0], "/admin/settings") | {"csrf": tampered})
    assert r.status_code == 403
