"""A member's own pages: "My posts" with answers and exchanges, the unread count in the
header, notifications marked read when seen; who can see a post, in words; the suggestion
before a need about money, health or housing goes public (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

from fediaid.services.runtime import Runtime
from tests.api.test_web_posts import Login, all_posts, form, forms_to, visitor
from tests.api.test_web_posts import login as login  # the fixture

TEXT = "short $300 on rent this month"


def unread(page: str) -> int:
    found = re.search(r"(\d+) unread", page)
    return int(found.group(1)) if found else 0


async def test_my_posts_unread_badge_and_notifications(runtime: Runtime, login: Login) -> None:
    maria, sam, tom = await login("maria"), await login("sam"), await login("tom")

    # The form says plainly who can see the post, with the group's usual choice picked.
    page = (await maria.get("/posts/new?kind=need")).text
    assert page.index('name="visibility"') < page.index("<details")
    assert page.index('name="as_neighbor"') < page.index("<details")
    assert "Anyone on the internet can see this" in page
    assert "Only members of Elm St Mutual Aid can see this" in page
    assert "(the group&#39;s usual choice)" in page or "(the group's usual choice)" in page

    # A public need about rent money: the form first suggests members only and anonymity.
    r = await maria.post("/posts/new", data=form(page, "/posts/new") | {
        "description": TEXT, "visibility": "public"})
    assert r.status_code == 200 and "Before you publish" in r.text
    assert "money and housing" in r.text and "Members only" in r.text
    assert await all_posts(runtime) == []
    anyway, private = forms_to(r.text, "/posts/new")[:2]
    assert anyway["confirm"] == "1" and anyway["visibility"] == "public"  # her choice
    assert private["visibility"] == "members" and private["as_neighbor"] == "1"
    r = await maria.post("/posts/new", data=private)
    assert r.status_code == 303
    pid = int(re.search(r"/posts/(\d+)", r.headers["location"]).group(1))  # type: ignore[union-attr]

    # Logged-out visitors cannot read it; the post says who can, and that her name is hidden.
    anon = await visitor(runtime)
    async with anon:
        assert (await anon.get(f"/posts/{pid}")).status_code == 404
    own = (await maria.get(f"/posts/{pid}")).text
    assert "Only members of Elm St Mutual Aid can see this." in own
    assert "Your name is not shown." in own
    assert "Only members of Elm St Mutual Aid can see this." in (await sam.get("/")).text
    assert "Your name is not shown" not in (await sam.get(f"/posts/{pid}")).text

    # My posts: her anonymous need, marked as posted as a neighbor; nobody else's page has it.
    mine = (await maria.get("/my/posts")).text
    assert TEXT in mine and "Posted as a neighbor" in mine and "No answers yet" in mine
    assert unread(mine) == 0
    assert TEXT not in (await sam.get("/my/posts")).text

    # Sam answers: the badge in maria's header rises, My posts shows the new answer.
    seen = (await sam.get(f"/posts/{pid}")).text
    r = await sam.post(f"/posts/{pid}/respond",
                       data=form(seen, f"/posts/{pid}/respond") | {"message": "I can help"})
    assert r.status_code == 303
    home = (await maria.get("/")).text
    assert unread(home) == 1 and "1 unread" in home
    mine = (await maria.get("/my/posts")).text
    assert "1 answer" in mine and "1 new" in mine
    assert unread((await tom.get("/")).text) == 0

    # Reading the notifications marks them read: the badge drops.
    notes = (await maria.get("/notifications")).text
    assert "sam answered" in notes and f'href="/posts/{pid}"' in notes and "New:" in notes
    assert unread((await maria.get("/")).text) == 0
    mine = (await maria.get("/my/posts")).text
    assert "1 answer" in mine and "1 new" not in mine
    assert "New:" not in (await maria.get("/notifications")).text

    # She accepts; sam is told (his badge), then writes: maria's exchange shows it unread.
    page = (await maria.get(f"/posts/{pid}")).text
    accept = re.search(rf'action="(/posts/{pid}/responses/\d+/accept)"', page)
    assert accept
    r = await maria.post(accept.group(1), data=form(page, accept.group(1)))
    conv_url = r.headers["location"].split("?")[0]
    assert unread((await sam.get("/")).text) == 1
    conv = (await sam.get(conv_url)).text
    r = await sam.post(conv_url + "/send", data=form(conv, conv_url + "/send")
                       | {"body": "Saturday at noon?"})
    assert r.status_code == 303
    mine = (await maria.get("/my/posts")).text
    assert unread(mine) == 1 and f'href="{conv_url}"' in mine and "1 new" in mine
    notes = (await maria.get("/notifications")).text
    assert f'href="{conv_url}#latest"' in notes and "wrote to you about" in notes
    assert "maria" not in (await sam.get("/my/posts")).text  # still anonymous to sam
    sams = (await sam.get("/my/posts")).text
    assert TEXT in sams and "You answered" in sams
