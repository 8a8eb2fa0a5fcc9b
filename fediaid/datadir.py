"""File modes of the data directory.

``DIR`` holds the SQLite database (private keys, intake records, password hashes, session
and token digests), its ``-wal``/``-shm``/``-journal`` files, ``fediaid.toml`` (the session
secret) and ``media/``. None of it is anyone else's business on a shared machine: the
directories are 0700 and the files 0600.

- Every command sets the process umask to 077 first (``private_umask``), so whatever the
  process creates later (SQLite's WAL, a media file, a backup) is private too.
- ``secure_data_dir`` repairs an existing directory (one created by an older version, or
  copied with a loose umask) on every start. It only removes group/other permission bits,
  never adds any, and does not follow symbolic links.
- The files are also created private where they are created (``config.write_config``,
  ``storage/engine.py`` for a new SQLite file, ``services/media.py``), for code that does
  not go through the CLI (tests, embedding).

Nothing here is done on non-POSIX systems (Windows has no such modes).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600
LOOSE = stat.S_IRWXG | stat.S_IRWXO  # any group or other bit


def posix() -> bool:
    return os.name == "posix"


def private_umask() -> None:
    """Files and directories this process creates from now on are private to its user."""
    if posix():
        os.umask(PRIVATE_UMASK)


def make_data_dir(data_dir: Path) -> None:
    """Create ``DIR`` (and missing parents) 0700; an existing one is tightened."""
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    secure_data_dir(data_dir)


def _tighten(path: Path, st: os.stat_result) -> bool:
    current = stat.S_IMODE(st.st_mode)
    if not current & LOOSE:
        return False
    os.chmod(path, current & ~LOOSE, follow_symlinks=False)
    return True


def _ours(data_dir: Path) -> list[Path]:
    """What fediaid keeps in ``DIR``: its config, the SQLite file and its companions (and
    copies named after it), ``media/`` and the files in it. Anything else someone put in
    ``DIR`` is left alone (``--data`` pointed at the wrong place must not chmod a tree)."""
    found: list[Path] = []
    with os.scandir(data_dir) as entries:
        for entry in entries:
            if entry.name == "fediaid.toml" or entry.name.startswith("fediaid.db"):
                found.append(Path(entry.path))
            elif entry.name == "media" and entry.is_dir(follow_symlinks=False):
                found.append(Path(entry.path))
                with os.scandir(entry.path) as media:
                    found.extend(Path(m.path) for m in media)
    return found


def secure_data_dir(data_dir: Path) -> list[Path]:
    """Remove group/other permissions from ``DIR`` and what fediaid keeps in it (not
    following symbolic links). Returns what was changed; nothing when ``DIR`` does not
    exist."""
    if not posix():
        return []
    try:
        top = os.lstat(data_dir)
    except FileNotFoundError:
        return []
    if not stat.S_ISDIR(top.st_mode):
        return []
    changed: list[Path] = []
    for path in [data_dir, *_ours(data_dir)]:
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            if _tighten(path, st):
                changed.append(path)
        except FileNotFoundError:
            continue
        except PermissionError as exc:  # not ours (another user's file): say so
            log.warning("could not restrict the mode of %s: %s", path, exc)
    if changed:
        log.warning("restricted the permissions of %d path(s) in %s (now owner-only): %s",
                    len(changed), data_dir, ", ".join(str(p) for p in changed[:5]))
    return changed
