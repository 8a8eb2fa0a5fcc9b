"""The composition root: the one place where the application's parts are built and wired
(no singletons, no service locator).

``Runtime.open(settings)`` is called by each entry point (``fediaid serve``, ``worker``, the
CLI, tests). Every service says in its constructor what it needs: the ``Core`` (settings,
database, URLs, identity, signals) and the other services it calls, by name. They are built
here bottom-up, in the order the import-linter contract "service order" enforces, so no
service can reach one above it. HTTP handlers and workers receive the runtime and use its
services.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fediaid.config import Settings
from fediaid.services.accounts import AccountService
from fediaid.services.alerts import AlertService
from fediaid.services.audit import AuditService
from fediaid.services.authorized_fetch import AuthorizedFetch
from fediaid.services.blocklists import BlocklistService
from fediaid.services.blocks import BlockService
from fediaid.services.client_accounts import ClientAccounts
from fediaid.services.client_conversations import ClientConversations
from fediaid.services.core import Core, Identity, Signals
from fediaid.services.directory import DirectoryService
from fediaid.services.discovery import DiscoveryService
from fediaid.services.email import EmailService
from fediaid.services.email_outbox import EmailOutbox
from fediaid.services.email_settings import EmailSettingsService
from fediaid.services.federation_policy import FederationPolicy
from fediaid.services.flyer import FlyerService
from fediaid.services.follows import FollowService
from fediaid.services.forwarding import ForwardingService
from fediaid.services.group_settings import GroupSettingsService
from fediaid.services.hotline import HotlineService
from fediaid.services.inbox import InboxService
from fediaid.services.inbox_activities import InboxActivities
from fediaid.services.inbox_processing import InboxProcessor
from fediaid.services.joining import JoiningService
from fediaid.services.links import LinkService
from fediaid.services.media import MediaService
from fediaid.services.member_data import MemberDataService
from fediaid.services.moderation import ModerationService
from fediaid.services.my_posts import MyPostsService
from fediaid.services.needs_picture import NeedsPicture
from fediaid.services.network_picture import NetworkPictureService
from fediaid.services.notes import NoteService
from fediaid.services.notifications import NotificationService
from fediaid.services.oauth import OAuthService
from fediaid.services.outbox import Outbox
from fediaid.services.post_federation import PostFederation
from fediaid.services.post_inbox import PostInbox
from fediaid.services.posts import PostService
from fediaid.services.push import PushService
from fediaid.services.rate_limits import RateLimiter
from fediaid.services.reactions import Reactions
from fediaid.services.remote_statuses import RemoteStatuses
from fediaid.services.reports import ReportService
from fediaid.services.responses import ResponseService
from fediaid.services.roles import RoleService
from fediaid.services.sms import SmsService
from fediaid.services.sms_outbox import SmsOutbox
from fediaid.services.sms_settings import SmsSettingsService
from fediaid.services.status import StatusService
from fediaid.services.status_posting import StatusPosting
from fediaid.services.status_reading import StatusReading
from fediaid.services.streaming import StreamingHub
from fediaid.services.two_factor import TwoFactorService
from fediaid.storage import actors as actors_repo
from fediaid.storage.engine import Database
from fediaid.storage.migrate import upgrade

if TYPE_CHECKING:
    from fediaid.federation.keys import KeyCache
    from fediaid.federation.remote import RemoteClient
    from fediaid.federation.transport import DeliveryTransport
    from fediaid.federation.urls import Urls

log = logging.getLogger(__name__)

__all__ = ["Identity", "Runtime"]


class Runtime:
    def __init__(self, settings: Settings, db: Database) -> None:
        core = self.core = Core(settings, db)
        core.set_remote_factory(self._make_remote)
        # The foundation: who we exchange with, limits, accounts, the audit log, media.
        self.policy = FederationPolicy(core)
        self.limits = RateLimiter(core)
        self.audit = AuditService(core)
        self.accounts = AccountService(core)
        self.two_factor = TwoFactorService(core, accounts=self.accounts)
        self.roles = RoleService(core)
        self.joining = JoiningService(core, accounts=self.accounts, limits=self.limits)
        self.oauth = OAuthService(core)
        self.media = MediaService(core)
        self.needs_picture = NeedsPicture(core)
        self.status = StatusService(core)
        self.moderation = ModerationService(core, policy=self.policy)
        self.blocklists = BlocklistService(core, policy=self.policy)
        self.client_conversations = ClientConversations(core)
        self.inbox = InboxService(core, policy=self.policy)
        # E-mail: the SMTP settings, members' addresses and choices (sending: below).
        self.email_settings = EmailSettingsService(core)
        self.email = EmailService(core, email_settings=self.email_settings, limits=self.limits)
        # Text messages: the gateway's settings, sending; the hotline shift (texts arriving
        # and conversations: below, beside the other services that make posts).
        self.sms_settings = SmsSettingsService(core)
        self.sms_outbox = SmsOutbox(core, sms_settings=self.sms_settings)
        self.hotline = HotlineService(core, sms_settings=self.sms_settings)
        # Publishing and following.
        self.outbox = Outbox(core, policy=self.policy)
        self.follows = FollowService(core, outbox=self.outbox)
        self.notes = NoteService(core, outbox=self.outbox)
        self.blocks = BlockService(core, outbox=self.outbox)
        self.post_federation = PostFederation(core, blocks=self.blocks, outbox=self.outbox)
        # Links with other groups (issue 12): who `network` posts are for.
        self.links = LinkService(core, follows=self.follows, outbox=self.outbox,
                                 policy=self.policy)
        # Forwarding unmet needs to linked groups (issue 12).
        self.forwarding = ForwardingService(core, outbox=self.outbox, policy=self.policy,
                                            post_federation=self.post_federation)
        # The directory of groups (issue 12): linked groups and theirs, two hops.
        self.directory = DirectoryService(core, policy=self.policy)
        # The network's picture (issue 12): linked groups' needs pictures, combined.
        self.network_picture = NetworkPictureService(core, picture=self.needs_picture,
                                                     policy=self.policy)
        # Offers and needs, and statuses for apps.
        self.posts = PostService(core, blocks=self.blocks, follows=self.follows,
                                 limits=self.limits, post_federation=self.post_federation)
        self.group_settings = GroupSettingsService(core, post_federation=self.post_federation,
                                                   posts=self.posts, outbox=self.outbox)
        self.discovery = DiscoveryService(core, policy=self.policy,
                                          post_federation=self.post_federation,
                                          posts=self.posts)
        self.authorized_fetch = AuthorizedFetch(core, discovery=self.discovery,
                                                policy=self.policy)
        self.status_reading = StatusReading(core, policy=self.policy, blocks=self.blocks,
                                            post_federation=self.post_federation,
                                            media=self.media)
        self.remote_statuses = RemoteStatuses(core, media=self.media)
        self.notifications = NotificationService(core, federation_policy=self.policy,
                                                 status_reading=self.status_reading,
                                                 email=self.email)
        self.email_outbox = EmailOutbox(core, email=self.email,
                                        email_settings=self.email_settings, posts=self.posts,
                                        limits=self.limits)
        self.responses = ResponseService(core, blocks=self.blocks, limits=self.limits,
                                         notifications=self.notifications,
                                         post_federation=self.post_federation,
                                         posts=self.posts)
        self.flyer = FlyerService(core, group_settings=self.group_settings, posts=self.posts)
        self.sms = SmsService(core, sms_settings=self.sms_settings, posts=self.posts,
                              group_settings=self.group_settings, responses=self.responses,
                              limits=self.limits)
        self.push = PushService(core, notifications=self.notifications)
        self.my_posts = MyPostsService(core, notifications=self.notifications,
                                       posts=self.posts, responses=self.responses)
        self.status_posting = StatusPosting(
            core, reading=self.status_reading, posts=self.posts, responses=self.responses,
            follows=self.follows, media=self.media, limits=self.limits, blocks=self.blocks,
            outbox=self.outbox)
        self.reactions = Reactions(core, reading=self.status_reading, outbox=self.outbox)
        self.client_accounts = ClientAccounts(core, follows=self.follows, media=self.media,
                                              outbox=self.outbox, policy=self.policy,
                                              status_reading=self.status_reading)
        self.reports = ReportService(core, moderation=self.moderation, outbox=self.outbox,
                                     post_federation=self.post_federation, posts=self.posts,
                                     status_reading=self.status_reading)
        self.member_data = MemberDataService(
            core, accounts=self.accounts, two_factor=self.two_factor, posts=self.posts,
            post_federation=self.post_federation, media=self.media, outbox=self.outbox,
            email=self.email)
        # Account alerts between linked groups (issue 12): suspensions for harm, shared.
        self.alerts = AlertService(core, follows=self.follows, links=self.links,
                                   outbox=self.outbox, policy=self.policy,
                                   reports=self.reports)
        # Receiving.
        self.post_inbox = PostInbox(core, blocks=self.blocks,
                                    notifications=self.notifications,
                                    post_federation=self.post_federation, posts=self.posts,
                                    remote_statuses=self.remote_statuses)
        self.inbox_activities = InboxActivities(
            core, blocks=self.blocks, outbox=self.outbox, policy=self.policy,
            post_inbox=self.post_inbox, remote_statuses=self.remote_statuses,
            reports=self.reports, links=self.links, alerts=self.alerts,
            forwarding=self.forwarding)
        self.inbox_processing = InboxProcessor(
            core, activities=self.inbox_activities, follows=self.follows,
            remote_statuses=self.remote_statuses, reports=self.reports)
        # Streams hear about changes through the signals (writers never call the hub).
        self.streaming = StreamingHub(core)
        core.signals.on_status_deleted(self.streaming.deleted)
        core.signals.on_status_updated(self.streaming.updated)

    # -- the core, for handlers, workers and tests ------------------------------------------
    @property
    def settings(self) -> Settings:
        return self.core.settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        """Tests and benchmarks tune settings after start: every service reads them here."""
        self.core.settings = value

    @property
    def db(self) -> Database:
        return self.core.db

    @property
    def urls(self) -> Urls:
        return self.core.urls

    @property
    def signals(self) -> Signals:
        return self.core.signals

    @property
    def keys(self) -> KeyCache:
        return self.core.keys

    @property
    def user_agent(self) -> str:
        return self.core.user_agent

    @property
    def identity(self) -> Identity:
        return self.core.identity

    async def load_identity(self) -> Identity:
        return await self.core.load_identity()

    @property
    def delivery_wakeup(self):  # type: ignore[no-untyped-def]
        return self.core.signals.delivery_wakeup

    @property
    def inbox_wakeup(self):  # type: ignore[no-untyped-def]
        return self.core.signals.inbox_wakeup

    async def remote(self) -> RemoteClient:
        return await self.core.remote()

    def transport(self) -> DeliveryTransport:
        return self.core.transport()

    def set_transport(self, transport: DeliveryTransport) -> None:
        """For tests and benchmarks that route deliveries elsewhere."""
        self.core.set_transport(transport)

    async def _make_remote(self) -> RemoteClient:
        # Imported on first use (httpx): idle memory and start time of `fediaid serve`.
        from fediaid.federation.remote import RemoteClient

        inst = self.identity.instance
        async with self.db.read() as conn:
            pem = await actors_repo.private_key_pem(conn, inst.id)
        assert inst.key_id is not None
        s = self.settings
        return RemoteClient(
            allow_private=s.dev, timeout=s.fetch_timeout_seconds, max_bytes=s.fetch_max_bytes,
            key_id=inst.key_id, private_key_pem=pem, user_agent=self.user_agent,
            webfinger_scheme=s.scheme, may_fetch=self.policy.may_fetch,
            also_allow=s.peer_addresses)

    @classmethod
    async def open(cls, settings: Settings, *, migrate: bool = True,
                   require_identity: bool = True) -> Runtime:
        db = Database(settings.database_url)
        rt = cls(settings, db)
        try:
            if migrate:
                if await upgrade(db):
                    log.info("database schema upgraded")
            if require_identity:
                await rt.load_identity()
            await rt.policy.refresh()
        except BaseException:
            await db.dispose()
            raise
        return rt

    async def close(self) -> None:
        await self.streaming.close()
        await self.inbox.close()
        await self.sms_outbox.aclose()
        await self.core.aclose()
        await self.db.dispose()
