"""The network's picture (fediaid/domain/network_picture.py): reading a peer's picture and
combining groups' published pictures without letting a hidden count be worked out.

The property test plays a reader of the combined picture who also knows every count of
the *other* group exactly (one of its members, or its coordinators), and so can subtract
that group's part from each combined number. What is left about the target group is
handed to the oracle of tests/fediaid/test_picture_rules.py (``recoverable``: every value
each hidden count could have), which must find no hidden count of 1 to 4 pinned down, and
no count of 1 to 4 may come out as a number.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fediaid.domain.network_picture import (
    GroupPicture,
    Line,
    PictureError,
    combine,
    combine_counts,
    parse_picture,
    published,
    read_value,
)
from fediaid.domain.picture import Count, Hidden, protect
from tests.fediaid.test_picture_rules import Cell, recoverable

SMALL, COMPLEMENT = Count(None, Hidden.SMALL), Count(None, Hidden.COMPLEMENT)


def test_values_on_the_wire_and_read_back() -> None:
    assert [published(c) for c in (Count(7), SMALL, COMPLEMENT)] == [
        7, "fewer than 5", "hidden"]
    assert read_value(7) == Count(7)
    assert read_value(3) == SMALL and read_value(0) == SMALL  # a peer's small number: hidden
    assert read_value("fewer than 5") == SMALL
    for odd in ("hidden", "12", None, True, -1, 1.5, [5], 10**12):
        assert read_value(odd) == COMPLEMENT


def _doc(**extra: object) -> dict[str, object]:
    return {"id": "https://oak.example/picture.json", "type": "NeedsPicture",
            "attributedTo": "https://oak.example/groups/oak", "name": "Oak", **extra}


def test_a_peer_picture_is_checked_and_only_known_fields_are_kept() -> None:
    url, actor = "https://oak.example/picture.json", "https://oak.example/groups/oak"
    p = parse_picture(_doc(
        needs=12, offers=2,
        categories=[{"key": "food", "name": "Food", "needs": 12, "offers": "fewer than 5",
                     "secret": "x"}, {"key": "food", "needs": 99}, "junk", {"name": "no key"}],
        months=[{"key": "2026-02", "needs": 5}, {"key": "2026-13", "needs": 5},
                {"key": "../x", "needs": 5}],
        waiting=[{"key": "14+", "needs": 6}, {"key": "forever", "needs": 9}]), url, actor)
    assert p.needs == Count(12) and p.offers == SMALL
    assert p.categories == (Line("food", "Food", (Count(12), SMALL)),)
    assert [m.key for m in p.months] == ["2026-02"]
    assert [w.key for w in p.waiting] == ["14+"]
    for bad, where, who in (
            (_doc(type="Note"), url, actor),
            (_doc(), "https://elsewhere.example/picture.json", actor),
            (_doc(attributedTo="https://elsewhere.example/groups/x"), url,
             "https://elsewhere.example/groups/x"),
            (_doc(), url, "https://oak.example/groups/other")):
        with pytest.raises(PictureError):
            parse_picture(bad, where, who)


def test_combined_counts() -> None:
    assert combine_counts([Count(6), Count(10)]).value == 16
    hidden = combine_counts([Count(6), SMALL])
    assert hidden.value is None and not hidden.small and hidden.at_least == 6
    assert combine_counts([SMALL]).small  # one group's "fewer than 5" alone
    two = combine_counts([SMALL, SMALL])  # 0..8: neither shown nor "fewer than 5"
    assert two.value is None and not two.small and not two.known_large
    assert combine_counts([COMPLEMENT, Count(7)]).at_least == 12


def _group(actor: str, cats: Sequence[tuple[str, Count, Count]], **kw: object) -> GroupPicture:
    lines = tuple(Line(k, k.title(), (n, o)) for k, n, o in cats)
    return GroupPicture(actor=actor, name=actor.split("//")[1], updated="",
                        needs=kw.get("needs", COMPLEMENT),  # type: ignore[arg-type]
                        offers=COMPLEMENT, categories=lines, areas=(), months=(),
                        open_needs=COMPLEMENT, waiting=(), open_by_category=())


def test_asked_most_and_where_one_group_could_help_another() -> None:
    a = _group("https://a.example", [("food", Count(20), SMALL), ("tools", SMALL, Count(9)),
                                     ("rides", Count(6), Count(6))], needs=Count(40))
    b = _group("https://b.example", [("food", Count(8), Count(30)), ("tools", Count(7), SMALL),
                                     ("rides", Count(5), COMPLEMENT)], needs=Count(30))
    net = combine([b, a], own="https://a.example")
    assert [g.actor for g in net.groups] == ["https://a.example", "https://b.example"]
    assert net.needs.value == 70
    assert [(r.key, r.cells[0].value) for r in net.requested] == [
        ("food", 28), ("rides", 11)]  # tools: a hidden part, not ranked
    matches = {m.key: m for m in net.matches}
    assert matches["food"].surplus == (("b.example", 30),)
    assert matches["food"].lacking == (("a.example", 20),)
    assert matches["tools"].surplus == (("a.example", 9),)
    assert matches["tools"].lacking == (("b.example", 7),)
    assert "rides" not in matches  # equal, or compared with a "hidden" (5 or more)


# -- no hidden count can be worked out ------------------------------------------------------

def _protected(cats: list[int], areas: list[int], months: list[int]
               ) -> tuple[list[tuple[Count, ...]], Count]:
    p = protect([cats, areas, months], sum(cats))
    return list(p.lists), p.total


@st.composite
def group_counts(draw: st.DrawFn) -> tuple[list[int], list[int], list[int]]:
    """Posts of one group, each with a category (4), a place (3) and a month (2)."""
    n = draw(st.integers(0, 40))
    posts = draw(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 1)),
                          min_size=n, max_size=n))
    cats, areas, months = [0] * 4, [0] * 3, [0] * 2
    for c, a, m in posts:
        cats[c] += 1
        areas[a] += 1
        months[m] += 1
    return cats, areas, months


CAT_KEYS = ("food", "rides", "tools", "(other)")
AREA_KEYS = {"a": ("elm", "oak", "(none)"), "b": ("oak", "pine", "(none)")}
MONTH_KEYS = ("2026-11", "2026-12")


def _picture(name: str, counts: tuple[list[int], list[int], list[int]]) -> GroupPicture:
    (cats, areas, months), total = _protected(*counts)
    return GroupPicture(
        actor=f"https://{name}.example/groups/g", name=name, updated="",
        needs=total, offers=total,
        categories=tuple(Line(k, k, (c, c)) for k, c in zip(CAT_KEYS, cats, strict=True)),
        areas=tuple(Line(k, k, (c, c)) for k, c in zip(AREA_KEYS[name], areas, strict=True)),
        months=tuple(Line(k, k, (c, c)) for k, c in zip(MONTH_KEYS, months, strict=True)),
        open_needs=total, waiting=(), open_by_category=())


def _cell(c: Count) -> Cell:
    return c.value if c.value is not None else str(c.hidden)


@settings(max_examples=300, deadline=None)
@given(group_counts(), group_counts())
def test_knowing_the_other_group_exactly_gives_away_no_hidden_count(
        a_counts: tuple[list[int], list[int], list[int]],
        b_counts: tuple[list[int], list[int], list[int]]) -> None:
    raw = {"a": a_counts, "b": b_counts}
    pictures = {n: _picture(n, raw[n]) for n in raw}
    net = combine(list(pictures.values()), own=pictures["a"].actor)
    tables = {"categories": (net.categories, CAT_KEYS),
              "areas": (net.areas, None), "months": (net.months, MONTH_KEYS)}
    truth = {n: {"categories": dict(zip(CAT_KEYS, raw[n][0], strict=True)),
                 "areas": dict(zip(AREA_KEYS[n], raw[n][1], strict=True)),
                 "months": dict(zip(MONTH_KEYS, raw[n][2], strict=True))} for n in raw}

    # What is shown is exact, and a combined number with a hidden part is not shown.
    for name, (rows, _) in tables.items():
        for row in rows:
            parts = [getattr(p, name) for p in pictures.values()]
            hidden_part = any(line.key == row.key and line.cells[0].value is None
                              for lines in parts for line in lines)
            true = sum(truth[n][name].get(row.key, 0) for n in raw)
            if row.cells[0].value is not None:
                assert row.cells[0].value == true >= 5 and not hidden_part
            else:
                assert hidden_part
                assert row.cells[0].at_least <= true
                assert not row.cells[0].small or true < 5

    # A reader who knows the other group's counts, about the target group.
    for target, other in (("a", "b"), ("b", "a")):
        own = pictures[target]
        views: list[list[Cell]] = []
        for name, (rows, _) in tables.items():
            by_key = {r.key: r for r in rows}
            view: list[Cell] = []
            for line in getattr(own, name):
                combined = by_key[line.key].cells[0]
                if combined.value is not None:
                    view.append(combined.value - truth[other][name].get(line.key, 0))
                else:
                    view.append(_cell(line.cells[0]))  # what the target published
            views.append(view)
        total: Cell = (net.needs.value - sum(raw[other][0]) if net.needs.value is not None
                       else _cell(own.needs))
        for name, view in zip(tables, views, strict=True):
            for key, cell in zip([line.key for line in getattr(own, name)], view,
                                 strict=True):
                if isinstance(cell, int):
                    assert cell == truth[target][name][key] >= 5
        if isinstance(total, int):
            assert total == sum(raw[target][0]) >= 5
        assert recoverable(views, total) == [], (target, raw, views, total)
