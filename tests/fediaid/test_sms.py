"""Text messages end to end against providers on 127.0.0.1 that implement each provider's
documented API (tests/support/sms.py), on SQLite and PostgreSQL: webhooks checked by their
signatures (an invalid one changes nothing), NEED/OFFER in English and Spanish held for a
coordinator with a private intake record, other texts in the coordinators' inbox,
STOP/START, a coordinator's relay, the neighbor's YES and a helper's chosen contact, rate
limits, retries while the provider is down (sent once), the private-address allowance of a
phone gateway, and the number deleted with the need."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from fediaid.domain.queue import ItemState
from fediaid.domain.roles import Role
from fediaid.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from fediaid.jobs.sms import SmsWorker
from fediaid.services.runtime import Runtime
from fediaid.storage import tables
from tests.support.sms import FakeAndroid, FakeTwilio

NEIGHBOR = "+12015550123"
OTHER = "+12015550188"
GROUP_PHONE = "+12015550100"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def android() -> AsyncIterator[FakeAndroid]:
    fake = FakeAndroid()
    await fake.start()
    yield fake
    await fake.stop()


async def use_twilio(rt: Runtime, fake: FakeTwilio) -> None:
    await rt.sms_settings.save(None, provider="twilio", number=fake.number,
                               account=fake.account_sid, api_url=fake.base,
                               secret=fake.auth_token)


async def use_android(rt: Runtime, fake: FakeAndroid, *, allow_private: bool = False) -> None:
    await rt.sms_settings.save(None, provider="android", number=GROUP_PHONE,
                               account=fake.username, api_url=fake.base,
                               allow_private=allow_private, secret=fake.password,
                               signing_key=fake.signing_key)


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


async def deliver(rt: Runtime, fake: FakeTwilio | FakeAndroid, sender: str, body: str) -> int:
    if isinstance(fake, FakeTwilio):
        url = f"{rt.settings.base_url}/sms/twilio"
        raw, headers = fake.inbound(url, sender, body)
        return await rt.sms.receive("twilio", url=url, headers=lower(headers), body=raw)
    raw, headers = fake.inbound(sender, body)
    return await rt.sms.receive("android", url=f"{rt.settings.base_url}/sms/android",
                                headers=lower(headers), body=raw)


async def work(rt: Runtime) -> None:
    """Apply what arrived, then send what was queued (twice: answers are queued by the
    first round)."""
    worker = SmsWorker(rt, name="test-sms")
    for _ in range(3):
        if not await worker.run_once():
            break


async def held(rt: Runtime) -> list[Any]:
    return list(await rt.group_settings.held_posts(await rt.accounts.get_user("admin")))


async def count(rt: Runtime, table: object) -> int:
    async with rt.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


# -- inbound, signatures, keywords -------------------------------------------------------------

async def test_a_texted_need_waits_for_a_coordinator_with_a_private_intake_record(
        runtime: Runtime, twilio: FakeTwilio) -> None:
    rt = runtime
    await use_twilio(rt, twilio)
    await deliver(rt, twilio, NEIGHBOR, "NEED groceries for my family of 4 this week")
    await work(rt)
    [post] = await held(rt)
    assert post.kind.value == "need" and post.held and post.proxy
    assert post.title == "groceries for my family of 4 this week"
    author = post.author_uri
    assert author.endswith("/groups/elm")  # shown as the group's, "a neighbor"
    admin = await rt.accounts.get_user("admin")
    record = await rt.posts.intake_record(admin, post.id)
    assert record is not None and record["callback"] == NEIGHBOR
    assert record["channel"] == "sms" and record["consent"] is False
    # The answer went back through Twilio's API, from the group's number, asking for YES.
    [sent] = twilio.sent
    assert sent.to == NEIGHBOR and sent.sender == twilio.number
    assert sent.body.startswith("Elm St Mutual Aid: ") and "Reply YES" in sent.body
    # Approved: the group shares it; nothing about the neighbor leaves with it.
    await rt.group_settings.decide_held(admin, post.id, approve=True)
    async with rt.db.read() as conn:
        activities = json.dumps([[str(v) for v in r] for r in
                                 await conn.execute(select(tables.activities))])
    assert "groceries for my family" in activities and NEIGHBOR not in activities
    assert "2015550123" not in activities


async def test_an_invalid_signature_changes_nothing(runtime: Runtime, twilio: FakeTwilio,
                                                    android: FakeAndroid) -> None:
    rt = runtime
    await use_twilio(rt, twilio)
    url = f"{rt.settings.base_url}/sms/twilio"
    before = await count(rt, tables.sms_queue)
    bad = [
        twilio.inbound(url, NEIGHBOR, "NEED rent", token="not-the-token"),
        twilio.inbound(url, NEIGHBOR, "NEED rent", sign_url="http://10.0.0.5:8000/sms/twilio"),
    ]
    raw, headers = twilio.inbound(url, NEIGHBOR, "NEED rent")
    bad.append((raw.replace(b"rent", b"cash"), headers))  # the body changed on the way
    bad.append((raw, {k: v for k, v in headers.items() if k != "X-Twilio-Signature"}))
    other_account = FakeTwilio(auth_token=twilio.auth_token)  # same token, another account
    bad.append(other_account.inbound(url, NEIGHBOR, "NEED rent"))
    for body, hdrs in bad:
        with pytest.raises(Forbidden):
            await rt.sms.receive("twilio", url=url, headers=lower(hdrs), body=body)
    assert await count(rt, tables.sms_queue) == before
    await work(rt)
    assert await held(rt) == [] and twilio.sent == []
    # The URL Twilio signed is the public one; with the default port written out too.
    parts = urlsplit(url)
    with_port = (f"{parts.scheme}://{parts.hostname}:"
                 f"{443 if parts.scheme == 'https' else 80}{parts.path}")
    raw, headers = twilio.inbound(url, NEIGHBOR, "NEED rent", sign_url=with_port)
    assert await rt.sms.receive("twilio", url=url, headers=lower(headers), body=raw) == 1
    # The same webhook again (a retry) is stored once.
    assert await rt.sms.receive("twilio", url=url, headers=lower(headers), body=raw) == 0

    # The phone gateway: its own key, and a fresh timestamp.
    await use_android(rt, android)
    aurl = f"{rt.settings.base_url}/sms/android"
    for body, hdrs in (android.inbound(NEIGHBOR, "NEED rent", key="wrong"),
                       android.inbound(NEIGHBOR, "NEED rent", at=1_000_000_000)):
        with pytest.raises(Forbidden):
            await rt.sms.receive("android", url=aurl, headers=lower(hdrs), body=body)
    raw, headers = android.inbound(NEIGHBOR, "hello")
    tampered = raw.replace(b"hello", b"NEED money")
    with pytest.raises(Forbidden):
        await rt.sms.receive("android", url=aurl, headers=lower(headers), body=tampered)
    # Twilio's webhook is no longer accepted once the group uses the phone.
    with pytest.raises(NotFound, match="not set up"):
        await rt.sms.receive("twilio", url=url, headers=lower(headers), body=raw)


async def test_keywords_in_english_and_spanish(runtime: Runtime, android: FakeAndroid
                                               ) -> None:
    rt = runtime
    await use_android(rt, android)
    for sender, body in ((NEIGHBOR, "Necesito: pañales talla 3 para mi bebé"),
                         (OTHER, "offer. I can drive people to the clinic on Tuesdays"),
                         ("+12015550177", "Ofrezco clases de inglés los sábados"),
                         ("+12015550166", "i need a ride to the pharmacy")):
        await deliver(rt, android, sender, body)
    await deliver(rt, android, "+12015550155", "Hi, can someone stop by? My phone is new")
    await work(rt)
    posts = {p.title: p.kind.value for p in await held(rt)}
    assert posts == {"pañales talla 3 para mi bebé": "need",
                     "I can drive people to the clinic on Tuesdays": "offer",
                     "clases de inglés los sábados": "offer",
                     "a ride to the pharmacy": "need"}
    replies = {s.to: s.body for s in android.sent}
    assert "Gracias" in replies[NEIGHBOR] and "Responda SI" in replies[NEIGHBOR]
    assert "Thank you" in replies[OTHER] and "Reply YES" not in replies[OTHER]
    assert "Gracias" in replies["+12015550177"]
    # Anything else is a conversation for coordinators (no answer; "stop" inside a
    # sentence is not STOP).
    assert "+12015550155" not in replies
    admin = await rt.accounts.get_user("admin")
    [item] = [i for i in await rt.sms.threads(admin) if i.post_id is None]
    assert item.unread and item.masked == "…0155" and "can someone stop by" in item.last
    view = await rt.sms.thread(admin, item.id)
    assert view.number == "+1 201-555-0155" and not view.opted_out
    # A group's own words.
    await rt.sms_settings.set_keywords(None, "need: PIDO\noffer: DOY, TENGO PARA DAR")
    await deliver(rt, android, "+12015550144", "pido una silla de ruedas")
    await deliver(rt, android, "+12015550133", "Tengo para dar: ropa de niño")
    await work(rt)
    titles = {p.title: p.kind.value for p in await held(rt)}
    assert titles["una silla de ruedas"] == "need" and titles["ropa de niño"] == "offer"
    with pytest.raises(Invalid):
        await rt.sms_settings.set_keywords(None, "need: STOP")


async def test_stop_and_start(runtime: Runtime, android: FakeAndroid,
                              twilio: FakeTwilio) -> None:
    rt = runtime
    admin = await rt.accounts.get_user("admin")
    await use_android(rt, android)
    await deliver(rt, android, NEIGHBOR, "NEED a winter coat, size L")
    await work(rt)
    [post] = await held(rt)
    tid = await rt.sms.thread_for_post(admin, post.id)
    android.sent.clear()
    await deliver(rt, android, NEIGHBOR, "Stop")
    await work(rt)
    # The phone has nobody else to answer STOP: the one confirmation is ours.
    [confirm] = android.sent
    assert confirm.to == NEIGHBOR and "no more texts" in confirm.body
    with pytest.raises(Conflict):
        await rt.sms.relay(admin, tid, "Did you find a coat?")
    await deliver(rt, android, NEIGHBOR, "help")  # no answer while stopped
    await deliver(rt, android, NEIGHBOR, "NEED boots too")
    await work(rt)
    assert len(android.sent) == 1
    assert len(await held(rt)) == 2  # what they sent is kept for coordinators
    await deliver(rt, android, NEIGHBOR, "ALTA")  # START, in Spanish
    await work(rt)
    assert "Recibirá nuestros mensajes" in android.sent[-1].body
    await rt.sms.relay(admin, tid, "Did you find a coat?")
    await work(rt)
    assert android.sent[-1].body == "Elm St Mutual Aid: Did you find a coat?"
    await deliver(rt, android, NEIGHBOR, "HELP")
    await work(rt)
    assert "Text NEED" in android.sent[-1].body

    # Twilio answers STOP/START/HELP itself: we record and stay quiet.
    await use_twilio(rt, twilio)
    await deliver(rt, twilio, OTHER, "STOP")
    await work(rt)
    assert twilio.sent == []
    await rt.sms.send_test(admin, OTHER)
    await work(rt)
    assert twilio.sent == []  # not sent to a number that said STOP
    await deliver(rt, twilio, OTHER, "UNSTOP")
    await rt.sms.send_test(admin, OTHER)
    await work(rt)
    assert [s.body for s in twilio.sent] == [
        "Elm St Mutual Aid: This is a test text from your group's server. It works!"]


async def test_twilio_refusing_an_unsubscribed_number_records_the_stop(
        runtime: Runtime, twilio: FakeTwilio) -> None:
    rt = runtime
    admin = await rt.accounts.get_user("admin")
    await use_twilio(rt, twilio)
    twilio.unsubscribed.add(NEIGHBOR)  # they texted STOP to Twilio before we heard of it
    await rt.sms.send_test(admin, NEIGHBOR)
    await work(rt)
    assert twilio.sent == [] and twilio.requests == 1
    await rt.sms.send_test(admin, NEIGHBOR)
    await work(rt)
    assert twilio.requests == 1  # known now: not even tried
    assert (await rt.sms.queue_counts()).get("failed") == 1


# -- outbound: relay, consent, the helper's contact ---------------------------------------------

async def test_relay_and_a_helpers_contact_after_the_neighbors_yes(
        runtime: Runtime, android: FakeAndroid) -> None:
    rt = runtime
    admin = await rt.accounts.get_user("admin")
    helper = await rt.accounts.create_user("rosa", role=Role.MEMBER)
    await use_android(rt, android)
    await deliver(rt, android, NEIGHBOR, "NEED someone to fix a leaking sink")
    await work(rt)
    [post] = await held(rt)
    pid = post.id
    await rt.group_settings.decide_held(admin, pid, approve=True)
    answer = await rt.responses.respond(helper, pid, "I am a plumber, happy to help")
    conv = await rt.responses.accept(admin, answer.id)
    # The coordinator's side of the exchange can text the neighbor.
    link = await rt.sms.exchange_link(admin, conv.id)
    assert link is not None and link.url == f"/admin/texts/post/{pid}"
    # The helper cannot until the neighbor says YES.
    assert await rt.sms.exchange_link(helper, conv.id) is None
    with pytest.raises(Conflict):
        await rt.sms.send_contact(helper, conv.id, "Rosa, at the community center")
    tid = await rt.sms.thread_for_post(admin, pid)
    await rt.sms.relay(admin, tid, "A plumber can come Thursday morning. OK?")
    await work(rt)
    assert android.sent[-1].body == ("Elm St Mutual Aid: A plumber can come Thursday "
                                     "morning. OK?")
    assert android.sent[-1].to == NEIGHBOR
    await deliver(rt, android, NEIGHBOR, "Sí")
    await work(rt)
    assert "we will text you" not in android.sent[-1].body  # Spanish: they answered SI
    assert "Cuando alguien ofrezca ayuda" in android.sent[-1].body
    link = await rt.sms.exchange_link(helper, conv.id)
    assert link is not None and link.url == f"/conversations/{conv.id}/text"
    # A phone number in what the helper writes is sent only once they confirm it.
    with pytest.raises(Invalid) as refused:
        await rt.sms.send_contact(helper, conv.id, "Call Rosa at (201) 555-0199")
    assert refused.value.field == "confirm"
    await rt.sms.send_contact(helper, conv.id, "Ask for Rosa at the Elm St community center, "
                                               "Thursdays 9 to 12")
    await work(rt)
    last = android.sent[-1]
    assert last.to == NEIGHBOR and "Ask for Rosa at the Elm St community center" in last.body
    assert "555-0199" not in last.body
    await rt.sms.send_contact(helper, conv.id, "Call Rosa at (201) 555-0199", confirm=True)
    await work(rt)
    assert "(201) 555-0199" in android.sent[-1].body
    # Another member of the group is no part of this.
    other = await rt.accounts.create_user("sam", role=Role.MEMBER)
    assert await rt.sms.exchange_link(other, conv.id) is None
    with pytest.raises(NotFound):
        await rt.sms.send_contact(other, conv.id, "me!")
    # The conversation page's history holds every text, in and out.
    view = await rt.sms.thread(admin, tid)
    assert [t.direction for t in view.texts].count("in") == 2
    assert all(t.state == "sent" for t in view.texts if t.direction == "out")


async def test_rate_limits_per_number_and_per_day(runtime: Runtime, android: FakeAndroid
                                                  ) -> None:
    rt = runtime
    rt.limits.scale = 0.2  # 2 texts to a number a day, 60 a day in all, 6 in an hour
    admin = await rt.accounts.get_user("admin")
    await use_android(rt, android)
    await deliver(rt, android, NEIGHBOR, "hello?")
    await work(rt)
    [item] = await rt.sms.threads(admin)
    await rt.sms.relay(admin, item.id, "Hi! How can we help?")
    await rt.sms.relay(admin, item.id, "Are you there?")
    with pytest.raises(RateLimited):
        await rt.sms.relay(admin, item.id, "Hello again")
    # Automatic answers to that number stop too (quietly), and a STOP is still confirmed.
    await deliver(rt, android, NEIGHBOR, "NEED bread")
    await deliver(rt, android, NEIGHBOR, "STOP")
    await work(rt)
    bodies = [s.body for s in android.sent if s.to == NEIGHBOR]
    assert len(bodies) == 3 and "no more texts" in bodies[-1]
    # Texts from one number past the hourly limit are dropped, unanswered.
    for n in range(8):
        await deliver(rt, android, OTHER, f"message {n}")
    await work(rt)
    [other] = [i for i in await rt.sms.threads(admin) if i.masked == "…0188"]
    texts = (await rt.sms.thread(admin, other.id)).texts
    assert len(texts) == 6


# -- the queue ---------------------------------------------------------------------------------

async def test_a_provider_down_then_up_gets_each_text_once(runtime: Runtime,
                                                           twilio: FakeTwilio) -> None:
    rt = runtime
    admin = await rt.accounts.get_user("admin")
    await use_twilio(rt, twilio)
    await deliver(rt, twilio, NEIGHBOR, "anyone there?")
    await work(rt)
    [item] = await rt.sms.threads(admin)
    await twilio.stop()  # connection refused
    await rt.sms.relay(admin, item.id, "Yes! We are here.")
    await work(rt)
    assert await rt.sms.last_error() is not None and "could not reach Twilio" in (
        await rt.sms.last_error() or "")
    assert (await rt.sms.queue_counts()).get("pending") == 1
    view = await rt.sms.thread(admin, item.id)
    assert view.texts[-1].state == "waiting"
    await twilio.start()
    twilio.status_override = 503  # up, but failing
    async with rt.db.write() as conn:
        from fediaid.storage import sms as repo

        await repo.retry_now(conn)
    await work(rt)
    assert twilio.requests == 1 and twilio.sent == []
    twilio.status_override = None
    async with rt.db.write() as conn:
        await repo.retry_now(conn)
    await work(rt)
    await work(rt)
    assert [s.body for s in twilio.sent] == ["Elm St Mutual Aid: Yes! We are here."]
    assert (await rt.sms.queue_counts()).get("pending", 0) == 0
    assert (await rt.sms.thread(admin, item.id)).texts[-1].state == "sent"
    async with rt.db.read() as conn:
        left = (await conn.execute(select(func.count()).select_from(tables.sms_queue).where(
            tables.sms_queue.c.number.is_not(None),
            tables.sms_queue.c.state != ItemState.PENDING.value))).scalar_one()
    assert left == 0  # finished rows keep no number


async def test_a_phone_on_the_groups_network_needs_its_own_allowance(
        tmp_path: Path, db_url: str, android: FakeAndroid) -> None:
    from tests.support.instances import open_initialised_runtime

    rt = await open_initialised_runtime(tmp_path, db_url, dev=False)
    try:
        admin = await rt.accounts.get_user("admin")
        with pytest.raises(Invalid):  # an allowance is for an address, never a name
            await rt.sms_settings.save(None, provider="android", number=GROUP_PHONE,
                                       account="sms", api_url="http://phone.lan:8080",
                                       allow_private=True, secret="x")
        await use_android(rt, android)
        await rt.sms.send_test(admin, NEIGHBOR)
        await work(rt)
        assert android.requests == 0  # the address policy refused 127.0.0.1
        assert "could not reach the phone" in (await rt.sms.last_error() or "")
        await use_android(rt, android, allow_private=True)
        assert (await rt.sms_settings.current()).private_address == "127.0.0.1"
        await work(rt)
        assert [s.to for s in android.sent] == [NEIGHBOR]
        # No hole for anything else: the project's client still refuses that address.
        result = await rt.core.transport().post(f"{android.base}/message", b"{}", {})
        assert result.status is None and android.requests == 1
    finally:
        await rt.close()


# -- deleting ----------------------------------------------------------------------------------

async def test_the_number_goes_with_the_need(runtime: Runtime, android: FakeAndroid) -> None:
    rt = runtime
    admin = await rt.accounts.get_user("admin")
    await use_android(rt, android)
    await deliver(rt, android, NEIGHBOR, "NEED diapers size 4")
    await deliver(rt, android, OTHER, "NEED a ride to court on Monday")
    await work(rt)
    keep, gone = sorted(await held(rt), key=lambda p: p.title)
    assert "court" in keep.title
    await rt.group_settings.decide_held(admin, gone.id, approve=False)
    await rt.group_settings.decide_held(admin, keep.id, approve=True)
    await rt.posts.delete_now(admin, keep.id)

    async with rt.db.read() as conn:
        for table in (tables.intake_records, tables.sms_threads, tables.sms_texts,
                      tables.sms_queue, tables.posts, tables.statuses, tables.audit_log):
            dump = json.dumps([[str(v) for v in r] for r in await conn.execute(select(table))])
            for number in (NEIGHBOR, OTHER):
                assert number not in dump and number[2:] not in dump, (table.name, number)
    # A conversation about nothing in particular goes after the retention window.
    await deliver(rt, android, NEIGHBOR, "thank you all!")
    await work(rt)
    assert len(await rt.sms.threads(admin)) == 1
    from datetime import timedelta

    from fediaid.storage.types import utcnow

    assert await rt.sms.housekeeping(utcnow() + timedelta(days=400)) == 1
    assert await rt.sms.threads(admin) == []


async def test_the_running_worker_answers_by_itself(runtime: Runtime, android: FakeAndroid
                                                    ) -> None:
    import asyncio

    rt = runtime
    await use_android(rt, android)
    stop = asyncio.Event()
    task = asyncio.create_task(SmsWorker(rt, name="running").run(stop))
    try:
        await deliver(rt, android, NEIGHBOR, "NEED hot soup")  # wakes the worker
        for _ in range(200):
            if android.sent:
                break
            await asyncio.sleep(0.05)
        assert [s.to for s in android.sent] == [NEIGHBOR]
        assert [p.title for p in await held(rt)] == ["hot soup"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
