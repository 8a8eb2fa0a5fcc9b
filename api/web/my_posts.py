"""A member's own pages: "My posts" (what they asked for or offered, with answers and
exchanges) and their notifications, which are marked read when the page is seen."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.conversations import _describe
from api.web.locale import reader
from api.web.render import STATE_WORDS, display_name, labels, post_item, render, when
from api.web.session import require_user
from fediaid.errors import NotFound
from fediaid.i18n import N_

TYPE_WORDS = {
    "follow": N_("{who} started following you"), "follow_request": N_("{who} asked to follow you"),
    "favourite": N_("{who} liked your post"), "reblog": N_("{who} shared your post"),
    "update": N_("{who} edited a post you shared"), "status": N_("{who} posted something new"),
    "mention": N_("{who} wrote to you"),
}
TYPE_ABOUT_WORDS = {
    "follow": N_("{who} started following you (about “{title}”)"),
    "follow_request": N_("{who} asked to follow you (about “{title}”)"),
    "favourite": N_("{who} liked your post “{title}”"),
    "reblog": N_("{who} shared your post “{title}”"),
    "update": N_("{who} edited “{title}”"), "status": N_("{who} posted “{title}”"),
    "mention": N_("{who} wrote to you about “{title}”"),
}


async def my_posts(request: Request) -> Response:
    rt = runtime(request)
    user = await require_user(request)
    t = await reader(request)
    names = await labels(rt, t)
    posts = []
    for mine in await rt.my_posts.posts_of(user):
        item = post_item(rt, mine.post, names, t)
        item.update(answers=mine.answers, unread=mine.unread,
                    as_neighbor=mine.post.anonymous or mine.post.proxy,
                    for_neighbor=mine.post.proxy)
        posts.append(item)
    exchanges = []
    for ex in await rt.my_posts.exchanges(user):
        try:
            info = await _describe(rt, user, ex.conversation, t)
        except NotFound:
            continue
        info["unread"] = ex.unread
        info["state_word"] = t(STATE_WORDS[ex.post.state])
        exchanges.append(info)
    return await render(request, "my_posts.html", posts=posts, exchanges=exchanges)


async def notifications(request: Request) -> Response:
    rt = runtime(request)
    user = await require_user(request)
    t = await reader(request)
    newest = await rt.my_posts.newest(user)  # read up to here once shown
    items = []
    for n in await rt.my_posts.notifications_of(user):
        who = display_name(rt, n.from_uri) if n.from_uri else t("Someone")
        if n.answer and n.post is not None:
            words = t(N_("{who} answered “{title}”"), who=who, title=n.post.title)
            link = f"/posts/{n.post.id}"
        elif n.conversation_id is not None and n.post is not None:
            words = t(N_("{who} wrote to you about “{title}”"), who=who, title=n.post.title)
            link = f"/conversations/{n.conversation_id}#latest"
        elif n.post is not None:
            words = t(TYPE_ABOUT_WORDS.get(n.type, TYPE_ABOUT_WORDS["mention"]), who=who,
                      title=n.post.title)
            link = f"/posts/{n.post.id}"
        else:
            words = t(TYPE_WORDS.get(n.type, TYPE_WORDS["mention"]), who=who)
            link = ""
        items.append({"words": words, "link": link, "unread": n.unread,
                      "when": when(n.created_at, t)})
    # Seen now: the badge drops (the same reading position apps use).
    await rt.my_posts.mark_read(user, newest)
    return await render(request, "notifications.html", items=items, unread=0)
