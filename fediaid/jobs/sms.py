"""The SMS worker: applies texts that arrived (``services/sms.apply_inbound``: a need held
for a coordinator, a conversation, STOP/START/HELP) and sends queued texts through the
group's gateway (``services/sms_outbox``), one row at a time, with retries: a gateway that
is down (no answer, 5xx, 429) keeps texts waiting (30 s, 1, 2, 4 ... minutes, at most an
hour between tries) until they are no longer worth sending (``domain/sms.WORTH_SENDING``).
Logs name the row and what happened, never a number or a text.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from fediaid.domain.sms import Kind
from fediaid.jobs.delivery import worker_name
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 5.0  # rows stored by another process (a second server, the CLI)


class SmsWorker:
    def __init__(self, rt: Runtime, *, name: str | None = None) -> None:
        self.rt = rt
        self.name = name or worker_name("sms")

    async def run(self, stop: asyncio.Event) -> None:
        wakeup = self.rt.signals.sms_wakeup
        while not stop.is_set():
            wakeup.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("SMS worker failed; trying again")
            wait = IDLE_POLL_SECONDS
            try:
                due = await self.rt.sms_outbox.next_due()
            except Exception:
                log.exception("SMS worker: could not read the queue")
                due = None
            if due is not None:
                wait = max(0.05, min(wait, (due - utcnow()).total_seconds()))
            stopping = asyncio.ensure_future(stop.wait())
            waking = asyncio.ensure_future(wakeup.wait())
            try:
                await asyncio.wait({stopping, waking}, timeout=wait,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
                waking.cancel()

    async def run_once(self, limit: int = 1000) -> int:
        """Handle every due row (at most ``limit``), one at a time; how many were handled.
        Retries of this round wait for the next one."""
        started = utcnow()
        handled = 0
        while handled < limit:
            jobs = await self.rt.sms_outbox.claim(self.name, 1, due_by=started)
            if not jobs:
                break
            job = jobs[0]
            handled += 1
            if job.kind is Kind.INBOUND:
                what = await self.rt.sms.apply_inbound(job, self.name)
                log.info("text %d received: %s", job.id, what)
            else:
                state = await self.rt.sms_outbox.send(job, self.name)
                log.info("text %d (%s): %s", job.id, job.kind.value, state.value)
        return handled

    async def housekeeping(self) -> int:
        """Idle conversations and old rows go; calls returned a week ago too."""
        gone = await self.rt.sms.housekeeping()
        policy = await self.rt.posts.policy()
        gone += await self.rt.hotline.purge(utcnow(), policy.retention)
        return gone
