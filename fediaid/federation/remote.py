"""The HTTP client for fetching remote documents (actors, keys, objects, WebFinger).

Every GET is signed as the instance actor (servers in secure mode require it) unless the
caller signs it as another of our actors (``signed_as``, through ``Core.group_auth``: the
group fetching a linked group's needs picture or blocklist, which only the group itself may
read), goes only to
public addresses unless the instance runs with ``--dev``, and has time, size and redirect
limits (``activitypub.net.make_client``, the client deliveries use too). Every request,
each redirect hop included, is first put to the federation policy (``may_fetch``): nothing
is fetched from a blocked domain (``BlockedFetch``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from activitypub import webfinger
from activitypub.auth import HttpSignatureAuth
from activitypub.client import fetch_document
from activitypub.errors import FetchError
from activitypub.keys import load_private_key
from activitypub.net import ClientPolicy, make_client


class BlockedFetch(FetchError):
    """The federation policy does not let us fetch from this domain."""

    default_reason = "this server does not fetch from that domain"


class RemoteClient:
    def __init__(
        self,
        *,
        allow_private: bool,
        timeout: float,
        max_bytes: int,
        key_id: str,
        private_key_pem: str,
        user_agent: str,
        webfinger_scheme: str,
        may_fetch: Callable[[str], bool] | None = None,
        also_allow: frozenset[str] = frozenset(),
    ) -> None:
        self._max_bytes = max_bytes
        self._may_fetch = may_fetch
        self._scheme = webfinger_scheme
        # The deadline is for a whole fetch, redirects and body included (a server trickling
        # a byte a second cannot hold one longer).
        self._deadline = timeout
        self.policy = ClientPolicy(
            allow_private=allow_private, also_allow=also_allow, deadline=timeout,
            connect_timeout=min(timeout, 5.0),
            max_bytes=max_bytes, max_redirects=3, max_connections=50, per_host=8,
            user_agent=user_agent)
        self.client = make_client(self.policy, auth=HttpSignatureAuth(
            key_id=key_id, private_key=load_private_key(private_key_pem)))
        # The federation policy is asked before every request, each redirect hop included.
        hooks = self.client.event_hooks
        self.client.event_hooks = {**hooks, "request": [*hooks["request"], self._check_policy]}

    async def _check_policy(self, request: httpx.Request) -> None:
        if self._may_fetch is not None and not self._may_fetch(str(request.url)):
            raise BlockedFetch(f"{request.url.host} is blocked here: not fetched")

    async def fetch(self, url: str, *, auth: httpx.Auth | None = None) -> dict[str, Any]:
        """Raises activitypub.errors.FetchError (and subclasses) on any failure. ``auth``
        (``signed_as``): sign as that actor instead of the instance actor."""
        return await fetch_document(self.client, url, max_bytes=self._max_bytes,
                                    deadline=self._deadline, auth=auth)

    @staticmethod
    def signed_as(key_id: str, private_key_pem: str) -> httpx.Auth:
        """The signing auth of another of our actors, for ``fetch``."""
        return HttpSignatureAuth(key_id=key_id, private_key=load_private_key(private_key_pem))

    async def webfinger(self, handle: str) -> str:
        return await webfinger.resolve(self.client, handle, scheme=self._scheme,
                                       deadline=self._deadline)

    async def aclose(self) -> None:
        await self.client.aclose()
