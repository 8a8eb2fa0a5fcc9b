"""Media attachments: uploads (images only, EXIF and GPS stripped), remote attachments."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime


class MediaService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
