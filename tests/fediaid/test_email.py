"""E-mail through a real SMTP server on 127.0.0.1 (aiosmtpd), on SQLite and PostgreSQL:
confirmation, each kind of notification, the digest's filters and period, one-click
unsubscribe, login links by e-mail, an SMTP server that is down and then up (nothing lost,
sent once), and the SMTP settings (checked, the password sealed)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from fediaid.domain.email import Choices, Kind, Period
from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, Invalid, Unauthenticated
from fediaid.jobs.email import EmailWorker
from fediaid.services.runtime import Runtime
from fediaid.storage.tables import email_outbox, group_settings
from fediaid.storage.types import utcnow
from tests.support.smtp import SmtpSink, free_port

SENDER = "aid@elm.test"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


async def configure(rt: Runtime, sink: SmtpSink) -> None:
    await rt.email_settings.save(None, host="127.0.0.1", port=sink.port, tls="none",
                                 username="", sender=SENDER)


async def send_all(rt: Runtime, worker: EmailWorker | None = None) -> int:
    return await (worker or EmailWorker(rt)).run_once()


def link_in(text: str, path: str) -> str:
    m = re.search(rf"https?://[^/\s]+({re.escape(path)}\S+)", text)
    assert m, text
    return m.group(1)


async def confirmed(rt: Runtime, sink: SmtpSink, user: User, address: str) -> None:
    await rt.email.add_address(user, address)
    await send_all(rt)
    path = link_in(sink.to(address)[-1].text, "/settings/email/confirm/")
    assert await rt.email.confirm(path.rsplit("/", 1)[1]) == user.id


async def rows(rt: Runtime) -> list[dict[str, object]]:
    async with rt.db.read() as conn:
        return [dict(r._mapping) for r in await conn.execute(
            select(email_outbox).order_by(email_outbox.c.id))]


async def test_confirmation_link(runtime: Runtime, smtp: SmtpSink) -> None:
    rt = runtime
    maria = await rt.accounts.create_user("maria")
    with pytest.raises(Conflict):  # no SMTP server yet: nothing to confirm with
        await rt.email.add_address(maria, "maria@mail.test")
    await configure(rt, smtp)
    with pytest.raises(Invalid):
        await rt.email.add_address(maria, "maria at mail.test")
    await rt.email.add_address(maria, "Maria.R@Mail.Test")
    # The queue says what to send, never a link: the link is made when it is sent.
    queued = await rows(rt)
    assert [r["kind"] for r in queued] == ["confirm"] and queued[0]["to_address"] is None
    assert await send_all(rt) == 1
    [msg] = smtp.to("Maria.R@mail.test")  # the domain part is lower-cased
    assert msg["From"] == f"Elm St Mutual Aid <{SENDER}>"
    assert "Confirm your e-mail address" in msg["Subject"]
    assert not msg["List-Unsubscribe"]  # asked for, not something to unsubscribe from
    path = link_in(msg.text, "/settings/email/confirm/")
    assert path in msg.html
    secret = path.rsplit("/", 1)[1]
    mine = await rt.email.mine(maria)
    assert mine is not None and mine.address is None and mine.pending == "Maria.R@mail.test"
    assert await rt.email.confirm(secret) == maria.id
    mine = await rt.email.mine(maria)
    assert mine is not None and mine.address == "Maria.R@mail.test" and mine.pending is None
    with pytest.raises(Unauthenticated):  # once
        await rt.email.confirm(secret)
    # A new address is only used once confirmed; an old link for a replaced address fails.
    await rt.email.add_address(maria, "first@mail.test")
    await send_all(rt)
    old = link_in(smtp.to("first@mail.test")[-1].text, "/settings/email/confirm/")
    await rt.email.add_address(maria, "second@mail.test")
    await send_all(rt)
    with pytest.raises(Unauthenticated):
        await rt.email.confirm(old.rsplit("/", 1)[1])
    mine = await rt.email.mine(maria)
    assert mine is not None and mine.address == "Maria.R@mail.test"
    # An expired link does not confirm.
    from fediaid.storage.tables import email_confirmations
    async with rt.db.write() as conn:
        await conn.execute(update(email_confirmations).values(
            expires_at=utcnow() - timedelta(seconds=1)))
    new = link_in(smtp.to("second@mail.test")[-1].text, "/settings/email/confirm/")
    with pytest.raises(Unauthenticated):
        await rt.email.confirm(new.rsplit("/", 1)[1])


async def _need(rt: Runtime, user: User, title: str, **more: str) -> int:
    post = await rt.posts.create(user, {"kind": "need", "title": title, **more})
    return post.id


async def test_each_notification_kind(runtime: Runtime, smtp: SmtpSink) -> None:
    rt = runtime
    await configure(rt, smtp)
    maria = await rt.accounts.create_user("maria")
    sam = await rt.accounts.create_user("sam")
    await confirmed(rt, smtp, maria, "maria@mail.test")
    await confirmed(rt, smtp, sam, "sam@mail.test")
    pid = await _need(rt, maria, "Two bags of groceries")
    response = await rt.responses.respond(sam, pid, "I live close, my number is 555 0100")
    assert await send_all(rt) == 1
    [answer] = [m for m in smtp.to("maria@mail.test") if "answer" in m["Subject"].lower()]
    assert answer["Subject"] == "New answer: Two bags of groceries"
    assert "sam answered your need “Two bags of groceries”" in answer.text
    assert f"/posts/{pid}" in answer.text and f"/posts/{pid}" in answer.html
    # What the neighbor wrote stays on the server.
    assert "555 0100" not in answer.text and "555 0100" not in answer.html
    assert "sam@mail.test" not in str(answer.message)
    # One-click unsubscribe (RFC 8058): an https URL in angle brackets and the POST header.
    assert re.fullmatch(r"<http://a\.test/email/unsubscribe/\d+/answers/[0-9a-f]{32}>",
                        answer["List-Unsubscribe"])
    assert answer["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert answer["Message-ID"].startswith("<email-")
    assert answer.message.get_content_type() == "multipart/alternative"

    conv = await rt.responses.accept(maria, response.id)
    await send_all(rt)
    [accepted] = [m for m in smtp.to("sam@mail.test") if "message" in m["Subject"].lower()]
    assert "maria accepted your answer to “Two bags of groceries”" in accepted.text
    assert "/messages/" in accepted["List-Unsubscribe"]

    await rt.responses.send(sam, conv.id, "See you at 5, ring twice")
    await send_all(rt)
    [message] = [m for m in smtp.to("maria@mail.test") if "message" in m["Subject"].lower()]
    assert "sam sent you a message about “Two bags of groceries”" in message.text
    assert f"/conversations/{conv.id}" in message.text
    assert "ring twice" not in message.text

    # Turned off: nothing is queued for that kind.
    await rt.email.save_choices(maria, Choices(answers=False, messages=True))
    pid2 = await _need(rt, maria, "A lift to the clinic")
    await rt.responses.respond(sam, pid2, "")
    before = len(smtp.messages)
    assert await send_all(rt) == 0 and len(smtp.messages) == before
    # A member without a confirmed address gets nothing (and nothing is queued).
    tom = await rt.accounts.create_user("tom")
    pid3 = await _need(rt, tom, "Someone to walk my dog")
    await rt.responses.respond(sam, pid3, "")
    assert await send_all(rt) == 0


async def test_digest_filters_and_period(runtime: Runtime, smtp: SmtpSink) -> None:
    rt = runtime
    await configure(rt, smtp)
    admin = await rt.accounts.get_user("admin")
    await rt.group_settings.set_areas(admin, [("north", "North side"), ("south", "South side")])
    maria = await rt.accounts.create_user("maria")
    sam = await rt.accounts.create_user("sam")
    await confirmed(rt, smtp, maria, "maria@mail.test")
    await rt.email.save_choices(maria, Choices(digest=Period.WEEKLY, categories=("food",),
                                               areas=("north",)))
    await _need(rt, sam, "Rice and beans", category="food", area="north")
    await _need(rt, sam, "Bread for the south", category="food", area="south")
    await _need(rt, sam, "A ride north", category="transport", area="north")
    await _need(rt, maria, "My own food need", category="food", area="north")
    await _need(rt, sam, "Only for members, food", category="food", area="north",
                visibility="members")
    now = utcnow() + timedelta(seconds=1)
    assert await rt.email.queue_digests(now) == 1
    assert await rt.email.queue_digests(now) == 0  # queued once per period
    await send_all(rt)
    [digest] = [m for m in smtp.to("maria@mail.test") if "week" in m["Subject"]]
    assert digest["Subject"] == "This week at Elm St Mutual Aid: 2 new offers and needs"
    assert "Rice and beans" in digest.text and "Only for members, food" in digest.text
    assert "North side" in digest.text
    for absent in ("Bread for the south", "A ride north", "My own food need"):
        assert absent not in digest.text and absent not in digest.html
    assert "/digest/" in digest["List-Unsubscribe"]
    # Weekly: not again the next day; a week later, only what is new since.
    assert await rt.email.queue_digests(now + timedelta(days=1)) == 0
    await _need(rt, sam, "Tortillas, north", category="food", area="north")
    async with rt.db.write() as conn:  # the new post is from the coming week
        from fediaid.storage.tables import posts
        await conn.execute(update(posts).where(posts.c.title == "Tortillas, north").values(
            created_at=now + timedelta(days=2)))
    assert await rt.email.queue_digests(now + timedelta(days=7)) == 1
    await send_all(rt)
    second = [m for m in smtp.to("maria@mail.test") if "week" in m["Subject"]][-1]
    assert "Tortillas, north" in second.text and "Rice and beans" not in second.text
    # Nothing new: no e-mail at all.
    count = len(smtp.messages)
    assert await rt.email.queue_digests(now + timedelta(days=14)) == 1
    await send_all(rt)
    assert len(smtp.messages) == count
    # Daily: due a day later.
    await rt.email.save_choices(maria, Choices(digest=Period.DAILY))
    assert await rt.email.queue_digests(now + timedelta(days=14, hours=23)) == 0
    assert await rt.email.queue_digests(now + timedelta(days=15)) == 1


async def test_one_click_unsubscribe(runtime: Runtime, smtp: SmtpSink) -> None:
    rt = runtime
    await configure(rt, smtp)
    maria = await rt.accounts.create_user("maria")
    sam = await rt.accounts.create_user("sam")
    await confirmed(rt, smtp, maria, "maria@mail.test")
    url = rt.email.unsubscribe_url(maria.id, Kind.ANSWERS)
    _, uid, kind, token = url.rsplit("/", 3)
    # Signed per member and kind: another member's id or another kind does not work.
    with pytest.raises(Forbidden):
        await rt.email.unsubscribe(sam.id, kind, token)
    with pytest.raises(Forbidden):
        await rt.email.unsubscribe(maria.id, "messages", token)
    with pytest.raises(Forbidden):
        await rt.email.unsubscribe(maria.id, "confirm", token)
    assert await rt.email.unsubscribe(int(uid), kind, token) is True
    mine = await rt.email.mine(maria)
    assert mine is not None and not mine.choices.answers and mine.choices.messages
    assert await rt.email.unsubscribe(int(uid), kind, token) is False  # already off
    # A message queued before the unsubscribe is not sent after it.
    await rt.email.save_choices(maria, Choices(answers=True))
    pid = await _need(rt, maria, "Soup")
    await rt.responses.respond(sam, pid, "")
    await rt.email.unsubscribe(int(uid), kind, token)
    before = len(smtp.messages)
    await send_all(rt)
    assert len(smtp.messages) == before
    assert [r["state"] for r in await rows(rt)][-1] == "cancelled"


async def test_login_link_by_email_without_enumeration(runtime: Runtime,
                                                       smtp: SmtpSink) -> None:
    rt = runtime
    await configure(rt, smtp)
    maria = await rt.accounts.create_user("maria")
    await rt.accounts.create_user("noaddress")
    await confirmed(rt, smtp, maria, "maria@mail.test")
    before = len(smtp.messages)
    answers = {who: await rt.email.request_login_link(who, client="198.51.100.7")
               for who in ("maria", "nobody", "noaddress", "MARIA@MAIL.TEST",
                           "maria@mail.test", "stranger@mail.test")}
    assert len(set(answers.values())) == 1  # the same words whoever was named
    await send_all(rt)
    sent = smtp.messages[before:]
    # maria by name and by address (the domain is not case-sensitive; "MARIA" as typed is
    # another local part, as RFC 5321 allows): two links, both to her; nobody else.
    assert {tuple(m.envelope_to) for m in sent} == {("maria@mail.test",)}
    assert len(sent) == 2
    path = link_in(sent[0].text, "/login/")
    user = await rt.accounts.use_login_link(path.rsplit("/", 1)[1])
    assert user.id == maria.id
    # The queue keeps nothing of what was typed once it is handled.
    assert all(r["ref"] is None for r in await rows(rt) if r["kind"] == "login")
    # Suspended accounts get nothing.
    from fediaid.storage.tables import users
    async with rt.db.write() as conn:
        await conn.execute(update(users).where(users.c.id == maria.id).values(disabled=True))
    await rt.email.request_login_link("maria", client="198.51.100.7")
    before = len(smtp.messages)
    await send_all(rt)
    assert len(smtp.messages) == before


async def test_login_link_requests_are_rate_limited(runtime: Runtime, smtp: SmtpSink) -> None:
    from fediaid.errors import RateLimited

    rt = runtime
    await configure(rt, smtp)
    maria = await rt.accounts.create_user("maria")
    await confirmed(rt, smtp, maria, "maria@mail.test")
    rt.limits.scale = 1.0
    for _ in range(10):
        await rt.email.request_login_link("maria", client="203.0.113.9")
    # Over the limit, a name that exists and one that does not get the same refusal.
    for who in ("maria", "nobody"):
        with pytest.raises(RateLimited):
            await rt.email.request_login_link(who, client="203.0.113.9")
    before = len(smtp.messages)
    await send_all(rt)
    # Per account, at most 3 links an hour are sent, however many were asked for.
    assert len(smtp.messages) - before == 3


async def test_smtp_down_then_up_loses_nothing_and_sends_once(runtime: Runtime) -> None:
    rt = runtime
    rt.settings = replace(rt.settings, delivery=replace(rt.settings.delivery,
                                                        retry_scale=0.001))
    sink = SmtpSink()  # not started: the port refuses connections
    await configure(rt, sink)
    for i in range(3):
        await rt.email_settings.send_test(None, f"ops{i}@mail.test")
    worker = EmailWorker(rt)
    assert await send_all(rt, worker) == 3
    queued = await rows(rt)
    assert [r["state"] for r in queued] == ["pending"] * 3
    assert all("could not reach the mail server" in str(r["last_error"]) for r in queued)
    # Still down: tried again, still waiting, nothing given up.
    await asyncio.sleep(0.1)  # past the (shortened) retry delay
    await send_all(rt, worker)
    assert all(r["state"] == "pending" and r["attempts"] == 2 for r in await rows(rt))
    sink.start()
    try:
        await asyncio.sleep(0.2)  # past the (shortened) retry delay
        await send_all(rt, worker)
        assert sorted(m.envelope_to[0] for m in sink.messages) == [
            "ops0@mail.test", "ops1@mail.test", "ops2@mail.test"]
        assert all(r["state"] == "done" and r["to_address"] is None for r in await rows(rt))
        # Sent once: the next rounds send nothing more.
        await asyncio.sleep(0.2)
        assert await send_all(rt, worker) == 0
        assert len(sink.messages) == 3
        # A recipient the server refuses for good is given up; the others are not held up.
        sink.refuse.add("gone@mail.test")
        await rt.email_settings.send_test(None, "gone@mail.test")
        await rt.email_settings.send_test(None, "ops3@mail.test")
        await send_all(rt, worker)
        states = {r["id"]: r["state"] for r in await rows(rt)}
        assert list(states.values())[-2:] == ["failed", "done"]
        assert "recipient refused (550)" in (await rt.email.last_error() or "")
    finally:
        sink.stop()


async def test_the_at_least_once_window(runtime: Runtime, smtp: SmtpSink) -> None:
    """A worker that dies after the SMTP server accepted a message, before recording it,
    leaves a leased row: it is sent again when the lease ends, with the same Message-ID.
    A worker whose lease was taken over does not record over the new owner."""
    rt = runtime
    await configure(rt, smtp)
    await rt.email_settings.send_test(None, "ops@mail.test")
    dead = EmailWorker(rt, name="dead")
    [job] = await rt.email_outbox.claim(dead.name)
    smtp_settings, password = await rt.email_outbox.smtp()
    [out] = await rt.email_outbox.prepare(job, smtp_settings)
    await dead._send(smtp_settings, password, out)  # accepted ... and the process dies
    await dead._close()
    async with rt.db.write() as conn:  # the lease runs out
        await conn.execute(update(email_outbox).values(lease_until=utcnow()))
    assert await send_all(rt) == 1
    first, second = smtp.to("ops@mail.test")
    assert first["Message-ID"] == second["Message-ID"]
    # The dead worker's late record changes nothing.
    assert (await rt.email_outbox.finish(job, "dead", sent=True)).value == "pending"
    assert [r["state"] for r in await rows(rt)] == ["done"]


async def test_smtp_settings_are_checked_and_the_password_sealed(runtime: Runtime,
                                                                 smtp: SmtpSink) -> None:
    rt = runtime
    member = await rt.accounts.create_user("maria")
    with pytest.raises(Forbidden):
        await rt.email_settings.save(member, host="smtp.mail.test", port=587,
                                     tls="starttls", username="", sender=SENDER)
    admin = await rt.accounts.get_user("admin")
    bad = [({"host": "not a host"}, "host"), ({"port": "70000"}, "port"),
           ({"port": "abc"}, "port"), ({"tls": "ssl3"}, "tls"),
           ({"sender": "aid"}, "sender"), ({"sender": "a@b.test\nBcc: x@y.test"}, "sender"),
           ({"username": "a\r\nb"}, "username")]
    good = {"host": "smtp.mail.test", "port": "", "tls": "tls", "username": "aid",
            "sender": SENDER}
    for change, field in bad:
        with pytest.raises(Invalid) as exc:
            await rt.email_settings.save(admin, **{**good, **change})
        assert exc.value.field == field, change
    smtp_settings = await rt.email_settings.save(admin, **good, password="s3cret-Pass")
    assert smtp_settings.port == 465 and smtp_settings.has_password
    async with rt.db.read() as conn:
        stored = {r.key: r.value for r in await conn.execute(select(group_settings))}
    assert "s3cret-Pass" not in str(stored)
    assert await rt.email_settings.password() == "s3cret-Pass"
    # An empty password keeps the one set; clearing removes it.
    await rt.email_settings.save(admin, **good, password=None)
    assert await rt.email_settings.password() == "s3cret-Pass"
    await rt.email_settings.save(admin, **good, clear_password=True)
    assert await rt.email_settings.password() is None
    from fediaid.storage.tables import audit_log
    async with rt.db.read() as conn:
        log = [r.summary for r in await conn.execute(select(audit_log))]
    assert any("changed the e-mail settings" in s for s in log)
    assert "s3cret-Pass" not in str(log)
    # With a login: the worker logs in with the sealed password (aiosmtpd without AUTH
    # refuses it: the message waits, with the reason for the coordinator).
    await rt.email_settings.save(admin, host="127.0.0.1", port=str(smtp.port), tls="none",
                                 username="aid", sender=SENDER, password="s3cret-Pass")
    await rt.email_settings.send_test(admin, "ops@mail.test")
    await send_all(rt)
    assert [r["state"] for r in await rows(rt)] == ["pending"]
    assert not smtp.messages
    _ = free_port


@pytest.mark.parametrize("mode", ["starttls", "tls"])
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS
async def test_tls_modes_and_login(runtime: Runtime, mode: str) -> None:
    """STARTTLS and implicit TLS against a server with a certificate from a test CA, logging
    in with the sealed password; a certificate nobody vouches for sends nothing."""
    from tests.fediaid.test_transport import Certs, certs, trusting

    rt = runtime
    rt.settings = replace(rt.settings, delivery=replace(rt.settings.delivery,
                                                        retry_scale=0.001))
    admin = await rt.accounts.get_user("admin")
    sink = SmtpSink(tls=mode, context=Certs.server(certs().signed),
                    users={"aid": "s3cret-Pass"}).start()
    try:
        await rt.email_settings.save(admin, host="127.0.0.1", port=str(sink.port), tls=mode,
                                     username="aid", sender=SENDER, password="wrong")
        await rt.email_settings.send_test(admin, "ops@mail.test")
        with trusting(certs().ca):
            await send_all(rt)
            assert not sink.messages
            assert "login refused" in (await rt.email.last_error() or "")
            await rt.email_settings.save(admin, host="127.0.0.1", port=str(sink.port),
                                         tls=mode, username="aid", sender=SENDER,
                                         password="s3cret-Pass")
            await send_all(rt)
        assert [m.envelope_to for m in sink.messages] == [["ops@mail.test"]]
        assert sink.logins == ["aid"]
    finally:
        sink.stop()
    # A self-signed certificate (not trusted): nothing is sent, the message waits.
    sink = SmtpSink(tls=mode, context=Certs.server(certs().self_signed)).start()
    try:
        await rt.email_settings.save(admin, host="127.0.0.1", port=str(sink.port), tls=mode,
                                     username="", sender=SENDER)
        await rt.email_settings.send_test(admin, "ops2@mail.test")
        with trusting(certs().ca):
            await send_all(rt)
        assert not sink.messages
        assert [r["state"] for r in await rows(rt)][-1] == "pending"
        assert "certificate" in (await rt.email.last_error() or "")
    finally:
        sink.stop()


async def test_the_running_workers_send_by_themselves(runtime: Runtime, smtp: SmtpSink) -> None:
    """`fediaid serve` / `fediaid worker`: the e-mail worker wakes when something is queued,
    and the lifecycle loop queues digests that are due."""
    from fediaid.jobs.runner import Workers

    rt = runtime
    rt.settings = replace(rt.settings, lifecycle_seconds=0.1)
    await configure(rt, smtp)
    maria = await rt.accounts.create_user("maria")
    sam = await rt.accounts.create_user("sam")
    workers = Workers(rt)
    workers.start()
    try:
        await rt.email.add_address(maria, "maria@mail.test")

        async def arrived(n: int) -> None:
            for _ in range(200):
                if len(smtp.messages) >= n:
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"{len(smtp.messages)} messages, wanted {n}")

        await arrived(1)
        path = link_in(smtp.messages[0].text, "/settings/email/confirm/")
        await rt.email.confirm(path.rsplit("/", 1)[1])
        await _need(rt, sam, "Blankets for the shelter")
        await rt.email.save_choices(maria, Choices(digest=Period.DAILY))
        await arrived(2)
        assert "Blankets for the shelter" in smtp.messages[1].text
        assert smtp.messages[1]["Subject"].startswith("Today at Elm St Mutual Aid")
    finally:
        await workers.stop()


async def test_messages_in_the_members_language(runtime: Runtime, smtp: SmtpSink) -> None:
    rt = runtime
    await configure(rt, smtp)
    rosa = await rt.accounts.create_user("rosa")
    sam = await rt.accounts.create_user("sam")
    await rt.email.add_address(rosa, "rosa@mail.test", language="es")
    await send_all(rt)
    [confirm] = smtp.to("rosa@mail.test")
    assert confirm["Subject"] == "Confirme su dirección de correo para Elm St Mutual Aid"
    assert confirm["Content-Language"] == "es"
    path = link_in(confirm.text, "/settings/email/confirm/")
    await rt.email.confirm(path.rsplit("/", 1)[1])
    pid = await _need(rt, rosa, "Pañales, talla 4")
    await rt.responses.respond(sam, pid, "")
    await send_all(rt)
    answer = smtp.to("rosa@mail.test")[-1]
    assert answer["Subject"] == "Nueva respuesta: Pañales, talla 4"
    assert "sam respondió a su necesidad «Pañales, talla 4»." in answer.text
    # A language without a catalog falls back to English.
    await rt.email.save_choices(rosa, Choices(), language="xx")
    mine = await rt.email.mine(rosa)
    assert mine is not None and mine.language == "en"


async def test_housekeeping_forgets_finished_rows_and_expired_links(runtime: Runtime,
                                                                    smtp: SmtpSink) -> None:
    from fediaid.storage.tables import email_confirmations

    rt = runtime
    await configure(rt, smtp)
    maria = await rt.accounts.create_user("maria")
    await rt.email.add_address(maria, "maria@mail.test")
    await rt.email_settings.send_test(None, "ops@mail.test")
    await send_all(rt)
    worker = EmailWorker(rt)
    assert await worker.housekeeping() == (0, 0)  # nothing old yet
    async with rt.db.write() as conn:
        await conn.execute(update(email_outbox).values(
            created_at=utcnow() - timedelta(days=31)))
        await conn.execute(update(email_confirmations).values(
            expires_at=utcnow() - timedelta(seconds=1)))
    assert await worker.housekeeping() == (0, 2)
    async with rt.db.read() as conn:
        assert (await conn.execute(select(email_confirmations))).first() is None
    assert await rows(rt) == []
