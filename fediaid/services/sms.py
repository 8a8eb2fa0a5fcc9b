"""Text messages, the group's side: texts arriving (checked at the webhook, stored in the
queue, applied by the worker), needs and offers by text held for a coordinator, texts
conversations for coordinators, STOP/START/HELP, the neighbor's YES to be texted a helper's
contact, and texts sent by coordinators and helpers (queued; ``sms_outbox`` sends them).

What a text asks for (``domain/sms.classify``):
- NEED ... / OFFER ... (NECESITO, OFREZCO, and the group's own words): a need or offer held
  for a coordinator (``/admin/held``), shown as the group's ("a neighbor") once approved,
  with a private intake record holding the number (``intake_records``, channel "sms") and a
  texts conversation about it that goes with the post. The answer asks whether we may text
  the neighbor how a helper can be reached (YES).
- STOP (and its synonyms): recorded (a digest of the number); nothing more is sent to it
  until START, but the one confirmation. HELP: what this number is. With a provider that
  answers these words itself (Twilio does, as carriers require), we record and stay quiet.
- anything else: a conversation in the coordinators' texts inbox (``/admin/texts``).

Nobody but coordinators sees a number: members and helpers see "a neighbor". A helper's
contact goes to the neighbor only as the helper typed it, after the neighbor said YES.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fediaid.domain import sms_words as words
from fediaid.domain.audit import AuditAction
from fediaid.domain.posts import (
    GroupPolicy,
    State,
    Visibility,
    suggested_category,
    title_from,
)
from fediaid.domain.posts import Kind as PostKind
from fediaid.domain.privacy import find_private
from fediaid.domain.queue import ItemState
from fediaid.domain.rate_limits import (
    SMS_FROM_NUMBER,
    SMS_GROUP_DAY,
    SMS_GROUP_PAUSED,
    SMS_PAUSED,
    SMS_TO_NUMBER,
)
from fediaid.domain.roles import Permission
from fediaid.domain.sms import (
    BODY_MAX,
    Classified,
    Intent,
    Kind,
    Provider,
    classify,
    clean_body,
    masked_number,
    normal_number,
    opt_out_digest,
    shown_number,
)
from fediaid.domain.sms_gateways import gateway_for
from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from fediaid.i18n import N_
from fediaid.services import post_records
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.storage import posts as posts_repo
from fediaid.storage import sms as repo
from fediaid.storage.sms import Job, Text, Thread
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.services.group_settings import GroupSettingsService
    from fediaid.services.posts import PostService
    from fediaid.services.rate_limits import RateLimiter
    from fediaid.services.responses import ResponseService
    from fediaid.services.sms_settings import SmsSettingsService

log = logging.getLogger(__name__)

CONSENT_WINDOW = timedelta(days=30)  # a YES answers the question asked in this time
NEIGHBOR = "a neighbor"  # the intake record's name for a texter


@dataclass(frozen=True)
class ThreadItem:
    """A conversation in the coordinators' list: never the full number."""

    id: int
    masked: str
    post_id: int | None
    post_title: str | None
    unread: bool
    done: bool
    last: str
    updated_at: datetime


@dataclass(frozen=True)
class ThreadView:
    thread: Thread
    number: str  # shown in full: the page is the coordinators' hotline view
    post_title: str | None
    post_kind: str | None
    opted_out: bool
    texts: list[Text]


@dataclass(frozen=True)
class ExchangeLink:
    url: str
    words: str


class SmsService(Service):
    def __init__(self, core: Core, *, sms_settings: SmsSettingsService,
                 posts: PostService, group_settings: GroupSettingsService,
                 responses: ResponseService, limits: RateLimiter) -> None:
        super().__init__(core)
        self.sms_settings = sms_settings
        self.posts = posts
        self.group_settings = group_settings
        self.responses = responses
        self.limits = limits

    # -- arriving: the webhook ---------------------------------------------------------------
    async def receive(self, provider: str, *, url: str, headers: dict[str, str], body: bytes
                      ) -> int:
        """A provider's webhook: checked (``Forbidden`` changes nothing), each text stored
        in the queue; returns how many were new. Applying them is the worker's."""
        settings = await self.sms_settings.current()
        if settings.provider is None or settings.provider.value != provider \
                or not settings.receives:
            raise NotFound(N_("Text messages are not set up for that provider here."))
        gateway = gateway_for(settings, await self.sms_settings.secrets(),
                              self.core.transport())
        texts = gateway.parse_inbound(url=url, headers=headers, body=body, now=utcnow())
        new = 0
        async with self.db.write() as conn:
            for text in texts:
                new += await repo.enqueue_inbound(conn, ref=text.ref, number=text.sender,
                                                  body=text.body)
        if new:
            self.signals.sms_wakeup.set()
        return new

    # -- arriving: applied by the worker -------------------------------------------------------
    async def apply_inbound(self, job: Job, worker: str) -> str:
        """Apply one stored text, and finish its row in the same transaction (a text is
        applied once). Returns what happened, in words for the log (no number, no text)."""
        region = await self.sms_settings.region()
        try:
            number = normal_number(job.number or "", region)
        except Invalid:
            await self._finish(job, worker, ItemState.FAILED, "not a phone number to answer")
            return "not a phone number"
        if not (await self.limits.hit(SMS_FROM_NUMBER, number)).allowed:
            await self._finish(job, worker, ItemState.FAILED, "too many texts from one number")
            return "dropped: too many texts from one number"
        settings = await self.sms_settings.current()
        quiet = settings.provider is Provider.TWILIO  # Twilio answers STOP/START/HELP
        asked = classify(job.body or "", await self.sms_settings.keywords())
        group_language = await self.sms_settings.group_language()
        language = words.language_of(asked.language, group_language)
        digest = opt_out_digest(self.sms_settings.opt_out_key(), number)
        async with self.db.read() as conn:
            stopped = await repo.opted_out(conn, digest)
            pending = await repo.ask_consent_pending(conn, number, utcnow() - CONSENT_WINDOW)
        intent = asked.intent
        if intent is Intent.YES and not pending:
            intent = Intent.START if stopped else Intent.TEXT
        reply, kind = await self._reply_for(
            intent, asked, language, quiet=quiet,
            stopped=stopped and intent not in (Intent.START, Intent.YES))
        allowed = reply is not None and await self._may_text(number, kind)
        policy = await self.posts.policy()
        async with self.db.write() as conn:
            outcome = await self._apply(conn, intent, asked, number=number, digest=digest,
                                        language=language, body=job.body or "",
                                        pending=pending, policy=policy)
            thread_id, post_id = outcome
            if reply is not None:
                text_id = await repo.add_text(conn, thread_id=thread_id, direction="out",
                                              body=reply, state="waiting" if allowed
                                              else "not_sent") if thread_id else None
                if allowed:
                    await repo.enqueue(conn, kind=kind, number=number, body=reply,
                                       thread_id=thread_id, text_id=text_id, post_id=post_id)
            if not await repo.finish(conn, job.id, worker, ItemState.DONE):
                raise _LostLease()
        self.signals.sms_wakeup.set()
        return f"applied: {intent.value}"

    async def _reply_for(self, intent: Intent, asked: Classified, language: str, *,
                         quiet: bool, stopped: bool) -> tuple[str | None, Kind]:
        group = self.settings.group_name
        if intent is Intent.STOP:
            return (None if quiet else words.text("stop", language, group=group)), Kind.CONFIRM
        if intent is Intent.START:
            return (None if quiet else words.text("start", language, group=group)), Kind.CONFIRM
        if stopped:
            return None, Kind.REPLY  # nothing until START
        if intent is Intent.HELP:
            if quiet:
                return None, Kind.REPLY
            profile = await self.group_settings.profile()
            return words.text("help", language, group=group, number=profile.hotline_number,
                              hours=profile.hotline_hours), Kind.REPLY
        if intent is Intent.YES:
            return words.text("yes", language, group=group), Kind.REPLY
        if intent in (Intent.NEED, Intent.OFFER):
            if not asked.rest:
                return words.text("empty", language, group=group), Kind.REPLY
            name = "received_need" if intent is Intent.NEED else "received_offer"
            return words.text(name, language, group=group), Kind.REPLY
        return None, Kind.REPLY

    async def _apply(self, conn: AsyncConnection, intent: Intent, asked: Classified, *,
                     number: str, digest: str, language: str, body: str, pending: list[int],
                     policy: GroupPolicy) -> tuple[int | None, int | None]:
        """The change a text makes; returns the conversation it belongs to (and its post)."""
        if intent is Intent.STOP:
            await repo.opt_out(conn, digest)
        elif intent is Intent.START:
            await repo.opt_in(conn, digest)
        elif intent is Intent.YES:
            await repo.set_consent(conn, pending)
            await repo.opt_in(conn, digest)
        if intent in (Intent.NEED, Intent.OFFER) and asked.rest:
            post_id = await self._held_post(conn, intent, asked.rest, number, policy)
            thread_id = await repo.create_thread(conn, number=number, post_id=post_id,
                                                 language=language)
            await repo.add_text(conn, thread_id=thread_id, direction="in", body=body,
                                state="received")
            await repo.touch_thread(conn, thread_id, unread=False)
            return thread_id, post_id
        thread = await repo.latest_thread(conn, number)
        if intent is Intent.YES and pending:
            found = await repo.thread_for_post(conn, pending[-1])
            thread = found or thread
        if thread is None:
            if intent in (Intent.STOP, Intent.START, Intent.HELP):
                return None, None  # nothing to file a bare keyword under
            thread_id = await repo.create_thread(conn, number=number, post_id=None,
                                                 language=language)
        else:
            thread_id = thread.id
        await repo.add_text(conn, thread_id=thread_id, direction="in", body=body,
                            state="received")
        await repo.touch_thread(conn, thread_id, unread=intent is Intent.TEXT, done=False,
                                language=language if asked.language else None)
        return thread_id, thread.post_id if thread else None

    async def _held_post(self, conn: AsyncConnection, intent: Intent, text: str,
                         number: str, policy: GroupPolicy) -> int:
        """A need or offer from a text, waiting for a coordinator, shown as the group's."""
        title = title_from(text)
        now = utcnow()
        values = {
            "uri": self.urls.new_object(),
            "kind": (PostKind.NEED if intent is Intent.NEED else PostKind.OFFER).value,
            "title": title, "description": text if text != title else "",
            "category": suggested_category(title, text, policy), "quantity": None,
            "unit": "one", "area": None, "starts_at": None, "ends_at": None,
            "urgency": "normal", "visibility": (
                policy.default_visibility if policy.default_visibility is not Visibility.DIRECT
                else Visibility.MEMBERS).value,
            "state": State.OPEN.value, "local": True,
            "author_actor_id": self.identity.group.id, "creator_user_id": None,
            "anonymous": False, "proxy": True, "held": True, "via_group": False,
            "expires_at": now + policy.expiry,
        }
        post_id = await post_records.insert_post(conn, values, [])
        await repo.add_intake(conn, post_id=post_id, number=number, name=NEIGHBOR,
                              notes="Sent by text message.")
        return post_id

    async def _finish(self, job: Job, worker: str, state: ItemState, error: str) -> None:
        async with self.db.write() as conn:
            await repo.finish(conn, job.id, worker, state, error=error)

    async def _may_text(self, number: str, kind: Kind) -> bool:
        if kind is not Kind.CONFIRM and not (
                await self.limits.hit(SMS_TO_NUMBER, number)).allowed:
            return False
        return (await self.limits.hit(SMS_GROUP_DAY, "group")).allowed

    async def _enforce_limits(self, number: str) -> None:
        usage = await self.limits.hit(SMS_TO_NUMBER, number)
        if not usage.allowed:
            raise RateLimited(SMS_PAUSED, retry_after=usage.retry_after,
                              internal="rate limit sms/to_number reached")
        usage = await self.limits.hit(SMS_GROUP_DAY, "group")
        if not usage.allowed:
            raise RateLimited(SMS_GROUP_PAUSED, retry_after=usage.retry_after,
                              internal="rate limit sms/group reached")

    # -- the coordinators' texts inbox ------------------------------------------------------------
    @staticmethod
    def _require(user: User) -> None:
        if not user.may(Permission.INTAKE):
            raise Forbidden(N_("Only coordinators can read and send the group's texts."))

    async def threads(self, user: User, *, done: bool = False) -> list[ThreadItem]:
        self._require(user)
        async with self.db.read() as conn:
            found = await repo.threads(conn, done=done)
            out = []
            for t in found:
                texts = await repo.texts_of(conn, t.id)
                post = await posts_repo.find(conn, t.post_id) if t.post_id else None
                last = texts[-1].body if texts else ""
                out.append(ThreadItem(
                    id=t.id, masked=masked_number(t.number), post_id=t.post_id,
                    post_title=post.title if post else None, unread=t.unread, done=t.done,
                    last=last[:80] + ("…" if len(last) > 80 else ""), updated_at=t.updated_at))
        return out

    async def unread(self, user: User) -> int:
        self._require(user)
        async with self.db.read() as conn:
            return await repo.unread_count(conn)

    async def thread(self, user: User, thread_id: int) -> ThreadView:
        """One conversation, number in full (opening it marks it read)."""
        self._require(user)
        async with self.db.write() as conn:
            thread = await repo.find_thread(conn, thread_id)
            if thread is None:
                raise NotFound(N_("No texts conversation with that number."))
            await repo.mark_read(conn, thread_id)
            post = await posts_repo.find(conn, thread.post_id) if thread.post_id else None
            stopped = await repo.opted_out(conn, opt_out_digest(
                self.sms_settings.opt_out_key(), thread.number))
            texts = await repo.texts_of(conn, thread_id)
        return ThreadView(thread=thread, number=shown_number(thread.number),
                          post_title=post.title if post else None,
                          post_kind=post.kind.value if post else None, opted_out=stopped,
                          texts=texts)

    async def thread_for_post(self, user: User, post_id: int) -> int:
        """The texts conversation about a post that came by text (made when missing)."""
        self._require(user)
        async with self.db.write() as conn:
            intake = await repo.texted_intake(conn, post_id)
            if intake is None:
                raise NotFound(N_("That post did not come by text."))
            found = await repo.thread_for_post(conn, post_id)
            if found is not None:
                return found.id
            language = words.language_of(None, await self.sms_settings.group_language())
            return await repo.create_thread(conn, number=intake["number"], post_id=post_id,
                                            language=language)

    async def set_done(self, user: User, thread_id: int, done: bool) -> None:
        self._require(user)
        async with self.db.write() as conn:
            if await repo.find_thread(conn, thread_id) is None:
                raise NotFound(N_("No texts conversation with that number."))
            await repo.touch_thread(conn, thread_id, done=done, unread=False)

    async def delete_thread(self, user: User, thread_id: int) -> None:
        """The conversation, its texts, its number and its unsent texts go."""
        self._require(user)
        async with self.db.write() as conn:
            if await repo.find_thread(conn, thread_id) is None:
                raise NotFound(N_("No texts conversation with that number."))
            await repo.delete_thread(conn, thread_id)

    async def relay(self, user: User, thread_id: int, body: str) -> None:
        """A coordinator texts the neighbor of a conversation (passing on a helper's
        message, or answering)."""
        self._require(user)
        text = clean_body(body)
        async with self.db.read() as conn:
            thread = await repo.find_thread(conn, thread_id)
            if thread is None:
                raise NotFound(N_("No texts conversation with that number."))
            if await repo.opted_out(conn, opt_out_digest(self.sms_settings.opt_out_key(),
                                                         thread.number)):
                raise Conflict(N_("This number replied STOP: nothing can be texted to it until "
                                  "they text START. Call them instead."))
        if not (await self.sms_settings.current()).configured:
            raise Conflict(N_("Text messages are not set up (Coordinate, Text messages)."))
        await self._enforce_limits(thread.number)
        message = words.text("relay", thread.language, group=self.settings.group_name,
                             body=text)
        async with self.db.write() as conn:
            text_id = await repo.add_text(conn, thread_id=thread_id, direction="out",
                                          body=message, state="waiting", by_user_id=user.id)
            await repo.enqueue(conn, kind=Kind.RELAY, number=thread.number, body=message,
                               thread_id=thread_id, text_id=text_id, post_id=thread.post_id)
            await repo.touch_thread(conn, thread_id, unread=False)
            await record(conn, user, AuditAction.TEXT_SENT,
                         target_kind="post" if thread.post_id else "texts",
                         target_id=thread.post_id or thread_id,
                         summary=N_("texted the neighbor of post #{id}", id=thread.post_id)
                         if thread.post_id else
                         N_("texted the neighbor of texts conversation #{id}", id=thread_id))
        self.signals.sms_wakeup.set()

    # -- helpers and the exchange page ----------------------------------------------------------
    async def exchange_link(self, user: User, conversation_id: int) -> ExchangeLink | None:
        """What the exchange page offers about texts: a coordinator speaking for a texted
        need can text the neighbor; the helper can send the neighbor a way to reach them,
        if the neighbor agreed. None otherwise (and for everyone else)."""
        try:
            conv, _ = await self.responses.messages(user, conversation_id)
        except (NotFound, Forbidden):
            return None
        async with self.db.read() as conn:
            intake = await repo.texted_intake(conn, conv.post_id)
        if intake is None:
            return None
        group_id = self.identity.group.id
        if user.actor_id == conv.helper_actor_id and group_id == conv.other_actor_id:
            if intake["consent"]:
                return ExchangeLink(f"/conversations/{conversation_id}/text",
                                    N_("Send the neighbor a way to reach you, by text"))
            return None
        if user.may(Permission.INTAKE) and group_id in (conv.helper_actor_id,
                                                        conv.other_actor_id):
            return ExchangeLink(f"/admin/texts/post/{conv.post_id}", N_("Text the neighbor"))
        return None

    async def contact_form(self, user: User, conversation_id: int) -> str:
        """For the helper's page: the post's title (and a check that they may use it)."""
        conv, _ = await self.responses.messages(user, conversation_id)
        intake = await self._helper_intake(user, conv.post_id, conv.helper_actor_id,
                                           conv.other_actor_id)
        del intake
        async with self.db.read() as conn:
            return (await posts_repo.get(conn, conv.post_id)).title

    async def _helper_intake(self, user: User, post_id: int, helper: int, other: int
                             ) -> dict[str, object]:
        if user.actor_id != helper or other != self.identity.group.id:
            raise NotFound(N_("No such conversation."))
        async with self.db.read() as conn:
            intake = await repo.texted_intake(conn, post_id)
        if intake is None or not intake["consent"]:
            raise Conflict(N_("The neighbor has not agreed to get a helper's contact by text. "
                              "Write in the conversation: a coordinator passes it on."))
        return intake

    async def send_contact(self, user: User, conversation_id: int, contact: str, *,
                           confirm: bool = False) -> None:
        """The helper's chosen way to be reached, texted to the neighbor who said YES.
        Only what the helper typed is sent; a phone number, an e-mail or a street address
        in it is sent only once the helper confirms (``confirm``)."""
        text = clean_body(contact, field="contact")
        conv, _ = await self.responses.messages(user, conversation_id)
        intake = await self._helper_intake(user, conv.post_id, conv.helper_actor_id,
                                           conv.other_actor_id)
        number = str(intake["number"])
        if not confirm and find_private(text, await self.sms_settings.region()):
            raise Invalid(N_("This has a phone number, an e-mail or a street address in it. It "
                             "will be texted to the neighbor exactly as you wrote it. Tick the "
                             "box to send it anyway, or write another way to reach you."),
                          field="confirm")
        async with self.db.read() as conn:
            if await repo.opted_out(conn, opt_out_digest(self.sms_settings.opt_out_key(),
                                                         number)):
                raise Conflict(N_("The neighbor asked to get no more texts. Write in the "
                                  "conversation: a coordinator will pass it on."))
            post = await posts_repo.get(conn, conv.post_id)
        if not (await self.sms_settings.current()).configured:
            raise Conflict(N_("The group cannot send texts right now. Write in the conversation: "
                              "a coordinator will pass it on."))
        await self._enforce_limits(number)
        async with self.db.write() as conn:
            thread = await repo.thread_for_post(conn, conv.post_id)
            language = thread.language if thread else words.language_of(
                None, await self.sms_settings.group_language())
            thread_id = thread.id if thread else await repo.create_thread(
                conn, number=number, post_id=conv.post_id, language=language)
            message = words.text("contact", language, group=self.settings.group_name,
                                 title=post.title, contact=text)[:BODY_MAX + 200]
            text_id = await repo.add_text(conn, thread_id=thread_id, direction="out",
                                          body=message, state="waiting", by_user_id=user.id)
            await repo.enqueue(conn, kind=Kind.CONTACT, number=number, body=message,
                               thread_id=thread_id, text_id=text_id, post_id=conv.post_id)
        self.signals.sms_wakeup.set()

    # -- a test, and housekeeping -----------------------------------------------------------------
    async def send_test(self, by: User | None, to: str) -> None:
        if by is not None and not by.may(Permission.GROUP_SETTINGS):
            raise Forbidden(N_("Only coordinators can send a test text."))
        if not (await self.sms_settings.current()).configured:
            raise Conflict(N_("Save the gateway's settings first."))
        number = normal_number(to, await self.sms_settings.region(), field="to")
        await self._enforce_limits(number)
        message = words.text("test", await self.sms_settings.group_language(),
                             group=self.settings.group_name)
        async with self.db.write() as conn:
            await repo.enqueue(conn, kind=Kind.TEST, number=number, body=message)
        self.signals.sms_wakeup.set()

    async def queue_counts(self) -> dict[str, int]:
        async with self.db.read() as conn:
            return await repo.counts(conn)

    async def last_error(self) -> str | None:
        async with self.db.read() as conn:
            return await repo.last_error(conn)

    async def housekeeping(self, now: datetime | None = None) -> int:
        """Conversations not about a post and without a text for the group's retention
        window go, with their numbers; finished queue rows after 30 days."""
        now = now or utcnow()
        policy = await self.posts.policy()
        async with self.db.write() as conn:
            gone = await repo.purge_idle_threads(conn, now - policy.retention)
            await repo.purge_finished(conn, now - timedelta(days=30))
        return gone


class _LostLease(Exception):
    """Another worker took the row over after this one's lease ran out: roll back."""
