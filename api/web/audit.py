"""The group's log (``/audit``: every member reads what coordinators did, newest first) and
the members page (``/admin/members``: coordinators see every account's role, propose or
make role changes, and approve or reject another coordinator's proposal; admins also set
whether role changes need a second coordinator). Services: fediaid/services/audit.py,
fediaid/services/roles.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.coordination import coordinator_page
from api.web.render import form_handler, redirect, render, when
from api.web.session import require_permission
from fediaid.domain.ids import parse_id
from fediaid.domain.roles import ROLE_SETTING, ROLE_WORDS, Permission
from fediaid.domain.users import User
from fediaid.errors import Invalid
from fediaid.services.roles import parse_role

PAGE = 50


@form_handler
async def log(request: Request) -> Response:
    user = await require_permission(request, Permission.READ_AUDIT)
    before = parse_id(request.query_params.get("before") or "")
    entries = await runtime(request).audit.page(user, before_id=before, limit=PAGE + 1)
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    rows = [{"sentence": e.sentence, "when": when(e.created_at), "detail": e.detail,
             "id": e.id} for e in entries]
    return await render(request, "audit.html", entries=rows,
                        next_before=entries[-1].id if more and entries else None)


@coordinator_page
async def members(request: Request, user: User) -> Response:
    rt = runtime(request)
    if request.method == "POST":
        form = await request.form()
        what = str(form.get("what") or "")
        if what == "role":
            name = str(form.get("name") or "").strip().lower()
            change = await rt.roles.change(user, name, parse_role(form.get("role")))
            return redirect("/admin/members", f"{name} is now {_a(form.get('role'))}."
                            if change.applied else "Proposed. Another coordinator has to "
                            "approve it within 7 days.")
        if what in ("approve", "reject"):
            proposal_id = parse_id(str(form.get("proposal") or ""))
            if proposal_id is None:
                raise Invalid("No such role change.", field="proposal")
            await rt.roles.decide(user, proposal_id, approve=what == "approve")
            return redirect("/admin/members", "Approved: the role changed."
                            if what == "approve" else "Rejected.")
        if what == "second":
            on = form.get("value") == "1"
            await rt.group_settings.update(user, {ROLE_SETTING: "1" if on else "0"})
            return redirect("/admin/members", "Saved.")
        raise Invalid("Choose what to do.", field="what")
    accounts = await rt.roles.accounts(user)
    pending = await rt.roles.pending(user)
    return await render(
        request, "admin_members.html",
        accounts=[{"name": a.username, "role": a.role.value, "role_word": ROLE_WORDS[a.role],
                   "disabled": a.disabled} for a in accounts],
        pending=[{"id": p.id, "name": p.username, "new": ROLE_WORDS[p.new_role],
                  "old": ROLE_WORDS[p.old_role], "by": p.proposer_name,
                  "mine": p.proposed_by == user.id, "expires": when(p.expires_at)}
                 for p in pending],
        second=await rt.roles.second_needed(), setting=await rt.roles.setting(),
        may_set=user.may(Permission.SECURE_SETTINGS),
        roles=[(r.value, ROLE_WORDS[r]) for r in ROLE_WORDS
               if user.may(Permission.GRANT_ADMIN) or r.value != "admin"])


def _a(role: object) -> str:
    return f"{'an' if role == 'admin' else 'a'} {role}"
