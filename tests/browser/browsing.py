"""What every browser test shares: Debian's Chromium and how it is started, the phone's
size, and ``Tour``, which watches everyone's pages in one journey.

A ``Tour`` opens one browser context per person (a 360 px phone, JavaScript on or off) and,
for every page state the journey looks at (``Tour.look``), checks what a page must keep:

- axe-core (bundled by ``axe-playwright-python``, injected from its own file: nothing is
  downloaded) finds no serious or critical violation. axe runs in the page, so it runs only
  where JavaScript is on; the pages are rendered on the server, so the same journey with
  JavaScript off gets the same HTML;
- the page weighs under ``MAX_PAGE_BYTES`` transferred: the document (and the redirect that
  led to it) plus every subresource, headers included, with the browser's cache off, so
  each page is weighed as a first visit would load it;
- no Content-Security-Policy violation (Chromium reports them on the console, with or
  without JavaScript) and no request to anywhere but the instance.

``Tour.check`` fails with every problem found, naming the page; a page the journey reached
but never looked at is a failure too, so no page state goes unchecked.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CHROMIUM = os.environ.get("FEDIAID_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 360, "height": 740}
MAX_PAGE_BYTES = 60 * 1024
SERIOUS = ("serious", "critical")  # axe-core's two highest impacts
TIMEOUT_MS = 5000


def no_sideways_scroll(page: Any) -> bool:
    return bool(page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth"
        " && document.body.scrollWidth <= window.innerWidth"))


def launch(playwright: Any) -> Any:
    """Debian's Chromium, headless (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


_TOKENS = re.compile(r'name="csrf" value="[0-9a-f]*"')
_AUDITED: dict[str, list[str]] = {}  # axe-core's serious findings by document digest


def _nodes(nodes: list[dict[str, Any]]) -> str:
    return "; ".join(f"{', '.join(map(str, n['target']))}: "
                     f"{' '.join(n.get('html', '').split())[:160]}" for n in nodes[:5])


@dataclass
class _Watched:
    """One person's page: its navigations, and the requests of the one on screen."""

    page: Any
    who: str
    navigations: list[str] = field(default_factory=list)
    looked: set[int] = field(default_factory=set)
    loads: list[Any] = field(default_factory=list)  # requests since the last navigation


@dataclass
class Tour:
    """Everyone's browser contexts in one journey, and what their pages must keep."""

    browser: Any
    base: str
    js: bool
    axe: Any | None = None  # axe_playwright_python's Axe (its axe_script); None: no audit
    states: list[str] = field(default_factory=list)  # every page state looked at
    problems: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # CSP violations
    outside: list[str] = field(default_factory=list)
    weights: dict[str, int] = field(default_factory=dict)
    _people: list[_Watched] = field(default_factory=list)
    _contexts: list[Any] = field(default_factory=list)

    # -- people -------------------------------------------------------------------------
    def person(self, who: str, *, locale: str = "en-US",
               storage_state: dict[str, Any] | None = None) -> Any:
        """A new phone (browser context) with one page; ``storage_state`` logs it in."""
        context = self.browser.new_context(
            viewport=PHONE, device_scale_factor=1, java_script_enabled=self.js, locale=locale,
            storage_state=storage_state, base_url=self.base)
        context.set_default_timeout(TIMEOUT_MS)
        self._contexts.append(context)
        if self.js and self.axe is not None:
            # axe-core from axe-playwright-python's own copy, put into every page as it
            # opens (the browser's DevTools protocol: the pages' CSP does not apply to it);
            # half the time of sending it with each check.
            context.add_init_script(self.axe.axe_script)
        page = context.new_page()
        # Each page weighed as a first visit loads it: the browser's cache off.
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        watched = _Watched(page, who)
        self._people.append(watched)
        page.on("request", self._on_request(watched))
        page.on("framenavigated", self._on_navigated(watched))
        page.on("console", lambda m: self.refused.append(f"{who}: {m.text}")
                if "Content Security Policy" in m.text else None)
        return page

    def _on_request(self, w: _Watched) -> Callable[[Any], None]:
        def seen(request: Any) -> None:
            if not request.url.startswith(self.base + "/"):
                self.outside.append(request.url)
            if (request.is_navigation_request() and request.frame == w.page.main_frame
                    and request.redirected_from is None):
                w.loads = []
            w.loads.append(request)
        return seen

    def _on_navigated(self, w: _Watched) -> Callable[[Any], None]:
        def navigated(frame: Any) -> None:
            if frame == w.page.main_frame and frame.url != "about:blank":
                w.navigations.append(frame.url)
        return navigated

    def _watched(self, page: Any) -> _Watched:
        return next(w for w in self._people if w.page is page)

    # -- looking at a page state --------------------------------------------------------
    def look(self, page: Any, what: str = "") -> Any:
        """Check the page on screen (axe-core, weight); returns the page for chaining."""
        w = self._watched(page)
        page.wait_for_load_state("load")
        label = f"{w.who} at {page.url.removeprefix(self.base)}" + (f" ({what})" if what else "")
        self.states.append(label)
        if w.navigations:
            w.looked.add(len(w.navigations) - 1)
        self._weigh(w, label)
        if self.axe is not None and self.js:
            self._audit(page, label)
        return page

    def go(self, page: Any, path: str, what: str = "") -> Any:
        """Open ``path`` (relative to the instance) and check the page."""
        page.goto(path)
        return self.look(page, what)

    def click(self, page: Any, target: Any, what: str = "") -> Any:
        """Click ``target`` (a locator), which loads a new page, and check that page."""
        target.click()
        return self.look(page, what)

    def _weigh(self, w: _Watched, label: str) -> None:
        total = 0
        for request in w.loads:
            response = request.response()
            if response is None:  # failed or still loading: nothing more arrives for it
                continue
            sizes = request.sizes()
            total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        self.weights[label] = total
        if total > MAX_PAGE_BYTES:
            self.problems.append(f"{label} weighs {total:,} bytes transferred "
                                 f"(limit {MAX_PAGE_BYTES:,}): "
                                 + ", ".join(r.url.removeprefix(self.base) for r in w.loads))

    def _audit(self, page: Any, label: str) -> None:
        # The same document (bar its forms' tokens) with the same stylesheets gets the same
        # answer: each is audited once per run (a member joining sees what the last one saw).
        html = _TOKENS.sub("", page.content())
        digest = hashlib.sha256(html.encode()).hexdigest()
        if digest not in _AUDITED:
            results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
            _AUDITED[digest] = [
                f"axe {v['id']} ({v['impact']}) on {{page}}: {v['help']} "
                f"[{len(v['nodes'])} node(s): {_nodes(v['nodes'])}]"
                for v in results["violations"] if v.get("impact") in SERIOUS]
        self.problems.extend(p.replace("{page}", label) for p in _AUDITED[digest])

    # -- the end ------------------------------------------------------------------------
    def close(self) -> None:
        for context in self._contexts:
            context.close()
        self._contexts.clear()

    def check(self) -> None:
        """Fail with everything found; pages reached but never looked at included."""
        unseen = [f"{w.who} at {url.removeprefix(self.base)}" for w in self._people
                  for i, url in enumerate(w.navigations) if i not in w.looked]
        problems = list(self.problems)
        if unseen:
            problems.append(f"pages reached but not checked (call tour.look): {unseen}")
        if self.refused:
            problems.append(f"Content-Security-Policy violations: {self.refused}")
        if self.outside:
            problems.append(f"the pages loaded something from elsewhere: {self.outside}")
        assert not problems, "\n".join(problems)
