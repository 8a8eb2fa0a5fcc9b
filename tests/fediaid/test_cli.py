"""The `fediaid` command line, run as the installed entry point runs it (`python -m fediaid`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FEDIAID = [sys.executable, "-m", "fediaid"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FEDIAID_DATA", "FEDIAID_DATABASE_URL")}
    return subprocess.run([*FEDIAID, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_data_option_before_or_after_the_subcommand(tmp_path: Path) -> None:
    # The working directory has no ./data, so a command that ignored --data would fail.
    data = tmp_path / "inst"
    r = _run(["--data", str(data), "init", "--domain", "a.test", "--group", "elm",
              "--dev"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert (data / "fediaid.toml").is_file() and not (tmp_path / "data").exists()

    for args in (["--data", str(data), "admin", "status"],
                 ["admin", "--data", str(data), "status"],
                 ["admin", "status", "--data", str(data)]):
        r = _run(args, tmp_path)
        assert r.returncode == 0, (args, r.stderr)
        assert "followers: " in r.stdout, args

    r = _run(["--data", str(data), "admin", "approve-follows", "yes"], tmp_path)
    assert r.returncode == 0, r.stderr
    r = _run(["admin", "approve-follows", "no", "--data", str(data)], tmp_path)
    assert r.returncode == 0, r.stderr

    # Given in both places, the one nearer the command wins (as argparse does for options).
    r = _run(["--data", str(tmp_path / "nowhere"), "admin", "status", "--data", str(data)],
             tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "data").exists()
