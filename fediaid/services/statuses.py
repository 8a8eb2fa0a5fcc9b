"""The client API's statuses: posting, reading, timelines, favourites, boosts, bookmarks."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime


class StatusService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
