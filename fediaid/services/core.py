"""What every service may use that is not another service: the configuration, the database,
our URLs, the instance's identity, the remote-fetch client and key cache, and the signals
that wake workers and streams.

Services receive a ``Core`` and, by name, the other services they call (their constructors
say what they need); ``fediaid/services/runtime.py`` is the one place that builds them, in
the order the import-linter contract "service order" enforces (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fediaid import __version__
from fediaid.config import Settings
from fediaid.domain.actors import Actor, ActorType
from fediaid.errors import ConfigError
from fediaid.federation.keys import KeyCache
from fediaid.federation.urls import USER_AGENT, Urls
from fediaid.storage import actors as actors_repo
from fediaid.storage.engine import Database

if TYPE_CHECKING:
    import httpx

    from fediaid.federation.remote import RemoteClient
    from fediaid.federation.transport import DeliveryTransport


@dataclass(frozen=True)
class Identity:
    group: Actor
    instance: Actor


@dataclass
class Signals:
    """Events between parts that must not know each other: a worker to wake, or the
    streaming hub to tell about a change (it subscribes; writers only signal)."""

    delivery_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    inbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    stream_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    push_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    email_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    sms_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _deleted: list[Callable[[int], None]] = field(default_factory=list)
    _updated: list[Callable[[int], None]] = field(default_factory=list)

    def on_status_deleted(self, listener: Callable[[int], None]) -> None:
        self._deleted.append(listener)

    def on_status_updated(self, listener: Callable[[int], None]) -> None:
        self._updated.append(listener)

    def stream_changed(self) -> None:
        """Something new was written for the client API's streams (notifications among
        them): wake the poller, and the Web Push worker (jobs/push.py)."""
        self.stream_wakeup.set()
        self.push_wakeup.set()

    def status_deleted(self, status_id: int) -> None:
        for listener in self._deleted:
            listener(status_id)

    def status_updated(self, status_id: int) -> None:
        for listener in self._updated:
            listener(status_id)


class Core:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.urls = Urls(settings.base_url)
        self.user_agent = USER_AGENT.format(version=__version__, base=settings.base_url)
        self.signals = Signals()
        self._identity: Identity | None = None
        self._remote: RemoteClient | None = None
        self._transport: DeliveryTransport | None = None
        self._remote_factory: Callable[[], Awaitable[RemoteClient]] | None = None
        self._group_auth: httpx.Auth | None = None
        self.keys = KeyCache(db, self._fetch)

    # -- identity -------------------------------------------------------------------------
    async def load_identity(self) -> Identity:
        async with self.db.read() as conn:
            group = await actors_repo.find_local(conn, self.settings.group_slug)
            instance = await actors_repo.find_local_by_type(conn, ActorType.APPLICATION)
        if group is None or instance is None:
            raise ConfigError("This instance is not initialised: run `fediaid init` first.")
        self._identity = Identity(group=group, instance=instance)
        return self._identity

    @property
    def identity(self) -> Identity:
        if self._identity is None:
            raise ConfigError("identity not loaded")
        return self._identity

    # -- remote fetches (built on first use: httpx stays off the idle serving path) --------
    def set_remote_factory(self, factory: Callable[[], Awaitable[RemoteClient]]) -> None:
        self._remote_factory = factory

    async def remote(self) -> RemoteClient:
        if self._remote is None:
            if self._remote_factory is None:
                raise ConfigError("no remote client configured")
            self._remote = await self._remote_factory()
        return self._remote

    async def group_auth(self) -> httpx.Auth:
        """Signing as our group actor, for ``RemoteClient.fetch(url, auth=...)``: what a
        linked group shares only with our group itself (``fediaid.domain.links.reads_share``:
        its needs picture, its blocklist) is fetched so, never as the instance actor. The key
        is read once per process."""
        if self._group_auth is None:
            group = self.identity.group
            async with self.db.read() as conn:
                pem = await actors_repo.private_key_pem(conn, group.id)
            assert group.key_id is not None
            self._group_auth = (await self.remote()).signed_as(group.key_id, pem)
        return self._group_auth

    async def _fetch(self, url: str) -> dict[str, object]:
        return await (await self.remote()).fetch(url)

    # -- deliveries -----------------------------------------------------------------------
    def transport(self) -> DeliveryTransport:
        if self._transport is None:
            from fediaid.federation.transport import HttpxTransport

            d = self.settings.delivery
            self._transport = HttpxTransport(
                allow_private=self.settings.dev, timeout=d.timeout_seconds,
                concurrency=d.concurrency, user_agent=self.user_agent,
                also_allow=self.settings.peer_addresses)
        return self._transport

    def set_transport(self, transport: DeliveryTransport) -> None:
        """For tests and benchmarks that route deliveries elsewhere."""
        self._transport = transport

    async def aclose(self) -> None:
        if self._remote is not None:
            await self._remote.aclose()
        if self._transport is not None:
            await self._transport.aclose()


class Service:
    """A service's view of the core (what it may use besides the services it names)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.db = core.db
        self.urls = core.urls
        self.signals = core.signals

    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def identity(self) -> Identity:
        return self.core.identity
