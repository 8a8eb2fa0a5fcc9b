"""Services state what they need: a test builds only the parts it tests (issue 9, "services
with stated collaborators"). Here the outbox and the federation policy alone, on a core of
their own over an initialised database, with no Runtime and no other service."""

from __future__ import annotations

import inspect
from pathlib import Path

from sqlalchemy import select

from fediaid.services.core import Core, Service
from fediaid.services.federation_policy import FederationPolicy
from fediaid.services.outbox import Outbox
from fediaid.storage.tables import deliveries
from tests.support.instances import open_initialised_runtime


async def test_the_outbox_and_policy_work_alone(db_url: str, tmp_path: Path) -> None:
    rt = await open_initialised_runtime(tmp_path, db_url)  # only to create the database
    settings = rt.settings
    await rt.close()

    from fediaid.storage.engine import Database

    db = Database(settings.database_url)
    try:
        core = Core(settings, db)
        group = (await core.load_identity()).group
        policy = FederationPolicy(core)
        outbox = Outbox(core, policy=policy)
        await policy.block("blocked.example")
        async with db.write() as conn:
            await outbox.enqueue(
                conn, actor=group,
                activity={"id": core.urls.new_activity(), "type": "Create", "object": {}},
                inboxes=["https://blocked.example/inbox", "https://fine.example/inbox",
                         core.urls.base + "/inbox"])
        async with db.read() as conn:
            queued = [r[0] for r in await conn.execute(select(deliveries.c.inbox_url))]
        assert queued == ["https://fine.example/inbox"]  # not the blocked one, not our own
        assert core.signals.delivery_wakeup.is_set()
    finally:
        await db.dispose()


def test_every_service_names_its_collaborators() -> None:
    """No service takes the runtime: each constructor is (core, *, named services)."""
    import fediaid.services.runtime as runtime_module

    built = [obj for obj in vars(runtime_module).values()
             if inspect.isclass(obj) and issubclass(obj, Service) and obj is not Service]
    assert len(built) >= 30
    for cls in built:
        params = list(inspect.signature(cls.__init__).parameters.values())
        assert [p.name for p in params[:2]] == ["self", "core"], cls
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[2:]), cls
