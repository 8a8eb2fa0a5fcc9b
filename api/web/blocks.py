"""Blocks and mutes on the web pages: the Block and Mute buttons of a member's profile
(``POST /@name/block|unblock|mute|unmute``) and the "Blocked and muted" settings page
(``/settings/blocks``: who and which servers one blocked or muted, undo, block a server).
Every form carries the CSRF token. What they do: fediaid/services/blocks.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.render import form_handler, redirect, render
from api.web.session import check_csrf, require_user
from fediaid.domain.actors import ActorType
from fediaid.domain.paging import Page
from fediaid.errors import Invalid, NotFound
from fediaid.i18n import N_

_DONE = {"block": N_("Blocked. You will not see each other's posts."),
         "unblock": N_("Unblocked."),
         "mute": N_("Muted. Their posts are hidden from your lists; they are not told."),
         "unmute": N_("Unmuted.")}


async def _apply(request: Request, action: str, actor_id: int) -> None:
    rt = runtime(request)
    user = await require_user(request)
    if action == "block":
        await rt.blocks.block(user, actor_id)
    elif action == "unblock":
        await rt.blocks.unblock(user, actor_id)
    elif action == "mute":
        await rt.blocks.mute(user, actor_id)
    elif action == "unmute":
        await rt.blocks.unmute(user, actor_id)
    else:
        raise NotFound(N_("Not found."))


@form_handler
async def profile_action(request: Request) -> Response:
    action = request.path_params["action"]
    if action not in _DONE:
        raise NotFound(N_("Not found."))
    await require_user(request)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    actor = await runtime(request).discovery.local_actor(request.path_params["name"])
    if actor.type is ActorType.APPLICATION:
        raise NotFound(N_("No such account here."))
    await _apply(request, action, actor.id)
    return redirect(f"/@{actor.username}", _DONE[action])


@form_handler
async def settings(request: Request) -> Response:
    rt = runtime(request)
    user = await require_user(request)
    if request.method == "POST":
        form = await request.form()
        check_csrf(request, form.get("csrf"))
        action = str(form.get("action", ""))
        if action in ("block_domain", "unblock_domain"):
            domain = form.get("domain")
            if action == "block_domain":
                await rt.blocks.block_domain(user, domain)
                return redirect("/settings/blocks", N_("Server blocked, for you only."))
            await rt.blocks.unblock_domain(user, domain)
            return redirect("/settings/blocks", N_("Server unblocked."))
        raw = str(form.get("account", ""))
        if action not in ("unblock", "unmute") or not raw.isdigit() or len(raw) > 18:
            raise Invalid(N_("Choose an account and what to undo."), field="action")
        await _apply(request, action, int(raw))
        return redirect("/settings/blocks", _DONE[action])
    page = Page(limit=200)
    blocked = [a for _, a in await rt.blocks.blocks(user, page)]
    muted = await rt.blocks.mutes(user, page)
    actors = {a.id: a for a in await rt.client_accounts.actors(
        [*blocked, *[m for _, m, _ in muted]])}
    return await render(
        request, "settings_blocks.html",
        blocked=[actors[i] for i in blocked if i in actors],
        muted=[(actors[i], end) for _, i, end in muted if i in actors],
        domains=[d for _, d in await rt.blocks.domain_blocks(user, page)])
