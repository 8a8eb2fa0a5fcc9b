"""Accounts in the Mastodon client API: the token's own account and its profile, other
accounts (get, look up, statuses, followers, following), follow and unfollow (local or
remote, federated), relationships, account search, follow requests, and the account
features we do not have (endorsements, featured tags, suggestions), which answer with honest
empty lists. Blocks and mutes: api/mastodon/blocks.py.

Scopes as Mastodon's documentation gives them per endpoint. Public endpoints work without a
token; a token that is given must be valid and cover the endpoint's read scope.
Followers and following lists are shown only to the account itself and coordinators
(fediaid/services/client_accounts.py says why); others get an empty list.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.context import one_read, runtime
from api.ids import path_id as _path_id
from api.ids import query_ids
from api.mastodon.common import cors, optional_user, params, text, token_user
from api.mastodon.entities import (
    account_entity,
    accounts_by_id,
    group_account,
    mastodon_time,
    plain,
    status_entities,
)
from api.mastodon.media import read_form
from api.mastodon.paging import link_header, page_from
from api.responses import FastJSON
from fediaid.domain.actors import Actor
from fediaid.domain.follows import FollowState
from fediaid.domain.users import User
from fediaid.errors import Forbidden, Invalid, NotFound, Unprocessable
from fediaid.services.blocks import Flags
from fediaid.services.client_accounts import Pair
from fediaid.services.runtime import Runtime

# ``group_account`` and ``mastodon_time`` now live in api/mastodon/entities.py; re-exported
# for older imports (api/mastodon/instance.py).
__all__ = ["ROUTES", "group_account", "mastodon_time"]

_TRUE = frozenset({"1", "true", "t", "on", "yes"})
_FALSE = frozenset({"0", "false", "f", "off", "no", ""})
ACCOUNT_LIST_LIMIT = (40, 80)  # Mastodon's default and maximum for lists of accounts


def flag(value: Any, name: str, default: bool = False) -> bool:
    """A boolean parameter (``true``/``false``, ``1``/``0``, JSON booleans)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise Invalid(f"{name} must be true or false", field=name)


def path_id(request: Request) -> int:
    """The ``{id}`` of the path; ids that cannot exist are simply not found."""
    return _path_id(request)


_LEGACY_FOLLOW = frozenset({"read:follows", "write:follows", "read:blocks", "write:blocks",
                            "read:mutes", "write:mutes"})


async def user_for_follows(request: Request, scope: str) -> User:
    """``scope``, or the legacy ``follow`` scope that Mastodon.py and older apps still ask
    for, which covers follows, blocks and mutes."""
    try:
        return await token_user(request, scope)
    except Forbidden:
        if scope not in _LEGACY_FOLLOW:
            raise
        return await token_user(request, "follow")


async def accounts_json(rt: Runtime, ids: list[int]) -> list[dict[str, Any]]:
    actors = await rt.client_accounts.actors(ids)
    by_id = await accounts_by_id(rt, actors)
    return [by_id[a.id] for a in actors]


def relationship(actor_id: int, pair: Pair, flags: Flags | None = None) -> dict[str, Any]:
    """Mastodon's Relationship entity: follows both ways, and blocks and mutes as they are
    (``blocked_by`` is known for local accounts and for remote ones whose server sent us
    its Block)."""
    following = pair.outgoing is FollowState.ACCEPTED
    f = flags or Flags()
    return {
        "id": str(actor_id), "following": following, "showing_reblogs": following,
        "notifying": False, "languages": None,
        "followed_by": pair.incoming is FollowState.ACCEPTED,
        "blocking": f.blocking, "blocked_by": f.blocked_by, "muting": f.muting,
        "muting_notifications": f.muting and f.muting_notifications,
        "requested": pair.outgoing is FollowState.PENDING,
        "requested_by": pair.incoming is FollowState.PENDING,
        "domain_blocking": f.domain_blocking, "endorsed": False, "note": "",
    }


async def relationship_of(rt: Runtime, user: User, actor_id: int,
                          pair: Pair | None = None) -> dict[str, Any]:
    """The Relationship entity between the token's account and ``actor_id``, now."""
    if pair is None:
        pair = await rt.client_accounts.relationship(user, actor_id)
    flags = (await rt.blocks.flags(user, [actor_id]))[actor_id]
    return relationship(actor_id, pair, flags)


async def _credential_account(rt: Runtime, user: User, actor: Actor) -> dict[str, Any]:
    entity = await account_entity(rt, actor)
    requests = await rt.client_accounts.follow_request_count(user)
    entity["source"] = {"privacy": "public", "sensitive": False,
                        "language": rt.settings.languages[0] if rt.settings.languages else "",
                        # Local notes are stored as typed (plain text).
                        "note": actor.summary or "" if actor.local else plain(actor.summary),
                        "fields": [],
                        "discoverable": actor.discoverable, "indexable": actor.indexable,
                        "hide_collections": True,
                        "follow_requests_count": requests}
    entity["role"] = {"id": "-99", "name": "", "permissions": "0", "color": "",
                      "highlighted": False}
    return entity


# -- the token's own account ---------------------------------------------------------------

@cors
async def verify_credentials(request: Request) -> Response:
    """The token's own account as a CredentialAccount (Account + ``source`` + ``role``);
    needs the ``read`` or ``read:accounts`` scope."""
    rt = runtime(request)
    user = await token_user(request, "read:accounts")
    actor = await rt.accounts.actor_of(user)
    return FastJSON(await _credential_account(rt, user, actor))


# What we report for settings we cannot change: an app may send them back unchanged.
PROFILE_IMAGES = ("avatar", "header")
_FIXED = {"bot": False, "source[sensitive]": False, "hide_collections": True}


@cors
async def update_credentials(request: Request) -> Response:
    """``display_name``, ``note``, ``locked``, and ``avatar``/``header`` image files
    (multipart; cleaned of EXIF and GPS, scaled down to 400x400 and 1500x500). Settings we
    do not have are accepted only with the value we report (else 422). Remote followers get
    Update(Person). Nothing changes on an error, images included."""
    rt = runtime(request)
    user = await token_user(request, "write:accounts")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    uploads: dict[str, UploadFile] = {}
    p: dict[str, Any]
    if content_type == "multipart/form-data":
        uploads, p = await read_form(request, rt.settings.media_max_bytes,
                                     files=PROFILE_IMAGES, max_fields=50)
    else:
        p = await params(request)
    for key in PROFILE_IMAGES:
        if key not in uploads and p.get(key):
            raise Unprocessable(f"Validation failed: {key} must be an image file sent as "
                                "multipart/form-data", field=key)
    me = await rt.accounts.actor_of(user)
    fixed = _FIXED | {"discoverable": me.discoverable, "indexable": me.indexable}
    for key, value in fixed.items():
        if key in p and flag(p[key], key) != value:
            raise Unprocessable(f"{key} cannot be changed on this server", field=key)
    privacy = p.get("source[privacy]")
    if privacy not in (None, "", "public"):
        raise Unprocessable("The default visibility of new posts is set by the group, not "
                            "per account", field="source[privacy]")
    fields = [v for k, v in p.items() if k.startswith("fields_attributes")
              and k.endswith(("[name]", "[value]"))]
    if any(str(v).strip() for v in fields):
        raise Unprocessable("Profile fields are not supported on this server",
                            field="fields_attributes")
    locked = flag(p["locked"], "locked") if "locked" in p else None
    images: dict[str, bytes | None] = {}
    for key in PROFILE_IMAGES:
        upload = uploads.get(key)
        images[key] = None if upload is None else await upload.read()
        if upload is not None:
            await upload.close()
            if not images[key] and not upload.filename:
                images[key] = None  # an empty file input (no file chosen)
    actor = await rt.client_accounts.update_profile(
        user, display_name=text(p.get("display_name")), note=text(p.get("note")),
        locked=locked, avatar=images["avatar"], header=images["header"])
    return FastJSON(await _credential_account(rt, user, actor))


@cors
async def remove_profile_image(request: Request) -> Response:
    """``DELETE /api/v1/profile/avatar`` and ``/header`` (Mastodon 4.2): back to the default
    image; the CredentialAccount."""
    kind = request.path_params["kind"]
    if kind not in PROFILE_IMAGES:
        raise NotFound("Record not found")
    rt = runtime(request)
    user = await token_user(request, "write:accounts")
    actor = await rt.client_accounts.remove_profile_image(user, kind)
    return FastJSON(await _credential_account(rt, user, actor))


# -- other accounts --------------------------------------------------------------------------

@cors
async def get_account(request: Request) -> Response:
    rt = runtime(request)
    await optional_user(request, "read:accounts")
    actor = await rt.client_accounts.get(path_id(request))
    return FastJSON(await account_entity(rt, actor))


@cors
async def lookup(request: Request) -> Response:
    rt = runtime(request)
    await optional_user(request, "read:accounts")
    acct = text((await params(request)).get("acct"))
    if not acct:
        raise Invalid("acct is required", field="acct")
    actor = await rt.client_accounts.lookup(acct)
    return FastJSON(await account_entity(rt, actor))


@cors
@one_read
async def account_statuses(request: Request) -> Response:
    """A page of the account's statuses the asker may see (``rt.statuses``); ``pinned``
    gives an empty list (nothing can be pinned here)."""
    rt = runtime(request)
    user = await optional_user(request, "read:statuses")
    p = await params(request)
    actor = await rt.client_accounts.get(path_id(request))
    page = page_from(p)
    if flag(p.get("pinned"), "pinned"):
        return FastJSON([])
    tagged = text(p.get("tagged"))
    viewer = await rt.status_reading.viewer(user)
    ids = await rt.status_reading.account_status_ids(
        viewer, actor.id, page, exclude_replies=flag(p.get("exclude_replies"), "exclude_replies"),
        exclude_reblogs=flag(p.get("exclude_reblogs"), "exclude_reblogs"),
        only_media=flag(p.get("only_media"), "only_media"),
        tagged=tagged.lstrip("#").lower() if tagged else None, account=actor)
    entities = await status_entities(rt, user, ids, viewer=viewer)
    return FastJSON(entities, headers=link_header(request, ids))


async def _follow_list(request: Request, direction: str) -> Response:
    rt = runtime(request)
    user = await optional_user(request, "read:accounts")
    p = await params(request)
    page = page_from(p, default=ACCOUNT_LIST_LIMIT[0], maximum=ACCOUNT_LIST_LIMIT[1])
    rows = await rt.client_accounts.follow_list(user, path_id(request), page,
                                                direction=direction)
    body = await accounts_json(rt, [actor_id for _, actor_id in rows])
    return FastJSON(body, headers=link_header(request, [fid for fid, _ in rows]))


@cors
async def followers(request: Request) -> Response:
    return await _follow_list(request, "followers")


@cors
async def following(request: Request) -> Response:
    return await _follow_list(request, "following")


# -- following ---------------------------------------------------------------------------

@cors
async def follow(request: Request) -> Response:
    """Follow (``reblogs``, ``notify`` and ``languages`` are accepted; boosts are always
    shown and post notifications are not offered, as the relationship says)."""
    rt = runtime(request)
    user = await user_for_follows(request, "write:follows")
    p = await params(request)
    flag(p.get("reblogs"), "reblogs", True)
    flag(p.get("notify"), "notify")
    actor_id = path_id(request)
    await rt.blocks.check_follow(user, actor_id)
    pair = await rt.client_accounts.follow(user, actor_id)
    return FastJSON(await relationship_of(rt, user, actor_id, pair))


@cors
async def unfollow(request: Request) -> Response:
    rt = runtime(request)
    user = await user_for_follows(request, "write:follows")
    actor_id = path_id(request)
    pair = await rt.client_accounts.unfollow(user, actor_id)
    return FastJSON(await relationship_of(rt, user, actor_id, pair))


def _ids(p: dict[str, Any]) -> list[int]:
    raw = p.get("id")
    values = raw if isinstance(raw, list) else [raw] if raw is not None else []
    return query_ids(values)


@cors
async def relationships(request: Request) -> Response:
    rt = runtime(request)
    user = await user_for_follows(request, "read:follows")
    found = await rt.client_accounts.relationships(user, _ids(await params(request)))
    flags = await rt.blocks.flags(user, [i for i, _ in found])
    return FastJSON([relationship(i, pair, flags[i]) for i, pair in found])


@cors
async def familiar_followers(request: Request) -> Response:
    """Empty by design: which of your follows also follow someone is not shown here."""
    await user_for_follows(request, "read:follows")
    return FastJSON([{"id": str(i), "accounts": []} for i in _ids(await params(request))])


@cors
async def search_accounts(request: Request) -> Response:
    rt = runtime(request)
    user = await token_user(request, "read:accounts")
    p = await params(request)
    q = text(p.get("q"))
    if not q or not q.strip():
        raise Invalid("q is required", field="q")
    limit = page_from(p, default=ACCOUNT_LIST_LIMIT[0], maximum=ACCOUNT_LIST_LIMIT[1]).limit
    offset = _offset(p)
    ids = await rt.client_accounts.search(
        user, q, resolve=flag(p.get("resolve"), "resolve"),
        following=flag(p.get("following"), "following"), limit=limit, offset=offset)
    return FastJSON(await accounts_json(rt, ids))


def _offset(p: dict[str, Any]) -> int:
    raw = p.get("offset")
    if raw in (None, ""):
        return 0
    if not (str(raw).isascii() and str(raw).isdigit()):
        raise Invalid("offset must be a number", field="offset")
    return min(int(raw), 10_000)


# -- follow requests (locked accounts) ---------------------------------------------------------

@cors
async def follow_requests(request: Request) -> Response:
    rt = runtime(request)
    user = await user_for_follows(request, "read:follows")
    page = page_from(await params(request), default=ACCOUNT_LIST_LIMIT[0],
                     maximum=ACCOUNT_LIST_LIMIT[1])
    rows = await rt.client_accounts.follow_requests(user, page)
    body = await accounts_json(rt, [actor_id for _, actor_id in rows])
    return FastJSON(body, headers=link_header(request, [fid for fid, _ in rows]))


async def _decide(request: Request, accept: bool) -> Response:
    rt = runtime(request)
    user = await user_for_follows(request, "write:follows")
    actor_id = path_id(request)
    pair = await rt.client_accounts.decide_request(user, actor_id, accept=accept)
    return FastJSON(await relationship_of(rt, user, actor_id, pair))


@cors
async def authorize_request(request: Request) -> Response:
    return await _decide(request, True)


@cors
async def reject_request(request: Request) -> Response:
    return await _decide(request, False)


# -- features we do not have: empty by design -------------------------------------------------

def _empty(scope: str, *, per_account: bool = False, public: bool = False) -> Any:
    @cors
    async def handler(request: Request) -> Response:
        if public:
            await optional_user(request, scope)
        else:
            await user_for_follows(request, scope)
        if per_account:
            await runtime(request).client_accounts.get(path_id(request))
        return FastJSON([])

    return handler


def _get(path: str, handler: Any) -> Route:
    return Route(path, handler, methods=["GET", "OPTIONS"])


def _post(path: str, handler: Any) -> Route:
    return Route(path, handler, methods=["POST", "OPTIONS"])


ROUTES: list[BaseRoute] = [
    # Named paths before /api/v1/accounts/{id}.
    _get("/api/v1/accounts/verify_credentials", verify_credentials),
    Route("/api/v1/accounts/update_credentials", update_credentials,
          methods=["PATCH", "OPTIONS"]),
    Route("/api/v1/profile/{kind:str}", remove_profile_image, methods=["DELETE", "OPTIONS"]),
    _get("/api/v1/accounts/lookup", lookup),
    _get("/api/v1/accounts/search", search_accounts),
    _get("/api/v1/accounts/relationships", relationships),
    _get("/api/v1/accounts/familiar_followers", familiar_followers),
    _get("/api/v1/accounts/{id}", get_account),
    _get("/api/v1/accounts/{id}/statuses", account_statuses),
    _get("/api/v1/accounts/{id}/followers", followers),
    _get("/api/v1/accounts/{id}/following", following),
    _post("/api/v1/accounts/{id}/follow", follow),
    _post("/api/v1/accounts/{id}/unfollow", unfollow),
    _get("/api/v1/accounts/{id}/featured_tags",
         _empty("read:accounts", per_account=True, public=True)),
    _get("/api/v1/accounts/{id}/lists", _empty("read:lists", per_account=True)),
    _get("/api/v1/accounts/{id}/identity_proofs",
         _empty("read:accounts", per_account=True)),
    _get("/api/v1/follow_requests", follow_requests),
    _post("/api/v1/follow_requests/{id}/authorize", authorize_request),
    _post("/api/v1/follow_requests/{id}/reject", reject_request),
    _get("/api/v1/endorsements", _empty("read:accounts")),
    _get("/api/v1/featured_tags", _empty("read:accounts")),
    _get("/api/v1/suggestions", _empty("read")),
    _get("/api/v2/suggestions", _empty("read")),
]
