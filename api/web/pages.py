"""The instance's pages: profiles, login, password, coordination (offers and needs are in
``api.web.posts``, messages in ``api.web.conversations``, the group's settings in
``api.web.coordination``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from activitypub.vocab import accepts_activitypub
from api.context import runtime
from api.errors import status_for
from api.web.posts import home
from api.web.render import form_handler, redirect, render, safe_next
from api.web.session import (
    COOKIE,
    DEVICE_COOKIE,
    check_csrf,
    require_coordinator,
    require_user,
    set_device_cookie,
)
from api.web.two_factor import after_first_step
from fediaid.domain.actors import ActorType
from fediaid.domain.follows import FollowState
from fediaid.domain.queue import ItemState
from fediaid.errors import FediaidError, Forbidden, Invalid, RateLimited, Unauthenticated
from fediaid.i18n import N_

# What the coordinators' overview says about the messages sent to other servers, by state
# (fediaid/domain/queue.py), in the order shown.
SENDING_WORDS = (
    (ItemState.PENDING, N_("Waiting to be sent, or trying again")),
    (ItemState.HELD, N_("Held: that server has not answered for a while")),
    (ItemState.DONE, N_("Delivered")),
    (ItemState.FAILED, N_("Given up (the server refused them, or never answered)")),
    (ItemState.CANCELLED, N_("Not sent: the post was deleted first")),
)


async def profile(request: Request) -> Response:
    rt = runtime(request)
    name = request.path_params["name"]
    actor = await rt.discovery.local_actor(name)
    if actor.type is ActorType.APPLICATION:
        return RedirectResponse("/", status_code=303)
    if accepts_activitypub(request.headers.get("accept")):
        from api.activitypub.actors import actor_json

        return await actor_json(request, name, actor.type)  # secure mode: stripped
    if actor.type is ActorType.GROUP:
        return await home(request)
    from api.web.session import current_user

    user = await current_user(request)
    # Block and Mute buttons (api/web/blocks.py) say what is in place now.
    flags = (None if user is None or user.actor_id == actor.id
             else (await rt.blocks.flags(user, [actor.id]))[actor.id])
    return await render(request, "profile.html", actor=actor, flags=flags)


async def login_link(request: Request) -> Response:
    rt = runtime(request)
    user = await rt.accounts.use_login_link(request.path_params["secret"])
    # An account with two-factor login is asked for a code after the link too.
    return await after_first_step(request, user, "/settings/password?welcome=1")


async def login_form(request: Request) -> Response:
    if request.method == "GET":
        return await render(request, "login.html",
                            next=safe_next(request.query_params.get("next"), ""))
    form = await request.form()
    username = str(form.get("username", "")).strip().lower()
    after = safe_next(form.get("next"))
    try:
        check_csrf(request, form.get("csrf"))
        user = await runtime(request).accounts.check_password(
            username, str(form.get("password", "")),
            client=request.client.host if request.client else None,
            device=request.cookies.get(DEVICE_COOKIE))
    except (Forbidden, Unauthenticated, RateLimited) as exc:
        # The form again, with a fresh token (a refused token's page has expired).
        page = await render(request, "login.html", status=status_for(exc), username=username,
                            next=after if after != "/" else "",
                            flash=exc.public, flash_error=True)
        if isinstance(exc, RateLimited) and exc.retry_after:
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    return await after_first_step(request, user, after)


@form_handler
async def logout(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    session = request.cookies.get(COOKIE)
    if session:
        await runtime(request).accounts.logout(session)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@form_handler
async def password(request: Request) -> Response:
    user = await require_user(request)
    welcome = request.query_params.get("welcome") == "1"
    if request.method == "GET":
        return await render(request, "password.html", welcome=welcome)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    try:
        await runtime(request).accounts.set_password(user, str(form.get("password", "")),
                                                     keep_session=request.cookies.get(COOKIE))
    except Invalid as exc:
        return await render(request, "password.html", status=400, welcome=welcome,
                            flash=exc.public, flash_error=True)
    response = redirect("/", N_("Password saved."))
    # The new password voided every device cookie (login_limits); this browser, which kept
    # its session, gets a new one.
    await set_device_cookie(request, response, user)
    return response


@form_handler
async def admin(request: Request) -> Response:
    user = await require_coordinator(request)
    rt = runtime(request)
    group = rt.identity.group
    return await render(
        request, "admin.html", held=len(await rt.group_settings.held_posts(user)),
        pending=await rt.follows.list(group, "followers", state=FollowState.PENDING),
        following=await rt.follows.list(group, "following"),
        following_pending=await rt.follows.list(group, "following", state=FollowState.PENDING),
        sending=_sending((await rt.status.queues())["deliveries"]),
        followers=await rt.status.follower_count(),
        alerts=await rt.alerts.count_open(user),
    )


def _sending(counts: dict[str, int]) -> list[tuple[str, int]]:
    return [(words, counts[state.value]) for state, words in SENDING_WORDS
            if counts.get(state.value)]


@form_handler
async def admin_follow(request: Request) -> Response:
    await require_coordinator(request)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    rt = runtime(request)
    handle = str(form.get("handle", "")).strip()
    try:
        state = await rt.follows.follow(rt.identity.group, handle)
    except FediaidError as exc:
        return redirect("/admin", exc.public)
    if state is FollowState.PENDING:
        return redirect("/admin", N_("Follow request sent to {handle}.", handle=handle))
    return redirect("/admin", N_("Already following {handle}.", handle=handle))


@form_handler
async def admin_followers(request: Request) -> Response:
    user = await require_coordinator(request)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    rt = runtime(request)
    accept = form.get("decision") == "accept"
    await rt.follows.decide_follower(rt.identity.group, str(form.get("actor", "")),
                                     accept=accept, by=user)
    return redirect("/admin", N_("Accepted.") if accept else N_("Declined."))
