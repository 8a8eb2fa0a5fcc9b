"""Offers and needs as pages: the list on the home page, posting (and posting on someone's
behalf after a phone call), one post with its answers, editing and closing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api.context import one_read, runtime
from api.web.forms import (
    INTAKE_FIELDS,
    POST_FIELDS,
    draft_data,
    field_errors,
    form_context,
    plain_message,
    typed,
    values_of,
)
from api.web.locale import reader
from api.web.render import (
    amount,
    day,
    display_name,
    form_handler,
    iso,
    labels,
    now_words,
    post_item,
    redirect,
    render,
    when,
)
from api.web.session import check_csrf, current_user, require_coordinator, require_user
from fediaid.domain.audience import anonymity_words
from fediaid.domain.group_profile import said_description
from fediaid.domain.posts import Kind, Post, ResponseState, builtin_label, suggested_category
from fediaid.domain.roles import Permission
from fediaid.domain.users import User
from fediaid.errors import FediaidError, Forbidden, Invalid, NotFound
from fediaid.i18n import N_, Message, Reader
from fediaid.services.posts import Filters, Intake, NeedsConfirmation
from fediaid.services.runtime import Runtime

PAGE_SIZE = 30


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _post_id(request: Request) -> int:
    return int(request.path_params["id"])


def _login_first(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(f"/login?next={_quote(target)}")


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="/")


# -- home: the group, and the current offers and needs ---------------------------------

@one_read
async def home(request: Request) -> Response:
    rt = runtime(request)
    user = await current_user(request)
    q = request.query_params
    t = await reader(request)
    names = await labels(rt, t)
    kind = q.get("kind") if q.get("kind") in (Kind.NEED.value, Kind.OFFER.value) else ""
    category = q.get("category", "") if q.get("category", "") in dict(names.categories) else ""
    area = q.get("area", "").strip()[:64]
    text = q.get("q", "").strip()[:100]
    order = "urgent" if q.get("order") == "urgent" else "newest"
    before = _int(q.get("before"))
    viewer = await rt.posts.viewer_for_user(user)
    found = await rt.posts.search(viewer, Filters(
        kind=Kind(kind) if kind else None, category=category or None, area=area or None,
        text=text or None, order=order, limit=PAGE_SIZE,
        before_id=before if order == "newest" else None))
    more = ""
    if order == "newest" and len(found) == PAGE_SIZE:
        params = {"kind": kind, "category": category, "area": area, "q": text,
                  "before": str(found[-1].id)}
        more = "/?" + "&".join(f"{k}={_quote(v)}" for k, v in params.items() if v)
    notes = []
    for n in await rt.notes.recent_group_notes():
        published = n["published"] if isinstance(n["published"], datetime) else None
        notes.append({"content": n["content"], "published_iso": iso(published),
                      "published_text": when(published, t)})
    return await render(
        request, "home.html", group=rt.identity.group, notes=notes, area_name=rt.settings.area,
        forwarded=await _from_linked_groups(rt, viewer, names, t),
        summary=t(said_description(rt.identity.group.summary or "")),
        profile=await rt.group_settings.profile(),
        items=[post_item(rt, p, names, t) for p in found], more=more,
        filters={"kind": kind, "category": category, "area": area, "q": text, "order": order},
        filtering=bool(kind or category or area or text or order != "newest"),
        categories=names.category_choices(), areas=names.areas)


async def _from_linked_groups(rt: Runtime, viewer: Any, names: Any, t: Reader
                              ) -> list[dict[str, Any]]:
    """Needs linked groups could not meet and offered this group (issue 12), for members:
    each with the group it comes from (services/forwarding.py)."""
    if not viewer.member:
        return []
    out = []
    for received in await rt.forwarding.from_linked_groups(limit=20):
        try:
            post = await rt.posts.get(viewer, received.post_id)
        except NotFound:
            continue
        out.append(post_item(rt, post, names, t) | {"from_group": received.group_name,
                                                    "from_handle": received.group_handle})
    return out


# -- posting ----------------------------------------------------------------------------

async def new_post(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return _login_first(request)
    if request.method == "GET":
        kind = request.query_params.get("kind", "")
        values = {"kind": kind if kind in (Kind.NEED.value, Kind.OFFER.value) else ""}
        return await _post_form(request, "post_new.html", values)
    return await _submit_new(request, user, intake=False)


async def intake(request: Request) -> Response:
    """A coordinator records a need that came by phone or on paper."""
    user = await require_coordinator(request)
    if request.method == "GET":
        return await _post_form(request, "intake.html", {"kind": Kind.NEED.value})
    return await _submit_new(request, user, intake=True)


async def _post_form(request: Request, template: str, values: dict[str, str], *,
                     errors: dict[str, str] | None = None, status: int = 200,
                     **extra: Any) -> Response:
    rt = runtime(request)
    t = await reader(request)
    policy = await rt.posts.policy()
    errors = errors or {}
    if extra.get("warnings") and not values.get("category") and values.get("description"):
        # The confirm step: the category suggested from the words is chosen in the form
        # (no JavaScript); the author can change it before publishing.
        values = {**values, "category": suggested_category(
            values.get("title", ""), values["description"], policy)}
    if not values.get("visibility"):
        values = {**values, "visibility": policy.default_visibility.value}
    return await render(request, template, status=status, values=values, errors=errors,
                        now=now_words(t), zone=t.zone_words(),
                        forwarding=await rt.forwarding.settings_now(),
                        **form_context(policy, await labels(rt, t), values, errors),
                        **extra)


@form_handler
async def _submit_new(request: Request, user: User, *, intake: bool) -> Response:
    rt = runtime(request)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    fields = POST_FIELDS + (INTAKE_FIELDS if intake else ())
    values = typed(form, fields)
    template = "intake.html" if intake else "post_new.html"
    t = await reader(request)
    try:
        data = await draft_data(rt, values, t)
        record = Intake(name=values["name"], callback=values["callback"] or None,
                        notes=values["notes"] or None) if intake else None
        if intake and not values["name"].strip():
            raise Invalid(N_("Please write their name or a nickname."), field="name")
        post = await rt.posts.create(user, data, confirm=form.get("confirm") == "1",
                                     as_neighbor=bool(values["as_neighbor"]) and not intake,
                                     intake=record, suggest=True)
    except NeedsConfirmation as exc:
        return await _post_form(request, template, values, status=200,
                                warnings=_warnings(exc, t),
                                suggest_private=any(w.field == "visibility"
                                                    for w in exc.warnings))
    except Invalid as exc:
        return await _post_form(request, template, values, status=400,
                                errors=field_errors(exc, values))
    message: str = N_("Published. Thank you!") if not intake else N_(
        "Recorded and published for your neighbor.")
    if not values["category"] and post.category != "other":
        label = (await labels(rt)).category(post.category)
        message = Message(N_("{published} Category: {label} (suggested from your words; to "
                             "change it, choose Change it)."),
                          {"published": Message(message, {}),
                           "label": Message(label, {}) if builtin_label(post.category, label)
                           else label})
    return redirect(f"/posts/{post.id}", message)


def _warnings(exc: NeedsConfirmation, t: Reader) -> list[str]:
    return list(dict.fromkeys(t(w.message) for w in exc.warnings))


# -- one post ---------------------------------------------------------------------------

async def show_post(request: Request) -> Response:
    return await _show(request, _post_id(request))


async def _show(request: Request, pid: int, *, status: int = 200, **extra: Any) -> Response:
    rt = runtime(request)
    user = await current_user(request)
    viewer = await rt.posts.viewer_for_user(user)
    post = await rt.posts.get(viewer, pid)
    t = await reader(request)
    item = post_item(rt, post, await labels(rt, t), t)
    manage = user is not None and post.local and rt.posts.can_manage(user, post)
    ctx: dict[str, Any] = {"item": item, "manage": manage, "post": post,
                           "group_handle": f"@{rt.identity.group.username}@{rt.settings.domain}"}
    if post.anonymous or post.proxy:
        ctx["creator"] = await rt.posts.creator_name(viewer, post)
    if not post.local:
        ctx["forwarded_by"] = await rt.forwarding.origin(post.id)  # a linked group's need
    if user is not None and user.may(Permission.INTAKE) and post.proxy:
        # Opening the record is a sensitive read, in the audit log: only when asked for.
        ctx["intake_closed"] = request.query_params.get("intake") != "open"
        if not ctx["intake_closed"]:
            ctx["intake"] = await rt.posts.intake_record(user, pid)
    policy = await rt.posts.policy()
    ctx["closes_on"] = day(post.expires_at, t) if post.is_open else ""
    ctx["deleted_on"] = day(post.delete_after, t) if not post.is_open else ""
    ctx["retention_days"] = policy.retention.days
    ctx["takedown"] = await rt.reports.takedown_of(viewer, post)  # why it is hidden
    ctx["anonymity"] = t(anonymity_words(anonymous=post.anonymous, proxy=post.proxy,
                                         to_author=manage))
    if user is not None:
        convs = [c for c in await rt.responses.conversations(user) if c.post_id == pid]
        if manage:
            ctx["responses"] = await _responses(rt, user, post, convs, t)
        else:
            ctx["my_conversation"] = convs[0].id if convs else None
            mine = await rt.responses.my_response(user, pid)
            ctx["my_response"] = {"id": mine.id, "state": mine.state.value} if mine else None
    ctx.update(extra)
    return await render(request, "post.html", status=status, **ctx)


async def _responses(rt: Runtime, user: User, post: Post, convs: list[Any], t: Reader
                     ) -> list[dict[str, Any]]:
    by_response = {c.response_id: c.id for c in convs}
    out = []
    for r in await rt.responses.for_post(user, post.id):
        out.append({
            "id": r.id, "who": display_name(rt, r.responder_uri), "message": r.message,
            "amount": amount(r.quantity, post.unit), "quantity": r.quantity,
            "state": r.state.value, "note": r.note, "when": when(r.created_at, t),
            "pending": r.state is ResponseState.PENDING,
            "conversation": by_response.get(r.id),
        })
    return out


@form_handler
async def respond(request: Request) -> Response:
    user = await require_user(request)
    pid = _post_id(request)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    message, quantity = str(form.get("message") or ""), str(form.get("quantity") or "")
    try:
        await runtime(request).responses.respond(user, pid, message, quantity or None)
    except Invalid as exc:
        return await _show(request, pid, status=400, answer={"message": message,
                           "quantity": quantity}, answer_errors=field_errors(exc, {}))
    except FediaidError as exc:
        return await _show(request, pid, status=409, flash=exc.public, flash_error=True)
    return redirect(f"/posts/{pid}",
                    N_("Thank you! They can see your answer now. If they accept, you can "
                       "talk privately in Messages."))


@form_handler
async def response_action(request: Request) -> Response:
    """Accept, decline or withdraw an answer."""
    rt = runtime(request)
    user = await require_user(request)
    pid = _post_id(request)
    rid = int(request.path_params["rid"])
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    action = request.path_params["action"]
    try:
        if action == "accept":
            conv = await rt.responses.accept(user, rid, str(form.get("quantity") or "") or None)
            return redirect(f"/conversations/{conv.id}",
                            N_("Accepted. Now you can talk privately here to arrange it."))
        if action == "decline":
            await rt.responses.decline(user, rid, str(form.get("note") or ""))
            return redirect(f"/posts/{pid}", N_("Declined. We let them know."))
        if action == "withdraw":
            await rt.responses.withdraw(user, rid)
            return redirect(f"/posts/{pid}", N_("You took back your answer."))
    except Invalid as exc:
        return await _show(request, pid, status=400, flash=plain_message(exc),
                           flash_error=True)
    raise NotFound(N_("No such action."))


@form_handler
async def close_post(request: Request) -> Response:
    user = await require_user(request)
    pid = _post_id(request)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    outcome = str(form.get("outcome") or "")
    if not outcome:
        return await _show(request, pid, status=400, flash=N_("Please choose how it went."),
                           flash_error=True)
    await runtime(request).posts.close(user, pid, outcome)
    return redirect(f"/posts/{pid}", N_("Closed. Thank you!"))


async def edit_post(request: Request) -> Response:
    rt = runtime(request)
    user = await current_user(request)
    if user is None:
        return _login_first(request)
    if request.method == "POST":  # the token before anything is looked up
        check_csrf(request, (await request.form()).get("csrf"))
    pid = _post_id(request)
    post = await rt.posts.get(await rt.posts.viewer_for_user(user), pid)
    if not post.local or not rt.posts.can_manage(user, post):
        raise Forbidden(N_("Only the person who posted this can change it."))
    if request.method == "GET":
        choice = await rt.forwarding.choice(post.id)
        return await _post_form(request, "post_edit.html", values_of(
            rt, post, await reader(request)) | {"forward": "default" if choice is None
                                                else "yes" if choice else "no"}, post=post)
    return await _submit_edit(request, user, post)


@form_handler
async def _submit_edit(request: Request, user: User, post: Post) -> Response:
    rt = runtime(request)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    values = typed(form, POST_FIELDS)
    values["kind"] = post.kind.value
    t = await reader(request)
    try:
        data = await draft_data(rt, values, t, with_kind=False)
        await rt.posts.edit(user, post.id, data, confirm=form.get("confirm") == "1")
    except NeedsConfirmation as exc:
        return await _post_form(request, "post_edit.html", values, post=post,
                                warnings=_warnings(exc, t))
    except Invalid as exc:
        return await _post_form(request, "post_edit.html", values, post=post, status=400,
                                errors=field_errors(exc, values))
    return redirect(f"/posts/{post.id}", N_("Saved."))
