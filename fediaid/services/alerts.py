"""Account alerts between linked groups (issue 12, "Accountability across the network";
the rules in fediaid/domain/alerts.py, plain words in docs/moderation.md and
docs/network.md, the wire in docs/federation.md, "Account alerts").

- **Sharing.** A coordinator suspends an account for harm (``suspend``: a member of this
  group, or an account of another server) with a category and, if they want, words to share;
  ticking "tell linked groups" (off by default) sends an ``AccountAlert`` signed by the group
  actor to each linked group whose link is active and on which this group shares account
  alerts, in the suspension's own transaction. An account already suspended (after a
  report, say) can be alerted the same way: the suspension is then unchanged.
- **Retracting.** ``retract`` sends ``Undo`` of the alert to the groups that were told.
- **Receiving.** ``receive`` (the inbox, in its transaction) keeps an alert only from a
  group whose link with us is active and whose side shares account alerts, on a server the
  federation policy lets in; the rest is dropped. ``on_undo`` removes a retracted alert,
  or marks it when it was applied here.
- **Deciding.** Coordinators ``apply`` an alert (the same suspension here, with one action)
  or ``dismiss`` it. Every share, retraction, application and dismissal is in the audit log.

What leaves the group is only the account's id and handle, the category and the shared
words: never the group's private reason, reports, posts or anything else about the person.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from activitypub.vocab import host_of
from fediaid.domain.actors import Actor, ActorType
from fediaid.domain.alerts import (
    HARM_WORDS,
    MAX_HANDLE,
    AlertError,
    AlertState,
    Harm,
    accepts_from,
    clean_reason,
    decide,
    on_retraction,
    parse_harm,
    reason_problem,
    recipients,
)
from fediaid.domain.audit import AuditAction
from fediaid.domain.roles import Permission
from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, Invalid, NotFound
from fediaid.federation import render
from fediaid.federation.inbound import parse_account_alert
from fediaid.i18n import N_
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import alerts as repo
from fediaid.storage import links as links_repo
from fediaid.storage.links import Link
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.services.federation_policy import FederationPolicy
    from fediaid.services.follows import FollowService
    from fediaid.services.links import LinkService
    from fediaid.services.outbox import Outbox
    from fediaid.services.reports import ReportService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Suspended:
    """What ``suspend`` did: the account, and how many linked groups were told."""

    account: Actor
    told: int
    already_shared: bool = False


def _harm(value: object) -> Harm:
    try:
        return Harm(str(value or ""))
    except ValueError:
        raise Invalid(N_("Choose what kind of harm it was."), field="harm") from None


class AlertService(Service):
    def __init__(self, core: Core, *, follows: FollowService, links: LinkService,
                 outbox: Outbox, policy: FederationPolicy, reports: ReportService) -> None:
        super().__init__(core)
        self.follows = follows
        self.links = links
        self.outbox = outbox
        self.policy = policy
        self.reports = reports

    @staticmethod
    def _require(user: User | None) -> None:
        """``None`` is the command line (whoever runs it runs the server)."""
        if user is not None and not user.may(Permission.MODERATE):
            raise Forbidden(N_("Only coordinators can see and act on account alerts."))

    # -- who is told -------------------------------------------------------------------------
    def _told(self, links: list[Link]) -> list[Link]:
        return [link for link in recipients(links) if self.policy.may_exchange(link.actor_uri)]

    async def told_groups(self) -> list[Link]:
        """The linked groups an alert would go to now."""
        async with self.db.read() as conn:
            return self._told(await links_repo.all_links(conn))

    # -- sharing ------------------------------------------------------------------------------
    async def account(self, handle_or_url: str) -> Actor:
        """A member of this group (``name``, ``@name`` or ``@name@our.domain``) or an
        account of another server (known here, else looked up)."""
        text = handle_or_url.strip()
        if not text:
            raise Invalid(N_("Write the account's address, like @name@their.server."),
                          field="account")
        async with self.db.read() as conn:
            if "://" in text:
                found = await actors_repo.find_by_uri(conn, text)
            else:
                name, _, domain = text.removeprefix("@").partition("@")
                found = (await actors_repo.find_local(conn, name)
                         if not domain or domain == self.settings.domain
                         else await actors_repo.find_by_handle(conn, name, domain))
                if found is None and (not domain or domain == self.settings.domain):
                    raise NotFound(N_("No such account here."))
        if found is None:
            found = await self.follows.find_remote_actor(text)
        if found.type is ActorType.APPLICATION or found.id == self.identity.group.id:
            raise Invalid(N_("That account cannot be suspended."), field="account")
        return found

    async def suspend(self, user: User | None, handle_or_url: str, harm: object, *,
                      reason: object = "", share: bool = False) -> Suspended:
        """Suspend an account for harm (already suspended: unchanged) and, when ``share``,
        tell the linked groups that get alerts, with the category and ``reason``."""
        self._require(user)
        kind = _harm(harm)
        words = clean_reason(reason)
        problem = reason_problem(words)
        if problem:
            raise Invalid(problem, field="reason")
        target = await self.account(handle_or_url)
        harm_words = HARM_WORDS[kind]
        async with self.db.write() as conn:
            if not await self.reports.is_suspended(conn, target):
                detail = f"Shared reason: {words}" if words else None
                if target.local:
                    await self.reports.suspend_local_in(
                        conn, user, target, detail=detail,
                        summary=N_("suspended the account {name} for harm ({harm})",
                                   name=target.handle, harm=harm_words))
                else:
                    await self.reports.suspend_remote_in(
                        conn, user, target.uri, reason=words or harm_words,
                        action=AuditAction.REMOTE_SUSPENDED, detail=detail,
                        summary=N_("suspended the account {name} of another server for "
                                   "harm ({harm})", name=target.handle, harm=harm_words))
            if not share:
                return Suspended(target, 0)
            if await repo.standing_for(conn, target.uri) is not None:
                return Suspended(target, 0, already_shared=True)
            told = await self._share(conn, user, target, kind, words)
        if told:
            self.signals.delivery_wakeup.set()
        return Suspended(target, told)

    async def _share(self, conn: AsyncConnection, user: User | None, target: Actor,
                     harm: Harm, reason: str) -> int:
        links = self._told(await links_repo.all_links(conn))
        if not links:
            return 0
        group = self.identity.group
        inboxes: list[str] = []
        for link in links:
            actor = await actors_repo.find_by_id(conn, link.actor_id)
            inbox = actor.delivery_inbox or actor.inbox if actor else None
            if inbox:
                inboxes.append(inbox)
        to = [link.actor_uri for link in links]
        activity_id = self.urls.new_activity()
        handle = target.handle[:MAX_HANDLE]
        activity = render.account_alert(activity_id, group.uri, to, account_uri=target.uri,
                                        handle=handle, harm=harm.value, reason=reason,
                                        published=utcnow())
        # No object_uri: the account deleting itself must not cancel the alert's delivery.
        await self.outbox.enqueue(conn, actor=group, activity=activity, inboxes=inboxes)
        await repo.add_sent(conn, activity_uri=activity_id, account_uri=target.uri,
                            account_handle=handle, harm=harm, reason=reason, sent_to=to,
                            by_user_id=user.id if user else None)
        await record(conn, user, AuditAction.ALERT_SHARED, target_kind="actor",
                     target_id=target.id,
                     summary=N_("shared an alert about {name} ({harm}) with linked "
                                "groups ({n})", name=handle, harm=HARM_WORDS[harm], n=len(to)),
                     detail=f"Shared reason: {reason}" if reason else None)
        log.info("alert shared", extra={"groups": len(to)})
        return len(to)

    async def retract(self, user: User | None, alert_id: int, *, lift: bool = False) -> int:
        """Take back one of our alerts: ``Undo`` of it to the groups that were told (those
        the federation policy still lets us reach). ``lift``: the suspension here is lifted
        too, in the same transaction. Returns how many groups are told."""
        self._require(user)
        async with self.db.write() as conn:
            alert = await repo.find_sent(conn, alert_id)
            if alert is None:
                raise NotFound(N_("No such alert."))
            if not await repo.mark_retracted(conn, alert_id):
                raise Conflict(N_("This alert was retracted already."))
            group = self.identity.group
            inboxes: list[str] = []
            for uri in alert.sent_to:
                actor = await actors_repo.find_by_uri(conn, uri)
                inbox = actor.delivery_inbox or actor.inbox if actor else None
                if inbox and self.policy.may_exchange(uri):
                    inboxes.append(inbox)
            if inboxes:
                undo = render.undo_account_alert(
                    self.urls.new_activity(), group.uri, list(alert.sent_to),
                    alert_id=alert.activity_uri, account_uri=alert.account_uri)
                await self.outbox.enqueue(conn, actor=group, activity=undo, inboxes=inboxes)
            await record(conn, user, AuditAction.ALERT_RETRACTED, target_kind="alert",
                         target_id=alert.id,
                         summary=N_("retracted the alert about {name}",
                                    name=alert.account_handle or alert.account_uri))
            if lift:
                await self.reports.lift_suspension_in(
                    conn, user, alert.account_uri,
                    name=alert.account_handle or alert.account_uri)
        if inboxes:
            self.signals.delivery_wakeup.set()
        return len(inboxes)

    # -- reading ------------------------------------------------------------------------------
    async def sent(self, user: User | None) -> list[repo.SentAlert]:
        self._require(user)
        async with self.db.read() as conn:
            return await repo.sent(conn)

    async def received(self, user: User | None, *, states: tuple[AlertState, ...] | None = None
                       ) -> list[repo.ReceivedAlert]:
        self._require(user)
        async with self.db.read() as conn:
            return await repo.received(conn, states=states)

    async def count_open(self, user: User | None) -> int:
        self._require(user)
        async with self.db.read() as conn:
            return await repo.count_open(conn)

    # -- deciding -----------------------------------------------------------------------------
    async def _decision(self, conn: AsyncConnection, alert_id: int, wanted: AlertState
                        ) -> repo.ReceivedAlert:
        alert = await repo.find_received(conn, alert_id)
        if alert is None:
            raise NotFound(N_("That alert is gone (its group retracted it)."))
        try:
            decide(alert.state, wanted)
        except AlertError as exc:
            raise Conflict(exc.args[0]) from None
        return alert

    async def apply(self, user: User | None, alert_id: int) -> repo.ReceivedAlert:
        """Suspend the account here too, as the alert's group did (one action)."""
        self._require(user)
        async with self.db.write() as conn:
            alert = await self._decision(conn, alert_id, AlertState.APPLIED)
            name = alert.account_handle or alert.account_uri
            harm = HARM_WORDS[alert.harm]
            summary = N_("suspended the account {name}, after an alert from {group} "
                         "({harm})", name=name, group=alert.from_handle, harm=harm)
            local = self.urls.is_local(alert.account_uri)
            if local:
                target = await actors_repo.find_by_uri(conn, alert.account_uri)
                if target is None:
                    raise NotFound(N_("No such account here."))
                if target.type is ActorType.APPLICATION or target.id == self.identity.group.id:
                    raise Invalid(N_("That account cannot be suspended."))
                if not await self.reports.is_suspended(conn, target):
                    await self.reports.suspend_local_in(conn, user, target,
                                                        action=AuditAction.ALERT_APPLIED,
                                                        summary=summary)
                else:
                    await record(conn, user, AuditAction.ALERT_APPLIED, target_kind="alert",
                                 target_id=alert.id, summary=summary)
            else:
                await self.reports.suspend_remote_in(
                    conn, user, alert.account_uri, action=AuditAction.ALERT_APPLIED,
                    summary=summary,
                    reason=f"Alert from {alert.from_handle} ({alert.harm.value})"
                           + (f": {alert.reason}" if alert.reason else ""))
            if not await repo.set_state(conn, alert.id, before=alert.state,
                                        state=AlertState.APPLIED,
                                        by_user_id=user.id if user else None):
                raise Conflict(N_("This alert was already dealt with."))
            found = await repo.find_received(conn, alert.id)
        assert found is not None
        return found

    async def dismiss(self, user: User | None, alert_id: int) -> None:
        self._require(user)
        async with self.db.write() as conn:
            alert = await self._decision(conn, alert_id, AlertState.DISMISSED)
            if not await repo.set_state(conn, alert.id, before=alert.state,
                                        state=AlertState.DISMISSED,
                                        by_user_id=user.id if user else None):
                raise Conflict(N_("This alert was already dealt with."))
            await record(conn, user, AuditAction.ALERT_DISMISSED, target_kind="alert",
                         target_id=alert.id,
                         summary=N_("dismissed the alert from {group} about {name}",
                                    group=alert.from_handle,
                                    name=alert.account_handle or alert.account_uri))

    # -- received (services/inbox_activities, in the inbox's transaction) -----------------------
    async def receive(self, conn: AsyncConnection, actor: Actor, activity: dict[str, Any],
                      activity_uri: str) -> bool:
        """An ``AccountAlert`` arrived. Kept only from a group actively linked with us whose
        side shares account alerts, on a server the federation policy lets in, addressed
        to our group. Returns whether it was kept (new)."""
        group = self.identity.group
        link = await links_repo.find(conn, actor.id)
        if actor.type is not ActorType.GROUP or not accepts_from(link) or (
                not self.policy.may_exchange(actor.uri)):
            log.info("account alert from %s refused: not a linked group sharing alerts",
                     host_of(actor.uri))
            return False
        alert = parse_account_alert(activity)
        if alert is None or group.uri not in alert.addressed_to:
            log.info("account alert from %s ignored: not usable", host_of(actor.uri))
            return False
        if alert.account_uri in (group.uri, self.identity.instance.uri):
            return False
        kept = await repo.add_received(
            conn, activity_uri=activity_uri, from_actor_id=actor.id,
            account_uri=alert.account_uri, account_handle=alert.handle,
            harm=parse_harm(alert.harm), reason=alert.reason)
        if kept:
            log.info("account alert received from %s", host_of(actor.uri))
        return kept

    async def on_undo(self, conn: AsyncConnection, actor: Actor, alert_uri: str | None,
                      account_uri: str | None) -> None:
        """``actor`` retracted one of its alerts: an open or dismissed one is deleted; an
        applied one stays (the suspension is ours now) and is marked retracted. Taken from
        the group that sent it whatever the link's state: it only removes its own words."""
        found = await repo.received_by_activity(conn, actor.id, alert_uri) if alert_uri else None
        alerts = [found] if found is not None else (
            await repo.received_about(conn, actor.id, account_uri) if account_uri else [])
        for alert in alerts:
            if on_retraction(alert.state):
                await repo.remove_received(conn, alert.id)
            else:
                await repo.mark_received_retracted(conn, alert.id)
        if alerts:
            log.info("account alert retracted by %s", host_of(actor.uri))
