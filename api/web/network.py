"""Links with other groups, as one coordinators' page (``/admin/network``, no JavaScript):
propose a link, accept or decline a proposal, pause, resume and end a link, and see what
each side shares. Service: fediaid/services/links.py (docs/network.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.coordination import coordinator_page
from api.web.forms import plain_message
from api.web.locale import reader
from api.web.render import redirect, render, when
from fediaid.domain.links import LinkState, Share
from fediaid.domain.users import User
from fediaid.errors import Invalid
from fediaid.i18n import N_

PAGE = "/admin/network"

STATE_WORDS = {
    LinkState.PROPOSED_BY_US: N_("Proposed by us: waiting for them"),
    LinkState.PROPOSED_BY_THEM: N_("They propose a link: waiting for you"),
    LinkState.ACTIVE: N_("Linked"),
    LinkState.PAUSED: N_("Paused"),
    LinkState.ENDED: N_("Ended"),
}
SHARE_WORDS = {
    Share.FORWARDED_NEEDS: N_("Needs nobody near could meet"),
    Share.BLOCKLISTS: N_("Our list of blocked servers"),
    Share.STATISTICS: N_("Counts of needs and offers (our needs picture, never a number below 5)"),
    Share.ACCOUNT_ALERTS: N_("Alerts about accounts we suspended for harm"),
}


async def _page(request: Request, *, status: int = 200, errors: dict[str, str] | None = None,
                values: dict[str, str] | None = None) -> Response:
    rt = runtime(request)
    t = await reader(request)
    links = await rt.links.links()

    def shares(items: frozenset[Share]) -> list[str]:
        return [t(SHARE_WORDS[s]) for s in Share if s in items]

    return await render(
        request, "admin_network.html", status=status, errors=errors or {},
        values=values or {},
        shares=[(s.value, t(SHARE_WORDS[s])) for s in Share],
        links=[{"handle": link.handle, "name": link.name, "state": link.state.value,
                "words": t(STATE_WORDS[link.state]), "ours": shares(link.our_shares),
                "theirs": shares(link.their_shares), "since": when(link.updated_at, t),
                "blocked": not rt.policy.may_exchange(link.domain)}
               for link in links])


@coordinator_page
async def page(request: Request, user: User) -> Response:
    """GET: the page. POST: one of its forms (``do``)."""
    rt = runtime(request)
    if request.method == "GET":
        return await _page(request)
    form = await request.form()
    do = str(form.get("do") or "")
    handle = str(form.get("handle") or "").strip()
    chosen = frozenset(Share(v) for v in form.getlist("share")
                       if isinstance(v, str) and v in {s.value for s in Share})
    try:
        if not handle:
            raise Invalid(N_("Write the group's address, like @oak@oak.example."),
                          field="handle")
        if do == "propose":
            state = await rt.links.propose(user, handle, chosen)
            return redirect(PAGE, N_("Linked with {handle}.", handle=handle)
                            if state is LinkState.ACTIVE
                            else N_("Proposed a link to {handle}. It starts when their "
                                    "coordinators accept.", handle=handle))
        if do == "accept":
            await rt.links.accept(user, handle, chosen)
            return redirect(PAGE, N_("Accepted the link with {handle}.", handle=handle))
        if do in ("pause", "resume"):
            await rt.links.pause(user, handle, resume=do == "resume")
            return redirect(PAGE, N_("Paused the link with {handle}.", handle=handle)
                            if do == "pause"
                            else N_("Resumed the link with {handle}.", handle=handle))
        if do == "end":
            await rt.links.end(user, handle)
            return redirect(PAGE, N_("Ended the link with {handle}.", handle=handle))
    except Invalid as exc:
        return await _page(request, status=400, errors={exc.field or "_": plain_message(exc)},
                           values={"handle": handle})
    raise Invalid(N_("Choose one of the buttons on the page."))
