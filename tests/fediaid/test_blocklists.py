"""Shared blocklists: Mastodon's CSV (round trip, bad files change nothing), the published
document, proposals from a subscribed list (nothing applies until accepted; retractions),
and silenced domains' notifications. In process, SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest

from fediaid.domain.blocklists import (
    CSV_HEADER,
    BlocklistError,
    Change,
    Current,
    Entry,
    Severity,
    digest,
    obfuscated,
    parse_csv,
    parse_document,
    proposals,
    render_csv,
    render_document,
)
from fediaid.errors import Forbidden, Invalid
from fediaid.services.runtime import Runtime
from fediaid.storage import blocklists as repo

MASTODON_EXPORT = (
    "#domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate\n"
    "spam.example,suspend,true,true,Spam and harassment,false\n"
    "loud.example,silence,false,false,\"Lots of ads, no moderation\",true\n"
    "fine.example,noop,true,false,,false\n"
)


# -- the pure part ---------------------------------------------------------------------------

def test_mastodon_csv_is_read_and_written_back() -> None:
    entries = parse_csv(MASTODON_EXPORT)
    assert [(e.domain, e.severity, e.comment, e.obfuscate) for e in entries] == [
        ("spam.example", Severity.SUSPEND, "Spam and harassment", False),
        ("loud.example", Severity.SILENCE, "Lots of ads, no moderation", True),
        ("fine.example", Severity.NOOP, "", False)]
    assert entries[0].reject_media and entries[0].reject_reports
    text = render_csv(entries)
    assert text.splitlines()[0] == ",".join(CSV_HEADER)
    assert parse_csv(text) == sorted(entries, key=lambda e: e.domain)


def test_a_bare_list_and_a_bom_are_read() -> None:
    assert [e.domain for e in parse_csv("\ufeffa.example\n\nB.Example\n")] == [
        "a.example", "b.example"]
    assert {e.severity for e in parse_csv("a.example\n")} == {Severity.SUSPEND}


@pytest.mark.parametrize(("text", "words"), [
    ("", "empty"),
    ("#domain,#severity\nspam.example,delete\n", "Line 2: the severity should be"),
    ("#domain,#severity\nhttps://spam.example/,suspend\n", "Line 2:"),
    ("#domain,#severity\nsp**.example,suspend\n", "obfuscated"),
    ("#domain,#colour\na.example,red\n", "unknown column #colour"),
    ("#severity\nsuspend\n", "no #domain column"),
    ("#domain\na.example\na.example\n", "Line 3: a.example is already on line 2"),
    ("#domain,#obfuscate\na.example,maybe\n", "#obfuscate should be true or false"),
    ("#domain\na.example,extra\n", "2 values"),
    ("a.example\x00\n", "binary"),
])
def test_bad_csv_names_the_problem(text: str, words: str) -> None:
    with pytest.raises(BlocklistError) as exc:
        parse_csv(text)
    assert words in str(exc.value)


def test_a_formula_is_not_written_as_one() -> None:
    text = render_csv([Entry("a.example", Severity.SUSPEND, "=HYPERLINK(\"x\")")])
    assert "'=HYPERLINK" in text


def test_mastodon_digest_and_obfuscation() -> None:
    assert digest("spam.example") == hashlib.sha256(b"spam.example").hexdigest()
    # Mastodon's DomainBlock#public_domain: a quarter kept at each end, dots kept.
    assert obfuscated("spam.example") == "spam.****ple"
    masked = obfuscated("verybadserver.example")
    assert masked.startswith("very") and masked.endswith("mple") and "*" in masked
    assert masked.count(".") == 1 and len(masked) == len("verybadserver.example")


def test_proposals_only_make_rules_stricter_and_follow_retractions() -> None:
    theirs = [Entry("new.example", Severity.SUSPEND, "spam"),
              Entry("milder.example", Severity.SILENCE, ""),
              Entry("ours.example", Severity.SUSPEND, ""),
              Entry("stricter.example", Severity.SUSPEND, "worse now"),
              Entry("changed.example", Severity.SILENCE, "better now"),
              Entry("us.example", Severity.SUSPEND, "")]
    current = {"milder.example": Current(Severity.SUSPEND),  # ours, stricter: left alone
               "ours.example": Current(Severity.SUSPEND),  # the same
               "stricter.example": Current(Severity.SILENCE),
               "changed.example": Current(Severity.SUSPEND, source=7),  # taken from them
               "gone.example": Current(Severity.SUSPEND, source=7),  # they dropped it
               "other.example": Current(Severity.SUSPEND, source=8)}
    got = {(d.domain, d.change, d.severity) for d in proposals(theirs, current, 7,
                                                                own_domain="us.example")}
    assert got == {("new.example", Change.ADD, Severity.SUSPEND),
                   ("stricter.example", Change.CHANGE, Severity.SUSPEND),
                   ("changed.example", Change.CHANGE, Severity.SILENCE),
                   ("gone.example", Change.LIFT, Severity.NOOP)}


def test_the_published_document_round_trip() -> None:
    doc = render_document("https://a.example/groups/g/blocklist", "https://a.example/groups/g",
                          "2026-01-01T00:00:00Z",
                          [Entry("x.example", Severity.SUSPEND, "why"),
                           Entry("y.example", Severity.NOOP)])
    assert doc["type"] == "DomainBlocklist" and doc["totalItems"] == 1
    assert parse_document(doc) == [Entry("x.example", Severity.SUSPEND, "why")]
    with pytest.raises(BlocklistError):
        parse_document({"type": "Person"})
    with pytest.raises(BlocklistError):
        parse_document({"type": "DomainBlocklist", "items": [{"domain": "https://x/"}]})


# -- the service -------------------------------------------------------------------------------

async def _state(rt: Runtime) -> list[tuple[str, str, str, str]]:
    return [(r.domain, r.severity.value, r.reason, r.public_comment)
            for r in await rt.blocklists.rules()]


async def test_csv_import_preview_then_apply_and_export(runtime: Runtime) -> None:
    rt = runtime
    await rt.blocklists.set_rule(None, "fine.example", "silence", reason="noisy")
    plan = await rt.blocklists.import_preview(MASTODON_EXPORT.encode())
    assert {(d.domain, d.change) for d in plan} == {
        ("spam.example", Change.ADD), ("loud.example", Change.ADD),
        ("fine.example", Change.LIFT)}
    assert await _state(rt) == [("fine.example", "silence", "noisy", "")]  # a preview only
    await rt.blocklists.import_apply(None, MASTODON_EXPORT.encode())
    assert await _state(rt) == [
        ("loud.example", "silence", "Imported from a blocklist file",
         "Lots of ads, no moderation"),
        ("spam.example", "suspend", "Imported from a blocklist file", "Spam and harassment")]
    assert "spam.example" in rt.policy.rules.suspended  # the snapshot, at once
    assert "loud.example" in rt.policy.rules.silenced
    exported = await rt.blocklists.export_csv()
    assert parse_csv(exported) == [
        Entry("loud.example", Severity.SILENCE, "Lots of ads, no moderation", obfuscate=True),
        Entry("spam.example", Severity.SUSPEND, "Spam and harassment")]
    # The same file again changes nothing.
    assert await rt.blocklists.import_preview(exported) == []


async def test_a_bad_csv_changes_nothing(runtime: Runtime) -> None:
    rt = runtime
    await rt.blocklists.set_rule(None, "keep.example", "suspend", comment="kept")
    before = await _state(rt)
    bad = MASTODON_EXPORT + "broken example,suspend,false,false,,false\n"
    with pytest.raises(Invalid) as exc:
        await rt.blocklists.import_apply(None, bad.encode())
    assert "Line 5" in exc.value.public
    with pytest.raises(Invalid):
        await rt.blocklists.import_apply(None, b"\xff\xfe not text")
    with pytest.raises(Invalid):
        await rt.blocklists.import_apply(None, f"{rt.settings.domain}\n".encode())
    assert await _state(rt) == before
    assert rt.policy.rules.suspended == frozenset({"keep.example"})


async def test_members_cannot_change_rules(runtime: Runtime) -> None:
    rt = runtime
    maria = await rt.accounts.create_user("maria")
    with pytest.raises(Forbidden):
        await rt.blocklists.set_rule(maria, "spam.example", "suspend")
    with pytest.raises(Forbidden):
        await rt.blocklists.import_apply(maria, b"spam.example\n")
    assert await rt.blocklists.rules() == []


async def test_moderated_servers_list_by_audience(runtime: Runtime) -> None:
    from fediaid.errors import NotFound

    rt = runtime
    maria = await rt.accounts.create_user("maria")
    await rt.blocklists.set_rule(None, "spam.example", "suspend", reason="private",
                                 comment="public", obfuscate=True)
    with pytest.raises(NotFound):  # members only, by default
        await rt.blocklists.moderated_servers(None)
    listed = await rt.blocklists.moderated_servers(maria)
    assert listed == [{"domain": obfuscated("spam.example"), "digest": digest("spam.example"),
                       "severity": "suspend", "comment": "public"}]
    assert "private" not in str(listed)
    await rt.blocklists.set_sharing(None, audience="everyone", linked=True)
    assert await rt.blocklists.moderated_servers(None) == listed
    await rt.blocklists.set_sharing(None, audience="nobody", linked=True)
    with pytest.raises(NotFound):
        await rt.blocklists.moderated_servers(maria)


async def test_proposals_wait_for_a_coordinator(runtime: Runtime) -> None:
    """A subscribed list's differences are proposals; accepting one changes the policy,
    dismissing one keeps it from coming back; a retraction is proposed as a lift."""
    rt = runtime
    async with rt.db.write() as conn:
        sub_id = await repo.add_subscription(conn, "https://b.example/groups/b/blocklist",
                                             "https://b.example/groups/b")
    theirs = [Entry("spam.example", Severity.SUSPEND, "spam wave"),
              Entry("ads.example", Severity.SILENCE, "ads")]
    assert await rt.blocklists._propose(sub_id, theirs, publisher=None) == 2
    assert rt.policy.rules.suspended == frozenset()  # nothing applied
    views = {v.proposal.domain: v for v in await rt.blocklists.proposals()}
    assert set(views) == {"spam.example", "ads.example"}
    assert views["spam.example"].proposal.comment == "spam wave"

    await rt.blocklists.decide(None, views["spam.example"].proposal.id, accept=True)
    assert "spam.example" in rt.policy.rules.suspended
    await rt.blocklists.decide(None, views["ads.example"].proposal.id, accept=False)
    assert rt.policy.rules.silenced == frozenset()
    # The next fetch of the same list proposes nothing new.
    assert await rt.blocklists._propose(sub_id, theirs, publisher=None) == 0
    assert await rt.blocklists.proposals() == []
    rules = {r.domain: r for r in await rt.blocklists.rules()}
    assert rules["spam.example"].source_id == sub_id
    assert rules["spam.example"].public_comment == "spam wave"

    # They take spam.example off their list: lifting is proposed, not done.
    await rt.blocklists._propose(sub_id, theirs[1:], publisher=None)
    [lift] = await rt.blocklists.proposals()
    assert lift.proposal.change is Change.LIFT and "spam.example" in rt.policy.rules.suspended
    await rt.blocklists.decide(None, lift.proposal.id, accept=True)
    assert rt.policy.rules.suspended == frozenset()

    # Unsubscribing removes the proposals.
    await rt.blocklists._propose(sub_id, [Entry("new.example", Severity.SUSPEND)],
                                 publisher=None)
    assert await rt.blocklists.pending_count() == 1
    await rt.blocklists.unsubscribe(None, sub_id)
    assert await rt.blocklists.proposals() == []


async def test_notifications_from_a_silenced_domain_reach_only_followers(
        runtime: Runtime) -> None:
    from fediaid.domain.paging import Page
    from fediaid.storage import actors as actors_repo
    from fediaid.storage import notifications as notifications_repo
    from tests.support.remote import remote_actor, store

    rt = runtime
    loud = remote_actor("l", "loud.example", key=1)
    await store(rt, loud)
    maria = await rt.accounts.create_user("maria")
    async with rt.db.write() as conn:
        actor = await actors_repo.get_by_uri(conn, loud.uri)
        await notifications_repo.add_for_actor(conn, actor_id=maria.actor_id,
                                               from_actor_id=actor.id, type_="follow")
    assert len(await rt.notifications.page(maria, Page(limit=20))) == 1
    await rt.policy.silence("loud.example")
    assert await rt.notifications.page(maria, Page(limit=20)) == []
    await rt.policy.silence("loud.example", False)
    assert len(await rt.notifications.page(maria, Page(limit=20))) == 1
