"""Web Push subscriptions (``/api/v1/push/subscription``), as Mastodon 4.x answers them.

One subscription per access token (scope ``push``): POST creates it (replacing the token's
old one), GET shows it (404 without one), PUT replaces its data (alerts and policy; alerts
not given are off afterwards, as in Mastodon), DELETE removes it (``{}`` either way).

Parameters come as a form (``subscription[endpoint]``, ``subscription[keys][p256dh]``,
``subscription[keys][auth]``, ``subscription[standard]``, ``data[alerts][mention]``,
``data[policy]``), nested JSON, or a query string. ``policy`` outside ``data`` is read too
when ``data[policy]`` is absent: Mastodon.py sends it there (Mastodon itself ignores it).
Sending: fediaid/services/push.py; what is supported: docs/reach.md ("Push").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.context import runtime
from api.mastodon.accounts import flag
from api.mastodon.common import bearer, cors, params, token_user
from api.responses import FastJSON
from fediaid.domain.push import ALERTS, Policy, alerts_from
from fediaid.errors import Invalid, Unprocessable
from fediaid.services.push import SubscriptionView


def _entity(view: SubscriptionView) -> dict[str, Any]:
    return {"id": str(view.id), "endpoint": view.endpoint, "standard": view.standard,
            "alerts": view.alerts, "policy": view.policy, "server_key": view.server_key}


def _get(p: Mapping[str, Any], *path: str) -> Any:
    """``subscription[keys][auth]`` from a form or query, or the same path in JSON."""
    flat = path[0] + "".join(f"[{k}]" for k in path[1:])
    if flat in p:
        return p[flat]
    node: Any = p
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _text(value: Any, name: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Unprocessable(f"Validation failed: {name} can't be blank")
    if not isinstance(value, str):
        raise Unprocessable(f"Validation failed: {name} is invalid")
    return value


def _data(p: Mapping[str, Any]) -> tuple[frozenset[str], Policy]:
    chosen = {name: flag(_get(p, "data", "alerts", name), f"data[alerts][{name}]")
              for name in ALERTS}
    raw = _get(p, "data", "policy")
    if raw is None:
        raw = p.get("policy")
    policy = Policy.parse(raw if raw not in (None, "") else "all")
    if policy is None:
        raise Unprocessable("Validation failed: Policy must be one of all, followed, "
                            "follower, none")
    return alerts_from(chosen), policy


def _token(request: Request) -> str:
    token = bearer(request)
    assert token is not None  # token_user checked it
    return token


@cors
async def subscription(request: Request) -> Response:
    user = await token_user(request, "push")
    push = runtime(request).push
    token = _token(request)
    if request.method == "GET":
        return FastJSON(_entity(await push.subscription(token)))
    if request.method == "DELETE":
        await push.unsubscribe(token)
        return FastJSON({})
    p = await params(request)
    alerts, policy = _data(p)
    if request.method == "PUT":
        return FastJSON(_entity(await push.change(token, alerts=alerts, policy=policy)))
    if _get(p, "subscription") is None and not any(k.startswith("subscription[") for k in p):
        raise Invalid("param is missing or the value is empty: subscription",
                      field="subscription")
    view = await push.subscribe(
        user, token, endpoint=_text(_get(p, "subscription", "endpoint"), "Endpoint"),
        p256dh=_text(_get(p, "subscription", "keys", "p256dh"), "Key p256dh"),
        auth=_text(_get(p, "subscription", "keys", "auth"), "Key auth"),
        standard=flag(_get(p, "subscription", "standard"), "subscription[standard]"),
        alerts=alerts, policy=policy)
    return FastJSON(_entity(view))


ROUTES: list[BaseRoute] = [
    Route("/api/v1/push/subscription", subscription,
          methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"]),
]
