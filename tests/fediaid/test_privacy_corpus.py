"""The privacy check against a corpus of real-looking English and Spanish post text
(tests/fixtures/privacy_corpus.json): measured precision and recall, with floors.

The figures are written in docs/offers-and-needs.md (privacy section)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fediaid.domain.posts import privacy_warnings
from fediaid.domain.privacy import Finding, find_private

CORPUS = json.loads((Path(__file__).parent.parent / "fixtures" / "privacy_corpus.json")
                    .read_text(encoding="utf-8"))
ITEMS = CORPUS["items"]


def _measure(items: list[dict[str, object]]) -> tuple[float, float, int, int]:
    """Per finding kind: a finding is a true positive when the text has that kind."""
    tp = fp = fn = 0
    for item in items:
        got = {f.value for f in find_private(str(item["text"]), CORPUS["region"])}
        want = set(item["expect"])  # type: ignore[call-overload]
        tp += len(got & want)
        fp += len(got - want)
        fn += len(want - got)
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1), fp, fn


def test_corpus_size() -> None:
    pos = [i for i in ITEMS if i["expect"]]
    neg = [i for i in ITEMS if not i["expect"]]
    assert len(pos) >= 60 and len(neg) >= 60
    for lang in ("en", "es"):
        assert sum(i["lang"] == lang for i in pos) >= 25
        assert sum(i["lang"] == lang for i in neg) >= 25


@pytest.mark.parametrize("lang", ["en", "es", None])
def test_precision_and_recall(lang: str | None) -> None:
    items = [i for i in ITEMS if lang is None or i["lang"] == lang]
    precision, recall, _, _ = _measure(items)
    assert precision >= 0.95, precision
    assert recall >= 0.9, recall


def test_no_negative_is_flagged_as_a_phone() -> None:
    """Dates, prices, times, years and zip codes are never phone numbers."""
    flagged = [i["text"] for i in ITEMS if not i["expect"]
               and Finding.PHONE in find_private(i["text"], "US")]
    assert flagged == []


@pytest.mark.parametrize("text,kind", [
    ("(555) 123 4567", Finding.PHONE),
    ("call 555-1234", Finding.PHONE),
    ("1450 Broadway", Finding.STREET),
    ("Calle Olmo 123", Finding.STREET),
    ("ana@example.org", Finding.EMAIL),
])
def test_walkthrough_misses_are_found(text: str, kind: Finding) -> None:
    assert kind in find_private(text)


def test_walkthrough_date_is_not_a_phone() -> None:
    assert find_private("Pick up on 2026-12-10") == []


def test_region_gives_national_forms() -> None:
    assert find_private("Tel 612 345 678", "ES") == [Finding.PHONE]
    assert find_private("Tel 612 345 678", "US") == []
    assert find_private("Tel 612 345 678", "nowhere") == []  # unknown region: US


def test_warnings_name_the_field() -> None:
    warnings = privacy_warnings(("title", "Need a crib"), ("description", "call 555-1234"))
    assert [w.field for w in warnings] == ["description"]
    assert "phone number" in warnings[0].message


def test_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the figures for docs/offers-and-needs.md (-s to see them)."""
    for name, items in [("en", [i for i in ITEMS if i["lang"] == "en"]),
                        ("es", [i for i in ITEMS if i["lang"] == "es"]),
                        ("holdout", [i for i in ITEMS if i.get("set") == "holdout"]),
                        ("all", ITEMS)]:
        precision, recall, fp, fn = _measure(items)
        print(f"{name}: items={len(items)} precision={precision:.3f} "
              f"recall={recall:.3f} false_positives={fp} misses={fn}")
