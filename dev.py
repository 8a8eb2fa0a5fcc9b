#!/usr/bin/env python3
"""Two commands for a fresh machine with only Python 3.11+:

    python3 dev.py serve   # create .venv, install, initialise ./data on first run, serve
    python3 dev.py test    # create .venv, install with test tools, lint, type-check, test

Uses only the standard library until the virtual environment exists.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def ensure_venv(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit("fediaid needs Python 3.11 or newer.")
    if not PY.exists():
        print("Creating the virtual environment in .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    marker = VENV / ".fediaid-installed"
    installed = marker.read_text().split() if marker.exists() else []
    # A test install also serves; a plain install does not have the test tools.
    if f"{digest}:test" in installed or (not extras and f"{digest}:" in installed):
        return
    print("Installing fediaid and its dependencies ...", flush=True)
    spec = f".[{extras}]" if extras else "."
    subprocess.run([str(PY), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([str(PY), "-m", "pip", "install", "--quiet", "-e", spec], check=True,
                   cwd=ROOT)
    marker.write_text(f"{digest}:{extras}")


def serve(args: list[str]) -> int:
    ensure_venv("")
    data = os.environ.get("FEDIAID_DATA", str(ROOT / "data"))
    port = os.environ.get("PORT", "8000")
    fediaid = str(BIN / "fediaid")
    if not (Path(data) / "fediaid.toml").exists():
        subprocess.run(
            [fediaid, "init", "--data", data, "--domain", f"127.0.0.1:{port}",
             "--group", "neighbors", "--name", "Our Neighborhood Mutual Aid", "--dev"],
            check=True,
        )
    os.execv(fediaid, [fediaid, "serve", "--data", data, "--port", port, *args])


DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium. Install it when missing and we may (root
    with apt-get, as on this project's machines and CI); otherwise those tests say they are
    skipped and why. The flyer's PDF prints with DejaVu Sans (fonts-dejavu-core), installed
    the same way."""
    import shutil

    if (shutil.which("chromium") or os.environ.get("FEDIAID_CHROMIUM")) and (
            DEJAVU.exists() or not shutil.which("apt-get")):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print("Chromium or DejaVu Sans is not installed: the real-browser tests will be "
              "skipped, the flyer's font test fails.", flush=True)
        return
    print("Installing Chromium and DejaVu Sans for the tests (apt-get) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium",
                 "fonts-dejavu-core"]):
        if subprocess.run(cmd, env=env).returncode != 0:
            print("Could not install Chromium: the browser tests will be skipped.", flush=True)
            return


def test(args: list[str]) -> int:
    ensure_venv("test")
    ensure_chromium()
    steps = [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "mypy"), "--strict", "activitypub", "fediaid/domain"],
        [str(BIN / "lint-imports")],
        [str(PY), "-m", "pytest", *args],
    ]
    for step in steps:
        print("$ " + " ".join(Path(step[0]).name if i == 0 else s for i, s in enumerate(step)),
              flush=True)
        code = subprocess.run(step, cwd=ROOT).returncode
        if code != 0:
            return code
    return test_newest_python(args)


# The parts that depend most on the interpreter (TLS and certificates, cryptography, the
# HTTP client stack, signatures, the sanitizer) run again on Python 3.13 when the machine
# has it; the whole suite runs on the interpreter that ran this script.
NEWEST = "3.13"
NEWEST_TESTS = ["tests/activitypub", "tests/fediaid/test_transport.py",
                "tests/fediaid/test_delivery.py", "tests/fediaid/test_sanitize.py",
                "tests/fediaid/test_inbound_notes.py", "tests/hostile/test_fuzz_signatures.py"]


def find_python(version: str) -> str | None:
    """A working Python ``version``: pyenv's own build first (its shims answer only for the
    selected version), then one on PATH; each is tried before it is used."""
    import glob
    import shutil

    candidates = sorted(glob.glob(os.path.expanduser(
        f"~/.pyenv/versions/{version}*/bin/python{version}")), reverse=True)
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        check = subprocess.run([candidate, "-c", "import ssl, venv"], capture_output=True)
        if check.returncode == 0:
            return candidate
    return None


def test_newest_python(args: list[str]) -> int:
    if args or sys.version_info[:2] == tuple(int(p) for p in NEWEST.split(".")):
        return 0  # a chosen subset, or already the newest
    python = find_python(NEWEST)
    if python is None:
        print(f"Python {NEWEST} not found: the second run on it is skipped.", flush=True)
        return 0
    env_dir = ROOT / f".venv{NEWEST.replace('.', '')}"
    py = env_dir / "bin" / "python"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    marker = env_dir / ".fediaid-installed"
    if not (marker.exists() and marker.read_text() == digest):
        print(f"Preparing {env_dir.name} (Python {NEWEST}) ...", flush=True)
        subprocess.run([python, "-m", "venv", str(env_dir)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                       check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "-e", ".[test]"],
                       check=True, cwd=ROOT)
        marker.write_text(digest)
    step = [str(py), "-m", "pytest", "-q", *NEWEST_TESTS]
    print(f"$ python{NEWEST} -m pytest -q " + " ".join(NEWEST_TESTS), flush=True)
    return subprocess.run(step, cwd=ROOT).returncode


def main() -> int:
    commands = {"serve": serve, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
