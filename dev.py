#!/usr/bin/env python3
"""Two commands for a fresh machine with only Python 3.11+:

    python3 dev.py serve   # create .venv, install, initialise ./data on first run, serve
    python3 dev.py test    # create .venv, install with test tools, lint, type-check, test

and, once it is installed:

    python3 dev.py serve --port 8080      # another port (or PORT=8080)
    python3 dev.py serve --lan            # reachable from a phone on the same Wi-Fi
    python3 dev.py fediaid admin ...      # any `fediaid` command, on ./data

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
    print("Installing fediaid and its dependencies (a few minutes the first time) ...",
          flush=True)
    spec = f".[{extras}]" if extras else "."
    # setuptools prints a boxed notice about every editable install ("Please be careful
    # with folders ... with the same name as your package") that reads like an error; it
    # is a UserWarning, silenced for the install only.
    env = {**os.environ, "PYTHONWARNINGS": "ignore::UserWarning"}
    subprocess.run([str(PY), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True,
                   env=env)
    subprocess.run([str(PY), "-m", "pip", "install", "--quiet", "-e", spec], check=True,
                   cwd=ROOT, env=env)
    marker.write_text(f"{digest}:{extras}")


def data_dir() -> str:
    return os.environ.get("FEDIAID_DATA", str(ROOT / "data"))


def take_option(args: list[str], name: str) -> str | None:
    """Remove ``--name VALUE`` or ``--name=VALUE`` from ``args``; return VALUE, or None."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
            del args[i:i + 2]
            return value
        if arg.startswith(name + "="):
            del args[i]
            return arg.split("=", 1)[1]
    return None


def lan_address() -> str | None:
    """This computer's address on the local network: the source address of the route to a
    documentation address (RFC 5737). Connecting a UDP socket sends nothing."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(s.getsockname()[0])
    return None if address.startswith(("127.", "0.")) else address


def configured_domain(data: str) -> str | None:
    import tomllib

    path = Path(data) / "fediaid.toml"
    if not path.exists():
        return None
    return str(tomllib.loads(path.read_text(encoding="utf-8")).get("domain", ""))


def serve_command(args: list[str]) -> list[str]:
    """Create the instance on first run (quietly: the server prints the one login link)
    and return the `fediaid serve` command line. ``--port`` (or PORT, default 8000),
    ``--host`` (or HOST, default 127.0.0.1) and ``--lan`` (listen on every interface, and
    use this computer's network address in the instance's links) are read here; other
    arguments go to `fediaid serve`."""
    args = list(args)
    port = take_option(args, "--port") or os.environ.get("PORT", "8000")
    host = take_option(args, "--host") or os.environ.get("HOST", "127.0.0.1")
    lan = "--lan" in args
    if lan:
        args.remove("--lan")
        host = "0.0.0.0"
    address = (lan_address() if lan else None) or "127.0.0.1"
    if lan and address == "127.0.0.1":
        print("Could not find this computer's network address (is it on Wi-Fi?). Serving "
              "on every interface anyway; see your network settings for the address.",
              flush=True)
    data = data_dir()
    fediaid = str(BIN / "fediaid")
    domain = configured_domain(data)
    if domain is None:
        domain = f"{address}:{port}"
        done = subprocess.run(
            [fediaid, "init", "--data", data, "--domain", domain,
             "--group", "neighbors", "--name", "Our Neighborhood Mutual Aid", "--dev"],
            capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(done.stderr or done.stdout)
        print(f"Created a new instance in {data}/ for http://{domain} (group "
              "@neighbors, first coordinator: admin).", flush=True)
    elif lan and domain != f"{address}:{port}":
        print(f"This instance was created for http://{domain}: its links (and the login "
              f"link below) use that address. From a phone, open http://{address}:{port} "
              "and change the address in a link the same way; or try a separate instance "
              "made for the network: FEDIAID_DATA=data-lan python3 dev.py serve --lan",
              flush=True)
    if lan:
        print(f"On a phone on the same Wi-Fi, open http://{address}:{port}", flush=True)
    return [fediaid, "serve", "--data", data, "--host", host, "--port", port, *args]


def serve(args: list[str]) -> int:
    ensure_venv("")
    command = serve_command(args)
    os.execv(command[0], command)


def fediaid_cli(args: list[str]) -> int:
    """`python3 dev.py fediaid admin status`: a `fediaid` command on the instance that
    `dev.py serve` uses (./data, or FEDIAID_DATA), without activating .venv."""
    ensure_venv("")
    os.environ.setdefault("FEDIAID_DATA", data_dir())
    fediaid = str(BIN / "fediaid")
    os.execv(fediaid, [fediaid, *args])


DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
# The flyer's font for Chinese, Japanese and Korean (fonts-droid-fallback).
DROID = Path("/usr/share/fonts-droid-fallback/truetype/DroidSansFallback.ttf")


_APT_UPDATED = False


def apt_install(packages: list[str]) -> bool:
    """apt-get install ``packages`` (the package lists updated once per run)."""
    global _APT_UPDATED
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _APT_UPDATED:
        if subprocess.run(["apt-get", "update", "-qq"], env=env).returncode != 0:
            return False
        _APT_UPDATED = True
    return subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                           *packages], env=env).returncode == 0


def ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium. Install it when missing and we may (root
    with apt-get, as on this project's machines and CI); otherwise those tests say they are
    skipped and why. The flyer's PDF prints with DejaVu Sans (fonts-dejavu-core) and Droid
    Sans Fallback for Chinese, Japanese and Korean (fonts-droid-fallback), installed the
    same way; without the latter the flyer's CJK test is skipped."""
    import shutil

    if (shutil.which("chromium") or os.environ.get("FEDIAID_CHROMIUM")) and (
            (DEJAVU.exists() and DROID.exists()) or not shutil.which("apt-get")):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print("Chromium, DejaVu Sans or Droid Sans Fallback is not installed: the "
              "real-browser tests and the flyer's CJK test will be skipped, the flyer's "
              "font test fails.", flush=True)
        return
    print("Installing Chromium and the flyer's fonts for the tests (apt-get) ...", flush=True)
    if not apt_install(["chromium", "fonts-dejavu-core", "fonts-droid-fallback"]):
        print("Could not install Chromium or the fonts: the browser tests and the flyer's "
              "CJK test will be skipped.", flush=True)


# The deployment files' tests (tests/deploy) run Debian's tools on them: Caddy in front of a
# running instance, Compose's `config` on deploy/compose.yaml, `systemd-analyze verify` on
# the units; and `age`, which docs/deploy.md gives for opening a backup by hand, opens one
# in tests/fediaid/test_backup_encryption.py. Command -> Debian package.
DEPLOY_TOOLS = {"caddy": "caddy", "docker-compose": "docker-compose",
                "systemd-analyze": "systemd", "age": "age"}


def ensure_deploy_tools() -> None:
    """Install the deployment tools that are missing, as Chromium is; without apt-get or
    root, their tests say they are skipped and why."""
    import shutil

    missing = sorted({pkg for cmd, pkg in DEPLOY_TOOLS.items() if not shutil.which(cmd)})
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(f"Not installed: {', '.join(missing)}: the deployment files' tests that need "
              "them will be skipped.", flush=True)
        return
    print(f"Installing {', '.join(missing)} for the deployment tests (apt-get) ...",
          flush=True)
    if not apt_install(missing):
        print(f"Could not install {', '.join(missing)}: the deployment tests that need "
              "them will be skipped.", flush=True)


def test(args: list[str]) -> int:
    ensure_venv("test")
    ensure_chromium()
    ensure_deploy_tools()
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
    commands = {"serve": serve, "test": test, "fediaid": fediaid_cli}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
