"""Joining the group on the web: "Ask to join" (``/join``, anyone), an invitation link
(``/join/<secret>``: pick a name, then a password or a login link to keep), and the
coordinators' invitation links (``/admin/invitations``: make, take back). Requests to join
are decided on the members page (``api/web/audit.py``). Service:
fediaid/services/joining.py.

A new secret link (an invitation, a login link) is shown once, in the answer to the POST
that made it: never in a redirect's address, where it would stay in the browser's history
and in logs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.coordination import coordinator_page
from api.web.forms import plain_message
from api.web.locale import reader
from api.web.render import form_handler, redirect, render, when
from api.web.session import check_csrf, set_session_cookie
from fediaid.domain.ids import parse_id
from fediaid.domain.users import User
from fediaid.errors import Conflict, Invalid
from fediaid.i18n import N_
from fediaid.services.accounts import MIN_PASSWORD

_STATE_WORDS = {"taken back": N_("taken back"), "used up": N_("used up"),
                "expired": N_("expired"), "open": N_("open")}


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


# -- asking to join -----------------------------------------------------------------------

@form_handler
async def ask(request: Request) -> Response:
    if request.method == "GET":
        return await render(request, "join_ask.html", values={}, errors={})
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    values = {k: str(form.get(k) or "") for k in ("name", "message", "contact")}
    try:
        await runtime(request).joining.ask(**values, client=_client(request))
    except Invalid as exc:
        return await render(request, "join_ask.html", status=400, values=values,
                            errors={exc.field if exc.field in values else "_":
                                    plain_message(exc)})
    return await render(request, "join_ask.html", sent=True, values={}, errors={})


# -- an invitation link -------------------------------------------------------------------

@form_handler
async def invitation(request: Request) -> Response:
    rt = runtime(request)
    secret = request.path_params["secret"]
    if request.method == "GET":
        found = await rt.joining.invitation(secret)
        return await render(request, "join.html", note=found.note, values={}, errors={},
                            min_password=MIN_PASSWORD)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    values = {"username": str(form.get("username") or "").strip().lower(),
              "how": "link" if form.get("how") == "link" else "password"}
    password = str(form.get("password") or "") if values["how"] == "password" else None
    try:
        joined = await rt.joining.join(secret, values["username"], password=password,
                                       client=_client(request))
    except (Invalid, Conflict) as exc:
        field = exc.field if isinstance(exc, Invalid) and exc.field in (
            "username", "password") else "username"
        found = await rt.joining.invitation(secret)
        return await render(request, "join.html", status=400, note=found.note,
                            values=values, errors={field: plain_message(exc)},
                            min_password=MIN_PASSWORD)
    # Logged in right away (a new account has no second factor yet).
    request.scope["user"] = joined.user
    if joined.login_link is None:
        response: Response = redirect("/", N_("Welcome, {name}! You are a member of the group "
                                              "now.", name=joined.user.username))
    else:
        response = await render(request, "link_once.html", title=N_("Welcome!"),
                                who=joined.user.username, link=joined.login_link,
                                joined=True)
    set_session_cookie(request, response, await rt.accounts.start_session(joined.user))
    return response


# -- coordinators: invitation links -------------------------------------------------------

@coordinator_page
async def invitations(request: Request, user: User) -> Response:
    rt = runtime(request)
    if request.method == "POST":
        form = await request.form()
        if form.get("what") == "revoke":
            inv_id = parse_id(str(form.get("invitation") or ""))
            if inv_id is None:
                raise Invalid(N_("No such invitation."), field="invitation")
            await rt.joining.revoke(user, inv_id)
            return redirect("/admin/invitations", N_("Taken back: the link no longer works."))
        values = {k: str(form.get(k) or "") for k in ("uses", "days", "note")}
        try:
            made, link = await rt.joining.invite(user, **values)
        except Invalid as exc:
            return await _invitations_page(request, user, status=400, values=values,
                                           errors={exc.field or "_": plain_message(exc)})
        return await _invitations_page(request, user, new_link=link, new_uses=made.max_uses)
    return await _invitations_page(request, user)


async def _invitations_page(request: Request, user: User, *, status: int = 200,
                            values: dict[str, str] | None = None,
                            errors: dict[str, str] | None = None, new_link: str = "",
                            new_uses: int = 0) -> Response:
    now = datetime.now(UTC)
    t = await reader(request)
    items: list[dict[str, Any]] = []
    for inv in await runtime(request).joining.invitations(user):
        state = ("taken back" if inv.revoked_at else "used up" if inv.uses_left <= 0
                 else "expired" if now >= inv.expires_at else "open")
        items.append({"id": inv.id, "note": inv.note or "", "by": inv.creator_name or "",
                      "used": inv.max_uses - inv.uses_left, "max": inv.max_uses,
                      "until": when(inv.expires_at, t), "state": state,
                      "state_word": t(_STATE_WORDS[state])})
    return await render(request, "admin_invitations.html", status=status, items=items,
                        values=values or {"uses": "1", "days": "7"}, errors=errors or {},
                        new_link=new_link, new_uses=new_uses)
