"""Building instances for tests: in process (a Runtime) or as real `fediaid serve`
processes on loopback ports."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from fediaid.config import Settings
from fediaid.services.runtime import Runtime
from fediaid.services.setup import initialise
from tests.support.databases import fill_migrated

FEDIAID = [sys.executable, "-m", "fediaid"]
# Bytecode for the `fediaid` processes the tests start: where PYTHONDONTWRITEBYTECODE is set
# (this machine's environment sets it), each process compiled every module of ours it
# imports from source, ~0.3 s of CPU of a command's ~1 s and more for `serve`, hundreds of
# times per run. They share a bytecode cache outside the source tree instead.
PYCACHE = Path(tempfile.gettempdir()) / f"fediaid-test-pycache-{os.getuid()}"
CLI_TIMEOUT = 120.0  # seconds; a command that hangs fails the test instead of the run


class CliError(subprocess.CalledProcessError):
    """A failed `fediaid` command; unlike its base class, its message shows stderr."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stderr or ''}".rstrip()


async def open_initialised_runtime(tmp_path: Path, db_url: str, *, domain: str = "a.test",
                                   group: str = "elm", dev: bool = True) -> Runtime:
    settings = Settings(data_dir=tmp_path, domain=domain, group_slug=group,
                        group_name="Elm St Mutual Aid", dev=dev, database_url=db_url,
                        secret_key="test-secret",
                        # Request limits off: tests that make many posts or requests are
                        # about something else. tests/api/test_rate_limits.py turns them on
                        # (``rt.limits.scale``); login locks are always on.
                        rate_limit_scale=0)
    rt = await Runtime.open(settings, require_identity=False)
    await initialise(rt, group_name=settings.group_name, coordinator="admin")
    return rt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Instance:
    """A real `fediaid serve` process on 127.0.0.1."""

    data: Path
    port: int
    group: str
    database_url: str
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    # ``init`` starts from a copy of a migrated database (``fill_migrated``): every `fediaid
    # init` used to run all the migrations in its own process (Alembic's import and ~30
    # migrations, 1-2 s under load, more on PostgreSQL). True: ``init`` runs them itself on
    # the empty database, as a new installation does (some tests keep one per backend).
    fresh_database: bool = False

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        return f"http://{self.domain}"

    @property
    def handle(self) -> str:
        return f"@{self.group}@{self.domain}"

    @property
    def group_uri(self) -> str:
        return f"{self.base}/groups/{self.group}"

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "FEDIAID_DATABASE_URL": self.database_url,
               "FEDIAID_DELIVERY_RETRY_SCALE": "0.02", "FEDIAID_LOG_LEVEL": "info",
               "PYTHONPYCACHEPREFIX": str(PYCACHE)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(self.env)
        return env

    def _init_args(self) -> list[str]:
        return [*FEDIAID, "init", "--data", str(self.data), "--domain", self.domain,
                "--group", self.group, "--dev", "--database-url", self.database_url]

    def prepare_database(self) -> None:
        """Before ``init``: unless ``fresh_database``, make the (new, empty) database a copy
        of a migrated one, so that `fediaid init` finds the schema at its head and only
        creates the instance (actors, keys, the first coordinator)."""
        if self.fresh_database:
            return
        # In a thread of its own: Playwright's sync API (tests/browser) runs an event loop in
        # this one, where asyncio.run refuses to start another.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, fill_migrated(self.database_url)).result()
        if self.database_url.startswith("sqlite"):
            # as private as the file `fediaid init` would have created (DIR's files are 0600)
            os.chmod(self.database_url.split("///", 1)[1], 0o600)

    def init(self) -> None:
        self.prepare_database()
        subprocess.run(self._init_args(), check=True, capture_output=True, env=self._env(),
                       timeout=CLI_TIMEOUT)

    def start(self, *, workers: bool = True) -> None:
        self.launch(workers=workers)
        self.wait_up()

    def launch(self, *, workers: bool = True) -> None:
        """Start `fediaid serve` without waiting for it (see ``wait_up`` and ``start_all``)."""
        args = [*FEDIAID, "serve", "--data", str(self.data), "--port", str(self.port)]
        if not workers:
            args.append("--no-workers")
        with (self.data / "serve.log").open("ab") as log:
            self.proc = subprocess.Popen(args, env=self._env(), stdout=log, stderr=log)

    def wait_up(self, timeout: float = 20.0) -> None:
        try:
            wait_until_up(self.base, self.proc, timeout=timeout)
        except (RuntimeError, TimeoutError) as exc:
            raise type(exc)(f"{self.handle} did not start: {exc}\n{self.log()[-3000:]}"
                            ) from exc

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def cli(self, *args: str) -> str:
        out = subprocess.run([*FEDIAID, *args, "--data", str(self.data)],
                             capture_output=True, env=self._env(), text=True,
                             timeout=CLI_TIMEOUT)
        if out.returncode != 0:
            raise CliError(out.returncode, out.args, out.stdout, out.stderr)
        return out.stdout

    def cli_bg(self, *args: str) -> subprocess.Popen[str]:
        """Run a CLI command in the background; finish it with ``finish_cli``."""
        return subprocess.Popen([*FEDIAID, *args, "--data", str(self.data)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self._env(), text=True)

    def log(self) -> str:
        path = self.data / "serve.log"
        return path.read_text(errors="replace") if path.exists() else ""


def wait_until_up(base: str, proc: subprocess.Popen[bytes] | None = None,
                  timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{base} did not come up")


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s (last value: {last!r})")


def finish_cli(proc: subprocess.Popen[str], timeout: float = CLI_TIMEOUT) -> str:
    """Wait for a command started with ``Instance.cli_bg``; its stdout, or raise with stderr."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise
    if proc.returncode != 0:
        raise CliError(proc.returncode, proc.args, out, err)
    return out


def init_all(*instances: Instance, timeout: float = CLI_TIMEOUT) -> None:
    """``init`` several instances in parallel."""
    for inst in instances:
        inst.prepare_database()
    procs = [subprocess.Popen(i._init_args(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=i._env(), text=True) for i in instances]
    for inst, proc in zip(instances, procs, strict=True):
        try:
            finish_cli(proc, timeout=timeout)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"init of {inst.handle} failed: {exc.stderr}") from exc


def start_all(*instances: Instance, workers: bool = True) -> None:
    """``start`` several instances in parallel."""
    for inst in instances:
        inst.launch(workers=workers)
    for inst in instances:
        inst.wait_up()
