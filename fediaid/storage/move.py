"""``fediaid move-to-postgres``: copy a SQLite instance into an empty PostgreSQL database.

1. The target must be empty (no tables); it is migrated to head, so its schema is exactly
   what this version creates on PostgreSQL. The source must be at head too.
2. Every table is copied in dependency order (``metadata.sorted_tables``), in batches,
   all in one PostgreSQL transaction: a failure leaves the target as it was after step 1
   (empty tables), and the command can simply be run again after emptying it.
3. Sequences (identity counters) are set past the highest id copied.
4. Both sides are checked, table by table: the row count and a checksum of every row's
   values, normalised so both engines give the same text (booleans, datetimes in UTC,
   JSON, bytes, decimals).

Values go through the same SQLAlchemy ``Table`` objects on both sides, so each column's
type (``UTCDateTime``, ``BigId``, booleans) converts them as the application does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, Table, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.errors import FediaidError
from fediaid.storage.backup import kind_of, pg_table_count
from fediaid.storage.engine import Database
from fediaid.storage.tables import SCHEMA_HEAD, metadata

BATCH = 1000


class MoveError(FediaidError):
    """The move cannot go ahead (or its check failed); the source is never changed."""


@dataclass
class TableReport:
    name: str
    source_rows: int
    target_rows: int
    source_digest: str
    target_digest: str

    @property
    def ok(self) -> bool:
        return (self.source_rows == self.target_rows
                and self.source_digest == self.target_digest)


def _norm(value: Any) -> Any:
    """One engine-independent form of a column value."""
    if value is None or (isinstance(value, str | int) and not isinstance(value, bool)):
        return value
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def _order(table: Table) -> list[Any]:
    return list(table.primary_key.columns) or list(table.columns)


async def table_digest(conn: AsyncConnection, table: Table) -> tuple[int, str]:
    """Rows and a checksum of their values, independent of row order and engine."""
    row_hashes: list[bytes] = []
    result = await conn.stream(select(table))
    async for part in result.partitions(BATCH):
        for row in part:
            encoded = json.dumps([_norm(v) for v in row], separators=(",", ":"))
            row_hashes.append(hashlib.sha256(encoded.encode()).digest())
    row_hashes.sort()
    h = hashlib.sha256()
    for rh in row_hashes:
        h.update(rh)
    return len(row_hashes), h.hexdigest()


async def _copy_table(src: AsyncConnection, dst: AsyncConnection, table: Table) -> int:
    """Copy ``table`` in primary key order. A column referring to the same table
    (``statuses.in_reply_to_id``, ``reblog_of_id``) that points at a row not copied yet
    (a higher id) is written empty first and filled in once every row is there."""
    pk = list(table.primary_key.columns)
    self_refs = [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]
    if self_refs and len(pk) != 1:
        raise MoveError(f"cannot order the rows of {table.name}")  # none in the schema
    later: dict[str, list[dict[str, Any]]] = {name: [] for name in self_refs}
    n = 0
    result = await src.stream(select(table).order_by(*_order(table)))
    async for part in result.partitions(BATCH):
        rows = [dict(r._mapping) for r in part]
        for row in rows:
            for name in self_refs:
                if row[name] is not None and row[name] >= row[pk[0].name]:
                    later[name].append({"_key": row[pk[0].name], "_value": row[name]})
                    row[name] = None
        await dst.execute(table.insert(), rows)
        n += len(rows)
    for name, fills in later.items():
        if fills:
            await dst.execute(table.update().where(pk[0] == bindparam("_key"))
                              .values({name: bindparam("_value")}), fills)
    return n


async def _fix_sequences(dst: AsyncConnection, table: Table) -> None:
    pk = list(table.primary_key.columns)
    if len(pk) != 1 or not isinstance(pk[0].type, Integer):
        return
    col = pk[0].name
    seq = (await dst.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                             {"t": table.name, "c": col})).scalar()
    if seq is None:
        return
    top = (await dst.execute(select(func.max(table.c[col])))).scalar()
    if top is None:
        await dst.execute(text("SELECT setval(CAST(:s AS regclass), 1, false)"), {"s": seq})
    else:
        await dst.execute(text("SELECT setval(CAST(:s AS regclass), :v, true)"),
                          {"s": seq, "v": int(top)})


def _copied() -> list[Table]:
    """The tables copied and compared: all but the derived ones (``info["derived"]``:
    ``picture_changes``, a number that only has to grow with changes in its own database;
    the target keeps the one its migration wrote, moved by the triggers as rows arrive)."""
    return [t for t in metadata.sorted_tables if not t.info.get("derived")]


async def move(source_url: str, target_url: str, *,
               progress: Callable[[str], None] = lambda _m: None) -> list[TableReport]:
    from fediaid.storage.migrate import current_revision, upgrade

    if kind_of(source_url) != "sqlite":
        raise MoveError("this instance is not on SQLite; move-to-postgres copies a SQLite "
                        "instance (use `fediaid backup` and `restore` between PostgreSQL "
                        "databases).")
    if kind_of(target_url) != "postgresql":
        raise MoveError("--to must be a PostgreSQL URL, e.g. "
                        "postgresql+asyncpg://fediaid@localhost/fediaid")
    source = Database(source_url)
    try:
        revision = await current_revision(source)
        if revision != SCHEMA_HEAD:
            raise MoveError(f"the SQLite database is at schema {revision or 'none'}, not "
                            f"{SCHEMA_HEAD}: run `fediaid migrate` first.")
        try:
            tables = await pg_table_count(target_url)
        except FediaidError:
            raise
        except Exception as exc:  # a connection failure, said plainly
            raise MoveError(f"cannot reach the PostgreSQL database: {exc}") from exc
        if tables:
            raise MoveError(f"the PostgreSQL database is not empty ({tables} tables); "
                            "move into a new, empty database.")
        target = Database(target_url)
        try:
            progress("creating the schema in PostgreSQL")
            await upgrade(target)
            # One transaction on each side: the source is read from one snapshot.
            async with source.read() as src, target.write() as dst:
                # The migrations seed some tables (categories, settings): the source's
                # rows replace them.
                for table in reversed(_copied()):
                    await dst.execute(table.delete())
                for table in _copied():
                    try:
                        n = await _copy_table(src, dst, table)
                    except DBAPIError as exc:
                        raise MoveError(
                            f"PostgreSQL refused a row of {table.name}; nothing was copied "
                            f"(the target holds only the empty schema): {exc.orig}") from exc
                    await _fix_sequences(dst, table)
                    if n:
                        progress(f"copied {table.name}: {n} rows")
            return await check(source, target)
        finally:
            await target.dispose()
    finally:
        await source.dispose()


async def check(source: Database, target: Database) -> list[TableReport]:
    reports: list[TableReport] = []
    async with source.read() as src, target.read() as dst:
        for table in _copied():
            sn, sd = await table_digest(src, table)
            tn, td = await table_digest(dst, table)
            reports.append(TableReport(table.name, sn, tn, sd, td))
    return reports
