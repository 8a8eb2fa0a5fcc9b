"""Account alerts between linked groups, as one coordinators' page (``/admin/alerts``, no
JavaScript): alerts from linked groups to apply or dismiss, the alerts this group shared
(retract), and suspending an account for harm with the choice to tell linked groups.
Service: fediaid/services/alerts.py (docs/moderation.md, docs/network.md)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.coordination import coordinator_page
from api.web.forms import plain_message
from api.web.locale import reader
from api.web.render import redirect, render, when
from fediaid.domain.alerts import HARM_WORDS, AlertState, Harm
from fediaid.domain.ids import parse_id
from fediaid.domain.users import User
from fediaid.errors import Invalid
from fediaid.i18n import N_

PAGE = "/admin/alerts"


def _id(value: object) -> int:
    found = parse_id(str(value or ""))
    if found is None:
        raise Invalid(N_("Choose one of the buttons on the page."))
    return found


async def _page(request: Request, user: User, *, status: int = 200,
                errors: dict[str, str] | None = None, values: dict[str, str] | None = None
                ) -> Response:
    rt = runtime(request)
    t = await reader(request)
    received = await rt.alerts.received(user)
    told = await rt.alerts.told_groups()

    def item(a: Any) -> dict[str, object]:
        return {"id": a.id, "group": a.from_name, "group_handle": a.from_handle,
                "account": a.account_handle or a.account_uri, "account_uri": a.account_uri,
                "harm": t(HARM_WORDS[a.harm]), "reason": a.reason,
                "when": when(a.received_at, t), "state": a.state.value,
                "decided": when(a.decided_at, t) if a.decided_at else "",
                "retracted": when(a.retracted_at, t) if a.retracted_at else ""}

    return await render(
        request, "admin_alerts.html", status=status, errors=errors or {},
        values={"account": request.query_params.get("account", ""), **(values or {})},
        harms=[(h.value, t(HARM_WORDS[h])) for h in Harm],
        open=[item(a) for a in received if a.state is AlertState.OPEN],
        decided=[item(a) for a in received if a.state is not AlertState.OPEN],
        told=[{"name": link.name, "handle": link.handle} for link in told],
        sent=[{"id": s.id, "account": s.account_handle or s.account_uri,
               "harm": t(HARM_WORDS[s.harm]), "reason": s.reason,
               "when": when(s.created_at, t), "groups": len(s.sent_to),
               "retracted": when(s.retracted_at, t) if s.retracted_at else ""}
              for s in await rt.alerts.sent(user)])


@coordinator_page
async def page(request: Request, user: User) -> Response:
    """GET: the page. POST: one of its forms (``do``)."""
    rt = runtime(request)
    if request.method == "GET":
        return await _page(request, user)
    form = await request.form()
    do = str(form.get("do") or "")
    account = str(form.get("account") or "").strip()
    values = {"account": account, "harm": str(form.get("harm") or ""),
              "reason": str(form.get("reason") or "")}
    try:
        if do == "suspend":
            done = await rt.alerts.suspend(user, account, form.get("harm"),
                                           reason=form.get("reason"),
                                           share=form.get("share") == "yes")
            name = done.account.handle
            if done.already_shared:
                return redirect(PAGE, N_("{name} is suspended. An alert about this account "
                                         "was shared already: retract it first to share new "
                                         "words.", name=name))
            if form.get("share") == "yes":
                return redirect(PAGE, N_("{name} is suspended, and the linked groups that "
                                         "get alerts were told ({n}).", name=name,
                                         n=done.told) if done.told
                                else N_("{name} is suspended. No linked group gets alerts "
                                        "from this group, so nobody was told.", name=name))
            return redirect(PAGE, N_("{name} is suspended. Linked groups were not told.",
                                     name=name))
        if do == "apply":
            found = await rt.alerts.apply(user, _id(form.get("id")))
            return redirect(PAGE, N_("{name} is suspended here too.",
                                     name=found.account_handle or found.account_uri))
        if do == "dismiss":
            await rt.alerts.dismiss(user, _id(form.get("id")))
            return redirect(PAGE, N_("Alert dismissed."))
        if do in ("retract", "retract_lift"):
            n = await rt.alerts.retract(user, _id(form.get("id")), lift=do == "retract_lift")
            return redirect(PAGE, N_("Alert retracted: the linked groups that had it are "
                                     "told ({n}).", n=n) if do == "retract"
                            else N_("Alert retracted and the suspension lifted: the linked "
                                    "groups that had it are told ({n}).", n=n))
    except Invalid as exc:
        return await _page(request, user, status=400,
                           errors={exc.field or "_": plain_message(exc)}, values=values)
    raise Invalid(N_("Choose one of the buttons on the page."))
