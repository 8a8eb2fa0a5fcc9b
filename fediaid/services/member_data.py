"""A member's data: downloading everything about oneself, and deleting one's account
(safety issue "Privacy"; the words members read are in docs/privacy.md).

**Export** (``archive``): one zip with ``data.json`` (profile, settings, posts with the
answers they received, answers given, exchanges and their messages, statuses, favourites,
bookmarks, follows, media, notifications, authorized apps, sessions, blocks and mutes,
reports filed, coordinators' decisions about one's posts, the e-mail address and
choices), CSV files for posts, answers
and messages, and the uploaded media files. Never in it: password hashes, tokens, session
or login-link digests, keys, who really asked an anonymous post one answered, who reported
the member, other people's intake records. A coordinator's export does not hold the intake
records they typed for neighbors (those belong to the neighbor); a neighbor's intake
records go into *their* export only when a coordinator names them (``intake_post_ids``).

**Deletion** (``delete_account``), in one transaction: every post of the member is deleted
as retention deletes posts (``PostFederation.deleted``: a ``Delete`` to every inbox that
received it, stored activities and copies gone); statuses and other objects the member
sent elsewhere get a ``Delete`` each; answers the member gave on other people's posts stay
as a withdrawn "[deleted]" answer and the member's messages in other people's exchanges
become "[deleted]" (the exchange is the other person's too, and their own words stay;
Mastodon removes a deleted account's statuses, which we do for statuses); follows of remote
accounts are undone; favourites, notifications caused, blocks, sessions, tokens, OAuth
grants and the user row go; the actor row stays as an emptied ``Tombstone`` (the name is
reserved, the actor URI answers 410 Gone); a ``Delete`` of the actor, signed by the actor,
goes to every inbox that knew it. The key is dropped by ``finish_deletions`` (the worker's
lifecycle loop) once those deliveries are settled. Media files are removed from disk after
the commit. Intake records the member typed as a coordinator stay with the group without
their name; intake records *about* the member go when a coordinator names them.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fediaid.domain.actors import Role
from fediaid.domain.audit import AuditAction
from fediaid.domain.picture import Deletion
from fediaid.domain.roles import Permission
from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from fediaid.federation import render
from fediaid.i18n import N_
from fediaid.services import post_records
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.services.retention import forget_object, keep_counts
from fediaid.storage import actors as actors_repo
from fediaid.storage import member_data as repo
from fediaid.storage import objects as objects_repo
from fediaid.storage import outbox as outbox_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage import push as push_repo
from fediaid.storage import responses as responses_repo
from fediaid.storage import statuses as statuses_repo
from fediaid.storage import users as users_repo
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from fediaid.services.accounts import AccountService
    from fediaid.services.email import EmailService
    from fediaid.services.media import MediaService
    from fediaid.services.outbox import Outbox
    from fediaid.services.post_federation import PostFederation
    from fediaid.services.posts import PostService
    from fediaid.services.two_factor import TwoFactorService

#: A member without a password confirms deletion with a session this recent (a fresh
#: login link from a coordinator).
FRESH_SESSION = timedelta(minutes=15)
FORMAT = "fediaid member data, version 1"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _plain(row.get(c)) for c in columns])
    return out.getvalue()


class MemberDataService(Service):
    def __init__(self, core: Core, *, accounts: AccountService, two_factor: TwoFactorService,
                 posts: PostService, post_federation: PostFederation, media: MediaService,
                 outbox: Outbox, email: EmailService) -> None:
        super().__init__(core)
        self.email = email
        self.accounts = accounts
        self.two_factor = two_factor
        self.posts = posts
        self.post_federation = post_federation
        self.media = media
        self.outbox = outbox

    # -- export ---------------------------------------------------------------------------
    async def export(self, user: User, *, intake_post_ids: Iterable[int] = ()
                     ) -> dict[str, Any]:
        """Everything about ``user`` as one JSON-ready document."""
        async with self.db.read() as conn:
            profile = await repo.profile_row(conn, user.id)
            actor_id = user.actor_id
            own = await repo.own_post_ids(conn, actor_id, user.id)
            posts = await repo.posts_of(conn, own)
            received = await repo.answers_on(conn, own)
            for post in posts:
                post["answers_received"] = [a for a in received if a["post_id"] == post["id"]]
            convs = await repo.conversations_of(
                conn, await repo.conversation_ids(conn, actor_id, own))
            two_factor = await self.two_factor.enabled(user)
            doc: dict[str, Any] = {
                "format": FORMAT,
                "exported_at": utcnow(),
                "profile": {
                    "username": profile["username"],
                    "handle": f"@{profile['username']}@{self.settings.domain}",
                    "display_name": profile["name"], "bio": profile["summary"],
                    "actor_uri": profile["uri"], "profile_url": profile["url"],
                    "avatar_url": profile["icon_url"], "header_url": profile["header_url"],
                    "role": profile["role"], "created_at": profile["created_at"],
                },
                "settings": {
                    "weekly_answer_limit": profile["weekly_response_cap"],
                    "approves_followers": profile["manually_approves_followers"],
                    "has_password": bool(profile["has_password"]),
                    "two_factor": bool(two_factor),
                    "limited_by_coordinators": profile["limited"],
                },
                "posts": posts,
                "answers_given": await repo.answers_by(conn, actor_id),
                "exchanges": convs,
                "statuses": await repo.statuses_by(conn, actor_id),
                "favourites": await repo.favourites_of(conn, actor_id),
                "bookmarks": await repo.bookmarks_of(conn, user.id),
                "following": await repo.follows_of(conn, actor_id, direction="following"),
                "followers": await repo.follows_of(conn, actor_id, direction="followers"),
                "media": await repo.media_of(conn, actor_id, user.id),
                "notifications": await repo.notifications_of(conn, user.id),
                "authorized_apps": await repo.apps_of(conn, user.id),
                # The push service and choices, never the endpoint's path or the keys.
                "push_subscriptions": await push_repo.export_of(conn, user.id),
                "sessions": await repo.sessions_of(conn, user.id),
                **await repo.blocks_of(conn, actor_id),
                "reports_filed": await repo.reports_by(conn, user.id),
                "coordinator_decisions_about_my_posts": await repo.takedowns_of(conn, user.id),
                "intake_records_about_me": await repo.intake_about(
                    conn, list(intake_post_ids)),
                # Only ever in the member's own export (docs/privacy.md).
                "email": await self.email.export(conn, user.id),
            }
        me = profile["uri"]
        for conv in convs:
            for m in conv["messages"]:
                m["from"] = "me" if m["from_uri"] == me else m["from_uri"]
        return _plain(doc)  # type: ignore[no-any-return]

    async def archive(self, user: User, *, intake_post_ids: Iterable[int] = ()) -> bytes:
        """The export as a zip: data.json, CSV files and the uploaded media files."""
        doc = await self.export(user, intake_post_ids=intake_post_ids)
        answers = ([{"direction": "given", **a} for a in doc["answers_given"]]
                   + [{"direction": "received", "post_title": p["title"], **a}
                      for p in doc["posts"] for a in p["answers_received"]])
        messages = [{"exchange": c["id"], "post_uri": c["post_uri"],
                     "post_title": c["post_title"], **m}
                    for c in doc["exchanges"] for m in c["messages"]]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("README.txt", (
                f"Everything {self.settings.group_name} keeps about "
                f"@{doc['profile']['username']}, as of {doc['exported_at']}.\n"
                "data.json holds all of it; the CSV files hold posts, answers and messages "
                "for spreadsheets; media/ holds the pictures you uploaded.\n"))
            z.writestr("data.json", json.dumps(doc, indent=2, ensure_ascii=False))
            z.writestr("posts.csv", _csv(doc["posts"], [
                "id", "uri", "kind", "title", "description", "category", "quantity", "unit",
                "area", "urgency", "visibility", "state", "anonymous", "created_at",
                "closed_at"]))
            z.writestr("answers.csv", _csv(answers, [
                "direction", "post_uri", "post_title", "post_author_uri", "from_uri",
                "message", "quantity", "state", "note", "created_at"]))
            z.writestr("messages.csv", _csv(messages, [
                "exchange", "post_uri", "post_title", "from", "body", "created_at"]))
            directory = self.settings.media_dir
            for m in doc["media"]:
                name = m.get("file_name")
                path = directory / name if name else None
                if path is not None and path.is_file():
                    z.write(path, f"media/{name}")
        return buf.getvalue()

    async def archive_for(self, by: User | None, username: str, *,
                          intake_post_ids: Iterable[int] = ()) -> bytes:
        """A coordinator (or the operator, ``by`` None) exports a member's data to hand it
        to them; written in the audit log."""
        if by is not None and not by.may(Permission.ACCOUNTS):
            raise Forbidden(N_("Only coordinators can export someone else's data."))
        user = await self.accounts.get_user(username)
        ids = list(intake_post_ids)
        data = await self.archive(user, intake_post_ids=ids)
        async with self.db.write() as conn:
            await record(conn, by, AuditAction.DATA_EXPORTED, target_kind="account",
                         target_id=user.id,
                         summary=N_("exported the data of {name} on their behalf (with {n} "
                                    "intake records about them)", name=username, n=len(ids))
                         if ids else N_("exported the data of {name} on their behalf",
                                        name=username))
        return data

    # -- deletion -------------------------------------------------------------------------
    async def confirm(self, user: User, *, username: str, password: str,
                      session: str | None, client: str | None = None,
                      device: str | None = None) -> None:
        """The member means it: the name retyped, and the password (or, without one, a
        session started from a login link in the last 15 minutes)."""
        if username.strip().lower() != user.username:
            raise Invalid(N_("Type your user name exactly as it is, to confirm."),
                          field="username")
        if user.has_password:
            if not password:
                raise Invalid(N_("Type your password, to confirm."), field="password")
            await self.accounts.check_password(user.username, password, client=client,
                                               device=device)
            return
        started = None
        if session:
            async with self.db.read() as conn:
                started = await repo.session_started(conn, user.id, users_repo.digest(session))
        if started is None or utcnow() - started > FRESH_SESSION:
            raise Unauthenticated(
                N_("You have no password, so we need a fresh login: ask a coordinator for a new "
                   "login link, open it, and come back to this page within 15 minutes."))

    async def delete_member(self, by: User | None, username: str, *,
                            intake_post_ids: Iterable[int] = ()) -> None:
        """A coordinator (or the operator, ``by`` None) deletes an account on the member's
        behalf; written in the audit log (by number, not by name)."""
        if by is not None and not by.may(Permission.ACCOUNTS):
            raise Forbidden(N_("Only coordinators can delete someone else's account."))
        user = await self.accounts.get_user(username)
        await self.delete_account(user, by=by, audited=True, intake_post_ids=intake_post_ids)

    async def delete_account(self, user: User, *, by: User | None = None,
                             audited: bool = False, intake_post_ids: Iterable[int] = ()
                             ) -> None:
        gone_statuses: list[int] = []
        async with self.db.write() as conn:
            user = await users_repo.get(conn, user.id)
            if user.role is Role.ADMIN and await repo.admins_left(conn, Role.ADMIN.value) <= 1:
                raise Conflict(N_("This is the group's last admin account. Make another member "
                                  "an admin first, then delete this account."))
            actor = await actors_repo.get_by_id(conn, user.actor_id)
            # Web Push subscriptions, with the pushes still queued for them.
            await push_repo.delete_for_user(conn, user.id)
            keep_after = await repo.last_activity_id(conn)
            own = await repo.own_post_ids(conn, actor.id, user.id)
            about = await repo.proxy_post_ids(conn, intake_post_ids)
            own_posts = [p for p in [await posts_repo.find(conn, i) for i in own + about] if p]
            status_rows = await repo.status_rows(conn, actor.id)
            inboxes = await repo.knowing_inboxes(
                conn, actor.id, [p.uri for p in own_posts] + [s.uri for s in status_rows])
            files = [m["file_name"] for m in await repo.media_of(conn, actor.id, user.id)
                     if m["file_name"]]
            profile_images = [actor.icon_url, actor.header_url]

            # Posts, as retention deletes them: a Delete to everyone who received them. Closed
            # ones stay in the needs picture's counts, which name nobody (docs/privacy.md).
            for post in own_posts:
                await keep_counts(conn, post, Deletion.ERASURE)
                await self.post_federation.deleted(conn, post)
                await post_records.remove_post(conn, post.id)
            # Statuses (notes, answers, boosts) and anything else sent elsewhere.
            for s in status_rows:
                if await statuses_repo.find(conn, s.id) is None:
                    continue  # went with its post
                gone_statuses.append(s.id)
                if s.reblog_of_id is not None:  # its Announce goes with the account's
                    await statuses_repo.delete_status(conn, s.id)  # activities below
                    continue
                await self._take_back(conn, actor, s.uri)
                await statuses_repo.delete_status(conn, s.id)
            for uri in await repo.local_object_creates(conn, actor.id):
                await self._take_back(conn, actor, uri)
            # Answers and messages in other people's exchanges: "[deleted]".
            for post_id in await repo.blank_answers_and_messages(conn, actor.id):
                post = await posts_repo.find(conn, post_id)
                if post is not None and post.local:
                    still = [r for r in await responses_repo.for_post(conn, post_id)
                             if r.state.value == "accepted"]
                    await self.posts.set_promised(conn, post, bool(still))
            # Follows of remote accounts are undone.
            for f in await repo.following_remote(conn, actor.id):
                undo = render.undo(self.urls.new_activity(), actor.uri,
                                   render.follow(f.uri, actor.uri, f.target))
                await self.outbox.enqueue(conn, actor=actor, activity=undo, inboxes=[f.inbox])
            await repo.forget_media(conn, actor.id)
            await self.email.forget(conn, user.id)  # address, choices, links, queue
            await repo.forget_rows(conn, actor_id=actor.id, actor_uri=actor.uri,
                                   user_id=user.id, keep_after=keep_after)
            await repo.make_tombstone(conn, actor.id)
            if inboxes:
                await self.outbox.enqueue(conn, actor=actor,
                              activity=render.delete_actor(f"{actor.uri}#delete", actor.uri),
                              inboxes=inboxes)
            if audited:
                await record(conn, by, AuditAction.ACCOUNT_DELETED, target_kind="account",
                             target_id=user.id,
                             summary=N_("deleted account #{id} on the member's behalf",
                                        id=user.id))
        for name in files:
            self.media.discard(name)
        for url in profile_images:
            self.media.remove_profile_image(url)
        for sid in gone_statuses:
            self.signals.status_deleted(sid)

    async def _take_back(self, conn: Any, actor: Any, uri: str) -> None:
        """Delete one object the account published, at every inbox that received it."""
        received = await outbox_repo.inboxes_for_object(conn, uri)
        await forget_object(conn, uri)
        await objects_repo.delete_by_uri(conn, uri)
        if received:
            await self.outbox.enqueue(conn, actor=actor,
                          activity=render.delete_of(self.urls.new_activity(), actor.uri,
                                                    uri),
                          inboxes=received)

    async def tombstone(self, username: str) -> dict[str, Any] | None:
        """What a deleted account's actor URI answers (410 Gone), or None."""
        async with self.db.read() as conn:
            found = await repo.tombstone(conn, username)
        if found is None:
            return None
        return render.actor_tombstone(found["uri"], former_type="Person",
                                      deleted=found["deleted_at"])

    async def finish_deletions(self) -> int:
        """Drop the keys of deleted accounts whose last deliveries are settled (run by the
        workers' lifecycle loop)."""
        async with self.db.read() as conn:
            ids = await repo.settled_tombstones(conn)
        for actor_id in ids:
            async with self.db.write() as conn:
                if actor_id in await repo.settled_tombstones(conn):
                    await repo.drop_key(conn, actor_id)
        return len(ids)


def parse_ids(values: Iterable[str]) -> list[int]:
    out = []
    for v in values:
        if not v.strip().isdigit():
            raise NotFound(N_("“{value}” is not a post number.", value=str(v)))
        out.append(int(v))
    return out
