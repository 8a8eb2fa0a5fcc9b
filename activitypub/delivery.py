"""Delivery retry policy: what to do after one attempt to POST an activity to an inbox.

Pure functions; the queue that applies them lives in the application.

- 2xx: delivered.
- 429 and 503: retry, honouring ``Retry-After`` (seconds or an HTTP date) when present.
- 401: one immediate retry with the other signature scheme ("double knock", as Mastodon
  PR #39756 and Fedify do), then give up.
- 408: retryable (a timeout, not a refusal).
- Any other 4xx, and 501: permanent, give up at once (Mastodon's
  ``response_error_unsalvageable?``).
- 3xx: permanent. A redirect the sender did not follow (the application follows 307/308
  to the same host, signed again) will not go away by retrying for three days.
- 5xx, network errors and timeouts: retry with Mastodon's backoff (``DeliveryWorker``:
  delay for retry *n* = n**4 + 15 s + jitter), about three days over 16 retries.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

DEFAULT_MAX_ATTEMPTS = 17  # the first try plus Mastodon's 16 retries
MAX_RETRY_AFTER = 6 * 3600.0


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DOUBLE_KNOCK = "double_knock"
    GIVE_UP = "give_up"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    delay: float = 0.0
    reason: str = ""


def backoff_delay(retry: int, *, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``retry`` (0-based), Mastodon's schedule."""
    r = rng or random
    base = float(retry**4)
    return base + 15.0 + r.uniform(0, 0.5 * base) + r.randrange(10) * (retry + 1)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds from ``now`` named by a ``Retry-After`` header (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, min(when - now, MAX_RETRY_AFTER))


def decide(
    *,
    status: int | None,
    attempt: int,
    now: float,
    retry_after: str | None = None,
    knocked: bool = False,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    scale: float = 1.0,
    rng: random.Random | None = None,
) -> Decision:
    """Decide after attempt number ``attempt`` (1-based) ended with ``status`` (None for a
    network error or timeout). ``knocked`` says a 401 was already retried with the other
    signature scheme. ``scale`` shrinks or stretches the delays (tests, operators)."""
    if status is not None and 200 <= status < 300:
        return Decision(Outcome.DELIVERED)
    if status == 401 and not knocked:
        return Decision(Outcome.DOUBLE_KNOCK, 0.0, "401: retrying with the other signature")
    reason = f"HTTP {status}" if status is not None else "network error"
    permanent = status is not None and (
        (400 <= status < 500 and status not in (408, 429)) or status == 501
        or 300 <= status < 400
    )
    if permanent:
        why = ("a redirect not followed" if status is not None and status < 400
               else "the server refused it")
        return Decision(Outcome.GIVE_UP, 0.0, f"{reason}: {why}")
    if attempt >= max_attempts:
        return Decision(Outcome.GIVE_UP, 0.0, f"{reason}: gave up after {attempt} attempts")
    delay = backoff_delay(attempt - 1, rng=rng) * scale
    if status in (429, 503):
        after = parse_retry_after(retry_after, now=now)
        if after is not None:
            delay = max(delay, after)
    return Decision(Outcome.RETRY, delay, reason)
