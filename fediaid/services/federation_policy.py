"""The federation policy of this process: which remote domains we exchange with, now.

The decisions are pure functions in ``fediaid.domain.federation``; this service holds the
current ``DomainRules`` (one in-memory snapshot), refreshes it from the database in ONE loop
(``keep_fresh``, so a change written by another process, e.g. the CLI, applies within
``REFRESH_SECONDS``) and at once after a change made in this process, and makes the changes:
blocking a domain cancels its pending deliveries and removes follows in both directions with
its actors, in the same transaction as the block.

Who asks (docs/architecture.md, "Federation policy"): the inbox (the activity's actor, the
signing key's owner, and the object of a Create/Announce), remote fetches (the fetch client
refuses blocked hosts, redirects included), signed GETs of our objects, ``enqueue`` (no
delivery is queued to a refused domain; unavailable ones are queued held), the delivery
worker when it claims (a block added after queuing cancels), following from an app, and
public timelines (silenced and blocked domains are left out).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from activitypub.vocab import id_of, is_http_uri, type_of
from fediaid.domain import federation as rule
from fediaid.domain.audit import AuditAction
from fediaid.domain.blocklists import Severity
from fediaid.domain.federation import Delivery, DomainRules
from fediaid.domain.roles import Permission
from fediaid.domain.users import User
from fediaid.errors import Blocked, Forbidden, Invalid
from fediaid.i18n import N_, Message
from fediaid.services.core import Core, Service
from fediaid.storage import domains as domains_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import outbox as outbox_repo

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0
# A domain rule in the group's log, and how it came ("imported from a file").
VIA_WORDS = N_("{did} ({via})")


def clean_domain(domain: str) -> str:
    try:
        return rule.clean_domain(domain)
    except ValueError as exc:
        raise Invalid(str(exc), field="domain") from exc


# Activities whose object is content that would be stored and shown (or fetched first).
CONTENT_ACTIVITIES = frozenset({"Create", "Update", "Announce"})


def content_uris(activity: dict[str, Any]) -> list[str]:
    """The URIs whose domains a content activity brings in: its object (by id or embedded),
    an embedded object's author, and one level further for ``Announce(Create(Note))``."""
    if type_of(activity) not in CONTENT_ACTIVITIES:
        return []
    found: list[str] = []
    obj: Any = activity.get("object")
    for _ in range(2):
        ident = id_of(obj)
        if ident:
            found.append(ident)
        if not isinstance(obj, dict):
            break
        author = id_of(obj.get("attributedTo")) or id_of(obj.get("actor"))
        if author:
            found.append(author)
        obj = obj.get("object") if type_of(obj) in CONTENT_ACTIVITIES else None
        if obj is None:
            break
    return found


def refused_content(policy: FederationPolicy, activity: dict[str, Any]) -> str | None:
    """The first URI of a content activity that the policy refuses (None: all may come)."""
    if policy.rules.open:
        return None
    for uri in content_uris(activity):
        if is_http_uri(uri) and not policy.may_exchange(uri):
            return uri
    return None


class FederationPolicy(Service):
    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self.rules = DomainRules()

    # -- the snapshot ----------------------------------------------------------------------
    async def refresh(self) -> DomainRules:
        async with self.db.read() as conn:
            self.rules = await domains_repo.load_rules(conn)
        return self.rules

    async def keep_fresh(self, stop: asyncio.Event) -> None:
        """The one refresher loop of a process (``fediaid serve`` and ``fediaid worker``)."""
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception:  # a background loop: log and keep going
                log.exception("refreshing the federation policy failed")
            try:
                await asyncio.wait_for(stop.wait(), REFRESH_SECONDS)
            except TimeoutError:
                pass

    # -- questions (cheap: the snapshot, no I/O) -----------------------------------------
    def refusal(self, uri_or_host: str) -> str | None:
        return rule.refusal(self.rules, uri_or_host)

    def may_exchange(self, uri_or_host: str) -> bool:
        return rule.may_exchange(self.rules, uri_or_host)

    def check_receive(self, *uris: str | None) -> None:
        """Raise Blocked unless every given URI's domain may talk to us."""
        rules = self.rules
        if rules.open:
            return
        for uri in uris:
            if uri and not rule.may_receive(rules, uri):
                raise Blocked(N_("This server does not accept activities from your domain."))

    def may_fetch(self, url: str) -> bool:
        return rule.may_fetch(self.rules, url)

    def is_silenced(self, uri_or_host: str) -> bool:
        return rule.is_silenced(self.rules, uri_or_host)

    def hidden_from_public(self) -> frozenset[str]:
        return rule.hidden_from_public(self.rules)

    async def delivery_plan(self, conn: AsyncConnection, inboxes: Iterable[str]
                            ) -> tuple[list[str], frozenset[str]]:
        """For ``enqueue``: (inboxes that may be queued, delivery domains to queue held).
        Unavailability is read in the caller's transaction (it changes with every delivery
        result; the snapshot could be a moment old), blocks and the allow-list from the
        snapshot."""
        held = await domains_repo.unavailable_domains(conn)
        rules = DomainRules(self.rules.suspended, self.rules.silenced, self.rules.allowed,
                            self.rules.allow_list_mode, held)
        keep: list[str] = []
        for inbox in inboxes:
            if rule.delivery(rules, inbox) is Delivery.DROP:
                log.debug("not queued for %s: %s", inbox, rule.refusal(rules, inbox))
                continue
            keep.append(inbox)
        return keep, held

    # -- changes ---------------------------------------------------------------------------
    # Each change is in the group's audit log, in its transaction: ``by`` is the coordinator
    # who made it, None the server operator (command line).
    @staticmethod
    def _may(by: User | None, permission: Permission = Permission.DOMAINS) -> None:
        if by is not None and not by.may(permission):
            raise Forbidden(N_("Only coordinators can change which servers the group talks to.")
                            if permission is Permission.DOMAINS else
                            N_("Only an admin can change that."))

    @staticmethod
    async def _audit(conn: AsyncConnection, by: User | None, domain: str, words: str,
                     reason: str | None = None, via: str | None = None) -> None:
        """``words``: marked words with ``{domain}``; ``via``: how (marked words too)."""
        from fediaid.services.audit import record

        said = Message(words, {"domain": domain})
        if via:
            said = Message(VIA_WORDS, {"did": said, "via": via})
        await record(conn, by, AuditAction.DOMAIN_RULE, target_kind="domain", target_id=domain,
                     summary=said, detail=reason or None)

    async def block(self, domain: str, *, reason: str | None = None,
                    by: User | None = None) -> tuple[int, int]:
        """Suspend a domain: refuse its activities and fetches, cancel undelivered deliveries
        to it and remove follows in both directions with its actors, in one transaction.
        Returns (deliveries cancelled, follows removed)."""
        self._may(by)
        d = clean_domain(domain)
        async with self.db.write() as conn:
            await domains_repo.set_rule(conn, d, blocked=True, reason=reason)
            cancelled = await outbox_repo.cancel_for_domains(conn, {d})
            removed = await follows_repo.remove_with_domains(conn, {d})
            await self._audit(conn, by, d, N_("blocked the server {domain}"), reason)
        await self.refresh()
        log.info("domain %s blocked: %d deliveries cancelled, %d follows removed", d,
                 cancelled, removed)
        return cancelled, removed

    async def unblock(self, domain: str, *, by: User | None = None) -> None:
        self._may(by)
        d = clean_domain(domain)
        async with self.db.write() as conn:
            await domains_repo.set_rule(conn, d, blocked=False)
            await self._audit(conn, by, d, N_("lifted the block of the server {domain}"))
        await self.refresh()

    async def silence(self, domain: str, on: bool = True, *, by: User | None = None) -> None:
        self._may(by)
        d = clean_domain(domain)
        async with self.db.write() as conn:
            await domains_repo.set_rule(conn, d, silenced=on)
            await self._audit(conn, by, d, N_("silenced the server {domain}") if on
                              else N_("stopped silencing the server {domain}"))
        await self.refresh()

    async def allow(self, domain: str, on: bool = True, *, by: User | None = None) -> None:
        """Put a domain on (or take it off) the allow-list."""
        self._may(by)
        d = clean_domain(domain)
        async with self.db.write() as conn:
            await domains_repo.set_rule(conn, d, allowed=on)
            if not on:
                await self._cancel_refused(conn)
            await self._audit(conn, by, d, N_("added the server {domain} to the allow-list")
                              if on else N_("took the server {domain} off the allow-list"))
        await self.refresh()

    async def set_domain(self, domain: str, severity: Severity, *, reason: str | None = None,
                         public_comment: str | None = None, obfuscate: bool | None = None,
                         source_id: int | bool | None = False, by: User | None = None,
                         via: str | None = None) -> tuple[int, int]:
        """Give a domain one rule (Mastodon's severities: suspend, silence, or noop for
        none), with its private reason and public comment (None: leave as they are). A
        suspension does what ``block`` does, in the same transaction. ``source_id``: the
        subscribed blocklist the rule comes from (False: leave; None: our own). The change
        is written in the audit log in the same transaction (``by`` None: the server
        operator; ``via`` says how, e.g. "from the blocklist of @oak@oak.example").
        Returns (deliveries cancelled, follows removed)."""
        from fediaid.storage import blocklists as blocklists_repo

        self._may(by)
        d = clean_domain(domain)
        cancelled = removed = 0
        async with self.db.write() as conn:
            kept = {r.domain: r for r in await blocklists_repo.rules(conn)}.get(d)
            if reason is None and kept is not None:
                reason = kept.reason
            suspend = severity is Severity.SUSPEND
            await domains_repo.set_rule(conn, d, blocked=suspend,
                                        silenced=severity is Severity.SILENCE,
                                        reason=reason if suspend else None)
            if suspend:
                cancelled = await outbox_repo.cancel_for_domains(conn, {d})
                removed = await follows_repo.remove_with_domains(conn, {d})
            if severity is Severity.NOOP and not (kept is not None and kept.allowed):
                await blocklists_repo.set_details(conn, d, reason="", public_comment="",
                                                  obfuscate=False, source_id=None)
            else:
                await blocklists_repo.set_details(conn, d, reason=reason,
                                                  public_comment=public_comment,
                                                  obfuscate=obfuscate, source_id=source_id)
            words = {Severity.SUSPEND: N_("blocked the server {domain}"),
                     Severity.SILENCE: N_("silenced the server {domain}"),
                     Severity.NOOP: N_("lifted the rule for the server {domain}")}[severity]
            await self._audit(conn, by, d, words, reason, via=via)
        await self.refresh()
        log.info("domain %s: %s", d, severity.value)
        return cancelled, removed

    async def set_allow_list_mode(self, on: bool, *, by: User | None = None) -> int:
        """Only domains on the allow-list federate (on), or every domain not blocked (off).
        Turning it on cancels undelivered deliveries to domains not on the list. Returns how
        many were cancelled."""
        self._may(by)
        async with self.db.write() as conn:
            await domains_repo.set_allow_list_mode(conn, on)
            cancelled = await self._cancel_refused(conn) if on else 0
            from fediaid.services.audit import record

            await record(conn, by, AuditAction.ALLOW_LIST_MODE, target_kind="setting",
                         target_id="federation_allow_list",
                         summary=N_("let only servers on the allow-list talk with the group")
                         if on else N_("let every server that is not blocked talk with the "
                                       "group"))
        await self.refresh()
        return cancelled

    @staticmethod
    async def _cancel_refused(conn: AsyncConnection) -> int:
        """Cancel undelivered deliveries that the rules now in ``conn`` refuse."""
        rules = await domains_repo.load_rules(conn)
        if rules.open:
            return 0
        refused = [job_id for job_id, inbox in await outbox_repo.undelivered_inboxes(conn)
                   if not rule.may_exchange(rules, inbox)]
        return await outbox_repo.cancel_deliveries(conn, refused,
                                                   "refused by the federation policy")
