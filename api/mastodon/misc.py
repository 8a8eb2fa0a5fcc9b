"""Markers, preferences, and the optional features this server does not have.

Markers (``/api/v1/markers``) and preferences (``/api/v1/preferences``) are real.

Empty by design (issue 4: never 404, so apps do not break; docs/mastodon-api.md):
- filters (v1 and v2), lists, announcements, trends (tags, statuses, links), custom emojis,
  scheduled statuses, the profile directory and followed hashtags: we have none of these, so
  the lists are empty; creating a filter or a list is refused with 422 and a clear message.
- ``/api/v1/instance/peers`` and ``/activity``: we do not publish the servers we federate
  with or weekly statistics (privacy of a neighborhood group): empty lists.
- ``/api/v1/instance/rules``: the group has no rules list here (its description says what it
  is for): empty. ``translation_languages``: no translation: ``{}``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.context import runtime
from api.mastodon.common import Handler, cors, params, token_user
from api.mastodon.entities import mastodon_time
from api.responses import FastJSON
from fediaid.domain.statuses import Level, to_mastodon
from fediaid.errors import ConfigError, Invalid, NotFound, Unprocessable
from fediaid.services.notifications import Marker

# -- markers -----------------------------------------------------------------------------


def _marker(m: Marker) -> dict[str, Any]:
    return {"last_read_id": m.last_read_id, "version": m.version,
            "updated_at": mastodon_time(m.updated_at)}


def _positions(p: Mapping[str, Any]) -> dict[str, str]:
    """``home[last_read_id]=1`` (form or query) or ``{"home": {"last_read_id": "1"}}``."""
    out: dict[str, str] = {}
    for timeline in ("home", "notifications"):
        nested = p.get(timeline)
        value: Any = None
        if isinstance(nested, Mapping):
            value = nested.get("last_read_id")
        elif nested is not None:
            raise Invalid(f"{timeline} must be an object with last_read_id")
        flat = p.get(f"{timeline}[last_read_id]")
        if flat is not None:
            value = flat
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise Unprocessable(f"{timeline}[last_read_id] must be an id")
        out[timeline] = str(value)
    return out


@cors
async def markers(request: Request) -> Response:
    rt = runtime(request)
    if request.method == "GET":
        user = await token_user(request, "read:statuses")
        p = await params(request)
        wanted = p.get("timeline") or []
        timelines = wanted if isinstance(wanted, list) else [wanted]
        found = await rt.notifications.markers(user, [str(t) for t in timelines])
    else:
        user = await token_user(request, "write:statuses")
        positions = _positions(await params(request))
        found = await rt.notifications.set_markers(user, positions)
    return FastJSON({k: _marker(m) for k, m in found.items()})


# -- preferences -------------------------------------------------------------------------

@cors
async def preferences(request: Request) -> Response:
    """The posting defaults apps use: the group's default visibility (Mastodon's name for
    it), not sensitive, the instance's first language."""
    rt = runtime(request)
    await token_user(request, "read:accounts")
    policy = await rt.posts.policy()
    languages = rt.settings.languages
    return FastJSON({
        "posting:default:visibility": to_mastodon(Level(policy.default_visibility.value)),
        "posting:default:sensitive": False,
        "posting:default:language": languages[0] if languages else None,
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
    })


# -- empty by design ---------------------------------------------------------------------

def _empty(scope: str | None, body: Any = ()) -> Handler:
    """A GET handler answering ``body`` (an empty list by default); with ``scope``, only
    for a token that has it."""

    @cors
    async def handler(request: Request) -> Response:
        if scope is not None:
            await token_user(request, scope)
        return FastJSON(list(body) if isinstance(body, tuple) else body)

    return handler


def _refuse(scope: str, message: str) -> Handler:
    @cors
    async def handler(request: Request) -> Response:
        await token_user(request, scope)
        raise Unprocessable(message)

    return handler


def _missing(scope: str | None) -> Handler:
    """A single filter, list or scheduled status: none exist, so none is found."""

    @cors
    async def handler(request: Request) -> Response:
        if scope is not None:
            await token_user(request, scope)
        raise NotFound("Record not found")

    return handler


def _with_refusal(read_scope: str, write_scope: str, message: str) -> Handler:
    empty, refuse = _empty(read_scope), _refuse(write_scope, message)

    async def handler(request: Request) -> Response:
        if request.method == "POST":
            return await refuse(request)
        return await empty(request)

    return handler


FILTERS = "Filters are not supported on this server"
LISTS = "Lists are not supported on this server"


@cors
async def extended_description(request: Request) -> Response:
    rt = runtime(request)
    area = f" in {rt.settings.area}" if rt.settings.area else ""
    content = (f"<p>{html.escape(rt.settings.group_name)}: a mutual aid group"
               f"{html.escape(area)}. Offers and needs, neighbor to neighbor.</p>")
    try:
        since = rt.identity.group.created_at
    except ConfigError:  # identity not loaded yet in this process
        since = (await rt.load_identity()).group.created_at
    return FastJSON({"updated_at": mastodon_time(since), "content": content})


_GET = ["GET", "OPTIONS"]
_GET_POST = ["GET", "POST", "OPTIONS"]

ROUTES: list[BaseRoute] = [
    Route("/api/v1/markers", markers, methods=_GET_POST),
    Route("/api/v1/preferences", preferences, methods=_GET),
    Route("/api/v1/filters", _with_refusal("read:filters", "write:filters", FILTERS),
          methods=_GET_POST),
    Route("/api/v1/filters/{id}", _missing("read:filters"), methods=_GET),
    Route("/api/v2/filters", _with_refusal("read:filters", "write:filters", FILTERS),
          methods=_GET_POST),
    Route("/api/v2/filters/{id}", _missing("read:filters"), methods=_GET),
    Route("/api/v1/lists", _with_refusal("read:lists", "write:lists", LISTS),
          methods=_GET_POST),
    Route("/api/v1/lists/{id}", _missing("read:lists"), methods=_GET),
    Route("/api/v1/announcements", _empty("read"), methods=_GET),
    Route("/api/v1/trends", _empty(None), methods=_GET),
    Route("/api/v1/trends/tags", _empty(None), methods=_GET),
    Route("/api/v1/trends/statuses", _empty(None), methods=_GET),
    Route("/api/v1/trends/links", _empty(None), methods=_GET),
    Route("/api/v1/custom_emojis", _empty(None), methods=_GET),
    Route("/api/v1/scheduled_statuses", _empty("read:statuses"), methods=_GET),
    Route("/api/v1/scheduled_statuses/{id}", _missing("read:statuses"), methods=_GET),
    Route("/api/v1/instance/peers", _empty(None), methods=_GET),
    Route("/api/v1/instance/activity", _empty(None), methods=_GET),
    Route("/api/v1/instance/rules", _empty(None), methods=_GET),
    Route("/api/v1/instance/extended_description", extended_description, methods=_GET),
    Route("/api/v1/instance/translation_languages", _empty(None, {}), methods=_GET),
    Route("/api/v1/directory", _empty(None), methods=_GET),
    Route("/api/v1/followed_tags", _empty("read:follows"), methods=_GET),
]
