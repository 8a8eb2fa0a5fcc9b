"""Starting and stopping the background workers of one process."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from fediaid.federation import parse_pool
from fediaid.jobs.delivery import DeliveryWorker
from fediaid.jobs.email import EmailWorker
from fediaid.jobs.inbox import InboxWorker
from fediaid.jobs.push import PushWorker
from fediaid.jobs.sms import SmsWorker
from fediaid.services.retention import purge_received
from fediaid.storage.notify import JOBS

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime

log = logging.getLogger(__name__)


class Workers:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.stop_event = asyncio.Event()
        self.delivery = DeliveryWorker(rt)
        self.inbox = InboxWorker(rt)
        self.push = PushWorker(rt)
        self.email = EmailWorker(rt)
        self.sms = SmsWorker(rt)
        self._tasks: list[asyncio.Task[None]] = []
        signals = rt.signals
        # A row inserted into a queue by any process wakes the worker of that queue in
        # every process (PostgreSQL NOTIFY from the insert's transaction, migration 0024;
        # storage/notify.py); "" (the LISTEN connection was made again): all of them.
        self._wakeups = {"inbox_items": signals.inbox_wakeup,
                         "deliveries": signals.delivery_wakeup,
                         "push_messages": signals.push_wakeup,
                         "email_outbox": signals.email_wakeup,
                         "sms_queue": signals.sms_wakeup}

    def _notified(self, table: str) -> None:
        event = self._wakeups.get(table)
        if event is not None:
            event.set()
        elif not table:
            for event in self._wakeups.values():
                event.set()

    def start(self) -> None:
        listener = self.rt.db.listener
        if listener is not None:
            listener.subscribe(JOBS, self._notified)
        self._tasks = [
            asyncio.create_task(self.delivery.run(self.stop_event), name="delivery-worker"),
            asyncio.create_task(self.inbox.run(self.stop_event), name="inbox-worker"),
            asyncio.create_task(self.push.run(self.stop_event), name="push-worker"),
            asyncio.create_task(self._lifecycle(), name="post-lifecycle"),
            asyncio.create_task(self.email.run(self.stop_event), name="email-worker"),
            asyncio.create_task(self.sms.run(self.stop_event), name="sms-worker"),
        ]
        log.info("workers started", extra={"delivery": self.delivery.name,
                                           "inbox": self.inbox.name})

    async def _lifecycle(self) -> None:
        """Expire open posts past their date; delete closed posts past the retention window
        (and federate the Delete); purge received activities past theirs; fetch subscribed
        blocklists that are due (every 6 hours: ``services/blocklists.REFRESH_EVERY``); queue the
        e-mail digests that are due (``services/email.queue_digests``); offer unmet needs to linked
        groups that are due (``services/forwarding.forward_due``); forget idle texts
        conversations and returned hotline calls (``services/sms``, ``hotline``); drop the
        keys of deleted accounts once their Deletes are delivered."""
        while not self.stop_event.is_set():
            try:
                # One process at a time runs a round (the others skip it): on PostgreSQL
                # several workers would otherwise race on the same rows.
                async with self.rt.db.exclusive("lifecycle") as ours:
                    if ours:
                        await self._lifecycle_round()
            except Exception:
                log.exception("post lifecycle failed")
            try:
                await asyncio.wait_for(self.stop_event.wait(),
                                       self.rt.settings.lifecycle_seconds)
            except TimeoutError:
                pass

    async def _lifecycle_round(self) -> None:
        expired = await self.rt.posts.expire_due()
        deleted = await self.rt.posts.delete_due()
        if expired or deleted:
            log.info("post lifecycle: %d expired, %d deleted", expired, deleted)
        swept = await self.rt.media.sweep()
        if swept:
            log.info("media: %d unused files removed", swept)
        keys = await self.rt.member_data.finish_deletions()
        if keys:
            log.info("deleted accounts: %d keys dropped after their Deletes", keys)
        await self.rt.streaming.purge_events()
        purged = await purge_received(self.rt.db, self.rt.settings)
        if purged:
            log.info("inbox: %d processed activities purged", purged)
        digests, _purged = await self.email.housekeeping()
        if digests:
            log.info("e-mail: %d digests queued", digests)
        forgotten = await self.sms.housekeeping()
        if forgotten:
            log.info("texts and calls: %d idle conversations or calls forgotten",
                     forgotten)
        proposed = await self.rt.blocklists.refresh_due()
        if proposed:
            log.info("blocklists: %d new proposals for coordinators", proposed)
        forwarded = await self.rt.forwarding.forward_due()
        if forwarded:
            log.info("forwarded needs: %d offers to linked groups", forwarded)
        listed = await self.rt.directory.refresh_due()
        if listed is not None:
            log.info("directory: %d groups listed", listed)
        pictures = await self.rt.network_picture.refresh_due()
        if pictures is not None:
            log.info("network picture: %d linked groups' pictures", pictures)

    async def stop(self) -> None:
        self.stop_event.set()
        listener = self.rt.db.listener
        if listener is not None:
            listener.unsubscribe(JOBS, self._notified)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        parse_pool.shutdown()  # the inbox worker's parsing helper, if a burst started one
