"""Remote actors for in-process tests: keys, actor documents, signed requests."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import orjson

from activitypub.keys import KeyPair, generate_rsa_keypair, load_private_key
from activitypub.signatures import sign_cavage
from fediaid.federation.parse import parse_actor
from fediaid.services.runtime import Runtime


@functools.cache
def keypair(n: int) -> KeyPair:
    """A few RSA keys shared by the whole test run (generating one takes ~50 ms)."""
    return generate_rsa_keypair()


@dataclass
class RemoteActor:
    uri: str
    keys: KeyPair
    type: str = "Person"

    @property
    def host(self) -> str:
        return self.uri.split("/")[2]

    @property
    def key_id(self) -> str:
        return self.uri + "#main-key"

    @property
    def inbox(self) -> str:
        return self.uri + "/inbox"

    @property
    def shared_inbox(self) -> str:
        return f"https://{self.host}/inbox"

    def document(self) -> dict[str, Any]:
        return {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.uri, "type": self.type,
            "preferredUsername": self.uri.rsplit("/", 1)[1],
            "inbox": self.inbox, "outbox": self.uri + "/outbox",
            "followers": self.uri + "/followers",
            "endpoints": {"sharedInbox": self.shared_inbox},
            "publicKey": {"id": self.key_id, "owner": self.uri,
                          "publicKeyPem": self.keys.public_pem},
        }

    def signed_post(self, url: str, activity: dict[str, Any] | bytes, *,
                    now: float | None = None) -> tuple[bytes, dict[str, str]]:
        body = activity if isinstance(activity, bytes) else orjson.dumps(activity)
        headers = {"Content-Type": "application/activity+json"}
        headers.update(sign_cavage(method="POST", url=url, headers=headers, body=body,
                                   key_id=self.key_id,
                                   private_key=load_private_key(self.keys.private_pem),
                                   now=now if now is not None else time.time()))
        return body, headers

    def signed_get(self, url: str, *, now: float | None = None,
                   accept: str = "application/activity+json") -> dict[str, str]:
        """Headers of a GET of ``url`` signed by this actor (draft-cavage, as Mastodon)."""
        return {"Accept": accept} | sign_cavage(
            method="GET", url=url, headers={}, body=None, key_id=self.key_id,
            private_key=load_private_key(self.keys.private_pem),
            now=now if now is not None else time.time())


def remote_actor(name: str, host: str = "remote.example", *, key: int = 0,
                 type_: str = "Person") -> RemoteActor:
    return RemoteActor(f"https://{host}/users/{name}", keypair(key), type_)


async def store(rt: Runtime, actor: RemoteActor) -> None:
    """Make the instance know the actor (as if it had fetched it)."""
    await rt.keys.store_actor(parse_actor(actor.document()))


@dataclass(frozen=True)
class ShareReaders:
    """Who asks for what a group shares with one linked group (``reads_share``): that
    group's own actor, and three signers that must be answered as a stranger is: a member's
    account on its server, its instance actor, and an account on a server not linked."""

    oak: RemoteActor
    member: RemoteActor
    instance: RemoteActor
    stranger: RemoteActor

    async def answers(self, client: Any, path: str, url: str, ok: str
                      ) -> dict[str, tuple[int, str]]:
        """Each one's GET of ``path`` (``url`` signed): its status and, but for a 200
        (``ok``), the body."""
        out = {}
        for name, actor in (("oak", self.oak), ("member", self.member),
                            ("instance", self.instance), ("stranger", self.stranger)):
            r = await client.get(path, headers=actor.signed_get(url))
            out[name] = (r.status_code, r.text if r.status_code != 200 else ok)
        return out


async def share_readers(rt: Runtime) -> ShareReaders:
    """The four signers of ``ShareReaders``, known to ``rt`` (the linked group on
    oak.example)."""
    readers = ShareReaders(
        oak=remote_actor("oak", "oak.example", type_="Group"),
        member=remote_actor("mallory", "oak.example", key=1),
        instance=RemoteActor("https://oak.example/actor", keypair(2), "Application"),
        stranger=remote_actor("someone", "elsewhere.example", key=3))
    for actor in (readers.oak, readers.member, readers.instance, readers.stranger):
        await store(rt, actor)
    return readers
