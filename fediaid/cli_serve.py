"""``fediaid serve --processes N``: several web processes on one port (PostgreSQL only).

This process (the supervisor) applies pending migrations once, binds the listening socket,
and starts N web processes (``fediaid serve --no-workers`` on that inherited socket: the
kernel hands each new connection to one of them) and, unless ``--no-workers``, one
``fediaid worker`` process. It imports nothing of the application beyond that, restarts a
process that exits while it runs (a crash, ``kill -9``) and stops them all on SIGTERM or
SIGINT. A child that loses its supervisor (even to ``kill -9``) is sent SIGTERM by the kernel
(Linux ``PR_SET_PDEATHSIG``), so none is left behind.

SQLite is refused: it has one writer, which processes would only queue for.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from fediaid.config import Settings
from fediaid.errors import ConfigError

# The garbage collector for a long-running server (``tune_process``).
GC_THRESHOLDS = (10_000, 20, 20)
RESTART_PAUSE = 1.0  # seconds before starting again a process that exited soon after its start
STOP_SECONDS = 15.0


def tune_process() -> None:
    """For ``fediaid serve`` and ``fediaid worker``, once start-up is done (the runtime
    open, the application built): the garbage collector set for a server, not a script
    (docs/benchmarks.md, "Inbox burst").

    - What start-up made (modules, SQLAlchemy's tables and compiled statements, the
      services) is moved out of the garbage collector's sight (``gc.freeze``): a full
      collection (a pause for every request in flight) no longer walks the objects that
      live as long as the process.
    - The youngest generation is collected after 10,000 new objects instead of 700: a
      request or an inbox slice makes a few hundred that die by reference counting, and
      collecting every 700 survivors mostly walked objects still in use.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def check_database(settings: Settings, processes: int) -> None:
    from sqlalchemy.engine import make_url

    if processes > 1 and make_url(settings.database_url).get_backend_name() == "sqlite":
        raise ConfigError(
            f"--processes {processes} needs PostgreSQL: this instance uses SQLite, which has "
            "one writer that several processes would only wait for. Run one process, or "
            "move the instance to PostgreSQL (docs/deploy.md, \"Several processes on "
            "PostgreSQL\").")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _share_metrics(data: Path) -> None:
    """Every child counts its /metrics counters in one folder (prometheus_client's
    multiprocess mode, fediaid/metrics.py), so a scrape answered by any web process adds up
    all of them, the worker's deliveries too. The operator's ``PROMETHEUS_MULTIPROC_DIR``
    (shared with separate ``fediaid worker`` processes) is used as it is; otherwise
    ``DIR/metrics``, emptied now: files left by an earlier run would be counted again."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    folder = data / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder.resolve())


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the supervisor dies (Linux only)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class _Child:
    def __init__(self, name: str, args: list[str], fds: tuple[int, ...]) -> None:
        self.name = name
        self.args = args
        self.fds = fds
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, pass_fds=self.fds,
                                     preexec_fn=_die_with_parent if sys.platform == "linux"
                                     else None)
        self.started = time.monotonic()


def supervise(settings: Settings, args: argparse.Namespace, data: Path) -> int:
    check_database(settings, args.processes)
    _migrate_once(settings)
    sock = _bind(args.host, args.port)
    fd = sock.fileno()
    _share_metrics(data)
    base = [sys.executable, "-m", "fediaid"]
    if getattr(args, "log_format", None):
        base += ["--log-format", args.log_format]
    children = [_Child(f"web {i + 1}", [*base, "serve", "--data", str(data), "--host",
                                         args.host, "--port", str(args.port), "--no-workers",
                                         "--listen-fd", str(fd)], (fd,))
                for i in range(args.processes)]
    if not args.no_workers:
        children.append(_Child("worker", [*base, "worker", "--data", str(data)], ()))
    stopping = False

    def stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.start()
    print(f"fediaid serving {settings.group_name} at http://{args.host}:{args.port} with "
          f"{args.processes} web processes" + ("" if args.no_workers else " and a worker"),
          flush=True)
    try:
        while not stopping:
            time.sleep(0.2)
            for child in children:
                assert child.proc is not None
                code = child.proc.poll()
                if code is None or stopping:
                    continue
                print(f"fediaid: {child.name} (pid {child.proc.pid}) exited with {code}; "
                      "starting it again", file=sys.stderr, flush=True)
                if time.monotonic() - child.started < 5:
                    time.sleep(RESTART_PAUSE)
                child.start()
    finally:
        for child in children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for child in children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
        sock.close()
    return 0


def _migrate_once(settings: Settings) -> None:
    """Bring the schema to head here, so N processes starting together do not race."""
    import asyncio

    from fediaid.storage.engine import Database
    from fediaid.storage.migrate import upgrade

    async def go() -> None:
        db = Database(settings.database_url)
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    asyncio.run(go())
