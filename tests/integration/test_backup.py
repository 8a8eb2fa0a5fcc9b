"""``fediaid backup`` / ``restore`` and ``move-to-postgres`` on populated instances: real
`fediaid serve` processes, the real CLI, real SQLite files and PostgreSQL databases.

- A backup taken while the instance runs, encrypted to a backup key made with `fediaid
  backup-key` (age): no secret of the instance readable in the file, and the server's own
  copy of fediaid cannot restore it without the key. Restored with the key into a new data
  directory (and a new database): the same rows, the same keys, the same media; the
  restored instance posts and its peer (which learned the group's key before the backup)
  verifies and stores the note.
- A SQLite instance moved to PostgreSQL: every table checked (counts and row checksums,
  computed here from both databases), then the instance serves the same home page from
  PostgreSQL and keeps working (new ids after the copied ones).
"""

from __future__ import annotations

import asyncio
import gzip
import io
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pyrage
import pytest
from PIL import Image
from sqlalchemy import select

from activitypub.keys import load_private_key, load_public_key
from activitypub.signatures import sign_cavage
from activitypub.verify import parse_request_signature
from fediaid.config import load_settings
from fediaid.services.posts import Intake
from fediaid.services.runtime import Runtime
from fediaid.storage.engine import Database
from fediaid.storage.move import table_digest
from fediaid.storage.tables import actor_keys, actors, deliveries, inbox_items, metadata, objects
from tests.integration.helpers import Cluster
from tests.support.databases import create_pg_database, postgres_available, sqlite_url
from tests.support.instances import CliError, Instance, init_all, start_all, wait_for

pytestmark = pytest.mark.slow


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 90)).save(buf, format="PNG")
    return buf.getvalue()


async def _populate(data: Path, url: str, peer_uri: str) -> dict[str, Any]:
    rt = await Runtime.open(load_settings(data, env={"FEDIAID_DATABASE_URL": url}))
    try:
        admin = await rt.accounts.get_user("admin")
        maria = await rt.accounts.create_user("maria")
        titles = []
        for vis in ("public", "network", "members"):
            post = await rt.posts.create(
                maria, {"kind": "need", "title": f"Rides to the clinic ({vis})",
                        "visibility": vis}, confirm=True)
            titles.append(post.title)
        await rt.posts.create(maria, {"kind": "offer", "title": "Spare crib",
                                      "visibility": "direct", "recipients": [peer_uri]},
                              confirm=True)
        await rt.posts.create(maria, {"kind": "need", "title": "Help with rent"},
                              as_neighbor=True, confirm=True)
        await rt.posts.create(admin, {"kind": "need", "title": "Groceries for Mr. J"},
                              intake=Intake("Mr. J", "555 0101", "after 6pm"), confirm=True)
        media = await rt.media.upload(maria, png(), description="a red square")
        return {"titles": titles, "media": media}
    finally:
        await rt.close()


def populate(inst: Instance, peer: Instance) -> dict[str, Any]:
    return asyncio.run(_populate(inst.data, inst.database_url, peer.group_uri))


async def _digests(url: str) -> dict[str, tuple[int, str]]:
    db = Database(url)
    try:
        async with db.read() as conn:
            # Not the derived tables (``picture_changes``: a number that only has to grow
            # with changes in its own database; the move neither copies nor compares it).
            return {t.name: await table_digest(conn, t) for t in metadata.sorted_tables
                    if not t.info.get("derived")}
    finally:
        await db.dispose()


def digests(url: str) -> dict[str, tuple[int, str]]:
    return asyncio.run(_digests(url))


def quiet(cluster: Cluster, inst: Instance) -> None:
    """Nothing left for the workers: every delivery and received activity finished."""
    db = cluster.db(inst)
    wait_for(lambda: all(r.state in ("done", "failed", "dead") for r in
                         db.rows(select(deliveries.c.state)))
             and all(r.state == "done" for r in db.rows(select(inbox_items.c.state))),
             timeout=30)


def group_keys(db_rows: list[Any]) -> dict[str, tuple[str, str]]:
    return {r.uri: (r.public_key_pem, r.private_key_pem) for r in db_rows}


def keys_of(cluster: Cluster, inst: Instance) -> dict[str, tuple[str, str]]:
    return group_keys(cluster.db(inst).rows(
        select(actors.c.uri, actors.c.public_key_pem, actor_keys.c.private_key_pem)
        .select_from(actor_keys.join(actors, actors.c.id == actor_keys.c.actor_id))))


def test_backup_of_a_running_instance_restores_with_the_same_keys(cluster: Cluster,
                                                                  tmp_path: Path) -> None:
    a, b = cluster.new("a"), cluster.new("b")
    init_all(a, b)
    start_all(a, b)
    b.cli("admin", "follow", a.handle)
    wait_for(lambda: cluster.db(b).scalar(select(actors.c.public_key_pem).where(
        actors.c.uri == a.group_uri)) is not None)
    original_public = httpx.get(a.group_uri, headers={"Accept": "application/activity+json"}
                                ).json()["publicKey"]["publicKeyPem"]
    made = populate(a, b)
    media_name = made["media"]["url"].rsplit("/", 1)[1]
    quiet(cluster, a)

    # The coordinators' backup key (kept off the server; here, beside it).
    key = tmp_path / "backup-key.txt"
    recipient = a.cli("backup-key", str(key)).strip().splitlines()[-1]
    archive = tmp_path / "a-backup.tar.gz.age"
    with pytest.raises(CliError) as refused:  # never in the clear unless asked
        a.cli("backup", str(archive))
    assert "refusing to write an unencrypted backup" in refused.value.stderr
    out = a.cli("backup", str(archive), "--recipient", recipient)  # while `serve` runs
    assert "private keys" in out and "encrypted with age to 1 public key" in out
    assert archive.stat().st_mode & 0o777 == 0o600
    a.stop()
    before = digests(a.database_url)
    keys_before = keys_of(cluster, a)
    assert a.group_uri in keys_before
    # Nothing in the file can be read without the key: not the group's private key, the
    # session secret, an intake record's phone number, the media.
    raw = archive.read_bytes()
    assert raw.startswith(b"age-encryption.org/v1\n")
    secret_key = re.search(r'secret_key = "([^"]+)"',
                           (a.data / "fediaid.toml").read_text()).group(1)  # type: ignore[union-attr]
    media_bytes = (a.data / "media" / media_name).read_bytes()
    hidden = [keys_before[a.group_uri][1].splitlines()[1].encode(), secret_key.encode(),
              media_bytes[-64:], made["titles"][0].encode()]
    assert not [s for s in hidden if s in raw]
    # (The control: they are in the decrypted archive; the private key too where the
    # database is a SQLite file, as pg_dump's custom format compresses its own.)
    identity = pyrage.x25519.Identity.from_str(
        next(x for x in key.read_text().splitlines() if x.startswith("AGE-SECRET-KEY-")))
    plain = gzip.decompress(pyrage.decrypt(raw, [identity]))
    assert all(s in plain for s in hidden[1:3])
    assert cluster.postgres or hidden[0] in plain

    # A new data directory (and, on PostgreSQL, a new database), the same address.
    data2 = tmp_path / "restored"
    url2 = sqlite_url(data2) if not cluster.postgres else create_pg_database()
    if cluster.postgres:
        cluster._own_pg.append(url2)
    a2 = Instance(data=data2, port=a.port, group=a.group, database_url=url2)
    cluster.instances.append(a2)
    with pytest.raises(CliError) as refused:  # the server alone cannot open it
        a2.cli("restore", str(archive))
    assert "--identity" in refused.value.stderr and not (data2 / "fediaid.toml").exists()
    out = a2.cli("restore", str(archive), "--identity", str(key))
    assert "Restored" in out and "private keys" in out
    after = digests(url2)
    assert {n for n, v in before.items() if v != after[n]} == set()
    assert before["posts"][0] == 6 and before["intake_records"][0] == 1
    assert (data2 / "media" / media_name).read_bytes() == (a.data / "media" / media_name
                                                          ).read_bytes()
    assert (data2 / "fediaid.toml").read_text().split("secret_key")[1].splitlines()[0] == \
        (a.data / "fediaid.toml").read_text().split("secret_key")[1].splitlines()[0]
    cluster.dbs["a2"] = type(cluster.db(a))(url2)
    keys_after = group_keys(cluster.dbs["a2"].rows(
        select(actors.c.uri, actors.c.public_key_pem, actor_keys.c.private_key_pem)
        .select_from(actor_keys.join(actors, actors.c.id == actor_keys.c.actor_id))))
    assert keys_after == keys_before

    # A request the restored instance signs verifies with the original's public key.
    url = f"{b.base}/inbox"
    signed = sign_cavage(method="GET", url=url, headers={}, body=None,
                         key_id=f"{a.group_uri}#main-key",
                         private_key=load_private_key(keys_after[a.group_uri][1]),
                         now=time.time())
    request = parse_request_signature(method="GET", url=url, headers=signed, body=None,
                                      now=time.time())
    assert request.key_id == f"{a.group_uri}#main-key"
    request.verify(load_public_key(original_public))  # raises InvalidSignature if not

    # And in a real exchange: the restored group posts; B, which learned the key before
    # the backup, verifies it and stores the note.
    a2.start()
    note = a2.cli("admin", "post", "Back after a restore.").strip().splitlines()[-1]
    row = wait_for(lambda: cluster.db(b).rows(select(objects).where(objects.c.uri == note)),
                   timeout=30)[0]
    assert "Back after a restore." in row.content
    item = cluster.db(b).rows(select(inbox_items).where(
        inbox_items.c.actor_uri == a.group_uri, inbox_items.c.type == "Create"))
    assert item and item[-1].signer_key_id == f"{a.group_uri}#main-key"
    assert cluster.db(b).scalar(select(actors.c.public_key_pem).where(
        actors.c.uri == a.group_uri)) == original_public


def _home(inst: Instance) -> str:
    html = httpx.get(inst.base + "/", timeout=10).text
    # Per-response values: CSRF tokens are masked afresh each time.
    return re.sub(r'value="[^"]{20,}"', 'value=""', html)


def test_move_to_postgres_round_trip(tmp_path: Path) -> None:
    if not postgres_available():
        pytest.skip("no PostgreSQL server reachable at 127.0.0.1:5432")
    c = Cluster(sqlite_url(tmp_path / "unused"), tmp_path)
    failed = True
    try:
        a, b = c.new("a"), c.new("b")
        init_all(a, b)
        start_all(a, b)
        b.cli("admin", "follow", a.handle)
        wait_for(lambda: c.db(b).scalar(select(actors.c.id).where(
            actors.c.uri == a.group_uri)) is not None)
        made = populate(a, b)
        quiet(c, a)
        home = _home(a)
        for title in made["titles"][:1]:
            assert title in home
        a.stop()
        c.db(a).close()
        del c.dbs["a"]
        source = digests(a.database_url)

        pg = create_pg_database()
        c._own_pg.append(pg)
        out = a.cli("move-to-postgres", "--to", pg, "--switch")
        assert "every row checked" in out and "now uses the PostgreSQL database" in out
        target = digests(pg)
        assert target == source
        assert source["posts"][0] == 6 and source["actor_keys"][0] >= 2
        assert f'database_url = "{pg}"' in (a.data / "fediaid.toml").read_text()

        # The instance runs on PostgreSQL now (the file says so; the test's environment
        # variable must say the same).
        a.database_url = pg
        a.start()
        assert _home(a) == home
        note = a.cli("admin", "post", "Now on PostgreSQL.").strip().splitlines()[-1]
        wait_for(lambda: c.db(b).rows(select(objects).where(objects.c.uri == note)),
                 timeout=30)
        failed = False
    finally:
        c.close(failed=failed)


def test_move_to_postgres_refuses_a_non_empty_target(tmp_path: Path) -> None:
    if not postgres_available():
        pytest.skip("no PostgreSQL server reachable at 127.0.0.1:5432")
    c = Cluster(sqlite_url(tmp_path / "unused"), tmp_path)
    try:
        a = c.new("a")
        init_all(a)
        pg = create_pg_database()
        c._own_pg.append(pg)
        asyncio.run(_create_table(pg))
        config = (a.data / "fediaid.toml").read_text()
        with pytest.raises(Exception) as err:  # (libpq's form of the URL is accepted too)
            a.cli("move-to-postgres", "--to", pg.replace("+asyncpg", ""), "--switch")
        assert "not empty" in str(err.value)
        assert (a.data / "fediaid.toml").read_text() == config
        assert asyncio.run(_tables(pg)) == ["precious"]
    finally:
        c.close(failed=False)


async def _create_table(url: str) -> None:
    from sqlalchemy import text

    db = Database(url)
    try:
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE precious (x int)"))
    finally:
        await db.dispose()


async def _tables(url: str) -> list[str]:
    from sqlalchemy import text

    db = Database(url)
    try:
        async with db.read() as conn:
            return [r[0] for r in await conn.execute(text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() ORDER BY 1"))]
    finally:
        await db.dispose()

