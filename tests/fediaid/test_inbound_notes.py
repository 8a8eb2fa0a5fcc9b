"""Remote notes parsed into ``RemoteNote`` (fediaid/federation/inbound.py): real shapes,
hostile HTML, huge lists capped, values of the wrong type ignored, and fuzzing (never
raises)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activitypub.vocab import PUBLIC
from fediaid.domain.statuses import Level
from fediaid.federation.inbound import (
    MAX_ADDRESSEES,
    MAX_ATTACHMENTS,
    MAX_HASHTAGS,
    MAX_MENTIONS,
    MAX_POLL_OPTIONS,
    PollOption,
    RemoteNote,
    parse_remote_note,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
BOB = "https://remote.example/users/bob"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def note(**extra: Any) -> dict[str, Any]:
    return {"id": f"{BOB}/notes/1", "type": "Note", "attributedTo": BOB,
            "content": "<p>Soup tonight</p>", "to": [PUBLIC], "cc": [f"{BOB}/followers"],
            **extra}


def parsed(**extra: Any) -> RemoteNote:
    out = parse_remote_note(note(**extra))
    assert out is not None
    return out


def test_a_mastodon_reply() -> None:
    n = parse_remote_note(fixture("mastodon_reply.json")["object"])
    assert n is not None
    assert n.type == "Note" and n.author_uri == "https://mastodon.example/users/tomas"
    assert n.in_reply_to == "https://aid.example/posts/42"
    assert n.conversation == "tag:aid.example,2025-12-09:objectId=42:objectType=Conversation"
    assert n.published == datetime(2025, 12, 9, 18, 16, 40, tzinfo=UTC)
    assert n.url == "https://mastodon.example/@tomas/113626002117713408"
    assert n.language == "en" and n.summary == "" and n.sensitive is False
    assert n.mentions == ("https://aid.example/users/alice", "https://aid.example/groups/elm")
    assert n.addressed[0] == PUBLIC and len(n.addressed) == len(set(n.addressed)) == 4
    # Mentions keep their microformat classes; translate="no" goes.
    assert 'class="u-url mention"' in n.content_html and "translate" not in n.content_html
    assert 'rel="nofollow noopener noreferrer"' in n.content_html
    assert n.text == "@alice @elm I can drive on Tuesday morning, I have a car with a ramp. " \
        "Message me!"
    assert n.level("https://mastodon.example/users/tomas/followers") == (Level.PUBLIC, True)
    assert n.attachments == () and n.poll is None


def test_a_lemmy_page() -> None:
    n = parse_remote_note(fixture("lemmy_announce_page.json")["object"])
    assert n is not None and n.type == "Page"
    assert n.name == "Need: two people to help carry a sofa on Saturday"
    assert n.hashtags == {"need", "furniture", "mutualaid"}
    assert n.audience == "https://lemmy.example/c/mutualaid"
    assert n.language == "en"  # Lemmy's language object
    assert n.text.startswith("Moving a sofa") and "\nNorthside" in n.text


def test_not_a_note() -> None:
    assert parse_remote_note(None) is None
    assert parse_remote_note("https://remote.example/notes/1") is None
    assert parse_remote_note([note()]) is None
    for bad in ({"type": "Person"}, {"type": "Offer"}, {"type": ["Agreement"]},
                {"id": "javascript:alert(1)"}, {"id": None}, {"id": "/notes/1"},
                {"attributedTo": None}, {"attributedTo": "mailto:x@y"},
                {"id": "https://remote.example/" + "x" * 3000}):
        assert parse_remote_note(note() | bad) is None, bad
    # Prefixed and listed types are understood; the first known one is taken.
    assert parsed(type=["as:Question", "Note"]).type == "Note"
    assert parsed(type="https://www.w3.org/ns/activitystreams#Article").type == "Article"
    assert parsed(attributedTo=[{"type": "Person", "id": BOB}]).author_uri == BOB


def test_hostile_html_is_sanitized_once_here() -> None:
    n = parsed(content=(
        '<p onclick="x()" style="position:fixed">Hi<script>alert(1)</script>'
        '<style>body{display:none}</style><img src=x onerror=alert(2)>'
        '<a href="javascript:alert(3)">j</a><a href="data:text/html;base64,PHA+">d</a>'
        '<a href=" JaVaScRiPt:alert(4)">s</a><a href="//evil.example/">p</a>'
        '<iframe src="https://evil.example/"></iframe><svg><script>alert(5)</script></svg>'
        '<form action="https://evil.example/"><input name=x></form>'
        '<a href="https://ok.example/" target="_blank" class="u-url evil">ok</a>'
        '<math><mtext><table><mglyph><style><img src=x onerror=alert(6)>'))
    html = n.content_html.lower()
    for bad in ("<script", "alert", "onclick", "onerror", "style", "<img", "<iframe", "<svg",
                "<form", "<input", "javascript", "data:", "evil", "target", "<math"):
        assert bad not in html, bad
    assert '<a href="https://ok.example/" class="u-url" rel="nofollow noopener noreferrer">ok' \
        in n.content_html
    assert n.text.startswith("Hi")
    # Text is text: markup in the content warning, a name or a poll option is never HTML.
    n = parsed(summary="<b>cw</b>\x00", name="<i>T</i>", content="")
    assert n.summary == "<b>cw</b>" and n.name == "T" and n.content_html == "<p>T</p>"


def test_a_name_alone_is_the_content() -> None:
    n = parsed(type="Question", content=None, name="Soup & bread? <x>",
               oneOf=[{"type": "Note", "name": "yes"}])
    assert n.content_html == "<p>Soup &amp; bread?</p>" and n.text == "Soup & bread?"


def test_a_question() -> None:
    n = parsed(type="Question", endTime="2026-12-01T18:00:00Z",
               closed="2026-12-01T18:00:01Z", votersCount=7,
               oneOf=[{"type": "Note", "name": "Soup", "replies": {"totalItems": 5}},
                      {"type": "Note", "name": "Bread", "replies": {"totalItems": -3}},
                      {"type": "Note", "name": ""}, "junk", {"name": ["Tea"]}])
    assert n.poll is not None
    assert n.poll.options == (PollOption("Soup", 5), PollOption("Bread", 0),
                              PollOption("Tea", 0))
    assert not n.poll.multiple and n.poll.closed and n.poll.voters_count == 7
    assert n.poll.ends_at == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    assert n.poll.closed_at == datetime(2026, 12, 1, 18, 0, 1, tzinfo=UTC)
    many = parsed(type="Question", anyOf=[{"name": str(i)} for i in range(1000)],
                  votersCount="7", closed=True, endTime="2026-12-01T18:00:00Z")
    assert many.poll is not None and many.poll.multiple
    assert len(many.poll.options) == MAX_POLL_OPTIONS
    assert many.poll.voters_count is None and many.poll.closed_at == many.poll.ends_at
    assert parsed(type="Question").poll is None  # no options
    assert parsed(oneOf=[{"name": "x"}]).poll is None  # only a Question has one


def test_huge_lists_are_capped() -> None:
    n = parsed(to=[f"https://r.example/u/{i}" for i in range(10_000)],
               cc=[PUBLIC] * 10_000,
               tag=[{"type": "Mention", "href": f"https://r.example/u/{i}"}
                    for i in range(400)] + [{"type": "Hashtag", "name": f"#t{i}"}
                                             for i in range(400)],
               attachment=[{"type": "Image", "url": f"https://r.example/{i}.png"}
                           for i in range(1000)],
               content="<p>" + "<b>x</b>" * 100_000 + "</p>")
    assert len(n.to) == MAX_ADDRESSEES and n.cc == (PUBLIC,)
    assert len(n.mentions) == MAX_MENTIONS and len(n.hashtags) == MAX_HASHTAGS
    assert len(n.attachments) == MAX_ATTACHMENTS
    assert len(n.content_html) < 200_000
    assert n.level(None) == (Level.PUBLIC, False)  # as:Public in cc only: unlisted


def test_wrong_types_are_ignored() -> None:
    n = parsed(content={"not": "html"}, summary=["", 3, "cw"], sensitive="false",
               published=12, updated="yesterday", inReplyTo={"id": 5}, url=["ftp://x", 3],
               to="https://r.example/u/1", cc=[None, 1, {"id": "as:Public"}],
               tag="nope", attachment={"url": {"href": "https://r.example/a.png",
                                               "mediaType": "image/PNG; q=1"},
                                       "width": True, "height": "12", "focalPoint": [2, 0],
                                       "blurhash": "x" * 100, "name": ["alt"]},
               contentMap={"not a language": "<p>x</p>"}, context=["list"],
               conversation=7, audience="as:Public")
    assert n.content_html == "<p>x</p>"  # contentMap's value, since content is no string
    assert n.summary == "cw" and n.sensitive is False
    assert n.published is None and n.updated is None and n.in_reply_to is None
    assert n.url is None and n.language is None and n.conversation is None
    assert n.to == ("https://r.example/u/1",) and n.cc == ("as:Public",)
    assert n.level(None) == (Level.PUBLIC, False)  # as:Public means public
    assert n.audience is None and n.mentions == () and n.hashtags == frozenset()
    (a,) = n.attachments
    assert (a.url, a.media_type, a.type, a.description) == (
        "https://r.example/a.png", "image/png", "", "alt")
    assert a.width is None and a.height == 12 and a.focus is None and a.blurhash is None


def test_attachments_keep_what_the_media_service_needs() -> None:
    n = parsed(attachment=[
        {"type": "Document", "mediaType": "image/jpeg", "url": "https://r.example/1.jpg",
         "name": "A pot of soup", "blurhash": "UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH",
         "width": 1200, "height": 800, "focalPoint": [-0.5, 0.25]},
        {"type": "Image", "url": [{"type": "Link", "href": "https://r.example/2.webp",
                                   "mediaType": "image/webp"}], "summary": "bread"},
        {"type": "Image", "url": "javascript:alert(1)"},
        {"type": "Video", "url": "https://r.example/v.mp4", "mediaType": "video/mp4"}])
    first, second, video = n.attachments
    assert first.description == "A pot of soup" and first.focus == (-0.5, 0.25)
    assert (first.width, first.height, first.type) == (1200, 800, "Document")
    assert first.blurhash and first.blurhash.startswith("UBL")
    assert (second.url, second.media_type, second.description) == (
        "https://r.example/2.webp", "image/webp", "bread")
    assert video.media_type == "video/mp4"


def test_levels() -> None:
    followers = f"{BOB}/followers"
    assert parsed(to=[followers], cc=[]).level(followers) == (Level.FOLLOWERS, True)
    assert parsed(to=[followers], cc=[]).level(None) == (Level.DIRECT, True)
    assert parsed(to=["https://aid.example/users/maria"], cc=[]).level(followers) == (
        Level.DIRECT, True)
    n = parsed(to=["https://aid.example/users/maria"], cc=[],
               tag=[{"type": "Mention", "href": "https://aid.example/users/tom"}])
    assert n.addressed == ("https://aid.example/users/maria", "https://aid.example/users/tom")


# Fuzzing ---------------------------------------------------------------------------------------

KEYS = ["type", "id", "attributedTo", "content", "contentMap", "name", "nameMap", "summary",
        "sensitive", "inReplyTo", "context", "conversation", "published", "updated", "url",
        "to", "cc", "audience", "tag", "href", "attachment", "mediaType", "width", "height",
        "blurhash", "focalPoint", "oneOf", "anyOf", "replies", "totalItems", "endTime",
        "closed", "votersCount", "language", "identifier"]
STRINGS = ["Note", "Question", "Page", "Mention", "Hashtag", "Image", "Link", BOB,
           f"{BOB}/notes/1", "as:Public", PUBLIC, "http://[::1", "https://r.example/a.png",
           "<p>#tag <b>x</b></p>", "<script>x</script>", "<![if x]>", "2026-12-01T18:00:00Z",
           "image/png", "en", "", "\x00", "#need"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.sampled_from(STRINGS) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), children, max_size=6),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=10))
def test_never_raises(extra: dict[str, Any]) -> None:
    for obj in (extra, note() | extra):
        n = parse_remote_note(obj)
        if n is not None:
            assert "<script" not in n.content_html
            n.level(None)
