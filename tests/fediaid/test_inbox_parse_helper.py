"""A backlog of received notes is parsed in a helper process (federation/parse_pool.py) while
the inbox worker writes the batch before, with the same result as parsing in process; what
the helper cannot parse, and a helper that dies, fall back to parsing in process. In
process, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from sqlalchemy import func, select

from fediaid.federation import parse_pool
from fediaid.federation.inbound import parse_remote_note
from fediaid.jobs.inbox import BATCH, InboxWorker
from fediaid.services.runtime import Runtime
from fediaid.storage import statuses as statuses_repo
from fediaid.storage.tables import inbox_items, status_tags
from tests.fediaid.test_inbox_batches import (
    create,
    enqueue,
    note,
    run_all,
    states,
    status_uris,
)
from tests.support.remote import remote_actor, store


async def test_a_backlog_is_parsed_in_the_helper_with_the_same_result(
        runtime: Runtime) -> None:
    rt = runtime
    ann, bob = remote_actor("ann"), remote_actor("bob", host="other.example")
    await store(rt, ann)
    await store(rt, bob)
    n = 2 * BATCH + 20
    items = []
    for i in range(n):
        who = ann if i % 2 else bob
        extra = {"summary": "Garden <b>news</b>", "sensitive": True} if i == BATCH + 7 else {}
        items.append((who, create(who, note(who, i, **extra))))
    # Not a note: left to the worker (parsed in process, refused the same way).
    items.insert(BATCH + 3, (ann, create(ann, {"id": f"{ann.uri}/x/1", "type": "Nonsense"},
                                         "nonsense")))
    await enqueue(rt, items)
    before = parse_pool.helped
    await run_all(rt)
    # The first batch is parsed in process; the next ones were claimed ahead and parsed
    # by the helper while the batch before was written.
    assert parse_pool.helped - before >= BATCH
    result = await states(rt)
    assert result[f"{ann.uri}/activities/nonsense"][0] in ("done", "failed")
    assert {s for u, (s, _, _) in result.items() if "nonsense" not in u} == {"done"}
    assert await status_uris(rt) == [a["object"]["id"] for _, a in items
                                      if a["object"]["type"] == "Note"]
    helped_one = items[BATCH + 8][1]["object"]  # the one with a content warning
    expected = parse_remote_note(helped_one)
    assert expected is not None
    async with rt.db.read() as conn:
        got = await statuses_repo.find_by_uri(conn, helped_one["id"])
        assert got is not None
        tags = (await conn.execute(select(status_tags.c.tag).where(
            status_tags.c.status_id == got.id))).scalars().all()
    assert got.content == expected.content_html and got.spoiler_text == expected.summary
    assert got.sensitive and tags == ["garden"]


def test_what_the_helper_cannot_parse_is_left_to_the_worker() -> None:
    ann = remote_actor("ann")
    good = orjson.dumps(create(ann, note(ann, 1))).decode()
    bad_type = orjson.dumps({"type": "Like", "actor": ann.uri, "object": "x"}).decode()
    by_uri = orjson.dumps({"type": "Create", "actor": ann.uri, "object": "https://x/1"}).decode()
    out = parse_pool.parse_payloads([good, bad_type, by_uri, "{not json"])
    assert out[0] == parse_remote_note(note(ann, 1))
    assert out[1:] == [parse_pool.AGAIN] * 3


async def test_a_dead_helper_means_parsing_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse_pool, "_disabled", False)
    loop = asyncio.get_running_loop()
    dead: asyncio.Future[list[parse_pool.Parsed]] = loop.create_future()
    dead.set_exception(RuntimeError("the helper died"))
    assert await parse_pool.result(dead) is None
    assert parse_pool.submit(["{}"] * parse_pool.MIN_NOTES) is None  # given up


async def test_an_idle_helper_is_stopped_and_started_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse_pool, "_disabled", False)
    ann = remote_actor("ann")
    payloads = [orjson.dumps(create(ann, note(ann, i))).decode()
                for i in range(parse_pool.MIN_NOTES)]
    notes = await parse_pool.result(parse_pool.submit(payloads))
    assert notes is not None and notes[3] == parse_remote_note(note(ann, 3))
    assert not parse_pool.release_if_idle()  # just used
    assert parse_pool.release_if_idle(time.monotonic() + parse_pool.IDLE_SECONDS + 1)
    assert parse_pool._pool is None
    again = await parse_pool.result(parse_pool.submit(payloads))
    assert again == notes


async def test_the_few_taken_during_a_burst_claim_nothing_ahead(runtime: Runtime) -> None:
    """During a burst the worker takes 10 at a time (services/inbox.py): it claims no next
    batch ahead (that is for a backlog the helper parses), so nothing more is leased."""
    rt = runtime
    ann = remote_actor("ann")
    await store(rt, ann)
    await enqueue(rt, [(ann, create(ann, note(ann, i))) for i in range(40)])
    worker = InboxWorker(rt, name="test-inbox")
    assert await worker.run_once(10) == 10
    async with rt.db.read() as conn:
        leased = (await conn.execute(select(func.count()).select_from(inbox_items).where(
            inbox_items.c.leased_by.is_not(None)))).scalar_one()
    assert leased == 0 and worker._ahead is None
    assert list((await states(rt)).values()).count(("done", 1, None)) == 10


def test_the_helper_exits_when_its_process_is_killed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A server killed with SIGKILL (or by the OOM killer) cannot stop its helper: the helper
    notices its parent is gone and exits, instead of staying behind for good."""
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "parent.py"
    script.write_text(
        "import asyncio, os, signal\n"
        "from fediaid.federation import parse_pool\n"
        "async def main():\n"
        "    notes = await parse_pool.result(parse_pool.submit(['{}'] * parse_pool.MIN_NOTES))\n"
        "    assert notes is not None\n"
        "    (helper,) = parse_pool._pool._processes\n"
        "    print(helper, flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == -signal.SIGKILL, out.stderr
    helper = int(out.stdout.strip())

    def alive() -> bool:
        try:
            os.kill(helper, 0)
        except ProcessLookupError:
            return False
        # Adopted by init or a subreaper: a zombie that has exited counts as gone.
        with open(f"/proc/{helper}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"

    deadline = time.monotonic() + 10 * parse_pool.PARENT_CHECK_SECONDS + 5
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(), f"helper {helper} outlived its killed parent"
