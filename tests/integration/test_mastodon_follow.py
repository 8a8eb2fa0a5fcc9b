"""The real Mastodon.py library on instance A follows a member of instance B, two real
`fediaid serve` processes on loopback: the address is resolved through WebFinger, the Follow
goes from the member's own actor with a real HTTP signature, B accepts it, and both sides'
relationships say so; unfollowing undoes it on both sides."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fediaid.storage.tables import actors, notifications, users
from tests.integration.helpers import Cluster
from tests.support.instances import finish_cli, init_all, start_all, wait_for

pytestmark = pytest.mark.slow
mastodon = pytest.importorskip("mastodon", reason="Mastodon.py is in the test extras")


def test_mastodon_py_follows_a_member_on_another_instance(cluster: Cluster) -> None:
    a, b = cluster.new("a"), cluster.new("b")
    init_all(a, b)
    start_all(a, b)
    # Side by side: each command is a Python start.
    for proc in (a.cli_bg("admin", "create-user", "maria"),
                 b.cli_bg("admin", "create-user", "lucia")):
        finish_cli(proc)
    token_a, token_b = (finish_cli(p).strip().splitlines()[-1] for p in (
        a.cli_bg("admin", "token", "maria"), b.cli_bg("admin", "token", "lucia")))
    maria = mastodon.Mastodon(access_token=token_a, api_base_url=a.base)
    lucia = mastodon.Mastodon(access_token=token_b, api_base_url=b.base)

    handle = f"lucia@{b.domain}"
    found = maria.account_search(handle, resolve=True)
    assert [x["acct"] for x in found] == [handle]
    target = found[0]
    assert target["url"] and target["avatar"] and target["username"] == "lucia"
    again = maria.search_v2(f"@{handle}", resolve=True)
    assert [x["id"] for x in again["accounts"]] == [target["id"]]

    rel = maria.account_follow(target["id"])
    assert rel["id"] == target["id"] and rel["requested"] and not rel["following"]
    # B verifies maria's signed Follow, accepts at once and its Accept comes back.
    wait_for(lambda: maria.account_relationships(target["id"])[0]["following"])
    assert not maria.account_relationships(target["id"])[0]["requested"]

    # On B: lucia is followed by maria (her Person actor on A), with a notification.
    maria_on_b = lucia.account_lookup(f"maria@{a.domain}")
    assert maria_on_b["acct"] == f"maria@{a.domain}"
    assert lucia.account_relationships(maria_on_b["id"])[0]["followed_by"]
    me = lucia.account_verify_credentials()
    assert [x["id"] for x in lucia.account_followers(me["id"])] == [maria_on_b["id"]]
    assert lucia.account(me["id"])["followers_count"] == 1
    db_b = cluster.db(b)
    kinds = db_b.rows(select(notifications.c.type, actors.c.uri)
                      .join(users, users.c.id == notifications.c.user_id)
                      .join(actors, actors.c.id == notifications.c.from_actor_id)
                      .where(users.c.username == "lucia"))
    assert [(k, uri) for k, uri in kinds] == [("follow", f"{a.base}/users/maria")]
    # A profile change reaches B as Update(Person), signed by maria.
    maria.account_update_credentials(display_name="Maria G.", note="Bikes fixed on Sundays")
    wait_for(lambda: lucia.account(maria_on_b["id"])["display_name"] == "Maria G.")
    assert "Bikes fixed on Sundays" in lucia.account(maria_on_b["id"])["note"]
    # Following an account twice changes nothing.
    assert maria.account_follow(target["id"])["following"]

    rel = maria.account_unfollow(target["id"])
    assert not rel["following"] and not rel["requested"]
    wait_for(lambda: not lucia.account_relationships(maria_on_b["id"])[0]["followed_by"])
    assert lucia.account_followers(me["id"]) == []
