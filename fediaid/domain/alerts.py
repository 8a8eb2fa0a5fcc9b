"""Account alerts between linked groups (issue 12, "Accountability across the network").

When a group suspends someone for harm, its coordinators may tell the coordinators of the
groups it is linked with: the account (its actor id and handle), a category of harm and the
words the suspending group chose to share. Nothing else about the person leaves the group.

The rules, pure (no I/O; the service is ``fediaid/services/alerts.py``):

- **Who is told** (``recipients``): linked groups whose link is *active* and on which *our*
  side shares account alerts (``Share.ACCOUNT_ALERTS`` in ``our_shares``). A paused or ended
  link, or one on which we do not share alerts, gets nothing.
- **Whose alerts are kept** (``accepts_from``): only from a group whose link with us is
  active now and whose side shares account alerts (``their_shares``). Everything else is
  dropped (and the federation policy has refused blocked domains before that).
- **A retraction** only ever removes the sender's own alert, so it is taken from the group
  that sent the alert whatever the link's state now.
- **Sharing is a choice each time**: off unless the suspending coordinator ticks it (the
  safest default: an alert names a person to other groups; docs/moderation.md).

Received alerts move ``open`` -> ``applied`` (the same suspension here) or ``dismissed``.
A retraction deletes an open or dismissed alert; an applied one stays (the suspension is now
this group's own decision) and is marked as retracted by its sender.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Protocol, TypeVar

from fediaid.domain.links import LinkState, Share
from fediaid.i18n import N_

MAX_REASON = 500  # the shared words
MAX_HANDLE = 300
MAX_URI = 2048


class Harm(enum.StrEnum):
    """The kind of harm an alert is about (the coordinator picks one)."""

    HARASSMENT = "harassment"
    DOXXING = "doxxing"
    THEFT = "theft"
    THREATS = "threats"
    OTHER = "other"


HARM_WORDS: dict[Harm, str] = {
    Harm.HARASSMENT: N_("Harassment"),
    Harm.DOXXING: N_("Doxxing (sharing someone's private details)"),
    Harm.THEFT: N_("Theft or fraud"),
    Harm.THREATS: N_("Threats or violence"),
    Harm.OTHER: N_("Other harm"),
}


def parse_harm(value: object) -> Harm:
    """A received category (unknown: ``OTHER``, a newer peer may know more)."""
    if isinstance(value, str):
        try:
            return Harm(value)
        except ValueError:
            pass
    return Harm.OTHER


class AlertState(enum.StrEnum):
    """A received alert, as this group's coordinators decided."""

    OPEN = "open"
    APPLIED = "applied"  # the same suspension here
    DISMISSED = "dismissed"


class AlertError(ValueError):
    pass


_DECISIONS = {(AlertState.OPEN, AlertState.APPLIED), (AlertState.OPEN, AlertState.DISMISSED),
              (AlertState.DISMISSED, AlertState.APPLIED)}


def decide(current: AlertState, wanted: AlertState) -> AlertState:
    """Apply or dismiss an open alert (a dismissed one may still be applied later); an
    applied one is final here (lifting a suspension is not an alert's business)."""
    if (current, wanted) not in _DECISIONS:
        raise AlertError(N_("This alert was already dealt with."))
    return wanted


def on_retraction(state: AlertState) -> bool:
    """Whether a received alert is deleted when its sender retracts it (True), or kept and
    marked as retracted (False: it was applied, the suspension stays as our decision)."""
    return state is not AlertState.APPLIED


class LinkView(Protocol):
    @property
    def state(self) -> LinkState: ...

    @property
    def our_shares(self) -> frozenset[Share]: ...

    @property
    def their_shares(self) -> frozenset[Share]: ...


L = TypeVar("L", bound=LinkView)


def told(link: LinkView) -> bool:
    """Whether a linked group is told of our alerts."""
    return link.state is LinkState.ACTIVE and Share.ACCOUNT_ALERTS in link.our_shares


def recipients(links: Iterable[L]) -> list[L]:
    return [link for link in links if told(link)]


def accepts_from(link: LinkView | None) -> bool:
    """Whether an alert from the group of ``link`` is kept (None: no link at all)."""
    return (link is not None and link.state is LinkState.ACTIVE
            and Share.ACCOUNT_ALERTS in link.their_shares)


def clean_reason(text: object) -> str:
    """The shared words: plain text, whitespace tidied, at most ``MAX_REASON`` characters
    (longer words are refused where they are typed, cut where they are received)."""
    lines = [" ".join(line.split()) for line in str(text or "").splitlines()]
    return "\n".join(line for line in lines if line).strip()


def reason_problem(text: str) -> str | None:
    if len(text) > MAX_REASON:
        return N_("Keep the shared reason under {n} characters.", n=MAX_REASON)
    return None
