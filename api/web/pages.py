"""The instance's pages: home, profiles, login, password, coordination."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from activitypub.vocab import accepts_activitypub
from api.context import runtime
from api.responses import ActivityJSON
from api.web.session import (
    COOKIE,
    check_csrf,
    csrf_token,
    current_user,
    require_coordinator,
    require_user,
    set_session_cookie,
)
from fediaid.domain.actors import ActorType
from fediaid.domain.follows import FollowState
from fediaid.errors import FediaidError, Invalid, Unauthenticated

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(),
                   auto_reload=False)


async def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    rt = runtime(request)
    user = await current_user(request)
    context: dict[str, Any] = {
        "group_name": rt.settings.group_name, "domain": rt.settings.domain, "user": user,
        "csrf": csrf_token(request) if user else "", "flash": request.query_params.get("msg"),
    }
    context.update(ctx)
    html = _env.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status,
                        headers={"Cache-Control": "private, no-store"} if user else None)


async def home(request: Request) -> Response:
    rt = runtime(request)
    notes = []
    for n in await rt.notes.recent_group_notes():
        published = n["published"]
        notes.append({
            "content": n["content"],
            "published_iso": published.isoformat() if published else "",
            "published_text": published.strftime("%d %b %Y, %H:%M UTC") if published else "",
        })
    return await render(request, "home.html", group=rt.identity.group, notes=notes,
                        area=rt.settings.area)


async def profile(request: Request) -> Response:
    rt = runtime(request)
    name = request.path_params["name"]
    actor = await rt.discovery.local_actor(name)
    if actor.type is ActorType.APPLICATION:
        return RedirectResponse("/", status_code=303)
    if accepts_activitypub(request.headers.get("accept")):
        return ActivityJSON(await rt.discovery.actor_document(name, actor.type))
    if actor.type is ActorType.GROUP:
        return await home(request)
    return await render(request, "profile.html", actor=actor)


async def login_link(request: Request) -> Response:
    rt = runtime(request)
    _user, session = await rt.accounts.redeem_login_link(request.path_params["secret"])
    response = RedirectResponse("/settings/password?welcome=1", status_code=303)
    set_session_cookie(request, response, session)
    return response


async def login_form(request: Request) -> Response:
    if request.method == "GET":
        return await render(request, "login.html")
    form = await request.form()
    username = str(form.get("username", "")).strip().lower()
    try:
        _user, session = await runtime(request).accounts.login(
            username, str(form.get("password", "")))
    except Unauthenticated as exc:
        return await render(request, "login.html", status=401, username=username,
                            flash=exc.public, flash_error=True)
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(request, response, session)
    return response


async def logout(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    session = request.cookies.get(COOKIE)
    if session:
        await runtime(request).accounts.logout(session)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


async def password(request: Request) -> Response:
    user = await require_user(request)
    welcome = request.query_params.get("welcome") == "1"
    if request.method == "GET":
        return await render(request, "password.html", welcome=welcome)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    try:
        await runtime(request).accounts.set_password(user, str(form.get("password", "")))
    except Invalid as exc:
        return await render(request, "password.html", status=400, welcome=welcome,
                            flash=exc.public, flash_error=True)
    return RedirectResponse("/?msg=Password+saved.", status_code=303)


async def admin(request: Request) -> Response:
    await require_coordinator(request)
    rt = runtime(request)
    group = rt.identity.group
    return await render(
        request, "admin.html",
        pending=await rt.follows.list(group, "followers", state=FollowState.PENDING),
        following=await rt.follows.list(group, "following"),
        following_pending=await rt.follows.list(group, "following", state=FollowState.PENDING),
        deliveries=(await rt.status.queues())["deliveries"],
        followers=await rt.status.follower_count(),
    )


async def admin_follow(request: Request) -> Response:
    await require_coordinator(request)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    rt = runtime(request)
    handle = str(form.get("handle", "")).strip()
    try:
        state = await rt.follows.follow(rt.identity.group, handle)
    except FediaidError as exc:
        return RedirectResponse(f"/admin?msg={_q(exc.public)}", status_code=303)
    word = "Follow request sent" if state is FollowState.PENDING else "Already following"
    return RedirectResponse(f"/admin?msg={_q(word + ' to ' + handle)}.", status_code=303)


async def admin_followers(request: Request) -> Response:
    await require_coordinator(request)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    rt = runtime(request)
    accept = form.get("decision") == "accept"
    await rt.follows.decide_follower(rt.identity.group, str(form.get("actor", "")),
                                     accept=accept)
    return RedirectResponse(f"/admin?msg={'Accepted' if accept else 'Declined'}.",
                            status_code=303)


def _q(text: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(text)
