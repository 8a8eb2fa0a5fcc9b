"""httpx authentication that signs outgoing requests with HTTP signatures.

Usage::

    auth = HttpSignatureAuth(key_id=actor_key_id, private_key=key)
    async with httpx.AsyncClient(auth=auth) as client:
        await client.post(inbox, content=body, headers={"Content-Type": AP_JSON})

Works with both ``httpx.Client`` and ``httpx.AsyncClient``: the auth flow is
the generic one, and ``requires_request_body`` makes httpx buffer the body
before signing so the digest can be computed.

"Double knocking" (the transition strategy between the two signature schemes:
try one, fall back to the other if the peer refuses it): with
``double_knock=True``, a ``401`` answer to the first attempt triggers exactly
one retry signed with the other scheme.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Literal

import httpx

from activitypub.keys import PrivateKey
from activitypub.signatures import sign_cavage, sign_rfc9421

__all__ = ["HttpSignatureAuth", "Scheme"]

Scheme = Literal["cavage", "rfc9421"]

_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class HttpSignatureAuth(httpx.Auth):
    """Sign each request with draft-cavage (default) or RFC 9421.

    ``clock`` returns the current unix time and is called once per signature,
    so tests can pass a fixed clock.  The headers returned by ``sign_cavage``
    / ``sign_rfc9421`` are set on the request, replacing any of the same name.
    """

    requires_request_body = True

    def __init__(
        self,
        *,
        key_id: str,
        private_key: PrivateKey,
        clock: Callable[[], float] = time.time,
        scheme: Scheme = "cavage",
        double_knock: bool = False,
    ) -> None:
        self.key_id = key_id
        self.private_key = private_key
        self.clock = clock
        self.scheme: Scheme = scheme
        self.double_knock = double_knock

    def _signed(self, request: httpx.Request, scheme: Scheme) -> httpx.Request:
        """A copy of ``request`` carrying a fresh signature of ``scheme``."""
        method = request.method.upper()
        content = request.content
        body = None if not content and method in _BODYLESS else content
        headers = httpx.Headers(request.headers)
        for name in ("Signature", "Signature-Input", "Digest", "Content-Digest"):
            headers.pop(name, None)
        sign = sign_cavage if scheme == "cavage" else sign_rfc9421
        added = sign(
            method=method,
            url=str(request.url),
            headers=dict(headers.items()),
            body=body,
            key_id=self.key_id,
            private_key=self.private_key,
            now=self.clock(),
        )
        for name, value in added.items():
            headers[name] = value
        return httpx.Request(
            method,
            request.url,
            headers=headers,
            content=content,
            extensions=request.extensions,
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send the signed request; on ``401`` with ``double_knock``, retry once signed
        with the other scheme."""
        response = yield self._signed(request, self.scheme)
        if self.double_knock and response.status_code == 401:
            other: Scheme = "rfc9421" if self.scheme == "cavage" else "cavage"
            yield self._signed(request, other)
