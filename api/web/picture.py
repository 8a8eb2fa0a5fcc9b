"""The needs picture (``/picture``, members): the group's needs and offers by category,
area and month, what waits longest, what is asked for most and how quickly needs are met,
each as an SVG bar chart drawn here (no JavaScript; no inline style, so the pages' CSP
holds) beside a table; ``/picture.csv``, the same numbers; ``/admin/posts.csv``, the
group's posts without private fields, for coordinators. Service:
fediaid/services/needs_picture.py; the rules: fediaid/domain/picture.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.coordination import coordinator_page
from api.web.render import day, form_handler, render
from api.web.session import require_user
from fediaid.domain.picture import Count, Hidden
from fediaid.domain.users import User
from fediaid.services.needs_picture import Table

#: The chart's drawing width (viewBox units; the SVG scales to the screen).
WIDTH = 320
BAR_AREA = 230  # the longest bar; the rest holds its number
ROW_GAP = 8
LABEL_HEIGHT = 15
BAR_HEIGHT = 11


@dataclass(frozen=True)
class Bar:
    css: str  # "need", "offer", "wait" ...
    y: float
    width: float
    value: float | None  # None: hidden (the chart says "fewer than 5" or "hidden")
    small: bool  # hidden because fewer than 5


@dataclass(frozen=True)
class ChartRow:
    key: str
    label: str  # the template names special keys and months
    y: float  # the label's baseline
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Chart:
    rows: tuple[ChartRow, ...]
    height: float
    unit: str = "count"  # or "days"
    bar_height: int = BAR_HEIGHT


Value = Count | float | None


def chart(rows: Sequence[tuple[str, str, Sequence[Value]]], series: Sequence[str], *,
          unit: str = "count") -> Chart:
    """Horizontal bars: per row (key, label, values) a label line, then one bar per
    series. Rows whose values are all hidden are left to the table; a hidden value draws
    no bar."""
    kept = [row for row in rows if any(_number(v) is not None for v in row[2])]
    largest = max((_number(v) or 0 for _, _, values in kept for v in values), default=0) or 1
    out, y = [], 0.0
    for key, label, values in kept:
        y += LABEL_HEIGHT
        label_y = y - 4
        bars = []
        for css, v in zip(series, values, strict=True):
            n = _number(v)
            bars.append(Bar(css, y, round(BAR_AREA * n / largest, 1) if n else 0.0, n,
                            isinstance(v, Count) and v.hidden is Hidden.SMALL))
            y += BAR_HEIGHT + 2
        out.append(ChartRow(key, label, label_y, tuple(bars)))
        y += ROW_GAP
    return Chart(tuple(out), max(y, 1.0), unit)


def _number(v: Value) -> float | None:
    if isinstance(v, Count):
        return None if v.value is None else float(v.value)
    return v


def _rows(table: Table) -> list[tuple[str, str, Sequence[Value]]]:
    return [(r.key, r.label, r.cells) for r in table.rows]


@form_handler
async def page(request: Request) -> Response:
    rt = runtime(request)
    user = await require_user(request)
    p = await rt.needs_picture.picture(user)
    return await render(
        request, "picture.html", p=p, since=day(p.since), made=p.made_at.astimezone(UTC),
        charts={
            "categories": chart(_rows(p.categories), ("need", "offer")),
            "areas": chart(_rows(p.areas), ("need", "offer")),
            "months": chart(_rows(p.months), ("need", "offer")),
            "waiting": chart(_rows(p.waiting_bands), ("wait",)),
            "requested": chart([(r.key, r.label, [r.cells[0]]) for r in p.requested],
                               ("need",)),
            "speed": chart([(s.key, s.label, [s.met_days[0] if s.met_days else None])
                            for s in p.speed], ("speed",), unit="days"),
        })


@form_handler
async def csv_download(request: Request) -> Response:
    rt = runtime(request)
    user = await require_user(request)
    body = await rt.needs_picture.picture_csv(user)
    return _csv(body, "needs-picture.csv")


@coordinator_page
async def posts_export(request: Request, user: User) -> Response:
    rt = runtime(request)
    body = await rt.needs_picture.export_posts(user)
    return _csv(body, "posts.csv")


def _csv(body: str, name: str) -> Response:
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "private, no-store"})
