"""What the instance is doing: queue sizes and counts for coordinators and operators."""

from __future__ import annotations

from fediaid.services.core import Core, Service
from fediaid.storage import email as email_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import inbox as inbox_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage import sms as sms_repo


class StatusService(Service):
    def __init__(self, core: Core) -> None:
        super().__init__(core)

    async def queues(self) -> dict[str, dict[str, int]]:
        async with self.db.read() as conn:
            return {
                "deliveries": await outbox_repo.counts_by_state(conn),
                "inbox": await inbox_repo.counts_by_state(conn),
                "email": await email_repo.counts(conn),
                "sms": await sms_repo.counts(conn),
            }

    async def follower_count(self) -> int:
        async with self.db.read() as conn:
            return await follows_repo.count(conn, actor_id=self.identity.group.id,
                                            direction="followers")
