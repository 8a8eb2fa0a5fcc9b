"""States of durable work items (inbox items and deliveries) and their allowed changes."""

from __future__ import annotations

import enum


class ItemState(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt (possibly leased by a worker)
    HELD = "held"  # delivery to a domain marked unavailable; released when it answers again
    DONE = "done"
    FAILED = "failed"  # permanent: gave up (4xx, too many attempts, unusable payload)
    CANCELLED = "cancelled"  # the object was deleted before this was delivered


_ALLOWED: dict[ItemState, frozenset[ItemState]] = {
    ItemState.PENDING: frozenset(
        {ItemState.PENDING, ItemState.HELD, ItemState.DONE, ItemState.FAILED, ItemState.CANCELLED}
    ),
    ItemState.HELD: frozenset({ItemState.PENDING, ItemState.CANCELLED, ItemState.FAILED}),
    ItemState.DONE: frozenset(),
    ItemState.FAILED: frozenset(),
    ItemState.CANCELLED: frozenset(),
}

OPEN_STATES = frozenset({ItemState.PENDING, ItemState.HELD})


def can_transition(current: ItemState, new: ItemState) -> bool:
    return new in _ALLOWED[current]
