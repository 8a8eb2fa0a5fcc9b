"""Follow relationships and their allowed state changes."""

from __future__ import annotations

import enum


class FollowState(enum.StrEnum):
    PENDING = "pending"  # Follow sent/received, waiting for Accept or a coordinator
    ACCEPTED = "accepted"


_ALLOWED: dict[FollowState | None, frozenset[FollowState | None]] = {
    None: frozenset({FollowState.PENDING, FollowState.ACCEPTED}),
    FollowState.PENDING: frozenset({FollowState.ACCEPTED, None}),
    FollowState.ACCEPTED: frozenset({None}),
}


def can_transition(current: FollowState | None, new: FollowState | None) -> bool:
    """``None`` means "no follow": creating and removing are transitions too."""
    return new in _ALLOWED[current]
