"""The Mastodon schema check (tests/conformance/): that it catches mismatches and says where,
that its list of schema fixes stays honest, and the responses it found wrong, now right.

Every other test's client API responses are validated by the ``client`` fixture's hook; the
tests here also reach the endpoints no other test answers (refusals and empty answers)."""

from __future__ import annotations

import hashlib
import json
import re

import httpx
import pytest

from fediaid.services.runtime import Runtime
from tests.api.test_mastodon_statuses import member
from tests.conformance import mastodon as conformance
from tests.conformance.mastodon import SchemaMismatch


def test_a_mismatch_names_the_path_the_pointer_and_what_was_expected() -> None:
    flags = ("blocked_by", "blocking", "domain_blocking", "endorsed", "followed_by",
             "following", "muting", "muting_notifications", "notifying", "requested",
             "requested_by", "showing_reblogs")
    good = {"id": "7", "note": "", **dict.fromkeys(flags, False)}
    conformance.validate("GET", "/api/v1/accounts/relationships", 200, [good])
    with pytest.raises(SchemaMismatch) as caught:
        conformance.validate("GET", "/api/v1/accounts/relationships", 200,
                             [good, {**good, "id": 7}, {"id": "8"}])
    message = str(caught.value)
    assert "GET /api/v1/accounts/relationships -> 200" in message
    assert "(getAccountRelationships, response 200)" in message
    assert "at /1/id: 7 is not of type \"string\"" in message
    assert 'expected type: "string" (schema /components/schemas/Relationship/' in message
    assert "actual   7" in message
    assert "at /2: \"blocking\" is a required property" in message


def test_operations_are_found_by_their_most_literal_template() -> None:
    find = conformance.find_operation
    assert find("GET", "/api/v1/accounts/relationships").template == (  # type: ignore[union-attr]
        "/api/v1/accounts/relationships")
    assert find("GET", "/api/v1/accounts/12").template == "/api/v1/accounts/{id}"  # type: ignore[union-attr]
    assert find("GET", "/api/v1/instance/").template == "/api/v1/instance"  # type: ignore[union-attr]
    assert find("POST", "/oauth/token").template == "/oauth/token"  # type: ignore[union-attr]
    assert find("GET", "/api/fediaid/v1/posts") is None
    # Not checked: paths outside the client API, statuses the schema does not document.
    assert conformance.validate("GET", "/api/fediaid/v1/posts", 200, {"id": 1}) is None
    assert conformance.validate("GET", "/api/v1/accounts/1", 418, {"id": 1}) is None


def test_every_schema_fix_applies_and_gives_its_reason() -> None:
    raw = json.loads(conformance.SCHEMA_FILE.read_text(encoding="utf-8"))
    for fix in (*conformance.SCHEMA_ERRATA, *conformance.FEDIAID_DIFFERENCES):
        assert len(fix.reason) > 20, fix
        conformance.apply_fix(raw, fix)  # raises when its target is gone (a newer schema)
    with pytest.raises(LookupError):  # applied twice: "details" is no longer required
        conformance.apply_fix(raw, conformance.SCHEMA_ERRATA[1])


def test_the_vendored_schema_is_the_copy_its_readme_names() -> None:
    readme = (conformance.HERE / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256(conformance.SCHEMA_FILE.read_bytes()).hexdigest()
    assert re.search(rf"sha256 `{digest}`", readme.replace("\n", " "))
    assert (conformance.HERE / "LICENSE.mastodon-openapi").is_file()


async def test_v2_search_hashtags_are_mastodon_tags(runtime: Runtime,
                                                    client: httpx.AsyncClient) -> None:
    """Mastodon's Tag has an ``id`` (the schema requires it); search left it out."""
    maria = await member(runtime, client, "maria")
    await maria.toot("Seedlings to share #Garden")
    r = await maria.get("/api/v2/search", params={"q": "#garden", "type": "hashtags"})
    assert r.status_code == 200  # and the hook validated it against Mastodon's Search
    [tag] = r.json()["hashtags"]
    assert tag["id"] == "garden" and tag["name"].lower() == "garden"
    conformance.validate("GET", "/api/v2/search", 200, r.json())


async def test_refusals_and_empty_answers_conform(runtime: Runtime,
                                                  client: httpx.AsyncClient) -> None:
    """Endpoints that only refuse or answer empty, each validated by the hook."""
    maria = await member(runtime, client, "maria")
    status = await maria.toot("hello")
    for action in ("pin", "unpin", "mute", "unmute"):
        r = await maria.post(f"/api/v1/statuses/{status['id']}/{action}")
        assert r.status_code == 422, action
    assert (await maria.get("/api/v1/notifications/requests/merged")).json() == {
        "merged": True}
    for path in ("/api/v1/notifications/requests/1", "/api/v1/timelines/list/1",
                 "/api/v1/filters/1"):
        assert (await maria.get(path)).status_code == 404, path
    r = await maria.post("/api/v1/tags/garden/follow")
    assert r.status_code == 422
    r = await maria.post("/api/v1/tags/garden/unfollow")
    assert r.status_code == 200 and r.json()["id"] == "garden"
    r = await maria.get("/api/v1/instance/translation_languages")
    assert r.status_code == 200 and r.json() == {}
