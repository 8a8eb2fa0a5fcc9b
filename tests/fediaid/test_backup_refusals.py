"""What ``fediaid backup``/``restore``/``move-to-postgres`` refuse, each with a plain message
and nothing changed: a missing, damaged or foreign archive, one from a newer schema, a
member that does not match its checksum, a target that already holds an instance, an
existing backup file, a missing ``pg_dump``. And the move's check notices a difference.
(The round trips themselves: tests/integration/test_backup.py.)"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from fediaid.cli import main
from fediaid.errors import FediaidError
from fediaid.storage.backup import backup
from fediaid.storage.engine import Database
from fediaid.storage.move import check, move
from fediaid.storage.tables import categories
from tests.support.databases import create_pg_database, drop_pg_database, postgres_available


@pytest.fixture(autouse=True)
def keep_umask() -> Iterator[None]:
    old = os.umask(0o077)  # the CLI sets its own; give the test run its own back after
    try:
        yield
    finally:
        os.umask(old)


def tree(path: Path) -> dict[str, str]:
    """Every file under ``path`` and its SHA-256 (nothing when it does not exist)."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture
def made(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "a"
    assert main(["init", "--data", str(data), "--domain", "a.test", "--group", "elm",
                 "--dev"]) == 0
    (data / "media").mkdir(exist_ok=True)
    (data / "media" / "x.png").write_bytes(b"not really a picture")
    archive = tmp_path / "a.tar.gz"
    assert main(["backup", str(archive), "--data", str(data), "--unencrypted"]) == 0
    return data, archive


def rebuild(archive: Path, out: Path, *, manifest_edit=None, member_edit=None,  # type: ignore[no-untyped-def]
            extra=None) -> None:
    """A copy of ``archive`` with its manifest or one member changed, or members added."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for info in src.getmembers():
            data = src.extractfile(info).read()  # type: ignore[union-attr]
            if info.name == "manifest.json" and manifest_edit:
                m = json.loads(data)
                manifest_edit(m)
                data = json.dumps(m).encode()
            elif member_edit and info.name in member_edit:
                data = member_edit[info.name]
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


def refused(capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err, err


def test_restore_refuses_bad_archives_and_changes_nothing(
        made: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, archive = made
    target = tmp_path / "restored"
    restore = ["restore", "--data", str(target)]
    capsys.readouterr()

    refused(capsys, [*restore, str(tmp_path / "missing.tar.gz")], "does not exist")

    damaged = tmp_path / "damaged.tar.gz"
    raw = bytearray(archive.read_bytes())
    for i in range(len(raw) // 2, len(raw) // 2 + 64):
        raw[i] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    refused(capsys, [*restore, str(damaged)], "damaged")

    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    refused(capsys, [*restore, str(truncated)], "damaged")

    foreign = tmp_path / "foreign.tar.gz"
    with tarfile.open(foreign, "w:gz") as tar:
        info = tarfile.TarInfo("notes.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    refused(capsys, [*restore, str(foreign)], "not a fediaid backup")

    newer = tmp_path / "newer.tar.gz"
    rebuild(archive, newer, manifest_edit=lambda m: m.update(schema="9999"))
    refused(capsys, [*restore, str(newer)], "newer fediaid")

    tampered = tmp_path / "tampered.tar.gz"
    rebuild(archive, tampered, member_edit={"fediaid.toml": b'domain = "evil.test"\n'})
    refused(capsys, [*restore, str(tampered)], "does not match its checksum")

    escaping = tmp_path / "escaping.tar.gz"
    evil = b"written outside DIR"
    rebuild(archive, escaping, manifest_edit=lambda m: m["files"].update(
        {"../evil": hashlib.sha256(evil).hexdigest()}), extra={"../evil": evil})
    refused(capsys, [*restore, str(escaping)], "unexpected entry")
    assert not (tmp_path / "evil").exists()
    assert tree(target) == {} and not target.exists()

    # An instance already there is not replaced (unless --force).
    before = tree(data)
    refused(capsys, ["restore", str(archive), "--data", str(data)], "already holds an instance")
    assert tree(data) == before

    # The good archive still restores; the media and settings come back as they were.
    assert main([*restore, str(archive)]) == 0
    assert "private keys" in capsys.readouterr().out
    restored = tree(target)
    assert restored["media/x.png"] == before["media/x.png"]
    assert restored["fediaid.toml"] == before["fediaid.toml"]
    # --force replaces it.
    (target / "media" / "x.png").write_bytes(b"changed")
    assert main([*restore, str(archive), "--force"]) == 0
    assert tree(target)["media/x.png"] == before["media/x.png"]


def test_backup_refuses_to_overwrite_and_needs_pg_dump(
        made: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data, archive = made
    first = archive.read_bytes()
    assert archive.stat().st_mode & 0o777 == 0o600
    capsys.readouterr()
    refused(capsys, ["backup", str(archive), "--data", str(data), "--unencrypted"],
            "already exists")
    assert archive.read_bytes() == first
    assert main(["backup", str(archive), "--data", str(data), "--force", "--unencrypted"]) == 0
    assert not list(tmp_path.glob(".*.partial"))

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FediaidError, match="pg_dump was not found on PATH"):
        asyncio.run(backup(data, "postgresql+asyncpg://x@127.0.0.1:1/none",
                           tmp_path / "pg.tar.gz"))
    assert not (tmp_path / "pg.tar.gz").exists()


pg = pytest.mark.skipif(not postgres_available(),
                        reason="no PostgreSQL server reachable at 127.0.0.1:5432")


@pg
def test_postgres_restore_refuses_a_database_in_use(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = create_pg_database()
    try:
        data = tmp_path / "p"
        assert main(["init", "--data", str(data), "--domain", "a.test", "--group", "elm",
                     "--dev", "--database-url", url]) == 0
        archive = tmp_path / "p.tar.gz"
        assert main(["backup", str(archive), "--data", str(data), "--unencrypted"]) == 0
        with tarfile.open(archive) as tar:
            assert json.loads(tar.extractfile("manifest.json").read())["database"] == \
                "postgresql"  # type: ignore[union-attr]
        capsys.readouterr()
        other = tmp_path / "q"
        refused(capsys, ["restore", str(archive), "--data", str(other), "--database-url", url],
                "is not empty")
        assert not other.exists()
    finally:
        drop_pg_database(url)


@pg
def test_the_moves_check_notices_a_changed_row(tmp_path: Path) -> None:
    data = tmp_path / "a"
    assert main(["init", "--data", str(data), "--domain", "a.test", "--group", "elm",
                 "--dev"]) == 0
    url = create_pg_database()
    source_url = f"sqlite+aiosqlite:///{data / 'fediaid.db'}"

    async def go() -> None:
        reports = await move(source_url, url)
        assert all(r.ok for r in reports) and any(r.source_rows for r in reports)
        target, source = Database(url), Database(source_url)
        try:
            async with target.write() as conn:
                await conn.execute(update(categories).where(categories.c.slug == "food")
                                   .values(active=False))
            bad = [r.name for r in await check(source, target) if not r.ok]
            assert bad == ["categories"]
        finally:
            await target.dispose()
            await source.dispose()
        # A second move into the same (now full) database is refused.
        with pytest.raises(FediaidError, match="not empty"):
            await move(source_url, url)

    try:
        asyncio.run(go())
    finally:
        drop_pg_database(url)


@pg
def test_the_move_copies_a_reply_stored_before_its_parent(tmp_path: Path) -> None:
    """A reply can be stored before the status it answers (a lower id pointing at a higher
    one): PostgreSQL checks each row's reference as it arrives, so the move fills such
    references in after the rows are there."""
    from sqlalchemy import select

    from fediaid.storage.tables import actors, statuses
    from fediaid.storage.types import utcnow

    data = tmp_path / "a"
    assert main(["init", "--data", str(data), "--domain", "a.test", "--group", "elm",
                 "--dev"]) == 0
    url = create_pg_database()
    source_url = f"sqlite+aiosqlite:///{data / 'fediaid.db'}"

    async def go() -> None:
        source = Database(source_url)
        try:
            async with source.write() as conn:
                group = (await conn.execute(select(actors.c.id).where(actors.c.local)
                                            .limit(1))).scalar_one()
                common = {"account_id": group, "visibility": "public", "listed": True,
                          "local": True, "content": "", "spoiler_text": "",
                          "sensitive": False, "created_at": utcnow(), "hidden": False}
                await conn.execute(statuses.insert(), [
                    {"id": 10, "uri": "https://a.test/s/10", "in_reply_to_id": None,
                     "reblog_of_id": None, **common},
                    {"id": 20, "uri": "https://a.test/s/20", "in_reply_to_id": None,
                     "reblog_of_id": 10, **common}])
                # The parent arrived after its reply and was linked then.
                await conn.execute(update(statuses).where(statuses.c.id == 10)
                                   .values(in_reply_to_id=20))
        finally:
            await source.dispose()
        reports = await move(source_url, url)
        assert all(r.ok for r in reports)
        assert [r.source_rows for r in reports if r.name == "statuses"] == [2]
        target = Database(url)
        try:
            async with target.read() as conn:
                rows = (await conn.execute(select(statuses.c.id, statuses.c.in_reply_to_id,
                                                  statuses.c.reblog_of_id)
                                           .order_by(statuses.c.id))).all()
            assert [tuple(r) for r in rows] == [(10, 20, None), (20, None, 10)]
        finally:
            await target.dispose()

    try:
        asyncio.run(go())
    finally:
        drop_pg_database(url)


def test_an_older_backup_is_migrated_on_restore(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from fediaid.storage.migrate import current_revision
    from fediaid.storage.tables import SCHEMA_HEAD

    data = tmp_path / "a"
    assert main(["init", "--data", str(data), "--domain", "a.test", "--group", "elm",
                 "--dev"]) == 0
    older = f"{int(SCHEMA_HEAD) - 1:04d}"
    assert main(["migrate", "--data", str(data), "--downgrade", older]) == 0
    archive = tmp_path / "old.tar.gz"
    assert main(["backup", str(archive), "--data", str(data), "--unencrypted"]) == 0
    with tarfile.open(archive) as tar:
        assert json.loads(tar.extractfile("manifest.json").read())["schema"] == older  # type: ignore[union-attr]
    target = tmp_path / "b"
    assert main(["restore", str(archive), "--data", str(target)]) == 0

    async def revision() -> str | None:
        db = Database(f"sqlite+aiosqlite:///{target / 'fediaid.db'}")
        try:
            return await current_revision(db)
        finally:
            await db.dispose()

    assert asyncio.run(revision()) == SCHEMA_HEAD
