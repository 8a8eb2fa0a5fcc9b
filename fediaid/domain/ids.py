"""Database ids as they arrive from outside (paths, query strings, forms, group keys).

Every id column is a 64-bit integer on both databases (SQLite's INTEGER, PostgreSQL's
bigint), and ids start at 1. A value outside 1..MAX_ID can name no row; passed on to a query
it would fail there (PostgreSQL: "value out of int64 range"; SQLite: OverflowError), so it is
turned away here, as "no such record", before any query is built. ``parse_id`` is the one
place that decides what an id looks like; the HTTP layer's path converter (api/ids.py) and
its parameter parsers call it.
"""

from __future__ import annotations

import re

MAX_ID = 2**63 - 1
# ASCII digits only (str.isdigit() and int() accept other scripts' digits and "²"), no
# sign, no spaces or underscores, at most 19 digits before the range check.
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_id(value: object) -> int | None:
    """``value`` as an id (1..MAX_ID), or None when it cannot be one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_ID else None
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None
