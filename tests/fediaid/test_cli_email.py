"""`fediaid admin email-settings`: the operator sets the SMTP server from the command line
(the password from standard input, never shown back), sends a test message through the
queue, and turns e-mail off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FEDIAID = [sys.executable, "-m", "fediaid"]


def _run(args: list[str], data: Path, stdin: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FEDIAID_DATA", "FEDIAID_DATABASE_URL", "FEDIAID_SMTP_PASSWORD")}
    return subprocess.run([*FEDIAID, *args, "--data", str(data)], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_email_settings_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "inst"
    assert _run(["init", "--domain", "a.test", "--group", "elm", "--dev"], data).returncode == 0
    r = _run(["admin", "email-settings"], data)
    assert r.returncode == 0 and "E-mail is not set up" in r.stdout
    r = _run(["admin", "email-settings", "--host", "smtp.mail.test", "--tls", "starttls",
              "--username", "aid@mail.test", "--sender", "aid@mail.test",
              "--password-stdin"], data, stdin="app-pass-123\n")
    assert r.returncode == 0, r.stderr
    assert "host: smtp.mail.test" in r.stdout and "port: 587" in r.stdout
    assert "password: set" in r.stdout and "app-pass-123" not in r.stdout + r.stderr
    # Changing one thing keeps the rest (and the password).
    r = _run(["admin", "email-settings", "--port", "2525"], data)
    assert "port: 2525" in r.stdout and "password: set" in r.stdout
    assert "username: aid@mail.test" in r.stdout
    # Checked like the page: a plain message, exit code 2.
    r = _run(["admin", "email-settings", "--sender", "not-an-address"], data)
    assert r.returncode == 2 and "like name@example.org" in r.stderr
    r = _run(["admin", "email-settings", "--test", "ops@mail.test"], data)
    assert r.returncode == 0 and "queued" in r.stdout
    r = _run(["admin", "status"], data)
    assert "email: pending 1" in r.stdout
    r = _run(["admin", "email-settings", "--off"], data)
    assert r.returncode == 0
    assert "not set up" in _run(["admin", "email-settings"], data).stdout
