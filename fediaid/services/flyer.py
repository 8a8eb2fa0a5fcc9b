"""The printable flyer: this week's open public needs and offers, with the group's profile,
gathered for the page (api/web/flyer.py) and drawn as a PDF (fediaid/flyer_pdf.py).

Only what anyone may see: posts are read through ``PostService.search`` as an anonymous
visitor (``visibility.can_view``: public, not held, not hidden), and an item carries its
title, category and neighborhood, never who posted it. Only the group's own posts (made
here, or shared by the group), open, made in the last seven days.

A PDF costs CPU (about 0.15 s: docs/benchmarks.md), and anyone may ask for one, so each is
kept in memory by (paper, language, digest of the content) and made at most one at a time;
the content's digest changes with any post, profile word or day, so a kept PDF is never
stale.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime, time, tzinfo
from typing import TYPE_CHECKING

from fediaid.domain.flyer import MAX_ITEMS, Flyer, FlyerItem, Paper, week_of
from fediaid.domain.posts import Kind, State, Urgency
from fediaid.domain.visibility import ANONYMOUS
from fediaid.services.core import Core, Service
from fediaid.storage import posts as posts_repo
from fediaid.storage.posts import Filters

if TYPE_CHECKING:
    from fediaid.services.group_settings import GroupSettingsService
    from fediaid.services.posts import PostService

#: How many posts of a kind are read to find the week's (newest first).
CANDIDATES = 100
#: PDFs kept in memory (each about 30 KB).
KEPT = 16
_URGENCY = {Urgency.URGENT: 0, Urgency.NORMAL: 1, Urgency.LOW: 2}


class FlyerService(Service):

    def __init__(self, core: Core, *, group_settings: GroupSettingsService,
                 posts: PostService) -> None:
        super().__init__(core)
        self.group_settings = group_settings
        self.posts = posts
        self._pdfs: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
        self._making = asyncio.Lock()
        self.made = 0  # PDFs drawn (not served from memory): for tests and the log

    async def gather(self, *, today: date | None = None, zone: tzinfo = UTC) -> Flyer:
        """The flyer for the week ending ``today`` (by default today in ``zone``, the
        reader's time zone): posts made since midnight six days before, in that zone."""
        today = today or datetime.now(zone).date()
        since, printed = week_of(today)
        start = datetime.combine(since, time(), tzinfo=zone)
        profile = await self.group_settings.profile()
        async with self.db.read() as conn:
            categories = dict(await posts_repo.category_list(conn, active_only=False))
            areas = dict(await posts_repo.area_list(conn))
        lists: dict[Kind, tuple[tuple[FlyerItem, ...], int]] = {}
        for kind in (Kind.NEED, Kind.OFFER):
            found = [p for p in await self.posts.search(ANONYMOUS, Filters(
                         kind=kind, states=(State.OPEN,), limit=CANDIDATES))
                     if (p.local or p.via_group) and _aware(p.created_at) >= start]
            found.sort(key=lambda p: (_URGENCY.get(p.urgency, 1), -p.id))
            items = tuple(FlyerItem(title=p.title,
                                    category=categories.get(p.category, p.category),
                                    area=areas.get(p.area, p.area) if p.area else "")
                          for p in found[:MAX_ITEMS])
            lists[kind] = items, max(0, len(found) - MAX_ITEMS)
        base = self.urls.base
        return Flyer(profile=profile, page_url=self.identity.group.url or base + "/",
                     join_url=base + "/join", since=since, printed=printed,
                     needs=lists[Kind.NEED][0], more_needs=lists[Kind.NEED][1],
                     offers=lists[Kind.OFFER][0], more_offers=lists[Kind.OFFER][1])

    async def pdf(self, flyer: Flyer, *, paper: Paper, lang: str,
                  gettext: Callable[[str], str]) -> bytes:
        """The flyer as a PDF in ``lang`` (``gettext`` translates its own words), from
        memory when the same flyer was made before."""
        key = (paper.value, lang, flyer.digest)
        async with self._making:
            kept = self._pdfs.get(key)
            if kept is not None:
                self._pdfs.move_to_end(key)
                return kept
            from fediaid.flyer_pdf import render_pdf

            # In a thread: the event loop keeps serving while fpdf2 lays out the pages.
            made = await asyncio.to_thread(render_pdf, flyer, paper=paper, lang=lang,
                                           gettext=gettext)
            self.made += 1
            self._pdfs[key] = made
            while len(self._pdfs) > KEPT:
                self._pdfs.popitem(last=False)
            return made


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)

