"""Actor documents, their collections, and public activities/objects, with content
negotiation: ActivityPub JSON for servers, an HTML page for people.

In secure mode (fediaid/services/authorized_fetch.py) every document here needs a signed
GET, except the instance actor and the stripped actor document unsigned fetches get. Every
answer varies with the signature (``Vary: Accept, Signature``), and in secure mode is not
for shared caches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from activitypub.vocab import accepts_activitypub
from api.context import runtime
from api.errors import domain_error
from api.responses import ActivityJSON
from fediaid.domain.actors import ActorType
from fediaid.errors import FediaidError, Invalid, NotFound
from fediaid.services.authorized_fetch import stripped_actor


def _kind(request: Request) -> ActorType:
    return ActorType.GROUP if request.url.path.startswith("/groups/") else ActorType.PERSON


Handler = Callable[[Request], Awaitable[Response]]


def _url(request: Request) -> str:
    """The URL the signature covers, from the configured origin (never the request's)."""
    url = runtime(request).settings.base_url + request.url.path
    return url + (f"?{request.url.query}" if request.url.query else "")


async def signer(request: Request, *, required: bool = True) -> str | None:
    """Who signed this GET; in secure mode an unsigned one is refused (401)."""
    return await runtime(request).authorized_fetch.signer(
        method="GET", url=_url(request), headers=request.headers, required=required)


def headers(request: Request) -> dict[str, str]:
    out = {"Vary": "Accept, Signature"}
    if runtime(request).authorized_fetch.secure_mode:
        out["Cache-Control"] = "private, no-store"
    return out


def varies(handler: Handler) -> Handler:
    """Refusals vary with the signature too (a 404 or 401 cached for one requester must
    not answer another), and are never for shared caches."""

    @wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except FediaidError as exc:
            response = await domain_error(request, exc)
            response.headers["Vary"] = "Accept, Signature"
            response.headers["Cache-Control"] = "private, no-store"
            return response

    return wrapped


async def actor_json(request: Request, name: str, kind: ActorType) -> Response:
    """An actor document; in secure mode an unsigned fetch gets what verifying a key
    needs, and nothing more (as Mastodon)."""
    rt = runtime(request)
    doc = await rt.discovery.actor_document(name, kind)
    if await signer(request, required=False) is None and rt.authorized_fetch.secure_mode:
        doc = stripped_actor(doc)
    return ActivityJSON(doc, headers=headers(request))


@varies
async def actor(request: Request) -> Response:
    name = request.path_params["name"]
    rt = runtime(request)
    gone = await rt.member_data.tombstone(name) if _kind(request) is ActorType.PERSON else None
    if gone is not None:  # a deleted account (fediaid/services/member_data.py)
        return ActivityJSON(gone, status_code=410, headers={"Vary": "Accept"})
    if accepts_activitypub(request.headers.get("accept")):
        return await actor_json(request, name, _kind(request))
    await rt.discovery.local_actor(name, _kind(request))
    return RedirectResponse(f"/@{name}", status_code=303, headers={"Vary": "Accept"})


async def instance_actor(request: Request) -> Response:
    # Always JSON: servers fetch it unsigned to verify our signed fetches (no loops).
    return ActivityJSON(await runtime(request).discovery.instance_actor_document())


@varies
async def featured(request: Request) -> Response:
    await signer(request)
    doc = await runtime(request).discovery.featured(request.path_params["name"],
                                                    _kind(request))
    return ActivityJSON(doc, headers=headers(request))


@varies
async def collection(request: Request) -> Response:
    if request.path_params["which"] not in ("followers", "following", "outbox"):
        raise NotFound("Not found.")
    raw = request.query_params.get("page")
    page: int | None = None
    if raw is not None:
        if not raw.isdigit() or not 0 < int(raw) < 100000:
            raise Invalid("page must be a positive number.", field="page")
        page = int(raw)
    await signer(request)
    doc = await runtime(request).discovery.collection(
        request.path_params["name"], _kind(request), request.path_params["which"], page)
    return ActivityJSON(doc, headers=headers(request))


@varies
async def activity(request: Request) -> Response:
    rt = runtime(request)
    await signer(request)
    return ActivityJSON(await rt.discovery.public_activity(rt.settings.base_url +
                                                            request.url.path),
                        headers=headers(request))


@varies
async def obj(request: Request) -> Response:
    """An object; signed fetches count the requester's relationship to the group."""
    rt = runtime(request)
    url = rt.settings.base_url + request.url.path
    if not accepts_activitypub(request.headers.get("accept")):
        from starlette.responses import RedirectResponse as Redirect

        post_page = await rt.discovery.post_page_for(url)
        if post_page:
            return Redirect(post_page, status_code=303)
    who = await signer(request)
    return ActivityJSON(await rt.discovery.object_document(url, who),
                        headers=headers(request))
