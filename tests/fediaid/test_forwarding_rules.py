"""The rules of forwarding unmet needs (fediaid/domain/forwarding.py): when a need is due,
who opts in or out, the daily cap, and that nothing received is forwarded again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from fediaid.domain.forwarding import (
    AFTER_HOURS,
    BY_DEFAULT,
    DAILY_CAP,
    DEFAULT_DAILY_CAP,
    ForwardingSettings,
    due,
    forwardable,
    read_settings,
    shown,
    wanted,
)
from fediaid.domain.posts import Kind, State, Visibility
from tests.fediaid.test_proposals import make_post

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ON = ForwardingSettings(after_hours=6)


def need(**changes: object):  # type: ignore[no-untyped-def]
    return replace(make_post(created_at=T0, updated_at=T0), **changes)


def test_off_by_default_and_read_from_the_settings_rows() -> None:
    assert read_settings({}) == ForwardingSettings(0, True, DEFAULT_DAILY_CAP)
    assert not read_settings({}).on
    s = read_settings({AFTER_HOURS: "12", BY_DEFAULT: "0", DAILY_CAP: "3"})
    assert (s.after_hours, s.by_default, s.daily_cap, s.on) == (12, False, 3, True)
    # Unreadable or out of range: the default, or the nearest allowed value.
    assert read_settings({AFTER_HOURS: "soon", DAILY_CAP: "-4"}) == ForwardingSettings(
        0, True, 0)
    assert read_settings({AFTER_HOURS: "99999"}).after_hours == 24 * 30


def test_due_only_after_the_delay() -> None:
    assert not due(ON, need(), None, T0 + timedelta(hours=5, minutes=59))
    assert due(ON, need(), None, T0 + timedelta(hours=6))
    assert not due(ForwardingSettings(after_hours=0), need(), None, T0 + timedelta(days=9))


@pytest.mark.parametrize(("by_default", "choice", "expected"), [
    (True, None, True), (True, False, False), (True, True, True),
    (False, None, False), (False, True, True), (False, False, False),
])
def test_the_asker_opts_in_or_out(by_default: bool, choice: bool | None,
                                  expected: bool) -> None:
    settings = ForwardingSettings(after_hours=6, by_default=by_default)
    assert wanted(settings, choice) is expected
    assert due(settings, need(), choice, T0 + timedelta(hours=7)) is expected


def test_a_group_that_forwards_nothing_ignores_opt_ins() -> None:
    assert not wanted(ForwardingSettings(after_hours=0), True)


@pytest.mark.parametrize("changes", [
    {"kind": Kind.OFFER},
    {"visibility": Visibility.MEMBERS},
    {"visibility": Visibility.DIRECT},
    {"held": True},
    {"hidden": True},
    {"local": False},  # received (perhaps forwarded to us): never forwarded again
])
def test_never_forwarded(changes: dict[str, object]) -> None:
    post = need(**changes)
    assert not forwardable(post)
    assert not due(ON, post, True, T0 + timedelta(days=2))


@pytest.mark.parametrize("visibility", [Visibility.PUBLIC, Visibility.NETWORK])
def test_public_and_network_needs_may_go(visibility: Visibility) -> None:
    assert due(ON, need(visibility=visibility), None, T0 + timedelta(hours=6))


@pytest.mark.parametrize("state", [State.PROMISED, State.FULFILLED, State.PARTLY_FULFILLED,
                                   State.WITHDRAWN, State.EXPIRED])
def test_an_accepted_answer_or_a_closed_need_is_not_forwarded(state: State) -> None:
    assert not due(ON, need(state=state), None, T0 + timedelta(hours=7))


def test_not_past_its_expiry() -> None:
    post = need(expires_at=T0 + timedelta(hours=6, minutes=30))
    assert due(ON, post, None, T0 + timedelta(hours=6))
    assert not due(ON, post, None, T0 + timedelta(hours=7))


def test_the_daily_cap() -> None:
    settings = ForwardingSettings(daily_cap=2)
    assert shown(settings, 0) and shown(settings, 1)
    assert not shown(settings, 2)
    assert not shown(ForwardingSettings(daily_cap=0), 0)
