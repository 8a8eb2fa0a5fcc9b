"""``fediaid backup FILE``, ``fediaid restore FILE`` and ``fediaid move-to-postgres --to URL``
(the work is in ``fediaid/storage/backup.py`` and ``fediaid/storage/move.py``; docs/deploy.md
"Backups" and "Moving from SQLite to PostgreSQL")."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from fediaid.config import CONFIG_FILE, load_settings

COMMANDS = ("backup", "restore", "move-to-postgres")


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("backup", parents=[common],
                       help="write the whole instance (database, keys, settings, media) to "
                            "one file; safe while the instance runs")
    s.add_argument("file", help="the archive to write (e.g. fediaid-2026-12-06.tar.gz)")
    s.add_argument("--force", action="store_true", help="replace an existing file")
    s = sub.add_parser("restore", parents=[common],
                       help="restore an archive made by `fediaid backup` into an empty DIR "
                            "(and an empty PostgreSQL database for a PostgreSQL archive)")
    s.add_argument("file")
    s.add_argument("--database-url", help="the empty PostgreSQL database to restore into "
                                          "(default: the one the archived settings name)")
    s.add_argument("--force", action="store_true",
                   help="replace the instance already in DIR (and the database's contents)")
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
    return await _move(args, data)


async def _backup(args: argparse.Namespace, data: Path) -> int:
    from fediaid.storage.backup import SECRETS_WARNING, backup

    settings = load_settings(data)
    result = await backup(data, settings.database_url, Path(args.file), force=args.force)
    m = result.manifest
    print(f"Backed up the {m.database} instance in {data} (schema {m.schema}, "
          f"{len(m.files) - 2} media files) to {result.path} ({result.size} bytes, mode 0600).")
    print(SECRETS_WARNING)
    return 0


async def _restore(args: argparse.Namespace, data: Path) -> int:
    from fediaid.storage.backup import SECRETS_WARNING, restore, with_driver

    url = args.database_url or os.environ.get("FEDIAID_DATABASE_URL") or None
    url = with_driver(url) if url else None
    result = await restore(Path(args.file), data, database_url=url, force=args.force)
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
