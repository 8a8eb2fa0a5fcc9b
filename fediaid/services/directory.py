"""The directory of groups (issue 12, "A directory of groups"; docs/network.md, "Directory").

- **Publish**: ``entry()`` is this group's directory entry (``GET /directory.json``, public:
  everything in it is what the group publishes anyway): how it describes itself (the same
  fields as its actor, outbox.local_actor_document), its open public needs (a count, or
  "fewer than 5") and the actor URIs of the groups it is linked with now.
- **Gather**: ``refresh()`` fetches, through the remote fetch client (signed, public
  addresses only outside --dev, time and size limits, the federation policy asked before
  every request), each linked group's actor, the ``directory`` it names on the same server,
  and then the entries of the groups *those* link with (two hops), at most ``MAX_GROUPS``
  in all. Each entry is checked (fediaid/domain/directory.py); one that fails is left out
  and changes nothing else. The cache is replaced in one transaction. ``refresh_due()``
  (the worker's periodic loop) refreshes once a day, and at once when the set of active
  links changed (a link started or ended).
- **Read**: ``groups(query)``: the cached entries, filtered by area name.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from activitypub.vocab import host_of, id_of
from fediaid.domain.directory import DirectoryError, matches, open_needs_shown, parse_entry
from fediaid.domain.links import LinkState
from fediaid.federation import render
from fediaid.services.core import Core, Service
from fediaid.services.outbox import local_actor_document
from fediaid.storage import directory as repo
from fediaid.storage import links as links_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage.directory import CachedEntry
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from fediaid.services.federation_policy import FederationPolicy

log = logging.getLogger(__name__)

REFRESH_EVERY = timedelta(days=1)
MAX_GROUPS = 50  # entries fetched per refresh, both hops together
KEEP_STALE = timedelta(days=7)  # an entry unreadable since is kept this long
_REFRESHED = "directory_refreshed_at"
_LINKS_SEEN = "directory_links"


class DirectoryService(Service):
    def __init__(self, core: Core, *, policy: FederationPolicy) -> None:
        super().__init__(core)
        self.policy = policy

    def url(self) -> str:
        return self.settings.base_url + "/directory.json"

    # -- publish ----------------------------------------------------------------------------
    async def _active_links(self) -> list[str]:
        async with self.db.read() as conn:
            return [link.actor_uri for link in await links_repo.all_links(conn)
                    if link.state is LinkState.ACTIVE]

    async def entry(self) -> dict[str, Any]:
        from fediaid.domain.blocklists import NAMESPACE

        group = self.identity.group
        async with self.db.read() as conn:
            doc = await local_actor_document(conn, group, self.settings)
            needs = await repo.open_public_needs(conn)
        links = [uri for uri in await self._active_links() if self.policy.may_exchange(uri)]
        return render.directory_entry(
            url=self.url(), namespace=NAMESPACE, actor=group,
            handle=f"@{group.username}@{self.settings.domain}", profile_url=group.url,
            areas=doc.get("areaServed", []), languages=doc.get("knowsLanguage", []),
            telephone=doc.get("telephone", ""), hotline_hours=doc.get("hotlineHours", ""),
            how_to_join=doc.get("howToJoin", ""), open_needs=open_needs_shown(needs),
            links=sorted(links), updated=utcnow())

    # -- gather -----------------------------------------------------------------------------
    async def _fetch_entry(self, actor_uri: str) -> dict[str, Any] | None:
        """A group's checked entry: its actor, then the directory it names on its server."""
        from activitypub.errors import FetchError

        remote = await self.core.remote()
        try:
            actor = await remote.fetch(actor_uri)
            url = id_of(actor.get("directory"))
            if not url or host_of(url) != host_of(actor_uri):
                return None
            entry = parse_entry(await remote.fetch(url), url)
        except (FetchError, DirectoryError) as exc:
            log.info("directory: %s not read: %s", actor_uri, exc)
            return None
        if entry["actor"] != actor_uri:
            return None
        return entry

    async def refresh(self) -> int:
        """Fetch the two hops now and replace the cache. Returns how many groups it has.
        A group whose entry cannot be read now (down, too big, not valid) keeps the entry
        read last time, for at most ``KEEP_STALE``."""
        own = self.identity.group.uri
        first = await self._active_links()
        async with self.db.read() as conn:
            before = {c.actor_uri: c for c in await repo.entries(conn)}
        now = utcnow()
        found: list[tuple[str, int, str | None, dict[str, Any], datetime]] = []
        seen = {own}
        budget = MAX_GROUPS
        hop: list[tuple[str, str | None]] = [(uri, None) for uri in first]
        for hops in (1, 2):
            after: list[tuple[str, str | None]] = []
            for uri, via in hop:
                if uri in seen or budget <= 0 or not self.policy.may_exchange(uri):
                    continue
                seen.add(uri)
                budget -= 1
                entry, fetched = await self._fetch_entry(uri), now
                old = before.get(uri)
                if entry is None and old is not None and now - old.fetched_at < KEEP_STALE:
                    entry, fetched = old.entry, old.fetched_at
                if entry is not None:
                    found.append((uri, hops, via, entry, fetched))
                    after.extend((link, uri) for link in entry["links"])
            hop = after
        async with self.db.write() as conn:
            await repo.replace(conn, found)
            await posts_repo.set_setting(conn, _REFRESHED, now.isoformat())
            await posts_repo.set_setting(conn, _LINKS_SEEN, " ".join(sorted(first)))
        return len(found)

    async def refresh_due(self) -> int | None:
        """The periodic part: refresh when the last one is a day old or the active links
        changed since. Returns the number of groups, or None when nothing was due."""
        async with self.db.read() as conn:
            stored = await posts_repo.settings(conn)
        links = " ".join(sorted(await self._active_links()))
        when = stored.get(_REFRESHED)
        last = datetime.fromisoformat(when) if when else None
        if (last is not None and utcnow() - last < REFRESH_EVERY
                and stored.get(_LINKS_SEEN, "") == links):
            return None
        return await self.refresh()

    # -- read -------------------------------------------------------------------------------
    async def groups(self, query: str = "") -> list[CachedEntry]:
        """The cached groups (nearest first), those serving an area named like ``query``
        only, and never one on a domain blocked since it was fetched."""
        async with self.db.read() as conn:
            cached = await repo.entries(conn)
        return [c for c in cached
                if self.policy.may_exchange(c.actor_uri) and matches(c.entry, query)]
