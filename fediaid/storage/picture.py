"""The needs picture's counting: GROUP BY queries over the group's posts (SQLite and
PostgreSQL alike), and the coordinators' export of the posts without private fields.

Which posts count (``counted``): the group's own posts (written here, also as a neighbor
or for one by proxy intake, and posts from other servers the group shares, ``via_group``),
whatever their visibility (only counts leave); never a post waiting for approval
(``held``) or hidden by a coordinator (``hidden``). Removed and deleted posts are gone from
the table.

Indexes: the windows read ``ix_posts_created`` (migration 0016), open and met needs
``ix_posts_state_kind``, first answers ``ix_responses_post``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, extract, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.posts import Kind, State
from fediaid.storage.dialect import is_postgres
from fediaid.storage.tables import posts, responses


def counted() -> Any:
    """The posts the picture and the export count."""
    return and_(or_(posts.c.local.is_(True), posts.c.via_group.is_(True)),
                posts.c.held.is_(False), posts.c.hidden.is_(False))


def _month_index(starts: Sequence[datetime]) -> Any:
    """0 for the oldest month in ``starts`` ... len-1 for the newest; -1 before them."""
    whens = [(posts.c.created_at >= start, i) for i, start in reversed(list(enumerate(starts)))]
    return case(*whens, else_=-1)


async def cube(conn: AsyncConnection, starts: Sequence[datetime]
               ) -> list[tuple[str, str, str | None, int, int]]:
    """Posts created since ``starts[0]``, counted by kind, category, area and month (an
    index into ``starts``): (kind, category, area, month, count). One statement, so every
    table of the picture is cut from the same moment (tables counted at different moments
    could differ by one post and give away where it was)."""
    month = _month_index(starts).label("month")
    rows = await conn.execute(
        select(posts.c.kind, posts.c.category, posts.c.area, month, func.count())
        .where(counted(), posts.c.created_at >= starts[0])
        .group_by(posts.c.kind, posts.c.category, posts.c.area, month))
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


def _seconds(conn: AsyncConnection, later: Any, earlier: Any) -> Any:
    if is_postgres(conn):
        return extract("epoch", later - earlier)
    # SQLite keeps UTC times as ISO text (fediaid/storage/types.py).
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


@dataclass(frozen=True)
class Ranked:
    """One duration at a rank: the ``rank``th shortest of ``n`` in ``category`` (None: all
    categories together)."""

    category: str | None
    n: int
    rank: int
    seconds: float


async def ranked_durations(conn: AsyncConnection, *, since: datetime, measure: str,
                           percents: Sequence[int], by_category: bool) -> list[Ranked]:
    """For needs created since ``since``, the durations at the nearest ranks of
    ``percents`` (``picture.nearest_rank``), per category or for all: ``measure`` "met"
    (posting to fulfilled or partly fulfilled) or "first_answer" (posting to the first
    answer). Window functions pick the ranks in the database: a few rows come back."""
    if measure == "met":
        source = (select(posts.c.category.label("category"),
                         _seconds(conn, posts.c.closed_at, posts.c.created_at).label("secs"))
                  .where(counted(), posts.c.kind == Kind.NEED.value,
                         posts.c.state.in_([State.FULFILLED.value,
                                            State.PARTLY_FULFILLED.value]),
                         posts.c.closed_at.is_not(None), posts.c.created_at >= since))
    else:
        first = (select(responses.c.post_id, func.min(responses.c.created_at).label("first"))
                 .group_by(responses.c.post_id).subquery())
        source = (select(posts.c.category.label("category"),
                         _seconds(conn, first.c.first, posts.c.created_at).label("secs"))
                  .select_from(posts.join(first, first.c.post_id == posts.c.id))
                  .where(counted(), posts.c.kind == Kind.NEED.value,
                         posts.c.created_at >= since))
    s = source.subquery()
    part = [s.c.category] if by_category else None
    ranked = select(
        (s.c.category if by_category else literal(None)).label("category"), s.c.secs,
        func.row_number().over(partition_by=part, order_by=s.c.secs).label("rn"),
        func.count().over(partition_by=part).label("n"),
    ).subquery()
    # The nearest rank of p percent of n: ceil(n * p / 100), in integer arithmetic.
    wanted = or_(*[ranked.c.rn == (ranked.c.n * p + 99) // 100 for p in percents])
    rows = await conn.execute(select(ranked.c.category, ranked.c.n, ranked.c.rn,
                                     ranked.c.secs).where(wanted))
    return [Ranked(r[0], int(r[1]), int(r[2]), max(0.0, float(r[3]))) for r in rows]


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
