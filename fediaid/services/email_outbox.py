"""The e-mail queue's sending side, for the worker (``fediaid/jobs/email.py``): claim due
rows, put each into words at the moment it is sent, and record the outcome.

Writing a message when it is sent (not when it is queued) means: the member's current
address and language; nothing sent once they removed the address, turned that kind off or
deleted the account (those rows go with it); a login or confirmation link made at that
moment, so the queue never holds a usable secret; the digest reads the posts the member may
see at that moment.

Sent once, and the window where it can be twice: the worker sends, then marks the row done
with one conditional UPDATE that holds only while the row is still its own (``finish``). If
the process dies after the SMTP server accepted the message and before that commit, the
lease runs out and the message is sent again (at least once, never lost). Every try of a
row carries the same ``Message-ID``, so a mail program can recognise the copy; a login or
confirmation e-mail sent twice holds two different links, each good once.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address as MailAddress
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING

from fediaid.domain import email_messages as words
from fediaid.domain.email import (
    CONFIRM_TTL,
    LOGIN_TTL,
    Kind,
    Period,
    SmtpSettings,
    retry_delay,
    still_worth_sending,
)
from fediaid.domain.email_messages import Composed, DigestItem
from fediaid.domain.links import LinkState
from fediaid.domain.posts import Kind as PostKind
from fediaid.domain.posts import builtin_label
from fediaid.domain.queue import ItemState
from fediaid.domain.rate_limits import EMAIL_LOGIN_ACCOUNT
from fediaid.i18n import Reader
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import email as repo
from fediaid.storage import forwarding as forwarding_repo
from fediaid.storage import links as links_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage import users as users_repo
from fediaid.storage.email import Job
from fediaid.storage.posts import Filters
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from fediaid.domain.actors import Actor
    from fediaid.services.email import EmailService
    from fediaid.services.email_settings import EmailSettingsService
    from fediaid.services.posts import PostService
    from fediaid.services.rate_limits import RateLimiter

log = logging.getLogger(__name__)

LEASE_SECONDS = 120.0  # one message at a time, each SMTP exchange at most 30 s
DIGEST_MAX = 50
NOT_CONFIGURED = "e-mail is not set up (no SMTP server): waiting"


@dataclass(frozen=True)
class Outgoing:
    job: Job
    to: str
    message: EmailMessage


def _name(actor: Actor | None) -> str:
    if actor is None:
        return "someone"
    if actor.name:
        return actor.name
    return actor.username or "someone" if actor.local else f"{actor.username}@{actor.domain}"


class EmailOutbox(Service):
    def __init__(self, core: Core, *, email: EmailService,
                 email_settings: EmailSettingsService, posts: PostService,
                 limits: RateLimiter) -> None:
        super().__init__(core)
        self.email = email
        self.email_settings = email_settings
        self.posts = posts
        self.limits = limits

    # -- claiming ------------------------------------------------------------------------
    async def claim(self, worker: str, limit: int = 1, *, due_by: datetime | None = None
                    ) -> list[Job]:
        async with self.db.write() as conn:
            return await repo.claim_due(conn, worker=worker, limit=limit,
                                        lease_seconds=LEASE_SECONDS, due_by=due_by)

    async def next_due(self) -> datetime | None:
        async with self.db.read() as conn:
            return await repo.next_due(conn)

    # -- putting into words ------------------------------------------------------------------
    async def prepare(self, job: Job, smtp: SmtpSettings) -> list[Outgoing]:
        """The message(s) for a claimed row: none when there is nothing (left) to send;
        more than one only for a login link asked for with an address several accounts
        share."""
        if job.kind is Kind.TEST:
            assert job.to_address
            return [self._outgoing(job, job.to_address, smtp, None,
                                   words.test(group=self.settings.group_name,
                                              gettext=Reader().gettext))]
        if job.kind is Kind.LOGIN:
            return await self._login(job, smtp)
        assert job.user_id is not None
        async with self.db.read() as conn:
            member = await repo.find(conn, job.user_id)
            user = await users_repo.get(conn, job.user_id)
        if member is None or user.disabled:
            return []
        if job.kind is Kind.CONFIRM:
            if not member.pending:
                return []
            secret = secrets.token_urlsafe(24)
            async with self.db.write() as conn:
                await repo.add_confirmation(conn, user_id=job.user_id,
                                            address=member.pending, secret=secret,
                                            ttl=CONFIRM_TTL)
            link = f"{self.settings.base_url}/settings/email/confirm/{secret}"
            return [self._outgoing(job, member.pending, smtp, member.language,
                                   words.confirm(group=self.settings.group_name, link=link,
                                                 gettext=Reader(member.language).gettext))]
        if not member.address or not member.choices.wants(job.kind):
            return []  # removed, or turned off since it was queued
        composed = await self._chosen(job, member.choices.digest, Reader(member.language))
        if composed is None:
            return []
        return [self._outgoing(job, member.address, smtp, member.language, composed,
                               unsubscribe=self.email.unsubscribe_url(job.user_id, job.kind))]

    async def _login(self, job: Job, smtp: SmtpSettings) -> list[Outgoing]:
        typed = str(job.ref.get("who", ""))
        async with self.db.read() as conn:
            ids = await self.email.login_recipients(conn, typed)
        out = []
        for uid in ids[:5]:
            if not (await self.limits.hit(EMAIL_LOGIN_ACCOUNT, str(uid))).allowed:
                continue  # quietly: the page said the same either way
            secret = secrets.token_urlsafe(24)
            async with self.db.write() as conn:
                member = await repo.find(conn, uid)
                if member is None or not member.address:
                    continue
                await users_repo.add_login_link(conn, user_id=uid, secret=secret,
                                                ttl=LOGIN_TTL)
            link = f"{self.settings.base_url}/login/{secret}"
            out.append(self._outgoing(job, member.address, smtp, member.language,
                                      words.login(group=self.settings.group_name, link=link,
                                                  gettext=Reader(member.language).gettext)))
        return out

    async def _chosen(self, job: Job, period: Period, t: Reader) -> Composed | None:
        base, group = self.settings.base_url, self.settings.group_name
        assert job.user_id is not None
        unsubscribe = self.email.unsubscribe_url(job.user_id, job.kind)
        settings_url = self.email.settings_url()
        ref = job.ref
        if job.kind is Kind.DIGEST:
            return await self._digest(job, weekly=period is Period.WEEKLY, t=t)
        async with self.db.read() as conn:
            post = await posts_repo.find(conn, int(ref.get("post_id", 0)))
            if post is None:
                return None  # deleted since
            other = await actors_repo.find_by_id(conn, int(ref.get("actor_id", 0)))
        if job.kind is Kind.ANSWERS:
            return words.answer(group=group, post_title=post.title,
                                need=post.kind is PostKind.NEED, responder=_name(other),
                                url=f"{base}/posts/{post.id}", settings_url=settings_url,
                                unsubscribe_url=unsubscribe, gettext=t.gettext)
        what = str(ref.get("what", "message"))
        url = (f"{base}/conversations/{ref['conversation_id']}"
               if ref.get("conversation_id") else f"{base}/posts/{post.id}")
        return words.message(group=group, post_title=post.title, sender=_name(other),
                             what=what, url=url, settings_url=settings_url,
                             unsubscribe_url=unsubscribe, gettext=t.gettext)

    async def _digest(self, job: Job, *, weekly: bool, t: Reader) -> Composed | None:
        """New offers and needs from the window, that the member may see, in their chosen
        categories and neighborhoods, not their own; nothing to say: no e-mail."""
        assert job.user_id is not None
        since = datetime.fromisoformat(str(job.ref["since"]))
        until = datetime.fromisoformat(str(job.ref["until"]))
        async with self.db.read() as conn:
            user = await users_repo.get(conn, job.user_id)
            member = await repo.find(conn, job.user_id)
            categories = dict(await posts_repo.category_list(conn, active_only=False))
            areas = dict(await posts_repo.area_list(conn))
        if member is None:
            return None
        viewer = await self.posts.viewer_for_user(user)
        found = await self.posts.search(viewer, Filters(limit=200))
        # Needs linked groups offered us: named with that group, and only those shown to
        # members ("From linked groups": within the daily cap, from a link active now).
        async with self.db.read() as conn:
            forwarded = await forwarding_repo.received_among(
                conn, [p.id for p in found if not p.local])
            active = {link.actor_uri for link in await links_repo.all_links(conn)
                      if link.state is LinkState.ACTIVE}
        hidden = {pid for pid, (origin, shown) in forwarded.items()
                  if not shown or origin.group_uri not in active}
        chosen_c, chosen_a = set(member.choices.categories), set(member.choices.areas)
        items = [
            DigestItem(kind=p.kind.value, title=p.title,
                       category=_category(p.category, categories, t),
                       area=areas.get(p.area or "", p.area or ""),
                       url=f"{self.settings.base_url}/posts/{p.id}",
                       from_group=forwarded[p.id][0].group_name if p.id in forwarded else "")
            for p in sorted(found, key=lambda p: p.created_at)
            if since <= p.created_at < until and p.creator_user_id != user.id
            and p.id not in hidden
            and (not chosen_c or p.category in chosen_c)
            and (not chosen_a or (p.area or "") in chosen_a)
        ][:DIGEST_MAX]
        if not items:
            return None
        return words.digest(group=self.settings.group_name, items=items, weekly=weekly,
                            more_url=self.settings.base_url + "/",
                            settings_url=self.email.settings_url(),
                            unsubscribe_url=self.email.unsubscribe_url(job.user_id,
                                                                       Kind.DIGEST),
                            gettext=t.gettext)

    def _outgoing(self, job: Job, to: str, smtp: SmtpSettings, language: str | None,
                  composed: Composed, *, unsubscribe: str | None = None) -> Outgoing:
        msg = EmailMessage()
        local, _, domain = smtp.sender.rpartition("@")
        msg["From"] = MailAddress(display_name=self.settings.group_name, username=local,
                                  domain=domain)
        msg["To"] = to
        msg["Subject"] = composed.subject
        msg["Date"] = format_datetime(utcnow())
        host = self.settings.domain.split(":")[0] or "localhost"
        msg["Message-ID"] = f"<email-{job.id}.{self.identity.group.username}@{host}>"
        if job.kind is not Kind.TEST:
            msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
        if unsubscribe:
            # RFC 8058: an https URL that a mail program POSTs
            # "List-Unsubscribe=One-Click" to, without logging in.
            msg["List-Unsubscribe"] = f"<{unsubscribe}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(composed.text)
        msg.add_alternative(composed.html, subtype="html")
        if language:  # after the body: setting content clears the Content-* headers
            msg["Content-Language"] = language
        return Outgoing(job=job, to=to, message=msg)

    # -- recording the outcome ----------------------------------------------------------------
    async def finish(self, job: Job, worker: str, *, sent: bool, error: str | None = None,
                     permanent: bool = False) -> ItemState:
        """Record one try in one transaction, if the row is still this worker's: done
        (``sent``), failed (``permanent``, or past the time it is worth sending), cancelled
        (nothing to send), or pending again after a growing delay."""
        now = utcnow()
        if sent:
            state = ItemState.DONE
        elif error is None:
            state = ItemState.CANCELLED
        elif permanent or not still_worth_sending(job.kind, job.created_at, now):
            state = ItemState.FAILED
        else:
            state = ItemState.PENDING
        async with self.db.write() as conn:
            if not await repo.finish(conn, job.id, worker, state, error=error,
                                     next_attempt_at=now + retry_delay(
                                         job.attempts,
                                         scale=self.settings.delivery.retry_scale)):
                return ItemState.PENDING  # taken over after the lease ran out
        if state is ItemState.FAILED:
            log.warning("e-mail %d (%s) given up: %s", job.id, job.kind.value, error)
        return state

    async def smtp(self) -> tuple[SmtpSettings, str | None]:
        return await self.email_settings.current(), await self.email_settings.password()

    async def purge(self, before: datetime) -> int:
        async with self.db.write() as conn:
            return await repo.purge_finished(conn, before)


def _category(slug: str, labels: dict[str, str], t: Reader) -> str:
    """A category's label in the digest: a built-in one in the member's language, one a
    coordinator typed as typed."""
    label = labels.get(slug, slug)
    return t(label) if builtin_label(slug, label) else label
