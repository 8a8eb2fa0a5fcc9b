"""The needs picture's rules (fediaid/domain/picture.py): no count below 5 is shown, and no
hidden count of 1 to 4 can be worked out from what is shown.

``recoverable`` is an oracle written apart from the code: it plays the reader, who sees
the shown counts and totals, knows a "fewer than 5" is 0..4 and a "hidden" is 5 or more,
and tries every value each hidden count could have (subset sums, not intervals).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from fediaid.domain.picture import (
    TIME_STEPS,
    Count,
    Deletion,
    Hidden,
    age_band_keys,
    csv_cell,
    frequent_words,
    kept_outcome,
    month_key,
    month_starts,
    nearest_rank,
    protect,
    step_percentiles,
    time_step,
    whole_seconds,
)
from fediaid.domain.posts import State

#: What the reader takes as the most a "hidden" count can be (above any test's data).
CAP = 200

Cell = int | str  # a shown number, or "small" / "complement"


def _domain(cell: Cell) -> range:
    if isinstance(cell, int):
        return range(cell, cell + 1)
    return range(0, 5) if cell == "small" else range(5, CAP + 1)


def _sums(cells: Sequence[Cell]) -> int:
    """Every total the cells can add up to, as a bit set."""
    reach = 1
    for cell in cells:
        step = 0
        for v in _domain(cell):
            step |= reach << v
        reach = step & ((1 << (CAP * 4)) - 1)
    return reach


def recoverable(lists: Sequence[Sequence[Cell]], total: Cell) -> list[tuple[int, int, int]]:
    """(list, position, value) of each hidden count the reader can pin to one value of 1
    or more; (-1, -1, value) for a hidden total."""
    feasible = 0
    for t in _domain(total):
        feasible |= 1 << t
    for cells in lists:
        feasible &= _sums(cells)
    totals = [t for t in range(CAP * 4) if feasible >> t & 1]
    found = []
    for li, cells in enumerate(lists):
        for i, cell in enumerate(cells):
            if isinstance(cell, int):
                continue
            others = _sums([c for j, c in enumerate(cells) if j != i])
            possible = {v for v in _domain(cell) for t in totals
                        if t - v >= 0 and others >> (t - v) & 1}
            if len(possible) == 1 and min(possible) > 0:
                found.append((li, i, min(possible)))
    if not isinstance(total, int) and len(totals) == 1 and totals[0] > 0:
        found.append((-1, -1, totals[0]))
    return found


def as_cells(counts: Sequence[Count]) -> list[Cell]:
    return [c.value if c.value is not None else str(c.hidden) for c in counts]


def check(lists: Sequence[Sequence[int]]) -> None:
    total = sum(lists[0])
    p = protect(lists, total)
    shown_lists = [as_cells(lst) for lst in p.lists]
    for values, shown in zip(lists, shown_lists, strict=True):
        for v, c in zip(values, shown, strict=True):
            if isinstance(c, int):
                assert c == v and v >= 5, (values, shown)
            else:
                assert (c == "small") == (v < 5), (values, shown)
    t_cell: Cell = p.total.value if p.total.value is not None else str(p.total.hidden)
    if isinstance(t_cell, int):
        assert t_cell == total >= 5
    assert recoverable(shown_lists, t_cell) == [], (lists, shown_lists, t_cell)


def test_a_single_hidden_count_under_a_shown_total_gets_company() -> None:
    cells, = protect([[3, 20, 30]], 53).lists
    assert cells[0] == Count(None, Hidden.SMALL)
    assert cells[1] == Count(None, Hidden.COMPLEMENT)  # the smallest other one
    assert cells[2] == Count(30)
    check([[3, 20, 30]])


def test_two_fours_that_add_up_to_what_is_left_are_not_left_alone() -> None:
    # 6 + 4 + 4 + 4 = 18: the three "fewer than 5" would all be 4.
    cells, = protect([[6, 4, 4, 4]], 18).lists
    assert cells[0].hidden is Hidden.COMPLEMENT
    check([[6, 4, 4, 4]])


def test_zeros_may_be_worked_out_and_big_counts_stay() -> None:
    p = protect([[7, 6, 0, 0, 0]], 13)
    assert [c.value for c in p.lists[0]] == [7, 6, None, None, None]
    assert p.total == Count(13)


def test_lists_sharing_a_total_are_protected_together() -> None:
    # By category the 3 hides among zeros; by month it would be alone under the total.
    lists = [[10, 3, 0, 0], [13, 0, 0, 0]]
    check(lists)
    p = protect(lists, 13)
    assert p.lists[0][1].value is None


def test_small_totals_hide_everything() -> None:
    p = protect([[1, 2, 0]], 3)
    assert p.total == Count(None, Hidden.SMALL)
    assert all(c.value is None for c in p.lists[0])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.integers(0, 12), min_size=2, max_size=6), min_size=1, max_size=3)
       .filter(lambda ls: len({sum(x) for x in ls}) == 1))
def test_no_small_count_can_be_worked_out(lists: list[list[int]]) -> None:
    check(lists)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.lists(st.integers(0, 9), min_size=1, max_size=5),
       st.lists(st.integers(0, 9), min_size=1, max_size=5))
def test_no_small_count_can_be_worked_out_across_two_lists(
        big: int, a: list[int], b: list[int]) -> None:
    # Two lists with the same total (the same posts by category and by month).
    total = max(sum(a), sum(b)) + big
    a = [*a, total - sum(a)]
    b = [*b, total - sum(b)]
    check([a, b])


def test_the_oracle_finds_what_a_naive_rule_leaks() -> None:
    # Hiding only the small one: the total gives it away.
    assert recoverable([["small", 20, 30]], 53) == [(0, 0, 3)]
    assert recoverable([[6, "small", "small", "small"]], 18) == [(0, 1, 4), (0, 2, 4),
                                                                 (0, 3, 4)]


def test_months_and_bands() -> None:
    starts = month_starts(datetime(2026, 2, 10, 15, tzinfo=UTC))
    assert len(starts) == 12
    assert starts[0] == datetime(2025, 3, 1, tzinfo=UTC)
    assert starts[-1] == datetime(2026, 2, 1, tzinfo=UTC)
    assert age_band_keys() == ["0-3", "3-7", "7-14", "14+"]
    assert [nearest_rank(5, p) for p in (50, 75)] == [3, 4]
    assert [nearest_rank(4, p) for p in (50, 75)] == [2, 3]
    assert nearest_rank(1, 50) == 1


def test_frequent_words_need_five_posts_from_five_people() -> None:
    titles = [(f"u{i}", "Groceries for my family") for i in range(5)]
    titles += [("u9", f"Rides to Dr Quimby, week {i}") for i in range(7)]  # one asker
    titles += [("u1", "groceries again"), ("u2", "Diapers")]
    words = frequent_words(titles)
    assert [(w.word, w.posts) for w in words] == [("groceries", 6), ("family", 5)]
    assert not any(w.word in ("quimby", "rides") for w in words)
    assert frequent_words(titles[:4]) == []


def test_csv_cells_never_start_a_formula() -> None:
    for text in ("=1+2", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert csv_cell(text) == "'" + text
    assert csv_cell("North End") == "North End"
    assert csv_cell(-3) == "-3"  # a number is a number
    assert csv_cell(None) == ""


# -- durations in steps, and what is kept of a deleted post ------------------------------

def test_durations_count_in_the_step_at_or_above_them() -> None:
    assert TIME_STEPS == tuple(sorted(set(TIME_STEPS)))
    assert time_step(-5) == time_step(0) == time_step(3600) == 3600
    assert time_step(3601) == 7200
    assert time_step(3 * 86400) == 3 * 86400 and time_step(3 * 86400 + 1) == 4 * 86400
    assert time_step(10 * 365 * 86400) == TIME_STEPS[-1] == 365 * 86400
    # The precision the docs promise: a step is at most twice the time it holds up to 2
    # hours, at most 1.5 times from there on.
    for before, step in zip((0, *TIME_STEPS), TIME_STEPS, strict=False):
        assert step <= 2 * max(before, 1) or before == 0
        if step > 2 * 3600:
            assert step <= 1.5 * before, step


def test_whole_seconds_cut_the_fraction_in_any_time_zone() -> None:
    t = datetime(2026, 3, 1, 12, 0, 0, 999_999, tzinfo=UTC)
    assert whole_seconds(t) == 1772366400
    assert whole_seconds(t.astimezone(timezone(timedelta(hours=-5)))) == 1772366400
    assert month_key(datetime(2026, 3, 1, 2, tzinfo=timezone(timedelta(hours=5)))) == "2026-02"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-10, 400 * 86400), min_size=1, max_size=40))
def test_percentiles_from_steps_hold_the_true_nearest_rank(durations: list[int]) -> None:
    counts: dict[int, int] = {}
    for d in durations:
        counts[time_step(d)] = counts.get(time_step(d), 0) + 1
    n, days = step_percentiles(counts, (50, 75))
    assert n == len(durations)
    ordered = sorted(durations)
    for p, shown in zip((50, 75), days, strict=True):
        true = ordered[nearest_rank(n, p) - 1]  # the exact value, as before steps
        step = round(shown * 86400)
        assert step == time_step(true)
        assert true <= step or step == TIME_STEPS[-1]
        below = [s for s in TIME_STEPS if s < step]
        assert not below or true > below[-1]


def test_which_deleted_posts_stay_counted() -> None:
    closed = {State.FULFILLED, State.PARTLY_FULFILLED, State.WITHDRAWN, State.EXPIRED}
    for state in State:
        # Retention and erasure: every closed post, as it was counted while stored.
        for why in (Deletion.RETENTION, Deletion.ERASURE):
            assert kept_outcome(state, why) == (state.value if state in closed else None)
        # Its author deleting it: only what was met or expired (a withdrawn or open one
        # was taken back).
        assert kept_outcome(state, Deletion.AUTHOR) == (
            state.value if state in closed - {State.WITHDRAWN} else None)
        assert kept_outcome(state, Deletion.REMOVED) is None
