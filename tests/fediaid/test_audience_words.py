"""Who can see a post, in words, and the sensitive-topic suggestion (pure)."""

from __future__ import annotations

import pytest

from fediaid.domain.audience import (
    Topic,
    anonymity_words,
    audience_words,
    sensitive_suggestion,
    sensitive_topics,
)
from fediaid.domain.posts import Kind, Visibility

GROUP = "Elm St Mutual Aid"


def test_every_level_has_a_sentence() -> None:
    assert audience_words(Visibility.PUBLIC, GROUP) == "Anyone on the internet can see this"
    assert audience_words(Visibility.NETWORK, GROUP) == (
        "Members of Elm St Mutual Aid and the groups it is linked with can see this")
    assert audience_words(Visibility.MEMBERS, GROUP) == (
        "Only members of Elm St Mutual Aid can see this")
    assert audience_words(Visibility.DIRECT, GROUP) == "Only the people named can see this"
    assert audience_words("members", GROUP) == audience_words(Visibility.MEMBERS, GROUP)
    assert {audience_words(v, GROUP) for v in Visibility}.__len__() == len(Visibility)


def test_anonymity_is_told_to_the_author_only() -> None:
    assert anonymity_words(anonymous=True, proxy=False, to_author=True) == (
        "Your name is not shown")
    assert anonymity_words(anonymous=False, proxy=False, to_author=True) == "Your name is shown"
    assert "intake record" in anonymity_words(anonymous=False, proxy=True, to_author=True)
    assert anonymity_words(anonymous=True, proxy=False, to_author=False) == ""


@pytest.mark.parametrize(("text", "topics"), [
    ("short $300 on rent", (Topic.MONEY, Topic.HOUSING)),
    ("Need help paying the electric bill", (Topic.MONEY,)),
    ("A ride to the clinic for my insulin", (Topic.HEALTH,)),
    ("My landlord says we'll be evicted Friday", (Topic.HOUSING,)),
    ("Me faltan 200 dólares para la renta", (Topic.MONEY, Topic.HOUSING)),
    ("Necesito medicinas, no tengo dinero", (Topic.MONEY, Topic.HEALTH)),
    ("Amenaza de desalojo", (Topic.HOUSING,)),
    ("Two bags of groceries for my grandmother", ()),
    ("My parents need a currant cake", ()),  # "rent" only as a whole word
    ("Boxes for moving", ()),
])
def test_sensitive_topics(text: str, topics: tuple[Topic, ...]) -> None:
    assert sensitive_topics(text) == topics


def test_the_suggestion_asks_for_members_only_and_anonymity() -> None:
    said = sensitive_suggestion(Kind.NEED, Visibility.PUBLIC, False, "short $300 on rent")
    assert said is not None
    assert "money and housing" in said and '"Members only"' in said
    assert "Post as a neighbor" in said and "your choice" in said
    # Already posted as a neighbor: only the audience is suggested.
    said = sensitive_suggestion(Kind.NEED, Visibility.NETWORK, True, "short $300 on rent")
    assert said is not None and "Post as a neighbor" not in said
    # Nothing to say: members only, direct, an offer, another topic.
    for kind, level, text in ((Kind.NEED, Visibility.MEMBERS, "rent"),
                              (Kind.NEED, Visibility.DIRECT, "rent"),
                              (Kind.OFFER, Visibility.PUBLIC, "I can lend $50 for rent"),
                              (Kind.NEED, Visibility.PUBLIC, "A winter coat, size M")):
        assert sensitive_suggestion(kind, level, False, text) is None
