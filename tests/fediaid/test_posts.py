"""Offers and needs through the services: posting with as little as possible, privacy
warnings, validation that changes nothing, the lifecycle (close, expire, retention
deletion), proxy intake, anonymous posts and the one-time-helper protections."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from fediaid.domain.actors import Role
from fediaid.domain.posts import Kind, State, Visibility
from fediaid.domain.visibility import Viewer
from fediaid.errors import Conflict, Forbidden, Invalid, NotFound
from fediaid.services.posts import Intake, NeedsConfirmation
from fediaid.services.runtime import Runtime
from fediaid.storage.tables import conversations, intake_records, messages, posts, responses
from fediaid.storage.types import utcnow


async def users(rt: Runtime):  # type: ignore[no-untyped-def]
    admin = await rt.accounts.get_user("admin")
    maria = await rt.accounts.create_user("maria")
    sam = await rt.accounts.create_user("sam")
    return admin, maria, sam


async def count(rt: Runtime, table) -> int:  # type: ignore[no-untyped-def]
    async with rt.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_kind_and_a_sentence_is_enough(runtime: Runtime) -> None:
    rt = runtime
    _, maria, _ = await users(rt)
    post = await rt.posts.create(maria, {"kind": "need", "description":
                                         "Groceries for a family of four this week. Thanks!"})
    assert post.kind is Kind.NEED and post.state is State.OPEN
    assert post.title == "Groceries for a family of four this week."
    assert post.visibility is Visibility.PUBLIC and post.category == "food"  # suggested
    assert post.expires_at is not None
    assert timedelta(days=13) < post.expires_at - post.created_at <= timedelta(days=14)


@pytest.mark.parametrize("data, field", [
    ({}, "kind"),
    ({"kind": "gift", "title": "x"}, "kind"),
    ({"kind": "need"}, "title"),
    ({"kind": "need", "title": "x" * 200}, "title"),
    ({"kind": "need", "title": "x", "category": "weapons"}, "category"),
    ({"kind": "need", "title": "x", "quantity": "-2"}, "quantity"),
    ({"kind": "need", "title": "x", "quantity": "lots"}, "quantity"),
    ({"kind": "need", "title": "x", "area": "12 Elm Street"}, "area"),
    ({"kind": "need", "title": "x", "starts_at": "2026-12-01"}, "starts_at"),
    ({"kind": "need", "title": "x", "starts_at": "2026-12-02T00:00:00Z",
      "ends_at": "2026-12-01T00:00:00Z"}, "ends_at"),
    ({"kind": "need", "title": "x", "visibility": "secret"}, "visibility"),
    ({"kind": "need", "title": "x", "visibility": "direct"}, "recipients"),
    ({"kind": "need", "title": "x", "colour": "red"}, "colour"),
])
async def test_bad_input_names_the_field_and_changes_nothing(runtime: Runtime, data: dict,
                                                             field: str) -> None:
    _, maria, _ = await users(runtime)
    with pytest.raises(Invalid) as err:
        await runtime.posts.create(maria, data)
    assert err.value.field == field
    assert await count(runtime, posts) == 0


@pytest.mark.parametrize("text", ["Call me at 555-123-4567", "Drop it at 12 Elm Street",
                                  "mail maria@example.org"])
async def test_private_details_in_public_posts_need_confirmation(runtime: Runtime,
                                                                 text: str) -> None:
    _, maria, _ = await users(runtime)
    with pytest.raises(NeedsConfirmation) as err:
        await runtime.posts.create(maria, {"kind": "offer", "title": "Spare crib",
                                           "description": text})
    assert err.value.warnings and await count(runtime, posts) == 0
    post = await runtime.posts.create(maria, {"kind": "offer", "title": "Spare crib",
                                              "description": text}, confirm=True)
    assert post.description == text
    # Members-only posts are not public: no warning.
    await runtime.posts.create(maria, {"kind": "offer", "title": "Crib",
                                       "description": text, "visibility": "members"})


async def test_close_edit_and_transitions(runtime: Runtime) -> None:
    rt = runtime
    _, maria, sam = await users(rt)
    post = await rt.posts.create(maria, {"kind": "offer", "title": "Rides on Tuesdays"})
    with pytest.raises(Forbidden):
        await rt.posts.edit(sam, post.id, {"title": "mine now"})
    edited = await rt.posts.edit(maria, post.id, {"title": "Rides on Tuesdays and Fridays"})
    assert edited.title == "Rides on Tuesdays and Fridays" and edited.kind is Kind.OFFER
    with pytest.raises(Invalid):
        await rt.posts.edit(maria, post.id, {"kind": "need"})
    closed = await rt.posts.close(maria, post.id, "fulfilled")
    assert closed.state is State.FULFILLED and closed.delete_after is not None
    assert timedelta(days=29) < closed.delete_after - closed.closed_at <= timedelta(days=30)
    with pytest.raises(Conflict):
        await rt.posts.close(maria, post.id, "withdrawn")
    with pytest.raises(Invalid):
        await rt.posts.edit(maria, post.id, {"title": "again"})


async def test_expiry_then_retention_deletes_everything_private(runtime: Runtime) -> None:
    rt = runtime
    admin, _maria, sam = await users(rt)
    need = await rt.posts.create(admin, {"kind": "need", "title": "Rent help"},
                                 intake=Intake("Mrs. K", "555 0100", "calls after 6pm"))
    response = await rt.responses.respond(sam, need.id, "I can help", None)
    conv = await rt.responses.accept(admin, response.id)
    await rt.responses.send(sam, conv.id, "When is good?")
    async with rt.db.write() as conn:
        await conn.execute(update(posts).values(expires_at=utcnow() - timedelta(minutes=1)))
    assert await rt.posts.expire_due() == 1
    expired = await rt.posts.get(Viewer(user_id=admin.id, coordinator=True), need.id)
    assert expired.state is State.EXPIRED and expired.delete_after is not None
    assert await rt.posts.delete_due() == 0  # not yet
    async with rt.db.write() as conn:
        await conn.execute(update(posts).values(delete_after=utcnow() - timedelta(seconds=1)))
    assert await rt.posts.delete_due() == 1
    for table in (posts, responses, conversations, messages, intake_records):
        assert await count(rt, table) == 0, table.name


async def test_proxy_intake_is_private_and_for_coordinators(runtime: Runtime) -> None:
    rt = runtime
    admin, maria, _ = await users(rt)
    with pytest.raises(Forbidden):
        await rt.posts.create(maria, {"kind": "need", "title": "x"}, intake=Intake("a", None,
                                                                                  None))
    post = await rt.posts.create(admin, {"kind": "need", "title": "Groceries"},
                                 intake=Intake("Mr. J", "555 0101", None))
    assert post.author_uri == rt.identity.group.uri and post.proxy
    record = await rt.posts.intake_record(admin, post.id)
    assert record is not None and record["name"] == "Mr. J"
    with pytest.raises(Forbidden):
        await rt.posts.intake_record(maria, post.id)
    other_coordinator = await rt.accounts.create_user("lee", role=Role.COORDINATOR)
    assert (await rt.posts.intake_record(other_coordinator, post.id))["callback"] == "555 0101"


async def test_anonymous_posts_hide_the_asker(runtime: Runtime) -> None:
    rt = runtime
    admin, maria, sam = await users(rt)
    post = await rt.posts.create(maria, {"kind": "need", "title": "Help with rent"},
                                 as_neighbor=True)
    assert post.author_uri == rt.identity.group.uri and post.anonymous
    assert await rt.posts.creator_name(Viewer(), post) is None
    assert await rt.posts.creator_name(await rt.posts.viewer_for_user(sam), post) is None
    assert await rt.posts.creator_name(await rt.posts.viewer_for_user(admin), post) == "maria"
    assert await rt.posts.creator_name(await rt.posts.viewer_for_user(maria), post) == "maria"
    # Responses reach the asker through the group: the asker manages it and converses as
    # the group.
    response = await rt.responses.respond(sam, post.id, "I can help", None)
    assert [r.id for r in await rt.responses.for_post(maria, post.id)] == [response.id]
    conv = await rt.responses.accept(maria, response.id)
    msg = await rt.responses.send(maria, conv.id, "Thank you!")
    assert msg.sender_uri == rt.identity.group.uri
    _, seen_by_sam = await rt.responses.messages(sam, conv.id)
    assert [m.body for m in seen_by_sam] == ["Thank you!"]


async def test_one_time_helpers_are_protected(runtime: Runtime) -> None:
    rt = runtime
    _, maria, sam = await users(rt)
    need = await rt.posts.create(maria, {"kind": "need", "title": "Ride to the clinic"})
    response = await rt.responses.respond(sam, need.id, "I can drive", None)
    conv = await rt.responses.accept(maria, response.id)
    await rt.responses.send(maria, conv.id, "Thanks, 10am?")
    await rt.posts.close(maria, need.id, "fulfilled")
    with pytest.raises(Forbidden):
        await rt.responses.send(maria, conv.id, "Can you drive me again next week?")
    await rt.responses.send(sam, conv.id, "Happy to help again anytime")  # reopens
    await rt.responses.send(maria, conv.id, "Thank you!")
    # A weekly cap.
    await rt.responses.set_weekly_cap(sam, 1)
    other = await rt.posts.create(maria, {"kind": "need", "title": "Soup"})
    with pytest.raises(Conflict) as err:
        await rt.responses.respond(sam, other.id, "me", None)
    assert "limit of 1" in err.value.public
    await rt.responses.set_weekly_cap(sam, None)
    await rt.responses.respond(sam, other.id, "me", None)


async def test_responses_and_conversations_are_only_for_the_two(runtime: Runtime) -> None:
    rt = runtime
    _, maria, sam = await users(rt)
    eve = await rt.accounts.create_user("eve")
    offer = await rt.posts.create(maria, {"kind": "offer", "title": "Baby clothes",
                                          "quantity": "10", "unit": "items"})
    with pytest.raises(Invalid):
        await rt.responses.respond(maria, offer.id, "mine", None)
    with pytest.raises(Invalid):
        await rt.responses.respond(sam, offer.id, "all of them", "11")
    response = await rt.responses.respond(sam, offer.id, "4 please", "4")
    with pytest.raises(Conflict):
        await rt.responses.respond(sam, offer.id, "again", None)
    with pytest.raises(NotFound):
        await rt.responses.for_post(sam, offer.id)
    with pytest.raises(NotFound):
        await rt.responses.accept(eve, response.id)
    conv = await rt.responses.accept(maria, response.id, "3")
    promised = await rt.posts.get(Viewer(user_id=maria.id), offer.id)
    assert promised.state is State.PROMISED
    with pytest.raises(NotFound):
        await rt.responses.messages(eve, conv.id)
    with pytest.raises(NotFound):
        await rt.responses.send(eve, conv.id, "hi")
    accepted = (await rt.responses.for_post(maria, offer.id))[0]
    assert str(accepted.quantity) == "3"
