"""Answers to posts, accepting and declining them, and the private conversations that an
acceptance opens."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.fediaid_api import present
from api.fediaid_api.auth import READ, WRITE, member
from api.fediaid_api.parse import object_id, read_body
from api.responses import FastJSON


def _done() -> Response:
    return Response(status_code=204)


async def post_responses(request: Request) -> Response:
    user = await member(request, READ)
    found = await runtime(request).responses.for_post(user, object_id(request, "post"))
    return FastJSON([present.response(r) for r in found])


async def respond(request: Request) -> Response:
    user = await member(request, WRITE)
    post_id = object_id(request, "post")
    body = await read_body(request, "ResponseCreate")
    answer = await runtime(request).responses.respond(
        user, post_id, message=body.get("message", ""), quantity=body.get("quantity"))
    return FastJSON(present.response(answer), status_code=201)


async def accept(request: Request) -> Response:
    user = await member(request, WRITE)
    response_id = object_id(request, "response")
    body = await read_body(request, "Accept")
    rt = runtime(request)
    conv = await rt.responses.accept(user, response_id, quantity=body.get("quantity"))
    return FastJSON(present.conversation(rt, user, conv))


async def decline(request: Request) -> Response:
    user = await member(request, WRITE)
    response_id = object_id(request, "response")
    body = await read_body(request, "Decline")
    await runtime(request).responses.decline(user, response_id, note=body.get("note"))
    return _done()


async def withdraw(request: Request) -> Response:
    user = await member(request, WRITE)
    response_id = object_id(request, "response")
    await read_body(request, "Empty")
    await runtime(request).responses.withdraw(user, response_id)
    return _done()


async def conversations(request: Request) -> Response:
    user = await member(request, READ)
    rt = runtime(request)
    found = await rt.responses.conversations(user)
    return FastJSON([present.conversation(rt, user, c) for c in found])


async def conversation(request: Request) -> Response:
    user = await member(request, READ)
    rt = runtime(request)
    conv, messages = await rt.responses.messages(user, object_id(request, "conversation"))
    return FastJSON(present.conversation(rt, user, conv, messages))


async def send(request: Request) -> Response:
    user = await member(request, WRITE)
    conversation_id = object_id(request, "conversation")
    body = await read_body(request, "MessageCreate")
    sent = await runtime(request).responses.send(user, conversation_id, body["body"])
    return FastJSON(present.message(sent, me=sent.sender_actor_id), status_code=201)


async def reopen(request: Request) -> Response:
    user = await member(request, WRITE)
    conversation_id = object_id(request, "conversation")
    await read_body(request, "Empty")
    await runtime(request).responses.reopen(user, conversation_id)
    return _done()
