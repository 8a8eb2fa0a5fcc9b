"""Logging in to a Mastodon app, in a real browser: headless Chromium (Debian's, driven by
Playwright) against a real `fediaid serve` process. A member sets a password from her
one-time link, then an app sends her to our login page and consent page on a small phone;
she approves and the app gets a working token (the out-of-band code flow apps like
Mastodon.py use)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.browsing import ARGS, CHROMIUM, PHONE, no_sideways_scroll
from tests.support.instances import Instance, finish_cli

pytestmark = pytest.mark.slow
OOB = "urn:ietf:wg:oauth:2.0:oob"
PASSWORD = "plenty of soup for all"


def test_a_member_logs_in_to_an_app_from_a_phone(playwright_api: Any, instance: Instance,
                                                 shots: Path) -> None:
    expect = playwright_api.expect
    instance.cli("admin", "create-user", "rosa")
    making_link = instance.cli_bg("admin", "login-link", "rosa")
    app = httpx.post(f"{instance.base}/api/v1/apps", data={
        "client_name": "Tusky", "redirect_uris": OOB, "scopes": "read write",
        "website": "https://tusky.app"}).json()
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport=PHONE, device_scale_factor=1)
            context.set_default_timeout(5000)
            page = context.new_page()
            refused: list[str] = []
            page.on("console", lambda m: refused.append(m.text)
                    if "Content Security Policy" in m.text else None)
            # A password, from the one-time link a coordinator gave her.
            page.goto(finish_cli(making_link).strip().splitlines()[-1])
            page.goto(f"{instance.base}/settings/password")
            page.fill("#password", PASSWORD)
            page.click("button:has-text('Save password')")
            page.click("button:has-text('Log out')")
            # The app opens the authorization page: our login page first.
            page.goto(f"{instance.base}/oauth/authorize?response_type=code&client_id="
                      f"{app['client_id']}&redirect_uri={OOB}&scope=read+write")
            expect(page.locator("#password")).to_be_visible()
            page.fill("#username", "rosa")
            page.fill("#password", PASSWORD)
            page.click("button:has-text('Log in')")
            # The consent page says, in plain words, what the app may do.
            expect(page.locator("h1")).to_contain_text("Allow Tusky")
            expect(page.locator("ul.scopes")).to_contain_text("post, answer")
            assert no_sideways_scroll(page)
            page.screenshot(path=str(shots / "app-consent.png"), full_page=True)
            page.click("button:has-text('Approve')")
            code = page.locator("#code").input_value()
            assert code and no_sideways_scroll(page)
            assert refused == [], f"Content-Security-Policy violations: {refused}"
        finally:
            browser.close()
    token = httpx.post(f"{instance.base}/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": app["client_id"],
        "client_secret": app["client_secret"], "redirect_uri": OOB}).json()["access_token"]
    me = httpx.get(f"{instance.base}/api/v1/accounts/verify_credentials",
                   headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["username"] == "rosa"
