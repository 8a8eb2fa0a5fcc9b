"""The one place where the application's parts are built and wired (no singletons).

``Runtime.open(settings)`` is called by each entry point (``fediaid serve``, ``worker``, the
CLI, tests); HTTP handlers and workers receive the runtime and use its services.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fediaid import __version__
from fediaid.config import Settings
from fediaid.domain.actors import Actor, ActorType
from fediaid.errors import ConfigError
from fediaid.federation.keys import KeyCache
from fediaid.federation.transport import DeliveryTransport, HttpxTransport
from fediaid.federation.urls import USER_AGENT, Urls
from fediaid.storage import actors as actors_repo
from fediaid.storage.engine import Database
from fediaid.storage.migrate import upgrade

if TYPE_CHECKING:
    from fediaid.federation.remote import RemoteClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    group: Actor
    instance: Actor


class Runtime:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.urls = Urls(settings.base_url)
        self.user_agent = USER_AGENT.format(version=__version__, base=settings.base_url)
        self.delivery_wakeup = asyncio.Event()
        self.inbox_wakeup = asyncio.Event()
        self.stream_wakeup = asyncio.Event()
        self._identity: Identity | None = None
        self._remote: RemoteClient | None = None
        self._transport: DeliveryTransport | None = None
        from fediaid.services.federation_policy import FederationPolicy

        # Who we exchange with (blocked, silenced, allow-list, unavailable): asked by the
        # inbox, fetches, deliveries and timelines (docs/architecture.md).
        self.policy = FederationPolicy(self)
        self.keys = KeyCache(db, self._fetch)
        from fediaid.services.accounts import AccountService
        from fediaid.services.discovery import DiscoveryService
        from fediaid.services.follows import FollowService
        from fediaid.services.group_settings import GroupSettingsService
        from fediaid.services.inbox import InboxService
        from fediaid.services.media import MediaService
        from fediaid.services.moderation import ModerationService
        from fediaid.services.notes import NoteService
        from fediaid.services.notifications import NotificationService
        from fediaid.services.oauth import OAuthService
        from fediaid.services.post_federation import PostFederation
        from fediaid.services.post_inbox import PostInbox
        from fediaid.services.posts import PostService
        from fediaid.services.rate_limits import RateLimiter
        from fediaid.services.responses import ResponseService
        from fediaid.services.status import StatusService
        from fediaid.services.statuses import StatusService as ClientStatuses
        from fediaid.services.streaming import StreamingHub

        # Every request limit but the login locks (fediaid/domain/rate_limits.py).
        self.limits = RateLimiter(self)
        self.accounts = AccountService(self)
        from fediaid.services.two_factor import TwoFactorService

        # Optional TOTP second step for coordinators and admins.
        self.two_factor = TwoFactorService(self)
        self.discovery = DiscoveryService(self)
        self.follows = FollowService(self)
        self.inbox = InboxService(self)
        self.notes = NoteService(self)
        self.status = StatusService(self)
        self.moderation = ModerationService(self)
        self.posts = PostService(self)
        self.group_settings = GroupSettingsService(self)
        self.responses = ResponseService(self)
        self.post_federation = PostFederation(self)
        self.post_inbox = PostInbox(self)
        self.oauth = OAuthService(self)
        self.statuses = ClientStatuses(self)
        self.media = MediaService(self)
        self.notifications = NotificationService(self)
        from fediaid.services.audit import AuditService
        from fediaid.services.roles import RoleService

        # The group's audit log (members read it) and roles with second-coordinator approval
        # (fediaid/domain/roles.py: the permission table).
        self.audit = AuditService(self)
        self.roles = RoleService(self)
        from fediaid.services.client_conversations import ClientConversations

        self.client_conversations = ClientConversations(self)
        self.streaming = StreamingHub(self)
        from fediaid.services.client_accounts import ClientAccounts

        self.client_accounts = ClientAccounts(self)
        from fediaid.services.blocks import BlockService

        # Member blocks, mutes and own domain blocks (the rule: domain/visibility.py).
        self.blocks = BlockService(self)
        from fediaid.services.authorized_fetch import AuthorizedFetch

        # Secure mode: every ActivityPub GET signed (Mastodon's AUTHORIZED_FETCH).
        self.authorized_fetch = AuthorizedFetch(self)
        from fediaid.services.reports import ReportService

        # Reports, takedowns, suspending and limiting accounts (docs/moderation.md).
        self.reports = ReportService(self)
        from fediaid.services.blocklists import BlocklistService

        # Domain rules for coordinators, CSV, the published list, subscriptions
        # (docs/moderation.md, "Servers"); changes go through self.policy.
        self.blocklists = BlocklistService(self)
        from fediaid.services.member_data import MemberDataService

        # A member's data: download everything, delete the account (docs/privacy.md).
        self.member_data = MemberDataService(self)

    def streaming_notify(self) -> None:
        """Something new was written for the client API's streams (statuses or
        notifications): wake this process's stream poller."""
        self.stream_wakeup.set()

    def streaming_deleted(self, status_id: int) -> None:
        """A status was deleted: tell this process's stream subscribers."""
        self.streaming.deleted(status_id)

    def streaming_updated(self, status_id: int) -> None:
        """A status was edited: tell this process's stream subscribers."""
        self.streaming.updated(status_id)

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

    async def load_identity(self) -> Identity:
        async with self.db.read() as conn:
            group = await actors_repo.find_local(conn, self.settings.group_slug)
            instance = await actors_repo.find_local_by_type(conn, ActorType.APPLICATION)
        if group is None or instance is None:
            raise ConfigError(
                "This instance is not initialised: run `fediaid init` first."
            )
        self._identity = Identity(group=group, instance=instance)
        return self._identity

    @property
    def identity(self) -> Identity:
        if self._identity is None:
            raise ConfigError("identity not loaded")
        return self._identity

    async def remote(self) -> RemoteClient:
        # Imported on first use (httpx): idle memory and start time of `fediaid serve`.
        from fediaid.federation.remote import RemoteClient

        if self._remote is None:
            inst = self.identity.instance
            async with self.db.read() as conn:
                pem = await actors_repo.private_key_pem(conn, inst.id)
            assert inst.key_id is not None
            self._remote = RemoteClient(
                allow_private=self.settings.dev,
                timeout=self.settings.fetch_timeout_seconds,
                max_bytes=self.settings.fetch_max_bytes,
                key_id=inst.key_id,
                private_key_pem=pem,
                user_agent=self.user_agent,
                webfinger_scheme=self.settings.scheme,
                may_fetch=self.policy.may_fetch,
            )
        return self._remote

    async def _fetch(self, url: str) -> dict[str, object]:
        return await (await self.remote()).fetch(url)

    def transport(self) -> DeliveryTransport:
        if self._transport is None:
            d = self.settings.delivery
            self._transport = HttpxTransport(
                allow_private=self.settings.dev, timeout=d.timeout_seconds,
                concurrency=d.concurrency, user_agent=self.user_agent,
            )
        return self._transport

    def set_transport(self, transport: DeliveryTransport) -> None:
        """For tests and benchmarks that route deliveries elsewhere."""
        self._transport = transport

    async def close(self) -> None:
        await self.streaming.close()
        await self.inbox.close()
        if self._remote is not None:
            await self._remote.aclose()
        if self._transport is not None:
            await self._transport.aclose()
        await self.db.dispose()
