"""The OpenAPI 3.1 description of ``/api/fediaid/v1``, written as data.

It is the contract: ``parse.check`` reads the request schemas below to check JSON types,
required and unknown fields, so the document and the handlers cannot drift apart on those;
lengths, choices and formats are the services' rules, copied here (the constants come from
``fediaid.domain.posts``) and pinned by ``tests/api/test_fediaid_api_schemathesis.py``.
"""

from __future__ import annotations

from typing import Any

from fediaid.domain.posts import (
    AREA_MAX,
    DESCRIPTION_MAX,
    MESSAGE_MAX,
    TITLE_MAX,
    UNIT_MAX,
    State,
    Urgency,
    Visibility,
)

Schema = dict[str, Any]

ID_PATTERN = "^[0-9]+$"
QUERY_TEXT_MAX = 200
CATEGORY_MAX = 64
RECIPIENT_MAX = 2048
NOTE_MAX = 500
INTAKE_NAME_MAX = 128
INTAKE_CALLBACK_MAX = 64
INTAKE_NOTES_MAX = 2000
CAP_MAX = 100
STATES = "|".join(s.value for s in State)
OUTCOMES = [State.FULFILLED.value, State.PARTLY_FULFILLED.value, State.WITHDRAWN.value]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable_enum(values: list[str], description: str) -> Schema:
    return {"type": ["string", "null"], "enum": [*values, None], "description": description}


TIME: Schema = {"type": "string", "format": "date-time",
                "description": "ISO 8601 in UTC, ending in Z."}
MAYBE_TIME: Schema = {"type": ["string", "null"], "format": "date-time",
                      "description": "ISO 8601 in UTC, ending in Z, or null."}
ID: Schema = {"type": "string", "pattern": ID_PATTERN}
QUANTITY_OUT: Schema = {"type": ["string", "null"], "pattern": r"^[0-9]+(\.[0-9]{1,3})?$",
                        "description": "A decimal number as a string, or null."}
QUANTITY_IN: Schema = {
    "type": ["string", "number", "null"],
    "exclusiveMinimum": 0, "maximum": 1_000_000,
    "maxLength": 32, "pattern": r"^\s*([0-9]*\.?[0-9]+)?\s*$",
    "description": "More than 0 and at most 1,000,000; a number or a string like \"1.5\". "
                   "Rounded to 3 decimals. Null or \"\": no quantity.",
}
TEXT_NOTE = "Text may not contain unpaired surrogates (RFC 7493)."

POST_FIELDS: Schema = {
    "kind": {"type": "string", "enum": ["offer", "need"]},
    "title": {"type": ["string", "null"], "maxLength": TITLE_MAX,
              "description": "Optional when a description is given: its first sentence "
                             "becomes the title."},
    "description": {"type": ["string", "null"], "maxLength": DESCRIPTION_MAX},
    "category": {"type": ["string", "null"], "maxLength": CATEGORY_MAX,
                 "description": "One of GET /categories; default other."},
    "quantity": QUANTITY_IN,
    "unit": {"type": ["string", "null"], "maxLength": UNIT_MAX,
             "description": "Default: one."},
    "area": {"type": ["string", "null"], "maxLength": AREA_MAX,
             "description": "One of GET /areas or a postal area; never a street address."},
    "starts_at": {"type": ["string", "null"], "format": "date-time",
                  "description": "ISO 8601 with a time zone."},
    "ends_at": {"type": ["string", "null"], "format": "date-time",
                "description": "ISO 8601 with a time zone; not before starts_at."},
    "urgency": _nullable_enum([u.value for u in Urgency], "Default: normal."),
    "visibility": _nullable_enum([v.value for v in Visibility],
                                 "Default: the group's default visibility."),
    "recipients": {"type": ["array", "null"],
                   "items": {"type": "string", "format": "uri", "maxLength": RECIPIENT_MAX},
                   "description": "Actor URIs; required (non-empty) for direct posts."},
    "confirm": {"type": "boolean",
                "description": "Publish despite privacy warnings (see the 422 answer)."},
    "forward": {"type": ["boolean", "null"],
                "description": "Needs only: offer it to linked groups if nobody here answers "
                               "in time (true), never (false), or as the group's default "
                               "(null; docs/network.md)."},
}

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object", "required": ["error"], "additionalProperties": False,
        "properties": {"error": {"type": "string", "description": "Plain words."},
                       "field": {"type": "string", "description": "The field at fault."}},
    },
    "ConfirmationNeeded": {
        "type": "object", "additionalProperties": False,
        "required": ["error", "field", "warnings", "confirm_with"],
        "properties": {
            "error": {"type": "string"}, "field": {"type": "string"},
            "warnings": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["field", "message"],
                "additionalProperties": False,
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
            "confirm_with": {"type": "object", "required": ["confirm"],
                             "additionalProperties": False,
                             "properties": {"confirm": {"const": True}}},
        },
    },
    "Actor": {"type": "object", "required": ["uri"], "additionalProperties": False,
              "properties": {"uri": {"type": "string", "format": "uri"}}},
    "Post": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "uri", "kind", "title", "description", "category", "quantity",
                     "unit", "area", "starts_at", "ends_at", "urgency", "visibility",
                     "state", "local", "held", "author", "created_at", "updated_at",
                     "expires_at", "closed_at"],
        "properties": {
            "id": ID, "uri": {"type": "string", "format": "uri"},
            "kind": {"type": "string", "enum": ["offer", "need"]},
            "title": {"type": "string"}, "description": {"type": "string"},
            "category": {"type": "string"}, "quantity": QUANTITY_OUT,
            "unit": {"type": "string"}, "area": {"type": ["string", "null"]},
            "starts_at": MAYBE_TIME, "ends_at": MAYBE_TIME,
            "urgency": {"type": "string", "enum": [u.value for u in Urgency]},
            "visibility": {"type": "string", "enum": [v.value for v in Visibility]},
            "state": {"type": "string", "enum": [s.value for s in State]},
            "local": {"type": "boolean"},
            "held": {"type": "boolean", "description": "Waiting for a coordinator."},
            "author": {**_ref("Actor"), "description": "Who the world sees: for anonymous "
                       "and proxy posts, the group."},
            "creator": {"type": "string", "description": "The username of who really "
                        "posted it: only when the viewer may know (for anonymous and proxy "
                        "posts: coordinators and the asker)."},
            "recipients": {"type": "array", "items": {"type": "string"},
                           "description": "Only for whoever manages the post."},
            "anonymous": {"type": "boolean", "description": "Only for whoever manages it."},
            "proxy": {"type": "boolean", "description": "Only for whoever manages it."},
            "forwarded_by": {
                "type": "object", "additionalProperties": False,
                "required": ["name", "uri", "handle"],
                "description": "Only on a need a linked group could not meet and offered "
                               "this group: that group (its author is on the same server).",
                "properties": {"name": {"type": "string"},
                               "uri": {"type": "string", "format": "uri"},
                               "handle": {"type": "string"}}},
            "created_at": TIME, "updated_at": TIME, "expires_at": MAYBE_TIME,
            "closed_at": MAYBE_TIME,
        },
    },
    "PostCreate": {
        "type": "object", "additionalProperties": False, "required": ["kind"],
        "description": "kind and a sentence (title or description) are enough. " + TEXT_NOTE,
        "properties": {**POST_FIELDS, "as_neighbor": {
            "type": "boolean", "description": "Post anonymously: the world sees the group "
                                              "as author."}},
    },
    "PostEdit": {
        "type": "object", "additionalProperties": False,
        "description": "Only the fields given change; kind cannot. " + TEXT_NOTE,
        "properties": POST_FIELDS,
    },
    "IntakeCreate": {
        "type": "object", "additionalProperties": False, "required": ["kind", "intake"],
        "description": "A need that came by phone or paper, recorded by a coordinator and "
                       "attributed to the group. " + TEXT_NOTE,
        "properties": {**POST_FIELDS, "intake": _ref("IntakeFields")},
    },
    "IntakeFields": {
        "type": "object", "additionalProperties": False, "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": INTAKE_NAME_MAX},
            "callback": {"type": ["string", "null"], "maxLength": INTAKE_CALLBACK_MAX},
            "notes": {"type": ["string", "null"], "maxLength": INTAKE_NOTES_MAX},
        },
    },
    "IntakeRecord": {
        "type": "object", "additionalProperties": False,
        "required": ["post_id", "name", "callback", "notes", "created_at"],
        "properties": {"post_id": ID, "name": {"type": "string"},
                       "callback": {"type": ["string", "null"]},
                       "notes": {"type": ["string", "null"]}, "created_at": MAYBE_TIME},
    },
    "Close": {
        "type": "object", "additionalProperties": False, "required": ["outcome"],
        "properties": {"outcome": {"type": "string", "enum": OUTCOMES}},
    },
    "ResponseCreate": {
        "type": "object", "additionalProperties": False,
        "properties": {"message": {"type": ["string", "null"], "maxLength": MESSAGE_MAX},
                       "quantity": QUANTITY_IN},
    },
    "Accept": {
        "type": "object", "additionalProperties": False,
        "properties": {"quantity": {**QUANTITY_IN, "description": "Accept part of what was "
                                    "offered (at most that)."}},
    },
    "Decline": {
        "type": "object", "additionalProperties": False,
        "properties": {"note": {"type": ["string", "null"], "maxLength": NOTE_MAX}},
    },
    "Empty": {"type": "object", "additionalProperties": False, "properties": {}},
    "Response": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "uri", "post_id", "responder", "message", "quantity", "state",
                     "note", "created_at"],
        "properties": {
            "id": ID, "uri": {"type": "string", "format": "uri"}, "post_id": ID,
            "responder": _ref("Actor"), "message": {"type": "string"},
            "quantity": QUANTITY_OUT,
            "state": {"type": "string",
                      "enum": ["pending", "accepted", "declined", "withdrawn", "completed"]},
            "note": {"type": ["string", "null"]}, "created_at": TIME,
        },
    },
    "Conversation": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "post_id", "response_id", "you_are", "closed", "created_at",
                     "closed_at", "reopened_at"],
        "properties": {
            "id": ID, "post_id": ID, "response_id": ID,
            "you_are": {"type": "string", "enum": ["helper", "other"]},
            "closed": {"type": "boolean", "description": "Closed with the post: only the "
                       "helper can write (which reopens it)."},
            "created_at": TIME, "closed_at": MAYBE_TIME, "reopened_at": MAYBE_TIME,
            "messages": {"type": "array", "items": _ref("Message")},
        },
    },
    "Message": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "uri", "conversation_id", "sender", "from_you", "body",
                     "created_at"],
        "properties": {"id": ID, "uri": {"type": "string", "format": "uri"},
                       "conversation_id": ID, "sender": _ref("Actor"),
                       "from_you": {"type": "boolean"}, "body": {"type": "string"},
                       "created_at": TIME},
    },
    "MessageCreate": {
        "type": "object", "additionalProperties": False, "required": ["body"],
        "properties": {"body": {"type": "string", "minLength": 1, "maxLength": MESSAGE_MAX}},
    },
    "Limits": {
        "type": "object", "additionalProperties": False, "required": ["weekly_response_cap"],
        "properties": {"weekly_response_cap": {
            "type": ["integer", "null"], "minimum": 1, "maximum": CAP_MAX,
            "description": "How many answers you take on per week; null: no limit."}},
    },
    "Choice": {"type": "object", "additionalProperties": False, "required": ["slug", "label"],
               "properties": {"slug": {"type": "string"}, "label": {"type": "string"}}},
    "AuditEntry": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "created_at", "actor", "action", "target_kind", "target_id",
                     "summary", "detail"],
        "properties": {
            "id": ID, "created_at": TIME,
            "actor": {"type": "string", "description": "Who acted, with their role then "
                      "(\"coordinator ana\"), or the server operator (command line)."},
            "action": {"type": "string", "description": "What kind of action "
                       "(fediaid/domain/audit.py), e.g. role_changed, intake_opened."},
            "target_kind": {"type": "string", "description": "post, status, account, actor, "
                            "domain, report or setting."},
            "target_id": {"type": ["string", "null"]},
            "summary": {"type": "string", "description": "The entry in plain words; never "
                        "holds intake details, contact details, passwords, tokens, report "
                        "comments or who reported."},
            "detail": {"type": ["string", "null"], "description": "A private reason, for "
                       "coordinators only; null for everyone else."},
        },
    },
}

# -- operations ----------------------------------------------------------------------------
ERRORS = {
    400: "Invalid input; field names it.",
    401: "No or bad credentials.",
    403: "Not allowed (missing scope, missing X-CSRF-Token, or not yours to do).",
    404: "No such thing, or it is not shared with you.",
    409: "Clashes with the current state (closed, already answered, weekly limit).",
    413: "The request body is too large.",
    415: "The request body is not JSON.",
}
READ_AUTH: list[Schema] = [{"bearer": ["read"]}, {"session": []}]
WRITE_AUTH: list[Schema] = [{"bearer": ["write"]}, {"session": []}]
PUBLIC_READ: list[Schema] = [{}, *READ_AUTH]
LOCATION = {"Location": {"description": "Where the new post lives.",
                         "schema": {"type": "string"}}}


def _json(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


def _op(summary: str, *, ok: int, body: Schema | None, errors: tuple[int, ...],
        security: list[Schema] | None, request: str | None = None,
        request_required: bool = True, confirm: bool = False,
        headers: Schema | None = None, params: list[Schema] | None = None,
        description: str | None = None) -> Schema:
    responses: Schema = {}
    ok_desc = {200: "OK.", 201: "Created.", 204: "Done (no content)."}[ok]
    responses[str(ok)] = {"description": ok_desc, **(_json(body) if body else {})}
    if headers:
        responses[str(ok)]["headers"] = headers
    for code in errors:
        responses[str(code)] = {"description": ERRORS[code], **_json(_ref("Error"))}
    if confirm:
        responses["422"] = {"description": "Privacy warnings: nothing was saved; send the "
                            "same request again with confirm: true to publish anyway.",
                            **_json(_ref("ConfirmationNeeded"))}
    op: Schema = {"summary": summary, "responses": responses}
    if description:
        op["description"] = description
    if security is not None:
        op["security"] = security
    if params:
        op["parameters"] = params
    if request:
        op["requestBody"] = {"required": request_required, **_json(_ref(request))}
    return op


def _path_id(what: str) -> Schema:
    return {"name": "id", "in": "path", "required": True, "description": f"The {what}'s id.",
            "schema": ID}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _array(name: str) -> Schema:
    return {"type": "array", "items": _ref(name)}


READ_ERRORS = (401, 403)
WRITE_ERRORS = (400, 401, 403, 413, 415)
LIST_PARAMS = [
    _query("kind", {"type": "string", "enum": ["offer", "need"]}, "Only offers or needs."),
    _query("category", {"type": "string", "maxLength": CATEGORY_MAX}, "A category slug."),
    _query("area", {"type": "string", "maxLength": AREA_MAX}, "An area."),
    _query("state", {"type": "string", "pattern": f"^({STATES})(,({STATES}))*$"},
           "Comma-separated states; default open,promised. One of: "
           + ", ".join(s.value for s in State) + "."),
    _query("q", {"type": "string", "maxLength": QUERY_TEXT_MAX},
           "Words in the title or description."),
    _query("order", {"type": "string", "enum": ["newest", "urgent"]},
           "newest (default; pages with before) or urgent (most urgent and soonest first; "
           "one page)."),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "Default 20."),
    _query("before", ID, "Posts older than this id (the Link header's next page)."),
]

PATHS: dict[str, Schema] = {
    "/posts": {
        "get": _op("Offers and needs the viewer may see", ok=200, body=_array("Post"),
                   errors=(400, *READ_ERRORS), security=PUBLIC_READ, params=LIST_PARAMS,
                   headers={"Link": {"description": "rel=\"next\": the next page, when "
                                     "there may be one (order=newest).",
                                     "schema": {"type": "string"}}}),
        "post": _op("Post an offer or a need", ok=201, body=_ref("Post"),
                    errors=WRITE_ERRORS, security=WRITE_AUTH, request="PostCreate",
                    confirm=True, headers=LOCATION),
    },
    "/posts/{id}": {
        "parameters": [_path_id("post")],
        "get": _op("One post", ok=200, body=_ref("Post"), errors=(*READ_ERRORS, 404),
                   security=PUBLIC_READ),
        "patch": _op("Edit an open post of yours", ok=200, body=_ref("Post"),
                     errors=(*WRITE_ERRORS, 404), security=WRITE_AUTH, request="PostEdit",
                     confirm=True),
    },
    "/posts/{id}/close": {
        "parameters": [_path_id("post")],
        "post": _op("Close a post of yours", ok=200, body=_ref("Post"),
                    errors=(*WRITE_ERRORS, 404, 409), security=WRITE_AUTH, request="Close"),
    },
    "/posts/{id}/responses": {
        "parameters": [_path_id("post")],
        "get": _op("Answers to a post you manage", ok=200, body=_array("Response"),
                   errors=(*READ_ERRORS, 404), security=READ_AUTH),
        "post": _op("Answer a post (\"I can help\" / \"I'd like this\")", ok=201,
                    body=_ref("Response"), errors=(*WRITE_ERRORS, 404, 409),
                    security=WRITE_AUTH, request="ResponseCreate", request_required=False),
    },
    "/posts/{id}/intake": {
        "parameters": [_path_id("post")],
        "get": _op("The intake record of a proxy post (coordinators)", ok=200,
                   body=_ref("IntakeRecord"), errors=(*READ_ERRORS, 404),
                   security=READ_AUTH),
    },
    "/intake": {
        "post": _op("Record a need on a neighbor's behalf (coordinators)", ok=201,
                    body=_ref("Post"), errors=WRITE_ERRORS, security=WRITE_AUTH,
                    request="IntakeCreate", confirm=True, headers=LOCATION),
    },
    "/responses/{id}/accept": {
        "parameters": [_path_id("response")],
        "post": _op("Accept an answer (all or part): opens a conversation", ok=200,
                    body=_ref("Conversation"), errors=(*WRITE_ERRORS, 404, 409),
                    security=WRITE_AUTH, request="Accept", request_required=False),
    },
    "/responses/{id}/decline": {
        "parameters": [_path_id("response")],
        "post": _op("Decline an answer", ok=204, body=None,
                    errors=(*WRITE_ERRORS, 404, 409), security=WRITE_AUTH,
                    request="Decline", request_required=False),
    },
    "/responses/{id}/withdraw": {
        "parameters": [_path_id("response")],
        "post": _op("Take back your answer", ok=204, body=None,
                    errors=(*WRITE_ERRORS, 404, 409), security=WRITE_AUTH,
                    request="Empty", request_required=False),
    },
    "/conversations": {
        "get": _op("Your conversations", ok=200, body=_array("Conversation"),
                   errors=READ_ERRORS, security=READ_AUTH),
    },
    "/conversations/{id}": {
        "parameters": [_path_id("conversation")],
        "get": _op("A conversation with its messages", ok=200, body=_ref("Conversation"),
                   errors=(*READ_ERRORS, 404), security=READ_AUTH),
    },
    "/conversations/{id}/messages": {
        "parameters": [_path_id("conversation")],
        "post": _op("Write in a conversation", ok=201, body=_ref("Message"),
                    errors=(*WRITE_ERRORS, 404), security=WRITE_AUTH,
                    request="MessageCreate",
                    description="Once the post is closed only the helper can write; "
                                "doing so reopens contact."),
    },
    "/conversations/{id}/reopen": {
        "parameters": [_path_id("conversation")],
        "post": _op("Reopen contact after a close (the helper only)", ok=204, body=None,
                    errors=(*WRITE_ERRORS, 404), security=WRITE_AUTH, request="Empty",
                    request_required=False),
    },
    "/categories": {
        "get": _op("The group's categories in use, in the group's order", ok=200,
                   body=_array("Choice"), errors=(), security=[{}]),
    },
    "/areas": {
        "get": _op("The group's neighborhoods (postal areas are accepted too)", ok=200,
                   body=_array("Choice"), errors=(), security=[{}]),
    },
    "/me/limits": {
        "get": _op("Your weekly limit of answers taken on", ok=200, body=_ref("Limits"),
                   errors=READ_ERRORS, security=READ_AUTH),
        "put": _op("Set your weekly limit of answers taken on", ok=200, body=_ref("Limits"),
                   errors=WRITE_ERRORS, security=WRITE_AUTH, request="Limits"),
    },
    "/audit": {
        "get": _op("The group's audit log: what coordinators did, newest first (members)",
                   ok=200, body=_array("AuditEntry"), errors=(400, *READ_ERRORS),
                   security=READ_AUTH,
                   params=[_query("limit", {"type": "integer", "minimum": 1, "maximum": 100},
                                  "Default 20."),
                           _query("before", ID, "Entries older than this id (the Link "
                                  "header's next page).")],
                   headers={"Link": {"description": "rel=\"next\": older entries, when "
                                     "there may be some.", "schema": {"type": "string"}}}),
    },
    "/openapi.json": {
        "get": _op("This document", ok=200, body={"type": "object"}, errors=(),
                   security=[{}]),
    },
}

DOCUMENT: Schema = {
    "openapi": "3.1.0",
    "info": {
        "title": "fediaid API", "version": "1",
        "description": "Offers and needs of a mutual aid group, the answers to them and the "
                       "private conversations that follow. JSON in and out; every error is "
                       "{\"error\": \"plain words\", \"field\"?: name}.",
    },
    "servers": [{"url": "/api/fediaid/v1"}],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "An access token (fediaid admin token NAME --scopes "
                                      "read write): read for GETs, write for changes."},
            "session": {"type": "apiKey", "in": "cookie", "name": "fediaid_session",
                        "description": "The web pages' session. Requests that change "
                                       "something must also send X-CSRF-Token: the "
                                       "session's form token."},
        },
    },
}
