"""The data directory holds private keys, intake records, password hashes and the session
secret: it is 0700 and its files 0600, whatever the umask the process was started with.
``fediaid init`` creates it so, every command sets a private umask and repairs an existing
directory's modes, and the database and media files are created private even by code that
does not go through the CLI. POSIX only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from fediaid.cli import main
from fediaid.datadir import secure_data_dir
from fediaid.storage.engine import Database

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    """Start each test with a permissive umask (as a careless service manager would), and
    give the test run its own back afterwards (the CLI changes the process's)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_init_creates_a_private_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert main(["init", "--data", str(data), "--domain", "a.test", "--group", "g",
                 "--coordinator", "admin", "--dev"]) == 0
    assert mode(data) == 0o700
    assert mode(data / "fediaid.db") == 0o600
    assert mode(data / "fediaid.toml") == 0o600
    for extra in ("fediaid.db-wal", "fediaid.db-shm"):
        if (data / extra).exists():
            assert mode(data / extra) == 0o600
    # The process keeps a private umask: anything it creates later is private too.
    assert os.umask(0o077) == 0o077
    (data / "later").write_text("x")
    assert mode(data / "later") == 0o600


def test_every_command_repairs_an_existing_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert main(["init", "--data", str(data), "--domain", "a.test", "--group", "g",
                 "--coordinator", "admin", "--dev"]) == 0
    os.umask(0o022)
    media = data / "media"
    media.mkdir()
    (media / "a.png").write_bytes(b"x")
    (data / "fediaid.db.bak").write_bytes(b"")
    for path, m in ((data, 0o755), (media, 0o755), (media / "a.png", 0o644),
                    (data / "fediaid.db", 0o644), (data / "fediaid.db.bak", 0o644),
                    (data / "fediaid.toml", 0o644)):
        os.chmod(path, m)
    assert main(["migrate", "--data", str(data)]) == 0
    assert mode(data) == 0o700 and mode(media) == 0o700
    for f in (media / "a.png", data / "fediaid.db", data / "fediaid.db.bak",
              data / "fediaid.toml"):
        assert mode(f) == 0o600, f


def test_secure_data_dir_leaves_other_things_alone(tmp_path: Path) -> None:
    """It tightens modes only (never loosens them), does not follow symlinks out of the
    directory, and does not create a directory that is not there."""
    data = tmp_path / "data"
    assert secure_data_dir(data) == []
    assert not data.exists()
    data.mkdir(mode=0o755)
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    os.chmod(outside, 0o644)
    (data / "link.txt").symlink_to(outside)
    (data / "fediaid.toml").write_text("")
    os.chmod(data / "fediaid.toml", 0o400)
    changed = secure_data_dir(data)
    assert data in changed
    assert mode(data) == 0o700
    assert mode(outside) == 0o644
    assert mode(data / "fediaid.toml") == 0o400


async def test_a_new_sqlite_database_and_its_wal_are_private(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        async with db.read() as conn:
            await conn.execute(text("SELECT x FROM t"))
            assert mode(path) == 0o600
            for extra in ("x.db-wal", "x.db-shm"):
                assert (tmp_path / extra).exists()
                assert mode(tmp_path / extra) == 0o600, extra
    finally:
        await db.dispose()


async def test_media_files_are_private(runtime: object, tmp_path: Path) -> None:
    from fediaid.services.runtime import Runtime

    rt = runtime
    assert isinstance(rt, Runtime)
    rt.media._write("abc.png", b"not really a png")
    assert mode(rt.settings.media_dir) == 0o700
    assert mode(rt.settings.media_dir / "abc.png") == 0o600


def test_only_fediaids_own_files_are_touched(tmp_path: Path) -> None:
    """``--data`` pointed at the wrong directory must not chmod everything in it."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "notes.txt").write_text("x")
    (data / "sub").mkdir()
    os.chmod(data / "notes.txt", 0o644)
    os.chmod(data / "sub", 0o755)
    (data / "fediaid.db").write_text("")
    os.chmod(data / "fediaid.db", 0o644)
    secure_data_dir(data)
    assert mode(data / "notes.txt") == 0o644 and mode(data / "sub") == 0o755
    assert mode(data / "fediaid.db") == 0o600
