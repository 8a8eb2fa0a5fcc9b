"""Text messages and the hotline, as pages: the providers' webhooks (``/sms/twilio``,
``/sms/android``: checked by their signatures, no session, no CSRF token), the coordinators'
gateway settings (``/admin/sms``), texts inbox (``/admin/texts``), hotline shift
(``/admin/hotline``), and the helper's page to text a neighbor a way to reach them
(``/conversations/{id}/text``).

Phone numbers appear only on the coordinators' texts and hotline pages. The rules are in
``fediaid/services/sms*.py`` and ``hotline.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from api.context import runtime
from api.errors import status_for
from api.web.forms import plain_message
from api.web.locale import reader
from api.web.render import form_handler, redirect, render, when
from api.web.session import check_csrf, require_permission, require_user
from fediaid.domain import sms_words
from fediaid.domain.roles import Permission
from fediaid.domain.sms import BODY_MAX, PROVIDER_WORDS, Provider, format_keywords
from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from fediaid.i18n import N_
from fediaid.services.hotline import KINDS

WEBHOOK_MAX = 64 * 1024
ADMIN_FIELDS = ("provider", "number", "account", "api_url")
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


# -- the providers' webhooks ------------------------------------------------------------------
async def webhook(request: Request) -> Response:
    """A provider tells us about texts. The URL checked against Twilio's signature is the
    one Twilio requested: our public base URL (``base_url``), not the address a reverse
    proxy passed on, plus the path and query string as received."""
    provider = str(request.path_params["provider"])
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > WEBHOOK_MAX:
        return PlainTextResponse("too large", status_code=413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > WEBHOOK_MAX:
            return PlainTextResponse("too large", status_code=413)
    rt = runtime(request)
    url = rt.settings.base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        await rt.sms.receive(provider, url=url, headers=headers, body=body)
    except Forbidden:
        return PlainTextResponse("signature does not match", status_code=403)
    except NotFound:
        return PlainTextResponse("not set up", status_code=404)
    except Invalid as exc:
        return PlainTextResponse(exc.public, status_code=400)
    if provider == Provider.TWILIO.value:
        # An empty TwiML answer: no reply now (answers leave from the queue).
        return Response(TWIML_EMPTY, media_type="text/xml")
    return Response("{}", media_type="application/json")


# -- the coordinators' settings ------------------------------------------------------------------
@form_handler
async def admin(request: Request) -> Response:
    user = await require_permission(request, Permission.GROUP_SETTINGS)
    rt = runtime(request)
    if request.method == "GET":
        return await _admin_page(request)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    action = form.get("action")
    values = {f: str(form.get(f) or "") for f in ADMIN_FIELDS}
    values["allow_private"] = "1" if form.get("allow_private") == "1" else ""
    try:
        if action == "save":
            await rt.sms_settings.save(
                user, provider=values["provider"], number=values["number"],
                account=values["account"], api_url=values["api_url"],
                allow_private=bool(values["allow_private"]),
                secret=str(form.get("secret") or "") or None,
                signing_key=str(form.get("signing_key") or "") or None)
            return redirect("/admin/sms", N_("Saved. Send a test text to check them."))
        if action == "keywords":
            await rt.sms_settings.set_keywords(user, str(form.get("keywords") or ""))
            return redirect("/admin/sms", N_("Saved the words."))
        if action == "test":
            await rt.sms.send_test(user, str(form.get("to") or ""))
            return redirect("/admin/sms", N_("The test text is on its way. If it does not "
                                             "arrive in a minute, see the queue below."))
        if action == "off":
            await rt.sms_settings.turn_off(user)
            return redirect("/admin/sms", N_("Text messages are off."))
    except Invalid as exc:
        field = exc.field if exc.field in (*ADMIN_FIELDS, "secret", "signing_key", "to",
                                           "keywords") else "_"
        return await _admin_page(request, status=400, values=values,
                                 keywords=str(form.get("keywords") or "") or None,
                                 errors={field: plain_message(exc)})
    except (Conflict, RateLimited) as exc:
        return await _admin_page(request, status=status_for(exc), values=values,
                                 errors={"_": exc.public})
    return redirect("/admin/sms")


async def _admin_page(request: Request, *, status: int = 200,
                      values: Mapping[str, str] | None = None, keywords: str | None = None,
                      errors: Mapping[str, str] | None = None) -> Response:
    rt = runtime(request)
    sms = await rt.sms_settings.current()
    shown = values or {"provider": sms.provider.value if sms.provider else "",
                       "number": sms.number, "account": sms.account, "api_url": sms.api_url,
                       "allow_private": "1" if sms.private_address else ""}
    profile = await rt.group_settings.profile()
    language = await rt.sms_settings.group_language()
    return await render(
        request, "admin_sms.html", status=status, values=shown, sms=sms,
        providers=[(p.value, PROVIDER_WORDS[p]) for p in Provider],
        webhooks={p.value: rt.sms_settings.webhook_url(p) for p in Provider},
        keywords=keywords if keywords is not None else format_keywords(
            await rt.sms_settings.extra_keywords()),
        help_text=sms_words.text("help", language, group=rt.settings.group_name,
                                 number=profile.hotline_number, hours=profile.hotline_hours),
        queue=await rt.sms.queue_counts(), last_error=await rt.sms.last_error(),
        errors=errors or {})


# -- the texts inbox ----------------------------------------------------------------------------
@form_handler
async def texts(request: Request) -> Response:
    user = await require_permission(request, Permission.INTAKE)
    rt = runtime(request)
    t = await reader(request)
    done = request.query_params.get("show") == "done"
    items = [{"id": i.id, "masked": i.masked, "post_id": i.post_id,
              "post_title": i.post_title, "unread": i.unread, "last": i.last,
              "when": when(i.updated_at, t)} for i in await rt.sms.threads(user, done=done)]
    return await render(request, "admin_texts.html", items=items, done=done,
                        configured=(await rt.sms_settings.current()).configured)


@form_handler
async def thread(request: Request) -> Response:
    user = await require_permission(request, Permission.INTAKE)
    rt = runtime(request)
    tid = int(request.path_params["id"])
    if request.method == "GET":
        return await _thread_page(request, user, tid)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    action = form.get("action")
    body = str(form.get("body") or "")
    try:
        if action == "send":
            await rt.sms.relay(user, tid, body)
            return redirect(f"/admin/texts/{tid}", N_("The text is on its way."))
        if action in ("done", "open"):
            await rt.sms.set_done(user, tid, action == "done")
            return redirect("/admin/texts", N_("Moved to Done.") if action == "done"
                            else N_("Moved back to the open conversations."))
        if action == "delete":
            await rt.sms.delete_thread(user, tid)
            return redirect("/admin/texts", N_("Deleted, with its texts and the number."))
    except Invalid as exc:
        return await _thread_page(request, user, tid, status=400, body=body,
                                  errors={"body": plain_message(exc)})
    except (Conflict, RateLimited) as exc:
        return await _thread_page(request, user, tid, status=status_for(exc), body=body,
                                  errors={"_": exc.public})
    return redirect(f"/admin/texts/{tid}")


async def _thread_page(request: Request, user: User, tid: int, *, status: int = 200,
                       body: str = "", errors: Mapping[str, str] | None = None) -> Response:
    rt = runtime(request)
    t = await reader(request)
    view = await rt.sms.thread(user, tid)
    shown = [{"mine": x.direction == "out", "body": x.body, "state": x.state,
              "when": when(x.created_at, t)} for x in view.texts]
    return await render(request, "admin_text_thread.html", status=status, v=view,
                        texts=shown, body=body, body_max=BODY_MAX, errors=errors or {})


@form_handler
async def thread_for_post(request: Request) -> Response:
    user = await require_permission(request, Permission.INTAKE)
    tid = await runtime(request).sms.thread_for_post(user, int(request.path_params["id"]))
    return redirect(f"/admin/texts/{tid}")


# -- a helper texts a neighbor a way to reach them ------------------------------------------------
@form_handler
async def contact(request: Request) -> Response:
    user = await require_user(request)
    rt = runtime(request)
    cid = int(request.path_params["id"])
    if request.method == "GET":
        return await _contact_page(request, user, cid)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    typed = str(form.get("contact") or "")
    try:
        await rt.sms.send_contact(user, cid, typed, confirm=form.get("confirm") == "1")
    except Invalid as exc:
        return await _contact_page(request, user, cid, status=400, typed=typed,
                                   errors={exc.field if exc.field in ("contact", "confirm")
                                           else "_": plain_message(exc)})
    except (Conflict, RateLimited) as exc:
        return await _contact_page(request, user, cid, status=status_for(exc), typed=typed,
                                   errors={"_": exc.public})
    return redirect(f"/conversations/{cid}", N_("Sent by text to the neighbor."))


async def _contact_page(request: Request, user: User, cid: int, *, status: int = 200,
                        typed: str = "", errors: Mapping[str, str] | None = None
                        ) -> Response:
    title = await runtime(request).sms.contact_form(user, cid)
    return await render(request, "sms_contact.html", status=status, cid=cid, title=title,
                        typed=typed, body_max=BODY_MAX, errors=errors or {})


# -- the hotline shift ------------------------------------------------------------------------
@form_handler
async def hotline(request: Request) -> Response:
    user = await require_permission(request, Permission.INTAKE)
    rt = runtime(request)
    if request.method == "GET":
        return await _hotline_page(request, user)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    action = form.get("action")
    values = {f: str(form.get(f) or "") for f in ("number", "name", "note", "kind")}
    try:
        if action == "note":
            await rt.hotline.note_call(user, **values)
            return redirect("/admin/hotline",
                            N_("Noted. It is on the list of calls to return."))
        if action in ("returned", "forget"):
            call_id = _form_id(form.get("call"))
            if action == "returned":
                await rt.hotline.returned(user, call_id)
                return redirect("/admin/hotline", N_("Marked as returned."))
            await rt.hotline.forget(user, call_id)
            return redirect("/admin/hotline", N_("Removed from the list."))
        if action == "told":
            await rt.hotline.told(user, _form_id(form.get("post")))
            return redirect("/admin/hotline", N_("Marked as told."))
    except Invalid as exc:
        field = exc.field if exc.field in ("number", "name", "note", "kind") else "_"
        return await _hotline_page(request, user, status=400, values=values,
                                   errors={field: plain_message(exc)})
    return redirect("/admin/hotline")


def _form_id(value: object) -> int:
    from fediaid.domain.ids import parse_id

    found = parse_id(str(value or ""))
    if found is None:
        raise NotFound(N_("Nothing with that number."))
    return found


async def _hotline_page(request: Request, user: User, *, status: int = 200,
                        values: Mapping[str, str] | None = None,
                        errors: Mapping[str, str] | None = None) -> Response:
    rt = runtime(request)
    t = await reader(request)
    calls: list[dict[str, Any]] = [
        {"id": c.call.id, "number": c.number, "tel": "tel:" + c.call.number,
         "name": c.call.name, "note": c.call.note, "kind": KINDS.get(c.call.kind, c.call.kind),
         "when": when(c.call.created_at, t), "returned": c.call.returned_at is not None}
        for c in await rt.hotline.calls(user)]
    callbacks = [{"post_id": c.post_id, "title": c.title, "kind": c.kind,
                  "by_text": c.channel == "sms", "answers": c.answers,
                  "newest": when(c.newest, t)} for c in await rt.hotline.callbacks(user)]
    return await render(request, "admin_hotline.html", status=status, calls=calls,
                        callbacks=callbacks, kinds=list(KINDS.items()),
                        values=values or {"kind": "voicemail"},
                        unread=await rt.sms.unread(user),
                        profile=await rt.group_settings.profile(), errors=errors or {})


ROUTES = (
    ("/sms/{provider:str}", webhook, ["POST"]),
    ("/admin/sms", admin, ["GET", "POST"]),
    ("/admin/texts", texts, ["GET"]),
    ("/admin/texts/{id:id}", thread, ["GET", "POST"]),
    ("/admin/texts/post/{id:id}", thread_for_post, ["GET"]),
    ("/admin/hotline", hotline, ["GET", "POST"]),
    ("/conversations/{id:id}/text", contact, ["GET", "POST"]),
)
