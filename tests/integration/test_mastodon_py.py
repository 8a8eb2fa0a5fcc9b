"""The real Mastodon.py library against a real `fediaid serve` process: it registers an
app, a member authorizes it through our login and consent pages, and the app reads the
member's account (issue 4's first slice, end to end)."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest

from tests.integration.helpers import Cluster

pytestmark = pytest.mark.slow
mastodon = pytest.importorskip("mastodon", reason="Mastodon.py is in the test extras")

OOB = "urn:ietf:wg:oauth:2.0:oob"


def hidden_fields(page: str) -> dict[str, str]:
    return {m.group(1): unescape(m.group(2)) for m in re.finditer(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}


def test_mastodon_py_registers_logs_in_and_reads_the_account(cluster: Cluster) -> None:
    a = cluster.new("a")
    a.init()
    a.start()
    a.cli("admin", "create-user", "maria")
    link = a.cli("admin", "login-link", "maria").strip().splitlines()[-1]

    client_id, client_secret = mastodon.Mastodon.create_app(
        "fediaid test", api_base_url=a.base, scopes=["read", "write"], redirect_uris=OOB)
    app = mastodon.Mastodon(client_id=client_id, client_secret=client_secret,
                            api_base_url=a.base)
    # allow_http: the test instance runs on plain http over loopback (--dev).
    url = app.auth_request_url(redirect_uris=OOB, scopes=["read", "write"], allow_http=True)

    with httpx.Client(base_url=a.base, timeout=10) as browser:
        assert browser.get(link).status_code == 303  # logged in as maria (session cookie)
        consent = browser.get(url)
        assert consent.status_code == 200 and "fediaid test" in consent.text
        fields = hidden_fields(consent.text)
        page = browser.post("/oauth/authorize", data=fields | {"decision": "approve"})
        assert page.status_code == 200, page.text
        code = re.search(r'id="code" type="text" readonly value="([^"]+)"', page.text)
        assert code, page.text

    token = app.log_in(code=code.group(1), redirect_uri=OOB, scopes=["read", "write"],
                       allow_http=True)
    assert token
    me = app.account_verify_credentials()
    assert me["username"] == "maria" and me["acct"] == "maria"
    assert me["avatar"].startswith(a.base) and me["source"]["privacy"] == "public"
    info = app.instance()
    assert "fediaid" in info["version"]
    app.revoke_access_token(allow_http=True)
    # The revoked token is refused (a fresh client with the same token string).
    again = mastodon.Mastodon(access_token=token, api_base_url=a.base)
    with pytest.raises(mastodon.MastodonUnauthorizedError):
        again.account_verify_credentials()
