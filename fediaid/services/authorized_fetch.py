"""Secure mode (Mastodon's ``AUTHORIZED_FETCH``): when the group turns it on
(``fediaid admin secure-mode on``), every ActivityPub GET must carry a valid signature:
actor documents, outboxes, followers and following, featured, objects, activities.

Mastodon's exceptions are kept: the instance actor (``/actor``, which servers fetch to
verify our own signed fetches, so never a loop) and, for an unsigned fetch of an actor,
a stripped actor document with what verifying a key needs (``id``, ``type``,
``preferredUsername``, ``inbox``, ``outbox``, ``publicKey``, ``endpoints``). WebFinger and
NodeInfo stay public. An unsigned fetch gets 401 with a plain reason; a bad signature 401;
a signature from a blocked domain 403 (``DiscoveryService.fetch_signer``). Objects that are
not public are served only to signed fetches from actors allowed to see them, secure mode
or not (``DiscoveryService.object_document``, ``visibility.can_view``).

The setting is part of the federation policy's snapshot (``DomainRules.secure_mode``, read
from ``group_settings``), so every process applies a change within its refresh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fediaid.errors import Unauthenticated
from fediaid.services.core import Core, Service
from fediaid.storage import domains as domains_repo

if TYPE_CHECKING:
    from fediaid.services.discovery import DiscoveryService
    from fediaid.services.federation_policy import FederationPolicy

# What Mastodon serves of an actor to an unsigned fetch in secure mode.
ACTOR_FIELDS = ("@context", "id", "type", "preferredUsername", "inbox", "outbox",
                "publicKey", "endpoints")

REFUSAL = ("This server answers only signed requests (secure mode): sign the GET with "
           "your actor's key.")


def stripped_actor(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: doc[k] for k in ACTOR_FIELDS if k in doc}


class AuthorizedFetch(Service):
    def __init__(self, core: Core, *,
                 discovery: DiscoveryService, policy: FederationPolicy) -> None:
        super().__init__(core)
        self.discovery = discovery
        self.policy = policy

    @property
    def secure_mode(self) -> bool:
        return self.policy.rules.secure_mode

    async def set_secure_mode(self, on: bool) -> None:
        async with self.db.write() as conn:
            await domains_repo.set_secure_mode(conn, on)
        await self.policy.refresh()

    async def signer(self, *, method: str, url: str, headers: Any,
                     required: bool = True) -> str | None:
        """Who signed the GET (None: unsigned). In secure mode an unsigned GET is refused
        (401) unless ``required`` is False (actor documents: the caller strips them)."""
        signer = await self.discovery.fetch_signer(method=method, url=url, headers=headers)
        if signer is None and required and self.secure_mode:
            raise Unauthenticated(REFUSAL)
        return signer
