"""The group's log (``/audit``: every member reads what coordinators did, newest first) and
the members page (``/admin/members``: coordinators see every account's role, propose or
make role changes, and approve or reject another coordinator's proposal; admins also set
whether role changes need a second coordinator). Services: fediaid/services/audit.py,
fediaid/services/roles.py."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.coordination import coordinator_page, short_name
from api.web.locale import reader
from api.web.render import form_handler, redirect, render, when
from api.web.session import require_permission
from fediaid.domain.audit import AuditEntry
from fediaid.domain.ids import parse_id
from fediaid.domain.roles import ROLE_SETTING, ROLE_WORDS, Permission
from fediaid.domain.users import User
from fediaid.errors import Invalid
from fediaid.i18n import N_, Reader
from fediaid.services.roles import parse_role

PAGE = 50


@form_handler
async def log(request: Request) -> Response:
    user = await require_permission(request, Permission.READ_AUDIT)
    before = parse_id(request.query_params.get("before") or "")
    entries = await runtime(request).audit.page(user, before_id=before, limit=PAGE + 1)
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    t = await reader(request)
    rows = [{"sentence": sentence(e, t), "when": when(e.created_at, t), "detail": e.detail,
             "id": e.id} for e in entries]
    return await render(request, "audit.html", entries=rows,
                        next_before=entries[-1].id if more and entries else None)


def sentence(entry: AuditEntry, t: Reader) -> str:
    """An entry in the reader's language: "Coordinator ana opened the intake record of need
    #12" (words written before the log kept them marked: as written)."""
    said = t(N_("{who} {did}"), who=t(entry.who()), did=t(entry.what()))
    return said[:1].upper() + said[1:]


# Accounts on one page of /admin/members.
MEMBERS_PAGE = 100


@coordinator_page
async def members(request: Request, user: User) -> Response:
    rt = runtime(request)
    if request.method == "POST":
        form = await request.form()
        what = str(form.get("what") or "")
        if what == "role":
            name = str(form.get("name") or "").strip().lower()
            change = await rt.roles.change(user, name, parse_role(form.get("role")))
            return redirect("/admin/members", N_(
                "{name} is now {role}.", name=name,
                role=_role_words(form.get("role"))) if change.applied else N_(
                "Proposed. Another coordinator has to approve it within 7 days."))
        if what in ("approve", "reject"):
            proposal_id = parse_id(str(form.get("proposal") or ""))
            if proposal_id is None:
                raise Invalid(N_("No such role change."), field="proposal")
            await rt.roles.decide(user, proposal_id, approve=what == "approve")
            return redirect("/admin/members", N_("Approved: the role changed.")
                            if what == "approve" else N_("Rejected."))
        if what in ("reset", "remove", "join_approve", "join_decline"):
            return await _joining_action(request, user, what, form)
        if what == "second":
            on = form.get("value") == "1"
            await rt.group_settings.update(user, {ROLE_SETTING: "1" if on else "0"})
            return redirect("/admin/members", N_("Saved."))
        raise Invalid(N_("Choose what to do."), field="what")
    pending = await rt.roles.pending(user)
    search = request.query_params.get("q", "").strip().lower()[:64]
    after = request.query_params.get("after", "").strip()[:64] or None
    # A page of accounts by name: a group may have thousands.
    accounts = await rt.roles.accounts(user, after=after, search=search,
                                       limit=MEMBERS_PAGE + 1)
    more = len(accounts) > MEMBERS_PAGE
    accounts = accounts[:MEMBERS_PAGE]
    details = await rt.joining.member_details(user, [a.id for a in accounts])
    t = await reader(request)
    return await render(
        request, "admin_members.html",
        accounts=[{"name": a.username, "role": a.role.value,
                   "role_word": t(ROLE_WORDS[a.role]),
                   "disabled": a.disabled, "me": a.id == user.id,
                   "password": details.get(a.id, (True, None))[0],
                   "cap": details.get(a.id, (True, None))[1]} for a in accounts],
        search=search, after=after,
        next_after=accounts[-1].username if more and accounts else None,
        requests=[{"id": r.id, "name": r.name, "message": r.message or "",
                   "contact": r.contact or "", "when": when(r.created_at, t),
                   "username": suggest_username(r.name)}
                  for r in await rt.joining.requests(user)],
        pending=[{"id": p.id, "name": p.username, "new": t(_role_words(p.new_role.value)),
                  "old": t(_role_words(p.old_role.value)), "by": p.proposer_name,
                  "mine": p.proposed_by == user.id, "expires": when(p.expires_at, t)}
                 for p in pending],
        second=await rt.roles.second_needed(), setting=await rt.roles.setting(),
        may_set=user.may(Permission.SECURE_SETTINGS),
        roles=[(r.value, t(ROLE_WORDS[r])) for r in ROLE_WORDS
               if user.may(Permission.GRANT_ADMIN) or r.value != "admin"])


def _role_words(role: object) -> str:
    """"a member", "a coordinator", "an admin" (marked words)."""
    from fediaid.i18n import Message

    words = {"member": N_("a member"), "coordinator": N_("a coordinator"),
             "admin": N_("an admin")}
    return Message(words.get(str(role), str(role)), {})


def suggest_username(name: str) -> str:
    """A name for the account, made from the name someone asked to join with."""
    return short_name(name).replace("-", "_")[:30]


async def _joining_action(request: Request, user: User, what: str, form: Any) -> Response:
    """Reset a login, remove a member, approve or decline a request to join. A new login
    link is shown once, in this answer (never in a redirect's address)."""
    rt = runtime(request)
    if what in ("join_approve", "join_decline"):
        request_id = parse_id(str(form.get("request") or ""))
        if request_id is None:
            raise Invalid(N_("No such request to join."), field="request")
        if what == "join_decline":
            await rt.joining.decline(user, request_id)
            return redirect("/admin/members", N_("Declined. What they wrote is deleted."))
        username = str(form.get("username") or "").strip().lower()
        made, link = await rt.joining.approve(user, request_id, username)
        return await render(request, "link_once.html", title=N_("Account made"),
                            who=made.username, link=link, back="/admin/members")
    name = str(form.get("name") or "").strip().lower()
    target = await rt.accounts.get_user(name)
    if what == "reset":
        link = await rt.accounts.login_link(name, by=user)
        return await render(request, "link_once.html", title=N_("New login link"), who=name,
                            link=link, back="/admin/members")
    if form.get("confirm") != "1":
        raise Invalid(N_("Tick the box to confirm that the account of {name} is to be deleted.",
                         name=name), field="confirm")
    rt.joining.check_removal(user, target)
    await rt.member_data.delete_member(user, name)
    return redirect("/admin/members", N_("Removed: the account of {name} and its posts are "
                                         "deleted.", name=name))
