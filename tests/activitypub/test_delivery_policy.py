"""The retry policy: Mastodon's schedule, Retry-After, permanent 4xx, double knock."""

import random

import pytest

from activitypub.delivery import Outcome, backoff_delay, decide, parse_retry_after

NOW = 1_700_000_000.0


def test_success() -> None:
    assert decide(status=202, attempt=1, now=NOW).outcome is Outcome.DELIVERED


@pytest.mark.parametrize("status", [400, 403, 404, 410, 422, 501])
def test_permanent_failures_give_up_at_once(status: int) -> None:
    assert decide(status=status, attempt=1, now=NOW).outcome is Outcome.GIVE_UP


def test_401_double_knocks_once_then_gives_up() -> None:
    assert decide(status=401, attempt=1, now=NOW).outcome is Outcome.DOUBLE_KNOCK
    assert decide(status=401, attempt=1, now=NOW, knocked=True).outcome is Outcome.GIVE_UP


@pytest.mark.parametrize("status", [None, 408, 500, 502, 504])
def test_transient_failures_retry(status: int | None) -> None:
    d = decide(status=status, attempt=1, now=NOW, rng=random.Random(1))
    assert d.outcome is Outcome.RETRY and 15 <= d.delay < 30


def test_retry_after_is_honoured_for_429_and_503() -> None:
    d = decide(status=429, attempt=1, now=NOW, retry_after="3600")
    assert d.outcome is Outcome.RETRY and d.delay == 3600
    d = decide(status=503, attempt=1, now=NOW, retry_after="Tue, 14 Nov 2023 23:13:20 GMT")
    assert d.delay == pytest.approx(1_700_003_600 - NOW, abs=1)
    # Retry-After is ignored on other statuses and never shortens the backoff.
    assert decide(status=500, attempt=5, now=NOW, retry_after="1").delay > 200


def test_schedule_spans_about_three_days() -> None:
    rng = random.Random(42)
    total = sum(backoff_delay(n, rng=rng) for n in range(16))
    assert 48 * 3600 < total < 80 * 3600
    assert decide(status=500, attempt=17, now=NOW).outcome is Outcome.GIVE_UP
    assert decide(status=500, attempt=16, now=NOW).outcome is Outcome.RETRY


def test_scale_shrinks_delays() -> None:
    d = decide(status=500, attempt=1, now=NOW, scale=0.01, rng=random.Random(1))
    assert d.delay < 0.5


@pytest.mark.parametrize("value", [None, "", "soon", "Tue, 99 Foo"])
def test_bad_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None
