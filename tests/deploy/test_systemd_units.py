"""deploy/systemd: the units pass `systemd-analyze verify` (every directive known and well
formed, the targets they name exist, the command they start is an executable) and keep their
hardening (`systemd-analyze security`), both offline, in a scratch root that holds the
units where docs/deploy.md installs them, the system's own units, and an executable at
/opt/fediaid/venv/bin/fediaid. Nothing on this machine is installed or started.

systemd-analyze comes with Debian's `systemd` package (dev.py's test setup installs it
where it is missing)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")
ANALYZE = shutil.which("systemd-analyze")

pytestmark = pytest.mark.skipif(
    ANALYZE is None or not SYSTEM_UNITS.is_dir(),
    reason="systemd-analyze is not installed (Debian package systemd; `python3 dev.py test` "
           "installs it when run as root with apt-get)")

# The names systemd would load: the template through one of its instances.
LOADED = ["fediaid.service", "fediaid-worker@1.service"]


@pytest.fixture(scope="module")
def scratch_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sysroot")
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in UNITS.glob("*.service"):
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    (root / "etc/fediaid").mkdir(parents=True)
    shutil.copy(UNITS / "env.example", root / "etc/fediaid/env")
    fediaid = root / "opt/fediaid/venv/bin/fediaid"
    fediaid.parent.mkdir(parents=True)
    fediaid.write_text("#!/bin/sh\n")
    fediaid.chmod(0o755)
    return root


def analyze(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, *args, f"--root={root}", *LOADED],
                          capture_output=True, text=True, timeout=60)


def test_the_units_verify_without_a_warning(scratch_root: Path) -> None:
    done = analyze(scratch_root, "verify", "--man=no")
    # systemd only warns about an unknown key or a value it cannot parse, and exits 0:
    # anything it prints is a mistake in a unit.
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), (
        done.stdout + done.stderr)


def test_verify_catches_a_broken_unit(scratch_root: Path, tmp_path: Path) -> None:
    """The check above would see a mistake: the same root with a misspelt directive and a
    command that does not exist."""
    broken = tmp_path / "root"
    shutil.copytree(scratch_root, broken, symlinks=True)
    unit = broken / "etc/systemd/system/fediaid.service"
    text = unit.read_text()
    unit.write_text(text.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes")
                    .replace("/opt/fediaid/venv/bin/fediaid serve", "/opt/nowhere serve"))
    done = analyze(broken, "verify", "--man=no")
    out = done.stdout + done.stderr
    assert "Unknown key 'NoNewPrivilege'" in out and "/opt/nowhere" in out, out


def test_the_units_stay_locked_down(scratch_root: Path) -> None:
    """`systemd-analyze security` rates both units' exposure (0 best, 10 worst); the
    hardening in them gives about 1.1. Above 2.0 a protection was lost."""
    done = analyze(scratch_root, "security", "--offline=yes", "--threshold=20",
                   "--no-pager")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_shell_helpers_parse() -> None:
    for script in (UNITS / "fediaid-cli", ROOT / "deploy" / "entrypoint.sh"):
        done = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, f"{script.name}: {done.stderr}"


def test_the_environment_file_is_what_systemd_and_sh_both_read() -> None:
    """env.example is read by systemd (EnvironmentFile=) and by sh (fediaid-cli): one
    KEY=value per line, no spaces or quotes, so both read the same values."""
    for line in (UNITS / "env.example").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and key.isidentifier() and not any(c in value for c in " \t'\"$`\\"), line
