"""Schema migrations (Alembic), applied by ``init``, ``serve`` and ``migrate``.

Alembic is imported only when the database is not already at ``SCHEMA_HEAD``: a server that
starts on an up-to-date database saves the import time and memory.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from fediaid.storage.engine import Database
from fediaid.storage.tables import SCHEMA_HEAD


def _alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    import migrations

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["database_url"] = url
    return cfg


async def current_revision(db: Database) -> str | None:
    try:
        async with db.read() as conn:
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
    except DBAPIError:
        return None
    return row[0] if row else None


def _upgrade_sync(url: str, revision: str) -> None:
    from alembic import command

    command.upgrade(_alembic_config(url), revision)


def _downgrade_sync(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config(url), revision)


async def upgrade(db: Database, revision: str = "head") -> bool:
    """Bring the schema to ``revision``. Returns True if anything was applied.

    Alembic's env runs its own event loop, so it runs in a worker thread here.
    """
    import asyncio

    if revision == "head" and await current_revision(db) == SCHEMA_HEAD:
        return False
    await asyncio.to_thread(_upgrade_sync, db.url, revision)
    return True


async def downgrade(db: Database, revision: str) -> None:
    import asyncio

    await asyncio.to_thread(_downgrade_sync, db.url, revision)


def head_revision() -> str:
    """The newest revision in migrations/ (imports Alembic; used by tests and ``migrate``)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head
