"""Streaming events for the client API (SSE and WebSocket)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime


class StreamingHub:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
