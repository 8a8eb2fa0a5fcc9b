"""A member's own language and time zone (``/settings/language``): empty means the
browser's language (or the switch at the foot of the page) and the group's time zone.
docs/languages.md."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.forms import plain_message
from api.web.locale import LANGUAGE_COOKIE
from api.web.render import form_handler, redirect, render
from api.web.session import _secure, check_csrf, require_user
from fediaid.errors import Invalid
from fediaid.i18n import N_, language_name, languages, zone_names


@form_handler
async def settings_page(request: Request) -> Response:
    user = await require_user(request)
    rt = runtime(request)
    values = {"language": user.language or "", "time_zone": user.time_zone or ""}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form = await request.form()
        check_csrf(request, form.get("csrf"))
        values = {k: str(form.get(k) or "").strip() for k in values}
        try:
            await rt.accounts.set_reading(user, language=values["language"],
                                          time_zone=values["time_zone"])
        except Invalid as exc:
            errors = {exc.field or "_": plain_message(exc)}
            status = 400
        else:
            response = redirect("/settings/language", N_("Saved."))
            if values["language"]:  # the switch's cookie follows the setting
                response.set_cookie(LANGUAGE_COOKIE, values["language"],
                                    max_age=365 * 24 * 3600, httponly=True,
                                    secure=_secure(request), samesite="lax", path="/")
            return response
    group_language, group_zone = await rt.group_settings.reading_defaults()
    return await render(request, "settings_language.html", status=status, values=values,
                        errors=errors, group_zone=group_zone,
                        group_language=language_name(group_language), zones=zone_names(),
                        language_options=[(c, language_name(c)) for c in languages()])
