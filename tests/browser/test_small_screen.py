"""A neighbor on a small phone, in a real browser: headless Chromium (Debian's, driven by
Playwright) against a real `fediaid serve` process on loopback.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``) and the ``playwright`` Python
package; never downloads a browser. Skipped, saying why, when either is missing. The
fixtures are in conftest.py, the shared helpers in browsing.py (their names are still
importable from here).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.browsing import ARGS, CHROMIUM, PHONE, no_sideways_scroll
from tests.browser.conftest import instance, playwright_api, shots
from tests.support.instances import Instance, finish_cli

__all__ = ["ARGS", "CHROMIUM", "PHONE", "instance", "no_sideways_scroll", "playwright_api",
           "shots"]

pytestmark = pytest.mark.slow


def test_post_a_need_from_a_small_phone(playwright_api: Any, instance: Instance,
                                        shots: Path) -> None:
    expect = playwright_api.expect
    making_link = instance.cli_bg("admin", "login-link", "admin")  # while Chromium starts
    requested: list[str] = []
    refused: list[str] = []  # Content-Security-Policy violations the browser reports
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            link = finish_cli(making_link).strip().splitlines()[-1]
            assert link.startswith(instance.base + "/login/")
            context = browser.new_context(viewport=PHONE, device_scale_factor=1,
                                          java_script_enabled=True)
            context.set_default_timeout(5000)
            page = context.new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.on("console", lambda m: refused.append(m.text)
                    if "Content Security Policy" in m.text else None)

            # The one-time link logs in and asks for a password.
            page.goto(link)
            expect(page).to_have_url(re.compile(r".*/settings/password\?welcome=1$"))
            page.get_by_label("New password").fill("a long enough password")
            page.get_by_role("button", name="Save password").click()
            expect(page.get_by_text("Password saved.")).to_be_visible()

            # Post a need: the menu, one sentence, and one choice under "More details".
            page.get_by_role("navigation").get_by_role("link", name="Post a need").click()
            expect(page.get_by_role("heading", name="Post a need")).to_be_visible()
            assert no_sideways_scroll(page)
            page.get_by_label("What do you need?").fill(
                "Two bags of groceries for a family of four this week. Thank you!")
            page.get_by_text("More details").click()
            page.get_by_label("Category").select_option(label="Food and groceries")
            page.get_by_label("Urgent").check()
            page.screenshot(path=str(shots / "post-form-360.png"), full_page=True)
            page.get_by_role("button", name="Publish").click()
            expect(page.get_by_text("Published. Thank you!")).to_be_visible()
            expect(page).to_have_url(re.compile(r".*/posts/\d+$"))  # no notice in the URL
            expect(page.get_by_role("heading", name="Two bags of groceries for a family of "
                                                    "four this week.")).to_be_visible()
            assert no_sideways_scroll(page)
            page.screenshot(path=str(shots / "post-360.png"), full_page=True)

            # It is on the home page, with its badges, and nothing scrolls sideways.
            page.get_by_role("link", name="Offers & needs").click()
            item = page.locator("article.post").first
            expect(item).to_contain_text("Two bags of groceries")
            assert "Need" in item.inner_text() and "Urgent" in item.inner_text()
            assert "Food and groceries" in item.inner_text()
            assert no_sideways_scroll(page)
            page.screenshot(path=str(shots / "home-360.png"), full_page=True)

            # The narrowest phones still fit.
            page.set_viewport_size({"width": 320, "height": 640})
            for path in ("/", "/posts/new?kind=offer", "/intake", "/admin", "/admin/members",
                         "/admin/invitations", "/join", "/my/posts", "/notifications",
                         "/settings/email", "/admin/email", "/login/email"):
                page.goto(instance.base + path)
                assert no_sideways_scroll(page), f"{path} scrolls sideways at 320 px"
            page.screenshot(path=str(shots / "intake-320.png"), full_page=True)
        finally:
            browser.close()
    outside = [u for u in requested if not u.startswith(instance.base + "/")]
    assert outside == [], f"the pages loaded something from elsewhere: {outside}"
    assert refused == [], f"the pages broke their Content-Security-Policy: {refused}"
    assert len(list(shots.glob("*.png"))) >= 4
