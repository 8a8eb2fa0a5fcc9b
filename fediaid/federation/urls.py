"""The URLs of this instance's actors, activities and objects (one place, so they never drift)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fediaid.domain.actors import ActorType


@dataclass(frozen=True)
class Urls:
    base: str  # scheme://domain, no trailing slash

    def actor(self, type_: ActorType, username: str) -> str:
        if type_ is ActorType.APPLICATION:
            return f"{self.base}/actor"
        if type_ is ActorType.GROUP:
            return f"{self.base}/groups/{username}"
        return f"{self.base}/users/{username}"

    def actor_urls(self, type_: ActorType, username: str) -> dict[str, str]:
        uri = self.actor(type_, username)
        return {
            "uri": uri,
            "inbox": f"{uri}/inbox",
            "outbox": f"{uri}/outbox",
            "followers": f"{uri}/followers",
            "following": f"{uri}/following",
            "shared_inbox": self.shared_inbox,
            "url": f"{self.base}/@{username}" if type_ is not ActorType.APPLICATION else self.base,
            "key_id": f"{uri}#main-key",
        }

    @property
    def shared_inbox(self) -> str:
        return f"{self.base}/inbox"

    def new_activity(self) -> str:
        return f"{self.base}/activities/{uuid.uuid4()}"

    def new_object(self) -> str:
        return f"{self.base}/objects/{uuid.uuid4()}"

    def is_local(self, uri: str) -> bool:
        return uri == self.base or uri.startswith(self.base + "/")


#: The avatar shown for an account that has none (a static file of the web pages); the actor
#: document's ``icon`` and the client API's ``avatar`` both use it.
DEFAULT_AVATAR_PATH = "/static/avatar.png"


def featured_url(actor_uri: str) -> str:
    """The ``featured`` (pinned posts) collection of one of our actors."""
    return f"{actor_uri}/featured"


#: Our User-Agent (formatted with the version and the instance's base URL).
USER_AGENT = "fediaid/{version} (+{base})"
