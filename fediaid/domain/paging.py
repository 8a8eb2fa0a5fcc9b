"""Mastodon-style pagination values (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    """Newest first below ``max_id`` and above ``since_id``, or the oldest ``limit`` above
    ``min_id`` (callers return those newest first too)."""

    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = 20
