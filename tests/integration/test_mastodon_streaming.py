"""Streaming with the real Mastodon.py against a real `fediaid serve` process: the health
check, and a member's user and public streams receiving an ``update`` when another member
posts from their app (and a notification when mentioned)."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import pytest

from tests.integration.helpers import Cluster

pytestmark = pytest.mark.slow
mastodon = pytest.importorskip("mastodon", reason="Mastodon.py is in the test extras")


class Collect(mastodon.StreamListener):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def on_update(self, status: Any) -> None:
        self.events.put(("update", status))

    def on_notification(self, notification: Any) -> None:
        self.events.put(("notification", notification))

    def on_delete(self, status_id: Any) -> None:
        self.events.put(("delete", status_id))

    def wait_for(self, kind: str, match: Any, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got_kind, value = self.events.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            if got_kind == kind and match(value):
                return value
        raise AssertionError(f"no {kind} event arrived")


def test_mastodon_py_streams_an_update_after_another_member_posts(cluster: Cluster) -> None:
    a = cluster.new("a")
    a.init()
    a.start()
    a.cli("admin", "create-user", "maria")
    a.cli("admin", "create-user", "omar")
    maria_token = a.cli("admin", "token", "maria").strip().splitlines()[-1]
    omar_token = a.cli("admin", "token", "omar").strip().splitlines()[-1]
    maria = mastodon.Mastodon(access_token=maria_token, api_base_url=a.base)
    omar = mastodon.Mastodon(access_token=omar_token, api_base_url=a.base)

    assert maria.stream_healthy() is True

    home, public = Collect(), Collect()
    handles = [maria.stream_user(home, run_async=True, timeout=30),
               maria.stream_public(public, run_async=True, timeout=30)]
    try:
        for h in handles:
            deadline = time.monotonic() + 10
            while not h.is_receiving() and time.monotonic() < deadline:
                time.sleep(0.05)
        time.sleep(1.0)  # the server's poller has its starting point
        posted = omar.status_post("Spare ladder on Elm St, ask @maria", visibility="public")
        got = public.wait_for("update", lambda s: s["id"] == posted["id"])
        assert got["account"]["acct"] == "omar" and "ladder" in got["content"]
        # maria is mentioned: the status is in her home stream, and she is notified.
        assert home.wait_for("update", lambda s: s["id"] == posted["id"])
        note = home.wait_for("notification", lambda n: n["type"] == "mention")
        assert note["status"]["id"] == posted["id"]
        omar.status_delete(posted["id"])
        assert public.wait_for("delete", lambda i: str(i) == str(posted["id"]))
    finally:
        # Mastodon.py's close() blocks reading the open response until its read timeout;
        # closing from other threads lets the test end now (the server is killed after).
        for h in handles:
            threading.Thread(target=h.close, daemon=True).start()
