"""Ids that cannot exist (beyond 64 bits, zero, negative, non-ASCII digits) are not found
(or refused as 400), never a 500, on SQLite and PostgreSQL (where a bigint overflow used to
escape as a server error). Every route with an id in its path is tried, with every method,
by an anonymous visitor and by a signed-in coordinator (web session and API token), and so
are ids given in query strings, forms and group keys."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from api.app import create_app, routes
from fediaid.domain.actors import Role
from fediaid.domain.ids import MAX_ID, parse_id
from fediaid.services.runtime import Runtime
from tests.api.test_web_pages import csrf, log_in_with_link

HUGE = ["9223372036854775808", "99999999999999999999", "18446744073709551616",
        "9" * 40, "\u00b2", "\u0661", "0", "-1", "00000000000000000000001"]
ID_PARAMS = re.compile(r"\{(id|rid|group_key)(?::\w+)?\}")


def _id_routes() -> Iterator[tuple[str, str]]:
    def walk(rs: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
        for r in rs:
            if isinstance(r, Mount):
                yield from walk(r.routes, prefix + r.path)
            elif isinstance(r, Route) and ID_PARAMS.search(r.path):
                for method in sorted(r.methods or []):
                    if method not in ("HEAD", "OPTIONS"):
                        yield method, prefix + r.path
    yield from walk(routes(), "")


def _paths(template: str, value: str) -> Iterator[str]:
    def fill(key: str) -> str:
        return {"action": "accept"}.get(key, value)

    base = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: fill(m.group(1)), template)
    yield base
    if "{group_key}" in template:
        for kind in ("ungrouped", "favourite", "reblog", "follow"):
            yield template.replace("{group_key}", f"{kind}-{value}")


def test_parse_id() -> None:
    assert parse_id("1") == 1 and parse_id(str(MAX_ID)) == MAX_ID
    assert parse_id(7) == 7
    for bad in [*HUGE, "", " 1", "1 ", "+1", "1.0", "0x10", "1_000", None, True, 1.0,
                MAX_ID + 1, -5, 0, ["1"]]:
        assert parse_id(bad) is None, bad


@pytest.fixture
async def coordinator(runtime: Runtime) -> tuple[httpx.AsyncClient, str]:
    rt = runtime
    await rt.accounts.create_user("coord", role=Role.COORDINATOR)
    token = await rt.accounts.create_token("coord", scopes=["read", "write", "follow"])
    c = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(rt),
                                                             raise_app_exceptions=False),
                          base_url=rt.settings.base_url)
    page = await log_in_with_link(c, rt, "coord")
    c.headers["Authorization"] = f"Bearer {token}"
    return c, csrf(page)


async def test_ids_in_paths_are_never_a_server_error(
        runtime: Runtime, coordinator: tuple[httpx.AsyncClient, str]) -> None:
    signed_in, token = coordinator
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime),
                                                             raise_app_exceptions=False),
                                  base_url=runtime.settings.base_url)
    failures = []
    for method, template in _id_routes():
        for value in HUGE:
            for path in _paths(template, value):
                for c in (anonymous, signed_in):
                    for accept in ("application/json", "text/html"):
                        kw: dict[str, Any] = {"headers": {"Accept": accept}}
                        if method in ("POST", "PUT", "PATCH"):
                            kw["data"] = {"csrf": token, "status": "x", "text": "x"}
                        r = await c.request(method, path, **kw)
                        if r.status_code >= 500 or r.status_code not in (
                                400, 401, 403, 404, 405, 422):
                            failures.append((method, template, r.status_code))
    await anonymous.aclose()
    assert not failures, "\n".join(map(str, sorted(set(failures))))


async def test_ids_in_queries_and_forms_are_never_a_server_error(
        runtime: Runtime, coordinator: tuple[httpx.AsyncClient, str]) -> None:
    c, _token = coordinator
    failures = []
    for value in HUGE[:4]:
        requests: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", "/api/v1/timelines/public", {"params": {"max_id": value}}),
            ("GET", "/api/v1/timelines/home", {"params": {"since_id": value}}),
            ("GET", "/api/v1/notifications", {"params": {"min_id": value}}),
            ("GET", "/api/v2/notifications", {"params": {"max_id": value}}),
            ("GET", "/api/v1/statuses", {"params": {"id[]": [value, "1"]}}),
            ("GET", "/api/v1/accounts/relationships", {"params": {"id[]": value}}),
            ("GET", "/api/v1/accounts/familiar_followers", {"params": {"id[]": value}}),
            ("GET", "/api/v1/favourites", {"params": {"max_id": value}}),
            ("GET", "/api/v1/conversations", {"params": {"max_id": value}}),
            ("POST", "/api/v1/statuses", {"data": {"status": "hi",
                                                   "in_reply_to_id": value}}),
            ("POST", "/api/v1/statuses", {"data": {"status": "hi",
                                                   "media_ids[]": value}}),
            ("POST", "/api/v1/markers", {"data": {"notifications[last_read_id]": value,
                                                  "home[last_read_id]": value}}),
            ("POST", "/api/v1/notifications/dismiss", {"data": {"id": value}}),
            ("GET", "/api/fediaid/v1/posts", {"params": {"before": value}}),
            ("GET", "/posts", {"params": {"before": value},
                               "headers": {"Accept": "text/html"}}),
        ]
        for method, path, kw in requests:
            r = await c.request(method, path, **kw)
            if r.status_code >= 500:
                failures.append((method, path, str(kw), r.status_code))
    assert not failures, "\n".join(map(str, sorted(set(failures))))
