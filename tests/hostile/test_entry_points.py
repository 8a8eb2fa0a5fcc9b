"""Hostile input at every entry point other than the inbox (see test_inbox_hostile.py):
the JSON API, the client API, forms, uploads, static and media paths, remote content.
Each answer is a clear 4xx or the input is neutralised: never a 500, never a state change,
never script that runs in a browser. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
from html.parser import HTMLParser

import httpx
import pytest
from sqlalchemy import func, select

from fediaid.services.runtime import Runtime
from fediaid.storage.tables import posts, statuses

XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">click</a>',
    '"><svg onload=alert(1)>',
    "<iframe src=//evil.example></iframe>",
    '<style>body{display:none}</style><p style="x:expression(alert(1))">hi</p>',
]


class _Live(HTMLParser):
    """Collects what a browser would run or load: dangerous elements, event handlers,
    ``javascript:`` URLs, inline styles."""

    BAD_TAGS = {"script", "iframe", "svg", "style", "object", "embed", "math", "base",
                "form", "meta", "link"}

    def __init__(self, *, page: bool) -> None:
        super().__init__()
        self.found: list[str] = []
        # Pages have their own forms; user content never brings one.
        self.bad = self.BAD_TAGS - {"form"} if page else self.BAD_TAGS

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.bad:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f"{tag}[{name}]")
            if name in ("href", "src") and value and (
                    value.strip().lower().startswith(("javascript:", "data:", "vbscript:"))):
                self.found.append(f"{tag}[{name}={value}]")


async def _token(rt: Runtime, name: str, *, coordinator: bool = False) -> dict[str, str]:
    from fediaid.domain.actors import Role

    await rt.accounts.create_user(name, role=Role.COORDINATOR if coordinator else Role.MEMBER)
    token = await rt.accounts.create_token(name, scopes=["read", "write", "follow"])
    return {"Authorization": f"Bearer {token}"}


async def _count(rt: Runtime, table) -> int:  # type: ignore[no-untyped-def]
    async with rt.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


def _no_live_markup(html: str, *, page: bool = False) -> None:
    """No hostile markup survives as markup (escaped text is fine). A page may carry its
    own stylesheet link and meta tags in its head; only its body is judged."""
    if page:
        html = html[html.find("<body"):]
    parser = _Live(page=page)
    parser.feed(html)
    assert not parser.found, parser.found


async def test_xss_in_every_text_field_is_neutralised(client: httpx.AsyncClient,
                                                      runtime: Runtime) -> None:
    auth = await _token(runtime, "maria")
    for i, payload in enumerate(XSS):
        r = await client.post("/api/fediaid/v1/posts", headers=auth, json={
            "kind": "need", "title": f"Help {i} {payload}", "description": payload,
            "quantity": 1})
        assert r.status_code in (200, 201, 422), r.text
        r = await client.post("/api/v1/statuses", headers=auth,
                              data={"status": f"note {i} {payload}",
                                    "spoiler_text": payload})
        assert r.status_code in (200, 422), r.text
        if r.status_code == 200:
            _no_live_markup(r.json()["content"])
            # spoiler_text is plain text in Mastodon's API (apps show it as text), so it
            # comes back as typed; the pages escape it (checked below).
    r = await client.patch("/api/v1/accounts/update_credentials", headers=auth,
                           data={"display_name": XSS[1][:30], "note": XSS[2]})
    assert r.status_code in (200, 422)
    if r.status_code == 200:
        _no_live_markup(r.json()["note"])
    # Every page and feed that shows them.
    timeline = await client.get("/api/v1/timelines/public", headers=auth)
    for status in timeline.json():
        _no_live_markup(status["content"])
    await _login(client, runtime, "maria")  # the client keeps the session cookie
    for path in ("/", "/posts", "/@maria", "/users/maria"):
        page = await client.get(path)
        if page.status_code == 200 and "text/html" in page.headers.get("content-type", ""):
            _no_live_markup(page.text, page=True)
    listing = await client.get("/api/fediaid/v1/posts", headers=auth)
    assert listing.status_code == 200
    for post in listing.json()["items"] if isinstance(listing.json(), dict) else listing.json():
        for field in ("title", "description"):
            value = post.get(field) or ""
            # The JSON API returns text, not HTML: a client must escape it; it is stored
            # as typed, never "sanitised" into something else.
            assert isinstance(value, str)


async def _login(client: httpx.AsyncClient, runtime: Runtime, name: str) -> None:
    link = await runtime.accounts.login_link(name)
    r = await client.get(link.removeprefix(runtime.settings.base_url))
    assert r.status_code in (302, 303), r.text
    assert client.cookies


async def test_hostile_json_bodies_are_4xx_and_change_nothing(client: httpx.AsyncClient,
                                                             runtime: Runtime) -> None:
    auth = await _token(runtime, "maria")
    before = (await _count(runtime, posts), await _count(runtime, statuses))
    deep = b"[" * 10_000 + b"]" * 10_000
    bodies = [deep, b'{"kind": "need", "title": "\xff\xfe"}', b"\x00" * 64, b"{",
              b'{"kind": "need", "title": "x", "quantity": 1e999}',
              b'{"kind": "need", "title": "x", "quantity": -5}',
              b'{"kind": ["need"], "title": {"a": 1}}', b"null", b"[]"]
    for body in bodies:
        for path in ("/api/fediaid/v1/posts", "/api/fediaid/v1/intake", "/api/v1/statuses",
                     "/api/v1/reports", "/api/v1/apps"):
            r = await client.post(path, headers={**auth, "Content-Type": "application/json"},
                                  content=body)
            assert 400 <= r.status_code < 500, (path, body[:40], r.status_code, r.text[:200])
    assert (await _count(runtime, posts), await _count(runtime, statuses)) == before


async def test_a_50_mb_body_is_413_everywhere(client: httpx.AsyncClient,
                                             runtime: Runtime) -> None:
    auth = await _token(runtime, "maria")

    def chunks():  # type: ignore[no-untyped-def]
        async def gen():  # type: ignore[no-untyped-def]
            for _ in range(50):
                yield b"a" * (1024 * 1024)
        return gen()

    for path, ctype in (("/api/fediaid/v1/posts", "application/json"),
                        ("/api/v1/statuses", "application/json"),
                        ("/api/v1/statuses", "application/x-www-form-urlencoded"),
                        ("/login", "application/x-www-form-urlencoded"),
                        ("/api/v2/media", "multipart/form-data; boundary=xyz")):
        r = await client.post(path, headers={**auth, "Content-Type": ctype}, content=chunks())
        assert r.status_code in (400, 403, 413), (path, r.status_code, r.text[:200])
    assert await _count(runtime, statuses) == 0


async def test_bad_uploads_are_4xx(client: httpx.AsyncClient, runtime: Runtime) -> None:
    from PIL import Image

    auth = await _token(runtime, "maria")
    bomb = io.BytesIO()
    Image.new("1", (30_000, 30_000)).save(bomb, "PNG")  # tiny file, 900 megapixels
    files = [("empty.png", b"", "image/png"), ("a.png", b"not an image at all", "image/png"),
             ("a.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
              "image/svg+xml"),
             ("bomb.png", bomb.getvalue(), "image/png"),
             ("../../etc/passwd", b"GIF89a", "image/gif")]
    for name, data, ctype in files:
        r = await client.post("/api/v2/media", headers=auth, files={"file": (name, data, ctype)})
        assert 400 <= r.status_code < 500, (name, r.status_code, r.text[:200])


@pytest.mark.parametrize("path", [
    "/static/../fediaid.toml", "/static/%2e%2e/fediaid.toml", "/static/..%2ffediaid.db",
    "/media/../fediaid.db", "/media/%2e%2e/%2e%2e/etc/passwd", "/static/....//fediaid.toml",
    "/posts/99999999999999999999999999", "/posts/-1", "/api/v1/statuses/1e99",
    "/api/v1/accounts/99999999999999999999", "/api/fediaid/v1/posts/99999999999999999999",
    "/conversations/340282366920938463463374607431768211456", "/users/..%2f..%2fetc",
])
async def test_traversal_and_huge_ids_are_4xx(client: httpx.AsyncClient, runtime: Runtime,
                                              path: str) -> None:
    auth = await _token(runtime, "maria")
    r = await client.get(path, headers=auth)
    assert 400 <= r.status_code < 500, (path, r.status_code)
    assert b"secret_key" not in r.content and b"SQLite format" not in r.content


async def test_hostile_remote_content_is_sanitised_once_on_arrival(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    """A remote Note full of hostile markup, as the inbox worker applies it, is shown to
    apps and pages without any of it live."""
    import orjson

    from fediaid.jobs.inbox import InboxWorker
    from fediaid.storage import inbox as inbox_repo
    from tests.support.remote import remote_actor, store

    bob = remote_actor("bob")
    await store(runtime, bob)
    group = runtime.identity.group.uri
    note = {"id": f"{bob.uri}/notes/1", "type": "Note", "attributedTo": bob.uri,
            "to": ["https://www.w3.org/ns/activitystreams#Public"], "cc": [group],
            "content": "".join(XSS) + f'<a href="{group}" class="mention">@elm</a>',
            "summary": XSS[1], "tag": [{"type": "Mention", "href": group, "name": "@elm"}],
            "published": "2026-12-01T10:00:00Z"}
    create = {"id": f"{bob.uri}/create/1", "type": "Create", "actor": bob.uri,
              "to": note["to"], "cc": note["cc"], "object": note}
    async with runtime.db.write() as conn:
        await inbox_repo.insert_many(conn, [inbox_repo.new_row(
            activity_uri=create["id"], type_="Create", actor_uri=bob.uri,
            signer_key_id=bob.key_id, payload=orjson.dumps(create).decode())])
    worker = InboxWorker(runtime, name="hostile")
    while await worker.run_once():
        pass
    auth = await _token(runtime, "maria")
    r = await client.get("/api/v1/timelines/public", headers=auth)
    assert r.status_code == 200
    shown = [s for s in r.json() if s["uri"] == note["id"]]
    assert shown, "the remote note was not applied"
    _no_live_markup(shown[0]["content"])
