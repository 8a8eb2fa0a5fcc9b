"""Encrypted backups (age, through pyrage): real keys, real files, the real CLI.

- `fediaid backup-key` writes a 0600 secret key file and prints its public key last;
- a backup is refused unless it is encrypted or ``--unencrypted`` says otherwise;
- to recipients (flags, a recipients file, or ``backup_recipients`` in fediaid.toml) and with
  a passphrase (file or FEDIAID_BACKUP_PASSPHRASE): the file is an age file, no secret of
  the instance is readable in it, and it restores;
- a missing or wrong key, a wrong passphrase, a changed byte, a cut file: a plain error and
  nothing written to the target;
- a backup whose archive stops half-way leaves no file.
(Round trips of populated, running instances on both databases, which then federate with
the same keys: tests/integration/test_backup.py.)"""

from __future__ import annotations

import asyncio
import gzip
import os
import shutil
import subprocess
import tarfile
import zlib
from pathlib import Path

import pyrage
import pytest

from fediaid.cli import main
from fediaid.errors import FediaidError
from fediaid.storage import backup as backup_module
from fediaid.storage.backup import AGE_MAGIC, Encryption, parse_recipients
from tests.fediaid.test_backup_refusals import keep_umask as keep_umask  # autouse fixture
from tests.fediaid.test_backup_refusals import tree


@pytest.fixture(autouse=True)
def no_passphrase_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEDIAID_BACKUP_PASSPHRASE", raising=False)
    monkeypatch.delenv("FEDIAID_BACKUP_RECIPIENTS", raising=False)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data = tmp_path / "a"
    assert main(["init", "--data", str(data), "--domain", "a.test", "--group", "elm",
                 "--dev"]) == 0
    (data / "media").mkdir(exist_ok=True)
    (data / "media" / "x.png").write_bytes(b"a neighbour's picture " * 100)
    return data


def make_key(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["backup-key", str(path)]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def secrets_of(data: Path) -> list[bytes]:
    """Strings the archive must not show to whoever finds the file: the session secret and
    the group's private key."""
    import sqlite3

    toml = (data / "fediaid.toml").read_text()
    secret_key = toml.split('secret_key = "')[1].split('"')[0]
    with sqlite3.connect(data / "fediaid.db") as db:
        pem = db.execute("SELECT private_key_pem FROM actor_keys LIMIT 1").fetchone()[0]
    body = pem.splitlines()[1]  # a line of the key itself
    return [secret_key.encode(), body.encode(), b"a neighbour's picture"]


def plaintext_of(archive: Path) -> bytes:
    """Every member of a plain tar.gz, uncompressed."""
    return gzip.decompress(archive.read_bytes())


def refused(capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err, err
    return err


def test_backup_key_writes_a_private_identity_and_prints_its_public_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "backup-key.txt"
    capsys.readouterr()
    assert main(["backup-key", str(key)]) == 0
    out = capsys.readouterr().out
    public = out.strip().splitlines()[-1]
    assert public.startswith("age1") and "OFF this server" in out
    assert key.stat().st_mode & 0o777 == 0o600
    text = key.read_text()
    secret = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(secret) == 1 and secret[0].startswith("AGE-SECRET-KEY-1")
    assert f"# public key: {public}" in text
    assert secret[0] not in out  # the secret is only in the file
    # It is a real key pair: what is encrypted to the public key opens with the file.
    identity = pyrage.x25519.Identity.from_str(secret[0])
    sealed = pyrage.encrypt(b"check", [pyrage.x25519.Recipient.from_str(public)])
    assert pyrage.decrypt(sealed, [identity]) == b"check"
    # Never overwritten.
    refused(capsys, ["backup-key", str(key)], "already exists")
    assert key.read_text() == text


def test_an_unencrypted_backup_needs_to_be_asked_for(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "plain.tar.gz"
    err = refused(capsys, ["backup", str(archive), "--data", str(data)],
                  "refusing to write an unencrypted backup")
    assert "fediaid backup-key" in err
    assert not archive.exists() and not list(tmp_path.glob(".*.partial"))
    public = make_key(tmp_path / "k.txt", capsys)
    refused(capsys, ["backup", str(archive), "--data", str(data), "--unencrypted",
                     "--recipient", public], "cannot go with")
    refused(capsys, ["backup", str(archive), "--data", str(data), "--recipient",
                     "age1notakey"], "is not an age public key")
    assert not archive.exists()
    assert main(["backup", str(archive), "--data", str(data), "--unencrypted"]) == 0
    assert "NOT encrypted" in capsys.readouterr().out
    # The control for the checks below: a plain archive shows every secret once unzipped.
    plain = plaintext_of(archive)
    assert all(s in plain for s in secrets_of(data))


def test_a_backup_to_recipients_hides_everything_and_restores_with_either_key(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alice = make_key(tmp_path / "alice.key", capsys)
    bob = make_key(tmp_path / "bob.key", capsys)
    listed = tmp_path / "recipients.txt"
    listed.write_text(f"# Bob, the other coordinator\n{bob}\n\n")
    archive = tmp_path / "a.tar.gz.age"
    assert main(["backup", str(archive), "--data", str(data), "-r", alice,
                 "--recipients-file", str(listed)]) == 0
    out = capsys.readouterr().out
    assert "encrypted with age to 2 public keys" in out and "private keys" in out
    assert archive.stat().st_mode & 0o777 == 0o600
    raw = archive.read_bytes()
    assert raw.startswith(AGE_MAGIC)
    assert raw.count(b"\n-> X25519 ") == 2
    for secret in secrets_of(data):
        assert secret not in raw
    with pytest.raises((OSError, EOFError, zlib.error)):
        gzip.decompress(raw)
    with pytest.raises(tarfile.TarError):
        tarfile.open(archive).close()

    before = tree(data)
    for who in ("alice", "bob"):
        target = tmp_path / f"restored-by-{who}"
        capsys.readouterr()
        assert main(["restore", str(archive), "--data", str(target),
                     "--identity", str(tmp_path / f"{who}.key")]) == 0
        assert "Restored" in capsys.readouterr().out
        restored = tree(target)
        assert restored["media/x.png"] == before["media/x.png"]
        assert restored["fediaid.toml"] == before["fediaid.toml"]
        assert "fediaid.db" in restored


def test_the_instance_setting_names_default_recipients(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    public = make_key(tmp_path / "k.key", capsys)
    config = data / "fediaid.toml"
    text = config.read_text()
    assert '# backup_recipients = ["age1..."]' in text  # a new instance says where it goes
    config.write_text(text.replace("\n[delivery]",
                                   f'backup_recipients = ["{public}"]\n\n[delivery]', 1))
    archive = tmp_path / "cron.tar.gz.age"
    assert main(["backup", str(archive), "--data", str(data)]) == 0  # as a timer runs it
    assert archive.read_bytes().startswith(AGE_MAGIC)
    target = tmp_path / "r"
    assert main(["restore", str(archive), "--data", str(target), "-i",
                 str(tmp_path / "k.key")]) == 0
    assert tree(target)["media/x.png"] == tree(data)["media/x.png"]
    # A mistyped key in the setting stops the backup instead of writing a plain one.
    config.write_text(text.replace("\n[delivery]",
                                   'backup_recipients = ["age1typo"]\n\n[delivery]', 1))
    refused(capsys, ["backup", str(tmp_path / "typo.age"), "--data", str(data)],
            "backup_recipients: 'age1typo' is not an age public key")
    assert not (tmp_path / "typo.age").exists()


def test_wrong_missing_or_changed_keys_and_files_restore_nothing(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    public = make_key(tmp_path / "right.key", capsys)
    make_key(tmp_path / "wrong.key", capsys)
    archive = tmp_path / "a.tar.gz.age"
    assert main(["backup", str(archive), "--data", str(data), "-r", public]) == 0
    target = tmp_path / "restored"
    restore = ["restore", "--data", str(target)]

    refused(capsys, [*restore, str(archive)], "is encrypted to a backup key")
    refused(capsys, [*restore, str(archive), "-i", str(tmp_path / "wrong.key")],
            "does not open")
    (tmp_path / "public.txt").write_text(public + "\n")
    refused(capsys, [*restore, str(archive), "-i", str(tmp_path / "public.txt")],
            "is a public key")
    raw = archive.read_bytes()
    for name, changed in (("middle", len(raw) // 2), ("last-chunk", len(raw) - 20)):
        bad = bytearray(raw)
        bad[changed] ^= 0x01
        (tmp_path / name).write_bytes(bytes(bad))
        refused(capsys, [*restore, str(tmp_path / name), "-i", str(tmp_path / "right.key")],
                "is damaged or was changed")
    (tmp_path / "cut").write_bytes(raw[:-100])
    refused(capsys, [*restore, str(tmp_path / "cut"), "-i", str(tmp_path / "right.key")],
            "is damaged or was changed")
    assert not target.exists()

    # An existing instance is left as it was by a wrong key, even with --force.
    other = tmp_path / "other"
    assert main(["init", "--data", str(other), "--domain", "b.test", "--group", "oak",
                 "--dev"]) == 0
    before = tree(other)
    refused(capsys, ["restore", str(archive), "--data", str(other), "--force", "-i",
                     str(tmp_path / "wrong.key")], "does not open")
    assert tree(other) == before
    # And the right key restores it.
    assert main([*restore, str(archive), "-i", str(tmp_path / "right.key")]) == 0


def test_a_passphrase_backup_round_trip(data: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """age's scrypt costs about two seconds each way here: one round trip, one wrong try."""
    passphrase = tmp_path / "pass.txt"
    passphrase.write_text("correct horse battery staple\n")
    archive = tmp_path / "a.tar.gz.age"
    assert main(["backup", str(archive), "--data", str(data), "--passphrase-file",
                 str(passphrase)]) == 0
    assert "encrypted with a passphrase" in capsys.readouterr().out
    raw = archive.read_bytes()
    assert raw.startswith(AGE_MAGIC) and b"\n-> scrypt " in raw
    for secret in secrets_of(data):
        assert secret not in raw
    target = tmp_path / "restored"
    refused(capsys, ["restore", str(archive), "--data", str(target)],
            "is encrypted with a passphrase")
    monkeypatch.setenv("FEDIAID_BACKUP_PASSPHRASE", "correct horse battery stable")
    refused(capsys, ["restore", str(archive), "--data", str(target)],
            "the passphrase does not open")
    assert not target.exists()
    monkeypatch.setenv("FEDIAID_BACKUP_PASSPHRASE", "correct horse battery staple")
    assert main(["restore", str(archive), "--data", str(target)]) == 0
    assert tree(target)["media/x.png"] == tree(data)["media/x.png"]


def test_a_passphrase_backup_too_large_for_memory_is_refused(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pass.txt").write_text("pw\n")
    (data / "media" / "big.bin").write_bytes(os.urandom(200_000))
    monkeypatch.setattr(backup_module, "PASSPHRASE_MAX_BYTES", 100_000)
    archive = tmp_path / "a.age"
    refused(capsys, ["backup", str(archive), "--data", str(data), "--passphrase-file",
                     str(tmp_path / "pass.txt")], "Encrypt to a backup key instead")
    assert not archive.exists() and not list(tmp_path.glob(".*.partial"))


def test_an_archive_that_stops_half_way_leaves_no_file(
        data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A media file that cannot be read, a full disk: the tar writer fails after age has
    started. age would close a valid but short file; none may be kept."""
    identity = pyrage.x25519.Identity.generate()
    real = backup_module._write_tar

    def fails_half_way(sink, manifest, entries):  # type: ignore[no-untyped-def]
        real(sink, manifest, entries[:1])
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(backup_module, "_write_tar", fails_half_way)
    out = tmp_path / "a.age"
    with pytest.raises(OSError, match="Input/output error"):
        asyncio.run(backup_module.backup(
            data, f"sqlite+aiosqlite:///{data / 'fediaid.db'}", out,
            encryption=Encryption(recipients=tuple(parse_recipients(
                [str(identity.to_public())])))))
    assert not out.exists() and not list(tmp_path.glob(".*.partial"))


@pytest.mark.skipif(shutil.which("age") is None, reason="the age tool is not installed")
def test_the_age_tool_opens_a_backup(data: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    public = make_key(tmp_path / "k.key", capsys)
    archive = tmp_path / "a.tar.gz.age"
    assert main(["backup", str(archive), "--data", str(data), "-r", public]) == 0
    plain = subprocess.run(["age", "-d", "-i", str(tmp_path / "k.key"), str(archive)],
                           capture_output=True, check=True).stdout
    assert all(s in gzip.decompress(plain) for s in secrets_of(data))


def test_options_that_cannot_go_together(data: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    public = make_key(tmp_path / "k.key", capsys)
    (tmp_path / "pass.txt").write_text("\n")
    out = str(tmp_path / "x.age")
    refused(capsys, ["backup", out, "--data", str(data), "--passphrase-file",
                     str(tmp_path / "pass.txt")], "the passphrase (its first line) is empty")
    (tmp_path / "pass.txt").write_text("pw\n")
    refused(capsys, ["backup", out, "--data", str(data), "-r", public, "--passphrase-file",
                     str(tmp_path / "pass.txt")], "not both")
    with pytest.raises(FediaidError):
        Encryption()
    monkeypatch.setenv("FEDIAID_BACKUP_RECIPIENTS", public)
    monkeypatch.setenv("FEDIAID_BACKUP_PASSPHRASE", "pw")
    refused(capsys, ["backup", out, "--data", str(data)], "choose one")
    assert not Path(out).exists()


def test_no_plaintext_is_staged_outside_the_data_dir(
        data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database copy is staged in the data directory (not /tmp), the passphrase archive
    in memory; nothing is left behind. A scratch directory left by a killed run is removed
    by the next backup; one held by a running backup is not."""
    elsewhere = tmp_path / "tmp"
    elsewhere.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(elsewhere))
    staged: list[Path] = []
    real_copy = backup_module._sqlite_copy

    def copy(source: Path, target: Path) -> str | None:
        staged.append(target)
        return real_copy(source, target)

    monkeypatch.setattr(backup_module, "_sqlite_copy", copy)
    monkeypatch.setattr(pyrage.passphrase, "encrypt",
                        lambda plain, passphrase: b"sealed:" + str(len(plain) > 1000).encode())
    stale = data / ".backup-scratch-killed"
    stale.mkdir()
    (stale / "fediaid.db").write_bytes(b"an old plaintext copy")
    (stale / ".lock").write_bytes(b"")
    running = backup_module._Scratch(data)
    try:
        out = tmp_path / "a.age"
        asyncio.run(backup_module.backup(
            data, f"sqlite+aiosqlite:///{data / 'fediaid.db'}", out,
            encryption=Encryption(passphrase="pw")))
        assert out.read_bytes() == b"sealed:True"
        assert staged and staged[0].parent.parent == data
        assert not staged[0].parent.exists()
        assert not stale.exists()
        assert running.path.is_dir()  # its lock is held: not removed
        assert list(elsewhere.iterdir()) == []
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "a.age", "tmp"]
    finally:
        running.__exit__(None, None, None)
    assert not list(data.glob(".backup-scratch-*"))


def test_the_partial_file_never_follows_a_link(data: Path, tmp_path: Path) -> None:
    identity = pyrage.x25519.Identity.generate()
    encryption = Encryption(recipients=tuple(parse_recipients([str(identity.to_public())])))
    url = f"sqlite+aiosqlite:///{data / 'fediaid.db'}"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "a.age"
    partial = tmp_path / ".a.age.partial"
    partial.symlink_to(victim)
    with pytest.raises(FediaidError, match="is in the way"):
        asyncio.run(backup_module.backup(data, url, out, encryption=encryption))
    assert victim.read_text() == "keep me" and partial.is_symlink() and not out.exists()
    # A plain file of ours left by a killed run is replaced.
    partial.unlink()
    partial.write_bytes(b"half a backup")
    asyncio.run(backup_module.backup(data, url, out, encryption=encryption))
    assert out.read_bytes().startswith(AGE_MAGIC) and not partial.exists()


def test_a_passphrase_restore_above_the_limit_is_refused_before_reading(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "big.age"
    archive.write_bytes(AGE_MAGIC + b"\n-> scrypt c2FsdA 18\nbm9wZQ\n--- bWFj\n"
                        + os.urandom(300_000))
    monkeypatch.setattr(backup_module, "PASSPHRASE_MAX_BYTES", 100_000)
    monkeypatch.setenv("FEDIAID_BACKUP_PASSPHRASE", "pw")
    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        assert self != archive, "the whole file was read"
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    target = tmp_path / "restored"
    refused(capsys, ["restore", str(archive), "--data", str(target)],
            "a passphrase backup is decrypted in memory")
    assert not target.exists()


def test_a_restore_unpacks_beside_its_target_not_in_the_temporary_directory(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The decrypted archive is unpacked in a directory beside the target (as private as
    the instance it becomes), never in the system's temporary directory, and removed."""
    key = make_key(tmp_path / "k.key", capsys)
    archive = tmp_path / "a.tar.gz.age"
    assert main(["backup", str(archive), "--data", str(data), "-r", key]) == 0
    elsewhere = tmp_path / "tmp"
    elsewhere.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(elsewhere))
    unpacked: list[Path] = []
    real_read = backup_module.read_archive

    def read(path: Path, staging: Path, keys: object) -> object:
        unpacked.append(staging)
        return real_read(path, staging, keys)  # type: ignore[arg-type]

    monkeypatch.setattr(backup_module, "read_archive", read)
    parent = tmp_path / "restored"
    parent.mkdir()
    target = parent / "data"
    assert main(["restore", str(archive), "--data", str(target),
                 "--identity", str(tmp_path / "k.key")]) == 0
    assert unpacked and unpacked[0].parent == parent
    assert not unpacked[0].exists()
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in parent.iterdir()) == ["data"]
