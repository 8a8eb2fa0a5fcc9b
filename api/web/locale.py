"""Which language and time zone a page is shown in (docs/languages.md): the member's own
setting, else the switch at the foot of every page (``/language?to=es``: a cookie, then
back to the page; no JavaScript), else the browser's Accept-Language, else the group's
language. Times: the member's own time zone, else the group's."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.context import runtime
from api.web.session import _secure, current_user
from fediaid.i18n import Reader, language_name, languages, negotiate

LANGUAGE_COOKIE = "fediaid_language"
_READER = "fediaid.reader"


async def reader(request: Request) -> Reader:
    """The reader of this request's page (worked out once per request)."""
    found = request.scope.get(_READER)
    if isinstance(found, Reader):
        return found
    user = await current_user(request)
    group_language, group_zone = await runtime(request).group_settings.reading_defaults()
    language = negotiate(member=user.language if user else None,
                         chosen=request.cookies.get(LANGUAGE_COOKIE),
                         accept_language=request.headers.get("accept-language", ""),
                         group_default=group_language)
    made = Reader(language, (user.time_zone if user else None) or group_zone)
    request.scope[_READER] = made
    return made


def choices(current: str) -> list[dict[str, object]]:
    """The switch's links: each language in its own words."""
    return [{"code": code, "name": language_name(code), "current": code == current}
            for code in languages()]


async def switch(request: Request) -> Response:
    """``GET /language?to=es&next=/posts/3``: show pages in that language from now on (a
    cookie for a year), and go back. A logged-in member who chose a language in their
    settings gets that setting changed too (else it would keep winning)."""
    from api.web.render import safe_next

    code = request.query_params.get("to", "")
    back = safe_next(request.query_params.get("next"), "/")
    response = RedirectResponse(back, status_code=303)
    if code not in languages():
        return response
    user = await current_user(request)
    if user is not None and user.language and user.language != code:
        await runtime(request).accounts.set_reading(user, language=code,
                                                    time_zone=user.time_zone or "")
    response.set_cookie(LANGUAGE_COOKIE, code, max_age=365 * 24 * 3600, httponly=True,
                        secure=_secure(request), samesite="lax", path="/")
    return response

