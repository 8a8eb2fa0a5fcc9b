"""``fediaid backup FILE``, ``fediaid restore FILE``, ``fediaid backup-key FILE`` and
``fediaid move-to-postgres --to URL`` (the work is in ``fediaid/storage/backup.py`` and
``fediaid/storage/move.py``; docs/deploy.md "Backups" and "Moving from SQLite to
PostgreSQL").

A backup is encrypted (age) unless ``--unencrypted`` says otherwise: to ``--recipient`` /
``--recipients-file`` public keys, else with ``--passphrase-file``, else to the instance's
``backup_recipients``, else with ``FEDIAID_BACKUP_PASSPHRASE``; with none of these it is
refused."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from fediaid.config import CONFIG_FILE, load_settings

COMMANDS = ("backup", "restore", "backup-key", "move-to-postgres")
PASSPHRASE_ENV = "FEDIAID_BACKUP_PASSPHRASE"  # noqa: S105 (a variable's name)


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("backup", parents=[common],
                       help="write the whole instance (database, keys, settings, media) to "
                            "one file; safe while the instance runs")
    s.add_argument("file", help="the archive to write (e.g. fediaid-2026-12-06.tar.gz.age)")
    s.add_argument("--force", action="store_true", help="replace an existing file")
    s.add_argument("-r", "--recipient", action="append", default=[], metavar="age1...",
                   help="encrypt to this age public key (repeatable; made by `fediaid "
                        "backup-key` or age-keygen); default: backup_recipients in "
                        "fediaid.toml")
    s.add_argument("-R", "--recipients-file", action="append", default=[], metavar="PATH",
                   help="encrypt to every age public key in PATH (one a line, as age -R)")
    s.add_argument("--passphrase-file", metavar="PATH",
                   help=f"encrypt with the passphrase on PATH's first line (or set "
                        f"{PASSPHRASE_ENV}); limited to archives of 512 MiB")
    s.add_argument("--unencrypted", action="store_true",
                   help="write a plain tar.gz (only if you encrypt it yourself)")
    s = sub.add_parser("restore", parents=[common],
                       help="restore an archive made by `fediaid backup` into an empty DIR "
                            "(and an empty PostgreSQL database for a PostgreSQL archive)")
    s.add_argument("file")
    s.add_argument("--database-url", help="the empty PostgreSQL database to restore into "
                                          "(default: the one the archived settings name)")
    s.add_argument("--force", action="store_true",
                   help="replace the instance already in DIR (and the database's contents)")
    s.add_argument("-i", "--identity", action="append", default=[], metavar="PATH",
                   help="the backup key's secret file, for an archive encrypted to it "
                        "(repeatable)")
    s.add_argument("--passphrase-file", metavar="PATH",
                   help=f"the passphrase of an archive made with one (or set "
                        f"{PASSPHRASE_ENV})")
    s = sub.add_parser("backup-key", parents=[common],
                       help="make a key pair for encrypted backups: writes the secret key to "
                            "FILE (keep it off the server) and prints the public key")
    s.add_argument("file", help="where to write the secret key (never overwritten)")
    s = sub.add_parser("move-to-postgres", parents=[common],
                       help="copy this SQLite instance into an empty PostgreSQL database, "
                            "checked row for row")
    s.add_argument("--to", required=True, metavar="URL",
                   help="postgresql+asyncpg://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
    s.add_argument("--switch", action="store_true",
                   help=f"also point {CONFIG_FILE} at the new database when the check passes")


async def run(args: argparse.Namespace, data: Path) -> int:
    if args.command == "backup":
        return await _backup(args, data)
    if args.command == "restore":
        return await _restore(args, data)
    if args.command == "backup-key":
        return _backup_key(args)
    return await _move(args, data)


REFUSED_UNENCRYPTED = (
    "refusing to write an unencrypted backup: it would hold the group's private keys and "
    "every member's details in the clear. Make a backup key once with `fediaid backup-key "
    "FILE` (keep FILE off this server), then back up with --recipient age1... or put "
    "backup_recipients = [\"age1...\"] in fediaid.toml; or use --passphrase-file PATH. "
    "Add --unencrypted only if you encrypt the file yourself.")


def _encryption(args: argparse.Namespace, recipients_setting: tuple[str, ...]) -> Any:
    """The ``Encryption`` the options ask for, or None for ``--unencrypted``."""
    from fediaid.storage.backup import (
        BackupError,
        Encryption,
        parse_recipients,
        read_passphrase_file,
        read_recipients_file,
    )

    given = [*parse_recipients(args.recipient, "--recipient")]
    for path in args.recipients_file:
        given += read_recipients_file(Path(path))
    if args.unencrypted:
        if given or args.passphrase_file:
            raise BackupError("--unencrypted cannot go with --recipient, --recipients-file "
                              "or --passphrase-file")
        return None
    if given and args.passphrase_file:
        raise BackupError("encrypt to recipients or with a passphrase, not both")
    if given:
        return Encryption(recipients=tuple(given))
    if args.passphrase_file:
        return Encryption(passphrase=read_passphrase_file(Path(args.passphrase_file)))
    env_passphrase = os.environ.get(PASSPHRASE_ENV, "")
    if recipients_setting and env_passphrase:
        raise BackupError(f"both backup_recipients (fediaid.toml) and {PASSPHRASE_ENV} are "
                          "set: choose one (or say which with --recipient or "
                          "--passphrase-file)")
    if recipients_setting:
        return Encryption(recipients=tuple(parse_recipients(recipients_setting,
                                                            "backup_recipients")))
    if env_passphrase:
        return Encryption(passphrase=env_passphrase)
    raise BackupError(REFUSED_UNENCRYPTED)


async def _backup(args: argparse.Namespace, data: Path) -> int:
    from fediaid.storage.backup import SECRETS_WARNING, backup

    settings = load_settings(data)
    encryption = _encryption(args, settings.backup_recipients)
    result = await backup(data, settings.database_url, Path(args.file), force=args.force,
                          encryption=encryption)
    m = result.manifest
    print(f"Backed up the {m.database} instance in {data} (schema {m.schema}, "
          f"{len(m.files) - 2} media files) to {result.path} ({result.size} bytes, mode 0600), "
          f"{result.encryption or 'NOT encrypted'}.")
    if encryption is None:
        print(SECRETS_WARNING)
    elif encryption.passphrase is not None:
        print("The archive holds the group's private keys: whoever has it and the passphrase "
              "can act as the group. Keep the passphrase apart from the copies.")
    else:
        print("The archive holds the group's private keys; only the secret backup keys open "
              "it (`fediaid restore FILE --identity KEYFILE`, or age -d -i KEYFILE). This "
              "server cannot open it.")
    return 0


def _keys(args: argparse.Namespace) -> Any:
    from fediaid.storage.backup import Keys, read_identities, read_passphrase_file

    identities = []
    for path in args.identity:
        identities += read_identities(Path(path))
    if args.passphrase_file:
        passphrase: str | None = read_passphrase_file(Path(args.passphrase_file))
    else:
        passphrase = os.environ.get(PASSPHRASE_ENV) or None
    return Keys(identities=tuple(identities), passphrase=passphrase,
                key_file=", ".join(args.identity) or "the key file")


def _backup_key(args: argparse.Namespace) -> int:
    from fediaid.storage.backup import write_identity

    path = Path(args.file)
    public = write_identity(path)
    print(f"Wrote a new SECRET backup key to {path} (mode 0600).")
    print("Move it OFF this server now (to a coordinator's own computer, a USB stick kept "
          "safe, a password manager), keep a second copy, then delete it here: a key left on "
          "the server opens the backups for whoever takes the server. Without it, backups "
          "made for it cannot be restored by anyone.")
    print("Encrypt backups to its public key (not secret):")
    print(f"  fediaid backup FILE.tar.gz.age --recipient {public}")
    print(f"  or in fediaid.toml, for every backup: backup_recipients = [\"{public}\"]")
    print(f"Restore with: fediaid restore FILE.tar.gz.age --identity {path.name}")
    print(f"(age and rage open them too: age -d -i {path.name} FILE.tar.gz.age > FILE.tar.gz)")
    print(public)
    return 0


async def _restore(args: argparse.Namespace, data: Path) -> int:
    from fediaid.storage.backup import SECRETS_WARNING, restore, with_driver

    url = args.database_url or os.environ.get("FEDIAID_DATABASE_URL") or None
    url = with_driver(url) if url else None
    result = await restore(Path(args.file), data, database_url=url, force=args.force,
                           keys=_keys(args))
    m = result.manifest
    print(f"Restored the backup of {m.created} (fediaid {m.version}, schema {m.schema}) into "
          f"{data}: {m.database} database, {result.media_files} media files; migrated to "
          "the current schema.")
    print("The restored instance has the same keys: it is the same group to other servers. "
          "Run only one copy of it at a time.")
    print(SECRETS_WARNING)
    return 0


async def _move(args: argparse.Namespace, data: Path) -> int:
    from fediaid.storage.backup import set_database_url, with_driver
    from fediaid.storage.move import move

    settings = load_settings(data)
    print("Stop the instance (fediaid serve and any worker) before moving: changes made "
          "during the copy would be lost.")
    to = with_driver(args.to)
    reports = await move(settings.database_url, to, progress=print)
    bad = [r for r in reports if not r.ok]
    total = sum(r.source_rows for r in reports)
    print(f"{'table':32} {'SQLite':>9} {'PostgreSQL':>10}  check")
    for r in reports:
        if r.source_rows or not r.ok:
            print(f"{r.name:32} {r.source_rows:>9} {r.target_rows:>10}  "
                  f"{'same' if r.ok else 'DIFFERENT'}")
    if bad:
        print(f"The copy differs in {len(bad)} table(s): {', '.join(r.name for r in bad)}. "
              "Keep running on SQLite; the PostgreSQL database should be emptied before "
              "trying again.")
        return 1
    print(f"Copied {total} rows in {len(reports)} tables; every row checked.")
    config = data / CONFIG_FILE
    if args.switch:
        new = set_database_url(config.read_text(encoding="utf-8"), to)
        tmp = config.with_name(f".{CONFIG_FILE}.new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new)
        os.replace(tmp, config)
        print(f"{config} now uses the PostgreSQL database; start the instance again. "
              "The SQLite file stays in place, untouched (keep it until you are sure).")
    else:
        print(f"To switch, set in {config}:\n  database_url = \"{to}\"\n"
              "(or run this again with --switch on an empty database), then start the "
              "instance again. The SQLite file stays in place, untouched.")
    if os.environ.get("FEDIAID_DATABASE_URL"):
        print("Note: FEDIAID_DATABASE_URL is set in this environment and overrides the file.")
    return 0
