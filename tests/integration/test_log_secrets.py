"""Logs never hold tokens, cookies, keys, passwords or intake details.

A real `fediaid serve` at the most talkative log level is driven through every kind of
secret it handles (a one-time login link, a session cookie, an API token, an OAuth app
secret, a proxy-intake record, the instance's private keys); then its log is searched for
each of them."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from sqlalchemy import select

from fediaid.storage.tables import actor_keys
from tests.integration.helpers import Cluster

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_reaches_the_log(cluster: Cluster, log_format: str) -> None:
    a = cluster.new("a", FEDIAID_LOG_LEVEL="debug", FEDIAID_LOG_FORMAT=log_format)
    a.init()
    a.start()
    a.cli("admin", "create-user", "rosa")
    link = a.cli("admin", "login-link", "rosa").strip().splitlines()[-1]
    api_token = a.cli("admin", "token", "rosa", "--scopes", "read", "write"
                      ).strip().splitlines()[-1]
    secrets: dict[str, str] = {"login link": link.rsplit("/", 1)[1], "api token": api_token}

    with httpx.Client(base_url=a.base, timeout=10) as browser:
        assert browser.get(link).status_code == 303  # logs rosa in: a session cookie
        cookies = [c.value for c in browser.cookies.jar if len(c.value) >= 16]
        assert cookies
        secrets |= {f"cookie {i}": value for i, value in enumerate(cookies)}
        assert browser.get("/").status_code == 200

    auth = {"Authorization": f"Bearer {api_token}"}
    intake = {"kind": "need", "title": "Groceries for a family of four",
              "intake": {"name": "Dolores Quintana-Reyes", "callback": "+1 555 867 5309",
                         "notes": "Apartment 4B, gate code 2417"}}
    r = httpx.post(a.base + "/api/fediaid/v1/intake", json=intake, headers=auth, timeout=10)
    # Only coordinators record intake; rosa is not one, so the admin's token does it.
    if r.status_code == 403:
        admin_token = a.cli("admin", "token", "admin", "--scopes", "read", "write"
                            ).strip().splitlines()[-1]
        secrets["admin token"] = admin_token
        r = httpx.post(a.base + "/api/fediaid/v1/intake", json=intake,
                       headers={"Authorization": f"Bearer {admin_token}"}, timeout=10)
    assert r.status_code in (200, 201), r.text
    secrets |= {"intake name": "Dolores Quintana-Reyes", "intake phone": "867 5309",
                "intake notes": "gate code 2417"}

    app = httpx.post(a.base + "/api/v1/apps", timeout=10, data={
        "client_name": "log test", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
        "scopes": "read"}).json()
    secrets["oauth client secret"] = app["client_secret"]
    assert httpx.get(a.base + "/api/v1/accounts/verify_credentials", headers=auth,
                     timeout=10).status_code == 200
    # A wrong password and a wrong token are logged as failures, without the guesses.
    httpx.get(a.base + "/api/v1/accounts/verify_credentials", timeout=10,
              headers={"Authorization": "Bearer not-a-token-but-a-guess-1234567"})
    secrets["guessed token"] = "not-a-token-but-a-guess-1234567"

    keys = cluster.db(a).rows(select(actor_keys))
    for row in keys:
        pem = next((v for v in row._mapping.values()
                    if isinstance(v, str) and "PRIVATE KEY" in v), None)
        if pem:
            body = re.sub(r"-----[A-Z ]+-----|\s", "", pem)
            secrets[f"private key {row._mapping.get('id')}"] = body[20:60]
    assert any(name.startswith("private key") for name in secrets)
    secret_key = re.search(r'secret_key\s*=\s*"([^"]+)"',
                           (a.data / "fediaid.toml").read_text())
    if secret_key:
        secrets["session secret"] = secret_key.group(1)

    a.stop()
    log = a.log()
    assert "GET /" in log or "POST /" in log  # the access log was on
    if log_format == "json":
        # Every logged line is one JSON object (the start-up words are plain prints); the
        # access log's lines carry their request id. A secret escaped inside JSON (a
        # "/" as "\/", say) would still be found: orjson escapes only quotes, "\\" and
        # control characters, which no secret here contains.
        events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        assert events and all({"time", "level", "logger", "message"} <= e.keys()
                              for e in events)
        assert any("request_id" in e and e["message"].startswith(("GET /", "POST /"))
                   for e in events)
        stray = [line for line in log.splitlines() if line and not line.startswith("{")
                 and not line.startswith(("fediaid ", "Log in as the first coordinator"))]
        assert not stray, stray[:5]
    leaked = {name for name, value in secrets.items() if value and value in log}
    assert not leaked, f"secrets in the log: {sorted(leaked)}"
