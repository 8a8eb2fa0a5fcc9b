"""Notifications for local accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime


class NotificationService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
