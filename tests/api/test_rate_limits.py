"""Request limits (safety issue "Defence in depth"): the client API per token and per
address with Mastodon's X-RateLimit headers, OAuth per address and per client, one-time
login links per address, posting and answering per account, the inbox per sending domain
and address. Every refusal is 429 with Retry-After; counts are shared by two runtimes on one
database and are forgotten a period (and up to a tenth more: the slice they fell in) later,
so no interval of the period takes more than the limit, at a window's edge too. Time is
moved with the limiter's clock, never slept; ``scale`` shrinks the limits so a test reaches
them in a few requests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
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
    assert 0 < int(r.headers["retry-after"]) <= 330  # a period and a slice at most
    assert r.headers["x-ratelimit-remaining"] == "0"
    assert r.headers["access-control-allow-origin"] == "*"
    assert "error" in r.json()
    # Another token from the same address is not affected.
    other = client(authorization=f"Bearer {await token(runtime)}")
    assert (await other.get("/api/v1/accounts/verify_credentials")).status_code == 200
    # The hits are forgotten a period and a slice (30 s) later.
    move(timedelta(minutes=5))
    assert (await c.get("/api/v1/accounts/verify_credentials")).status_code == 429
    move(timedelta(seconds=30))
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


async def test_a_burst_at_a_windows_edge_is_held_to_the_limit(runtime: Runtime,
                                                               client: Client) -> None:
    """10 requests just before a 5-minute window ends and 10 more just after it started
    would be 20 in two seconds with fixed windows; the sliding count refuses the second
    burst until the first is forgotten, and says when, honestly."""
    runtime.limits.scale = 1 / 30  # 10 per 5 minutes per address
    move = freeze(runtime, START.replace(minute=4, second=59))
    c = client("192.0.2.90")
    for _ in range(10):
        assert (await c.get("/api/v1/instance")).status_code == 200
    move(timedelta(seconds=2))  # 12:05:01: a new fixed window
    r = await c.get("/api/v1/instance")
    assert r.status_code == 429
    # The burst fell in the slice 12:04:30-12:05:00, counted until 12:10:00.
    assert int(r.headers["retry-after"]) == 299
    assert r.headers["x-ratelimit-remaining"] == "0"
    move(timedelta(seconds=297))
    assert (await c.get("/api/v1/instance")).status_code == 429
    move(timedelta(seconds=2))  # 12:10:00
    r = await c.get("/api/v1/instance")
    assert r.status_code == 200
    # Counted: this hit and the refused one of 12:05:01 (the one of 12:09:58 was refused
    # without reaching the database).
    assert r.headers["x-ratelimit-remaining"] == "8"
    # Every hit counted now is forgotten once the slice 12:10:00-12:10:30 is.
    assert r.headers["x-ratelimit-reset"] == START.replace(minute=15, second=30).astimezone(
        UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def test_no_interval_of_the_period_takes_more_than_the_limit(runtime: Runtime) -> None:
    """A client that asks every 7 seconds for 40 minutes: every 5-minute interval holds at
    most 10 allowed hits, and the client still gets most of what the limit allows (hits
    are counted up to a slice longer, and the first refused hit after each wait counts)."""
    limit = Limit("test/steady", 10, timedelta(minutes=5))
    move = freeze(runtime)
    allowed: list[datetime] = []
    now = START
    for _ in range(40 * 60 // 7):
        if (await runtime.limits.hit(limit, "x")).allowed:
            allowed.append(now)
        move(timedelta(seconds=7))
        now += timedelta(seconds=7)
    for i, t in enumerate(allowed):
        assert len([u for u in allowed[i:] if u < t + limit.period]) <= limit.limit
    assert len(allowed) >= 0.8 * 10 * 40 / 5


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
    move(timedelta(minutes=5, seconds=30))
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
    assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 3960
    admin = await runtime.accounts.get_user("admin")
    with pytest.raises(RateLimited):
        await runtime.posts.create(admin, {"kind": "need", "title": "Groceries for four",
                                           "category": "food"})
    move(timedelta(hours=1, minutes=6))
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
    move(timedelta(minutes=5, seconds=30))
    assert (await client("192.0.2.82").post("/inbox", content=b"{}", headers=headers)
            ).status_code != 429
