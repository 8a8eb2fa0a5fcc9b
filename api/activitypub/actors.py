"""Actor documents, their collections, and public activities/objects, with content
negotiation: ActivityPub JSON for servers, an HTML page for people."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from activitypub.vocab import accepts_activitypub
from api.context import runtime
from api.responses import ActivityJSON
from fediaid.domain.actors import ActorType
from fediaid.errors import Invalid, NotFound


def _kind(request: Request) -> ActorType:
    return ActorType.GROUP if request.url.path.startswith("/groups/") else ActorType.PERSON


async def actor(request: Request) -> Response:
    name = request.path_params["name"]
    rt = runtime(request)
    gone = await rt.member_data.tombstone(name) if _kind(request) is ActorType.PERSON else None
    if gone is not None:  # a deleted account (fediaid/services/member_data.py)
        return ActivityJSON(gone, status_code=410, headers={"Vary": "Accept"})
    if accepts_activitypub(request.headers.get("accept")):
        return ActivityJSON(await rt.discovery.actor_document(name, _kind(request)),
                            headers={"Vary": "Accept"})
    await rt.discovery.local_actor(name, _kind(request))
    return RedirectResponse(f"/@{name}", status_code=303, headers={"Vary": "Accept"})


async def instance_actor(request: Request) -> Response:
    # Always JSON: servers fetch it unsigned to verify our signed fetches (no loops).
    return ActivityJSON(await runtime(request).discovery.instance_actor_document())


async def featured(request: Request) -> Response:
    doc = await runtime(request).discovery.featured(request.path_params["name"],
                                                    _kind(request))
    return ActivityJSON(doc)


async def collection(request: Request) -> Response:
    if request.path_params["which"] not in ("followers", "following", "outbox"):
        raise NotFound("Not found.")
    raw = request.query_params.get("page")
    page: int | None = None
    if raw is not None:
        if not raw.isdigit() or not 0 < int(raw) < 100000:
            raise Invalid("page must be a positive number.", field="page")
        page = int(raw)
    doc = await runtime(request).discovery.collection(
        request.path_params["name"], _kind(request), request.path_params["which"], page)
    return ActivityJSON(doc)


async def activity(request: Request) -> Response:
    rt = runtime(request)
    return ActivityJSON(await rt.discovery.public_activity(rt.settings.base_url +
                                                            request.url.path))


async def obj(request: Request) -> Response:
    """An object; signed fetches count the requester's relationship to the group."""
    rt = runtime(request)
    url = rt.settings.base_url + request.url.path
    if not accepts_activitypub(request.headers.get("accept")):
        from starlette.responses import RedirectResponse as Redirect

        post_page = await rt.discovery.post_page_for(url)
        if post_page:
            return Redirect(post_page, status_code=303)
    full = url + (f"?{request.url.query}" if request.url.query else "")
    signer = await rt.discovery.fetch_signer(method="GET", url=full, headers=request.headers)
    return ActivityJSON(await rt.discovery.object_document(url, signer),
                        headers={"Vary": "Accept, Signature"})
