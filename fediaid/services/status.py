"""What the instance is doing: queue sizes and counts for coordinators and operators."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fediaid.storage import follows as follows_repo
from fediaid.storage import inbox as inbox_repo
from fediaid.storage import outbox as outbox_repo

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime


class StatusService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def queues(self) -> dict[str, dict[str, int]]:
        async with self.rt.db.read() as conn:
            return {
                "deliveries": await outbox_repo.counts_by_state(conn),
                "inbox": await inbox_repo.counts_by_state(conn),
            }

    async def follower_count(self) -> int:
        async with self.rt.db.read() as conn:
            return await follows_repo.count(conn, actor_id=self.rt.identity.group.id,
                                            direction="followers")
