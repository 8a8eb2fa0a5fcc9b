"""E-mail pages: a member's address and choices (``/settings/email``, confirmed by a link),
the coordinators' SMTP settings with a test message (``/admin/email``), a login link by
e-mail (``/login/email``, the same answer whether or not the name exists) and the one-click
unsubscribe (``/email/unsubscribe/...``: RFC 8058, a POST without login or CSRF token; the
signed link is the proof, and all it can do is turn one kind of e-mail off).

The rules are in ``fediaid/services/email*.py``; the address is shown only to its member.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.errors import status_for
from api.web.forms import plain_message
from api.web.locale import reader
from api.web.render import form_handler, redirect, render
from api.web.session import check_csrf, current_user, require_permission, require_user
from fediaid.domain.email import TLS_WORDS, Choices, Kind, Period, TlsMode, parse_slugs
from fediaid.domain.ids import parse_id
from fediaid.domain.roles import Permission
from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from fediaid.i18n import N_, language_name, languages

KIND_WORDS = {Kind.ANSWERS: N_("answers to your offers and needs"),
              Kind.MESSAGES: N_("messages in your exchanges"),
              Kind.DIGEST: N_("the digest of new offers and needs")}
ADMIN_FIELDS = ("host", "port", "tls", "username", "sender")


# -- the member's page ----------------------------------------------------------------------
@form_handler
async def settings(request: Request) -> Response:
    user = await require_user(request)
    rt = runtime(request)
    if request.method == "GET":
        return await _member_page(request, user)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    action = form.get("action")
    try:
        if action == "address":
            await rt.email.add_address(user, str(form.get("address", "")),
                                       language=(await reader(request)).language)
            return redirect("/settings/email", N_(
                "We sent a confirmation link to that address. Open it to start getting "
                "e-mails there."))
        if action == "choices":
            names = await rt.group_settings.categories()
            areas = await rt.group_settings.areas()
            try:
                digest = Period(str(form.get("digest", "off")))
            except ValueError:
                raise Invalid(N_("Choose no digest, daily or weekly."), field="digest") from None
            choices = Choices(
                answers=form.get("answers") == "1", messages=form.get("messages") == "1",
                digest=digest,
                categories=parse_slugs([str(v) for v in form.getlist("category")],
                                       {s for s, _ in names}),
                areas=parse_slugs([str(v) for v in form.getlist("area")],
                                  {s for s, _ in areas}))
            await rt.email.save_choices(user, choices,
                                        language=str(form.get("language", "")) or None)
            return redirect("/settings/email", N_("Saved."))
        if action == "remove":
            await rt.email.remove(user)
            return redirect("/settings/email", N_("Your e-mail address is removed. We keep "
                                                  "no copy of it."))
    except Invalid as exc:
        field = exc.field if exc.field in ("address", "digest") else "_"
        return await _member_page(request, user, status=400, values=dict(form),
                                  errors={field: plain_message(exc)})
    except (Conflict, RateLimited) as exc:
        page = await _member_page(request, user, status=status_for(exc),
                                  errors={"_": exc.public})
        if isinstance(exc, RateLimited) and exc.retry_after:
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    return redirect("/settings/email")


async def _member_page(request: Request, user: User, *, status: int = 200,
                       values: Mapping[str, object] | None = None,
                       errors: Mapping[str, str] | None = None) -> Response:
    rt = runtime(request)
    mine = await rt.email.mine(user)
    return await render(
        request, "settings_email.html", status=status, mine=mine,
        choices=mine.choices if mine else Choices(),
        configured=await rt.email_settings.configured(),
        categories=await rt.group_settings.categories(), areas=await rt.group_settings.areas(),
        email_languages=[(code, language_name(code)) for code in languages()],
        email_language=mine.language if mine else (await reader(request)).language,
        values=values or {}, errors=errors or {})


async def confirm(request: Request) -> Response:
    rt = runtime(request)
    await rt.email.confirm(request.path_params["secret"])
    user = await current_user(request)
    words = N_("Your e-mail address is confirmed. Choose below what you want to get.")
    if user is None:
        return await render(request, "email_done.html", settings_link=True,
                            message=(await reader(request))(words))
    return redirect("/settings/email", words)


# -- one-click unsubscribe (RFC 8058) ----------------------------------------------------------
@form_handler
async def unsubscribe(request: Request) -> Response:
    rt = runtime(request)
    uid = parse_id(request.path_params["uid"])
    if uid is None:
        raise NotFound(N_("There is no such page."))
    kind_value, token = request.path_params["kind"], request.path_params["token"]
    kind = rt.email.check_unsubscribe(uid, kind_value, token)
    t = await reader(request)
    words = t(KIND_WORDS[kind])
    if request.method == "GET":
        # A page with one button: link checkers that open links must not unsubscribe.
        return await render(request, "email_unsubscribe.html", what=words,
                            action=request.url.path)
    await rt.email.unsubscribe(uid, kind_value, token)
    return await render(request, "email_done.html", settings_link=True, message=t(N_(
        "Done: no more e-mails with {what}. You can turn them on again on your e-mail "
        "settings page.", what=words)))


# -- a login link by e-mail ------------------------------------------------------------------
async def login_link(request: Request) -> Response:
    rt = runtime(request)
    if request.method == "GET":
        return await render(request, "login_email.html", configured=await
                            rt.email_settings.configured())
    form = await request.form()
    try:
        check_csrf(request, form.get("csrf"))
        words = await rt.email.request_login_link(
            str(form.get("who", "")), client=request.client.host if request.client else None)
    except (Forbidden, RateLimited, Invalid) as exc:
        page = await render(request, "login_email.html", status=status_for(exc),
                            configured=True, flash=exc.public, flash_error=True)
        if isinstance(exc, RateLimited) and exc.retry_after:
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    return await render(request, "login_email.html", configured=True, sent=True, flash=words)


# -- the coordinators' page -----------------------------------------------------------------
@form_handler
async def admin(request: Request) -> Response:
    user = await require_permission(request, Permission.GROUP_SETTINGS)
    rt = runtime(request)
    if request.method == "GET":
        return await _admin_page(request, user)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    action = form.get("action")
    values = {f: str(form.get(f) or "") for f in ADMIN_FIELDS}
    try:
        if action == "save":
            await rt.email_settings.save(
                user, **values, password=str(form.get("password") or "") or None,
                clear_password=form.get("clear_password") == "1")
            return redirect("/admin/email", N_("Saved. Send a test message to check them."))
        if action == "test":
            await rt.email_settings.send_test(user, str(form.get("to", "")))
            return redirect("/admin/email", N_("The test message is on its way. If it does "
                                               "not arrive in a few minutes, see the queue "
                                               "below."))
        if action == "off":
            await rt.email_settings.turn_off(user)
            return redirect("/admin/email", N_("E-mail is off. Members' addresses are kept."))
    except Invalid as exc:
        field = exc.field if exc.field in (*ADMIN_FIELDS, "password", "to") else "_"
        return await _admin_page(request, user, status=400, values=values,
                                 to=str(form.get("to", "")),
                                 errors={field: plain_message(exc)})
    except Conflict as exc:
        return await _admin_page(request, user, status=409, values=values,
                                 errors={"_": exc.public})
    return redirect("/admin/email")


async def _admin_page(request: Request, user: User, *, status: int = 200,
                      values: Mapping[str, str] | None = None, to: str = "",
                      errors: Mapping[str, str] | None = None) -> Response:
    rt = runtime(request)
    smtp = await rt.email_settings.current()
    shown = values or {"host": smtp.host, "port": str(smtp.port) if smtp.host else "",
                       "tls": smtp.tls.value, "username": smtp.username,
                       "sender": smtp.sender}
    mine = await rt.email.mine(user)
    return await render(
        request, "admin_email.html", status=status, values=shown, smtp=smtp,
        tls_choices=[(m.value, TLS_WORDS[m]) for m in (TlsMode.STARTTLS, TlsMode.TLS,
                                                       TlsMode.NONE)],
        to=to or (mine.address if mine and mine.address else ""),
        queue=await rt.email.queue_counts(), last_error=await rt.email.last_error(),
        errors=errors or {})


ROUTES = (
    ("/settings/email", settings, ["GET", "POST"]),
    ("/settings/email/confirm/{secret}", confirm, ["GET"]),
    ("/email/unsubscribe/{uid}/{kind}/{token}", unsubscribe, ["GET", "POST"]),
    ("/login/email", login_link, ["GET", "POST"]),
    ("/admin/email", admin, ["GET", "POST"]),
)
