"""Links between groups (issue 12, "Linking"): a mutual follow between two Group actors that
both groups' coordinators approved, with a note of what each group shares over it.

States, as this group sees a link:
- ``proposed_by_us``: our coordinators approved; we wait for the other group's coordinators
  (or, after accepting their proposal, for their server to accept our follow).
- ``proposed_by_them``: they proposed; it waits for our coordinators.
- ``active``: both approved and both groups follow each other.
- ``paused``: a coordinator paused it here: nothing is sent over it or accepted from it
  as linked (``network`` posts, signed fetches) until it is resumed. The follows stay.
- ``ended``: unlinked (Undo Follow both ways), declined, or refused by the federation
  policy. A new proposal starts again from here.

Pure: docs/network.md says it in plain words, docs/federation.md gives the wire format.
"""

from __future__ import annotations

import enum
from typing import Protocol

from fediaid.i18n import N_


class LinkState(enum.StrEnum):
    PROPOSED_BY_US = "proposed_by_us"
    PROPOSED_BY_THEM = "proposed_by_them"
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


class Share(enum.StrEnum):
    """What a group shares over a link (the note both coordinators see)."""

    FORWARDED_NEEDS = "forwardedNeeds"
    BLOCKLISTS = "blocklists"
    STATISTICS = "statistics"
    ACCOUNT_ALERTS = "accountAlerts"


ALL_SHARES = frozenset(Share)


class LinkEvent(enum.StrEnum):
    PROPOSE = "propose"  # our coordinator proposes (or proposes again after an end)
    RECEIVE = "receive"  # their link Follow arrives, no proposal of ours waits
    ACCEPT = "accept"  # our coordinator accepts their proposal (our Follow then goes out)
    CONFIRMED = "confirmed"  # both approved and both follows accepted
    PAUSE = "pause"
    RESUME = "resume"
    END = "end"  # either side: unlink, decline, withdraw, Reject, Undo, blocked domain


_NEXT: dict[tuple[LinkState | None, LinkEvent], LinkState] = {
    (None, LinkEvent.PROPOSE): LinkState.PROPOSED_BY_US,
    (LinkState.ENDED, LinkEvent.PROPOSE): LinkState.PROPOSED_BY_US,
    (None, LinkEvent.RECEIVE): LinkState.PROPOSED_BY_THEM,
    (LinkState.ENDED, LinkEvent.RECEIVE): LinkState.PROPOSED_BY_THEM,
    (LinkState.PROPOSED_BY_THEM, LinkEvent.RECEIVE): LinkState.PROPOSED_BY_THEM,
    (LinkState.PROPOSED_BY_THEM, LinkEvent.ACCEPT): LinkState.PROPOSED_BY_US,
    (LinkState.PROPOSED_BY_US, LinkEvent.CONFIRMED): LinkState.ACTIVE,
    (LinkState.ACTIVE, LinkEvent.CONFIRMED): LinkState.ACTIVE,
    (LinkState.ACTIVE, LinkEvent.PAUSE): LinkState.PAUSED,
    (LinkState.PAUSED, LinkEvent.RESUME): LinkState.ACTIVE,
    (LinkState.PAUSED, LinkEvent.CONFIRMED): LinkState.PAUSED,
    (LinkState.PROPOSED_BY_US, LinkEvent.END): LinkState.ENDED,
    (LinkState.PROPOSED_BY_THEM, LinkEvent.END): LinkState.ENDED,
    (LinkState.ACTIVE, LinkEvent.END): LinkState.ENDED,
    (LinkState.PAUSED, LinkEvent.END): LinkState.ENDED,
}


class LinkError(ValueError):
    pass


def next_state(current: LinkState | None, event: LinkEvent) -> LinkState:
    """The state after ``event`` (``None``: no link yet), or ``LinkError``."""
    try:
        return _NEXT[(current, event)]
    except KeyError:
        raise LinkError(N_("cannot {event} a link that is {state}", event=event.value,
                           state=current.value if current else "not proposed")) from None


def allowed(current: LinkState | None, event: LinkEvent) -> bool:
    return (current, event) in _NEXT


def linked(state: LinkState | None) -> bool:
    """Whether ``network`` posts and signed fetches go over the link now."""
    return state is LinkState.ACTIVE


class SharedOver(Protocol):
    """What ``reads_share`` needs of a link (``fediaid.storage.links.Link``)."""

    @property
    def actor_uri(self) -> str: ...

    @property
    def state(self) -> LinkState: ...

    @property
    def our_shares(self) -> frozenset[Share]: ...


def reads_share(link: SharedOver, share: Share, signer: str | None) -> bool:
    """Whether a signed fetch by ``signer`` (the verified owner of the signing key) gets what
    this group shares as ``share`` over ``link``: the link is active (not proposed, paused or
    ended), our side shares it, and the signer is the linked group's own actor. The link is
    between two groups, not two servers: any other actor on that server (a member's
    account, its instance actor, an account anyone opened on a server hosting many) is a
    stranger here. The federation policy refuses blocked signers before this is asked."""
    return (signer is not None and signer == link.actor_uri and linked(link.state)
            and share in link.our_shares)


def parse_shares(values: object) -> frozenset[Share]:
    """The shares named in a list (unknown names ignored: a newer peer may share more)."""
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list | tuple | set | frozenset):
        return frozenset()
    known = {s.value: s for s in Share}
    return frozenset(known[v] for v in values if isinstance(v, str) and v in known)


def shares_text(shares: frozenset[Share]) -> str:
    """Stored form: sorted, comma-separated."""
    return ",".join(sorted(s.value for s in shares))
