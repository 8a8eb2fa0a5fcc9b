"""Reports and takedowns as pages (no JavaScript): a member reports a post or an account
(``/report``) and sees what became of her reports and any coordinator's decision about her
own posts (``/reports``); coordinators see the queue (``/admin/reports``) and act on it, and
can hide or remove any post from its page (``/posts/{id}/takedown``).
Service: fediaid/services/reports.py."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.coordination import coordinator_page
from api.web.forms import plain_message
from api.web.locale import reader
from api.web.render import display_name, form_handler, redirect, render, when
from api.web.session import check_csrf, require_user
from fediaid.domain.reports import (
    CATEGORY_WORDS,
    Action,
    Category,
    ReportState,
    TakedownAction,
    said_outcome,
)
from fediaid.domain.users import User
from fediaid.errors import Invalid, NotFound
from fediaid.i18n import N_, Message

KIND_WORDS = {"need": N_("need"), "offer": N_("offer"), "note": N_("post")}

ACTION_WORDS = {
    Action.DISMISS: N_("Dismissed"),
    Action.HIDE_POST: N_("Post hidden"),
    Action.REMOVE_POST: N_("Post removed"),
    Action.LIMIT: N_("Account limited"),
    Action.SUSPEND: N_("Account suspended"),
    Action.SUSPEND_REMOTE: N_("Account blocked"),
    Action.BLOCK_DOMAIN: N_("Server blocked"),
}


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


# -- members ------------------------------------------------------------------------------

@form_handler
async def report_form(request: Request) -> Response:
    """GET: the form for ``?post=ID`` or ``?account=ID``; POST: file the report."""
    user = await require_user(request)
    rt = runtime(request)
    source = request.query_params
    values: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        check_csrf(request, form.get("csrf"))
        source = form  # type: ignore[assignment]
        values = {k: str(form.get(k) or "") for k in ("category", "comment")}
    post_id = _int(source.get("post"))
    account_id = _int(source.get("account"))
    about = await _about(request, user, post_id, account_id)
    if request.method == "GET":
        return await _report_page(request, about, values)
    try:
        await rt.reports.create(
            user, account_id=account_id if post_id is None else None,
            post_ids=[post_id] if post_id is not None else [],
            comment=values.get("comment", ""), category=values.get("category") or None,
            forward=bool(source.get("forward")))
    except Invalid as exc:
        return await _report_page(request, about, values, status=400,
                                  error=plain_message(exc))
    return redirect("/reports", N_("Thank you. The coordinators will look at your report; "
                                   "you will see what they decided here."))


async def _about(request: Request, user: User, post_id: int | None, account_id: int | None
                 ) -> dict[str, Any]:
    """What is being reported, in words (only what the member may see)."""
    rt = runtime(request)
    if post_id is not None:
        viewer = await rt.posts.viewer_for_user(user)
        post = await rt.posts.get(viewer, post_id)
        return {"post": post_id, "account": None,
                "what": N_("the post “{title}”", title=post.title),
                "remote": not post.local}
    if account_id is not None:
        actor = await rt.reports.account(account_id)
        return {"post": None, "account": account_id,
                "what": N_("the account {name}", name=display_name(rt, actor.uri)),
                "remote": not actor.local}
    raise NotFound(N_("Say which post or account you are reporting."))


async def _report_page(request: Request, about: dict[str, Any], values: dict[str, str], *,
                       status: int = 200, error: str | None = None) -> Response:
    t = await reader(request)
    return await render(request, "report.html", status=status, about=about, values=values,
                        categories=[(c.value, t(w)) for c, w in CATEGORY_WORDS.items()],
                        flash=error, flash_error=bool(error))


@form_handler
async def my_reports(request: Request) -> Response:
    """The member's reports and their outcome; coordinators' decisions about her posts."""
    user = await require_user(request)
    rt = runtime(request)
    t = await reader(request)
    reports = [{"when": when(r.created_at, t), "open": r.is_open,
                "outcome": t(said_outcome(r.outcome)) if r.outcome else "",
                "category": t(CATEGORY_WORDS[r.category]), "comment": r.comment}
               for r in await rt.reports.mine(user)]
    notices = [{"when": when(n.created_at, t), "words": t(n.words), "action": n.action.value,
                "kind": t(KIND_WORDS.get(n.kind, "post")),
                "posted": when(n.posted_at, t) if n.posted_at else "",
                "post_id": n.post_id if n.action is TakedownAction.HIDE else None}
               for n in await rt.reports.notices(user)]
    return await render(request, "reports.html", reports=reports, notices=notices)


# -- coordinators -------------------------------------------------------------------------

@coordinator_page
async def queue(request: Request, user: User) -> Response:
    rt = runtime(request)
    show_resolved = request.query_params.get("state") == "resolved"
    views = await rt.reports.queue(
        user, state=ReportState.RESOLVED if show_resolved else ReportState.OPEN)
    t = await reader(request)
    items = []
    for v in views:
        r = v.report
        items.append({
            "id": r.id, "reporter": t(v.reporter), "when": when(r.created_at, t),
            "category": t(CATEGORY_WORDS[r.category]), "comment": r.comment,
            "target": display_name(rt, v.target.uri), "target_uri": v.target.uri,
            "local": v.target.local, "domain": v.target.domain,
            "suspended": bool(v.target_user and v.target_user.disabled),
            "forward_asked": r.forward,
            "forwarded": when(r.forwarded_at, t) if r.forwarded_at else "", "open": r.is_open,
            "action": t(ACTION_WORDS.get(r.action, "")) if r.action else "",
            "suspended_for_harm": r.action in (Action.SUSPEND, Action.SUSPEND_REMOTE),
            "outcome": t(said_outcome(r.outcome)) if r.outcome else "",
            "resolved": when(r.resolved_at, t),
            "posts": [{"uri": i.object_uri, "text": i.text, "gone": i.gone,
                       "hidden": i.hidden, "post_id": i.post.id if i.post else None}
                      for i in v.items],
        })
    return await render(request, "admin_reports.html", items=items,
                        show_resolved=show_resolved)


@coordinator_page
async def act(request: Request, user: User) -> Response:
    rt = runtime(request)
    report_id = int(request.path_params["id"])
    form = await request.form()
    try:
        action = Action(str(form.get("action") or ""))
    except ValueError as exc:
        raise Invalid(N_("Choose what to do."), field="action") from exc
    try:
        await rt.reports.act(user, report_id, action, reason=str(form.get("reason") or ""),
                             note=str(form.get("note") or ""),
                             object_uri=str(form.get("object_uri") or "") or None)
    except Invalid as exc:
        return redirect("/admin/reports", plain_message(exc))
    return redirect("/admin/reports", N_("Done: {action}. The person who reported it will "
                                         "see that.",
                                         action=Message(ACTION_WORDS[action], {})))


@coordinator_page
async def forward(request: Request, user: User) -> Response:
    rt = runtime(request)
    try:
        await rt.reports.forward(user, int(request.path_params["id"]))
    except Invalid as exc:
        return redirect("/admin/reports", plain_message(exc))
    return redirect("/admin/reports", N_("Sent to the account's server, from this server "
                                         "(without the name of who reported it)."))


@coordinator_page
async def takedown(request: Request, user: User) -> Response:
    """Hide or remove a post from its page, with the reason its author is told."""
    rt = runtime(request)
    pid = int(request.path_params["id"])
    form = await request.form()
    try:
        action = TakedownAction(str(form.get("action") or ""))
    except ValueError as exc:
        raise Invalid(N_("Choose hide or remove."), field="action") from exc
    try:
        await rt.reports.take_down(user, action=action, reason=str(form.get("reason") or ""),
                                   post_id=pid)
    except Invalid as exc:
        return redirect(f"/posts/{pid}", plain_message(exc))
    if action is TakedownAction.REMOVE:
        return redirect("/", N_("Removed. Its author is told why."))
    return redirect(f"/posts/{pid}", N_("Hidden. Only its author and the coordinators see it "
                                        "now; its author is told why."))


__all__ = ["Category", "act", "forward", "my_reports", "queue", "report_form", "takedown"]
