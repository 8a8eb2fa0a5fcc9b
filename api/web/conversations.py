"""Messages: the private conversation an accepted answer opens between two people, and a
helper's weekly limit."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.forms import plain_message
from api.web.locale import reader
from api.web.render import ENGLISH, author_words, display_name, form_handler, redirect, render, when
from api.web.session import check_csrf, require_user
from fediaid.domain.posts import ResponseState
from fediaid.domain.users import User
from fediaid.errors import FediaidError, Invalid, NotFound
from fediaid.i18n import N_, Reader
from fediaid.services.runtime import Runtime


def _closed(conv: Any) -> bool:
    return conv.closed_at is not None and (
        conv.reopened_at is None or conv.reopened_at < conv.closed_at)


async def _describe(rt: Runtime, user: User, conv: Any, t: Reader = ENGLISH
                    ) -> dict[str, Any]:
    """Who is who in a conversation, for this user."""
    group = rt.identity.group
    side = user.actor_id if user.actor_id in (conv.helper_actor_id, conv.other_actor_id) \
        else group.id
    viewer = await rt.posts.viewer_for_user(user)
    post = await rt.posts.get(viewer, conv.post_id)
    resp = await rt.responses.mine(user, conv.response_id)
    i_answered = side == resp.responder_actor_id
    other = author_words(rt, post, t) if i_answered else display_name(rt, resp.responder_uri)
    return {
        "id": conv.id, "post": post, "response": resp, "side": side, "other": other,
        "as_group": side == group.id, "helper": side == conv.helper_actor_id,
        "closed": _closed(conv), "i_answered": i_answered,
        "started": when(conv.created_at, t),
        "can_withdraw": i_answered and resp.state is ResponseState.ACCEPTED,
    }


async def conversation_list(request: Request) -> Response:
    rt = runtime(request)
    user = await require_user(request)
    t = await reader(request)
    items = []
    for conv in await rt.responses.conversations(user):
        try:
            items.append(await _describe(rt, user, conv, t))
        except NotFound:
            continue
    return await render(request, "conversations.html", items=items)


async def conversation(request: Request) -> Response:
    return await _conversation(request)


async def _conversation(request: Request, *, status: int = 200, **extra: Any) -> Response:
    rt = runtime(request)
    user = await require_user(request)
    cid = int(request.path_params["id"])
    conv, messages = await rt.responses.messages(user, cid)
    t = await reader(request)
    info = await _describe(rt, user, conv, t)
    me = t(N_("{group} (you)"), group=rt.settings.group_name) if info["as_group"] else t("You")
    shown = [{"mine": m.sender_actor_id == info["side"],
              "who": me if m.sender_actor_id == info["side"] else info["other"],
              "body": m.body, "when": when(m.created_at, t)} for m in messages]
    return await render(request, "conversation.html", status=status, c=info, messages=shown,
                        sms_link=await rt.sms.exchange_link(user, cid), **extra)


@form_handler
async def send(request: Request) -> Response:
    rt = runtime(request)
    user = await require_user(request)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    cid = int(request.path_params["id"])
    body = str(form.get("body") or "")
    try:
        await rt.responses.send(user, cid, body)
    except Invalid as exc:
        return await _conversation(request, status=400, body=body, body_error=plain_message(exc))
    except FediaidError as exc:
        if isinstance(exc, NotFound):
            raise
        return await _conversation(request, status=403, body=body, flash=exc.public,
                                   flash_error=True)
    return redirect(f"/conversations/{cid}#latest")


@form_handler
async def reopen(request: Request) -> Response:
    user = await require_user(request)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    cid = int(request.path_params["id"])
    await runtime(request).responses.reopen(user, cid)
    return redirect(f"/conversations/{cid}", N_("Contact reopened: you can both write again."))


@form_handler
async def limits(request: Request) -> Response:
    user = await require_user(request)
    current = await runtime(request).responses.weekly_cap(user)
    if request.method == "GET":
        return await render(request, "limits.html", current=current,
                            cap="" if current is None else str(current))
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    cap = str(form.get("cap") or "").strip()
    try:
        await runtime(request).responses.set_weekly_cap(user, cap)
    except Invalid as exc:
        return await render(request, "limits.html", status=400, current=current, cap=cap,
                            cap_error=plain_message(exc))
    if cap:
        return redirect("/settings/limits", N_("Saved: at most {n} a week.", n=int(cap)))
    return redirect("/settings/limits", N_("Saved: no weekly limit."))
