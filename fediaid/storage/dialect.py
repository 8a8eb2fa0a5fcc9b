"""The few statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_ignore(conn: AsyncConnection, table: Table, index_elements: list[str]) -> Any:
    """``INSERT ... ON CONFLICT (cols) DO NOTHING`` for the connection's dialect."""
    return _insert(conn, table).on_conflict_do_nothing(index_elements=index_elements)


def insert_ignore_any(conn: AsyncConnection, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` without a target: a conflict on *any* unique
    index or constraint skips the row (both dialects), where a named target only covers
    that one index and a race on another still fails."""
    return _insert(conn, table).on_conflict_do_nothing()


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


def upsert(conn: AsyncConnection, table: Table, index_elements: list[str]) -> Any:
    """An ``INSERT`` that supports ``.on_conflict_do_update`` on either dialect."""
    del index_elements  # named by the caller's on_conflict_do_update
    return _insert(conn, table)


def _insert(conn: AsyncConnection, table: Table) -> Any:
    # Imported here: a SQLite server never loads the PostgreSQL dialect (idle memory).
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)
