"""``fediaid backup`` and ``fediaid restore``: one archive file holding the whole instance.

The archive is a gzip'd tar, written 0600, holding in this order:

- ``manifest.json``: format, database kind, the database's schema revision, when it was
  made, the fediaid version, and the SHA-256 of every other member;
- ``fediaid.toml`` (the instance's settings and its session secret);
- the database: ``fediaid.db`` (SQLite, copied with SQLite's online backup API, so a
  running instance is copied consistently) or ``database.pgdump`` (PostgreSQL, ``pg_dump``
  custom format);
- ``media/...`` (uploaded files).

The database holds every private key (``actor_keys``, ``instance_keys``), so the archive
does too: whoever has it can act as the group. So the archive is normally encrypted with age
(age-encryption.org/v1, through ``pyrage``): to X25519 public keys (``age1...``) whose secret
keys the coordinators keep off the server, streamed (the tar.gz goes through a pipe into
``pyrage.encrypt_io``; nothing holds the whole archive), or with a passphrase (age's scrypt
recipient; ``pyrage.passphrase`` only works on bytes, so that way holds the archive in memory
and is limited to ``PASSPHRASE_MAX_BYTES``). The ``age`` and ``rage`` tools open either.
Unencrypted archives are still written when the caller asks (``fediaid backup --unencrypted``).

Nothing plaintext goes outside the data directory: the database copy or dump is staged in a
``.backup-scratch-*`` directory inside it (removed after; one left by a killed run is removed
by the next backup), the passphrase archive is built in memory, and the output is written to
``.FILE.partial`` (created new, never through a link) and renamed when complete.

Restore checks everything before it writes anything: a readable archive, a known format, a
schema no newer than this version's, every checksum, an empty target (``force`` replaces
one). An encrypted archive is decrypted as it is read (age authenticates every 64 KiB chunk
and the end of the file), into the staging directory; a wrong key or a changed byte stops it
there. It then writes the files and runs the migrations up to head.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

import pyrage  # type: ignore[import-untyped]
from pyrage import x25519
from sqlalchemy import text
from sqlalchemy.engine import make_url

from fediaid import __version__
from fediaid.config import CONFIG_FILE
from fediaid.errors import FediaidError
from fediaid.storage.engine import Database
from fediaid.storage.tables import SCHEMA_HEAD

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "fediaid.db"
PG_MEMBER = "database.pgdump"
SECRETS_WARNING = ("The archive holds the group's private keys, password hashes and the "
                   "session secret: keep it as safe as the server itself.")
AGE_MAGIC = b"age-encryption.org/v1\n"
AGE_ARMOR = b"-----BEGIN AGE ENCRYPTED FILE-----"
# pyrage.passphrase encrypts and decrypts bytes only: a passphrase backup holds the archive
# in memory about three times over (the archive, age's output, its copy into Python).
PASSPHRASE_MAX_BYTES = 512 << 20


class BackupError(FediaidError):
    """A backup or restore that cannot go ahead; nothing was changed."""


@dataclass
class Manifest:
    database: str  # "sqlite" | "postgresql"
    schema: str
    created: str
    version: str
    files: dict[str, str] = field(default_factory=dict)
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, indent=2, sort_keys=True).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def with_driver(url: str) -> str:
    """A PostgreSQL URL as libpq writes it (``postgresql://``, ``postgres://``) with the
    driver fediaid uses; anything else as it is."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url


def kind_of(url: str) -> str:
    return make_url(url).get_backend_name()


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database:
        raise BackupError(f"no SQLite file in {url}")
    return Path(database)


# -- age encryption ------------------------------------------------------------------------
@dataclass(frozen=True)
class Encryption:
    """How a backup is encrypted: to age X25519 recipients (``age1...``), or with a
    passphrase (age's scrypt recipient). Exactly one of the two."""

    recipients: tuple[x25519.Recipient, ...] = ()
    passphrase: str | None = None

    def __post_init__(self) -> None:
        if bool(self.recipients) == (self.passphrase is not None):
            raise BackupError("encrypt to recipients or with a passphrase, not both or neither")
        if self.passphrase is not None and not self.passphrase:
            raise BackupError("the passphrase is empty")

    def describe(self) -> str:
        if self.passphrase is not None:
            return "encrypted with a passphrase (age, scrypt)"
        n = len(self.recipients)
        return f"encrypted with age to {n} public key{'s' if n != 1 else ''}"


def _lines(text: str) -> Iterable[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield number, line


def parse_recipient(value: str, source: str = "") -> x25519.Recipient:
    value = value.strip()
    try:
        return x25519.Recipient.from_str(value)
    except (pyrage.RecipientError, ValueError) as exc:
        hint = (" (that is a secret key: give its public key, age1...)"
                if value.upper().startswith("AGE-SECRET-KEY-") else "")
        where = f"{source}: " if source else ""
        shown = value if not hint else "AGE-SECRET-KEY-..."
        raise BackupError(f"{where}{shown!r} is not an age public key (age1...){hint}"
                          ) from exc


def parse_recipients(values: Iterable[str], source: str = "") -> list[x25519.Recipient]:
    return [parse_recipient(v, source) for v in values]


def read_recipients_file(path: Path) -> list[x25519.Recipient]:
    """A file of recipients as ``age -R`` reads it: one ``age1...`` a line, ``#`` comments."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BackupError(f"cannot read the recipients file {path}: {exc.strerror}") from exc
    found = [parse_recipient(line, f"{path} line {n}") for n, line in _lines(text)]
    if not found:
        raise BackupError(f"{path} names no recipient (age1... lines)")
    return found


def read_identities(path: Path) -> list[x25519.Identity]:
    """The secret keys in an age identity file (as ``fediaid backup-key`` or ``age-keygen``
    write them: ``AGE-SECRET-KEY-1...`` lines, ``#`` comments)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BackupError(f"cannot read the key file {path}: {exc.strerror}") from exc
    found: list[x25519.Identity] = []
    for n, line in _lines(text):
        if line.startswith("age1"):
            raise BackupError(f"{path} line {n} is a public key (age1...); restoring needs "
                              "the secret key file that `fediaid backup-key` wrote")
        try:
            found.append(x25519.Identity.from_str(line))
        except (pyrage.IdentityError, ValueError) as exc:
            raise BackupError(f"{path} line {n} is not an age secret key "
                              "(AGE-SECRET-KEY-1...)") from exc
    if not found:
        raise BackupError(f"{path} holds no age secret key (AGE-SECRET-KEY-1...)")
    return found


def read_passphrase_file(path: Path) -> str:
    """The first line of ``path``, without its line ending."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BackupError(f"cannot read the passphrase file {path}: {exc.strerror}") from exc
    first = text.split("\n", 1)[0].rstrip("\r")
    if not first:
        raise BackupError(f"{path}: the passphrase (its first line) is empty")
    return first


def write_identity(path: Path) -> str:
    """Make a new X25519 identity, write it to ``path`` (0600, never over an existing file,
    in age-keygen's format) and return its public recipient."""
    identity = x25519.Identity.generate()
    public = str(identity.to_public())
    created = datetime.now(UTC).isoformat(timespec="seconds")
    body = (f"# fediaid backup key, created {created}\n"
            "# SECRET: it opens every backup made for the public key below. Keep it off the\n"
            "# server, in two safe places; without it those backups cannot be restored.\n"
            f"# public key: {public}\n{identity}\n")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise BackupError(f"{path} already exists; a key file is never overwritten") from exc
    except OSError as exc:
        raise BackupError(f"cannot write {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(body)
    os.chmod(path, 0o600)
    return public


def age_header(path: Path) -> bytes | None:
    """The header of an age file (up to its MAC line), or None for anything else."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith(AGE_ARMOR):  # ASCII armor (age -a): whole 64-character lines of base64
        lines = head.replace(b"\r", b"").split(b"\n")[1:-1]
        whole = [line for line in lines[:48] if len(line) == 64]
        try:
            head = base64.b64decode(b"".join(whole))
        except ValueError:
            return AGE_MAGIC
    if not head.startswith(AGE_MAGIC):
        return None
    end = head.find(b"\n---")
    return head if end < 0 else head[:end]


def _is_passphrase_file(header: bytes) -> bool:
    return b"\n-> scrypt " in header


class _Pump:
    """Run ``work(sink)`` in a thread, writing into a pipe whose reading end (``end``) is the
    caller's: age's streaming functions pull from a reader and push to a writer, while
    tarfile pushes when it writes an archive. The error the thread met, if any, is kept."""

    def __init__(self, work: Callable[[IO[bytes]], None]) -> None:
        r, w = os.pipe()
        self.end: IO[bytes] = open(r, "rb")
        self.error: Exception | None = None

        def run() -> None:
            try:
                with open(w, "wb") as sink:  # closed whatever happens: the reader sees EOF
                    work(sink)
            except Exception as exc:  # noqa: BLE001 (given to the caller after join)
                self.error = exc

        self.thread = threading.Thread(target=run, name="backup-pipe", daemon=True)
        self.thread.start()

    def finish(self) -> Exception | None:
        """Close the reading end (a thread still writing gets a broken pipe) and wait."""
        self.end.close()
        self.thread.join()
        return self.error


def _decrypt_error(path: Path, exc: BaseException, *, passphrase: bool,
                   key_file: str) -> BackupError:
    message = str(exc)
    if "No matching keys" in message:
        return BackupError(f"the key in {key_file} does not open {path}: it was encrypted "
                           "to other keys (or its header was changed). Nothing was "
                           "restored.")
    if passphrase and "Decryption failed" in message:
        return BackupError(f"the passphrase does not open {path} (a wrong passphrase, or "
                           "the file was changed). Nothing was restored.")
    return BackupError(f"{path} is damaged or was changed after it was made (age: "
                       f"{message}). Nothing was restored.")


# -- PostgreSQL tools ----------------------------------------------------------------------
def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} was not found on PATH. Install PostgreSQL's client tools "
                          "(Debian: apt install postgresql-client) at the server's major "
                          "version or newer.")
    return found


def _libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for pg_dump/pg_restore; the password goes in the environment,
    never on the command line."""
    u = make_url(url)
    args: list[str] = []
    if u.host:
        args += ["-h", u.host]
    if u.port:
        args += ["-p", str(u.port)]
    if u.username:
        args += ["-U", u.username]
    args += ["-d", u.database or ""]
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    return args, env


def _run_tool(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed: {done.stderr.strip()[-2000:]}")


async def schema_revision(db: Database) -> str | None:
    from fediaid.storage.migrate import current_revision

    return await current_revision(db)


async def pg_table_count(url: str) -> int:
    db = Database(url)
    try:
        async with db.read() as conn:
            n = (await conn.execute(text(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = current_schema()"))).scalar_one()
    finally:
        await db.dispose()
    return int(n)


# -- backup --------------------------------------------------------------------------------
@dataclass
class BackupResult:
    path: Path
    manifest: Manifest
    size: int
    encryption: str | None = None  # how it was encrypted, in words; None: not at all


def _media_files(data_dir: Path) -> list[Path]:
    media = data_dir / "media"
    if not media.is_dir():
        return []
    return sorted(p for p in media.rglob("*") if p.is_file() and not p.is_symlink())


def _sqlite_copy(source: Path, target: Path) -> str | None:
    """Copy a live database with SQLite's online backup API; return its schema revision."""
    if not source.is_file():
        raise BackupError(f"the database {source} does not exist")
    src = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        # A self-contained file: no -wal beside it.
        dst.execute("PRAGMA journal_mode=DELETE")
        row = None
        try:
            row = dst.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:
            pass
    finally:
        dst.close()
        src.close()
    return str(row[0]) if row else None


SCRATCH_PREFIX = ".backup-scratch-"
_SCRATCH_LOCK = ".lock"


class _Scratch:
    """A scratch directory for the database copy (SQLite) or dump (PostgreSQL), inside the
    instance's data directory: plaintext like the live database next to it, so under the
    same protection, and on the same disk (not a shared or other /tmp). A run holds a lock
    on ``.lock`` inside while it works; one killed before it could clean up leaves the
    directory, which the next backup removes (``remove_stale_scratch``)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=data_dir))
        self.lock = os.open(self.path / _SCRATCH_LOCK, os.O_WRONLY | os.O_CREAT
                            | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        fcntl.flock(self.lock, fcntl.LOCK_EX)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        try:
            shutil.rmtree(self.path, ignore_errors=True)
        finally:
            os.close(self.lock)


def remove_stale_scratch(data_dir: Path) -> list[Path]:
    """Remove the scratch directories that killed backups left in ``data_dir`` (no run
    holds their lock); return them."""
    removed: list[Path] = []
    for path in sorted(data_dir.glob(f"{SCRATCH_PREFIX}*")):
        if path.is_symlink() or not path.is_dir():
            continue
        try:
            fd = os.open(path / _SCRATCH_LOCK, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            fd = None  # killed between making the directory and its lock
        except OSError:
            continue
        try:
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a backup running now
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        finally:
            if fd is not None:
                os.close(fd)
    return removed


def _open_partial(partial: Path) -> int:
    """Create the output's ``.partial`` file, never following a link planted there. One left
    by a killed run is replaced if it is a plain file of ours; anything else is refused."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        return os.open(partial, flags, 0o600)
    except FileExistsError:
        pass
    st = partial.lstat()
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
        raise BackupError(f"{partial} is in the way (not a file of this user left by an "
                          "earlier backup); look at it and remove it, then try again.")
    partial.unlink()  # an earlier backup stopped before it was done
    try:
        return os.open(partial, flags, 0o600)
    except FileExistsError as exc:
        raise BackupError(f"{partial} appeared again: is another backup writing to "
                          f"{partial.parent}?") from exc


async def backup(data_dir: Path, database_url: str, out: Path, *,
                 force: bool = False, encryption: Encryption | None = None) -> BackupResult:
    """Write the archive ``out`` (file work in a thread; only PostgreSQL's revision is
    read here), encrypted as ``encryption`` says (None: a plain tar.gz)."""
    import asyncio

    revision: str | None = None
    if kind_of(database_url) == "postgresql":
        _pg_tool("pg_dump")
        db = Database(database_url)
        try:
            revision = await schema_revision(db)
        finally:
            await db.dispose()
    return await asyncio.to_thread(_backup_sync, data_dir, database_url, out, force, revision,
                                   encryption)


def _backup_sync(data_dir: Path, database_url: str, out: Path, force: bool,
                 pg_revision: str | None, encryption: Encryption | None) -> BackupResult:
    if out.exists() and not force:
        raise BackupError(f"{out} already exists; choose another name or add --force to "
                          "replace it.")
    if not out.parent.is_dir():
        raise BackupError(f"the directory {out.parent} does not exist")
    config = data_dir / CONFIG_FILE
    if not config.is_file():
        raise BackupError(f"no fediaid instance in {data_dir} ({CONFIG_FILE} is missing)")
    kind = kind_of(database_url)
    remove_stale_scratch(data_dir)
    with _Scratch(data_dir) as staged:
        if kind == "sqlite":
            member = SQLITE_MEMBER
            revision = _sqlite_copy(sqlite_path(database_url), staged / member)
        elif kind == "postgresql":
            member = PG_MEMBER
            revision = pg_revision
            args, env = _libpq(database_url)
            _run_tool([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-acl",
                       "--file", str(staged / member), *args], env)
        else:
            raise BackupError(f"cannot back up a {kind} database")
        if revision is None:
            raise BackupError("the database has no schema yet; there is nothing to back up")
        entries: list[tuple[str, bytes | Path]] = [(CONFIG_FILE, config.read_bytes()),
                                                   (member, staged / member)]
        # Media files are read from disk twice (checksum, then archive), never held whole.
        for path in _media_files(data_dir):
            entries.append((path.relative_to(data_dir).as_posix(), path))
        manifest = Manifest(database=kind, schema=revision,
                            created=datetime.now(UTC).isoformat(timespec="seconds"),
                            version=__version__)
        for name, content in entries:
            manifest.files[name] = (_file_sha256(content) if isinstance(content, Path)
                                    else _sha256(content))

        def write_tar(sink: IO[bytes]) -> None:
            _write_tar(sink, manifest, entries)

        partial = out.with_name(f".{out.name}.partial")
        fd = _open_partial(partial)
        try:
            with os.fdopen(fd, "wb") as raw:
                if encryption is None:
                    write_tar(raw)
                elif encryption.passphrase is not None:
                    _encrypt_with_passphrase(write_tar, raw, encryption.passphrase)
                else:
                    _encrypt_to_recipients(write_tar, raw, encryption.recipients)
            os.chmod(partial, 0o600)
            os.replace(partial, out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return BackupResult(path=out, manifest=manifest, size=out.stat().st_size,
                        encryption=encryption.describe() if encryption else None)


def _write_tar(sink: IO[bytes], manifest: Manifest,
               entries: Sequence[tuple[str, bytes | Path]]) -> None:
    with tarfile.open(fileobj=sink, mode="w|gz") as tar:
        _add_bytes(tar, MANIFEST, manifest.to_json())
        for name, content in entries:
            if isinstance(content, Path):
                info = tar.gettarinfo(str(content), arcname=name)
                info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
                with content.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                _add_bytes(tar, name, content)


def _encrypt_to_recipients(write_tar: Callable[[IO[bytes]], None], out: IO[bytes],
                           recipients: Sequence[x25519.Recipient]) -> None:
    """Stream the archive through age into ``out``: tarfile writes into a pipe in a thread,
    ``pyrage.encrypt_io`` reads the other end (memory stays flat whatever the size)."""
    pump = _Pump(write_tar)
    try:
        pyrage.encrypt_io(pump.end, out, list(recipients))
    except (pyrage.EncryptError, OSError) as exc:
        failed = pump.finish()
        raise (failed if isinstance(failed, BackupError) else
               BackupError(f"encrypting the backup failed: {exc}")) from exc
    failed = pump.finish()
    if failed is not None:
        # The archive stopped early (a file that vanished, a full disk): age would have
        # closed a valid but short file, so nothing is kept.
        raise failed


class _Capped(io.BytesIO):
    """An in-memory file that refuses to grow past ``PASSPHRASE_MAX_BYTES``."""

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > PASSPHRASE_MAX_BYTES:
            raise BackupError(
                f"the archive is larger than {PASSPHRASE_MAX_BYTES // (1 << 20)} MiB; a "
                "passphrase backup is encrypted in memory and is limited to that. Encrypt to "
                "a backup key instead (`fediaid backup-key`, then --recipient), which "
                "streams.")
        return super().write(data)


def _encrypt_with_passphrase(write_tar: Callable[[IO[bytes]], None], out: IO[bytes],
                             passphrase: str) -> None:
    """pyrage's passphrase API takes bytes: the archive is built in memory (never as a
    plaintext file on disk), refused as soon as it passes the limit."""
    buffer = _Capped()
    write_tar(buffer)
    plain = buffer.getvalue()
    buffer.close()
    try:
        sealed = pyrage.passphrase.encrypt(plain, passphrase)
    except pyrage.EncryptError as exc:
        raise BackupError(f"encrypting the backup failed: {exc}") from exc
    del plain
    out.write(sealed)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


# -- restore -------------------------------------------------------------------------------
_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


def _safe_name(name: str) -> bool:
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/"):
        return False
    if len(parts) == 1:
        return name in (CONFIG_FILE, SQLITE_MEMBER, PG_MEMBER)
    return parts[0] == "media" and all(_SAFE.match(p) and p not in (".", "..")
                                       for p in parts[1:])


def _schema_number(revision: str) -> int:
    try:
        return int(revision)
    except ValueError as exc:
        raise BackupError(f"the archive names an unknown schema revision {revision!r}"
                          ) from exc


@dataclass(frozen=True)
class Keys:
    """What opens an encrypted archive: age identities (from ``key_file``) or a passphrase."""

    identities: tuple[x25519.Identity, ...] = ()
    passphrase: str | None = None
    key_file: str = "the key file"


def read_archive(path: Path, staging: Path, keys: Keys | None = None) -> Manifest:
    """Unpack ``path`` into ``staging`` (decrypting it with ``keys`` if it is an age file)
    and check it; raise ``BackupError`` on anything wrong (the caller has written nothing
    yet)."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist or is not a file")
    try:
        header = age_header(path)
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from exc
    keys = keys or Keys()
    if header is None:
        try:
            with tarfile.open(path, mode="r:*") as tar:
                manifest, seen = _read_members(tar, path, staging)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise BackupError(f"{path} is damaged or not a fediaid backup ({exc})") from exc
    elif _is_passphrase_file(header):
        if keys.passphrase is None:
            raise BackupError(f"{path} is encrypted with a passphrase: give it with "
                              "--passphrase-file FILE (or FEDIAID_BACKUP_PASSPHRASE)")
        _check_passphrase_size(path)
        manifest, seen = _read_with_passphrase(path, staging, keys.passphrase)
    else:
        if not keys.identities:
            raise BackupError(f"{path} is encrypted to a backup key: give its secret key "
                              "file with --identity FILE (made by `fediaid backup-key`, kept "
                              "off the server)")
        manifest, seen = _read_decrypting(path, staging, keys)
    missing = sorted(set(manifest.files) - seen)
    if missing:
        raise BackupError(f"{path} is incomplete: {', '.join(missing[:5])} missing")
    member = SQLITE_MEMBER if manifest.database == "sqlite" else PG_MEMBER
    if member not in seen or CONFIG_FILE not in seen:
        raise BackupError(f"{path} is incomplete: no database or no {CONFIG_FILE}")
    return manifest


def _check_passphrase_size(path: Path) -> None:
    """A passphrase file is decrypted in memory: refused, before it is read, if it is larger
    than a backup made here can be (the archive limit plus age's header and 16 bytes of tag
    per 64 KiB chunk)."""
    size = path.stat().st_size
    limit = PASSPHRASE_MAX_BYTES + PASSPHRASE_MAX_BYTES // (64 << 10) * 16 + (64 << 10)
    if size > limit:
        raise BackupError(
            f"{path} is {size // (1 << 20)} MiB; a passphrase backup is decrypted in memory "
            f"and is limited to {PASSPHRASE_MAX_BYTES // (1 << 20)} MiB, so this file was "
            "not made by `fediaid backup` with a passphrase. Decrypt it with the age tool "
            "(age -d FILE > backup.tar.gz) and restore the result.")


def _read_with_passphrase(path: Path, staging: Path,
                          passphrase: str) -> tuple[Manifest, set[str]]:
    try:
        plain = pyrage.passphrase.decrypt(path.read_bytes(), passphrase)
    except pyrage.DecryptError as exc:
        raise _decrypt_error(path, exc, passphrase=True, key_file="") from exc
    try:
        with tarfile.open(fileobj=io.BytesIO(plain), mode="r:gz") as tar:
            return _read_members(tar, path, staging)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BackupError(f"{path} is damaged or not a fediaid backup ({exc})") from exc


def _read_decrypting(path: Path, staging: Path, keys: Keys) -> tuple[Manifest, set[str]]:
    """Decrypt in a thread (``pyrage.decrypt_io`` into a pipe) while tarfile reads the other
    end here. The tar's own end is not the file's: the rest is read too, so age has checked
    every chunk and the file's end before this returns."""
    identities = list(keys.identities)

    def decrypt(sink: IO[bytes]) -> None:
        with path.open("rb") as source:
            pyrage.decrypt_io(source, sink, identities)

    pump = _Pump(decrypt)
    problem: BaseException | None = None
    result: tuple[Manifest, set[str]] | None = None
    try:
        with tarfile.open(fileobj=pump.end, mode="r|gz") as tar:
            result = _read_members(tar, path, staging)
        while pump.end.read(1 << 20):
            pass
    except (BackupError, tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        problem = exc
    failed = pump.finish()
    # age's error is the cause when there is one (the tar reader then only saw the stream
    # stop); a broken pipe is the thread noticing that the reading here stopped first.
    if failed is not None and not isinstance(failed, BrokenPipeError):
        raise _decrypt_error(path, failed, passphrase=False, key_file=keys.key_file
                             ) from failed
    if isinstance(problem, BackupError):
        raise problem
    if problem is not None or result is None:
        raise BackupError(f"{path} is damaged or not a fediaid backup ({problem})"
                          ) from problem
    return result


def _read_members(tar: tarfile.TarFile, path: Path,
                  staging: Path) -> tuple[Manifest, set[str]]:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isfile():
        raise BackupError(f"{path} is not a fediaid backup (no manifest)")
    fh = tar.extractfile(first)
    assert fh is not None
    try:
        raw = json.loads(fh.read())
        manifest = Manifest(**raw)
    except (ValueError, TypeError) as exc:
        raise BackupError(f"{path}: the manifest is unreadable ({exc})") from exc
    if manifest.format != FORMAT:
        raise BackupError(f"{path} has backup format {manifest.format}; this version "
                          f"reads format {FORMAT}")
    if _schema_number(manifest.schema) > _schema_number(SCHEMA_HEAD):
        raise BackupError(
            f"{path} was made by a newer fediaid (schema {manifest.schema}; this one "
            f"knows up to {SCHEMA_HEAD}). Upgrade fediaid first, then restore.")
    if manifest.database not in ("sqlite", "postgresql"):
        raise BackupError(f"{path}: unknown database kind {manifest.database!r}")
    seen: set[str] = set()
    for info in tar:
        if info.offset == first.offset:
            continue  # the manifest, read above
        name = info.name
        if not info.isfile() or not _safe_name(name) or name not in manifest.files:
            raise BackupError(f"{path} holds an unexpected entry {name!r}")
        if name in seen:
            raise BackupError(f"{path} holds {name!r} twice")
        seen.add(name)
        target = staging / name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        src = tar.extractfile(info)
        assert src is not None
        h = hashlib.sha256()
        with target.open("wb") as out:
            while chunk := src.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != manifest.files[name]:
            raise BackupError(f"{path} is damaged: {name} does not match its checksum")
    return manifest, seen


def set_database_url(config_text: str, url: str | None) -> str:
    """``fediaid.toml`` with its top-level ``database_url`` set to ``url`` (or removed, for
    the default SQLite file in DIR). Other lines and comments stay as they are."""
    lines = config_text.splitlines()
    out: list[str] = []
    in_table = False
    placed = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            if not in_table and url and not placed:
                out.append(f"database_url = {json.dumps(url)}")
                placed = True
            in_table = True
        if not in_table and re.match(r"^database_url\s*=", stripped):
            if url and not placed:
                out.append(f"database_url = {json.dumps(url)}")
                placed = True
            continue
        out.append(line)
    if url and not placed:
        out.append(f"database_url = {json.dumps(url)}")
    return "\n".join(out) + "\n"


def _config_database_url(config_text: str) -> str:
    import tomllib

    try:
        return str(tomllib.loads(config_text).get("database_url", ""))
    except tomllib.TOMLDecodeError as exc:
        raise BackupError(f"the archive's {CONFIG_FILE} is not valid TOML: {exc}") from exc


@dataclass
class RestoreResult:
    manifest: Manifest
    database_url: str
    media_files: int


def _dir_in_use(data_dir: Path) -> list[str]:
    found: list[str] = []
    if not data_dir.exists():
        return found
    for entry in sorted(data_dir.iterdir()):
        if entry.name == CONFIG_FILE or entry.name.startswith("fediaid.db"):
            found.append(entry.name)
        elif entry.name == "media" and entry.is_dir() and any(entry.iterdir()):
            found.append("media/")
    return found


def _beside(data_dir: Path) -> str | None:
    """Where a restore unpacks the archive: beside its target (the decrypted archive is as
    private as the instance it becomes), not in the system's temporary directory, which may
    be another disk or shared; removed when the restore ends."""
    beside = data_dir.absolute().parent
    return str(beside) if beside.is_dir() else None


async def restore(archive: Path, data_dir: Path, *, database_url: str | None = None,
                  force: bool = False, keys: Keys | None = None) -> RestoreResult:
    """Restore ``archive`` into ``data_dir`` (and, for a PostgreSQL archive, into the
    database ``database_url``, or the one the archived settings name); ``keys`` open an
    encrypted archive."""
    from fediaid.config import default_database_url
    from fediaid.datadir import make_data_dir
    from fediaid.storage.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix=".fediaid-restore-",
                                     dir=_beside(data_dir)) as tmp:
        staging = Path(tmp)
        manifest = read_archive(archive, staging, keys)
        config_text = (staging / CONFIG_FILE).read_text(encoding="utf-8")
        # Where the database goes.
        if manifest.database == "sqlite":
            if database_url and kind_of(database_url) != "sqlite":
                raise BackupError("this archive holds a SQLite database; restore it into a "
                                  "data directory, then use `fediaid move-to-postgres`.")
            target_url = default_database_url(data_dir)
            new_config = set_database_url(config_text, None)
        else:
            target_url = database_url or _config_database_url(config_text)
            if not target_url or kind_of(target_url) != "postgresql":
                raise BackupError("this archive holds a PostgreSQL database: say which empty "
                                  "database to restore it into with --database-url URL")
            new_config = set_database_url(config_text, target_url)
        # The target must be empty.
        in_use = _dir_in_use(data_dir)
        if in_use and not force:
            raise BackupError(f"{data_dir} already holds an instance ({', '.join(in_use)}); "
                              "restore into an empty directory, or add --force to replace "
                              "it.")
        if manifest.database == "postgresql":
            tool = _pg_tool("pg_restore")
            try:
                tables = await pg_table_count(target_url)
            except Exception as exc:  # any connection failure, said plainly
                raise BackupError(f"cannot reach the database {_hide(target_url)}: {exc}"
                                  ) from exc
            if tables and not force:
                raise BackupError(f"the database {_hide(target_url)} is not empty ({tables} "
                                  "tables); restore into an empty database, or add --force "
                                  "to replace its contents.")
        # Everything checked: write.
        make_data_dir(data_dir)
        if force:
            for name in in_use:
                p = data_dir / name.rstrip("/")
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink(missing_ok=True)
        # The database first: a failed pg_restore (one transaction) leaves both targets
        # as empty as they were.
        if manifest.database == "sqlite":
            dest = sqlite_path(target_url)
            shutil.copyfile(staging / SQLITE_MEMBER, dest)
            os.chmod(dest, 0o600)
        else:
            if force:
                await _empty_pg(target_url)
            args, env = _libpq(target_url)
            _run_tool([tool, "--no-owner", "--no-acl", "--exit-on-error",
                       "--single-transaction", *args, str(staging / PG_MEMBER)], env)
        media = sorted(p for p in (staging / "media").rglob("*") if p.is_file()) \
            if (staging / "media").is_dir() else []
        for p in media:
            dest = data_dir / p.relative_to(staging)
            dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.copyfile(p, dest)
            os.chmod(dest, 0o600)
        config_path = data_dir / CONFIG_FILE
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new_config)
    db = Database(target_url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()
    return RestoreResult(manifest=manifest, database_url=target_url, media_files=len(media))


async def _empty_pg(url: str) -> None:
    db = Database(url)
    try:
        async with db.write() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await db.dispose()


def _hide(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def describe(manifest: Manifest) -> dict[str, Any]:
    return {"database": manifest.database, "schema": manifest.schema,
            "created": manifest.created, "version": manifest.version,
            "files": len(manifest.files)}
