"""A member's own pages: "My posts" (what they asked for or offered, with answers and
exchanges) and their notifications, which are marked read when the page is seen."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.conversations import _describe
from api.web.render import STATE_WORDS, display_name, labels, post_item, render, when
from api.web.session import require_user
from fediaid.errors import NotFound

TYPE_WORDS = {
    "follow": "started following you", "follow_request": "asked to follow you",
    "favourite": "liked your post", "reblog": "shared your post",
    "update": "edited a post you shared", "status": "posted something new",
    "mention": "wrote to you",
}


async def my_posts(request: Request) -> Response:
    rt = runtime(request)
    user = await require_user(request)
    names = await labels(rt)
    posts = []
    for mine in await rt.my_posts.posts_of(user):
        item = post_item(rt, mine.post, names)
        item.update(answers=mine.answers, unread=mine.unread,
                    as_neighbor=mine.post.anonymous or mine.post.proxy,
                    for_neighbor=mine.post.proxy)
        posts.append(item)
    exchanges = []
    for ex in await rt.my_posts.exchanges(user):
        try:
            info = await _describe(rt, user, ex.conversation)
        except NotFound:
            continue
        info["unread"] = ex.unread
        info["state_word"] = STATE_WORDS[ex.post.state]
        exchanges.append(info)
    return await render(request, "my_posts.html", posts=posts, exchanges=exchanges)


async def notifications(request: Request) -> Response:
    rt = runtime(request)
    user = await require_user(request)
    newest = await rt.my_posts.newest(user)  # read up to here once shown
    items = []
    for n in await rt.my_posts.notifications_of(user):
        who = display_name(rt, n.from_uri) if n.from_uri else "Someone"
        if n.answer and n.post is not None:
            words = f"{who} answered “{n.post.title}”"
            link = f"/posts/{n.post.id}"
        elif n.conversation_id is not None and n.post is not None:
            words = f"{who} wrote to you about “{n.post.title}”"
            link = f"/conversations/{n.conversation_id}#latest"
        elif n.post is not None:
            words = f"{who} {TYPE_WORDS.get(n.type, 'wrote to you')} about “{n.post.title}”"
            link = f"/posts/{n.post.id}"
        else:
            words = f"{who} {TYPE_WORDS.get(n.type, 'wrote to you')}"
            link = ""
        items.append({"words": words, "link": link, "unread": n.unread,
                      "when": when(n.created_at)})
    # Seen now: the badge drops (the same reading position apps use).
    await rt.my_posts.mark_read(user, newest)
    return await render(request, "notifications.html", items=items, unread=0)
