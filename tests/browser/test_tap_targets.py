"""Sizes a thumb and a keyboard need, measured in a real browser (Debian's Chromium via
Playwright, a real `fediaid serve` on loopback) on a 360 px phone:

- the header is under 120 px tall, for a visitor and for a coordinator (the longest menu);
- every visible link, button, summary, select and text field on the main pages is at least
  44 x 44 px; a checkbox or radio button counts with its label (the label is what a thumb
  taps). Exempt: links inside running text (a link whose paragraph, list item or cell
  has other words around it, WCAG 2.5.5's "inline" exception), and the skip link (off
  screen until focused). A paragraph's only link is not exempt;
- the keyboard's focus shows a ring at least 3 px wide, of at least 3:1 contrast against
  the page (WCAG 1.4.11), and the header's rows never scroll the page sideways.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.test_small_screen import (
    ARGS,
    CHROMIUM,
    PHONE,
    instance,
    no_sideways_scroll,
    playwright_api,
)
from tests.support.instances import Instance, finish_cli

__all__ = ["instance", "playwright_api"]

pytestmark = pytest.mark.slow

HEADER_MAX = 120  # px, at 360 px wide
TARGET_MIN = 44  # px

# Every visible control smaller than TARGET_MIN on either side, described.
SMALL_TARGETS = """(min) => {
  const out = [];
  const words = el => (el.textContent || '').replace(/\\s+/g, ' ').trim();
  const shown = el => {
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden';
  };
  const inRunningText = a => {
    if (getComputedStyle(a).display !== 'inline') return false;
    const block = a.parentElement.closest('p,li,dd,dt,td,th,label,legend,small,span');
    return !!block && words(block).length > words(a).length;
  };
  for (const el of document.querySelectorAll(
      'a[href],button,summary,select,textarea,input:not([type=hidden])')) {
    if (!shown(el) || el.classList.contains('skip')) continue;
    if (el.matches('a') && inRunningText(el)) continue;
    let box = el;
    if (el.matches('input[type=checkbox],input[type=radio]'))
      box = el.closest('label') || (el.id && document.querySelector(`label[for="${el.id}"]`))
            || el;
    // A post's title link covers its card (a ::after over the whole card).
    if (el.matches('article.post h3 a')) box = el.closest('article');
    const r = box.getBoundingClientRect();
    if (r.width < min - 0.5 || r.height < min - 0.5)
      out.push(`${el.tagName.toLowerCase()} "${words(el).slice(0, 40) || el.name}" `
               + `${r.width.toFixed(1)}x${r.height.toFixed(1)}`);
  }
  return out;
}"""

FOCUS_RING = """() => {
  const el = document.activeElement, s = getComputedStyle(el);
  const rgb = c => (c.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
  const lum = c => {
    const [r, g, b] = rgb(c).map(v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const a = lum(s.outlineColor), b = lum(getComputedStyle(document.body).backgroundColor);
  return {tag: el.tagName, text: (el.textContent || '').trim().slice(0, 30),
          style: s.outlineStyle, width: parseFloat(s.outlineWidth),
          contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)};
}"""


def _header_height(page: Any) -> float:
    return float(page.evaluate("document.querySelector('header').getBoundingClientRect()"
                               ".height"))


def _check(page: Any, base: str, paths: list[str], who: str) -> list[str]:
    problems = []
    for path in paths:
        page.goto(base + path)
        height = _header_height(page)
        if height >= HEADER_MAX:
            problems.append(f"{who} {path}: the header is {height:.0f} px tall")
        if not no_sideways_scroll(page):
            problems.append(f"{who} {path}: the page scrolls sideways")
        problems += [f"{who} {path}: {small}" for small in
                     page.evaluate(SMALL_TARGETS, TARGET_MIN)]
    return problems


def test_header_tap_targets_and_focus_on_a_phone(playwright_api: Any,
                                                 instance: Instance) -> None:
    expect = playwright_api.expect
    making_link = instance.cli_bg("admin", "login-link", "admin")
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            visitor = browser.new_context(viewport=PHONE, device_scale_factor=1).new_page()
            problems = _check(visitor, instance.base, ["/", "/login", "/join"], "visitor")
            # "Log in" stays in sight at the end of the visitor's menu.
            login = visitor.get_by_role("navigation", name="Main").get_by_role(
                "link", name="Log in")
            box = login.bounding_box()
            assert box is not None and box["x"] + box["width"] <= PHONE["width"]
            assert box["height"] >= TARGET_MIN

            # The keyboard's focus is plain to see, on the first link and inside the menu.
            visitor.goto(instance.base + "/")
            for _ in range(3):
                visitor.keyboard.press("Tab")
                ring = visitor.evaluate(FOCUS_RING)
                assert ring["style"] != "none" and ring["width"] >= 3, ring
                assert ring["contrast"] >= 3, ring

            coordinator = browser.new_context(viewport=PHONE, device_scale_factor=1)
            page = coordinator.new_page()
            page.goto(finish_cli(making_link).strip().splitlines()[-1])
            page.get_by_label("New password").fill("a long enough password")
            page.get_by_role("button", name="Save password").click()
            # A post, so the lists have a card and its page has the answer form.
            page.goto(instance.base + "/posts/new?kind=need")
            page.get_by_label("What do you need?").fill(
                "Two bags of groceries for a family of four this week.")
            page.get_by_role("button", name="Publish").click()
            expect(page).to_have_url(re.compile(r".*/posts/\d+$"))
            post = page.url.removeprefix(instance.base)
            problems += _check(page, instance.base, [
                "/", post, "/posts/new?kind=need", "/posts/new?kind=offer", "/my/posts",
                "/notifications", "/conversations", "/intake", "/admin", "/admin/settings",
                "/admin/profile", "/admin/network", "/settings/password"], "coordinator")
            assert problems == [], "\n".join(problems)
        finally:
            browser.close()
