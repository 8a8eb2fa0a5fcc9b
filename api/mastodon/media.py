"""Mastodon client API: media uploads (``/api/v1/media``, ``/api/v2/media``) and the files
themselves (``/media/<name>``).

Images only (JPEG, PNG, GIF, WebP), cleaned before storage (fediaid/services/images.py: EXIF,
GPS, XMP and ICC are gone, orientation applied). Processing is synchronous, so both v1 and v2
answer 200 with the final ``url`` (Mastodon answers 200 too when processing is done).
Errors: a body above the size limit is 413 (refused before it is parsed; nothing stored),
a file that is not a supported image 422, a missing file 422.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from api.context import runtime
from api.ids import path_id
from api.mastodon.common import cors, params, token_user
from api.responses import FastJSON
from fediaid.errors import TooLarge, Unprocessable

# Room for the multipart framing and the small text fields around the file.
FORM_OVERHEAD = 64 * 1024
SCOPE = "write:media"


def _media_id(request: Request) -> int:
    return path_id(request)


async def read_form(request: Request, max_bytes: int, *, files: tuple[str, ...] = ("file",),
                    max_fields: int = 20) -> tuple[dict[str, UploadFile], dict[str, str]]:
    """The uploaded ``files`` (by field name) and the text fields (query string included),
    reading at most the size limit of each file (plus the framing) of the body: a larger
    upload is refused without being stored anywhere. A body that is not
    ``multipart/form-data`` gives no files."""
    limit = max_bytes * len(files) + FORM_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"File is too large: at most {max_bytes // (1024 * 1024)} MiB "
                       f"({max_bytes} bytes) are accepted", field=files[0])
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"File is too large: at most {max_bytes // (1024 * 1024)} MiB "
                           f"({max_bytes} bytes) are accepted", field=files[0])
    fields: dict[str, str] = {k: v for k, v in request.query_params.items()}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        return {}, fields
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": bytes(body), "more_body": False}

    replayed = Request(request.scope, replay)
    form = await replayed.form(max_files=len(files), max_fields=max_fields)
    uploads: dict[str, UploadFile] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key in files:
                uploads[key] = value
        else:
            fields[key] = value
    return uploads, fields


@cors
async def create(request: Request) -> Response:
    user = await token_user(request, SCOPE)
    rt = runtime(request)
    uploads, fields = await read_form(request, rt.settings.media_max_bytes)
    upload = uploads.get("file")
    if upload is None:
        raise Unprocessable("Validation failed: File can't be blank", field="file")
    data = await upload.read()
    await upload.close()
    entity = await rt.media.upload(user, data, description=fields.get("description"),
                                   focus=fields.get("focus"))
    return FastJSON(entity)


@cors
async def one(request: Request) -> Response:
    """GET, PUT (description, focus) and DELETE of one's own upload."""
    user = await token_user(request, SCOPE)
    media = runtime(request).media
    media_id = _media_id(request)
    if request.method == "GET":
        return FastJSON(await media.get(user, media_id))
    if request.method == "DELETE":
        await media.delete(user, media_id)
        return FastJSON({})
    p = await params(request)
    description = p.get("description")
    return FastJSON(await media.update(
        user, media_id, description=None if description is None else str(description),
        focus=None if p.get("focus") is None else str(p["focus"]),
        set_description="description" in p))


async def media_file(request: Request) -> Response:
    """A stored upload: immutable (its name changes with its content), never sniffed,
    never run as a document."""
    path, content_type = runtime(request).media.file(request.path_params["name"])
    return FileResponse(path, media_type=content_type, headers={
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Access-Control-Allow-Origin": "*",
    })


ROUTES: list[BaseRoute] = [
    Route("/api/v1/media", create, methods=["POST", "OPTIONS"]),
    Route("/api/v2/media", create, methods=["POST", "OPTIONS"]),
    Route("/api/v1/media/{id}", one, methods=["GET", "PUT", "DELETE", "OPTIONS"]),
    Route("/media/{name}", media_file, methods=["GET"]),
]
