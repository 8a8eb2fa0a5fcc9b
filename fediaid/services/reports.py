"""Reports and taking posts down (safety issue "Accountability").

- **Reports.** A member reports an account, and optionally some of its posts (web pages,
  ``POST /api/v1/reports``); another server reports one of our accounts with a ``Flag``
  (``receive_flag``, from the inbox). Coordinators see the open reports (``queue``) and act:
  dismiss, hide or remove a post, limit or suspend a local account, suspend a remote account
  (its activities are ignored at the inbox) or block its server (``ModerationService``).
  The reporter is told the outcome in plain words (``mine``).
- **Forwarding.** A report about a remote account can be sent to its server as a ``Flag``
  from the instance actor, naming the account and the reported posts with the comment:
  never who reported (Mastodon does the same).
- **Takedowns.** A coordinator hides (kept, seen only by coordinators and its author:
  ``Post.hidden``/``Status.hidden`` in ``visibility``) or removes (deleted here and
  everywhere it was sent) any post or note, with a reason. The author is told why
  (``notices``, and on the hidden post itself); nothing of a removed post's content is kept.
- **Accounts.** Suspend: the account cannot log in, its sessions end and its app tokens are
  revoked (``users.disabled``). Limit: whatever it posts from now on is members-only
  (``users.limited``, asked by the posting paths through ``narrowed_level``).

What a remote server learns from a Flag we receive is only what it sent; what we show about
a report from another server is its domain, never the sending actor.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from activitypub.vocab import host_of, ids_of
from fediaid.domain.actors import Actor, ActorType
from fediaid.domain.audit import AuditAction
from fediaid.domain.posts import Post, kind_words
from fediaid.domain.reports import (
    MAX_COMMENT,
    MAX_REASON,
    Action,
    Category,
    Report,
    ReportItem,
    ReportState,
    Takedown,
    TakedownAction,
    outcome_words,
)
from fediaid.domain.roles import Permission
from fediaid.domain.statuses import Status
from fediaid.domain.users import User
from fediaid.domain.visibility import Viewer
from fediaid.errors import Conflict, Forbidden, Invalid, NotFound
from fediaid.federation import render
from fediaid.i18n import N_
from fediaid.services import post_records
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.services.retention import forget_object
from fediaid.storage import actors as actors_repo
from fediaid.storage import objects as objects_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage import reports as repo
from fediaid.storage import statuses as statuses_repo
from fediaid.storage import users as users_repo

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.services.moderation import ModerationService
    from fediaid.services.outbox import Outbox
    from fediaid.services.post_federation import PostFederation
    from fediaid.services.posts import PostService
    from fediaid.services.status_reading import StatusReading

log = logging.getLogger(__name__)

MAX_ITEMS = 20
_TAGS = re.compile(r"<[^>]+>")


def _plain(html_text: str) -> str:
    import html

    return html.unescape(_TAGS.sub(" ", html_text.replace("<br>", "\n"))).strip()


def _clean(value: object, *, field: str, max_len: int, required: bool = False) -> str:
    text = str(value or "").replace("\r\n", "\n").strip()
    if required and not text:
        raise Invalid(N_("Please write the {field}.", field=field), field=field)
    if len(text) > max_len:
        raise Invalid(N_("The {field} is too long: keep it under {max} characters.",
                         field=field, max=max_len), field=field)
    return text


@dataclass(frozen=True)
class Reported:
    """One reported post or note, as coordinators see it (they may see everything)."""

    object_uri: str
    status_id: int | None
    post: Post | None
    status: Status | None
    text: str  # what it says (plain), "" when gone
    gone: bool
    hidden: bool
    local: bool


@dataclass(frozen=True)
class ReportView:
    report: Report
    reporter: str  # "maria", or "someone on other.example"
    target: Actor
    target_user: User | None  # when the account is local
    items: tuple[Reported, ...]


class ReportService(Service):
    def __init__(self, core: Core, *,
                 moderation: ModerationService, outbox: Outbox,
                 post_federation: PostFederation, posts: PostService,
                 status_reading: StatusReading) -> None:
        super().__init__(core)
        self.moderation = moderation
        self.outbox = outbox
        self.post_federation = post_federation
        self.posts = posts
        self.status_reading = status_reading

    # -- filing a report ------------------------------------------------------------------
    async def create(self, user: User, *, account_id: int | None = None,
                     status_ids: Sequence[int] = (), post_ids: Sequence[int] = (),
                     comment: str = "", category: str | None = None, forward: bool = False,
                     rule_ids: Sequence[str] = ()) -> Report:
        """A member reports an account, and some of its posts (statuses for apps, posts for
        the web pages). Only what the member may see can be reported. ``account_id``
        None: the author of the first post named."""
        comment = _clean(comment, field="comment", max_len=MAX_COMMENT)
        try:
            cat = Category(category) if category else (
                Category.VIOLATION if rule_ids else Category.OTHER)
        except ValueError as exc:
            raise Invalid(N_("The {field} must be one of: {choices}.", field="category",
                             choices="spam, legal, violation, other"),
                          field="category") from exc
        if len(status_ids) + len(post_ids) > MAX_ITEMS:
            raise Invalid(N_("Report at most {n} posts at once.", n=MAX_ITEMS),
                          field="status_ids")
        viewer = await self.status_reading.viewer(user)
        items: list[ReportItem] = []
        authors: list[int] = []
        for sid in status_ids:
            status = await self.status_reading.get(viewer, sid)  # NotFound if not visible
            if status.reblog_of_id is not None:
                raise NotFound(N_("Record not found"))
            items.append(ReportItem(status.uri, status.id, status.post_id))
            authors.append(status.account_id)
        for pid in post_ids:
            post = await self.posts.get(viewer, pid)
            async with self.db.read() as conn:
                sid_of_post = await statuses_repo.id_for_post(conn, post.id)
                author = await actors_repo.get_by_uri(conn, post.author_uri)
            items.append(ReportItem(post.uri, sid_of_post, post.id))
            authors.append(author.id)
        if account_id is None:
            if not authors:
                raise Invalid(N_("Say which account or post you are reporting."),
                              field="account_id")
            account_id = authors[0]
        target = await self.account(account_id)
        if any(a != target.id for a in authors):
            raise Invalid(N_("The posts you report must be by the account you report."),
                          field="status_ids")
        if target.id == user.actor_id:
            raise Invalid(N_("You cannot report yourself."), field="account_id")
        async with self.db.write() as conn:
            report_id = await repo.insert(
                conn, target_actor_id=target.id, category=cat, comment=comment, items=items,
                reporter_user_id=user.id, forward=forward and not target.local,
                rule_ids=[str(r) for r in rule_ids])
            assert report_id is not None
            if forward and not target.local:
                await self._forward(conn, report_id)
            report = await repo.find(conn, report_id)
        assert report is not None
        log.info("report %s filed about actor %s", report_id, target.id)
        return report

    async def account(self, actor_id: int) -> Actor:
        """An account that can be reported (not the instance actor)."""
        async with self.db.read() as conn:
            target = await actors_repo.find_by_id(conn, actor_id)
        if target is None or target.type is ActorType.APPLICATION:
            raise NotFound(N_("No such account."))
        return target

    async def receive_flag(self, conn: AsyncConnection, actor: Actor, activity: dict[str, Any],
                           activity_uri: str) -> int | None:
        """A ``Flag`` from another server (in the inbox's transaction): ``object`` names our
        account and/or some of its posts; ``content`` is the comment. Anything not ours is
        ignored; a Flag naming nothing of ours stores nothing."""
        target: Actor | None = None
        items: list[ReportItem] = []
        for uri in ids_of(activity.get("object"))[:MAX_ITEMS + 1]:
            if not self.urls.is_local(uri):
                continue
            found = await actors_repo.find_by_uri(conn, uri)
            if found is not None:
                if found.local and found.type is not ActorType.APPLICATION and target is None:
                    target = found
                continue
            status = await statuses_repo.find_by_uri(conn, uri)
            post = await posts_repo.find_by_uri(conn, uri)
            if status is not None:
                items.append(ReportItem(uri, status.id, status.post_id))
                author_id: int | None = status.account_id
            elif post is not None:
                author = await actors_repo.find_by_uri(conn, post.author_uri)
                author_id = author.id if author else None
                items.append(ReportItem(uri, None, post.id))
            else:
                continue
            if target is None and author_id is not None:
                target = await actors_repo.find_by_id(conn, author_id)
        if target is None:
            return None
        content = activity.get("content")
        comment = _plain(content)[:MAX_COMMENT] if isinstance(content, str) else ""
        report_id = await repo.insert(
            conn, target_actor_id=target.id, category=Category.OTHER, comment=comment,
            items=items, reporter_actor_id=actor.id, reporter_domain=actor.domain,
            activity_uri=activity_uri)
        if report_id is not None:
            log.info("report %s received from %s", report_id, actor.domain)
        return report_id

    # -- coordinators ---------------------------------------------------------------------
    @staticmethod
    def _coordinator(user: User) -> None:
        if not user.may(Permission.MODERATE):
            raise Forbidden(N_("Only coordinators can see and act on reports."))

    async def count_open(self, user: User) -> int:
        self._coordinator(user)
        async with self.db.read() as conn:
            return await repo.count_open(conn)

    async def queue(self, user: User, *, state: ReportState | None = ReportState.OPEN
                    ) -> list[ReportView]:
        self._coordinator(user)
        async with self.db.read() as conn:
            found = await repo.listed(conn, state=state)
            return [await self._view(conn, r) for r in found]

    async def get(self, user: User, report_id: int) -> ReportView:
        self._coordinator(user)
        async with self.db.read() as conn:
            report = await repo.find(conn, report_id)
            if report is None:
                raise NotFound(N_("No such report."))
            return await self._view(conn, report)

    async def _view(self, conn: AsyncConnection, report: Report) -> ReportView:
        if report.reporter_user_id is not None:
            reporter = (await users_repo.get(conn, report.reporter_user_id)).username
        elif report.reporter_domain:
            reporter = N_("someone on {server}", server=report.reporter_domain)
        else:
            reporter = N_("an account that no longer exists")
        target = await actors_repo.get_by_id(conn, report.target_actor_id)
        target_user = await users_repo.find_by_actor(conn, target.id) if target.local else None
        items: list[Reported] = []
        for item in report.items:
            post = await posts_repo.find(conn, item.post_id) if item.post_id else None
            status = await statuses_repo.find(conn, item.status_id) if item.status_id else None
            if post is not None:
                text = post.title + ("\n" + post.description if post.description else "")
            elif status is not None:
                text = status.text or _plain(status.content)
            else:
                text = ""
            items.append(Reported(
                object_uri=item.object_uri, status_id=item.status_id, post=post, status=status,
                text=text, gone=post is None and status is None,
                hidden=bool((post and post.hidden) or (status and status.hidden)),
                local=bool((post and post.local) or (status and status.local))))
        return ReportView(report, reporter, target, target_user, tuple(items))

    async def act(self, user: User, report_id: int, action: Action, *, reason: str = "",
                  note: str = "", object_uri: str | None = None) -> Report:
        """Resolve a report with ``action``. ``reason``: for a hidden or removed post, what
        its author is told. ``note``: optional words added for the reporter."""
        self._coordinator(user)
        note = _clean(note, field="note", max_len=MAX_REASON)
        view = await self.get(user, report_id)
        report, target = view.report, view.target
        if not report.is_open:
            raise Conflict(N_("This report was already dealt with."))
        if action.local_only and not target.local:
            raise Invalid(N_("That account is on another server: suspend it or block its "
                             "server instead."), field="action")
        if action.remote_only and target.local:
            raise Invalid(N_("That account is on this server: limit or suspend it instead."),
                          field="action")
        if action in (Action.HIDE_POST, Action.REMOVE_POST):
            candidates = [i for i in view.items if not i.gone and (
                object_uri is None or i.object_uri == object_uri)]
            if not candidates:
                raise Invalid(N_("That post is gone already: choose another action."),
                              field="action")
            reason = _clean(reason, field="reason", max_len=MAX_REASON, required=True)
            take = TakedownAction.HIDE if action is Action.HIDE_POST else TakedownAction.REMOVE
            for item in candidates:
                await self._take_down(user, item.post, item.status, take, reason,
                                      report_id=report_id)
        elif action is Action.SUSPEND:
            await self.suspend_local(user, target)
        elif action is Action.LIMIT:
            assert view.target_user is not None
            async with self.db.write() as conn:
                await repo.set_limited(conn, view.target_user.id, True)
                await record(conn, user, AuditAction.ACCOUNT_LIMITED, target_kind="account",
                             target_id=view.target_user.id,
                             summary=N_("limited the account {name} (new posts are "
                                        "members-only), after report #{id}",
                                        name=view.target_user.username, id=report_id))
        elif action is Action.SUSPEND_REMOTE:
            async with self.db.write() as conn:
                await repo.suspend_actor(conn, target.uri, note or report.comment)
                await repo.hide_posts_of_actor(conn, target.id)
                await statuses_repo.delete_by_account(conn, target.id)
                await record(conn, user, AuditAction.REMOTE_SUSPENDED, target_kind="actor",
                             target_id=target.id,
                             summary=N_("suspended the account {name} of another server, "
                                        "after report #{id}", name=target.handle,
                                        id=report_id))
        elif action is Action.BLOCK_DOMAIN:
            if target.domain == self.settings.domain:
                raise Invalid(N_("That is this server."), field="action")
            await self.moderation.block_domain(target.domain,
                                                  reason=note or "after a report", by=user)
        outcome = outcome_words(action, domain=target.domain, note=note)
        async with self.db.write() as conn:
            if not await repo.resolve(conn, report_id, action=action, outcome=outcome,
                                      by_user_id=user.id):
                raise Conflict(N_("This report was already dealt with."))
            if action is Action.DISMISS:  # the other actions are logged as they are done
                await record(conn, user, AuditAction.REPORT_DISMISSED, target_kind="report",
                             target_id=report_id,
                             summary=N_("dismissed report #{id}", id=report_id))
            found = await repo.find(conn, report_id)
        assert found is not None
        log.info("report %s resolved: %s", report_id, action.value)
        return found

    async def forward(self, user: User, report_id: int) -> None:
        """Send the report to the reported account's server as a Flag from the instance
        actor (the reporter is never named)."""
        view = await self.get(user, report_id)
        if view.target.local:
            raise Invalid(N_("That account is on this server: there is nobody to forward to."))
        async with self.db.write() as conn:
            await self._forward(conn, report_id)

    async def _forward(self, conn: AsyncConnection, report_id: int) -> None:
        report = await repo.find(conn, report_id)
        assert report is not None
        target = await actors_repo.get_by_id(conn, report.target_actor_id)
        inbox = target.delivery_inbox
        if target.local or not inbox:
            return
        objects = [target.uri] + [i.object_uri for i in report.items
                                  if host_of(i.object_uri) == target.domain]
        instance = self.identity.instance
        flag = render.flag(self.urls.new_activity(), instance.uri, objects, report.comment)
        await self.outbox.enqueue(conn, actor=instance, activity=flag, inboxes=[inbox])
        await repo.mark_forwarded(conn, report_id)

    # -- accounts -------------------------------------------------------------------------
    async def suspend_local(self, user: User, target: Actor) -> None:
        self._coordinator(user)
        async with self.db.write() as conn:
            await self.suspend_local_in(conn, user, target)

    async def suspend_local_in(self, conn: AsyncConnection, user: User | None, target: Actor,
                               *, action: AuditAction = AuditAction.ACCOUNT_SUSPENDED,
                               summary: str | None = None, detail: str | None = None
                               ) -> None:
        """Suspend a member of this group in ``conn``'s transaction (as ``suspend_local``;
        ``user`` None: the server operator), with its audit entry."""
        account = await users_repo.find_by_actor(conn, target.id)
        if account is None or not target.local:
            raise NotFound(N_("No such account here."))
        if user is not None and account.id == user.id:
            raise Invalid(N_("You cannot suspend yourself."), field="action")
        await repo.set_disabled(conn, account.id, True)
        await repo.end_all_sessions(conn, account.id)
        await users_repo.revoke_all_tokens(conn, account.id)
        await record(conn, user, action, target_kind="account", target_id=account.id,
                     summary=summary or N_("suspended the account {name}",
                                           name=account.username), detail=detail)

    async def suspend_remote_in(self, conn: AsyncConnection, user: User | None, uri: str, *,
                                reason: str, action: AuditAction, summary: str,
                                detail: str | None = None) -> None:
        """Suspend an account of another server in ``conn``'s transaction (as the report
        action: its activities are ignored, its statuses here dropped, its posts hidden;
        an account we never saw is suspended by its URI), with its audit entry."""
        await repo.suspend_actor(conn, uri, reason)
        known = await actors_repo.find_by_uri(conn, uri)
        if known is not None and not known.local:
            await repo.hide_posts_of_actor(conn, known.id)
            await statuses_repo.delete_by_account(conn, known.id)
        await record(conn, user, action, target_kind="actor",
                     target_id=known.id if known else None, summary=summary, detail=detail)

    async def lift_suspension_in(self, conn: AsyncConnection, user: User | None,
                                 uri: str, *, name: str) -> bool:
        """Lift the suspension of an account (a member: may log in again; another
        server's: its activities are accepted again) in ``conn``'s transaction, with its
        audit entry. What was hidden or dropped when it was suspended stays so. Returns
        whether it was suspended."""
        target = await actors_repo.find_by_uri(conn, uri)
        if target is not None and target.local:
            account = await users_repo.find_by_actor(conn, target.id)
            if account is None or not account.disabled:
                return False
            await repo.set_disabled(conn, account.id, False)
        elif not await repo.unsuspend_actor(conn, uri):
            return False
        await record(conn, user, AuditAction.SUSPENSION_LIFTED, target_kind="actor",
                     target_id=target.id if target else None,
                     summary=N_("lifted the suspension of the account {name}", name=name))
        return True

    async def is_suspended(self, conn: AsyncConnection, target: Actor) -> bool:
        """Whether an account is suspended here (a member: disabled; another server's:
        in ``suspended_actors``)."""
        if target.local:
            account = await users_repo.find_by_actor(conn, target.id)
            return account is not None and account.disabled
        return await repo.actor_suspended(conn, target.uri)

    async def actor_suspended(self, conn: AsyncConnection, uri: str) -> bool:
        """For the inbox: a suspended remote account's activities are ignored."""
        return await repo.actor_suspended(conn, uri)

    async def suspended_among(self, conn: AsyncConnection, uris: Iterable[str]
                              ) -> frozenset[str]:
        """For the inbox, a batch at a time: which of ``uris`` are suspended."""
        return await repo.suspended_among(conn, uris)

    async def is_limited(self, conn: AsyncConnection, user: User) -> bool:
        """For the posting paths: a limited account's new posts are members-only."""
        return await repo.is_limited(conn, user.id)

    # -- takedowns ------------------------------------------------------------------------
    async def take_down(self, user: User, *, action: TakedownAction, reason: str,
                        post_id: int | None = None, status_id: int | None = None) -> None:
        """Hide or remove a post (offer or need) or a note, from its page or the queue."""
        self._coordinator(user)
        reason = _clean(reason, field="reason", max_len=MAX_REASON, required=True)
        async with self.db.read() as conn:
            post = await posts_repo.find(conn, post_id) if post_id is not None else None
            status = await statuses_repo.find(conn, status_id) if status_id is not None else None
            if status is not None and status.post_id is not None and post is None:
                post = await posts_repo.find(conn, status.post_id)
        if post is None and status is None:
            raise NotFound(N_("No such post."))
        await self._take_down(user, post, status, action, reason, report_id=None)

    async def _take_down(self, user: User, post: Post | None, status: Status | None,
                         action: TakedownAction, reason: str, *, report_id: int | None
                         ) -> None:
        async with self.db.write() as conn:
            if post is not None:
                post = await posts_repo.find(conn, post.id)
            if status is not None:
                status = await statuses_repo.find(conn, status.id)
            if post is None and status is not None and status.post_id is not None:
                return  # the offer or need is gone already
            if post is None and status is None:
                return
            if post is not None:
                sid = await statuses_repo.id_for_post(conn, post.id)
                await repo.add_takedown(
                    conn, object_uri=post.uri, post_id=post.id, status_id=sid,
                    author_user_id=post.creator_user_id, kind=post.kind.value,
                    posted_at=post.created_at, action=action, reason=reason,
                    by_user_id=user.id, report_id=report_id)
                if action is TakedownAction.HIDE:
                    await repo.set_post_hidden(conn, post.id, True)
                    await self.post_federation.deleted(conn, post, gone=False)
                else:
                    await self.post_federation.deleted(conn, post)
                    await post_records.remove_post(conn, post.id)
                changed = sid
                what, target_kind, target_id = (N_("{kind} #{id}", kind=kind_words(post.kind),
                                                   id=post.id), "post", post.id)
            else:
                assert status is not None
                await repo.add_takedown(
                    conn, object_uri=status.uri, post_id=None, status_id=status.id,
                    author_user_id=status.user_id, kind="note", posted_at=status.created_at,
                    action=action, reason=reason, by_user_id=user.id, report_id=report_id)
                await self._take_back_status(conn, status, gone=action is TakedownAction.REMOVE)
                if action is TakedownAction.HIDE:
                    await repo.set_status_hidden(conn, status.id, True)
                else:
                    await objects_repo.delete_by_uri(conn, status.uri)
                    await statuses_repo.delete_status(conn, status.id)
                changed = status.id
                what, target_kind, target_id = (N_("note #{id}", id=status.id), "status",
                                                status.id)
            hid = action is TakedownAction.HIDE
            if report_id is None:
                did = (N_("hid {what}", what=what) if hid else
                       N_("removed {what}", what=what))
            else:
                did = (N_("hid {what}, after report #{id}", what=what, id=report_id) if hid
                       else N_("removed {what}, after report #{id}", what=what, id=report_id))
            await record(conn, user, AuditAction.POST_HIDDEN if hid
                         else AuditAction.POST_REMOVED, target_kind=target_kind,
                         target_id=target_id, summary=did, detail=f"Reason given: {reason}")
        if changed is not None:
            if action is TakedownAction.REMOVE:
                self.signals.status_deleted(changed)
            else:
                self.signals.status_updated(changed)

    async def _take_back_status(self, conn: AsyncConnection, status: Status, *, gone: bool
                                ) -> None:
        """As deleting one's own status does: everyone it was sent to gets a Delete (only
        for our own statuses; a remote one is only dropped here)."""
        received = (await outbox_repo.inboxes_for_object(conn, status.uri)
                    if status.local else [])
        await forget_object(conn, status.uri, gone=gone)
        if received:
            author = await actors_repo.get_by_id(conn, status.account_id)
            delete = render.delete_of(self.urls.new_activity(), author.uri, status.uri)
            await self.outbox.enqueue(conn, actor=author, activity=delete, inboxes=received)

    # -- what people are told -------------------------------------------------------------
    async def mine(self, user: User) -> list[Report]:
        """The member's own reports, with the outcome once a coordinator acted."""
        async with self.db.read() as conn:
            return await repo.by_reporter(conn, user.id)

    async def notices(self, user: User) -> list[Takedown]:
        """Coordinators' decisions about the member's own posts."""
        async with self.db.read() as conn:
            return await repo.takedowns_of_author(conn, user.id)

    async def takedown_of(self, viewer: Viewer, post: Post) -> Takedown | None:
        """Why a hidden post is hidden, for its author and coordinators."""
        if not post.hidden or not (viewer.coordinator or (
                viewer.user_id is not None and viewer.user_id == post.creator_user_id)):
            return None
        async with self.db.read() as conn:
            return await repo.takedown_of(conn, post.uri)
