"""The network's picture (issue 12; docs/needs-picture.md, "The network's picture";
docs/federation.md, "The needs picture over links").

- **Publish**: ``published(signer)`` is this group's needs picture as linked groups fetch it
  (``GET /picture.json``): the same protected counts members see on ``/picture`` (by
  category, place and month; open needs by category and by how long they waited), each a
  number of 5 or more or "fewer than 5" / "hidden". Only for a fetch signed by the linked
  group's own actor, over a link that is active and on which this group shares its
  statistics (``fediaid.domain.links.reads_share``; any other actor on that group's server
  gets what a stranger gets); the federation policy refused blocked signers before
  (``DiscoveryService.fetch_signer``).
- **Gather**: ``refresh()`` fetches, through the remote fetch client (signed, time and size
  limits, public addresses only outside --dev), the picture of each group linked with us
  that shares its statistics: its actor, then the ``needsPicture`` it names on the same
  server, that GET signed as our group actor (the party to the link: the other side gives
  its picture to nobody else). A picture that cannot be read now keeps the last one read,
  for up to a week.
  ``refresh_due()`` (the worker's periodic loop): daily, and at once when a link starts or
  ends or what a linked group shares changes.
- **Read**: ``network(user)``: this group's own published picture and the cached ones of
  the groups linked now, combined (fediaid/domain/network_picture.py: a combined count is
  shown only when every group's part is).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from activitypub.vocab import host_of, id_of
from fediaid.domain.links import LinkState, Share, reads_share
from fediaid.domain.network_picture import (
    GroupPicture,
    NetworkPicture,
    PictureError,
    combine,
    parse_picture,
    published,
)
from fediaid.domain.picture import HIDE_BELOW
from fediaid.domain.users import User
from fediaid.errors import Forbidden
from fediaid.federation import render
from fediaid.i18n import N_
from fediaid.services.core import Core, Service
from fediaid.services.needs_picture import NeedsPicture, Picture, Table
from fediaid.storage import links as links_repo
from fediaid.storage import network_pictures as repo
from fediaid.storage import posts as posts_repo
from fediaid.storage.links import Link
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from fediaid.services.federation_policy import FederationPolicy

log = logging.getLogger(__name__)

REFRESH_EVERY = timedelta(days=1)
KEEP_STALE = timedelta(days=7)  # a picture unreadable since is kept this long
MAX_GROUPS = 50  # pictures fetched per refresh
_REFRESHED = "network_picture_refreshed_at"
_LINKS_SEEN = "network_picture_links"


def _rows(table: Table) -> list[dict[str, Any]]:
    return [{"key": r.key, "name": r.label,
             **{col + "s": published(c) for col, c in zip(table.columns, r.cells,
                                                          strict=True)}}
            for r in table.rows]


def picture_body(p: Picture) -> dict[str, Any]:
    """The counts of a picture as they go to linked groups (docs/federation.md)."""
    return {
        "since": render.iso(p.since), "hideBelow": HIDE_BELOW,
        "needs": published(p.needs), "offers": published(p.offers),
        "categories": _rows(p.categories), "areas": _rows(p.areas),
        "months": _rows(p.months), "openNeeds": published(p.open_needs),
        "waiting": _rows(p.waiting_bands),
        "openByCategory": [{"key": w.key, "name": w.label, "needs": published(w.open)}
                           for w in p.waiting]}


class NetworkPictureService(Service):
    def __init__(self, core: Core, *, picture: NeedsPicture, policy: FederationPolicy
                 ) -> None:
        super().__init__(core)
        self.picture = picture
        self.policy = policy

    def url(self) -> str:
        return self.settings.base_url + "/picture.json"

    # -- publish ------------------------------------------------------------------------
    async def document(self, *, now: datetime | None = None) -> dict[str, Any]:
        """This group's picture as published (no check of who asks: see ``published``)."""
        from fediaid.domain.blocklists import NAMESPACE

        p = await self.picture.group_picture(now=now)
        return render.needs_picture_document(
            url=self.url(), namespace=NAMESPACE, actor=self.identity.group,
            updated=p.made_at, body=picture_body(p))

    async def _links(self) -> list[Link]:
        async with self.db.read() as conn:
            return [link for link in await links_repo.all_links(conn)
                    if link.state is LinkState.ACTIVE and self.policy.may_exchange(
                        link.actor_uri)]

    async def published(self, signer: str | None) -> dict[str, Any]:
        """Our picture for a linked group we share statistics with, signed by its actor."""
        if signer is None:
            raise Forbidden(N_("This picture is only for linked groups: sign the request."))
        if not any(reads_share(link, Share.STATISTICS, signer)
                   for link in await self._links()):
            raise Forbidden(N_("This picture is only for groups this group shares its "
                               "statistics with."))
        return await self.document()

    # -- gather -------------------------------------------------------------------------
    async def _sharing(self) -> list[Link]:
        """Linked groups that share their statistics with us."""
        return [link for link in await self._links() if Share.STATISTICS in link.their_shares]

    async def _fetch(self, actor_uri: str) -> dict[str, Any] | None:
        """A group's checked picture: its actor, then the picture it names on its server."""
        from activitypub.errors import FetchError

        remote = await self.core.remote()
        try:
            actor = await remote.fetch(actor_uri)
            url = id_of(actor.get("needsPicture"))
            if not url or host_of(url) != host_of(actor_uri):
                return None
            doc = await remote.fetch(url, auth=await self.core.group_auth())
            parse_picture(doc, url, actor_uri)
        except (FetchError, PictureError) as exc:
            log.info("network picture: %s not read: %s", actor_uri, exc)
            return None
        return doc

    async def refresh(self) -> int:
        """Fetch the linked groups' pictures now and replace the cache. Returns how many
        groups it holds."""
        sharing = (await self._sharing())[:MAX_GROUPS]
        async with self.db.read() as conn:
            before = {c.actor_uri: c for c in await repo.pictures(conn)}
        now = utcnow()
        found: list[tuple[str, dict[str, Any], datetime]] = []
        for link in sharing:
            doc, fetched = await self._fetch(link.actor_uri), now
            old = before.get(link.actor_uri)
            if doc is None and old is not None and now - old.fetched_at < KEEP_STALE:
                doc, fetched = old.picture, old.fetched_at
            if doc is not None:
                found.append((link.actor_uri, doc, fetched))
        async with self.db.write() as conn:
            await repo.replace(conn, found)
            await posts_repo.set_setting(conn, _REFRESHED, now.isoformat())
            await posts_repo.set_setting(conn, _LINKS_SEEN, self._seen(sharing))
        return len(found)

    @staticmethod
    def _seen(links: list[Link]) -> str:
        return " ".join(sorted(link.actor_uri for link in links))

    async def refresh_due(self) -> int | None:
        """The periodic part: refresh when the last one is a day old, or when the groups
        sharing their statistics with us changed (a link started or ended, shares changed).
        Returns the number of groups, or None when nothing was due."""
        async with self.db.read() as conn:
            stored = await posts_repo.settings(conn)
        seen = self._seen(await self._sharing())
        when = stored.get(_REFRESHED)
        last = datetime.fromisoformat(when) if when else None
        if (last is not None and utcnow() - last < REFRESH_EVERY
                and stored.get(_LINKS_SEEN, "") == seen):
            return None
        return await self.refresh()

    # -- read ---------------------------------------------------------------------------
    async def network(self, user: User, *, now: datetime | None = None) -> NetworkPicture:
        """The network's picture, for a member (any role): this group's published picture
        and those of the groups linked now that share their statistics with us (never a
        group unlinked, paused or blocked since its picture was fetched)."""
        del user  # every member sees the same picture; the caller made sure one asks
        own = self.identity.group.uri
        groups: list[GroupPicture] = [parse_picture(await self.document(now=now),
                                                    self.url(), own)]
        current = {link.actor_uri for link in await self._sharing()}
        async with self.db.read() as conn:
            cached = await repo.pictures(conn)
        for c in cached:
            if c.actor_uri not in current or c.actor_uri == own:
                continue
            try:
                groups.append(parse_picture(c.picture, str(c.picture.get("id", "")),
                                            c.actor_uri))
            except PictureError:
                continue
        return combine(groups, own=own)
