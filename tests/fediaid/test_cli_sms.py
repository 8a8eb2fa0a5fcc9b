"""`fediaid admin sms-settings`: the operator sets the SMS gateway from the command line
(the token from standard input, never shown back), checked as on the page, a test text
queued, and text messages turned off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FEDIAID = [sys.executable, "-m", "fediaid"]
SID = "AC" + "f" * 32


def _run(args: list[str], data: Path, stdin: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FEDIAID_DATA", "FEDIAID_DATABASE_URL", "FEDIAID_SMS_SECRET",
                        "FEDIAID_SMS_SIGNING_KEY")}
    return subprocess.run([*FEDIAID, *args, "--data", str(data)], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_sms_settings_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "inst"
    assert _run(["init", "--domain", "a.test", "--group", "elm", "--dev"], data).returncode == 0
    r = _run(["admin", "sms-settings"], data)
    assert r.returncode == 0 and "not set up" in r.stdout
    r = _run(["admin", "sms-settings", "--provider", "twilio", "--number", "(201) 555-0100",
              "--account", SID, "--secret-stdin"], data, stdin="token-abc-123\n")
    assert r.returncode == 0, r.stderr
    assert "provider: twilio" in r.stdout and "number: +12015550100" in r.stdout
    assert "secret: set" in r.stdout and "token-abc-123" not in r.stdout + r.stderr
    assert "incoming texts at: http" in r.stdout and "/sms/twilio" in r.stdout
    r = _run(["admin", "sms-settings", "--number", "+1 201 555 0199"], data)
    assert "number: +12015550199" in r.stdout and "secret: set" in r.stdout
    r = _run(["admin", "sms-settings", "--account", "ACnope"], data)
    assert r.returncode == 2 and "Account SID" in r.stderr
    r = _run(["admin", "sms-settings", "--test", "(201) 555-0123"], data)
    assert r.returncode == 0 and "queued" in r.stdout
    assert "sms: pending 1" in _run(["admin", "status"], data).stdout
    assert _run(["admin", "sms-settings", "--off"], data).returncode == 0
    assert "not set up" in _run(["admin", "sms-settings"], data).stdout
