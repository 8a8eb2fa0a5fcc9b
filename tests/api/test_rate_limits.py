"""Request limits (safety issue "Defence in depth"): the client API per token and per
address with Mastodon's X-RateLimit headers, OAuth per address and per client, one-time
login links per address, posting and answering per account, the inbox per sending domain
and address. Every refusal is 429 with Retry-After; counts are shared by two runtimes on one
database and start again with the next window. Time is moved with the limiter's clock,
never slept; ``scale`` shrinks the limits so a test reaches them in a few requests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from fediaid.domain import rate_limits
from fediaid.domain.rate_limits import Limit
from fediaid.errors import RateLimited
from fediaid.services.runtime import Runtime

Client = Callable[..., httpx.AsyncClient]
START = datetime(2030, 1, 1, 12, 0, 30).astimezone()


def freeze(rt: Runtime, at: datetime = START) -> Callable[[timedelta], None]:
    """Fix the limiter's clock at ``at`` (and turn the limits on at full size: the test
    runtime has them off); the returned function moves it forward."""
    if rt.limits.scale == 0:
        rt.limits.scale = 1
    now = [at]
    rt.limits.clock = lambda: now[0]  # type: ignore[method-assign]

    def move(by: timedelta) -> None:
        now[0] += by

    return move


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[Client]:
    made: list[httpx.AsyncClient] = []

    def make(ip: str = "198.51.100.7", rt: Runtime | None = None, **headers: str
             ) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=create_app(rt or runtime), client=(ip, 5555))
        c = httpx.AsyncClient(transport=transport, base_url=runtime.settings.base_url,
                              headers=headers)
        made.append(c)
        return c

    yield make
    for c in made:
        await c.aclose()


async def token(rt: Runtime) -> str:
    return await rt.accounts.create_token("admin", scopes=["read", "write"])


# -- the client API ----------------------------------------------------------------------

async def test_api_per_token_with_mastodon_headers(runtime: Runtime, client: Client) -> None:
    runtime.limits.scale = 0.01  # 3 requests per 5 minutes per token
    move = freeze(runtime)
    c = client(authorization=f"Bearer {await token(runtime)}")
    remaining = []
    for _ in range(3):
        r = await c.get("/api/v1/accounts/verify_credentials")
        assert r.status_code == 200
        assert r.headers["x-ratelimit-limit"] == "3"
        remaining.append(int(r.headers["x-ratelimit-remaining"]))
        assert r.headers["x-ratelimit-reset"].startswith("2030-01-01T")
    assert remaining == [2, 1, 0]
    r = await c.get("/api/v1/accounts/verify_credentials")
    assert r.status_code == 429
    assert 0 < int(r.headers["retry-after"]) <= 300
    assert r.headers["x-ratelimit-remaining"] == "0"
    assert r.headers["access-control-allow-origin"] == "*"
    assert "error" in r.json()
    # Another token from the same address is not affected.
    other = client(authorization=f"Bearer {await token(runtime)}")
    assert (await other.get("/api/v1/accounts/verify_credentials")).status_code == 200
    # The next window starts from zero.
    move(timedelta(minutes=5))
    assert (await c.get("/api/v1/accounts/verify_credentials")).status_code == 200


async def test_api_without_token_per_address(runtime: Runtime, client: Client) -> None:
    runtime.limits.scale = 0.01
    freeze(runtime)
    c = client("192.0.2.1")
    for _ in range(3):
        assert (await c.get("/api/v1/instance")).status_code == 200
    r = await c.get("/api/v1/instance")
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert (await client("192.0.2.2").get("/api/v1/instance")).status_code == 200
    # Preflights are never counted.
    r = await c.options("/api/v1/instance", headers={"Origin": "https://app.example",
                                                     "Access-Control-Request-Method": "GET"})
    assert r.status_code != 429


async def test_counts_are_shared_by_two_runtimes(runtime: Runtime, client: Client,
                                                 tmp_path: Path) -> None:
    (tmp_path / "second").mkdir()
    other = await Runtime.open(replace(runtime.settings, data_dir=tmp_path / "second"))
    try:
        for rt in (runtime, other):
            rt.limits.scale = 0.01
            freeze(rt)
        one, two = client("192.0.2.9"), client("192.0.2.9", rt=other)
        for _ in range(2):
            assert (await one.get("/api/v1/instance")).status_code == 200
        assert (await two.get("/api/v1/instance")).status_code == 200
        r = await two.get("/api/v1/instance")
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    finally:
        await other.close()


async def test_a_batched_limit_overshoots_by_less_than_a_batch(runtime: Runtime,
                                                               tmp_path: Path) -> None:
    """A generous limit counts in memory and writes once per batch, exactly near the end:
    a second process that has not written yet learns at its next write."""
    limit = Limit("test/batched", 100, timedelta(minutes=5), batch=10)
    (tmp_path / "second").mkdir()
    other = await Runtime.open(replace(runtime.settings, data_dir=tmp_path / "second"))
    try:
        for rt in (runtime, other):
            freeze(rt)
        for _ in range(100):
            assert (await runtime.limits.hit(limit, "x")).allowed
        assert not (await runtime.limits.hit(limit, "x")).allowed
        allowed = 0
        for _ in range(limit.batch):
            if (await other.limits.hit(limit, "x")).allowed:
                allowed += 1
        assert allowed < limit.batch
        assert not (await other.limits.hit(limit, "x")).allowed
    finally:
        await other.close()


async def test_limits_can_be_turned_off(runtime: Runtime) -> None:
    assert runtime.settings.rate_limit_scale == 0  # the test runtime's setting
    for _ in range(50):
        assert (await runtime.limits.hit(rate_limits.OAUTH_CLIENT, "c")).allowed


# -- OAuth and login links ---------------------------------------------------------------

async def test_oauth_per_address(runtime: Runtime, client: Client) -> None:
    runtime.limits.scale = 0.05  # 3 per 5 minutes
    move = freeze(runtime)
    c = client("192.0.2.20")
    for i in range(3):
        r = await c.post("/oauth/token", data={"grant_type": "client_credentials",
                                                "client_id": f"nope{i}", "client_secret": "x"})
        assert r.status_code == 401
    r = await c.post("/oauth/token", data={"grant_type": "client_credentials",
                                            "client_id": "nope", "client_secret": "x"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    r = await c.get("/oauth/authorize?client_id=x", headers={"Accept": "text/html"})
    assert r.status_code == 429 and r.headers["content-type"].startswith("text/html")
    move(timedelta(minutes=5))
    r = await c.post("/oauth/token", data={"grant_type": "client_credentials",
                                            "client_id": "nope", "client_secret": "x"})
    assert r.status_code == 401


async def test_oauth_token_per_client(runtime: Runtime, client: Client) -> None:
    runtime.limits.scale = 0.1  # 3 per client, 6 per address
    freeze(runtime)
    for i in range(3):
        r = await client(f"192.0.2.{30 + i}").post(
            "/oauth/token", data={"grant_type": "client_credentials",
                                  "client_id": "guessed", "client_secret": f"try{i}"})
        assert r.status_code == 401
    r = await client("192.0.2.40").post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "guessed",
                              "client_secret": "again"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert r.headers["access-control-allow-origin"] == "*"


async def test_login_links_per_address(runtime: Runtime, client: Client) -> None:
    runtime.limits.scale = 0.12  # 3 per 5 minutes
    freeze(runtime)
    c = client("192.0.2.60")
    for i in range(3):
        assert (await c.get(f"/login/guess{i}")).status_code == 401
    link = await runtime.accounts.login_link("admin")
    r = await c.get(link.removeprefix(runtime.settings.base_url))
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # The link was not used: from elsewhere it still works.
    r = await client("192.0.2.61").get(link.removeprefix(runtime.settings.base_url))
    assert r.status_code == 303


# -- posting and answering -----------------------------------------------------------------

async def test_posting_per_account(runtime: Runtime, client: Client) -> None:
    runtime.limits.scale = 0.1  # 3 posts an hour
    move = freeze(runtime)
    c = client(authorization=f"Bearer {await token(runtime)}")
    for i in range(3):
        r = await c.post("/api/v1/statuses", data={"status": f"note {i}"})
        assert r.status_code == 200, r.text
    r = await c.post("/api/v1/statuses", data={"status": "one too many"})
    assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 3600
    admin = await runtime.accounts.get_user("admin")
    with pytest.raises(RateLimited):
        await runtime.posts.create(admin, {"kind": "need", "title": "Groceries for four",
                                           "category": "food"})
    move(timedelta(hours=1))
    assert (await c.post("/api/v1/statuses", data={"status": "later"})).status_code == 200


async def test_answering_per_account(runtime: Runtime) -> None:
    freeze(runtime)
    member = await runtime.accounts.create_user("helper")
    for _ in range(rate_limits.ANSWERS_ACCOUNT.limit):
        await runtime.limits.hit(rate_limits.ANSWERS_ACCOUNT, str(member.id))
    with pytest.raises(RateLimited) as caught:
        await runtime.responses.respond(member, 1, message="I can help")
    assert caught.value.retry_after and caught.value.retry_after > 0


# -- the inbox ---------------------------------------------------------------------------

async def test_inbox_per_sending_domain(runtime: Runtime, client: Client) -> None:
    runtime.limits.scale = 0.0005  # 3 per 5 minutes
    move = freeze(runtime)
    headers = {"Content-Type": "application/activity+json",
               "Signature": 'keyId="https://busy.example/users/a#main-key",headers="date",'
                            'signature="AAAA"'}
    for i in range(3):  # refused for the signature, but counted first
        r = await client(f"192.0.2.{70 + i}").post("/inbox", content=b"{}", headers=headers)
        assert r.status_code != 429
    r = await client("192.0.2.80").post("/inbox", content=b"{}", headers=headers)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    other = dict(headers, Signature='keyId="https://quiet.example/users/b#main-key"')
    assert (await client("192.0.2.81").post("/inbox", content=b"{}", headers=other)
            ).status_code != 429
    move(timedelta(minutes=5))
    assert (await client("192.0.2.82").post("/inbox", content=b"{}", headers=headers)
            ).status_code != 429
