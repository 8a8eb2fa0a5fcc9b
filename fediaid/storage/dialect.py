"""The few statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_ignore(conn: AsyncConnection, table: Table, index_elements: list[str]) -> Any:
    """``INSERT ... ON CONFLICT (cols) DO NOTHING`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=index_elements)
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=index_elements)


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


def upsert(conn: AsyncConnection, table: Table, index_elements: list[str]) -> Any:
    """An ``INSERT`` that supports ``.on_conflict_do_update`` on either dialect."""
    del index_elements  # named by the caller's on_conflict_do_update
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
