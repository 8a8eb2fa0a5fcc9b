"""Domain policy for coordinators, and shared blocklists (docs/moderation.md, "Servers").

Every rule change goes through the one policy service (``rt.policy.set_domain``, ``allow``,
``set_allow_list_mode``): this service adds what coordinators see and share around it.

- **The rules** with their private reason and public comment, and the group's choices of
  who may read its blocklist: the Mastodon list of moderated servers
  (``/api/v1/instance/domain_blocks``: members only by default; everyone; or nobody) and
  the published document for linked groups (on by default).
- **CSV** in Mastodon's format: export; import as a preview, then apply (all or nothing).
- **The published list** (``/groups/<slug>/blocklist``, docs/federation.md): only for a
  fetch signed by the actor of a group linked with this one, over an active link on which
  this group shares ``blocklists`` (``fediaid.domain.links.reads_share``, the one rule;
  any other actor on that group's server gets what a stranger gets).
- **Subscriptions** to a linked group's published list: fetched signed as our group actor
  (``Core.group_auth``: the other side gives its list to nobody else) through the remote
  fetch client (address and federation policy enforced there) when subscribing and then
  every ``REFRESH_EVERY`` by the worker's periodic loop; differences become proposals that a
  coordinator accepts or dismisses. Nothing applies by itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from activitypub.vocab import host_of, id_of, is_http_uri
from fediaid.domain.blocklists import (
    BlocklistError,
    Change,
    Difference,
    Entry,
    Severity,
    digest,
    import_plan,
    obfuscated,
    parse_csv,
    parse_document,
    proposals,
    render_csv,
    render_document,
)
from fediaid.domain.links import Share, reads_share
from fediaid.domain.users import User
from fediaid.errors import Forbidden, Invalid, NotFound
from fediaid.i18n import N_
from fediaid.services.core import Core, Service
from fediaid.services.federation_policy import clean_domain
from fediaid.storage import blocklists as repo
from fediaid.storage import links as links_repo
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    import httpx

    from fediaid.services.federation_policy import FederationPolicy

log = logging.getLogger(__name__)

AUDIENCE_KEY = "blocklist_audience"
LINKED_KEY = "blocklist_linked"
AUDIENCES = ("members", "everyone", "nobody")
DEFAULT_AUDIENCE = "members"
REFRESH_EVERY = timedelta(hours=6)
MAX_NOTE = 1000
MAX_CSV_BYTES = 1_000_000


@dataclass(frozen=True)
class Sharing:
    audience: str  # who reads /api/v1/instance/domain_blocks: members, everyone, nobody
    linked: bool  # linked groups may fetch the published list


@dataclass(frozen=True)
class ProposalView:
    proposal: repo.Proposal
    subscription: repo.Subscription
    before: Severity


def _words(text: object, field: str) -> str:
    value = " ".join(str(text or "").split())
    if len(value) > MAX_NOTE:
        raise Invalid(N_("Please keep this under {n} characters.", n=MAX_NOTE), field=field)
    return value


def _severity(value: object) -> Severity:
    try:
        return Severity(str(value or ""))
    except ValueError:
        raise Invalid(N_("Choose block, silence or no rule."), field="severity") from None


def _invalid(exc: BlocklistError) -> Invalid:
    return Invalid(_words_of(exc), field="file")


def _words_of(exc: Exception) -> str:
    """An error's words as raised (marked words keep what they were made from)."""
    said = exc.args[0] if exc.args else ""
    return said if isinstance(said, str) else str(exc)


class BlocklistService(Service):
    def __init__(self, core: Core, *, policy: FederationPolicy) -> None:
        super().__init__(core)
        self.policy = policy

    @staticmethod
    def _require(user: User | None) -> None:
        """``None`` is the command line (whoever runs it runs the server)."""
        if user is not None and not user.is_coordinator:
            raise Forbidden(N_("Only coordinators can change which servers the group talks to."))

    # -- the rules ------------------------------------------------------------------------------
    async def rules(self) -> list[repo.RuleRow]:
        async with self.db.read() as conn:
            return await repo.rules(conn)

    async def set_rule(self, user: User | None, domain: str, severity: object, *,
                       reason: object = "", comment: object = "", obfuscate: bool = False
                       ) -> tuple[int, int]:
        """Block (suspend), silence, or lift a domain's rule, with the coordinators' private
        reason and the public comment. Returns (deliveries cancelled, follows removed)."""
        self._require(user)
        d = clean_domain(domain)
        if d == clean_domain(self.settings.domain):
            raise Invalid(N_("That is this server's own domain."), field="domain")
        return await self.policy.set_domain(
            d, _severity(severity), reason=_words(reason, "reason"),
            public_comment=_words(comment, "comment"), obfuscate=obfuscate, source_id=None,
            by=user)

    async def set_allowed(self, user: User | None, domain: str, on: bool) -> None:
        self._require(user)
        await self.policy.allow(domain, on, by=user)

    async def set_allow_list_mode(self, user: User | None, on: bool) -> int:
        self._require(user)
        return await self.policy.set_allow_list_mode(on, by=user)

    # -- who may read our list -----------------------------------------------------------
    async def sharing(self) -> Sharing:
        async with self.db.read() as conn:
            audience = await repo.setting(conn, AUDIENCE_KEY)
            linked = await repo.setting(conn, LINKED_KEY)
        return Sharing(audience if audience in AUDIENCES else DEFAULT_AUDIENCE,
                       linked != "off")

    async def set_sharing(self, user: User | None, *, audience: str, linked: bool) -> None:
        self._require(user)
        if audience not in AUDIENCES:
            raise Invalid(N_("Choose who may see the list."), field="audience")
        async with self.db.write() as conn:
            await repo.set_setting(conn, AUDIENCE_KEY, audience)
            await repo.set_setting(conn, LINKED_KEY, "on" if linked else "off")

    async def entries(self) -> list[Entry]:
        """Our blocks and silences as list entries (the allow-list is not shared)."""
        return [Entry(r.domain, r.severity, r.public_comment, r.obfuscate)
                for r in await self.rules() if r.severity is not Severity.NOOP]

    async def moderated_servers(self, user: User | None) -> list[dict[str, Any]]:
        """Mastodon's ``GET /api/v1/instance/domain_blocks`` (404 when not shown to the
        asker, as Mastodon answers when its ``show_domain_blocks`` does not allow it)."""
        audience = (await self.sharing()).audience
        if not (audience == "everyone" or (audience == "members" and user is not None)):
            raise NotFound(N_("This server does not publish its list of moderated servers to "
                              "visitors.") if audience == "members" else
                           N_("This server does not publish its list of moderated servers."))
        out: list[dict[str, Any]] = []
        for e in await self.entries():
            item: dict[str, Any] = {
                "domain": obfuscated(e.domain) if e.obfuscate else e.domain,
                "digest": digest(e.domain), "severity": e.severity.value}
            if e.comment:
                item["comment"] = e.comment
            out.append(item)
        return out

    # -- CSV -------------------------------------------------------------------------------
    async def export_csv(self) -> str:
        return render_csv(await self.entries())

    async def _current(self) -> dict[str, Any]:
        return {r.domain: r.current for r in await self.rules()}

    async def import_preview(self, text: str | bytes) -> list[Difference]:
        """What importing this CSV would change (nothing is changed). Bad CSV: Invalid."""
        entries = self._read_csv(text)
        own = clean_domain(self.settings.domain)
        if any(e.domain == own for e in entries):
            raise Invalid(N_("The file lists this server's own domain ({domain}).", domain=own),
                          field="file")
        return import_plan(entries, await self._current())

    async def import_apply(self, user: User | None, text: str | bytes) -> list[Difference]:
        """Apply the CSV (re-read and re-compared now: the preview may be old)."""
        self._require(user)
        plan = await self.import_preview(text)
        entries = {e.domain: e for e in self._read_csv(text)}
        for diff in plan:
            e = entries[diff.domain]
            await self.policy.set_domain(
                diff.domain, diff.severity, public_comment=e.comment or None,
                obfuscate=e.obfuscate, reason="Imported from a blocklist file"
                if diff.change is Change.ADD else None, by=user, via=N_("imported from a file"))
        return plan

    @staticmethod
    def _read_csv(text: str | bytes) -> list[Entry]:
        if isinstance(text, bytes):
            if len(text) > MAX_CSV_BYTES:
                raise Invalid(N_("The file is too large (at most 1 MB)."), field="file")
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise Invalid(N_("The file is not UTF-8 text (a CSV file was expected)."),
                              field="file") from None
        try:
            return parse_csv(text)
        except BlocklistError as exc:
            raise _invalid(exc) from None

    # -- the published list ----------------------------------------------------------------
    def document_url(self) -> str:
        return self.identity.group.uri + "/blocklist"

    async def published(self, name: str, signer: str | None) -> dict[str, Any]:
        """Our list for a linked group, signed by that group's own actor: refused unsigned
        (Unauthenticated is raised by the caller's signature check only for bad
        signatures), while sharing is off, and to every signer but the actor of a group
        whose link is active and over which we share ``blocklists``
        (``fediaid.domain.links.reads_share``: another account on that group's server, a
        member's or its instance actor, is a stranger here)."""
        group = self.identity.group
        if name != group.username:
            raise NotFound(N_("No such list here."))
        if signer is None:
            raise Forbidden(N_("This list is only for linked groups: sign the request."))
        if not (await self.sharing()).linked:
            raise Forbidden(N_("This group does not share its blocklist."))
        async with self.db.read() as conn:
            links = await links_repo.all_links(conn)
        if not any(reads_share(link, Share.BLOCKLISTS, signer) for link in links):
            raise Forbidden(N_("This list is only for groups linked with this one."))
        rules = await self.rules()
        updated = max((r.rule_at for r in rules if r.rule_at), default=group.created_at)
        return render_document(self.document_url(), group.uri,
                               updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
                               [Entry(r.domain, r.severity, r.public_comment)
                                for r in rules if r.severity is not Severity.NOOP])

    # -- subscriptions --------------------------------------------------------------------------
    async def subscriptions(self) -> list[repo.Subscription]:
        async with self.db.read() as conn:
            return await repo.subscriptions(conn)

    async def _find_list(self, address: str) -> tuple[str, dict[str, Any]]:
        """The published list at ``address``: its URL, a group's actor URL (its
        ``blocklist`` property), or ``@group@server``."""
        from activitypub.errors import FetchError

        remote = await self.core.remote()
        address = address.strip()
        try:
            if not address.startswith(("https://", "http://")):
                address = await remote.webfinger(address)
            if not is_http_uri(address):
                raise Invalid(N_("Give the address of the other group's list, like "
                                 "https://their.server/groups/name/blocklist."), field="url")
            # Signed as our group when the address is a linked group's: it may be the list
            # itself, which a linked group gives only to our group's actor (the actor
            # document is public anyway).
            auth = await self._auth_for(address)
            doc = await remote.fetch(address, auth=auth)
            pointer = id_of(doc.get("blocklist"))
            if doc.get("type") != "DomainBlocklist" and pointer:
                if host_of(pointer) != host_of(address):
                    raise Invalid(N_("That group's list is on another server."), field="url")
                address = pointer
                doc = await remote.fetch(address, auth=auth)
        except FetchError as exc:
            raise Invalid(N_("Could not fetch the list: {problem}", problem=str(exc)),
                          field="url") from exc
        return str(doc.get("id") or address), doc

    async def _auth_for(self, url: str) -> httpx.Auth | None:
        """Our group's key for a server of a group we are linked with now (a list goes to
        the linked group's actor alone, ``reads_share``); the instance actor's (None: the
        client's own) for any other address: our group signs only for linked groups."""
        async with self.db.read() as conn:
            linked = await links_repo.active_domains(conn)
        return await self.core.group_auth() if host_of(url) in linked else None

    async def subscribe(self, user: User | None, address: str) -> tuple[repo.Subscription, int]:
        """Subscribe to a linked group's published list: fetched now (it must be readable),
        then on a schedule. Returns the subscription and how many proposals it made."""
        self._require(user)
        url, doc = await self._find_list(address)
        try:
            entries = parse_document(doc)
        except BlocklistError as exc:
            raise Invalid(_words_of(exc), field="url") from None
        publisher = id_of(doc.get("attributedTo"))
        if publisher and host_of(publisher) != host_of(url):
            publisher = None
        async with self.db.write() as conn:
            if await repo.subscription_by_url(conn, url) is not None:
                raise Invalid(N_("The group subscribes to that list already."), field="url")
            sub_id = await repo.add_subscription(conn, url, publisher)
        fresh = await self._propose(sub_id, entries, publisher=publisher)
        async with self.db.read() as conn:
            sub = await repo.subscription(conn, sub_id)
        assert sub is not None
        return sub, fresh

    async def unsubscribe(self, user: User | None, sub_id: int) -> None:
        """Stop following a list; its proposals go, rules taken from it stay as ours."""
        self._require(user)
        async with self.db.write() as conn:
            await repo.remove_subscription(conn, sub_id)

    async def fetch(self, sub: repo.Subscription) -> int:
        """Fetch one subscribed list now and update its proposals. Returns how many are new
        or changed. A failure is recorded on the subscription (shown on the page)."""
        from activitypub.errors import FetchError

        try:
            doc = await (await self.core.remote()).fetch(
                sub.url, auth=await self._auth_for(sub.url))
            entries = parse_document(doc)
        except (FetchError, BlocklistError) as exc:
            async with self.db.write() as conn:
                await repo.record_fetch(conn, sub.id, error=str(exc)[:1000])
            log.info("blocklist %s not fetched: %s", sub.url, exc)
            return 0
        return await self._propose(sub.id, entries, publisher=None)

    async def _propose(self, sub_id: int, entries: list[Entry], *, publisher: str | None
                       ) -> int:
        async with self.db.write() as conn:
            current = {r.domain: r.current for r in await repo.rules(conn)}
            wanted = proposals(entries, current, sub_id,
                               own_domain=clean_domain(self.settings.domain))
            fresh = await repo.replace_proposals(
                conn, sub_id, [(d.domain, d.change, d.severity, d.comment) for d in wanted])
            await repo.record_fetch(conn, sub_id, error=None, publisher=publisher)
        return fresh

    async def refresh_due(self) -> int:
        """The periodic part (the worker's lifecycle loop): fetch every list last fetched
        more than ``REFRESH_EVERY`` ago. Returns how many proposals are new or changed."""
        now = utcnow()
        fresh = 0
        for sub in await self.subscriptions():
            if sub.fetched_at is None or now - sub.fetched_at >= REFRESH_EVERY:
                fresh += await self.fetch(sub)
        return fresh

    # -- proposals --------------------------------------------------------------------------
    async def proposals(self) -> list[ProposalView]:
        """Pending proposals, except those our rules already match (another list's
        proposal accepted, or a coordinator's own change since the last fetch)."""
        async with self.db.read() as conn:
            found = await repo.proposals(conn)
            subs = {s.id: s for s in await repo.subscriptions(conn)}
            current = {r.domain: r for r in await repo.rules(conn)}
        out: list[ProposalView] = []
        for p in found:
            now = current.get(p.domain)
            before = now.severity if now else Severity.NOOP
            if before is p.severity:
                continue
            if p.change is Change.LIFT and (now is None or now.source_id != p.subscription_id):
                continue
            out.append(ProposalView(p, subs[p.subscription_id], before))
        return out

    async def pending_count(self) -> int:
        return len(await self.proposals())

    async def decide(self, user: User | None, proposal_id: int, *, accept: bool) -> str:
        """Accept (the rule changes now, through the policy) or dismiss one proposal.
        Returns its domain."""
        self._require(user)
        async with self.db.read() as conn:
            p = await repo.proposal(conn, proposal_id)
            sub = await repo.subscription(conn, p.subscription_id) if p else None
            kept = {r.domain: r for r in await repo.rules(conn)}.get(p.domain) if p else None
        if p is None or sub is None:
            raise NotFound(N_("That proposal is gone (the list changed, or someone decided)."))
        who = host_of(sub.publisher or sub.url)
        if accept and p.change is Change.LIFT:
            await self.policy.set_domain(p.domain, Severity.NOOP, source_id=None, by=user,
                                         via=N_("as the blocklist of {who} did", who=who))
        elif accept:
            await self.policy.set_domain(
                p.domain, p.severity, public_comment=p.comment,
                reason=None if kept and kept.reason else f"From the blocklist of {who}",
                source_id=sub.id, by=user, via=N_("from the blocklist of {who}", who=who))
        elif p.change is Change.LIFT:
            # Keeping a rule the other group lifted: it is ours from now on.
            async with self.db.write() as conn:
                await repo.set_details(conn, p.domain, source_id=None, touch=False)
        async with self.db.write() as conn:
            await repo.settle(conn, p.id, dismiss=not accept and p.change is not Change.LIFT)
        return p.domain

    async def decide_all(self, user: User | None, *, accept: bool) -> int:
        self._require(user)
        shown = await self.proposals()
        for view in shown:
            await self.decide(user, view.proposal.id, accept=accept)
        return len(shown)
