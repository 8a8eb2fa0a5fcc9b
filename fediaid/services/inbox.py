"""Receiving activities.

``accept`` is the hot path behind every inbox POST: parse, check the signature and that the
signer speaks for the activity's actor, then store the activity durably (group commit) and
return; the caller answers 202. Nothing is stored for a rejected request.
``InboxProcessor`` (services/inbox_processing.py) applies stored activities later.

Under a burst of inbox traffic, ingestion comes first: before the inbox worker claims a
batch (``claim_limit``) and before each of its write transactions (``slice_budget``; slices,
services/inbox_processing.py) it waits for a lull (bounded), and while requests are still
arriving it claims only a few activities and holds the writer only briefly. A slice holds
the one SQLite writer for as long as it runs, and every request waiting for its group
commit waits that long too (p99); worse, while the event loop is busy with requests, the
database thread waits for the GIL after every row it writes, so a write of many rows takes
many times longer then. The stored backlog is processed at full speed once the burst ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from activitypub.errors import KeyResolutionError, SignatureError
from activitypub.verify import verify_request
from activitypub.vocab import first_str, id_of, is_http_uri, type_of
from fediaid import metrics
from fediaid.errors import Invalid, Unauthenticated
from fediaid.services.core import Core, Service
from fediaid.services.federation_policy import refused_content
from fediaid.storage import inbox as inbox_repo
from fediaid.storage.batch import GroupCommitWriter

if TYPE_CHECKING:
    from fediaid.services.federation_policy import FederationPolicy

log = logging.getLogger(__name__)

# Ingest pressure at which the inbox worker steps aside: requests being accepted right now
# (verifying, or waiting for their group commit). A normally busy instance (tens of
# activities a second) stays below it, so processing keeps pace; a burst (many concurrent
# senders) is above it.
BUSY_REQUESTS = 4
# While busy, the worker re-checks this often, and after MAX_DEFER_SECONDS it claims and
# applies a few activities anyway, so a sustained burst delays processing but never starves
# it.
BUSY_RECHECK_SECONDS = 0.05
MAX_DEFER_SECONDS = 1.0
BUSY_BATCH = 10
# How long one slice of the inbox worker may hold the writer: while requests are arriving
# (every request waiting for its group commit waits that long; ~10 plain notes), and
# otherwise (~200).
BUSY_SLICE_SECONDS = 0.0025
QUIET_SLICE_SECONDS = 0.05


class Ignored(Exception):
    """An activity we answer 202 to but do not keep (e.g. the Delete of an unknown actor)."""


class InboxService(Service):
    def __init__(self, core: Core, *, policy: FederationPolicy) -> None:
        super().__init__(core)
        self.policy = policy
        self._writer = GroupCommitWriter(core.db, inbox_repo.insert_many, name="inbox-writer")
        self._accepting = 0
        self.accepted = 0

    async def close(self) -> None:
        await self._writer.stop()

    def busy(self) -> bool:
        """Whether a burst of inbox requests is being ingested right now."""
        return self._accepting >= BUSY_REQUESTS

    async def wait_for_lull(self) -> bool:
        """While a burst is being ingested, wait for it to pause (at most
        ``MAX_DEFER_SECONDS``); returns whether it is still busy."""
        if not self.busy():
            return False
        deadline = time.monotonic() + MAX_DEFER_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(BUSY_RECHECK_SECONDS)
            if not self.busy():
                return False
        return True

    async def claim_limit(self, batch: int) -> int:
        """Called by the inbox worker before it claims; returns how many activities to
        claim: ``batch``, or a few while a burst goes on after waiting for a lull."""
        return min(batch, BUSY_BATCH) if await self.wait_for_lull() else batch

    def slice_seconds(self) -> float:
        """How long the inbox worker's next write transaction may hold the writer now."""
        return BUSY_SLICE_SECONDS if self.busy() else QUIET_SLICE_SECONDS

    async def slice_budget(self) -> float:
        """Called by the inbox worker between its write transactions (slices): waits for a
        lull while ingestion is busy, then says how long the next slice may take."""
        await self.wait_for_lull()
        return self.slice_seconds()

    async def accept(self, *, method: str, url: str, headers: Mapping[str, str], body: bytes
                     ) -> bool:
        """Verify and store one incoming activity. Returns False when it is ignored."""
        self._accepting += 1
        try:
            return await self._accept(method=method, url=url, headers=headers, body=body)
        finally:
            self._accepting -= 1

    async def _accept(self, *, method: str, url: str, headers: Mapping[str, str], body: bytes
                      ) -> bool:
        try:
            activity = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise Invalid("The body is not valid JSON.") from exc
        if not isinstance(activity, dict):
            raise Invalid("The body must be a JSON object.")
        type_ = type_of(activity)
        actor = id_of(activity.get("actor"))
        if not type_ or not actor or not is_http_uri(actor):
            raise Invalid("An activity needs a type and an actor.")
        policy = self.policy
        policy.check_receive(actor)  # before the signature: a blocked domain costs nothing
        try:
            signer = await verify_request(
                method=method, url=url, headers=headers, body=body,
                resolve_key=self.core.keys.resolve, now=time.time(),
            )
        except KeyResolutionError as exc:
            # Mastodon sends the Delete of an account signed by the deleted key, which can no
            # longer be fetched: nothing we can verify, nothing to keep.
            if type_ == "Delete" and id_of(activity.get("object")) == actor:
                log.debug("ignored Delete of unknown actor %s", actor)
                return False
            raise Unauthenticated(exc.reason) from exc
        except SignatureError as exc:
            raise Unauthenticated(exc.reason) from exc
        if signer.owner != actor:
            raise Unauthenticated("The signature's key does not belong to the activity's actor.")
        policy.check_receive(signer.key_id, signer.owner)
        refused = refused_content(policy, activity)
        if refused:
            # An allowed actor sharing something from a refused domain: not kept, never
            # fetched (202: the sender did nothing wrong).
            log.info("ignored %s %s: its object is on %s", type_, activity.get("id"), refused)
            return False
        activity_uri = activity.get("id")
        if not is_http_uri(activity_uri):
            # Transient activities (no id) are deduplicated by their content.
            activity_uri = "urn:sha256:" + hashlib.sha256(body).hexdigest()
        row = inbox_repo.new_row(
            activity_uri=str(activity_uri), type_=type_[:64], actor_uri=actor,
            signer_key_id=signer.key_id, payload=body.decode("utf-8", "replace"),
        )
        await self._writer.submit(row)
        self.accepted += 1
        metrics.INBOX_ACCEPTED.inc()
        self.signals.inbox_wakeup.set()
        return True


def activity_summary(activity: dict[str, Any]) -> str:
    return f"{first_str(activity.get('type'))} {activity.get('id')}"
