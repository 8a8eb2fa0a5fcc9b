"""Caddy with the project's deploy/Caddyfile in front of real `fediaid serve` processes, over
real HTTPS: two groups' servers federate through their two Caddys.

Each server is set up as on a real host (docs/deploy.md, way A): not in dev mode, so it
builds https:// ids for its public name (``a.test:PORT``), listens on 127.0.0.1 and trusts
forwarded headers only from 127.0.0.1 (``FORWARDED_ALLOW_IPS``, as `fediaid serve` does by
default). Caddy reads deploy/Caddyfile unchanged, imported under a test-only block of global
options: its own certificate authority instead of Let's Encrypt (``local_certs``), free
ports instead of 80/443, no admin endpoint, storage in the test's directory.

Names: the test's own requests go to 127.0.0.1 with the public name in the Host header and
the TLS server name (``MappedTransport``), checked against the Caddys' root certificates.
The servers resolve ``a.test`` and ``b.test`` to 127.0.0.1 through tests/deploy/hostmap
(as /etc/hosts lines would), trust the Caddys' roots through ``SSL_CERT_FILE``, and may
connect to 127.0.0.1 outside dev mode because ``FEDIAID_PEER_ADDRESSES`` says so.

The test's requests leave from other loopback addresses (127.0.0.5, ...) so that each
client has its own address: the servers must count a client's requests against the address
Caddy saw (``X-Forwarded-For``), and ignore forwarded headers from anyone but the proxy.

Caddy is Debian's ``caddy`` package (dev.py's test setup installs it as it installs
Chromium); without it the test is skipped and says why."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from activitypub.vocab import ACTIVITY_JSON
from fediaid.storage.tables import inbox_items, objects
from tests.integration.helpers import Cluster
from tests.support.databases import sqlite_url
from tests.support.instances import (
    Instance,
    free_port,
    init_all,
    start_all,
    wait_for,
    wait_until_up,
)

ROOT = Path(__file__).resolve().parents[2]
CADDYFILE = ROOT / "deploy" / "Caddyfile"
HOSTMAP = Path(__file__).resolve().parent / "hostmap"
CADDY = shutil.which("caddy")

# Seconds to wait for a follow or a delivery to arrive (returns as soon as it has): generous,
# for a machine busy with other suites.
WAIT = 60.0

pytestmark = pytest.mark.skipif(
    CADDY is None,
    reason="caddy is not installed (Debian package caddy; `python3 dev.py test` installs it "
           "when run as root with apt-get)")

# The test-only part: global options in front of the real file, which is imported as it is.
OVERRIDE = """{{
	admin off
	local_certs
	skip_install_trust
	http_port {http_port}
	https_port {https_port}
	storage file_system {storage}
}}

import {caddyfile}
"""


class Caddy:
    """One `caddy run` with deploy/Caddyfile for ``domain`` (host:port), proxying to
    ``upstream``."""

    def __init__(self, root: Path, host: str, upstream: str) -> None:
        self.dir = root
        self.dir.mkdir(parents=True)
        self.https_port, self.http_port = free_port(), free_port()
        self.host = host
        self.domain = f"{host}:{self.https_port}"
        self.upstream = upstream
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def root_cert(self) -> Path:
        return self.dir / "storage/pki/authorities/local/root.crt"

    def start(self) -> None:
        config = self.dir / "Caddyfile"
        config.write_text(OVERRIDE.format(http_port=self.http_port, https_port=self.https_port,
                                          storage=self.dir / "storage", caddyfile=CADDYFILE))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.dir),
               "XDG_DATA_HOME": str(self.dir / "data"),
               "XDG_CONFIG_HOME": str(self.dir / "config"),
               # The two variables deploy/Caddyfile reads.
               "FEDIAID_DOMAIN": self.domain, "FEDIAID_UPSTREAM": self.upstream}
        assert CADDY is not None
        with (self.dir / "caddy.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [CADDY, "run", "--config", str(config), "--adapter", "caddyfile"],
                env=env, stdout=log, stderr=log, cwd=self.dir)

    def wait_up(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"caddy exited with {self.proc.returncode}:\n{self.log()}")
            if self.root_cert.exists():
                try:
                    socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise TimeoutError(f"caddy for {self.domain} did not come up:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def log(self) -> str:
        path = self.dir / "caddy.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


@dataclass
class Proxied(Instance):
    """A `fediaid serve` set up as on a real host, known by ``public`` (host:port of its
    Caddy); it listens on 127.0.0.1:``port``."""

    public: str = ""

    @property
    def domain(self) -> str:
        return self.public

    @property
    def base(self) -> str:
        return f"https://{self.public}"

    @property
    def direct(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _init_args(self) -> list[str]:
        return [a for a in super()._init_args() if a != "--dev"]

    def wait_up(self, timeout: float = 60.0) -> None:
        wait_until_up(self.direct, self.proc, timeout=timeout)


class MappedTransport(httpx.HTTPTransport):
    """Requests to a name in ``hosts`` connect to 127.0.0.1, with the name kept in the Host
    header and sent as the TLS server name (and the certificate checked against it)."""

    def __init__(self, hosts: set[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hosts = hosts

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host in self.hosts:
            request.url = request.url.copy_with(host="127.0.0.1")
            request.extensions = {**request.extensions, "sni_hostname": host}
        return super().handle_request(request)


def client(caddys: list[Caddy], source: str) -> httpx.Client:
    """An HTTPS client trusting only the Caddys' roots, leaving from address ``source``."""
    tls = ssl.create_default_context(cafile=None)
    tls.load_verify_locations(cadata="".join(c.root_cert.read_text() for c in caddys))
    transport = MappedTransport({c.host for c in caddys}, verify=tls, local_address=source)
    return httpx.Client(transport=transport, timeout=10)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only (``cluster`` would run the test on PostgreSQL too): what a proxy changes
    does not depend on the database, and way A of docs/deploy.md, the one with Caddy on the
    host, is the SQLite one."""
    return sqlite_url(tmp_path)


@pytest.fixture
def caddys(tmp_path: Path) -> Any:
    started: list[Caddy] = []
    yield started
    for c in started:
        c.stop()


@pytest.mark.slow
def test_two_servers_federate_through_caddy(cluster: Cluster, caddys: list[Caddy],
                                            tmp_path: Path,
                                            request: pytest.FixtureRequest) -> None:
    # Two Caddys, each in front of a port where its server will listen.
    ports = {"a": free_port(), "b": free_port()}
    for name in ("a", "b"):
        caddys.append(Caddy(tmp_path / f"caddy-{name}", f"{name}.test",
                            f"127.0.0.1:{ports[name]}"))
    for c in caddys:
        c.start()
    for c in caddys:
        c.wait_up()
    bundle = tmp_path / "roots.pem"
    bundle.write_text("".join(c.root_cert.read_text() for c in caddys))

    servers: list[Proxied] = []
    for (name, group), c in zip((("a", "elm"), ("b", "oak")), caddys, strict=True):
        base = cluster.new(group)  # its data directory and database
        inst = Proxied(data=base.data, port=ports[name], group=group,
                       database_url=base.database_url, public=c.domain, env={
                           "FORWARDED_ALLOW_IPS": "127.0.0.1",
                           "FEDIAID_PEER_ADDRESSES": "127.0.0.1",
                           "FEDIAID_TEST_HOSTS": "a.test,b.test",
                           "PYTHONPATH": os.pathsep.join(
                               p for p in (str(HOSTMAP), os.environ.get("PYTHONPATH")) if p),
                           "SSL_CERT_FILE": str(bundle)})
        cluster.instances[cluster.instances.index(base)] = inst
        servers.append(inst)
    a, b = servers
    init_all(*servers)
    start_all(*servers)
    try:
        check_federation(cluster, caddys, a, b)
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is None or rep.failed:
            for c in caddys:
                print(f"\n===== caddy for {c.domain} =====\n{c.log()}")


def get(caddys: list[Caddy] | None, source: str, url: str, **kwargs: Any) -> httpx.Response:
    """One GET from address ``source``: through the Caddys (HTTPS), or, without them,
    straight to a server (plain HTTP)."""
    with (client(caddys, source) if caddys else
          httpx.Client(transport=httpx.HTTPTransport(local_address=source))) as c:
        return c.get(url, **kwargs)


def check_federation(cluster: Cluster, caddys: list[Caddy], a: Proxied, b: Proxied) -> None:
    with client(caddys, "127.0.0.5") as web:
        check_discovery_and_delivery(cluster, caddys, web, a, b)
    check_addresses_and_scheme(caddys, a)


def check_discovery_and_delivery(cluster: Cluster, caddys: list[Caddy], web: httpx.Client,
                                 a: Proxied, b: Proxied) -> None:

    # WebFinger and the actor, over HTTPS through Caddy: https:// ids for the public name.
    finger = web.get(f"{a.base}/.well-known/webfinger",
                     params={"resource": f"acct:{a.group}@{a.domain}"})
    assert finger.status_code == 200, finger.text
    self_link = next(link["href"] for link in finger.json()["links"] if link["rel"] == "self")
    assert self_link == a.group_uri == f"https://a.test:{caddys[0].https_port}/groups/elm"
    actor = web.get(a.group_uri, headers={"Accept": ACTIVITY_JSON})
    assert actor.status_code == 200
    doc = actor.json()
    assert doc["id"] == a.group_uri and doc["inbox"].startswith(a.base + "/")
    assert doc["publicKey"]["id"].startswith(a.base + "/")
    # The real Caddyfile's headers are there.
    assert actor.headers["strict-transport-security"] == "max-age=31536000"
    assert actor.headers["x-content-type-options"] == "nosniff"
    # Plain http:// on Caddy's HTTP port is redirected to https://.
    plain = httpx.get(f"http://127.0.0.1:{caddys[0].http_port}/groups/elm",
                      headers={"Host": f"a.test:{caddys[0].http_port}"})
    assert plain.status_code == 308
    assert plain.headers["location"].startswith("https://a.test"), plain.headers

    # B's group follows A's: WebFinger, actor fetch, signed Follow and signed Accept, each
    # from one server to the other's Caddy by name, verified over the Host Caddy passed on.
    out = b.cli("admin", "follow", a.handle)
    assert ": pending" in out, out
    wait_for(lambda: web.get(f"{a.group_uri}/followers", headers={"Accept": ACTIVITY_JSON}
                             ).json()["totalItems"] == 1, timeout=WAIT)
    # A posts; the delivery to B's inbox goes through B's Caddy and is stored by B.
    note = a.cli("admin", "post", "Soup kitchen at the church hall, 6pm.").strip()
    note = note.splitlines()[-1]
    assert note.startswith(a.base + "/")
    dbb = cluster.db(b)
    row = wait_for(lambda: (rows := dbb.rows(select(objects).where(objects.c.uri == note)))
                   and rows[0], timeout=WAIT)
    assert row.attributed_to == a.group_uri and not row.local
    create = dbb.rows(select(inbox_items).where(inbox_items.c.type == "Create",
                                                inbox_items.c.actor_uri == a.group_uri))
    assert [r.signer_key_id for r in create] == [f"{a.group_uri}#main-key"]


def check_addresses_and_scheme(caddys: list[Caddy], a: Proxied) -> None:
    """Client addresses: the client API counts unauthenticated requests per address and
    says how many are left (X-RateLimit-Remaining). Through Caddy each client is counted on
    its own address, whatever X-Forwarded-For it sends; straight to the server from an
    address that is not the proxy, a forwarded header changes nothing."""
    def remaining(resp: httpx.Response) -> tuple[str, int]:
        assert resp.status_code == 200, resp.text
        return resp.headers["x-ratelimit-reset"], int(resp.headers["x-ratelimit-remaining"])

    url = f"{a.base}/api/v1/instance"
    for _attempt in range(2):  # again if a five-minute window ended in the middle
        seen = [
            remaining(get(caddys, "127.0.0.5", url)),
            remaining(get(caddys, "127.0.0.6", url)),
            remaining(get(caddys, "127.0.0.5", url)),
            # Caddy replaces what a client claims (it trusts no client's forwarded headers).
            remaining(get(caddys, "127.0.0.6", url, headers={"X-Forwarded-For": "127.0.0.5"})),
            # Straight to the server, from an address that is not its proxy.
            remaining(get(None, "127.0.0.7", f"{a.direct}/api/v1/instance",
                          headers={"X-Forwarded-For": "127.0.0.5", "Host": a.domain})),
        ]
        if len({reset for reset, _ in seen}) == 1:
            break
    counts = [n for _, n in seen]
    first = counts[0]
    # 127.0.0.5 and 127.0.0.6 each have their own count; the spoofing request counted on
    # 127.0.0.6, the direct one on 127.0.0.7 (a fresh count), not on 127.0.0.5.
    assert counts == [first, first, first - 1, first - 1, first], seen

    # Scheme and host: a path with a trailing slash is redirected to the one without, at
    # the URL the request came in on (Starlette builds it from the scheme uvicorn took from
    # X-Forwarded-Proto and the Host header): https://a.test:PORT through Caddy; plain http
    # for a client that is not the proxy, whatever it claims.
    moved = get(caddys, "127.0.0.5", f"{a.group_uri}/")
    assert moved.status_code == 307 and moved.headers["location"] == a.group_uri
    direct = get(None, "127.0.0.7", f"{a.direct}/groups/{a.group}/",
                 headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.test"})
    assert direct.status_code == 307
    assert direct.headers["location"] == f"{a.direct}/groups/{a.group}"


def test_the_way_a_caddyfile_validates(tmp_path: Path) -> None:
    """Way A, step 6 of docs/deploy.md: its own `sed` command makes /etc/caddy/Caddyfile
    from deploy/Caddyfile; Caddy validates the result and adapts it to HTTPS on :443 for the
    domain, proxying to 127.0.0.1:8000 with the 12 MB body limit and no access log."""
    docs = (ROOT / "docs" / "deploy.md").read_text()
    found = re.search(r"^\s*(sed '[^']+') /opt/fediaid/src/deploy/Caddyfile > "
                      r"/etc/caddy/Caddyfile$", docs, re.M)
    assert found, "docs/deploy.md no longer shows how to make /etc/caddy/Caddyfile"
    made = tmp_path / "Caddyfile"
    subprocess.run(f"{found.group(1)} {CADDYFILE} > {made}", shell=True, check=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    assert CADDY is not None
    for command in ("validate", "adapt"):
        done = subprocess.run([CADDY, command, "--config", str(made), "--adapter", "caddyfile"],
                              capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
    server = json.loads(done.stdout)["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == [":443"]
    assert "logs" not in server  # no access log (see the Caddyfile's comment)
    route = server["routes"][0]
    assert route["match"] == [{"host": ["aid.example.org"]}]
    handlers = {h["handler"]: h for h in route["handle"][0]["routes"][0]["handle"]}
    assert handlers["request_body"]["max_size"] == 12_000_000
    text = json.dumps(route)
    assert '"dial": "127.0.0.1:8000"' in text
