"""Offers and needs: list, post, read, edit, close; proxy intake and its record."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.fediaid_api import present
from api.fediaid_api.auth import READ, WRITE, caller, member
from api.fediaid_api.confirm import confirmable
from api.fediaid_api.openapi import CATEGORY_MAX, QUERY_TEXT_MAX
from api.fediaid_api.parse import MAX_ID, object_id, query_int, query_text, read_body
from api.responses import FastJSON
from fediaid.domain.posts import AREA_MAX, Kind, State
from fediaid.errors import Invalid, NotFound
from fediaid.services.posts import Filters, Intake

FLAGS = ("confirm", "as_neighbor")
INTAKE_FIELDS = ("name", "callback", "notes")


def _filters(request: Request) -> Filters:
    kind = request.query_params.get("kind") or None
    if kind is not None and kind not in {k.value for k in Kind}:
        raise Invalid("kind must be offer or need.", field="kind")
    states: tuple[State, ...] = (State.OPEN, State.PROMISED)
    raw_states = request.query_params.get("state")
    if raw_states:
        try:
            states = tuple(dict.fromkeys(State(s.strip()) for s in raw_states.split(",")))
        except ValueError as exc:
            raise Invalid("state must be a comma-separated list of: "
                          + ", ".join(s.value for s in State) + ".", field="state") from exc
    order = request.query_params.get("order") or "newest"
    if order not in ("newest", "urgent"):
        raise Invalid("order must be newest or urgent.", field="order")
    limit = query_int(request, "limit", default=20, low=1, high=100)
    return Filters(kind=Kind(kind) if kind else None,
                   category=query_text(request, "category", max_len=CATEGORY_MAX),
                   area=query_text(request, "area", max_len=AREA_MAX), states=states,
                   text=query_text(request, "q", max_len=QUERY_TEXT_MAX), order=order,
                   limit=limit or 20,
                   before_id=query_int(request, "before", default=None, low=1, high=MAX_ID))


def _next_link(request: Request, last_id: int) -> str:
    base = runtime(request).settings.base_url
    url = request.url.include_query_params(before=str(last_id))
    return f'<{base}{url.path}?{url.query}>; rel="next"'


async def list_posts(request: Request) -> Response:
    who = await caller(request, READ)
    filters = _filters(request)
    rt = runtime(request)
    found = await rt.posts.search(who.viewer, filters)
    body = [await present.post(rt, who, p) for p in found]
    headers = {}
    if filters.order == "newest" and found and len(found) == filters.limit:
        headers["Link"] = _next_link(request, found[-1].id)
    return FastJSON(body, headers=headers)


def _created(request: Request, post_json: dict[str, Any]) -> Response:
    location = f"{runtime(request).settings.base_url}{present.PREFIX}/posts/{post_json['id']}"
    return FastJSON(post_json, status_code=201, headers={"Location": location})


@confirmable
async def create_post(request: Request) -> Response:
    who = await caller(request, WRITE)
    user = who.member
    body = await read_body(request, "PostCreate")
    fields = {k: v for k, v in body.items() if k not in FLAGS}
    rt = runtime(request)
    post = await rt.posts.create(user, fields, confirm=body.get("confirm", False),
                                 as_neighbor=body.get("as_neighbor", False))
    return _created(request, await present.post(rt, who, post))


async def get_post(request: Request) -> Response:
    who = await caller(request, READ)
    rt = runtime(request)
    post = await rt.posts.get(who.viewer, object_id(request, "post"))
    return FastJSON(await present.post(rt, who, post))


@confirmable
async def edit_post(request: Request) -> Response:
    who = await caller(request, WRITE)
    user = who.member
    post_id = object_id(request, "post")
    body = await read_body(request, "PostEdit")
    fields = {k: v for k, v in body.items() if k not in FLAGS}
    rt = runtime(request)
    post = await rt.posts.edit(user, post_id, fields, confirm=body.get("confirm", False))
    return FastJSON(await present.post(rt, who, post))


async def close_post(request: Request) -> Response:
    who = await caller(request, WRITE)
    user = who.member
    post_id = object_id(request, "post")
    body = await read_body(request, "Close")
    rt = runtime(request)
    post = await rt.posts.close(user, post_id, body["outcome"])
    return FastJSON(await present.post(rt, who, post))


@confirmable
async def create_intake(request: Request) -> Response:
    who = await caller(request, WRITE)
    user = who.member
    body = await read_body(request, "IntakeCreate")
    fields = {k: v for k, v in body.items() if k not in (*FLAGS, "intake")}
    record = body["intake"]
    intake = Intake(name=record["name"], callback=record.get("callback"),
                    notes=record.get("notes"))
    rt = runtime(request)
    try:
        post = await rt.posts.create(user, fields, confirm=body.get("confirm", False),
                                     intake=intake)
    except Invalid as exc:
        if exc.field in INTAKE_FIELDS:  # the service names them without their object
            raise Invalid(exc.public, field=f"intake.{exc.field}") from exc
        raise
    return _created(request, await present.post(rt, who, post))


async def intake_record(request: Request) -> Response:
    user = await member(request, READ)
    post_id = object_id(request, "post")
    record = await runtime(request).posts.intake_record(user, post_id)
    if record is None:
        raise NotFound("No intake record for that post.")
    return FastJSON(present.intake(post_id, record))
