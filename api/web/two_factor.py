"""Two-factor login pages: the second step after the password or a login link
(``/login/code``), and setting it up, turning it off and new recovery codes
(``/settings/two-factor``). The rules are in ``fediaid/services/two_factor.py``."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.context import runtime
from api.errors import status_for
from api.web.locale import reader
from api.web.render import form_handler, redirect, render, safe_next
from api.web.session import (
    _secure,
    check_csrf,
    current_user,
    set_device_cookie,
    set_session_cookie,
)
from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, RateLimited, Unauthenticated
from fediaid.i18n import N_
from fediaid.services.two_factor import QR_TITLE

CHALLENGE_COOKIE = "fediaid_2fa"


async def after_first_step(request: Request, user: User, after: str) -> Response:
    """The password (or a login link) was right: a session, or for an account with
    two-factor login, the page that asks for a code (no session yet)."""
    rt = runtime(request)
    if await rt.two_factor.enabled(user):
        response = RedirectResponse("/login/code?next=" + quote(after, safe=""),
                                    status_code=303)
        response.set_cookie(CHALLENGE_COOKIE, rt.two_factor.challenge(user), max_age=600,
                            httponly=True, secure=_secure(request), samesite="lax",
                            path="/login")
        return response
    response = RedirectResponse(after, status_code=303)
    set_session_cookie(request, response, await rt.accounts.start_session(user))
    await set_device_cookie(request, response, user)
    return response


async def login_code(request: Request) -> Response:
    rt = runtime(request)
    user = await rt.two_factor.challenged(request.cookies.get(CHALLENGE_COOKIE))
    if request.method == "GET":
        if user is None:
            return redirect("/login", N_("Please log in again."))
        return await render(request, "login_code.html",
                            next=safe_next(request.query_params.get("next"), "/"))
    form = await request.form()
    after = safe_next(form.get("next"))
    try:
        check_csrf(request, form.get("csrf"))
        if user is None:
            raise Unauthenticated(N_("This step has expired. Please log in again."))
        await rt.two_factor.verify(user, str(form.get("code", "")))
    except (Forbidden, Unauthenticated, RateLimited) as exc:
        page = await render(request, "login_code.html", status=status_for(exc), next=after,
                            flash=exc.public, flash_error=True)
        if isinstance(exc, RateLimited) and exc.retry_after:
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    response = RedirectResponse(after, status_code=303)
    set_session_cookie(request, response, await rt.accounts.start_session(user))
    await set_device_cookie(request, response, user)
    response.delete_cookie(CHALLENGE_COOKIE, path="/login")
    return response


@form_handler
async def settings(request: Request) -> Response:
    """Not behind ``require_user``: a coordinator the group requires two-factor login of
    is sent here, and must be able to set it up."""
    user = await current_user(request)
    if user is None:
        raise Unauthenticated(N_("Please log in first."))
    rt = runtime(request)
    if request.method == "GET":
        return await _page(request, user)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    action = form.get("action")
    code = str(form.get("code", ""))
    try:
        if action == "begin":
            await rt.two_factor.begin(user)
            return redirect("/settings/two-factor")
        if action == "confirm":
            codes = await rt.two_factor.confirm(user, code)
            return await _page(request, user, codes=codes,
                               flash=N_("Two-factor login is on."))
        if action == "recovery":
            codes = await rt.two_factor.new_recovery_codes(user, code)
            return await _page(request, user, codes=codes,
                               flash=N_("New recovery codes made; the old ones no longer "
                                        "work."))
        if action == "disable":
            await rt.two_factor.disable(user, code)
            return redirect("/settings/two-factor", N_("Two-factor login is off."))
        if action == "require":
            on = form.get("required") == "1"
            await rt.two_factor.set_required(user, on)
            return redirect("/settings/two-factor",
                            N_("Coordinators must now use two-factor login.") if on else
                            N_("Two-factor login is now up to each coordinator."))
    except (Unauthenticated, Conflict, RateLimited) as exc:
        page = await _page(request, user, status=status_for(exc), flash=exc.public,
                           flash_error=True)
        if isinstance(exc, RateLimited) and exc.retry_after:
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    return redirect("/settings/two-factor")


async def _page(request: Request, user: User, *, status: int = 200, **ctx: object
                ) -> Response:
    rt = runtime(request)
    enabled = await rt.two_factor.enabled(user)
    pending = None if enabled else await rt.two_factor.pending(user)
    t = await reader(request)
    return await render(
        request, "two_factor.html", status=status, enabled=enabled, pending=pending,
        qr=pending.qr(t(QR_TITLE)) if pending else "",
        codes_left=await rt.two_factor.codes_left(user) if enabled else 0,
        required=await rt.two_factor.is_required(), **ctx)
