"""Hashtags for apps: a tag's name check and its use over the last week (Mastodon's Tag
``history``), counted from the same statuses the hashtag timeline shows the asker."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from fediaid.domain.paging import Page
from fediaid.domain.visibility import Viewer

if TYPE_CHECKING:
    from fediaid.services.status_reading import StatusReading

HISTORY_DAYS = 7
TAG_MAX = 128  # status_tags.tag
# Mastodon's HASHTAG_NAME_RE: word characters (and the middle dot), at least one that is
# not a digit; an optional leading '#'.
_NAME = re.compile(r"#?([\w·]*[^\W\d][\w·]*)")
_PAGE = 40
_MAX_PAGES = 25  # at most 1000 statuses looked at: plenty for a week of one group's tag


def tag_name(raw: str) -> str | None:
    """The tag as written, without '#', or None when it cannot be a hashtag."""
    m = _NAME.fullmatch(raw.strip())
    if m is None or len(m.group(1)) > TAG_MAX:
        return None
    return m.group(1)


@dataclass(frozen=True)
class Day:
    start: datetime  # midnight UTC
    uses: int
    accounts: int


async def history(reading: StatusReading, viewer: Viewer, name: str, *,
                  now: datetime | None = None) -> list[Day]:
    """The last seven days, today first: how many statuses used the tag and by how many
    accounts, among the public statuses of its timeline that ``viewer`` may see."""
    now = now or datetime.now(UTC)
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=n) for n in range(HISTORY_DAYS)]
    since = days[-1]
    uses: dict[datetime, int] = defaultdict(int)
    accounts: dict[datetime, set[int]] = defaultdict(set)
    cursor = Page(limit=_PAGE)
    for _ in range(_MAX_PAGES):
        ids = await reading.public_ids(viewer, cursor, local=None, tag=name.lower())
        if not ids:
            break
        shown = await reading.visible(viewer, ids)
        for s in shown:
            created = s.created_at.astimezone(UTC)
            if since <= created:
                day = created.replace(hour=0, minute=0, second=0, microsecond=0)
                uses[day] += 1
                accounts[day].add(s.account_id)
        if not shown or all(s.created_at < since for s in shown) or len(ids) < _PAGE:
            break
        cursor = Page(max_id=min(ids), limit=_PAGE)
    return [Day(d, uses[d], len(accounts[d])) for d in days]
