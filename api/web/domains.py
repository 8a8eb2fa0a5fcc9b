"""Which other servers the group talks to, as one coordinators' page (``/admin/domains``,
no JavaScript): the rules (blocked, silenced, allowed) with their reasons, the allow-list
mode, who may see the list, the blocklist as a CSV file (download; upload with a preview,
then apply), subscriptions to linked groups' lists and the changes they propose.
Service: fediaid/services/blocklists.py; every change goes through the federation policy."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.coordination import coordinator_page
from api.web.forms import plain_message
from api.web.locale import reader
from api.web.render import ENGLISH, redirect, render, when
from fediaid.domain.blocklists import Change, Severity
from fediaid.domain.users import User
from fediaid.errors import Invalid
from fediaid.i18n import N_, Message, Reader

PAGE = "/admin/domains"

SEVERITY_WORDS = {Severity.SUSPEND: N_("Blocked"), Severity.SILENCE: N_("Silenced"),
                  Severity.NOOP: N_("No rule")}
BEFORE_WORDS = {Severity.SUSPEND: N_("blocked"), Severity.SILENCE: N_("silenced"),
                Severity.NOOP: N_("no rule")}

# What each choice does, in plain words (the page and docs/moderation.md say the same).
SEVERITY_CHOICES = (
    (Severity.SUSPEND.value, N_("Block"),
     N_("Nothing from that server reaches the group, and nothing of ours is sent there. "
        "Follows with its accounts end, and what waits to be sent there is dropped.")),
    (Severity.SILENCE.value, N_("Silence"),
     N_("Its posts are left out of public timelines and its accounts' notifications reach "
        "only members who follow them; its accounts need a coordinator's approval to follow "
        "the group. Nothing else changes.")),
    (Severity.NOOP.value, N_("No rule"),
     N_("Lift a block or a silence: the server is treated like any other.")),
)
AUDIENCE_CHOICES = (
    ("members", N_("Members"),
     N_("People with an account here can see the list in their apps (Mastodon's “moderated "
        "servers”).")),
    ("everyone", N_("Everyone"),
     N_("Anyone can see the list, as most Mastodon servers show it.")),
    ("nobody", N_("Nobody"), N_("Only coordinators, on this page.")),
)
CHANGE_WORDS = {
    (Change.ADD, Severity.SUSPEND): N_("Block {domain}"),
    (Change.ADD, Severity.SILENCE): N_("Silence {domain}"),
    (Change.ADD, Severity.NOOP): N_("No rule for {domain}"),
    (Change.CHANGE, Severity.SUSPEND): N_("Block {domain} (now: {before})"),
    (Change.CHANGE, Severity.SILENCE): N_("Silence {domain} (now: {before})"),
    (Change.CHANGE, Severity.NOOP): N_("No rule for {domain} (now: {before})"),
}
LIFT_WORDS = N_("Lift the rule for {domain} (now: {before}): they took it off their list")
COMMENT_WORDS = N_("New public comment for {domain}")


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _change_words(change: Change, severity: Severity, domain: str, before: Severity,
                  t: Reader = ENGLISH) -> str:
    words = (LIFT_WORDS if change is Change.LIFT else COMMENT_WORDS
             if change is Change.COMMENT else CHANGE_WORDS[(change, severity)])
    return t(words, domain=domain, before=t(BEFORE_WORDS[before]))


async def _page(request: Request, *, status: int = 200, errors: dict[str, str] | None = None,
                values: dict[str, str] | None = None,
                preview: dict[str, Any] | None = None) -> Response:
    rt = runtime(request)
    t = await reader(request)
    rules = await rt.blocklists.rules()
    sharing = await rt.blocklists.sharing()
    views = await rt.blocklists.proposals()
    subs = await rt.blocklists.subscriptions()
    names = {s.id: s.publisher or s.url for s in subs}
    return await render(
        request, "admin_domains.html", status=status, errors=errors or {},
        values=values or {}, preview=preview,
        blocks=[{"domain": r.domain, "severity": r.severity.value,
                 "words": t(SEVERITY_WORDS[r.severity]), "reason": r.reason,
                 "comment": r.public_comment, "obfuscate": r.obfuscate,
                 "since": when(r.rule_at, t), "source": names.get(r.source_id or 0)}
                for r in rules if r.severity is not Severity.NOOP],
        allowed=[r.domain for r in rules if r.allowed],
        allow_list_mode=rt.policy.rules.allow_list_mode,
        sharing=sharing, audiences=AUDIENCE_CHOICES, severities=SEVERITY_CHOICES,
        published_url=rt.blocklists.document_url(),
        subscriptions=[{"id": s.id, "url": s.url, "publisher": s.publisher,
                        "fetched": when(s.fetched_at, t), "error": s.last_error}
                       for s in subs],
        proposals=[{"id": v.proposal.id, "domain": v.proposal.domain,
                    "words": _change_words(v.proposal.change, v.proposal.severity,
                                           v.proposal.domain, v.before, t),
                    "comment": v.proposal.comment,
                    "from": v.subscription.publisher or v.subscription.url,
                    "when": when(v.proposal.created_at, t)} for v in views])


@coordinator_page
async def page(request: Request, user: User) -> Response:
    """GET: the page. POST: one of its forms (``do``)."""
    rt = runtime(request)
    if request.method == "GET":
        return await _page(request)
    form = await request.form()
    do = str(form.get("do") or "")
    text = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        if do == "rule":
            domain = text.get("domain", "").strip()
            severity = text.get("severity", "")
            cancelled, removed = await rt.blocklists.set_rule(
                user, domain, severity, reason=text.get("reason", ""),
                comment=text.get("comment", ""), obfuscate=bool(text.get("obfuscate")))
            words = {"suspend": N_("Blocked {domain}.", domain=domain),
                     "silence": N_("Silenced {domain}.", domain=domain),
                     "noop": N_("No rule for {domain} any more.", domain=domain),
                     }.get(severity, N_("Saved."))
            if cancelled or removed:
                words = N_("{done} {cancelled} posts waiting to be sent there dropped, "
                           "{removed} follows ended.", done=Message(words, {}),
                           cancelled=cancelled, removed=removed)
            return redirect(PAGE, words)
        if do in ("allow", "disallow"):
            domain = text.get("domain", "").strip()
            await rt.blocklists.set_allowed(user, domain, do == "allow")
            return redirect(PAGE, N_("{domain} is on the allow-list.", domain=domain)
                            if do == "allow"
                            else N_("{domain} is off the allow-list.", domain=domain))
        if do == "mode":
            on = text.get("mode") == "on"
            await rt.blocklists.set_allow_list_mode(user, on)
            return redirect(PAGE, N_("Only servers on the allow-list talk to the group now.")
                            if on else N_("Every server that is not blocked can talk to the "
                                          "group now."))
        if do == "sharing":
            await rt.blocklists.set_sharing(user, audience=text.get("audience", ""),
                                            linked=text.get("linked") == "on")
            return redirect(PAGE, N_("Saved who can see the list."))
        if do == "subscribe":
            _sub, fresh = await rt.blocklists.subscribe(user, text.get("url", ""))
            return redirect(PAGE, N_("Subscribed. Proposed changes to look at below: {n}.",
                                     n=fresh))
        if do == "unsubscribe":
            await rt.blocklists.unsubscribe(user, _int(text.get("id")) or 0)
            return redirect(PAGE, N_("Unsubscribed. Rules you took from that list stay."))
        if do in ("accept", "dismiss"):
            domain = await rt.blocklists.decide(user, _int(text.get("id")) or 0,
                                                accept=do == "accept")
            return redirect(PAGE, N_("Done: {domain}.", domain=domain) if do == "accept"
                            else N_("Dismissed the proposal for {domain}.", domain=domain))
        if do in ("accept-all", "dismiss-all"):
            n = await rt.blocklists.decide_all(user, accept=do == "accept-all")
            return redirect(PAGE, N_("Accepted proposals: {n}.", n=n) if do == "accept-all"
                            else N_("Dismissed proposals: {n}.", n=n))
        if do in ("preview", "apply"):
            return await _import(request, user, form, do)
    except Invalid as exc:
        field = exc.field or "_"
        return await _page(request, status=400, errors={field: plain_message(exc)},
                           values=text)
    raise Invalid(N_("Choose one of the buttons on the page."))


async def _import(request: Request, user: User, form: Any, do: str) -> Response:
    rt = runtime(request)
    if do == "preview":
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid(N_("Choose a CSV file to upload."), field="file")
        data = await upload.read(1_000_001)
        plan = await rt.blocklists.import_preview(data)
        csv_text = data.decode("utf-8")
        t = await reader(request)
        return await _page(request, preview={
            "csv": csv_text, "name": upload.filename or t("the file"),
            "changes": [_change_words(d.change, d.severity, d.domain, d.before, t)
                        + (f" — “{d.comment}”" if d.comment else "") for d in plan]})
    plan = await rt.blocklists.import_apply(user, str(form.get("csv") or ""))
    return redirect(PAGE, N_("Imported changes: {n}.", n=len(plan)))


@coordinator_page
async def export(request: Request, user: User) -> Response:
    """The blocklist as Mastodon's CSV (Moderation -> Federation -> Import on Mastodon)."""
    rt = runtime(request)
    body = await rt.blocklists.export_csv()
    name = f"{rt.settings.domain.replace(':', '_')}-blocklist.csv"
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "private, no-store"})
