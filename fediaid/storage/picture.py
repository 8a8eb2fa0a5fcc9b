"""The needs picture's counting: GROUP BY queries over the group's posts (SQLite and
PostgreSQL alike), and the coordinators' export of the posts without private fields.

Which posts count (``counted``): the group's own posts (written here, also as a neighbor
or for one by proxy intake, and posts from other servers the group shares, ``via_group``),
whatever their visibility (only counts leave); never a post waiting for approval
(``held``) or hidden by a coordinator (``hidden``). Deleted posts that still count (by
retention, most of them: ``picture.kept_outcome``) are kept as counts in ``picture_counts``
and ``picture_times`` (fediaid/storage/picture_kept.py): ``cube`` and ``speed_steps`` add
them to the stored posts' counts in the same statement, so a post being deleted meanwhile is
counted once, either way.

Indexes: open and met needs ``ix_posts_state_kind``, first answers ``ix_responses_post``;
the kept counts are read by their primary keys (month first). Whether a picture made
before still holds: ``changes`` (one row kept by triggers), not a scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.picture import TIME_STEPS, month_key
from fediaid.domain.posts import Kind, State
from fediaid.storage.dialect import is_postgres
from fediaid.storage.picture_kept import FIRST_ANSWER, MET
from fediaid.storage.tables import (
    picture_changes,
    picture_counts,
    picture_times,
    posts,
    responses,
)


def counted() -> Any:
    """The posts the picture and the export count (``picture.counts`` for one post)."""
    return and_(or_(posts.c.local.is_(True), posts.c.via_group.is_(True)),
                posts.c.held.is_(False), posts.c.hidden.is_(False))


def _month_index(starts: Sequence[datetime]) -> Any:
    """0 for the oldest month in ``starts`` ... len-1 for the newest; -1 before them."""
    whens = [(posts.c.created_at >= start, i) for i, start in reversed(list(enumerate(starts)))]
    return case(*whens, else_=-1)


def _kept_month_index(column: Any, starts: Sequence[datetime]) -> Any:
    """The same index for a kept month key ("2026-03")."""
    return case(*[(column == month_key(start), i) for i, start in enumerate(starts)],
                else_=-1)


async def cube(conn: AsyncConnection, starts: Sequence[datetime]
               ) -> list[tuple[str, str, str | None, int, int]]:
    """Posts created since ``starts[0]``, stored and kept after deletion, counted by kind,
    category, area (None: none) and month (an index into ``starts``): (kind, category,
    area, month, count). One statement, so every table of the picture is cut from the same
    moment (tables counted at different moments could differ by one post and give away
    where it was)."""
    # Grouped by the labels (PostgreSQL would not match two copies of an expression with
    # parameters); a place given as "" counts as none, as it is kept.
    area = func.nullif(posts.c.area, "").label("place")
    month = _month_index(starts).label("month_no")
    stored = (select(posts.c.kind.label("kind"), posts.c.category.label("category"),
                     area, month, func.count().label("n"))
              .where(counted(), posts.c.created_at >= starts[0])
              .group_by(posts.c.kind, posts.c.category, area, month))
    k = picture_counts.c
    k_area = func.nullif(k.area, "").label("place")
    k_month = _kept_month_index(k.month, starts).label("month_no")
    kept = (select(k.kind, k.category, k_area, k_month, cast(func.sum(k.posts), Integer))
            .where(k.month >= month_key(starts[0]))
            .group_by(k.kind, k.category, k_area, k_month))
    both = union_all(stored, kept).subquery()
    rows = await conn.execute(
        select(both.c.kind, both.c.category, both.c.place, both.c.month_no,
               func.sum(both.c.n))
        .group_by(both.c.kind, both.c.category, both.c.place, both.c.month_no))
    return [(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in rows]


async def open_needs(conn: AsyncConnection, limits: Sequence[datetime]
                     ) -> list[tuple[str, int, int]]:
    """Needs nobody has taken on yet (state open), by category and by age band (0 for the
    youngest; ``limits`` newest first, as ``picture.age_limits`` gives them):
    (category, band, count)."""
    whens = [(posts.c.created_at >= limit, i) for i, limit in enumerate(limits)]
    band = case(*whens, else_=len(limits)).label("band")
    rows = await conn.execute(
        select(posts.c.category, band, func.count())
        .where(counted(), posts.c.state == State.OPEN.value, posts.c.kind == Kind.NEED.value)
        .group_by(posts.c.category, band))
    return [(r[0], int(r[1]), int(r[2])) for r in rows]


def _epoch(conn: AsyncConnection, moment: Any) -> Any:
    """Whole seconds since 1970 (the fraction cut off), as ``picture.whole_seconds``."""
    if is_postgres(conn):
        return cast(func.floor(extract("epoch", moment)), BigInteger)
    # SQLite keeps UTC times as ISO text "YYYY-MM-DD HH:MM:SS.ffffff" (storage/types.py);
    # strftime would round the fraction to milliseconds, so it is cut off first.
    return cast(func.strftime("%s", func.substr(moment, 1, 19)), BigInteger)


def _step(seconds: Any) -> Any:
    """The step (``picture.TIME_STEPS``) a duration in whole seconds is counted in."""
    # The steps are our own constants: written into the statement, not 56 parameters.
    steps = [literal_column(str(int(step))) for step in TIME_STEPS]
    return case(*[(seconds <= step, step) for step in steps], else_=steps[-1])


@dataclass(frozen=True)
class Ranked:
    """One duration at a rank: the ``rank``th shortest of ``n`` in ``category`` (None: all
    categories together)."""

    category: str | None
    n: int
    rank: int
    seconds: float


async def speed_steps(conn: AsyncConnection, *, starts: Sequence[datetime]
                      ) -> list[tuple[str, str, int, int]]:
    """For needs created since ``starts[0]``, stored and kept after deletion, how many
    took up to each step (``picture.TIME_STEPS``), per category: (measure, category, step
    in seconds, count). ``measure`` "met": posting to fulfilled or partly fulfilled;
    "first_answer": posting to the first answer (any answer, any state). One statement
    (a post deleted meanwhile is counted once); a row per category and step comes back."""
    since = starts[0]
    need = and_(counted(), posts.c.kind == Kind.NEED.value, posts.c.created_at >= since)
    met = (select(posts.c.category.label("category"),
                  (_epoch(conn, posts.c.closed_at) - _epoch(conn, posts.c.created_at))
                  .label("secs"))
           .where(need, posts.c.state.in_([State.FULFILLED.value,
                                           State.PARTLY_FULFILLED.value]),
                  posts.c.closed_at.is_not(None)).subquery())
    first = (select(responses.c.post_id, func.min(responses.c.created_at).label("first"))
             .group_by(responses.c.post_id).subquery())
    answered = (select(posts.c.category.label("category"),
                       (_epoch(conn, first.c.first) - _epoch(conn, posts.c.created_at))
                       .label("secs"))
                .select_from(posts.join(first, first.c.post_id == posts.c.id))
                .where(need).subquery())
    parts: list[Any] = []
    for measure, source in ((MET, met), (FIRST_ANSWER, answered)):
        step = _step(source.c.secs).label("step")
        parts.append(select(literal(measure).label("measure"), source.c.category,
                            step, func.count().label("n"))
                     .group_by(source.c.category, step))
    t = picture_times.c
    parts.append(select(t.measure, t.category, t.within_seconds,
                        cast(func.sum(t.needs), Integer))
                 .where(t.month >= month_key(since))
                 .group_by(t.measure, t.category, t.within_seconds))
    both = union_all(*parts).subquery()
    rows = await conn.execute(
        select(both.c.measure, both.c.category, both.c.step, func.sum(both.c.n))
        .group_by(both.c.measure, both.c.category, both.c.step))
    return [(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


async def need_titles(conn: AsyncConnection, *, since: datetime, limit: int
                      ) -> list[tuple[str, str]]:
    """(asker, title) of the newest needs since ``since``: the asker is the account that
    posted it (for an anonymous post too: only the count of askers leaves), the remote
    author of a shared post, or the post itself for proxy intake (one neighbor each)."""
    rows = await conn.execute(
        select(posts.c.id, posts.c.proxy, posts.c.creator_user_id, posts.c.author_actor_id,
               posts.c.title)
        .where(counted(), posts.c.kind == Kind.NEED.value, posts.c.created_at >= since)
        .order_by(posts.c.id.desc()).limit(limit))
    out = []
    for r in rows:
        if r.proxy:
            asker = f"post:{r.id}"
        elif r.creator_user_id is not None:
            asker = f"user:{r.creator_user_id}"
        else:
            asker = f"actor:{r.author_actor_id}"
        out.append((asker, r.title))
    return out


async def open_ages(conn: AsyncConnection, *, now: datetime, percents: Sequence[int],
                    by_category: bool) -> list[Ranked]:
    """How long open needs have waited until ``now``, at the nearest ranks of
    ``percents`` (youngest first), per category or for all."""
    open_needs_ = (select(posts.c.category.label("category"),
                          posts.c.created_at.label("created"))
                   .where(counted(), posts.c.state == State.OPEN.value,
                          posts.c.kind == Kind.NEED.value).subquery())
    part = [open_needs_.c.category] if by_category else None
    ranked = select(
        (open_needs_.c.category if by_category else literal(None)).label("category"),
        open_needs_.c.created,
        func.row_number().over(partition_by=part,
                               order_by=open_needs_.c.created.desc()).label("rn"),
        func.count().over(partition_by=part).label("n"),
    ).subquery()
    wanted = or_(*[ranked.c.rn == (ranked.c.n * p + 99) // 100 for p in percents])
    rows = await conn.execute(select(ranked.c.category, ranked.c.n, ranked.c.rn,
                                     ranked.c.created).where(wanted))
    out = []
    for r in rows:
        created = r[3]  # UTCDateTime through the subqueries: aware, in UTC
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        out.append(Ranked(r[0], int(r[1]), int(r[2]),
                          max(0.0, (now - created).total_seconds())))
    return out


async def changes(conn: AsyncConnection) -> int | None:
    """A number that grows in every transaction that changes anything the picture counts
    or names (the posts, their answers, the counts kept after deletion, the group's
    categories and places): ``picture_changes``, written by triggers (migration 0029). One
    row read by its key, whatever the number of posts; ``services.needs_picture`` keeps a
    picture while it holds. None if the row is missing (then nothing is kept)."""
    value = await conn.scalar(select(picture_changes.c.changes)
                              .where(picture_changes.c.id == 1))
    return None if value is None else int(value)


# -- the coordinators' export ------------------------------------------------------------

#: The export's columns, in order (docs/needs-picture.md). Nothing private: no title or
#: description, no author, no intake name, callback or notes.
EXPORT_COLUMNS = ("id", "kind", "category", "area", "state", "created", "closed",
                  "visibility", "answers")


async def export_rows(conn: AsyncConnection) -> list[Any]:
    """Every counted post, oldest first, with its number of answers."""
    answers = (select(responses.c.post_id, func.count().label("answers"))
               .group_by(responses.c.post_id).subquery())
    rows = await conn.execute(
        select(posts.c.id, posts.c.kind, posts.c.category, posts.c.area, posts.c.state,
               posts.c.created_at, posts.c.closed_at, posts.c.visibility,
               func.coalesce(answers.c.answers, 0).label("answers"))
        .select_from(posts.outerjoin(answers, answers.c.post_id == posts.c.id))
        .where(counted()).order_by(posts.c.id))
    return list(rows)
