"""What `python3 dev.py serve` prints on a first start, and the options the README names:
the instance is created quietly and the server prints exactly one login link (no advice to
run `fediaid serve`, which is already running); `--port`, `--lan` and the `fediaid`
pass-through. The real `fediaid init` and `fediaid serve` run on loopback; dev.py's own
install step is skipped (the test runs inside the installed environment)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.support.instances import free_port

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"https?://\S+/login/\S+")


@pytest.fixture
def dev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev_script", ROOT / "dev.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.BIN = Path(sys.executable).parent  # this environment's `fediaid`
    monkeypatch.setattr(module, "ensure_venv", lambda extras: None)
    monkeypatch.setenv("FEDIAID_DATA", str(tmp_path / "data"))
    for name in ("PORT", "HOST"):
        monkeypatch.delenv(name, raising=False)
    return module


def _start(command: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    """Run the serve command until it has printed its login hint (or 60 s)."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if "Log in as the first coordinator" in line:
            break
    return proc, lines


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_first_start_prints_one_login_link(dev: Any, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    port = free_port()
    command = dev.serve_command(["--port", str(port)])
    created = capsys.readouterr().out
    assert "Created a new instance" in created and f"127.0.0.1:{port}" in created
    assert command[-4:] == ["--host", "127.0.0.1", "--port", str(port)]
    proc, lines = _start(command)
    try:
        output = "\n".join([created, *lines])
        links = LINK.findall(output)
        assert len(links) == 1, output
        assert links[0].startswith(f"http://127.0.0.1:{port}/login/")
        assert "fediaid serve" not in output, output
        # The link logs in.
        r = httpx.get(links[0], follow_redirects=False, timeout=10)
        assert r.status_code in (302, 303) and "/settings/password" in r.headers["location"]
    finally:
        _stop(proc)

    # The next start creates nothing and prints a fresh link (no password chosen yet).
    again = dev.serve_command(["--port", str(port)])
    assert capsys.readouterr().out == ""
    proc, lines = _start(again)
    try:
        links = LINK.findall("\n".join(lines))
        assert len(links) == 1 and links[0] != LINK.findall(output)[0]
    finally:
        _stop(proc)


def test_lan_uses_the_network_address(dev: Any, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(dev, "lan_address", lambda: "192.168.1.20")
    command = dev.serve_command(["--lan", "--port", "8123", "--no-workers"])
    out = capsys.readouterr().out
    assert command[-5:] == ["--host", "0.0.0.0", "--port", "8123", "--no-workers"]
    assert 'domain = "192.168.1.20:8123"' in (
        Path(dev.data_dir()) / "fediaid.toml").read_text()
    assert "On a phone on the same Wi-Fi, open http://192.168.1.20:8123" in out
    # An instance made for another address says what its links will use.
    monkeypatch.setattr(dev, "lan_address", lambda: "10.0.0.7")
    dev.serve_command(["--lan", "--port", "8123"])
    out = capsys.readouterr().out
    assert "created for http://192.168.1.20:8123" in out and "data-lan" in out


def test_fediaid_commands_through_dev_py(dev: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(dev.os, "execv", lambda path, args: ran.append(args))
    monkeypatch.delenv("FEDIAID_DATA")
    dev.fediaid_cli(["admin", "status"])
    assert ran == [[str(dev.BIN / "fediaid"), "admin", "status"]]
    assert dev.os.environ["FEDIAID_DATA"] == str(ROOT / "data")
