"""The SMS queue's sending side, for the worker (``fediaid/jobs/sms.py``): claim due rows,
hand each text to the group's gateway, and record the outcome.

Sent once, and the window where it can be twice: as for e-mail, the row is marked sent in
one transaction after the gateway accepted the text, only while it is still this worker's.
A process that dies in between (milliseconds) leaves the row to be sent again when its lease
runs out. A text is never sent to a number that said STOP (checked again right before
sending), except the one confirmation of that STOP.

Requests go through the project's HTTP client (``Core.transport()``: the address policy, a
deadline, capped answers). A phone on the group's own network has a private address that
policy refuses: when the coordinators allowed that one address (``/admin/sms``), a client
of its own is made that may reach it, and only it; no other request gets that allowance.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fediaid.domain.queue import ItemState
from fediaid.domain.sms import (
    SEND_TIMEOUT_SECONDS,
    Kind,
    SmsSettings,
    opt_out_digest,
    retry_delay,
    still_worth_sending,
)
from fediaid.domain.sms_gateways import Outcome, Poster, gateway_for
from fediaid.services.core import Core, Service
from fediaid.storage import sms as repo
from fediaid.storage.sms import Job
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from fediaid.federation.transport import HttpxTransport
    from fediaid.services.sms_settings import SmsSettingsService

log = logging.getLogger(__name__)

LEASE_SECONDS = 120.0
NOT_CONFIGURED = "text messages are not set up: waiting"


class SmsOutbox(Service):
    def __init__(self, core: Core, *, sms_settings: SmsSettingsService) -> None:
        super().__init__(core)
        self.sms_settings = sms_settings
        self._private: dict[str, HttpxTransport] = {}

    async def claim(self, worker: str, limit: int = 1, *, due_by: datetime | None = None
                    ) -> list[Job]:
        async with self.db.write() as conn:
            return await repo.claim_due(conn, worker=worker, limit=limit,
                                        lease_seconds=LEASE_SECONDS, due_by=due_by)

    async def next_due(self) -> datetime | None:
        async with self.db.read() as conn:
            return await repo.next_due(conn)

    def poster(self, settings: SmsSettings) -> Poster:
        """The HTTP client for this gateway: the project's, or, for an allowed private
        address, one that may reach that address alone."""
        address = settings.private_address
        if not address:
            return self.core.transport()
        found = self._private.get(address)
        if found is None:
            from fediaid.federation.transport import HttpxTransport

            found = self._private[address] = HttpxTransport(
                allow_private=self.settings.dev, also_allow=frozenset({address}),
                timeout=SEND_TIMEOUT_SECONDS, concurrency=2,
                user_agent=self.core.user_agent)
        return found

    async def send(self, job: Job, worker: str) -> ItemState:
        """Send one claimed text and record what became of it."""
        settings = await self.sms_settings.current()
        if not settings.configured:
            return await self._record(job, worker, Outcome(False, reason=NOT_CONFIGURED))
        number = job.number or ""
        digest = opt_out_digest(self.sms_settings.opt_out_key(), number)
        if job.kind is not Kind.CONFIRM:
            async with self.db.read() as conn:
                stopped = await repo.opted_out(conn, digest)
            if stopped:
                return await self._record(job, worker, None, cancelled="the number said STOP")
        gateway = gateway_for(settings, await self.sms_settings.secrets(),
                              self.poster(settings))
        outcome = await gateway.send(number, job.body or "")
        if outcome.opted_out:
            async with self.db.write() as conn:
                await repo.opt_out(conn, digest)
        return await self._record(job, worker, outcome)

    async def _record(self, job: Job, worker: str, outcome: Outcome | None, *,
                      cancelled: str = "") -> ItemState:
        now = utcnow()
        text_state = "not_sent"
        if outcome is None:
            state, error = ItemState.CANCELLED, cancelled
        elif outcome.sent:
            state, error, text_state = ItemState.DONE, None, "sent"
        elif outcome.permanent or not still_worth_sending(job.kind, job.created_at, now):
            state, error = ItemState.FAILED, outcome.reason
            text_state = "not_sent" if outcome.opted_out else "failed"
        else:
            state, error, text_state = ItemState.PENDING, outcome.reason, "waiting"
        delay = retry_delay(job.attempts, scale=self.settings.delivery.retry_scale)
        if outcome is not None and outcome.retry_after and outcome.retry_after.isdigit():
            delay = max(delay, timedelta(seconds=min(int(outcome.retry_after), 3600)))
        async with self.db.write() as conn:
            if not await repo.finish(conn, job.id, worker, state, error=error,
                                     next_attempt_at=now + delay):
                return ItemState.PENDING  # taken over after the lease ran out
            if job.text_id is not None:
                await repo.set_text_state(conn, job.text_id, text_state)
        if state is ItemState.FAILED:
            log.warning("text %d (%s) given up: %s", job.id, job.kind.value, error)
        return state

    async def aclose(self) -> None:
        for transport in self._private.values():
            await transport.aclose()
        self._private.clear()
