"""The Mastodon client API, so members can use the apps they already have (issue 4).

Each module owns its endpoints and lists them in ``ROUTES``; ``routes()`` puts them in
order (more specific paths first). Status of every endpoint: docs/mastodon-api.md.
"""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    from api.mastodon import (
        accounts,
        blocks,
        conversations,
        domain_blocks,
        media,
        misc,
        notifications,
        push,
        search,
        statuses,
        streaming,
        tags,
        timelines,
    )

    out: list[BaseRoute] = []
    for module in (accounts, blocks, statuses, timelines, notifications, conversations, media,
                   streaming, search, tags, domain_blocks, push, misc):
        out += module.ROUTES
    return out
