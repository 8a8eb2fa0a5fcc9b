"""Applying stored inbox activities (the background half of the inbox).

A batch (the items one worker claimed) is processed in two steps:

1. **Prepare**, outside any write transaction (the SQLite writer is never held during network
   I/O or parsing): parse every payload, look the batch's actors up in one query, fetch what
   needs the network (unknown actors, objects given only by URI), and parse a ``Create``'s
   note (``federation/inbound``: sanitizing included) once.
2. **Apply**, in slices: each slice is one write transaction that applies some items in order
   and marks them done or failed (``inbox_repo.finish``) before it commits, so an item is
   marked done only in the transaction that applied it: after a crash, nothing committed is
   applied again and nothing uncommitted is lost (its lease runs out and it is claimed
   again). A slice ends after ``budget`` seconds (the worker asks the inbox service how long
   it may hold the writer: briefly while inbox requests are arriving), and as soon as
   another transaction waits for the writer (on SQLite there is one: an inbox request's
   group commit, say), after the activity or the few plain notes in hand, so that
   transaction waits a few milliseconds at most.

Inside a slice every activity is applied in its own savepoint: one that fails is rolled back
and recorded failed, the others are kept. The common case, a new public note that is not a
reply, addresses no local account and has no attachments (``RemoteStatuses.is_plain``), takes
a shorter road with the same result: such notes are collected and written together (their
objects, statuses and tags in three statements, in one savepoint; at most ``PLAIN_CHUNK``
at once) before the next activity that is not one of them, and at the end of the slice, so
the order of effects is the order of the activities. When that write fails, each of its
notes is applied on its own; a note whose status exists already is applied on its own too
(an edit, or nothing).

Processing the same activity twice changes nothing the second time: the inbox row is unique
per activity id, and every handler is written to be idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from activitypub.errors import FetchError
from activitypub.vocab import (
    first_str,
    host_of,
    id_of,
    is_http_uri,
    is_public,
    same_origin,
    type_of,
)
from fediaid import metrics
from fediaid.domain.queue import ItemState
from fediaid.errors import FediaidError, Unavailable
from fediaid.federation import parse_pool
from fediaid.federation.inbound import MAX_HASHTAGS, RemoteNote, parse_remote_note
from fediaid.federation.proposals_parse import may_be_proposal
from fediaid.services.core import Core, Service
from fediaid.services.inbox_activities import OBJECT_TYPES, Prepared, announced_object
from fediaid.storage import actors as actors_repo
from fediaid.storage import domains as domains_repo
from fediaid.storage import inbox as inbox_repo
from fediaid.storage import objects as objects_repo
from fediaid.storage.actors import AuthorRef
from fediaid.storage.inbox import InboxJob

if TYPE_CHECKING:
    from fediaid.services.follows import FollowService
    from fediaid.services.inbox_activities import InboxActivities
    from fediaid.services.remote_statuses import RemoteStatuses
    from fediaid.services.reports import ReportService

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
# A slice's length when nobody waits for the writer (see ``process``).
SLICE_SECONDS = 0.05
# Plain notes a slice takes at most per second of its budget (writing one costs ~0.1 ms on
# SQLite: a slice of 50 ms takes at most 200).
PLAIN_PER_SECOND = 4000
# Plain notes written together at most: ~5 ms of SQLite's time. Between two such writes (and
# after every other activity) a slice ends early when another transaction waits for the
# writer (``Database.writers_waiting``), so an inbox request's commit waits a few ms at most.
PLAIN_CHUNK = 50
# Failures that are the item's own, recorded as failed (and a database error that
# ``_own_fault`` says is the item's: a value the database refuses). Any other database
# error (connection lost, lock timeout) fails the slice, whose items are then claimed again
# when their lease runs out.
ITEM_ERRORS = (FediaidError, ValueError, KeyError, TypeError)
# SQLSTATE classes of errors in the values of a statement: data exception (a value too long
# for its column, say), integrity constraint violation.
_OWN_SQLSTATES = ("22", "23")


_RESULT_NAMES = {ItemState.DONE: "done", ItemState.FAILED: "failed",
                 ItemState.PENDING: "retry"}


def _count(results: list[Result]) -> None:
    """Committed results, for /metrics (fediaid/metrics.py): one increment per kind of
    result in the slice, not one per item."""
    counts: dict[ItemState, int] = {}
    for _id, state, _error, _delay in results:
        counts[state] = counts.get(state, 0) + 1
    for state, n in counts.items():
        metrics.INBOX_APPLIED.labels(_RESULT_NAMES.get(state, state.value)).inc(n)


def _own_fault(exc: DBAPIError) -> bool:
    """Whether a database error comes from the item's own values rather than from the
    database (asyncpg's errors other than constraint violations reach us as plain
    ``DBAPIError``s: their SQLSTATE tells)."""
    if exc.connection_invalidated:
        return False
    if isinstance(exc, IntegrityError | DataError):
        return True
    state = getattr(exc.orig, "sqlstate", None)
    return isinstance(state, str) and state[:2] in _OWN_SQLSTATES


@dataclass
class _Slice:
    """What one slice's transaction knows: the authors of the plain notes it may take (by
    URI), which of them are suspended, the unavailable delivery domains, and the plain notes
    collected and not yet written."""

    actors: dict[str, AuthorRef]
    suspended: frozenset[str]
    unavailable: frozenset[str]
    plain: list[tuple[Prepared, AuthorRef]] = field(default_factory=list)
    plain_uris: set[str] = field(default_factory=set)


Result = tuple[int, ItemState, str | None, float]
# A slice that starts later than this fraction of the inbox lease after the claim (or after
# the last renewal) renews the lease of the batch's remaining items first.
LEASE_CHECK_FRACTION = 0.25
# Called before each slice; returns how long the slice may hold the writer (seconds).
Budget = Callable[[], Awaitable[float]]
# The notes of a batch being parsed in the helper process (``InboxProcessor.parse_ahead``).
Parsing = asyncio.Future[list[parse_pool.Parsed]] | None


@dataclass
class Batch:
    """Claimed jobs, prepared: ``ready`` to apply in order, ``results`` of the jobs that
    could not be prepared (recorded with the first slice)."""

    ready: list[Prepared]
    results: list[Result]
    # When preparing started (time.monotonic()): the claim's lease began a little earlier.
    started: float = field(default_factory=time.monotonic)

    def __len__(self) -> int:
        return len(self.ready) + len(self.results)


class InboxProcessor(Service):
    def __init__(self, core: Core, *, activities: InboxActivities, follows: FollowService,
                 remote_statuses: RemoteStatuses, reports: ReportService) -> None:
        super().__init__(core)
        self.activities = activities
        self.follows = follows
        self.remote_statuses = remote_statuses
        self.reports = reports

    # -- step 1: parsing and network, outside the writer ---------------------------------
    def parse_ahead(self, jobs: list[InboxJob]) -> Parsing:
        """Start parsing the notes of ``jobs`` in the helper process
        (federation/parse_pool.py), for ``prepare``: the worker does it for the next batch
        before it applies this one. None when the batch is too small for it."""
        return parse_pool.submit([job.payload for job in jobs])

    async def prepare(self, jobs: list[InboxJob], parsing: Parsing = None,
                      claimed: float | None = None) -> Batch:
        """Prepare every job; a job that cannot be prepared gets its result at once (failed,
        or pending again later when what it needs could not be fetched). Reads and fetches
        only. ``parsing``: from ``parse_ahead(jobs)``; ``claimed``: when the jobs were
        claimed (time.monotonic()), if before now."""
        started = claimed if claimed is not None else time.monotonic()
        helped = await parse_pool.result(parsing)
        notes = ({job.id: note for job, note in zip(jobs, helped, strict=True)}
                 if helped is not None else {})
        results: list[Result] = []
        parsed: list[tuple[InboxJob, dict[str, Any]]] = []
        for job in jobs:
            try:
                parsed.append((job, orjson.loads(job.payload)))
            except ValueError as exc:
                results.append((job.id, ItemState.FAILED, str(exc)[:500], 0.0))
        async with self.db.read() as conn:
            known = await actors_repo.known_uris(conn, {job.actor_uri for job, _ in parsed})
        ready: list[Prepared] = []
        for n, (job, activity) in enumerate(parsed):
            if n % 16 == 15:
                await asyncio.sleep(0)  # parsing is CPU: let inbox requests in between
            try:
                ready.append(await self._prepare(job, activity, known,
                                                 notes.get(job.id, parse_pool.AGAIN)))
            except Unavailable as exc:
                results.append(self._retry_or_fail(job, exc.public))
            except (FediaidError, ValueError) as exc:
                results.append((job.id, ItemState.FAILED, str(exc)[:500], 0.0))
        return Batch(ready, results, started)

    async def _prepare(self, job: InboxJob, activity: dict[str, Any], known: set[str],
                       note: parse_pool.Parsed = parse_pool.AGAIN) -> Prepared:
        """``known``: the URIs of remote actors we have (updated when one is fetched);
        ``note``: the Create's note if the helper process parsed it."""
        prepared = Prepared(job, activity)
        type_ = type_of(activity)
        if not self.activities.handles(type_):
            return prepared
        prepared.dropped = self.activities.refused(job.actor_uri, activity)
        if prepared.dropped:
            return prepared  # nothing fetched for what the federation policy refuses
        if type_ == "Delete":
            return prepared  # never fetch for a Delete: the thing is gone
        if job.actor_uri not in known:
            await self.follows.find_remote_actor(job.actor_uri, refresh=True)
            known.add(job.actor_uri)
        obj = activity.get("object")
        wanted: str | None = None
        if type_ == "Create" and isinstance(obj, str):
            wanted = obj
        elif type_ == "Announce":
            inner = obj.get("object") if isinstance(obj, dict) else None
            target = id_of(inner) if inner is not None else id_of(obj)
            if target and (not isinstance(inner, dict) or not same_origin(target, job.actor_uri)):
                wanted = target
        if wanted and is_http_uri(wanted) and not self.urls.is_local(wanted):
            async with self.db.read() as conn:
                have = await objects_repo.find_by_uri(conn, wanted)
            if have is None:
                try:
                    prepared.fetched[wanted] = await (await self.core.remote()).fetch(wanted)
                except FetchError as exc:
                    if type_ == "Create":
                        raise Unavailable(f"could not fetch {wanted}: {exc.reason}") from exc
                    log.info("announced object %s not fetched: %s", wanted, exc.reason)
            for doc in prepared.fetched.values():
                prepared.dropped = self.activities.refused(job.actor_uri,
                                                           {"type": type_, "object": doc})
                if prepared.dropped:
                    prepared.fetched.clear()
                    return prepared
        embedded = announced_object(obj, job.actor_uri) if type_ == "Announce" else None
        for doc in [*prepared.fetched.values(), *([embedded] if embedded else [])]:
            author = id_of(doc.get("attributedTo"))
            if author and is_http_uri(author) and not self.urls.is_local(author) and (
                    author not in known):
                async with self.db.read() as conn:
                    known_author = await actors_repo.find_by_uri(conn, author)
                if known_author is None:
                    try:
                        await self.follows.find_remote_actor(author)
                    except FediaidError as exc:
                        log.info("author %s of %s unknown: %s", author, id_of(doc), exc.public)
        if type_ == "Create" and isinstance(obj, dict):
            prepared.note = parse_remote_note(obj) if isinstance(note, str) else note
            prepared.plain = self._plain_note(job.actor_uri, obj, prepared.note)
        return prepared

    def _plain_note(self, actor_uri: str, obj: dict[str, Any], note: RemoteNote | None) -> bool:
        """Whether ``InboxActivities._create`` would do no more with this object, if its
        status is new, than store the object and write the status
        (``RemoteStatuses.is_plain``): the object is valid for ``_store_object``, public
        (``PostInbox.on_object`` then has nothing to do with a note that is neither a reply
        nor an offer or need), and not an offer or need (whether it is one does not depend
        on the group's categories)."""
        if note is None:
            return False
        uri = id_of(obj)
        return bool(
            uri and is_http_uri(uri) and first_str(obj.get("type")) in OBJECT_TYPES
            and note.author_uri == actor_uri == id_of(obj.get("attributedTo"))
            and same_origin(uri, actor_uri)
            and any(is_public(a) for a in note.to + note.cc)
            and self.remote_statuses.is_plain(note)
            and len(note.hashtags) < MAX_HASHTAGS  # then they are all of them
            and not may_be_proposal(obj, note.hashtags))

    # -- step 2: database, in slices -------------------------------------------------------
    async def process(self, jobs: list[InboxJob], *, worker: str, budget: Budget | None = None
                      ) -> list[Result]:
        """Prepare and apply claimed jobs; returns every job's result."""
        return await self.apply(await self.prepare(jobs), worker=worker, budget=budget)

    async def apply(self, batch: Batch, *, worker: str, budget: Budget | None = None
                    ) -> list[Result]:
        """Apply a prepared batch; returns every job's result. ``budget`` is asked before
        each slice how long it may hold the writer (``SLICE_SECONDS`` without one)."""
        ready, results = batch.ready, list(batch.results)
        unfinished = list(results)  # recorded with the first slice
        start = 0
        leased = batch.started
        lease = self.settings.inbox_lease_seconds
        while start < len(ready) or unfinished:
            seconds = await budget() if budget is not None else SLICE_SECONDS
            async with self.db.write() as conn:
                if time.monotonic() - leased > lease * LEASE_CHECK_FRACTION and ready[start:]:
                    # Long after the claim (slow fetches, a long batch): keep the lease of
                    # what is left, and leave out what is no longer ours (its lease ran out
                    # and another worker claimed it), so nothing is applied twice. On
                    # PostgreSQL the UPDATE also locks those rows until this slice commits.
                    leased = time.monotonic()
                    ours = await inbox_repo.keep_leases(
                        conn, worker=worker, ids=[p.job.id for p in ready[start:]],
                        lease_seconds=lease)
                    lost = [p for p in ready[start:] if p.job.id not in ours]
                    if lost:
                        log.warning("inbox: %d claimed activities are no longer ours (their "
                                    "lease ran out); left to the worker that holds them",
                                    len(lost))
                        ready = ready[:start] + [p for p in ready[start:]
                                                 if p.job.id in ours]
                        if start >= len(ready) and not unfinished:
                            break
                applied, start = await self._apply_slice(conn, ready, start, seconds)
                await inbox_repo.finish(conn, worker=worker, results=unfinished + applied)
            _count(unfinished + applied)
            results += applied
            unfinished = []
        return results

    async def _apply_slice(self, conn: AsyncConnection, ready: list[Prepared], start: int,
                           seconds: float) -> tuple[list[Result], int]:
        """Apply ``ready[start:]`` in order until ``seconds`` have passed or another
        transaction waits for the writer (at least one item); returns the results and where
        the next slice starts."""
        rest = ready[start:]
        if not rest:
            return [], start
        most_plain = max(1, int(seconds * PLAIN_PER_SECOND))
        # The actors of the plain notes this slice can take at most (a plain note further on
        # whose actor was not read takes the long road, which reads it).
        uris = {p.job.actor_uri for p in rest[:most_plain]}
        state = _Slice(actors=await actors_repo.author_refs(conn, uris),
                       suspended=await self.reports.suspended_among(conn, uris),
                       unavailable=await domains_repo.unavailable_domains(conn))
        results: list[Result] = []
        deadline = time.monotonic() + seconds
        end = start
        plain = 0
        for p in rest:
            end += 1
            actor = self._plain_author(p, state)
            if actor is not None and p.note is not None:
                state.plain.append((p, actor))
                state.plain_uris.add(p.note.uri)
                plain += 1
                if len(state.plain) >= PLAIN_CHUNK:
                    results += await self._write_plain(conn, state)
            else:
                results += await self._write_plain(conn, state)
                results.append(await self._apply_one(conn, p, state.unavailable))
                if type_of(p.activity) in ("Update", "Delete"):
                    state.actors.pop(p.job.actor_uri, None)  # it may have changed itself
            if (plain >= most_plain or time.monotonic() >= deadline
                    or self.db.writers_waiting):
                break
        results += await self._write_plain(conn, state)
        return results, end

    def _plain_author(self, p: Prepared, state: _Slice) -> AuthorRef | None:
        """The author of a plain note that may be written with the others of this slice, or
        None when the item must take the long road (``InboxActivities.apply``): refused
        now, from an unavailable domain, an id on another server, an actor unknown, changed
        in this slice or suspended, or the same note twice."""
        if not p.plain or p.note is None or p.dropped or p.note.uri in state.plain_uris:
            return None
        actor_uri = p.job.actor_uri
        if (self.activities.refused(actor_uri, p.activity)
                or host_of(actor_uri) in state.unavailable or actor_uri in state.suspended):
            return None
        if is_http_uri(p.job.activity_uri) and not same_origin(p.job.activity_uri, actor_uri):
            return None
        return state.actors.get(actor_uri)

    async def _write_plain(self, conn: AsyncConnection, state: _Slice) -> list[Result]:
        """Write the collected plain notes (see the module docstring); returns their
        results."""
        batch, state.plain = state.plain, []
        state.plain_uris.clear()
        if not batch:
            return []
        try:
            async with conn.begin_nested():
                await objects_repo.upsert_many(conn, [
                    self.activities.object_row(actor.id, p.activity["object"], p.note)
                    for p, actor in batch])
                inserted = await self.remote_statuses.add_plain_notes(
                    conn, [(actor, p.note) for p, actor in batch if p.note is not None])
        except (*ITEM_ERRORS, DBAPIError) as exc:
            if isinstance(exc, DBAPIError) and not _own_fault(exc):
                raise
            log.info("%d plain notes could not be written together (%s): one by one",
                     len(batch), type(exc).__name__)
            inserted = {}
        results: list[Result] = []
        for p, _ in batch:
            if p.note is not None and p.note.uri in inserted:
                results.append((p.job.id, ItemState.DONE, None, 0.0))
            else:
                results.append(await self._apply_one(conn, p, state.unavailable))
        return results

    async def _apply_one(self, conn: AsyncConnection, p: Prepared, unavailable: frozenset[str]
                         ) -> Result:
        """Apply one activity in its own savepoint: a failure is recorded, the rest of the
        slice goes on."""
        try:
            async with conn.begin_nested():
                await self.activities.apply(conn, p, unavailable)
            return (p.job.id, ItemState.DONE, None, 0.0)
        except (*ITEM_ERRORS, DBAPIError) as exc:
            if isinstance(exc, DBAPIError) and not _own_fault(exc):
                raise
            log.info("inbox item %s failed: %s", p.job.activity_uri, exc)
            return (p.job.id, ItemState.FAILED, str(exc)[:500], 0.0)

    def _retry_or_fail(self, job: InboxJob, reason: str) -> Result:
        if job.attempts >= MAX_ATTEMPTS:
            return (job.id, ItemState.FAILED, reason, 0.0)
        return (job.id, ItemState.PENDING, reason, 30.0 * job.attempts**2)
