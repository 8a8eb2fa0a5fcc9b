"""Streaming events for the client API (SSE and WebSocket; api/mastodon/streaming.py).

Across processes: statuses and notifications are written by the web process, by
``fediaid worker`` processes and by inbox processing, so events come from the database, not
from in-process calls. One poller per process (not per connection) reads the rows with ids
above the last seen, every ``POLL_SECONDS`` or at once when this process wrote something
(``Signals.stream_changed()`` sets ``stream_wakeup``), and only while someone is subscribed.
On PostgreSQL ids are taken before commit, so a smaller id can become visible after a larger
one: ids skipped over are asked for again for ``GAP_SECONDS``.

Routing happens here (which subscription wants which status id); what a subscriber is shown
is decided when the event is rendered for that connection, through the one visibility rule
(``status_entities`` -> ``StatusReading.visible``). Queues are bounded: a subscriber that does
not keep up is dropped (its stream ends; clients reconnect), never allowed to grow memory.

Deletions and edits reach every process too: ``deleted``/``updated`` (called through the
signals, after the commit) write a row to ``stream_events`` in the background (several at
once in one transaction), and every process's poller reads those rows as it reads new
statuses. A deletion is routed like the status's ``update`` was when this process saw it,
else to every stream but notifications (an id alone); an edit like the status is routed now.
A process killed between a deletion's commit and its event's loses that event (a client
that missed it still finds the status gone).

On PostgreSQL a row inserted into statuses, notifications or stream_events sends
``NOTIFY fediaid_stream`` from its transaction (migration 0024); the poller of a process
with subscribers listens (storage/notify.py), wakes at once, and otherwise polls only every
``LISTENING_POLL_SECONDS``. On SQLite it polls every ``POLL_SECONDS`` and is woken at once
by this process's own writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

from fediaid.domain.users import User
from fediaid.errors import ConfigError, Invalid, NotFound
from fediaid.services.core import Core, Service
from fediaid.storage import statuses as statuses_repo
from fediaid.storage import stream as repo
from fediaid.storage.notify import STREAM
from fediaid.storage.stream import NewStatus
from fediaid.storage.types import utcnow

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
LISTENING_POLL_SECONDS = 2.0
KEEP_EVENTS = timedelta(hours=1)
GAP_SECONDS = 10.0
MAX_GAPS = 2000
QUEUE_SIZE = 256
MAX_STREAMS = 32  # per connection
FOLLOWS_REFRESH_SECONDS = 15.0
RECENT = 10_000  # statuses remembered for routing their deletion

PUBLIC_STREAMS = ("public", "public:local", "public:remote", "public:media",
                  "public:local:media", "public:remote:media")
TAG_STREAMS = ("hashtag", "hashtag:local")
USER_STREAMS = ("user", "user:notification", "direct")
STREAMS = (*PUBLIC_STREAMS, *TAG_STREAMS, *USER_STREAMS, "list")

Stream = tuple[str, ...]  # as Mastodon names it in events: ("hashtag", "coffee"), ("user",)


@dataclass(frozen=True)
class StreamEvent:
    event: str  # update | notification | delete | status.update | conversation
    stream: Stream
    id: int  # status id (notification id for notification events)


def parse_stream(name: str | None, *, tag: str | None = None, list_id: str | None = None
                 ) -> Stream:
    """A Mastodon stream name and its parameter as a ``Stream``; Invalid if unknown."""
    name = (name or "").strip()
    if name not in STREAMS:
        raise Invalid("Unknown stream type", field="stream")
    if name in TAG_STREAMS:
        tag = (tag or "").strip().lstrip("#").lower()
        if not tag or len(tag) > 100:
            raise Invalid("No tag for stream provided", field="tag")
        return (name, tag)
    if name == "list":
        # We have no lists (GET /api/v1/lists is empty by design): nothing to stream.
        raise NotFound("Not authorized to stream this list")
    return (name,)


class Subscription:
    """One connection's subscriptions and its bounded queue of events."""

    def __init__(self, hub: StreamingHub, user: User | None, *, notifications: bool) -> None:
        self.hub = hub
        self.user = user
        self.notifications = notifications  # the token may read notifications
        self.streams: set[Stream] = set()
        self.queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue(QUEUE_SIZE)
        self.ended = False
        self.dropped = False
        # For the home ("user") stream: accounts followed, the group, oneself.
        self.home_accounts: frozenset[int] = frozenset()
        self.home_checked = 0.0

    def add(self, stream: Stream) -> None:
        if stream not in self.streams and len(self.streams) >= MAX_STREAMS:
            raise Invalid("Too many streams on one connection", field="stream")
        if stream[0] in USER_STREAMS and self.user is None:
            raise Invalid("This stream needs a user token", field="stream")
        self.streams.add(stream)

    def remove(self, stream: Stream) -> None:
        self.streams.discard(stream)

    async def next(self) -> StreamEvent | None:
        """The next event; None once the subscription has ended (dropped, hub closing)."""
        if self.ended and self.queue.empty():
            return None
        return await self.queue.get()

    def offer(self, event: StreamEvent) -> None:
        if self.ended:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            log.info("stream subscriber dropped: %d events not read", self.queue.qsize())
            self.dropped = True
            self.end()

    def end(self) -> None:
        """No more events: the reader gets None after what is already queued (or at once
        when dropped)."""
        if self.ended:
            return
        self.ended = True
        if self.dropped:
            while not self.queue.empty():
                self.queue.get_nowait()
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)
        self.hub.unsubscribe(self)

    # -- routing ---------------------------------------------------------------------------
    def _home(self, s: NewStatus) -> bool:
        user = self.user
        if user is None:
            return False
        return (s.account_id in self.home_accounts or user.actor_id in s.recipients
                or (s.post and s.local))

    def status_streams(self, s: NewStatus) -> list[Stream]:
        """The streams of this subscription that a new status belongs to."""
        listed_public = s.level == "public" and s.listed and not s.reblog
        out: list[Stream] = []
        for stream in self.streams:
            name = stream[0]
            if name == "user":
                ok = self._home(s)
            elif name == "direct":
                ok = s.level == "direct" and self.user is not None and (
                    self.user.actor_id in s.recipients or s.account_id == self.user.actor_id)
            elif name.startswith("public"):
                ok = listed_public and (
                    (":local" not in name or s.local) and (":remote" not in name or not s.local)
                    and (":media" not in name or s.media))
            elif name in TAG_STREAMS:
                ok = listed_public and stream[1] in s.tags and (name == "hashtag" or s.local)
            else:
                ok = False
            if ok:
                out.append(stream)
        return out


class StreamingHub(Service):
    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        # (status id, notification id, stream event id)
        self._last: tuple[int, int, int] | None = None
        self._gaps: tuple[dict[int, float], dict[int, float], dict[int, float]] = ({}, {}, {})
        self._outgoing: list[tuple[str, int]] = []  # events to write (kind, status id)
        self._writer: asyncio.Task[None] | None = None
        self._recent: OrderedDict[int, NewStatus] = OrderedDict()
        self._closed = False
        self._wakeup: asyncio.Event = core.signals.stream_wakeup

    # -- subscribers -----------------------------------------------------------------------
    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def subscribe(self, user: User | None, *, notifications: bool) -> Subscription:
        if self._closed:
            raise NotFound("The server is shutting down")
        sub = Subscription(self, user, notifications=notifications)
        self._subs.add(sub)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="stream poller")
        self._wakeup.set()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        if not sub.ended:
            sub.end()

    def notify(self) -> None:
        """Something was written in this process: poll now."""
        self._wakeup.set()

    # -- deletions and edits, for every process ---------------------------------------------
    def deleted(self, status_id: int) -> None:
        """A status was deleted (call after the commit): stored for every process's poller."""
        self._publish("delete", status_id)

    def updated(self, status_id: int) -> None:
        """A status was edited (call after the commit): stored for every process's poller,
        which sends ``status.update`` where the status belongs."""
        self._publish("update", status_id)

    def _publish(self, kind: str, status_id: int) -> None:
        self._outgoing.append((kind, status_id))
        if self._writer is None or self._writer.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a synchronous caller): nothing can stream here
                self._outgoing.clear()
                return
            self._writer = loop.create_task(self._write_events(), name="stream events")

    async def _write_events(self) -> None:
        while self._outgoing:
            batch, self._outgoing = self._outgoing, []
            try:
                async with self.db.write() as conn:
                    await repo.record(conn, batch)
            except Exception:  # the streams miss these events; the statuses are right
                log.exception("recording %d stream events failed", len(batch))
                continue
            self._wakeup.set()

    async def purge_events(self) -> int:
        """Forget stream events older than ``KEEP_EVENTS`` (a poller reads them within
        seconds)."""
        async with self.db.write() as conn:
            return await repo.purge_events(conn, before=utcnow() - KEEP_EVENTS)

    def _route_delete(self, status_id: int, subs: list[Subscription]) -> None:
        """Routed like its ``update`` was when this process saw it; otherwise sent to every
        subscription (an id alone)."""
        known = self._recent.pop(status_id, None)
        for sub in subs:
            streams = sub.status_streams(known) if known is not None else [
                s for s in sub.streams if s[0] != "user:notification"]
            for stream in streams:
                sub.offer(StreamEvent("delete", stream, status_id))

    def _route_update(self, status: NewStatus, subs: list[Subscription]) -> None:
        for sub in subs:
            for stream in sub.status_streams(status):
                if stream[0] != "direct":
                    sub.offer(StreamEvent("status.update", stream, status.id))

    # -- the poller ------------------------------------------------------------------------
    async def _run(self) -> None:
        listener = self.db.listener
        if listener is not None:
            listener.subscribe(STREAM, self._notified)
        try:
            while self._subs and not self._closed:
                try:
                    await self.poll()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the poller's outermost loop: log, wait, go on
                    log.exception("stream poll failed")
                    await asyncio.sleep(2)
                if not self._subs:
                    break
                listening = listener is not None and listener.connected.is_set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), LISTENING_POLL_SECONDS
                                           if listening else POLL_SECONDS)
                self._wakeup.clear()
        finally:
            if listener is not None:
                listener.unsubscribe(STREAM, self._notified)
            if asyncio.current_task() is self._task:
                self._task = None
            if not self._subs:
                self._last = None  # the next poller starts from what is new then

    def _notified(self, _table: str) -> None:
        self._wakeup.set()

    async def poll(self) -> None:
        """Read what is new and hand it to the subscribers (one round)."""
        now = time.monotonic()
        for gaps in self._gaps:
            for k in [k for k, deadline in gaps.items() if deadline < now]:
                del gaps[k]
        async with self.db.read() as conn:
            if self._last is None:
                self._last = await repo.high_water(conn)
                return
            last_s, last_n, last_e = self._last
            new = await repo.statuses_after(conn, last_s, self._gaps[0])
            notes = await repo.notifications_after(conn, last_n, self._gaps[1])
            events = await repo.events_after(conn, last_e, self._gaps[2])
            # Edits of statuses this process has not routed (older, or seen elsewhere).
            seen = {s.id for s in new}
            unknown = {sid for _, kind, sid in events if kind == "update"
                       and sid not in self._recent and sid not in seen}
            edited = {s.id: s for s in await repo.statuses_with_ids(conn, unknown)}
            stale = [s for s in self._subs if s.user is not None and "user" in
                     {x[0] for x in s.streams}
                     and now - s.home_checked > FOLLOWS_REFRESH_SECONDS] if new else []
            for sub in stale:
                assert sub.user is not None
                followed = await statuses_repo.following_ids(conn, sub.user.actor_id)
                group = self.identity.group.id if self._has_identity() else None
                sub.home_accounts = frozenset([*followed, sub.user.actor_id,
                                               *([group] if group else [])])
                sub.home_checked = now
        self._last = (self._advance(last_s, [s.id for s in new], self._gaps[0], now),
                      self._advance(last_n, [i for i, _ in notes], self._gaps[1], now),
                      self._advance(last_e, [i for i, _, _ in events], self._gaps[2], now))
        for s in new:
            self._recent[s.id] = s
            while len(self._recent) > RECENT:
                self._recent.popitem(last=False)
        subs = list(self._subs)
        for s in new:
            for sub in subs:
                for stream in sub.status_streams(s):
                    sub.offer(StreamEvent("conversation" if stream[0] == "direct"
                                          else "update", stream, s.id))
        for notification_id, user_id in notes:
            for sub in subs:
                if sub.user is None or sub.user.id != user_id:
                    continue
                for stream in sub.streams:
                    if stream[0] == "user:notification" or (
                            stream[0] == "user" and sub.notifications):
                        sub.offer(StreamEvent("notification", stream, notification_id))
        for _, kind, status_id in events:
            if kind == "delete":
                self._route_delete(status_id, subs)
                continue
            status = self._recent.get(status_id) or edited.get(status_id)
            if status is not None:
                self._route_update(status, subs)

    def _has_identity(self) -> bool:
        try:
            self.identity  # noqa: B018
        except ConfigError:
            return False
        return True

    @staticmethod
    def _advance(last: int, ids: list[int], gaps: dict[int, float], now: float) -> int:
        """The new high-water mark; ids skipped over are remembered as gaps for a while."""
        for i in ids:
            gaps.pop(i, None)
        top = max([last, *ids])
        seen = set(ids)
        if top - last <= MAX_GAPS:
            for missing in range(last + 1, top):
                if missing not in seen and len(gaps) < MAX_GAPS:
                    gaps[missing] = now + GAP_SECONDS
        return top

    # -- shutdown --------------------------------------------------------------------------
    def shutdown(self) -> None:
        """End every subscription now (their SSE responses and WebSockets finish) and take
        no new ones. Safe to call more than once."""
        self._closed = True
        for sub in list(self._subs):
            sub.end()
        self._wakeup.set()

    async def close(self) -> None:
        self.shutdown()
        writer, self._writer = self._writer, None
        if writer is not None and not writer.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 5)
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
