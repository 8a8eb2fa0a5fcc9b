"""The needs picture: what the group asks for and offers, where, when, what waits longest
and how quickly needs are met, for every member to see, with no count small enough to
single anyone out (the rules in fediaid/domain/picture.py); the same numbers as CSV; and
for coordinators an export of the group's posts without private fields.

Which posts count is told in fediaid/storage/picture.py (``counted``) and
docs/needs-picture.md.
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fediaid.domain.audit import AuditAction
from fediaid.domain.picture import (
    HIDE_BELOW,
    WORD_TITLES_MAX,
    Count,
    Hidden,
    Word,
    age_band_keys,
    age_limits,
    csv_cell,
    frequent_words,
    month_starts,
    nearest_rank,
    protect,
    protect_one,
    step_percentiles,
)
from fediaid.domain.posts import Kind
from fediaid.domain.roles import Permission
from fediaid.domain.users import User
from fediaid.errors import Forbidden
from fediaid.i18n import N_
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.storage import picture as repo
from fediaid.storage import posts as posts_repo
from fediaid.storage.picture_kept import FIRST_ANSWER, MET
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

#: Row keys that are not a category, area or month.
OTHER = "(other)"  # categories or places not in the group's lists, each with few posts
NO_AREA = "(none)"  # posts that name no place
#: The percentiles shown for "how quickly" (nearest rank).
PERCENTS = (50, 75)
KINDS = (Kind.NEED.value, Kind.OFFER.value)
TOP_REQUESTED = 5


@dataclass(frozen=True)
class Row:
    key: str  # category slug, area, "2026-03", band key, or OTHER / NO_AREA
    label: str  # the category's or area's own words (coordinators'); "" for OTHER / NO_AREA
    cells: tuple[Count, ...]  # one per column of the table

    @property
    def all_small(self) -> bool:
        """Every count is "fewer than 5": a page may leave the row out and say so."""
        return all(c.hidden is Hidden.SMALL for c in self.cells)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]  # "need"/"offer", or age band keys
    rows: tuple[Row, ...]
    totals: tuple[Count, ...]  # one per column

    def largest(self) -> int:
        """The largest shown count (for scaling a chart)."""
        return max((c.value for r in self.rows for c in r.cells if c.value is not None),
                   default=0)


@dataclass(frozen=True)
class Speed:
    """How quickly needs in one category (or all: ``key`` "") are met."""

    key: str
    label: str
    met: Count  # needs met (fulfilled or partly)
    met_days: tuple[float, ...] | None  # days at PERCENTS, when at least HIDE_BELOW met
    answer_days: tuple[float, ...] | None  # days to the first answer, at PERCENTS

    @property
    def all_small(self) -> bool:
        return self.met.hidden is Hidden.SMALL and self.answer_days is None


@dataclass(frozen=True)
class Wait:
    """Needs in one category nobody has taken on yet."""

    key: str
    label: str
    open: Count
    days: tuple[float, ...] | None  # days waited at PERCENTS, when at least HIDE_BELOW

    @property
    def all_small(self) -> bool:
        return self.open.hidden is Hidden.SMALL


@dataclass(frozen=True)
class Picture:
    since: datetime  # the first instant counted (the first day of the oldest month)
    made_at: datetime
    needs: Count
    offers: Count
    open_needs: Count
    categories: Table
    areas: Table
    months: Table
    waiting_bands: Table  # open needs by how long they have waited
    waiting: tuple[Wait, ...]  # open needs by category, with how long they have waited
    requested: tuple[Row, ...]  # the categories most asked for (shown counts only)
    words: tuple[Word, ...]
    speed: tuple[Speed, ...]
    speed_all: Speed


def _rows_for(listed: Sequence[tuple[str, str]], extra: Sequence[tuple[str, str]],
              data: Mapping[Any, Sequence[int]], width: int, *, no_area: bool = False
              ) -> list[tuple[str, str, list[int]]]:
    """The rows of a table: the group's ``listed`` categories or areas (in its order),
    ``extra`` ones (hidden categories) and others from the data only with at least
    HIDE_BELOW posts (their name is seen), the rest added up in one OTHER row; with
    ``no_area``, a NO_AREA row for posts that name no place (key ``None`` in ``data``)."""
    out: list[tuple[str, str, list[int]]] = []
    seen: set[str] = set()
    for key, label in listed:
        out.append((key, label, list(data.get(key, [0] * width))))
        seen.add(key)
    other = [0] * width
    labels = dict(extra)
    for key in sorted(k for k in data if k is not None and k not in seen):
        values = list(data[key])
        if sum(values) >= HIDE_BELOW:
            out.append((key, labels.get(key, key), values))
        else:
            other = [a + b for a, b in zip(other, values, strict=True)]
    out.append((OTHER, "", other))
    if no_area:
        out.append((NO_AREA, "", list(data.get(None, [0] * width))))
    return out


def _table(name: str, columns: Sequence[str], rows: Sequence[tuple[str, str, list[int]]],
           cells: Sequence[Sequence[Count]], totals: Sequence[Count]) -> Table:
    """``cells``: per column, one count per row."""
    return Table(name, tuple(columns), tuple(
        Row(key, label, tuple(cells[j][i] for j in range(len(columns))))
        for i, (key, label, _) in enumerate(rows)), tuple(totals))


def _days(ranked: Iterable[repo.Ranked]) -> dict[str | None, tuple[int, tuple[float, ...]]]:
    """Per category: how many, and the days at PERCENTS (only with at least HIDE_BELOW)."""
    by: dict[str | None, dict[int, float]] = defaultdict(dict)
    counts: dict[str | None, int] = {}
    for r in ranked:
        by[r.category][r.rank] = r.seconds / 86400
        counts[r.category] = r.n
    out = {}
    for key, n in counts.items():
        days = tuple(by[key][nearest_rank(n, p)] for p in PERCENTS)
        out[key] = (n, days)
    return out


def _step_days(steps: Iterable[tuple[str, str, int, int]], measure: str
               ) -> dict[str | None, tuple[int, tuple[float, ...]]]:
    """Per category, and for all (key None): how many needs ``measure`` counts, and the
    days at PERCENTS read from the steps (``picture.step_percentiles``)."""
    by: dict[str | None, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for m, category, step, n in steps:
        if m == measure:
            by[category][step] += n
            by[None][step] += n
    return {key: step_percentiles(counts, PERCENTS) for key, counts in by.items()}


#: How long a picture made before is shown (when nothing it counts has changed): what
#: moves with the clock alone, how long the open needs have waited, is counted again
#: after this; the rest only when ``storage.picture.changes`` moves or a month begins.
KEEP_SECONDS = 60.0


@dataclass(frozen=True)
class _Counts:
    """The counts that change only with the data (and the month): by category, place and
    month, how quickly needs were met, the words of need titles; with the group's lists.
    ``changes``: ``storage.picture.changes`` when they were counted."""

    changes: int | None
    starts: tuple[datetime, ...]
    cube: Sequence[tuple[str, str, str | None, int, int]]
    steps: Sequence[tuple[str, str, int, int]]
    words: tuple[Word, ...]
    lists: tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]


@dataclass(frozen=True)
class _Made:
    counts: _Counts
    at: float  # time.monotonic() when the open needs were counted
    picture: Picture


class NeedsPicture(Service):
    def __init__(self, core: Core) -> None:
        super().__init__(core)
        # Every member sees the same picture, so one making serves every reader until
        # something it counts changes (``storage.picture.changes``, one row kept by
        # triggers) or, for the open needs' waits, KEEP_SECONDS pass. docs/benchmarks.md,
        # "Timelines": the grouped counts grow with the group's posts.
        self._made: _Made | None = None

    async def picture(self, user: User, *, now: datetime | None = None) -> Picture:
        """The picture, for a member (any role). ``now``: for tests."""
        del user  # every member sees the same picture; the caller made sure one asks
        return await self.group_picture(now=now)

    async def group_picture(self, *, now: datetime | None = None) -> Picture:
        """The picture, whoever asks (members' page, and the form linked groups fetch:
        services/network_picture.py). With ``now`` (tests) it is counted afresh."""
        given = now is not None
        now = now or utcnow()
        starts = tuple(month_starts(now))
        async with self.db.read() as conn:
            changes = None if given else await repo.changes(conn)
            made = self._made
            if changes is not None and made is not None and made.counts.changes == changes \
                    and made.counts.starts == starts:
                if time.monotonic() - made.at < KEEP_SECONDS:
                    return made.picture
                counts = made.counts  # only the open needs' waits are counted again
            else:
                counts = await self._counts(conn, changes, starts)
            at = time.monotonic()
            waiting = await repo.open_needs(conn, age_limits(now))
            ages = await repo.open_ages(conn, now=now, percents=PERCENTS, by_category=True)
        listed, hidden_categories, areas = counts.lists
        picture = _build(now=now, starts=starts, cube=counts.cube, waiting=waiting,
                         ages=ages, steps=counts.steps, words=counts.words,
                         categories=listed, hidden_categories=hidden_categories, areas=areas)
        if changes is not None:
            self._made = _Made(counts, at, picture)
        return picture

    @classmethod
    async def _counts(cls, conn: AsyncConnection, changes: int | None,
                      starts: tuple[datetime, ...]) -> _Counts:
        titles = await repo.need_titles(conn, since=starts[0], limit=WORD_TITLES_MAX)
        return _Counts(
            changes=changes, starts=starts, cube=await repo.cube(conn, starts),
            steps=await repo.speed_steps(conn, starts=starts),
            words=tuple(frequent_words(titles)), lists=await cls._lists(conn))

    @staticmethod
    async def _lists(conn: AsyncConnection) -> tuple[list[tuple[str, str]],
                                                     list[tuple[str, str]],
                                                     list[tuple[str, str]]]:
        shown = await posts_repo.category_list(conn)
        every = await posts_repo.category_list(conn, active_only=False)
        hidden = [c for c in every if c not in shown]
        return shown, hidden, await posts_repo.area_list(conn)

    async def picture_csv(self, user: User, *, now: datetime | None = None) -> str:
        """The picture's numbers as CSV (the same hidden counts as the page)."""
        return render_csv(await self.picture(user, now=now))

    async def export_posts(self, user: User) -> str:
        """The group's posts as CSV for a report or a grant (coordinators): the columns in
        ``storage.picture.EXPORT_COLUMNS``, nothing private. Recorded in the audit log."""
        if not user.may(Permission.COORDINATE):
            raise Forbidden(N_("Only coordinators can export the group's posts."))
        async with self.db.write() as conn:
            rows = await repo.export_rows(conn)
            await record(conn, user, AuditAction.POSTS_EXPORTED, target_kind="posts",
                         summary=N_("exported the group's posts as a spreadsheet ({n} posts, "
                                    "without private details)", n=len(rows)))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(repo.EXPORT_COLUMNS)
        for r in rows:
            writer.writerow([csv_cell(v) for v in (
                r.id, r.kind, r.category, r.area, r.state, _iso(r.created_at),
                _iso(r.closed_at), r.visibility, r.answers)])
        return out.getvalue()


def _iso(dt: datetime | None) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds") if dt else ""


def _build(*, now: datetime, starts: Sequence[datetime],
           cube: Sequence[tuple[str, str, str | None, int, int]],
           waiting: Sequence[tuple[str, int, int]], ages: Sequence[repo.Ranked],
           steps: Sequence[tuple[str, str, int, int]], words: Sequence[Word],
           categories: Sequence[tuple[str, str]], hidden_categories: Sequence[tuple[str, str]],
           areas: Sequence[tuple[str, str]]) -> Picture:
    width = len(KINDS)
    by_cat: dict[str, list[int]] = defaultdict(lambda: [0] * width)
    by_area: dict[str | None, list[int]] = defaultdict(lambda: [0] * width)
    by_month: dict[str, list[int]] = defaultdict(lambda: [0] * width)
    month_keys = [f"{s:%Y-%m}" for s in starts]
    for kind, category, area, month, n in cube:
        if kind not in KINDS or month < 0:
            continue
        k = KINDS.index(kind)
        by_cat[category][k] += n
        by_area[area][k] += n
        by_month[month_keys[month]][k] += n
    cat_rows = _rows_for(categories, hidden_categories, by_cat, width)
    area_rows = _rows_for(areas, [], by_area, width, no_area=True)
    month_rows = [(key, "", by_month.get(key, [0] * width)) for key in month_keys]
    tables: dict[str, list[list[Count]]] = {"categories": [], "areas": [], "months": []}
    totals: list[Count] = []
    for k in range(width):
        lists = [[r[2][k] for r in rows] for rows in (cat_rows, area_rows, month_rows)]
        p = protect(lists, sum(lists[0]))
        for name, counts in zip(tables, p.lists, strict=True):
            tables[name].append(list(counts))
        totals.append(p.total)
    categories_t = _table("categories", KINDS, cat_rows, tables["categories"], totals)
    areas_t = _table("areas", KINDS, area_rows, tables["areas"], totals)
    months_t = _table("months", KINDS, month_rows, tables["months"], totals)

    # What waits longest: open needs by age band, and by category (one total: both lists
    # come from one statement).
    bands = age_band_keys()
    band_counts = [0] * len(bands)
    open_by: dict[str, list[int]] = defaultdict(lambda: [0])
    for category, band, n in waiting:
        band_counts[band] += n
        open_by[category][0] += n
    wait_rows = _rows_for(categories, hidden_categories, open_by, 1)
    wp = protect([band_counts, [r[2][0] for r in wait_rows]], sum(band_counts))
    band_rows = [(key, "", [n]) for key, n in zip(bands, band_counts, strict=True)]
    waiting_bands = _table("bands", ("need",), band_rows, [list(wp.lists[0])], [wp.total])
    age_days = _days(ages)
    waiting_t = tuple(
        Wait(key, label, wp.lists[1][i],
             age_days[key][1] if key in age_days and age_days[key][0] >= HIDE_BELOW else None)
        for i, (key, label, _) in enumerate(wait_rows))

    # The most requested: categories by needs, only counts that are shown.
    requested = sorted((r for r in categories_t.rows if r.cells[0].value is not None),
                       key=lambda r: -(r.cells[0].value or 0))[:TOP_REQUESTED]

    # How quickly: needs met per category (a count under a total), with days at PERCENTS.
    met_days, answer_days = _step_days(steps, MET), _step_days(steps, FIRST_ANSWER)
    speed_rows = _rows_for(categories, hidden_categories,
                           {k: [v[0]] for k, v in met_days.items() if k is not None}, 1)
    met_counts, met_total = protect_one([r[2][0] for r in speed_rows],
                                        sum(r[2][0] for r in speed_rows))
    speed = tuple(
        Speed(key, label, met_counts[i],
              met_days[key][1] if key in met_days and met_days[key][0] >= HIDE_BELOW
              else None,
              answer_days[key][1] if key in answer_days and answer_days[key][0] >= HIDE_BELOW
              else None)
        for i, (key, label, _) in enumerate(speed_rows))
    all_met, all_answered = met_days.get(None), answer_days.get(None)
    speed_all = Speed("", "", met_total,
                      all_met[1] if all_met and all_met[0] >= HIDE_BELOW else None,
                      all_answered[1] if all_answered and all_answered[0] >= HIDE_BELOW
                      else None)
    return Picture(
        since=starts[0], made_at=now, needs=totals[0], offers=totals[1],
        open_needs=wp.total, categories=categories_t, areas=areas_t, months=months_t,
        waiting_bands=waiting_bands, waiting=waiting_t, requested=tuple(requested),
        words=tuple(words), speed=speed, speed_all=speed_all)


# -- the picture as CSV ------------------------------------------------------------------

CSV_COLUMNS = ("table", "row", "label", "column", "value")
FEWER = f"fewer than {HIDE_BELOW}"
HIDDEN = "hidden"


def _value(c: Count) -> str | int:
    if c.value is not None:
        return c.value
    return FEWER if c.hidden is Hidden.SMALL else HIDDEN


def _rounded(days: float) -> str:
    return f"{days:.1f}"


def render_csv(p: Picture) -> str:
    """Long form: one line per number, the rows and columns by their keys ("need",
    "0-3", a category's short name, "2026-03"), with the words the page shows as label."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)

    def row(*cells: object) -> None:
        w.writerow([csv_cell(c) for c in cells])

    row("summary", "needs", "", "count", _value(p.needs))
    row("summary", "offers", "", "count", _value(p.offers))
    row("summary", "open_needs", "", "count", _value(p.open_needs))
    for t in (p.categories, p.areas, p.months, p.waiting_bands):
        for r in t.rows:
            for col, c in zip(t.columns, r.cells, strict=True):
                row(t.name, r.key, r.label, col, _value(c))
        for col, c in zip(t.columns, t.totals, strict=True):
            row(t.name, "(total)", "", col, _value(c))
    for wait in p.waiting:
        row("waiting", wait.key, wait.label, "open", _value(wait.open))
        for pct, d in zip(PERCENTS, wait.days or (None,) * len(PERCENTS), strict=True):
            row("waiting", wait.key, wait.label, f"days_waited_p{pct}",
                _rounded(d) if d is not None else FEWER)
    for rank, r in enumerate(p.requested, 1):
        row("most_requested", r.key, r.label, f"rank {rank}", _value(r.cells[0]))
    for word in p.words:
        row("words", word.word, "", "posts", word.posts)
    for s in (*p.speed, p.speed_all):
        key = s.key or "(all)"
        row("speed", key, s.label, "met", _value(s.met))
        for name, days in (("days_to_met", s.met_days), ("days_to_first_answer",
                                                           s.answer_days)):
            for pct, d in zip(PERCENTS, days or (None,) * len(PERCENTS), strict=True):
                row("speed", key, s.label, f"{name}_p{pct}", _rounded(d) if d is not None
                    else FEWER)
    return out.getvalue()
