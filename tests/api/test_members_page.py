"""The coordinators' members page (/admin/members) with many accounts: a page of them by
name, a link to the next, and a search that finds an account on any page. A group may
have thousands of members: the page never reads or draws them all. SQLite and PostgreSQL."""

from __future__ import annotations

import re

from activitypub.keys import generate_rsa_keypair
from fediaid.services.runtime import Runtime
from tests.api.test_web_posts import Login
from tests.api.test_web_posts import login as login  # the fixture

MANY = 130


async def _many_members(rt: Runtime) -> None:
    keys = generate_rsa_keypair()  # one pair for all: the accounts' keys play no part here
    async with rt.db.write() as conn:
        for i in range(MANY):
            await rt.accounts.insert_user(conn, f"n{i:03d}", keys=keys)


def _names(page: str) -> list[str]:
    return re.findall(r'<input type="hidden" name="name" value="([^"]+)">\s*<select', page)


async def test_members_are_shown_a_page_at_a_time(runtime: Runtime, login: Login) -> None:
    rt = runtime
    await _many_members(rt)
    admin = await login("admin")
    first = (await admin.get("/admin/members")).text
    names = _names(first)
    assert names == sorted(names) and len(names) == 100
    more = re.search(r'<a href="(/admin/members\?[^"]+)">More accounts</a>', first)
    assert more is not None
    second = (await admin.get(more.group(1).replace("&amp;", "&"))).text
    rest = _names(second)
    assert "More accounts" not in second
    assert sorted(names + rest) == sorted(["admin"] + [f"n{i:03d}" for i in range(MANY)])
    found = (await admin.get("/admin/members", params={"q": "N12"})).text
    assert _names(found) == [f"n{i}" for i in range(120, 130)]
    assert _names((await admin.get("/admin/members", params={"q": "%"})).text) == []
