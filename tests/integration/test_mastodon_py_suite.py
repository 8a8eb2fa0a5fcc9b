"""Issue 4's "done when": the real Mastodon.py library against real `fediaid serve`
processes on loopback (and a second instance for federation).

A member authorizes an app with PKCE by driving our login form, then verifies credentials,
posts (plain, need, offer, direct), reads home and public timelines page by page, gets a
notification when a second account answers her need, follows an account on another
fediaid instance and sees its posts arrive, favourites and boosts, uploads an image whose
EXIF is gone, and receives a streaming event. A read-only token cannot post; a revoked token
is refused.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import secrets
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conformance import mastodon as conformance
from tests.integration.helpers import Cluster
from tests.support.instances import Instance, finish_cli, init_all, start_all, wait_for

pytestmark = pytest.mark.slow
mastodon = pytest.importorskip("mastodon", reason="Mastodon.py is in the test extras")
Image = pytest.importorskip("PIL.Image")

REDIRECT = "http://127.0.0.1:1/callback"  # never contacted: the code is read off the URL
PASSWORD = "a long enough password"


def session() -> Any:
    """Mastodon.py's HTTP session, every response checked against Mastodon's schema."""
    import requests

    s = requests.Session()
    s.hooks["response"].append(conformance.check_requests_response)
    return s


def hidden_fields(page: str) -> dict[str, str]:
    return {m.group(1): unescape(m.group(2)) for m in re.finditer(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}


def set_password(inst: Instance, name: str) -> None:
    link = inst.cli("admin", "login-link", name).strip().splitlines()[-1]
    with httpx.Client(base_url=inst.base, timeout=10) as browser:
        assert browser.get(link).status_code == 303
        form = browser.get("/settings/password")
        r = browser.post("/settings/password", data=hidden_fields(form.text) | {
            "password": PASSWORD}, follow_redirects=False)
        assert r.status_code in (200, 303), r.text


def log_in_with_pkce(inst: Instance, name: str, scopes: list[str]) -> Any:
    """Register an app with Mastodon.py, authorize it through our login form and consent
    page with PKCE (S256), and return a Mastodon.py client holding the token."""
    client_id, client_secret = mastodon.Mastodon.create_app(
        "fediaid suite", api_base_url=inst.base, scopes=scopes, redirect_uris=REDIRECT,
        session=session())
    app = mastodon.Mastodon(client_id=client_id, client_secret=client_secret,
                            api_base_url=inst.base, session=session())
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()
                                         ).rstrip(b"=").decode()
    url = app.auth_request_url(redirect_uris=REDIRECT, scopes=scopes, allow_http=True)
    url += f"&code_challenge={challenge}&code_challenge_method=S256"
    with httpx.Client(timeout=10) as browser:
        login = browser.get(url, follow_redirects=True)  # not logged in: our login page
        assert login.status_code == 200 and 'name="password"' in login.text
        consent = browser.post(f"{inst.base}/login", data=hidden_fields(login.text) | {
            "username": name, "password": PASSWORD}, follow_redirects=True)
        assert consent.status_code == 200 and "fediaid suite" in consent.text, consent.text
        done = browser.post(f"{inst.base}/oauth/authorize",
                            data=hidden_fields(consent.text) | {"decision": "approve"},
                            follow_redirects=False)
        assert done.status_code in (302, 303), done.text
        code = parse_qs(urlsplit(done.headers["location"]).query)["code"][0]
        # Mastodon.py 2.3.3 cannot send a code_verifier, so the exchange is made here.
        without = httpx.post(f"{inst.base}/oauth/token", data={
            "grant_type": "authorization_code", "code": code, "client_id": client_id,
            "client_secret": client_secret, "redirect_uri": REDIRECT})
        assert without.status_code in (400, 401), "PKCE verifier must be required"
        token = httpx.post(f"{inst.base}/oauth/token", data={
            "grant_type": "authorization_code", "code": code, "client_id": client_id,
            "client_secret": client_secret, "redirect_uri": REDIRECT,
            "code_verifier": verifier})
    # A failed exchange attempt does not burn the code in Mastodon; nor here.
    assert token.status_code == 200, token.text
    return mastodon.Mastodon(client_id=client_id, client_secret=client_secret,
                             access_token=token.json()["access_token"], api_base_url=inst.base,
                             session=session())


def token_client(inst: Instance, name: str, scopes: str = "read write follow") -> Any:
    token = inst.cli("admin", "token", name, "--scopes", *scopes.split()).strip()
    return mastodon.Mastodon(access_token=token.splitlines()[-1], api_base_url=inst.base,
                             session=session())


def jpeg_with_gps() -> bytes:
    img = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {1: "N", 2: (40.0, 41.0, 21.0), 3: "W", 4: (74.0, 2.0, 40.0)}  # GPS
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    data = buf.getvalue()
    assert b"SpyCam" in data
    return data


def test_mastodon_py_suite(cluster: Cluster) -> None:
    a = cluster.new("a")
    b = cluster.new("b")
    init_all(a, b)
    start_all(a, b)
    # Side by side: each command is a Python start.
    for proc in (a.cli_bg("admin", "create-user", "maria"), a.cli_bg("admin", "create-user", "tom"),
                 b.cli_bg("admin", "create-user", "lee")):
        finish_cli(proc)
    set_password(a, "maria")

    maria = log_in_with_pkce(a, "maria", ["read", "write", "follow"])
    me = maria.account_verify_credentials()
    assert me["username"] == "maria" and me["source"]["privacy"] in ("public", "private")

    # Streaming: listen on maria's user stream before anything happens.
    events: list[tuple[str, Any]] = []

    class Listener(mastodon.StreamListener):  # type: ignore[misc,name-defined]
        def on_update(self, status: Any) -> None:
            events.append(("update", status))

        def on_notification(self, notification: Any) -> None:
            events.append(("notification", notification))

    assert maria.stream_healthy()
    handle = maria.stream_user(Listener(), run_async=True, reconnect_async=False)
    try:
        # Posting: plain, need, offer, direct.
        plain = maria.status_post("Good morning, Elm Street!")
        need = maria.status_post("Groceries for a family of four this week #need")
        offer = maria.status_post("Spare crib, good condition #offer")
        direct = maria.status_post("@tom the crib is yours if you want it",
                                   visibility="direct")
        assert plain["visibility"] == "public" and direct["visibility"] == "direct"
        assert "Groceries" in need["content"] and "crib" in offer["content"]
        assert wait_for(lambda: any(kind == "update" and str(s["id"]) == str(plain["id"])
                                    for kind, s in events), timeout=15)

        # Timelines, page by page.
        first = maria.timeline_home(limit=2)
        assert [str(s["id"]) for s in first] == [str(direct["id"]), str(offer["id"])]
        second = maria.fetch_next(first)
        assert [str(s["id"]) for s in second] == [str(need["id"]), str(plain["id"])]
        public = maria.timeline_public(limit=10)
        public_ids = {str(s["id"]) for s in public}
        assert str(plain["id"]) in public_ids and str(direct["id"]) not in public_ids

        # A second account answers the need: maria is notified.
        tom = token_client(a, "tom")
        tom.status_post("I can bring some on Saturday", in_reply_to_id=need["id"])
        notes = wait_for(lambda: [n for n in maria.notifications()
                                  if n["type"] == "mention"], timeout=15)
        assert notes and notes[0]["account"]["username"] == "tom"
        assert "Saturday" in notes[0]["status"]["content"]

        # Favourite and boost.
        tom_public = tom.status_post("Soup night Friday at the library")
        faved = maria.status_favourite(tom_public["id"])
        assert faved["favourited"] and faved["favourites_count"] == 1
        boosted = maria.status_reblog(tom_public["id"])
        assert str(boosted["reblog"]["id"]) == str(tom_public["id"])
        kinds = {n["type"] for n in tom.notifications()}
        assert {"favourite", "reblog"} <= kinds

        # Media: the stored image has no EXIF (and no GPS).
        media = maria.media_post(jpeg_with_gps(), mime_type="image/jpeg",
                                 description="a red square")
        with_media = maria.status_post("Photo of the crib", media_ids=[media["id"]])
        url = with_media["media_attachments"][0]["url"]
        stored = httpx.get(url).content
        assert b"SpyCam" not in stored
        assert not Image.open(io.BytesIO(stored)).getexif()

        # Follow an account on the other instance and see its posts arrive.
        lee = token_client(b, "lee")
        found = maria.search_v2(f"lee@{b.domain}", resolve=True)["accounts"]
        assert found, "lee was not found through WebFinger"
        maria.account_follow(found[0]["id"])
        assert wait_for(lambda: maria.account_relationships(found[0]["id"])[0]["following"],
                        timeout=20)
        posted = lee.status_post("Hello from the next neighborhood over")
        arrived = wait_for(lambda: [s for s in maria.timeline_home(limit=40)
                                    if s["uri"] == posted["uri"]], timeout=30)
        assert arrived and "next neighborhood" in arrived[0]["content"]
    finally:
        handle.close()

    # Scopes: a read-only token cannot post; a revoked token is refused.
    reader = token_client(a, "tom", scopes="read")
    with pytest.raises(mastodon.MastodonAPIError):
        reader.status_post("should not be posted")
    token = maria.access_token
    maria.revoke_access_token(allow_http=True)
    again = mastodon.Mastodon(access_token=token, api_base_url=a.base, session=session())
    with pytest.raises(mastodon.MastodonUnauthorizedError):
        again.account_verify_credentials()

