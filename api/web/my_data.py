"""A member's own data as pages (no JavaScript): ``/account/data`` downloads everything
about oneself (one zip with JSON, CSV and media, or the JSON alone), ``/account/delete``
deletes one's account after a plain-words explanation and a confirmation (the name
retyped and the password, or a fresh login link for members without one).
Service: fediaid/services/member_data.py; the words members read: docs/privacy.md."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.render import form_handler, redirect, render
from api.web.session import COOKIE, DEVICE_COOKIE, check_csrf, require_user
from fediaid.errors import Conflict, Invalid, RateLimited, Unauthenticated
from fediaid.i18n import N_


def _download(data: bytes, name: str, media_type: str) -> Response:
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store"})


@form_handler
async def data_page(request: Request) -> Response:
    user = await require_user(request)
    return await render(request, "account_data.html", me=user)


@form_handler
async def data_download(request: Request) -> Response:
    """POST (with the form's CSRF token): the archive, or ``?format=json`` the JSON alone."""
    user = await require_user(request)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    rt = runtime(request)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    if form.get("format") == "json":
        doc = await rt.member_data.export(user)
        return _download(json.dumps(doc, indent=2, ensure_ascii=False).encode(),
                         f"{user.username}-{stamp}.json", "application/json")
    return _download(await rt.member_data.archive(user), f"{user.username}-{stamp}.zip",
                     "application/zip")


@form_handler
async def delete_page(request: Request) -> Response:
    user = await require_user(request)
    if request.method == "GET":
        return await render(request, "account_delete.html", me=user)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    rt = runtime(request)
    try:
        await rt.member_data.confirm(
            user, username=str(form.get("username") or ""),
            password=str(form.get("password") or ""), session=request.cookies.get(COOKIE),
            client=request.client.host if request.client else None,
            device=request.cookies.get(DEVICE_COOKIE))
        await rt.member_data.delete_account(user)
    except (Invalid, Unauthenticated, Conflict, RateLimited) as exc:
        return await render(request, "account_delete.html", status=400, me=user,
                            flash=exc.public, flash_error=True)
    response = redirect("/", N_("Your account is deleted. Thank you for helping your "
                                "neighbors."))
    response.delete_cookie(COOKIE, path="/")
    return response


ROUTES = [
    ("/account/data", data_page, ["GET"]),
    ("/account/data/download", data_download, ["POST"]),
    ("/account/delete", delete_page, ["GET", "POST"]),
]
