"""Fixtures for the real-browser tests: Playwright's Python package driving Debian's
Chromium (``/usr/bin/chromium``; never a downloaded browser) against real `fediaid serve`
processes on loopback. Skipped, saying why, when either is missing. Screenshots go to the
test's temporary directory, or to ``$FEDIAID_SCREENSHOTS`` when set."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.browsing import CHROMIUM, launch
from tests.support.databases import sqlite_url
from tests.support.instances import Instance, free_port


@pytest.fixture(scope="module")
def playwright_api() -> Any:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it with "
                    "`apt-get install -y chromium` (Debian) to run the browser tests")
    module = pytest.importorskip(
        "playwright.sync_api",
        reason="the playwright Python package is missing: pip install -e '.[test]'")
    return module


@pytest.fixture(scope="module")
def browser(playwright_api: Any) -> Iterator[Any]:
    """One Chromium for a module's tests (each person gets a context of their own)."""
    pw = playwright_api.sync_playwright().start()
    try:
        chromium = launch(pw)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        pw.stop()


@pytest.fixture(scope="module")
def axe() -> Any:
    """axe-core, from the copy inside axe-playwright-python (see browsing.Tour)."""
    module = pytest.importorskip(
        "axe_playwright_python.sync_playwright",
        reason="axe-playwright-python is missing: pip install -e '.[test]'")
    return module.Axe()


def start_instance(data: Path, **env: str) -> Instance:
    """A fresh group "elm" (coordinator "admin") served on a free loopback port."""
    data.mkdir(parents=True, exist_ok=True)
    inst = Instance(data=data, port=free_port(), group="elm", database_url=sqlite_url(data),
                    env=dict(env))
    inst.init()
    inst.start(workers=False)
    return inst


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    inst = start_instance(tmp_path / "instance")
    try:
        yield inst
    finally:
        inst.stop()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    target = os.environ.get("FEDIAID_SCREENSHOTS")
    path = Path(target) if target else tmp_path / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
