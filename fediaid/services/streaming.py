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

Deletions and edits are in-process only (``deleted``/``updated``, called after the commit):
a status deleted by another process reaches only that process's subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

from fediaid.domain.users import User
from fediaid.errors import ConfigError, Invalid, NotFound
from fediaid.services.core import Core, Service
from fediaid.storage import statuses as statuses_repo
from fediaid.storage import stream as repo
from fediaid.storage.stream import NewStatus

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
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
        self._last: tuple[int, int] | None = None  # (status id, notification id)
        self._gaps: tuple[dict[int, float], dict[int, float]] = ({}, {})
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

    # -- in-process events -----------------------------------------------------------------
    def deleted(self, status_id: int) -> None:
        """A status was deleted (call after the commit). Routed like its ``update`` was when
        this process saw it; otherwise sent to every subscription (an id alone)."""
        known = self._recent.pop(status_id, None)
        for sub in list(self._subs):
            streams = sub.status_streams(known) if known is not None else [
                s for s in sub.streams if s[0] != "user:notification"]
            for stream in streams:
                sub.offer(StreamEvent("delete", stream, status_id))

    def updated(self, status_id: int) -> None:
        """A status was edited (call after the commit): ``status.update`` where it was
        streamed."""
        known = self._recent.get(status_id)
        if known is None:
            return
        for sub in list(self._subs):
            for stream in sub.status_streams(known):
                if stream[0] != "direct":
                    sub.offer(StreamEvent("status.update", stream, status_id))

    # -- the poller ------------------------------------------------------------------------
    async def _run(self) -> None:
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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), POLL_SECONDS)
                self._wakeup.clear()
        finally:
            if asyncio.current_task() is self._task:
                self._task = None
            if not self._subs:
                self._last = None  # the next poller starts from what is new then

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
            last_s, last_n = self._last
            new = await repo.statuses_after(conn, last_s, self._gaps[0])
            notes = await repo.notifications_after(conn, last_n, self._gaps[1])
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
                      self._advance(last_n, [i for i, _ in notes], self._gaps[1], now))
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
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
