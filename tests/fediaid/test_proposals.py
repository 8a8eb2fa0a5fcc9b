"""Offers and needs <-> ActivityPub JSON (fediaid/federation/proposals*.py).

Round trips, Mastodon-safe content, addressing, the real-shaped payloads in tests/fixtures
and fuzzing: the parsers never raise on arbitrary JSON.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activitypub.vocab import PUBLIC
from fediaid.domain.posts import Kind, Post, State, Urgency, Visibility
from fediaid.federation.proposals import (
    CONTEXT,
    SERVICE_CATEGORIES,
    Addressing,
    addressing,
    category_hashtag,
    embedded_object,
    hashtags,
    html_to_text,
    mentions,
    parse_offer,
    parse_offer_answer,
    parse_proposal,
    render_accept_offer,
    render_confirmation,
    render_offer,
    render_post,
    render_reject_offer,
    render_tombstone,
    sanitize_html,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GROUP = "https://aid.example/groups/elm"
BIKE = "https://market.example/proposals/ddde9d6f-6f3b-4770-a966-3a18ef006930"
BOB_OFFER = "https://social.example/objects/fc4af0d2-c3a1-409b-947c-3c5be29f49b0/offer"
GROUP_FOLLOWERS = "https://aid.example/groups/elm/followers"
ALICE = "https://aid.example/users/alice"
ALICE_FOLLOWERS = "https://aid.example/users/alice/followers"
TAGS = "https://aid.example/tags/"
CATEGORIES = "https://aid.example/categories/"
T0 = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def make_post(**changes: Any) -> Post:
    post = Post(
        id=42,
        uri="https://aid.example/posts/42",
        kind=Kind.NEED,
        title="Groceries for Mrs. Ortiz",
        description="Milk, bread and fruit.\nShe can't carry heavy bags.\n\nThank you!",
        category="food",
        quantity=Decimal("3"),
        unit="bag",
        area="Elm Park",
        starts_at=datetime(2026, 12, 1, 18, 0, tzinfo=UTC),
        ends_at=datetime(2026, 12, 1, 20, 0, tzinfo=UTC),
        urgency=Urgency.URGENT,
        visibility=Visibility.PUBLIC,
        state=State.OPEN,
        local=True,
        author_uri=ALICE,
        creator_user_id=7,
        anonymous=False,
        proxy=False,
        held=False,
        via_group=False,
        recipients=(),
        created_at=T0,
        updated_at=T0,
        expires_at=None,
        closed_at=None,
        delete_after=None,
    )
    return replace(post, **changes)


def render(post: Post, **changes: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "author_uri": post.author_uri,
        "group_uri": GROUP,
        "group_handle": "@elm@aid.example",
        "addressing": addressing(post, group_uri=GROUP, group_followers=GROUP_FOLLOWERS,
                                 author_followers=ALICE_FOLLOWERS),
        "category_label": "Food and groceries",
        "area_label": post.area,
        "tag_base_url": TAGS,
        "category_base_url": CATEGORIES,
        "reply_hint": "Reply to this post to help, or message @elm@aid.example.",
    }
    kwargs.update(changes)
    return render_post(post, **kwargs)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def tags_in(html: str) -> list[tuple[str, dict[str, str | None]]]:
    p = _Tags()
    p.feed(html)
    p.close()
    return p.found


# Addressing -----------------------------------------------------------------------------------


def test_addressing_public_includes_author_followers_when_member() -> None:
    post = make_post()
    a = addressing(post, group_uri=GROUP, group_followers=GROUP_FOLLOWERS,
                   author_followers=ALICE_FOLLOWERS)
    assert a == Addressing(to=[PUBLIC], cc=[GROUP_FOLLOWERS, GROUP, ALICE_FOLLOWERS])
    b = addressing(post, group_uri=GROUP, group_followers=GROUP_FOLLOWERS, author_followers=None)
    assert b == Addressing(to=[PUBLIC], cc=[GROUP_FOLLOWERS, GROUP])


def test_addressing_network_and_direct() -> None:
    network = make_post(visibility=Visibility.NETWORK)
    assert addressing(network, group_uri=GROUP, group_followers=GROUP_FOLLOWERS,
                      author_followers=ALICE_FOLLOWERS) == Addressing([GROUP_FOLLOWERS], [GROUP])
    bob, carol = "https://social.example/users/bob", "https://other.example/users/carol"
    direct = make_post(visibility=Visibility.DIRECT, recipients=(bob, carol, bob))
    assert addressing(direct, group_uri=GROUP, group_followers=GROUP_FOLLOWERS,
                      author_followers=ALICE_FOLLOWERS) == Addressing([bob, carol], [])


def test_members_only_posts_are_never_addressed() -> None:
    with pytest.raises(ValueError):
        addressing(make_post(visibility=Visibility.MEMBERS), group_uri=GROUP,
                   group_followers=GROUP_FOLLOWERS, author_followers=None)


# Rendering ------------------------------------------------------------------------------------


def test_render_post_fields() -> None:
    note = render(make_post())
    assert "@context" not in note
    assert note["type"] == "Note"
    assert note["id"] == note["url"] == "https://aid.example/posts/42"
    assert note["attributedTo"] == ALICE and note["audience"] == GROUP
    assert note["to"] == [PUBLIC] and note["cc"] == [GROUP_FOLLOWERS, GROUP, ALICE_FOLLOWERS]
    assert note["published"] == "2026-11-28T09:30:00Z" and "updated" not in note
    assert note["name"] == "Groceries for Mrs. Ortiz"
    assert note["summary"] is None and note["sensitive"] is False
    assert note["purpose"] == "request"
    assert note["publishes"] == {
        "id": "https://aid.example/posts/42#primary",
        "type": "Intent",
        "action": "transfer",
        "resourceConformsTo": "https://aid.example/categories/food",
        "resourceQuantity": {"hasUnit": "bag", "hasNumericalValue": "3"},
        "receiver": ALICE,
    }
    assert note["location"] == {"type": "Place", "name": "Elm Park"}
    assert note["startTime"] == "2026-12-01T18:00:00Z"
    assert note["endTime"] == "2026-12-01T20:00:00Z"
    assert note["tag"] == [
        {"type": "Hashtag", "href": TAGS + "need", "name": "#need"},
        {"type": "Hashtag", "href": TAGS + "food", "name": "#Food"},
    ]
    json.dumps(note)  # plain JSON values only


def test_render_post_offer_edited_no_quantity_no_area_no_window() -> None:
    post = make_post(kind=Kind.OFFER, quantity=None, area=None, starts_at=None, ends_at=None,
                     category="transport", updated_at=T0 + timedelta(hours=2))
    note = render(post, area_label=None, category_label="Transport and rides")
    assert note["purpose"] == "offer"
    assert note["publishes"]["action"] == "deliverService"
    assert note["publishes"]["provider"] == ALICE and "receiver" not in note["publishes"]
    assert note["publishes"]["resourceQuantity"] == {"hasUnit": "bag"}
    assert note["updated"] == "2026-11-28T11:30:00Z"
    assert not {"location", "startTime", "endTime"} & note.keys()
    assert note["content"].startswith("<p><strong>Offer:</strong> Groceries")


@pytest.mark.parametrize("slug", sorted(SERVICE_CATEGORIES))
def test_services_are_deliver_service(slug: str) -> None:
    assert render(make_post(category=slug))["publishes"]["action"] == "deliverService"


def test_quantities_are_plain_decimal_text() -> None:
    note = render(make_post(quantity=Decimal("1E+1"), unit="one"))
    assert note["publishes"]["resourceQuantity"] == {"hasUnit": "one", "hasNumericalValue": "10"}
    note = render(make_post(quantity=Decimal("1.5"), unit=""))
    assert note["publishes"]["resourceQuantity"] == {"hasUnit": "one", "hasNumericalValue": "1.5"}


def test_context_declares_the_fep0837_terms() -> None:
    terms = CONTEXT[1]
    assert CONTEXT[0] == "https://www.w3.org/ns/activitystreams"
    assert terms["vf"] == "https://w3id.org/valueflows/ont/vf#"
    for key in ("purpose", "publishes", "resourceQuantity", "stipulates", "satisfies",
                "hasUnit", "hasNumericalValue", "resourceConformsTo", "Intent"):
        assert key in terms


MASTODON_TAGS = {"p", "br", "a", "strong", "em", "span"}
MASTODON_CLASSES = {"mention", "hashtag", "h-card", "u-url"}


@pytest.mark.parametrize("visibility", [Visibility.PUBLIC, Visibility.NETWORK, Visibility.DIRECT])
@pytest.mark.parametrize("description", [
    "Plain words.",
    '<script>alert("x")</script> & <b>bold</b> "quoted" \'single\'\n\n<img src=x onerror=y>',
    "",
])
def test_content_uses_only_mastodon_safe_markup(visibility: Visibility, description: str) -> None:
    post = make_post(visibility=visibility, description=description, category="rent-bills",
                     recipients=("https://social.example/users/bob",))
    content = render(post, category_label="Rent & bills")["content"]
    for tag, attrs in tags_in(content):
        assert tag in MASTODON_TAGS
        assert set(attrs) <= {"href", "class", "rel"}
        assert set((attrs.get("class") or "").split()) <= MASTODON_CLASSES
        if "href" in attrs:
            assert (attrs["href"] or "").startswith("https://")
    assert "<script" not in content and "<img" not in content and "<b>" not in content
    assert ('<a href="https://aid.example/tags/need" class="mention hashtag" rel="tag">'
            "#<span>need</span></a>") in content
    assert ('<a href="https://aid.example/tags/rentbills" class="mention hashtag" rel="tag">'
            "#<span>RentBills</span></a>") in content
    assert "Rent &amp; bills" in content


def test_content_reads_well() -> None:
    content = render(make_post())["content"]
    text = html_to_text(content)
    assert text.splitlines()[0] == "Need: Groceries for Mrs. Ortiz"
    assert "Milk, bread and fruit.\nShe can't carry heavy bags.\nThank you!" in text
    assert ("Category: Food and groceries · Quantity: 3 bag · Area: Elm Park · "
            "When: Tue 1 Dec 2026, 18:00 to 20:00 UTC · Urgent") in text
    assert "Reply to this post to help, or message @elm." in text
    assert '<span class="h-card"><a href="https://aid.example/groups/elm" class="u-url mention">' \
        in content
    assert text.endswith("#need #Food")


def test_human_windows() -> None:
    cest = timezone(timedelta(hours=2))
    start = datetime(2026, 12, 1, 20, 0, tzinfo=cest)  # 18:00 UTC
    text = html_to_text(render(make_post(starts_at=start, ends_at=None))["content"])
    assert "When: from Tue 1 Dec 2026, 18:00 UTC" in text
    text = html_to_text(render(make_post(starts_at=None))["content"])
    assert "When: until Tue 1 Dec 2026, 20:00 UTC" in text
    end = datetime(2026, 12, 2, 9, 5, tzinfo=UTC)
    text = html_to_text(render(make_post(ends_at=end))["content"])
    assert "When: Tue 1 Dec 2026, 18:00 to Wed 2 Dec 2026, 09:05 UTC" in text


def test_category_hashtags() -> None:
    assert category_hashtag("rent-bills") == "RentBills"
    assert category_hashtag("tech-help") == "TechHelp"
    assert category_hashtag("food") == "Food"
    assert category_hashtag("other") is None
    note = render(make_post(category="other"), category_label="Other")
    assert [t["name"] for t in note["tag"]] == ["#need"]


def test_direct_posts_mention_their_recipients() -> None:
    bob, carol = "https://social.example/users/bob", "https://other.example/users/carol"
    post = make_post(visibility=Visibility.DIRECT, recipients=(bob, carol))
    note = render(post, mention_names={bob: "@bob@social.example"})
    assert note["to"] == [bob, carol] and note["cc"] == []
    assert {"type": "Mention", "href": bob, "name": "@bob@social.example"} in note["tag"]
    assert {"type": "Mention", "href": carol} in note["tag"]
    assert mentions(note) == [bob, carol]


def test_tombstone_and_confirmation() -> None:
    assert render_tombstone("https://aid.example/posts/42") == {
        "id": "https://aid.example/posts/42", "type": "Tombstone", "formerType": "Note"}
    doc = render_confirmation(id="https://aid.example/receipts/1", actor_uri=ALICE,
                              agreement_id="https://aid.example/agreements/9",
                              post_uri="https://aid.example/posts/42",
                              to=["https://social.example/users/bob"], published=T0)
    assert doc == {
        "id": "https://aid.example/receipts/1", "type": "Document", "name": "Receipt",
        "attributedTo": ALICE, "context": "https://aid.example/agreements/9",
        "inReplyTo": "https://aid.example/posts/42",
        "to": ["https://social.example/users/bob"], "published": "2026-11-28T09:30:00Z"}


# Round trips ----------------------------------------------------------------------------------

ROUND_TRIPS = [
    {},
    {"kind": Kind.OFFER, "category": "rent-bills", "quantity": Decimal("250.5"), "unit": "USD"},
    {"category": "tech-help", "quantity": None, "unit": "one", "area": None},
    {"kind": Kind.OFFER, "category": "elder-care", "starts_at": None, "ends_at": None},
    {"category": "other", "quantity": Decimal("0.001"), "unit": "kg", "area": "10115"},
    {"starts_at": datetime(2026, 12, 1, 20, 0, tzinfo=timezone(timedelta(hours=2))),
     "ends_at": datetime(2026, 12, 3, 8, 0, tzinfo=UTC), "title": "Need: a ride"},
    {"visibility": Visibility.DIRECT, "recipients": ("https://social.example/users/bob",)},
]


@pytest.mark.parametrize("changes", ROUND_TRIPS)
@pytest.mark.parametrize("wrap", [False, True])
def test_round_trip(changes: dict[str, Any], wrap: bool) -> None:
    post = make_post(**changes)
    note = render(post)
    doc: Any = note
    if wrap:
        doc = {"@context": CONTEXT, "id": post.uri + "/create", "type": "Create",
               "actor": ALICE, "object": note}
    parsed = parse_proposal(embedded_object(json.loads(json.dumps(doc))))
    assert parsed is not None
    assert parsed.structured
    assert (parsed.uri, parsed.author_uri) == (post.uri, ALICE)
    assert parsed.kind is post.kind
    expected_title = post.title.removeprefix("Need: ")
    assert parsed.title == expected_title[:1].upper() + expected_title[1:]
    assert parsed.category == post.category
    assert parsed.quantity == post.quantity
    assert parsed.unit == (post.unit or "one")
    assert parsed.area == post.area
    assert parsed.starts_at == post.starts_at and parsed.ends_at == post.ends_at
    assert parsed.published == post.created_at
    assert parsed.audience == GROUP
    assert parsed.to == tuple(note["to"]) and parsed.cc == tuple(note["cc"])


def test_round_trip_as_plain_post_when_structure_is_lost() -> None:
    """What a server that drops unknown properties would pass on: the hashtags still say it."""
    note = render(make_post(category="rent-bills", title="Help with the electricity bill"))
    for key in ("purpose", "publishes", "name", "location", "startTime", "endTime"):
        del note[key]
    parsed = parse_proposal(note)
    assert parsed is not None and not parsed.structured
    assert parsed.kind is Kind.NEED and parsed.category == "rent-bills"
    assert parsed.title == "Help with the electricity bill"


def test_offer_round_trip_and_answers() -> None:
    offer = render_offer(offer_id="https://social.example/offers/1",
                         actor_uri="https://social.example/users/bob",
                         post_uri="https://aid.example/posts/42", post_author_uri=ALICE,
                         quantity=Decimal("2"), unit="bag", message="I can bring <2> bags\nToday")
    assert offer["object"]["stipulates"]["satisfies"] == "https://aid.example/posts/42#primary"
    assert "id" not in offer["object"] and "id" not in offer["object"]["stipulates"]
    parsed = parse_offer(offer)
    assert parsed is not None
    assert (parsed.id, parsed.actor_uri, parsed.post_uri) == (
        "https://social.example/offers/1", "https://social.example/users/bob",
        "https://aid.example/posts/42")
    assert (parsed.quantity, parsed.unit) == (Decimal("2"), "bag")
    assert parsed.message == "I can bring <2> bags\nToday"

    accept = render_accept_offer(accept_id="https://aid.example/accepts/1", actor_uri=ALICE,
                                 offer=offer, agreement_id="https://aid.example/agreements/1")
    assert accept["object"] == "https://social.example/offers/1"
    assert accept["to"] == ["https://social.example/users/bob"]
    assert accept["result"] == {
        "id": "https://aid.example/agreements/1", "type": "Agreement",
        "stipulates": {"id": "https://aid.example/agreements/1#primary", "type": "Commitment",
                       "satisfies": "https://aid.example/posts/42#primary",
                       "resourceQuantity": {"hasUnit": "bag", "hasNumericalValue": "2"}}}
    answer = parse_offer_answer(accept)
    assert answer is not None and answer.accepted
    assert answer.offer_id == "https://social.example/offers/1"
    assert answer.agreement_id == "https://aid.example/agreements/1"

    reject = render_reject_offer(reject_id="https://aid.example/rejects/1", actor_uri=ALICE,
                                 offer=offer, reason="Already covered, thanks!")
    answer = parse_offer_answer(reject)
    assert answer is not None and not answer.accepted
    assert answer.reason == "Already covered, thanks!" and answer.agreement_id is None
    assert "content" not in render_reject_offer(reject_id="https://aid.example/rejects/2",
                                                actor_uri=ALICE, offer=offer, reason=None)


def test_offer_without_quantity() -> None:
    offer = render_offer(offer_id="https://social.example/offers/2",
                         actor_uri="https://social.example/users/bob",
                         post_uri="https://aid.example/posts/42", post_author_uri=ALICE,
                         quantity=None, unit="one", message="")
    parsed = parse_offer(offer)
    assert parsed is not None and parsed.quantity is None and parsed.message == ""


@pytest.mark.parametrize("name", ["fep0837_offer_agreement.json",
                                  "fep0837_offer_commitment_oldest.json",
                                  "mitra_offer_clauses_middle.json"])
def test_accept_any_offer_revision(name: str) -> None:
    offer = fixture(name)
    parsed = parse_offer(offer)
    assert parsed is not None
    accept = render_accept_offer(accept_id="https://aid.example/accepts/9", actor_uri=ALICE,
                                 offer=offer, agreement_id="https://aid.example/agreements/9")
    stipulates = accept["result"]["stipulates"]
    assert stipulates["satisfies"] == parsed.post_uri + "#primary"
    assert parse_offer_answer(accept) is not None


def test_accept_needs_a_real_offer() -> None:
    with pytest.raises(ValueError):
        render_accept_offer(accept_id="https://aid.example/a", actor_uri=ALICE,
                            offer={"type": "Offer", "id": "x"}, agreement_id="https://a/1")
    with pytest.raises(ValueError):
        render_reject_offer(reject_id="https://aid.example/r", actor_uri=ALICE,
                            offer={"type": "Offer"}, reason=None)


# Fixtures -------------------------------------------------------------------------------------


def test_mastodon_need_with_hashtag() -> None:
    doc = fixture("mastodon_note_need_hashtag.json")
    note = embedded_object(doc)
    p = parse_proposal(note)
    assert p is not None
    assert p.kind is Kind.NEED and not p.structured
    assert p.uri == "https://mastodon.example/users/rosa/statuses/113625481290455621"
    assert p.author_uri == "https://mastodon.example/users/rosa"
    assert p.title == "Groceries for my neighbour this week."
    assert p.category == "food"
    assert (p.quantity, p.unit, p.area) == (None, "one", None)
    assert p.published == datetime(2025, 12, 9, 16, 4, 11, tzinfo=UTC)
    assert p.to == (PUBLIC,) and GROUP in p.cc
    assert p.audience is None and p.in_reply_to is None
    assert "h-card" in p.description_html and "translate" not in p.description_html
    assert hashtags(note) == {"need", "food", "mutualaid"}
    assert mentions(note) == [GROUP]


def test_mastodon_reply_is_not_a_proposal() -> None:
    note = embedded_object(fixture("mastodon_reply.json"))
    assert note["inReplyTo"] == "https://aid.example/posts/42"
    assert parse_proposal(note) is None
    assert mentions(note) == [ALICE, GROUP]
    assert hashtags(note) == set()
    assert parse_offer(note) is None


def test_mitra_proposal_newest() -> None:
    p = parse_proposal(fixture("mitra_proposal_newest.json"))
    assert p is not None and p.structured
    assert p.kind is Kind.OFFER and p.title == "Pay for subscription"
    assert (p.quantity, p.unit, p.category) == (Decimal("1"), "second", None)
    assert p.to == (PUBLIC,) and p.description_html == ""


def test_proposal_middle_revision() -> None:
    p = parse_proposal(fixture("fep0837_proposal_middle.json"))
    assert p is not None and p.structured
    assert p.kind is Kind.NEED and p.title == "Winter coat, size M"
    assert (p.quantity, p.unit, p.area) == (Decimal("1"), "one", "Riverside")
    assert "<script" not in p.description_html and "alert" not in p.description_html
    assert "<strong>Any colour.</strong>" in p.description_html
    assert "52.51" not in repr(p)  # coordinates are never kept


def test_proposal_oldest_revision_uses_provider() -> None:
    doc = fixture("fep0837_proposal_oldest.json")
    p = parse_proposal(doc)
    assert p is not None and p.structured
    assert p.kind is Kind.OFFER and p.title == "Offering used bike"
    assert (p.quantity, p.unit, p.area) == (Decimal("1"), "one", None)
    doc["publishes"]["receiver"] = doc["publishes"].pop("provider")
    p = parse_proposal(doc)
    assert p is not None and p.kind is Kind.NEED


def test_lemmy_announces() -> None:
    create = embedded_object(fixture("lemmy_announce_create_page.json"))
    page = embedded_object(fixture("lemmy_announce_page.json"))
    assert create["type"] == page["type"] == "Page"
    a, b = parse_proposal(create), parse_proposal(page)
    assert a is not None and a == b
    assert a.kind is Kind.NEED and not a.structured
    assert a.title == "Two people to help carry a sofa on Saturday"
    assert a.category == "furniture"
    assert a.audience == "https://lemmy.example/c/mutualaid"
    assert a.author_uri == "https://lemmy.example/u/dana"


def test_malformed_note_is_a_plain_post() -> None:
    doc = fixture("malformed_fep0837_note.json")
    p = parse_proposal(doc)
    assert p is not None and not p.structured
    assert p.kind is Kind.NEED
    assert p.author_uri == "https://glitchy.example/users/kit"
    assert p.title == "Baby formula, any brand, urgent"
    assert (p.quantity, p.area, p.starts_at, p.ends_at, p.published) == (None,) * 5
    assert p.to == (PUBLIC,) and p.cc == ("https://glitchy.example/users/kit/followers",)
    assert "javascript" not in p.description_html and "steal" not in p.description_html
    assert "evil" not in p.description_html
    assert mentions(doc) == []
    del doc["tag"]
    doc["content"] = "<p>Baby formula, any brand</p>"
    assert parse_proposal(doc) is None  # no marker left


def test_fixture_offers() -> None:
    newest = parse_offer(fixture("fep0837_offer_agreement.json"))
    assert newest is not None
    assert newest.post_uri == "https://aid.example/posts/42"
    assert (newest.quantity, newest.unit) == (Decimal("2"), "bag")
    assert newest.message == "I can bring two bags on Thursday evening.\nI live nearby."
    oldest = parse_offer(fixture("fep0837_offer_commitment_oldest.json"))
    assert oldest is not None
    assert oldest.post_uri == BIKE
    assert (oldest.quantity, oldest.unit, oldest.message) == (Decimal("1"), "one", "")
    middle = parse_offer(fixture("mitra_offer_clauses_middle.json"))
    assert middle is not None  # primary clause chosen although it comes second
    assert (middle.post_uri, middle.quantity, middle.unit) == (
        "https://remote.example/proposals/1", Decimal("10"), "second")


def test_fixture_answers() -> None:
    accept = parse_offer_answer(fixture("fep0837_accept.json"))
    assert accept is not None and accept.accepted
    assert accept.offer_id == BOB_OFFER
    assert accept.agreement_id == (
        "https://aid.example/agreements/edc374aa-e580-4a58-9404-f3e8bf8556b2")
    reject = parse_offer_answer(fixture("fep0837_reject.json"))
    assert reject is not None and not reject.accepted
    assert reject.reason == "Thank you! Someone already brought groceries today."


def test_offer_oldest_falls_back_to_in_reply_to() -> None:
    doc = fixture("fep0837_offer_commitment_oldest.json")
    doc["object"]["satisfies"] = "not a uri"
    parsed = parse_offer(doc)
    assert parsed is not None
    assert parsed.post_uri == BIKE


def test_accept_with_the_fep_typo_and_embedded_offer() -> None:
    doc = fixture("fep0837_accept.json")
    doc["result"]["stiplulates"] = doc["result"].pop("stipulates")
    doc["object"] = fixture("fep0837_offer_agreement.json")
    answer = parse_offer_answer(doc)
    assert answer is not None and answer.accepted
    assert answer.offer_id.endswith("/offer")


def test_accept_of_a_follow_is_not_an_offer_answer() -> None:
    accept = {"type": "Accept", "id": "https://aid.example/a/1", "actor": GROUP,
              "object": {"type": "Follow", "id": "https://social.example/f/1",
                         "actor": "https://social.example/users/bob", "object": GROUP}}
    assert parse_offer_answer(accept) is None
    assert parse_offer_answer({**accept, "type": ["Accept", "Reject"]}) is None


# Tolerance ------------------------------------------------------------------------------------


@pytest.mark.parametrize("type_", [
    ["Note", "vf:Proposal"], "https://w3id.org/valueflows/ont/vf#Proposal", "Article", ["Page"],
    "Proposal",
])
def test_type_variants(type_: Any) -> None:
    doc = fixture("fep0837_proposal_middle.json")
    doc["type"] = type_
    p = parse_proposal(doc)
    assert p is not None and p.kind is Kind.NEED and p.structured


@pytest.mark.parametrize("value", ["Person", "Question", ["Event"], None, 5])
def test_other_types_are_not_proposals(value: Any) -> None:
    doc = fixture("fep0837_proposal_middle.json")
    doc["type"] = value
    assert parse_proposal(doc) is None


@pytest.mark.parametrize(("value", "expected"), [
    ("2", Decimal("2")), (3, Decimal("3")), (2.5, Decimal("2.5")), (" 1.25 ", Decimal("1.25")),
    ("-1", None), ("0", None), ("NaN", None), ("Infinity", None), ("1e999999", None),
    ("2000000", None), (True, None), ("two", None), ([1], None), ({"x": 1}, None), (None, None),
])
def test_quantities(value: Any, expected: Decimal | None) -> None:
    doc = fixture("fep0837_proposal_middle.json")
    doc["publishes"]["resourceQuantity"]["hasNumericalValue"] = value
    p = parse_proposal(doc)
    assert p is not None and p.structured and p.quantity == expected


def test_units_and_categories_in_other_notations() -> None:
    doc = fixture("fep0837_proposal_middle.json")
    doc["publishes"]["resourceQuantity"]["hasUnit"] = (
        "http://www.ontology-of-units-of-measure.org/resource/om-2/kilogram")
    doc["publishes"]["resourceConformsTo"] = "https://other.example/categories/clothing/"
    p = parse_proposal(doc)
    assert p is not None and p.unit == "kilogram" and p.category == "clothing"
    p = parse_proposal(doc, categories=["winter-clothes"])
    assert p is not None and p.category is None


def test_invalid_identity_is_rejected() -> None:
    base = fixture("fep0837_proposal_middle.json")
    for change in ({"id": "urn:uuid:1"}, {"id": None}, {"attributedTo": None},
                   {"attributedTo": "javascript:x"}, {"attributedTo": "http://[broken"}):
        assert parse_proposal({**base, **change}) is None


def test_purpose_beats_hashtags_and_ambiguous_plain_posts_are_ignored() -> None:
    note = render(make_post(kind=Kind.OFFER))
    note["tag"].append({"type": "Hashtag", "name": "#need", "href": TAGS + "need"})
    p = parse_proposal(note)
    assert p is not None and p.kind is Kind.OFFER
    del note["purpose"], note["publishes"]
    assert parse_proposal(note) is None  # both #need and #offer: cannot tell


def test_time_window_parsing() -> None:
    doc = fixture("fep0837_proposal_middle.json")
    doc.update({"startTime": "2026-12-01T18:00:00+02:00", "endTime": "2026-12-01T10:00:00"})
    p = parse_proposal(doc)
    assert p is not None
    assert p.starts_at == datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    assert p.ends_at is None  # ends before it starts
    doc.update({"startTime": None, "hasBeginning": "2026-12-01", "endTime": ["2026-12-02T00:00Z"]})
    p = parse_proposal(doc)
    assert p is not None
    assert p.starts_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert p.ends_at == datetime(2026, 12, 2, tzinfo=UTC)


def test_sanitize_and_text() -> None:
    dirty = ('<h1>Title</h1><div onclick="x"><p class="evil">a<script>b</script>'
             '<style>c</style><a href="javascript:1">d</a><a href="https://ok.example/" '
             'class="mention u-url x" onclick="y">e</a><img src="https://t.example/p.gif">'
             '<ul><li>f<li>g</ul><unknown>h</unknown><em>unclosed')
    clean = sanitize_html(dirty)
    # Nested as a browser parses it (html5ever, via nh3): a <ul> ends the paragraph; the
    # heading is Mastodon's <p><strong>; the empty paragraph of the <div> is dropped.
    assert clean == (
        '<p><strong>Title</strong></p><p>a<a rel="nofollow noopener noreferrer">d</a>'
        '<a href="https://ok.example/" class="mention u-url" rel="nofollow noopener noreferrer">'
        "e</a></p><ul><li>f</li><li>g</li></ul>h<em>unclosed</em>")
    assert html_to_text(dirty) == "Title\nade\nf\ng\nhunclosed"
    # A conditional comment is a (bogus) comment to a browser: dropped.
    assert sanitize_html("<![if x]><p>a &lt; b</p>") == "<p>a &lt; b</p>"
    assert html_to_text("1 &lt; 2 &amp;&amp; <br>x") == "1 < 2 &&\nx"


def test_hashtags_from_content_and_tags() -> None:
    obj = {"content": "<p>Help! #Need a ride (#transport), not this: https://x.example/#frag</p>",
           "tag": [{"type": "Hashtag", "name": "#MutualAid"}, {"type": "Hashtag", "name": 3},
                   {"type": "Mention", "name": "#nope"}, "junk"]}
    assert hashtags(obj) == {"need", "transport", "mutualaid"}
    assert hashtags("not an object") == set() and mentions(None) == []


def test_embedded_object_stops_at_ids_and_depth() -> None:
    assert embedded_object({"type": "Announce", "object": "https://x.example/1"}) == \
        "https://x.example/1"
    nested: Any = {"type": "Note", "id": "n"}
    for _ in range(5):
        nested = {"type": "Announce", "object": nested}
    assert embedded_object(nested)["type"] == "Announce"
    assert embedded_object({"type": "Create", "object": [1, 2]})["type"] == "Create"


# Fuzzing --------------------------------------------------------------------------------------

KEYS = ["type", "id", "attributedTo", "actor", "object", "purpose", "publishes", "reciprocal",
        "resourceQuantity", "hasNumericalValue", "hasUnit", "resourceConformsTo", "provider",
        "receiver", "tag", "name", "nameMap", "content", "contentMap", "location", "startTime",
        "endTime", "published", "to", "cc", "audience", "inReplyTo", "stipulates", "clauses",
        "commitments", "satisfies", "result", "href"]
STRINGS = ["Note", "Page", "Proposal", "vf:Proposal", "Offer", "Accept", "Reject", "Agreement",
           "Commitment", "Intent", "Hashtag", "Mention", "Place", "Announce", "Create", "#need",
           "#offer", "offer", "request", "https://a.example/p/1", "https://a.example/p/1#primary",
           "http://[::1", "https://a.example/u/x", "<p>#need <b>x</b></p>", "<![if x]>", "<script>",
           "NaN", "-1", "1e999999", "2.5", "2026-12-01T18:00:00Z", "9999-99-99", "", "\x00", "one"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.sampled_from(STRINGS) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), children, max_size=6),
    max_leaves=25,
)

FIXTURE_DOCS = [fixture(p.name) for p in sorted(FIXTURES.glob("*.json"))]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


def _all_parsers(doc: Any) -> None:
    for candidate in (doc, embedded_object(doc)):
        parse_proposal(candidate)
        parse_offer(candidate)
        parse_offer_answer(candidate)
        hashtags(candidate)
        mentions(candidate)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(json_values)
def test_fuzz_arbitrary_json_never_raises(doc: Any) -> None:
    _all_parsers(doc)


@FUZZ
@given(st.data())
def test_fuzz_mutated_fixtures_never_raise(data: st.DataObject) -> None:
    doc = copy.deepcopy(data.draw(st.sampled_from(FIXTURE_DOCS)))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(doc)
        path = data.draw(st.sampled_from(paths))
        doc = _set(doc, path, data.draw(json_values))
    _all_parsers(doc)
