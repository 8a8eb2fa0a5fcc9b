"""Login hardening and security headers (safety issue, holes 4 and 5): login attempts are
limited per account and per address (in the database, so every process and a restart see
the same locks), unknown names take as long as known ones, whitespace passwords are refused,
a password change ends the other sessions and every token, the login form carries a CSRF
token, and every response carries security headers."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from fediaid.errors import Invalid, RateLimited
from fediaid.services.runtime import Runtime
from tests.support.instances import open_initialised_runtime

HTML = {"Accept": "text/html"}
PASSWORD = "correct horse battery"
TEMPLATES = Path(__file__).parents[2] / "api" / "web" / "templates"

Browser = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def browser(runtime: Runtime) -> AsyncIterator[Browser]:
    """A separate browser (its own cookie jar) per call, from a given address."""
    app = create_app(runtime)
    made: list[httpx.AsyncClient] = []

    def make(ip: str = "198.51.100.7", rt: Runtime | None = None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=create_app(rt) if rt else app, client=(ip, 5555))
        c = httpx.AsyncClient(transport=transport, base_url=runtime.settings.base_url,
                              headers=HTML)
        made.append(c)
        return c

    yield make
    for c in made:
        await c.aclose()


@pytest.fixture
async def admin(runtime: Runtime) -> Runtime:
    await runtime.accounts.set_password(await runtime.accounts.get_user("admin"), PASSWORD)
    return runtime


def csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert m, "no CSRF field on the page"
    return m.group(1)


async def try_login(c: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    page = await c.get("/login")
    return await c.post("/login", data={"csrf": csrf(page.text), "username": name,
                                        "password": password})


def later(rt: Runtime, by: timedelta) -> None:
    """Move the accounts service's clock forward."""
    start = rt.accounts.clock()
    rt.accounts.clock = lambda: start + by  # type: ignore[method-assign]


# -- rate limit --------------------------------------------------------------------------

async def test_the_right_password_is_refused_while_the_account_is_locked(
        admin: Runtime, browser: Browser) -> None:
    c = browser()
    for _ in range(5):
        r = await try_login(c, "admin", "wrong password!")
        assert r.status_code == 401 and "do not match" in r.text
    # The attacker's test: 90 wrong passwords, then the right one.
    for _ in range(85):
        r = await try_login(c, "admin", "wrong password!")
        assert r.status_code == 429
    r = await try_login(c, "admin", PASSWORD)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert r.headers["content-type"].startswith("text/html")
    assert "Too many" in r.text and "login link" in r.text
    assert "fediaid_session" not in r.headers.get("set-cookie", "")
    # From another address too: the lock is on the account.
    r = await try_login(browser("203.0.113.9"), "admin", PASSWORD)
    assert r.status_code == 429
    # The lock ends; the right password works again.
    later(admin, timedelta(hours=2))
    r = await try_login(c, "admin", PASSWORD)
    assert r.status_code == 303 and "fediaid_session" in r.headers["set-cookie"]


async def test_locks_grow_and_a_success_forgets_the_failures(admin: Runtime,
                                                            browser: Browser) -> None:
    c = browser()
    for _ in range(4):
        assert (await try_login(c, "admin", "wrong password!")).status_code == 401
    assert (await try_login(c, "admin", PASSWORD)).status_code == 303
    c.cookies.clear()
    for _ in range(4):  # counted from zero again
        assert (await try_login(c, "admin", "wrong password!")).status_code == 401
    assert (await try_login(c, "admin", "wrong password!")).status_code == 401
    first = int((await try_login(c, "admin", PASSWORD)).headers["retry-after"])
    # Right after the lock ends, one more wrong password locks it for longer.
    later(admin, timedelta(seconds=first + 1))
    assert (await try_login(c, "admin", "wrong password!")).status_code == 401
    second = int((await try_login(c, "admin", PASSWORD)).headers["retry-after"])
    assert second > first


async def test_too_many_failures_from_one_address(admin: Runtime, browser: Browser) -> None:
    c = browser("192.0.2.50")
    for i in range(20):  # spraying many names, each only once
        assert (await try_login(c, f"nobody{i}", "wrong password!")).status_code == 401
    r = await try_login(c, "admin", PASSWORD)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # Someone else, elsewhere, is not affected.
    assert (await try_login(browser("192.0.2.51"), "admin", PASSWORD)).status_code == 303


async def test_the_lock_is_shared_by_two_processes_on_one_database(
        admin: Runtime, browser: Browser, tmp_path: Path) -> None:
    (tmp_path / "second").mkdir()
    other = await Runtime.open(replace(admin.settings, data_dir=tmp_path / "second"))
    try:
        one, two = browser(), browser(rt=other)
        for _ in range(5):
            assert (await try_login(one, "admin", "wrong password!")).status_code == 401
        r = await try_login(two, "admin", PASSWORD)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    finally:
        await other.close()


async def test_a_lock_on_the_name_does_not_keep_out_a_browser_that_logged_in_before(
        admin: Runtime, browser: Browser) -> None:
    """Device cookies: someone who only knows the name locks it from elsewhere; the member's
    own browser (it has logged in to this account before) still logs in, while a new browser
    from the member's own address is paused with the name."""
    home = browser("198.51.100.20")
    r = await try_login(home, "admin", PASSWORD)
    assert r.status_code == 303 and "fediaid_device=" in r.headers["set-cookie"]
    assert (await home.post("/logout", data={"csrf": csrf((await home.get("/")).text)})
            ).status_code == 303
    assert "fediaid_session" not in home.cookies and "fediaid_device" in home.cookies
    attacker = browser("203.0.113.66")
    for _ in range(5):
        assert (await try_login(attacker, "admin", "wrong password!")).status_code == 401
    for _ in range(20):
        assert (await try_login(attacker, "admin", "wrong password!")).status_code == 429
    r = await try_login(home, "admin", PASSWORD)
    assert r.status_code == 303 and "fediaid_session" in r.headers["set-cookie"]
    # A new browser is paused with the name, from the member's address too, and is told
    # that a browser used before still works.
    r = await try_login(browser("198.51.100.20"), "admin", PASSWORD)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "new browser" in r.text
    # The member's login did not lift the attacker's lock on the name.
    assert (await try_login(attacker, "admin", PASSWORD)).status_code == 429


async def test_a_device_cookie_counts_for_its_own_name_only_and_cannot_be_forged(
        admin: Runtime, browser: Browser) -> None:
    await admin.accounts.set_password(await admin.accounts.create_user("neighbor"), PASSWORD)
    home = browser()
    assert (await try_login(home, "admin", PASSWORD)).status_code == 303
    token = home.cookies["fediaid_device"]
    attacker = browser("203.0.113.67")
    for _ in range(5):
        assert (await try_login(attacker, "neighbor", "wrong password!")).status_code == 401
        assert (await try_login(attacker, "admin", "wrong password!")).status_code == 401
    # The cookie for "admin" does not open "neighbor", which is locked.
    assert (await try_login(home, "neighbor", PASSWORD)).status_code == 429
    # A made-up or altered token is no token.
    for forged in ("AAAAAAAAAAAAAAAA." + "0" * 32, token[:-1] + ("0" if token[-1] != "0"
                                                                   else "1")):
        other = browser()
        other.cookies.set("fediaid_device", forged)
        assert (await try_login(other, "admin", PASSWORD)).status_code == 429
    assert (await try_login(home, "admin", PASSWORD)).status_code == 303


async def test_a_trusted_browser_has_its_own_lock(admin: Runtime, browser: Browser) -> None:
    """Wrong passwords from a browser with a device cookie lock that browser (the same
    growing locks), not the name: the member's other browsers are not kept out by it."""
    laptop, phone = browser(), browser("198.51.100.30")
    assert (await try_login(laptop, "admin", PASSWORD)).status_code == 303
    assert (await try_login(phone, "admin", PASSWORD)).status_code == 303
    for _ in range(5):
        assert (await try_login(laptop, "admin", "wrong password!")).status_code == 401
    r = await try_login(laptop, "admin", PASSWORD)
    assert r.status_code == 429 and "new browser" not in r.text
    assert (await try_login(phone, "admin", PASSWORD)).status_code == 303
    assert (await try_login(browser("192.0.2.99"), "admin", PASSWORD)).status_code == 303
    later(admin, timedelta(minutes=2))
    assert (await try_login(laptop, "admin", PASSWORD)).status_code == 303


MALFORMED_DEVICE_COOKIES = (
    "abc.\u00e9\u00e9",  # non-ASCII: hmac.compare_digest would raise TypeError
    "\u00e9" * 16 + "." + "\u00e9" * 32,
    "abc.def",  # not the token's shape
    "AAAAAAAAAAAAAAAA." + "0" * 32 + ".extra",  # a part too many
    ":".join(["AAAAAAAAAAAAAAAA." + "0" * 32] * 7),  # too many tokens
    "....:::",
)


def with_cookie(c: httpx.AsyncClient, name: str, value: str) -> dict[str, bytes]:
    """A Cookie header with the browser's cookies and ``name=value`` as sent raw (UTF-8;
    a cookie jar would quote or refuse it). It replaces the jar's header."""
    pairs = [f"{k}={v}" for k, v in c.cookies.items() if k != name] + [f"{name}={value}"]
    return {"Cookie": "; ".join(pairs).encode()}


async def test_a_malformed_device_cookie_is_no_token_on_the_login_page(
        admin: Runtime, browser: Browser) -> None:
    """Any cookie not in the token format (one planted from a sibling subdomain, say) is
    treated as no token: the normal answers, never a server error."""
    for value in MALFORMED_DEVICE_COOKIES:
        c = browser()
        page = await c.get("/login")
        r = await c.post("/login", data={"csrf": csrf(page.text), "username": "admin",
                                         "password": PASSWORD},
                         headers=with_cookie(c, "fediaid_device", value))
        assert r.status_code == 303, value
    attacker = browser("203.0.113.68")
    for _ in range(5):
        assert (await try_login(attacker, "admin", "wrong password!")).status_code == 401
    for value in MALFORMED_DEVICE_COOKIES:
        c = browser("198.51.100.21")
        page = await c.get("/login")
        r = await c.post("/login", data={"csrf": csrf(page.text), "username": "admin",
                                         "password": PASSWORD},
                         headers=with_cookie(c, "fediaid_device", value))
        assert r.status_code == 429 and "new browser" in r.text, value


async def test_a_malformed_device_cookie_is_no_token_on_account_deletion(
        admin: Runtime, browser: Browser) -> None:
    c = browser()
    assert (await try_login(c, "admin", PASSWORD)).status_code == 303
    for n, value in enumerate(MALFORMED_DEVICE_COOKIES):
        page = await c.get("/account/delete")
        assert page.status_code == 200
        r = await c.post("/account/delete", data={"csrf": csrf(page.text),
                                                  "username": "admin",
                                                  "password": "wrong password!"},
                         headers=with_cookie(c, "fediaid_device", value))
        # Counted against the name like a browser without a token: 5, then the lock.
        assert r.status_code == 400, value
        assert ("do not match" if n < 5 else "new browser") in r.text, value
    assert (await admin.accounts.get_user("admin")).username == "admin"


async def test_a_new_password_voids_the_device_cookies_made_before_it(
        admin: Runtime, browser: Browser) -> None:
    """A device token is bound to the stored password hash: someone who once knew the
    password and collected tokens cannot use them to escape the name's lock once the member
    has changed it. The browser that changed it gets a new token."""
    old = browser("203.0.113.70")
    assert (await try_login(old, "admin", PASSWORD)).status_code == 303
    stale = old.cookies["fediaid_device"]
    home = browser()
    assert (await try_login(home, "admin", PASSWORD)).status_code == 303
    before = home.cookies["fediaid_device"]
    new_password = "a different horse battery"
    page = await home.get("/settings/password")
    r = await home.post("/settings/password", data={"csrf": csrf(page.text),
                                                    "password": new_password})
    assert r.status_code == 303
    assert home.cookies["fediaid_device"] != before
    attacker = browser("203.0.113.66")
    for _ in range(5):
        assert (await try_login(attacker, "admin", "wrong password!")).status_code == 401
    # The old token is no token now: its browser is held by the name's lock, for the new
    # password and for guesses alike.
    holder = browser("203.0.113.71")
    holder.cookies.set("fediaid_device", stale)
    assert (await try_login(holder, "admin", new_password)).status_code == 429
    r = await try_login(holder, "admin", "another guess!!")
    assert r.status_code == 429 and "new browser" in r.text
    # The member's browser that made the change still gets in.
    assert (await try_login(home, "admin", new_password)).status_code == 303


async def test_the_service_refuses_while_locked(admin: Runtime) -> None:
    for _ in range(5):
        with pytest.raises(Exception, match="do not match"):
            await admin.accounts.login("admin", "wrong password!", client="10.1.1.1")
    with pytest.raises(RateLimited) as caught:
        await admin.accounts.login("admin", PASSWORD, client="10.1.1.1")
    assert caught.value.retry_after and caught.value.retry_after > 0


async def test_the_attempts_table_keeps_no_names_or_addresses(admin: Runtime) -> None:
    from sqlalchemy import select

    from fediaid.storage.tables import login_attempts

    with pytest.raises(Exception, match="do not match"):
        await admin.accounts.login("my secret pass", "x", client="10.9.8.7")
    async with admin.db.read() as conn:
        keys = [r.key for r in (await conn.execute(select(login_attempts))).all()]
    assert len(keys) == 2
    assert not any("secret" in k or "10.9.8.7" in k for k in keys)


# -- equal time --------------------------------------------------------------------------

async def test_unknown_names_take_as_long_as_known_ones(admin: Runtime) -> None:
    async def timed(name: str, client: str) -> float:
        start = time.perf_counter()
        try:
            await admin.accounts.login(name, "wrong password!", client=client)
        except Exception as exc:
            assert "do not match" in str(exc)
        return time.perf_counter() - start

    known, unknown = [], []
    for i in range(4):  # under the account's lock threshold
        known.append(await timed("admin", f"10.0.0.{i}"))
        unknown.append(await timed(f"ghost{i}", f"10.0.1.{i}"))
    assert statistics.median(unknown) >= 0.5 * statistics.median(known), (known, unknown)


# -- password rules ----------------------------------------------------------------------

@pytest.mark.parametrize("bad", [" " * 10, " " * 40, "\t\n  \u00a0     ", "  short    "])
async def test_whitespace_passwords_are_refused(runtime: Runtime, bad: str) -> None:
    user = await runtime.accounts.get_user("admin")
    with pytest.raises(Invalid, match="at least 10 characters"):
        await runtime.accounts.set_password(user, bad)


async def test_passphrases_with_spaces_are_fine(runtime: Runtime) -> None:
    user = await runtime.accounts.get_user("admin")
    await runtime.accounts.set_password(user, "  soup for all  ")
    await runtime.accounts.login("admin", "  soup for all  ", client="10.0.0.1")


async def test_the_password_form_refuses_only_spaces(runtime: Runtime, browser: Browser) -> None:
    c = browser()
    link = await runtime.accounts.login_link("admin")
    await c.get(link.removeprefix(runtime.settings.base_url))
    page = (await c.get("/settings/password")).text
    r = await c.post("/settings/password", data={"csrf": csrf(page), "password": " " * 12})
    assert r.status_code == 400 and "only spaces" in r.text


# -- a password change ends the other sessions and every token ---------------------------

async def test_a_password_change_ends_other_sessions_and_tokens(admin: Runtime,
                                                                browser: Browser) -> None:
    here, there = browser(), browser("203.0.113.77")
    assert (await try_login(here, "admin", PASSWORD)).status_code == 303
    assert (await try_login(there, "admin", PASSWORD)).status_code == 303
    token = await admin.accounts.create_token("admin", scopes=["read"])
    api = {"Authorization": f"Bearer {token}"}
    assert (await here.get("/api/v1/accounts/verify_credentials", headers=api)
            ).status_code == 200
    page = (await here.get("/settings/password")).text
    r = await here.post("/settings/password", data={"csrf": csrf(page),
                                                    "password": "a brand new passphrase"})
    assert r.status_code == 303
    # This browser stays logged in; the other one is logged out; the token is dead.
    assert "Logged in as" in (await here.get("/")).text
    assert "Logged in as" not in (await there.get("/")).text
    r = await there.get("/api/v1/accounts/verify_credentials", headers=api)
    assert r.status_code == 401


# -- CSRF on the login form --------------------------------------------------------------

async def test_the_login_form_needs_its_csrf_token(admin: Runtime, browser: Browser) -> None:
    c = browser()
    page = await c.get("/login")
    token = csrf(page.text)
    r = await c.post("/login", data={"username": "admin", "password": PASSWORD})
    assert r.status_code == 403 and "fediaid_session" not in r.headers.get("set-cookie", "")
    assert "expired" in r.text
    # A token from another visitor's page does not fit this browser's cookie.
    other = csrf((await browser("192.0.2.1").get("/login")).text)
    assert other != token
    r = await c.post("/login", data={"csrf": other, "username": "admin", "password": PASSWORD})
    assert r.status_code == 403
    # A fresh browser without the cookie cannot use a token it saw elsewhere.
    r = await browser().post("/login", data={"csrf": token, "username": "admin",
                                            "password": PASSWORD})
    assert r.status_code == 403
    r = await c.post("/login", data={"csrf": token, "username": "admin", "password": PASSWORD})
    assert r.status_code == 303


async def test_the_visitor_cookie_is_httponly_and_lax(runtime: Runtime,
                                                      browser: Browser) -> None:
    c = browser()
    r = await c.get("/login")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    # A page with a token bound to this browser is not kept by shared caches.
    assert "no-store" in r.headers["cache-control"]
    assert "no-store" in (await c.get("/login")).headers["cache-control"]
    # Pages without a form set no cookie.
    assert "set-cookie" not in (await browser().get("/")).headers


async def test_cookies_are_secure_on_an_https_instance(db_url: str, tmp_path: Path) -> None:
    rt = await open_initialised_runtime(tmp_path, db_url, dev=False)
    try:
        await rt.accounts.set_password(await rt.accounts.get_user("admin"), PASSWORD)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(rt)),
                                     base_url=rt.settings.base_url) as c:
            assert rt.settings.base_url.startswith("https://")
            r = await try_login(c, "admin", PASSWORD)
            assert r.status_code == 303
            cookies = r.headers.get_list("set-cookie")
            assert any(c.startswith("fediaid_device=") for c in cookies)
            for cookie in (c.lower() for c in cookies):
                assert ("secure" in cookie and "httponly" in cookie
                        and "samesite=lax" in cookie)
    finally:
        await rt.close()


# -- security headers --------------------------------------------------------------------

def assert_page_headers(r: httpx.Response) -> str:
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp or "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "script-src 'none'" in csp and "object-src 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] in ("same-origin", "no-referrer")
    assert "camera=()" in r.headers["permissions-policy"]
    return csp


async def test_pages_carry_security_headers(admin: Runtime, browser: Browser) -> None:
    c = browser()
    for path in ("/", "/login", "/nowhere"):
        r = await c.get(path)
        assert_page_headers(r)
        if path == "/login":
            assert "form-action 'self'" in r.headers["content-security-policy"]
    r = await try_login(c, "admin", "wrong password!")
    assert_page_headers(r)


async def test_the_consent_page_allows_its_redirect_and_nothing_else(
        admin: Runtime, browser: Browser) -> None:
    c = browser()
    app = (await c.post("/api/v1/apps", data={
        "client_name": "Tusky", "redirect_uris": "https://app.example:8443/callback?x=1",
        "scopes": "read"})).json()
    assert (await try_login(c, "admin", PASSWORD)).status_code == 303
    r = await c.get("/oauth/authorize", params={
        "response_type": "code", "client_id": app["client_id"], "scope": "read",
        "redirect_uri": "https://app.example:8443/callback?x=1"})
    assert r.status_code == 200 and "Allow Tusky" in r.text
    csp = assert_page_headers(r)
    action = re.search(r"form-action ([^;]*)", csp)
    assert action and action.group(1).split() == ["'self'", "https://app.example:8443"]


async def test_the_api_and_activitypub_answers_are_nosniff(runtime: Runtime,
                                                           browser: Browser) -> None:
    c = browser()
    for path, headers in (("/api/v1/instance", {}),
                          ("/users/admin", {"Accept": "application/activity+json"}),
                          ("/api/v1/accounts/verify_credentials", {})):
        r = await c.get(path, headers=headers)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
    r = await c.post("/users/admin/inbox", content=b"{}",
                     headers={"Content-Type": "application/activity+json"})
    assert r.headers["x-content-type-options"] == "nosniff"


def test_templates_have_no_inline_scripts_or_styles() -> None:
    inline = re.compile(r"<script|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE)
    for template in TEMPLATES.glob("*.html"):
        found = inline.search(template.read_text())
        assert found is None, f"{template.name}: {found.group(0) if found else ''}"

