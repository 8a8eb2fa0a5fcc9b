"""Two-factor login (safety issue "Defence in depth"): enrolment with a QR code and a first
code, recovery codes shown once, login asks for a code after the right password and after a
one-time login link, wrong and replayed codes are refused, recovery codes work once, wrong
codes lock like wrong passwords, turning it off needs a code, and a group that requires it
sends coordinators to set it up first. The TOTP clock is moved, never slept."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest

from api.app import create_app
from fediaid.domain.actors import Role
from fediaid.domain.users import User
from fediaid.services.runtime import Runtime

HTML = {"Accept": "text/html"}
PASSWORD = "correct horse battery"
T0 = datetime(2030, 1, 1, 12, 0, 5, tzinfo=UTC)

Browser = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def browser(runtime: Runtime) -> AsyncIterator[Browser]:
    app = create_app(runtime)
    made: list[httpx.AsyncClient] = []

    def make(ip: str = "198.51.100.7") -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 5555)),
                              base_url=runtime.settings.base_url, headers=HTML)
        made.append(c)
        return c

    yield make
    for c in made:
        await c.aclose()


class Clock:
    def __init__(self, rt: Runtime) -> None:
        self.now = T0
        rt.two_factor.clock = lambda: self.now  # type: ignore[method-assign]

    def next_code(self, secret: str) -> str:
        """Move to the next 30-second step; the app's code there."""
        self.now += timedelta(seconds=30)
        return str(pyotp.TOTP(secret).at(self.now))


@pytest.fixture
async def admin(runtime: Runtime) -> User:
    user = await runtime.accounts.get_user("admin")
    await runtime.accounts.set_password(user, PASSWORD)
    return user


async def enrol(rt: Runtime, user: User, clock: Clock) -> tuple[str, list[str]]:
    pending = await rt.two_factor.begin(user)
    codes = await rt.two_factor.confirm(user, clock.next_code(pending.secret))
    return pending.secret, codes


def csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert m, "no CSRF field on the page"
    return m.group(1)


async def password_step(c: httpx.AsyncClient, name: str = "admin",
                        password: str = PASSWORD, next_: str = "") -> httpx.Response:
    page = await c.get("/login")
    data = {"csrf": csrf(page.text), "username": name, "password": password}
    if next_:
        data["next"] = next_
    return await c.post("/login", data=data)


async def code_step(c: httpx.AsyncClient, code: str, next_: str = "/") -> httpx.Response:
    page = await c.get("/login/code")
    assert page.status_code == 200
    return await c.post("/login/code", data={"csrf": csrf(page.text), "code": code,
                                             "next": next_})


def has_session(r: httpx.Response) -> bool:
    return "fediaid_session=" in r.headers.get("set-cookie", "")


# -- enrolment -----------------------------------------------------------------------------

async def test_enrolment_from_the_account_page(runtime: Runtime, admin: User,
                                               browser: Browser) -> None:
    clock = Clock(runtime)
    c = browser()
    assert (await password_step(c)).status_code == 303
    page = await c.get("/settings/two-factor")
    assert page.status_code == 200 and "Two-factor login is off" in page.text
    r = await c.post("/settings/two-factor", data={"csrf": csrf(page.text),
                                                   "action": "begin"})
    assert r.status_code == 303
    page = await c.get("/settings/two-factor")
    assert "<svg" in page.text and "<script" not in page.text
    secret = re.search(r"Key: <code>([A-Z2-7]+)</code>", page.text).group(1)  # type: ignore[union-attr]
    # The secret is stored encrypted, not as typed.
    from sqlalchemy import select

    from fediaid.storage.tables import two_factor
    async with runtime.db.read() as conn:
        stored = (await conn.execute(select(two_factor.c.secret))).scalar_one()
    assert secret not in stored
    r = await c.post("/settings/two-factor", data={"csrf": csrf(page.text),
                                                   "action": "confirm", "code": "000000"})
    assert r.status_code == 401 and not await runtime.two_factor.enabled(admin)
    r = await c.post("/settings/two-factor", data={"csrf": csrf(page.text),
                                                   "action": "confirm",
                                                   "code": clock.next_code(secret)})
    assert r.status_code == 200 and "Two-factor login is on" in r.text
    codes = re.findall(r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>", r.text)
    assert len(codes) == 10
    assert r.headers["cache-control"] == "private, no-store"
    page = await c.get("/settings/two-factor")
    assert codes[0] not in page.text and "Recovery codes left: 10" in page.text


async def test_members_cannot_enrol(runtime: Runtime) -> None:
    member = await runtime.accounts.create_user("maria")
    with pytest.raises(Exception, match="coordinators"):
        await runtime.two_factor.begin(member)


# -- logging in ----------------------------------------------------------------------------

async def test_login_asks_for_a_code_after_the_password(runtime: Runtime, admin: User,
                                                        browser: Browser) -> None:
    clock = Clock(runtime)
    secret, _ = await enrol(runtime, admin, clock)
    c = browser()
    r = await password_step(c, next_="/admin")
    assert r.status_code == 303 and r.headers["location"].startswith("/login/code")
    assert not has_session(r)
    assert (await c.get("/admin")).status_code in (401, 303)  # not logged in yet
    r = await code_step(c, "123456", "/admin")
    assert r.status_code == 401 and not has_session(r)
    code = clock.next_code(secret)
    r = await code_step(c, code, "/admin")
    assert r.status_code == 303 and r.headers["location"] == "/admin" and has_session(r)
    assert (await c.get("/admin")).status_code == 200
    # The same code again (someone who watched it typed): refused.
    other = browser("203.0.113.5")
    assert (await password_step(other)).status_code == 303
    r = await code_step(other, code)
    assert r.status_code == 401 and not has_session(r)
    # Without the password step there is nothing to answer.
    stranger = browser("203.0.113.6")
    assert (await stranger.get("/login/code")).status_code == 303
    stranger.cookies.set("fediaid_2fa", "1.99999999999.forged", path="/login")
    assert (await stranger.get("/login/code")).status_code == 303


async def test_a_recovery_code_works_once(runtime: Runtime, admin: User,
                                          browser: Browser) -> None:
    clock = Clock(runtime)
    _, codes = await enrol(runtime, admin, clock)
    c = browser()
    await password_step(c)
    r = await code_step(c, codes[3].upper().replace("-", " "))
    assert r.status_code == 303 and has_session(r)
    c2 = browser()
    await password_step(c2)
    assert (await code_step(c2, codes[3])).status_code == 401
    assert await runtime.two_factor.codes_left(admin) == 9


async def test_a_login_link_still_asks_for_the_code(runtime: Runtime, admin: User,
                                                    browser: Browser) -> None:
    clock = Clock(runtime)
    secret, _ = await enrol(runtime, admin, clock)
    link = await runtime.accounts.login_link("admin")
    c = browser()
    r = await c.get(link.removeprefix(runtime.settings.base_url))
    assert r.status_code == 303 and r.headers["location"].startswith("/login/code")
    assert not has_session(r)
    r = await code_step(c, clock.next_code(secret), "/settings/password?welcome=1")
    assert r.status_code == 303 and has_session(r)
    assert r.headers["location"] == "/settings/password?welcome=1"


async def test_wrong_codes_lock_like_wrong_passwords(runtime: Runtime, admin: User,
                                                     browser: Browser) -> None:
    clock = Clock(runtime)
    secret, _ = await enrol(runtime, admin, clock)
    c = browser()
    await password_step(c)
    for _ in range(5):
        assert (await code_step(c, "000000")).status_code == 401
    r = await code_step(c, clock.next_code(secret))
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert not has_session(r)


async def test_turning_it_off_needs_a_code(runtime: Runtime, admin: User) -> None:
    clock = Clock(runtime)
    secret, _ = await enrol(runtime, admin, clock)
    with pytest.raises(Exception, match="not right"):
        await runtime.two_factor.disable(admin, "000000")
    assert await runtime.two_factor.enabled(admin)
    await runtime.two_factor.disable(admin, clock.next_code(secret))
    assert not await runtime.two_factor.enabled(admin)
    assert await runtime.two_factor.codes_left(admin) == 0


# -- required for coordinators -------------------------------------------------------------

async def test_a_group_can_require_it_of_coordinators(runtime: Runtime, admin: User,
                                                      browser: Browser) -> None:
    clock = Clock(runtime)
    coordinator = await runtime.accounts.create_user("coord", role=Role.COORDINATOR)
    await runtime.accounts.set_password(coordinator, PASSWORD)
    member = await runtime.accounts.create_user("maria")
    await runtime.accounts.set_password(member, PASSWORD)
    with pytest.raises(Exception, match="yourself first"):
        await runtime.two_factor.set_required(admin, True)
    await enrol(runtime, admin, clock)
    await runtime.two_factor.set_required(admin, True)
    c = browser()
    assert (await password_step(c, "coord")).status_code == 303
    r = await c.get("/admin")
    assert r.status_code == 303 and r.headers["location"].startswith("/settings/two-factor")
    r = await c.get("/admin/settings")
    assert r.status_code == 303 and r.headers["location"].startswith("/settings/two-factor")
    assert (await c.get("/settings/two-factor")).status_code == 200
    # Members are not asked.
    m = browser("203.0.113.8")
    assert (await password_step(m, "maria")).status_code == 303
    assert (await m.get("/settings/password")).status_code == 200
    # Once set up, the coordinator's pages open.
    page = await c.get("/settings/two-factor")
    await c.post("/settings/two-factor", data={"csrf": csrf(page.text), "action": "begin"})
    pending = await runtime.two_factor.pending(coordinator)
    assert pending is not None
    page = await c.get("/settings/two-factor")
    r = await c.post("/settings/two-factor", data={"csrf": csrf(page.text),
                                                   "action": "confirm",
                                                   "code": clock.next_code(pending.secret)})
    assert r.status_code == 200
    assert (await c.get("/admin")).status_code == 200


async def test_the_operator_resets_a_lost_second_factor(runtime: Runtime, admin: User) -> None:
    """Phone and recovery codes lost: `fediaid admin reset-two-factor NAME` turns it off,
    in the audit log; the member logs in with the password and can enrol again."""
    from fediaid.services import audit

    clock = Clock(runtime)
    await enrol(runtime, admin, clock)
    assert await runtime.two_factor.enabled(admin)
    assert await runtime.two_factor.reset(admin) is True
    assert not await runtime.two_factor.enabled(admin)
    entries = await audit.AuditService.page(runtime.audit, admin)
    assert entries[0].action == "two_factor_reset" and entries[0].actor_user_id is None
    assert await runtime.two_factor.reset(admin) is False  # nothing left to reset
    await enrol(runtime, admin, clock)  # enrols again
