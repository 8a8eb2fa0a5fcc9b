"""Media attachments: uploads (images only, EXIF and GPS stripped), remote attachments.

Uploads are processed synchronously (``images.clean_image`` in a worker thread, at most two
at a time per process): when the upload request answers, the file is stored and its URL is
final. Files live under ``DIR/media`` with random names (never the uploader's file name):
``<22 random characters>.<ext>`` for the image and ``<same>.small.<ext>`` for its preview.
They are served at ``/media/<name>``; the names are unguessable capabilities, as on Mastodon
(remote servers fetch a status's images without signing).

Entities follow Mastodon's MediaAttachment (``REST::MediaAttachmentSerializer``), with
``meta.focus`` when a focal point was given (it federates as Mastodon's ``focalPoint``).

Profile images (avatars and headers, set from apps) are cleaned the same way, scaled down to
fit Mastodon's sizes (400x400 and 1500x500, aspect kept) and stored beside the uploads under
random names; they have no attachment row: the actor's ``icon_url``/``header_url`` is what
keeps them (``sweep`` leaves alone every file a local actor points to).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.domain.users import User
from fediaid.errors import NotFound, TooLarge, Unprocessable
from fediaid.federation.inbound import RemoteAttachment
from fediaid.services import images
from fediaid.services.core import Core, Service
from fediaid.storage import media as media_repo
from fediaid.storage.media import Media
from fediaid.storage.types import utcnow

MAX_ATTACHMENTS = 4
MAX_DESCRIPTION = 1500  # Mastodon's MediaAttachment::MAX_DESCRIPTION_LENGTH
NAME = re.compile(r"^[A-Za-z0-9_-]{22}(?:\.small)?\.(jpg|png|webp)$")
CONTENT_TYPE = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
# Mastodon's avatar and header sizes: larger images are scaled down to fit, aspect kept.
PROFILE_IMAGE_BOX = {"avatar": (400, 400), "header": (1500, 500)}
REMOTE_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp",
                                "image/avif", "image/heic", "image/heif"})


def small_name(file_name: str) -> str:
    stem, _, ext = file_name.rpartition(".")
    return f"{stem}.small.{ext}"


def parse_focus(value: str | None) -> tuple[float, float] | None:
    """Mastodon's ``focus`` parameter: ``"x,y"`` with both in [-1, 1]."""
    if value is None or value == "":
        return None
    try:
        x, y = (float(part) for part in str(value).split(","))
    except ValueError:
        raise Unprocessable("Validation failed: focus must be two numbers, \"x,y\"",
                            field="focus") from None
    if not (-1 <= x <= 1 and -1 <= y <= 1):
        raise Unprocessable("Validation failed: focus values must be between -1.0 and 1.0",
                            field="focus")
    return x, y


def _description(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    if len(value) > MAX_DESCRIPTION:
        raise Unprocessable(f"Validation failed: Description is too long (maximum is "
                            f"{MAX_DESCRIPTION} characters)", field="description")
    return value or None


def _dims(width: int | None, height: int | None) -> dict[str, Any] | None:
    if not width or not height:
        return None
    return {"width": width, "height": height, "size": f"{width}x{height}",
            "aspect": width / height}


class MediaService(Service):
    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self._processing = asyncio.Semaphore(2)

    # -- files -----------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        return self.settings.media_dir

    def url(self, file_name: str) -> str:
        return f"{self.settings.base_url}/media/{file_name}"

    def file(self, name: str) -> tuple[Path, str]:
        """The stored file behind ``/media/<name>`` and its content type."""
        m = NAME.match(name)
        if m is None:
            raise NotFound("Not found")
        path = self.directory / name
        if not path.is_file():
            raise NotFound("Not found")
        return path, CONTENT_TYPE[m.group(1)]

    def _write(self, name: str, data: bytes) -> None:
        """Write a media file, private to the server's user (0600 in a 0700 directory:
        uploads include members' unlisted and direct attachments)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.directory / name)

    def discard(self, file_name: str | None) -> None:
        """Remove an upload's file and its preview from disk (a deleted account's)."""
        self._unlink(file_name)

    def _unlink(self, file_name: str | None) -> None:
        if not file_name:
            return
        for name in (file_name, small_name(file_name)):
            try:
                (self.directory / name).unlink()
            except FileNotFoundError:
                pass

    # -- entities --------------------------------------------------------------------------
    def entity(self, m: Media) -> dict[str, Any]:
        """Mastodon's MediaAttachment entity (a plain dict)."""
        meta: dict[str, Any] = {}
        original = _dims(m.width, m.height)
        if original:
            meta["original"] = original
        url: str | None
        preview: str | None
        remote: str | None
        if m.file_name:
            url = self.url(m.file_name)
            if original:
                w, h = images.fit((m.width or 0, m.height or 0), images.SMALL_PIXELS)
                meta["small"] = _dims(w, h)
            preview = self.url(small_name(m.file_name))
            remote = None
        else:
            url = preview = remote = m.remote_url
            if original:
                meta["small"] = dict(original)
        return {
            "id": str(m.id), "type": m.type, "url": url, "preview_url": preview,
            "remote_url": remote, "preview_remote_url": None, "text_url": None,
            "meta": self._with_focus(meta, m), "description": m.description, "blurhash": m.blurhash,
        }

    @staticmethod
    def _with_focus(meta: dict[str, Any], m: Media) -> dict[str, Any]:
        if m.focus is not None:
            meta["focus"] = {"x": m.focus[0], "y": m.focus[1]}
        return meta

    # -- uploads ---------------------------------------------------------------------------
    async def upload(self, user: User, data: bytes, *, description: str | None = None,
                     focus: str | None = None) -> dict[str, Any]:
        """Store an uploaded image (cleaned), unattached; its MediaAttachment entity."""
        text = _description(description)
        point = parse_focus(focus)
        s = self.settings
        async with self._processing:
            clean, small, blur = await asyncio.to_thread(
                self._process, data, s.media_max_bytes, s.media_max_pixels)
        name = f"{secrets.token_urlsafe(16)}.{clean.extension}"
        try:
            await asyncio.to_thread(self._write, small_name(name), small.data)
            await asyncio.to_thread(self._write, name, clean.data)
            async with self.db.write() as conn:
                media_id = await media_repo.add(
                    conn, account_id=user.actor_id, user_id=user.id,
                    content_type=clean.content_type, file_name=name, description=text,
                    width=clean.width, height=clean.height, size=clean.size, blurhash=blur,
                    focus=point)
                m = await media_repo.find(conn, media_id)
        except BaseException:
            self._unlink(name)
            raise
        assert m is not None
        return self.entity(m)

    @staticmethod
    def _process(data: bytes, max_bytes: int, max_pixels: int
                 ) -> tuple[images.CleanImage, images.CleanImage, str]:
        clean = images.clean_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
        small = images.small_version(clean)
        return clean, small, images.blurhash(small)

    async def _own(self, conn: AsyncConnection, user: User, media_id: int) -> Media:
        m = await media_repo.find(conn, media_id)
        if m is None or m.user_id != user.id:
            raise NotFound("Record not found")
        return m

    async def get(self, user: User, media_id: int) -> dict[str, Any]:
        """One's own upload that is not attached yet (as Mastodon: attached media is read
        through its status)."""
        async with self.db.read() as conn:
            m = await self._own(conn, user, media_id)
        if m.status_id is not None:
            raise NotFound("Record not found")
        return self.entity(m)

    async def update(self, user: User, media_id: int, *, description: str | None = None,
                     focus: str | None = None, set_description: bool = True
                     ) -> dict[str, Any]:
        """Change the description (when ``set_description``) or the focal point (when
        ``focus`` is given) of one's unattached upload."""
        text = _description(description)
        point = parse_focus(focus)
        async with self.db.write() as conn:
            m = await self._own(conn, user, media_id)
            if m.status_id is not None:
                raise NotFound("Record not found")
            if set_description:
                await media_repo.set_description(conn, media_id, text)
            if point is not None:
                await media_repo.set_focus(conn, media_id, point)
            m = await self._own(conn, user, media_id)
        return self.entity(m)

    async def delete(self, user: User, media_id: int) -> None:
        async with self.db.write() as conn:
            m = await self._own(conn, user, media_id)
            if m.status_id is not None:
                raise Unprocessable("Media attachment is currently used by a status")
            await media_repo.remove(conn, media_id)
        self._unlink(m.file_name)

    # -- for statuses ----------------------------------------------------------------------
    async def attach(self, conn: AsyncConnection, *, user_id: int, media_ids: Sequence[int],
                     status_id: int) -> None:
        """Attach one's unattached uploads to a new status, in the caller's transaction.
        Raises ``Unprocessable`` (nothing attached) unless every id is one's own,
        unattached upload, and there are at most four."""
        ids = list(dict.fromkeys(int(i) for i in media_ids))
        if not ids:
            return
        if len(ids) > MAX_ATTACHMENTS:
            raise Unprocessable(f"Validation failed: at most {MAX_ATTACHMENTS} media "
                                f"attachments are allowed", field="media_ids")
        found = await media_repo.find_many(conn, ids)
        for i in ids:
            m = found.get(i)
            if m is None or m.user_id != user_id:
                raise Unprocessable(f"Validation failed: media {i} was not found",
                                    field="media_ids")
            if m.status_id is not None:
                raise Unprocessable(f"Validation failed: media {i} is already attached to "
                                    f"a status", field="media_ids")
        if await media_repo.attach(conn, ids, status_id=status_id) != len(ids):
            raise Unprocessable("Validation failed: media was attached meanwhile",
                                field="media_ids")

    async def entities_for(self, status_ids: Sequence[int], *,
                           conn: AsyncConnection | None = None
                           ) -> dict[int, list[dict[str, Any]]]:
        """MediaAttachment entities of these statuses (read-only; visibility is the
        caller's business: only pass statuses the viewer may see). ``conn``: the caller's,
        to read in it."""
        if conn is None:
            async with self.db.read() as own:
                rows = await media_repo.for_statuses(own, status_ids)
        else:
            rows = await media_repo.for_statuses(conn, status_ids)
        out: dict[int, list[dict[str, Any]]] = {}
        for m in rows:
            assert m.status_id is not None
            out.setdefault(m.status_id, []).append(self.entity(m))
        return out

    async def add_remote(self, conn: AsyncConnection, *, account_id: int, status_id: int,
                         attachments: Sequence[RemoteAttachment]) -> int:
        """Record a remote note's image attachments (their URLs; not downloaded), in the
        caller's transaction: an image media type (``REMOTE_IMAGE_TYPES``), or none given
        and type ``Image``; the rest, and anything past the fourth, are skipped. Returns how
        many were stored."""
        stored = 0
        for a in attachments:
            if stored >= MAX_ATTACHMENTS:
                break
            if not (a.media_type in REMOTE_IMAGE_TYPES
                    or (not a.media_type and a.type == "Image")):
                continue
            await media_repo.add(
                conn, account_id=account_id, user_id=None, status_id=status_id,
                remote_url=a.url, content_type=a.media_type or "image/jpeg",
                description=a.description, width=a.width, height=a.height,
                blurhash=a.blurhash, focus=a.focus)
            stored += 1
        return stored

    # -- profile images --------------------------------------------------------------------
    async def store_profile_image(self, kind: str, data: bytes) -> str:
        """Clean an ``avatar`` or ``header`` (EXIF and GPS gone, as uploads), scale it down
        to fit ``PROFILE_IMAGE_BOX[kind]`` (aspect kept) and store it under a random name;
        its URL. The caller records the URL on the actor, or calls
        ``remove_profile_image`` if it does not. Errors name the image (``field`` too)."""
        box = PROFILE_IMAGE_BOX[kind]
        s = self.settings
        try:
            async with self._processing:
                image = await asyncio.to_thread(_profile_image, data, box, s.media_max_bytes,
                                                s.media_max_pixels)
        except (TooLarge, Unprocessable) as exc:
            detail = exc.public.removeprefix("Validation failed: ")
            raise type(exc)(f"Validation failed: {kind}: {detail}", field=kind,
                            internal=exc.internal) from exc
        name = f"{secrets.token_urlsafe(16)}.{image.extension}"
        try:
            await asyncio.to_thread(self._write, name, image.data)
        except BaseException:
            self._unlink(name)
            raise
        return self.url(name)

    def profile_file_name(self, url: str | None) -> str | None:
        """The file under DIR/media behind a profile image URL, if it is one of ours."""
        prefix = self.url("")
        if not url or not url.startswith(prefix):
            return None
        name = url[len(prefix):]
        return name if NAME.match(name) else None

    def remove_profile_image(self, url: str | None) -> None:
        """Delete the stored file of a profile image that is no longer used (nothing for
        the default image or someone else's URL)."""
        self._unlink(self.profile_file_name(url))

    # -- housekeeping ----------------------------------------------------------------------
    async def sweep(self, *, unattached_for: timedelta = timedelta(days=1),
                    stray_for: timedelta = timedelta(hours=1)) -> int:
        """Remove uploads never attached within ``unattached_for`` (as Mastodon does after a
        day), and files whose row is gone (a status deleted, a crash mid-upload) once older
        than ``stray_for``. Files that local actors use as avatar or header are kept.
        Returns the number of files removed."""
        removed = 0
        async with self.db.write() as conn:
            old = await media_repo.unattached_before(conn, utcnow() - unattached_for)
            for m in old:
                await media_repo.remove(conn, m.id)
        for m in old:
            self._unlink(m.file_name)
            removed += 1
        if not self.directory.is_dir():
            return removed
        async with self.db.read() as conn:
            known = await media_repo.file_names(conn)
            profile = await media_repo.profile_image_urls(conn)
        keep = known | {small_name(n) for n in known}
        keep |= {n for n in map(self.profile_file_name, profile) if n is not None}
        limit = utcnow().timestamp() - stray_for.total_seconds()
        for path in self.directory.iterdir():
            if path.name in keep or not path.is_file():
                continue
            if not (NAME.match(path.name) or path.name.endswith(".tmp")):
                continue
            try:
                if path.stat().st_mtime < limit:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed


def _profile_image(data: bytes, box: tuple[int, int], max_bytes: int, max_pixels: int
                   ) -> images.CleanImage:
    """The cleaned image scaled down to fit ``box``, aspect kept (never scaled up)."""
    # At most the box's area is ever kept: lets a large JPEG be decoded at a fraction.
    clean = images.clean_image(data, max_bytes=max_bytes, max_pixels=max_pixels,
                               max_output=box[0] * box[1])
    scale = min(1.0, box[0] / clean.width, box[1] / clean.height)
    if scale >= 1.0:
        return clean
    # ``small_version`` scales by area: the area of the fitted size gives the same scale.
    return images.small_version(
        clean, pixels=max(1, int(clean.width * clean.height * scale * scale)))
