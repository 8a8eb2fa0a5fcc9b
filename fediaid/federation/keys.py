"""Public keys of remote actors: an in-memory cache in front of the database in front of
the network.

Lessons applied (PERFORMANCE.md section 1): GoToSocial saw 739 key fetches in one minute when
a popular account replied, so concurrent requests for the same unknown key share one fetch
(single flight), and a failed verification may refetch a key at most once per
``refetch_interval`` (key rotation without letting a peer make us fetch in a loop). Fetches
are awaited, never blocking: other requests keep being served meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from urllib.parse import urldefrag

from activitypub.errors import FetchError, KeyResolutionError
from activitypub.keys import PublicKey, load_public_key
from activitypub.verify import ResolvedKey
from activitypub.vocab import first_str, id_of
from fediaid.domain.actors import Actor, RemoteActorData
from fediaid.errors import Invalid
from fediaid.federation.parse import parse_actor
from fediaid.storage import actors as actors_repo
from fediaid.storage.engine import Database

log = logging.getLogger(__name__)

Fetch = Callable[[str], Awaitable[dict[str, object]]]


class KeyCache:
    def __init__(self, db: Database, fetch: Fetch, *, max_entries: int = 4096,
                 refetch_interval: float = 30.0) -> None:
        self._db = db
        self._fetch = fetch
        self._max = max_entries
        self._refetch_interval = refetch_interval
        self._cache: OrderedDict[str, ResolvedKey] = OrderedDict()
        self._fetched_at: dict[str, float] = {}
        self._inflight: dict[str, asyncio.Future[ResolvedKey]] = {}
        self.fetches = 0

    def _remember(self, key: ResolvedKey) -> ResolvedKey:
        self._cache[key.key_id] = key
        self._cache.move_to_end(key.key_id)
        while len(self._cache) > self._max:
            old, _ = self._cache.popitem(last=False)
            self._fetched_at.pop(old, None)
        return key

    def forget_owner(self, owner: str) -> None:
        for kid in [k for k, v in self._cache.items() if v.owner == owner]:
            del self._cache[kid]

    def cached(self, key_id: str) -> ResolvedKey | None:
        return self._cache.get(key_id)

    async def resolve(self, key_id: str, refresh: bool) -> ResolvedKey:
        """activitypub.verify.KeyResolver: (key_id, refresh) -> key."""
        hit = self._cache.get(key_id)
        if hit is not None:
            # A refresh moments after the last network fetch returns the same key:
            # verification then fails as it should, and a peer cannot make us fetch in a loop.
            recent = time.monotonic() - self._fetched_at.get(key_id, -1e9) < self._refetch_interval
            if not refresh or recent:
                self._cache.move_to_end(key_id)
                return hit
        if not refresh:
            async with self._db.read() as conn:
                actor = await actors_repo.find_by_key_id(conn, key_id)
            if actor is not None and actor.public_key_pem:
                return self._remember(_resolved(actor.key_id or key_id, actor.uri,
                                                actor.public_key_pem))
        pending = self._inflight.get(key_id)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[ResolvedKey] = asyncio.get_running_loop().create_future()
        self._inflight[key_id] = fut
        try:
            key = await self._fetch_key(key_id)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters (if any) get it via shield
            raise
        else:
            fut.set_result(key)
            return key
        finally:
            del self._inflight[key_id]

    async def _fetch_key(self, key_id: str) -> ResolvedKey:
        self.fetches += 1
        url = urldefrag(key_id)[0]
        try:
            doc = await self._fetch(url)
            if "publicKey" not in doc and first_str(doc.get("type")) in (
                "Key", "CryptographicKey"
            ):
                owner = id_of(doc.get("owner"))
                if not owner:
                    raise KeyResolutionError(f"key {key_id} names no owner")
                doc = await self._fetch(owner)
            data = parse_actor(doc)
        except FetchError as exc:
            raise KeyResolutionError(f"could not fetch key {key_id}: {exc.reason}") from exc
        except Invalid as exc:
            raise KeyResolutionError(f"could not use key {key_id}: {exc.public}") from exc
        if data.key_id != key_id or data.public_key_pem is None:
            raise KeyResolutionError(f"{data.uri} does not publish key {key_id}")
        await self.store_actor(data)
        self._fetched_at[key_id] = time.monotonic()
        return self._remember(_resolved(key_id, data.uri, data.public_key_pem))

    async def store_actor(self, data: RemoteActorData) -> Actor:
        async with self._db.write() as conn:
            actor = await actors_repo.upsert_remote(conn, data)
        self.forget_owner(data.uri)
        return actor


def _resolved(key_id: str, owner: str, pem: str) -> ResolvedKey:
    key: PublicKey = load_public_key(pem)
    return ResolvedKey(key_id=key_id, owner=owner, public_key=key)
