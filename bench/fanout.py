"""Fan-out benchmark: one post, delivered to 2,000 distinct inboxes on 50 HTTPS servers.

What it does (all on 127.0.0.1), for HTTPS sinks and then, as a second row, plain HTTP:
1. Makes a CA and a certificate for 127.0.0.1 (the server and the yardstick trust the CA
   through ``SSL_CERT_FILE``), and starts 2 sink processes (bench/_sink.py) listening on 25
   ports each: 50 "remote servers", answering 202 to any POST.
2. Creates an instance (SQLite, or PostgreSQL with ``--postgres``) and inserts 2,000 remote
   actors, each with its own inbox URL (40 per server), as accepted followers of a member.
3. Runs ``fediaid serve`` (web server + workers). Before the first round a one-delivery post
   to another server loads the HTTP client (so fediaid starts each round as the yardstick
   does: libraries loaded, no connection open). Each round the sinks close every connection,
   then the member posts a status through the server (``POST /api/v1/statuses``, as from a
   Mastodon app); the publish path stores the activity and its 2,000 deliveries in one
   transaction. Measured: from the activity's ``created_at`` (the post's creation, inside
   that transaction) to the last delivery's ``finished_at``, all 2,000 ``done``.
4. The yardstick, same round, a fresh process each time: bench/_yardstick.py signs and POSTs
   the same activity to the same 2,000 URLs with the same client stack (httpx over aiohttp)
   and no database; aiohttp's own API is run too, for context.
5. Off the clock, every request the sinks received, fediaid's and the yardstick's, is checked:
   2,000 distinct inboxes, each signature verified (RSA-2048) with the poster's public key.

Every run is printed and recorded (``--json``), not only the best or the median.
Target (HTTPS): >= 1,000 signed deliveries/s and >= 70 % of the yardstick (2 cores, sinks
included).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH,
    HOST,
    PY,
    Instance,
    LoadMeter,
    Procs,
    RemoteActor,
    db_query,
    emit_json,
    free_port,
    free_ports,
    http_get,
    insert_remote_actors,
    med,
    pg_available,
    pg_create,
    pg_drop,
    sqlite_url,
    verdict,
    wait_http,
    wait_quiet,
    workdir,
)

TARGET_RATE = 1000.0
TARGET_SHARE = 0.70
N_INBOXES = 2000
N_SINK_PROCS = 2
PORTS_PER_SINK = 25
YARDSTICK = "httpx-aiohttp"  # the same client stack as fediaid: the yardstick
YARDSTICK_MODES = (YARDSTICK, "aiohttp")


def _ts(value: Any) -> float:
    if isinstance(value, datetime):
        dt = value
    else:
        dt = datetime.fromisoformat(str(value))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def sink_stats(controls: list[int], path: str = "/__stats") -> list[Any]:
    return [json.loads(http_get(f"http://{HOST}:{p}{path}", timeout=30)[1]) for p in controls]


def check_requests(controls: list[int], key_id: str, public_pem: str,
                   urls: list[str]) -> dict[str, Any]:
    """Every request the sinks kept: one per inbox, each signature verified (off the clock)."""
    from activitypub.keys import load_public_key
    from activitypub.verify import ResolvedKey, verify_request

    parts = sink_stats(controls, "/__requests")
    requests = [r for part in parts for r in part["requests"]]
    bodies = {k: base64.b64decode(v) for part in parts for k, v in part["bodies"].items()}
    key = ResolvedKey(key_id=key_id, owner="poster", public_key=load_public_key(public_pem))

    async def resolve(kid: str, refresh: bool) -> ResolvedKey:
        assert kid == key_id, kid
        return key

    async def go() -> int:
        ok = 0
        for r in requests:
            try:
                await verify_request(method="POST", url=r["url"], headers=r["headers"],
                                     body=bodies[r["body"]], resolve_key=resolve,
                                     now=time.time())
                ok += 1
            except Exception as exc:
                print(f"  signature NOT verified for {r['url']}: {exc}")
        return ok

    verified = asyncio.run(go())
    seen = [r["url"] for r in requests]
    return {"received": len(requests), "verified": verified,
            "distinct": len(set(seen)), "all_inboxes": sorted(seen) == sorted(urls)}


def make_certs(directory: Path) -> tuple[Path, Path]:
    """A CA (PEM) and a certificate chain + key for 127.0.0.1 that it issued."""
    from datetime import timedelta
    from ipaddress import ip_address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fediaid bench CA")])

    def issue(name: x509.Name, key: Any, *, ca: bool) -> x509.Certificate:
        b = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_name)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - timedelta(minutes=5))
             .not_valid_after(now + timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                            critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 ca_key.public_key()), critical=False))
        if ca:
            b = b.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        else:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                critical=False).add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ip_address(HOST))]), critical=False)
        return b.sign(ca_key, hashes.SHA256())

    pem = serialization.Encoding.PEM
    ca_path, chain_path = directory / "ca.pem", directory / "sink.pem"
    ca_path.write_bytes(issue(ca_name, ca_key, ca=True).public_bytes(pem))
    leaf = issue(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]), leaf_key, ca=False)
    chain_path.write_bytes(leaf.public_bytes(pem) + leaf_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return ca_path, chain_path


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of each thread of ``pid``, by thread name (developer aid)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[f"{name}:{task.name}"] = (int(fields[11]) + int(fields[12])) / tick
        try:  # time spent runnable but waiting for a CPU
            out[f"{name}:{task.name} runq"] = int(
                (task / "schedstat").read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            pass
    return out


def watch_commit(db_url: str, last_pk: int, cli: _ApiPost, n: int) -> tuple[int, float]:
    """Poll (every ~5 ms) until the new activity's deliveries are visible, i.e. committed;
    return (activity id, commit time). Bounded by the CLI's life and 60 s."""
    deadline = time.monotonic() + 60
    sql = (f"SELECT activity_id, count(*) FROM deliveries WHERE activity_id > {last_pk} "
           f"GROUP BY activity_id")
    while time.monotonic() < deadline:
        rows = db_query(db_url, sql)
        if rows and rows[0][1] >= n:
            return int(rows[0][0]), time.time()
        if cli.poll() is not None and not rows:
            raise RuntimeError("the post queued no deliveries")
        time.sleep(0.005)
    raise TimeoutError("the post's deliveries never appeared")


def wait_done(db_url: str, activity_pk: int, timeout: float, n: int) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        rows = dict(db_query(db_url, f"SELECT state, count(*) FROM deliveries WHERE "
                                     f"activity_id = {activity_pk} GROUP BY state"))
        if rows.get("done", 0) + rows.get("failed", 0) >= n or \
                time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


class _ApiPost:
    """A member's status posted through the running server (``POST /api/v1/statuses``, as
    from a Mastodon app), in a thread, so the commit can be watched while it runs. Looks
    like a finished process to ``watch_commit``."""

    def __init__(self, base: str, token: str, text: str) -> None:
        import threading

        import httpx

        self.returncode: int | None = None
        self.pid = os.getpid()

        def go() -> None:
            r = httpx.post(f"{base}/api/v1/statuses", data={"status": text},
                           headers={"Authorization": f"Bearer {token}"}, timeout=60)
            self.returncode = 0 if r.status_code == 200 else r.status_code

        self._thread = threading.Thread(target=go, daemon=True)
        self._thread.start()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self) -> None:
        self._thread.join(60)


def post_and_wait(inst: Instance, db_url: str, token: str, text: str, n: int
                  ) -> tuple[int, float, dict[str, Any]]:
    """Post a status through the server; return (activity id, commit time, states) once its
    ``n`` deliveries are finished."""
    last_pk = db_query(db_url, "SELECT coalesce(max(id), 0) FROM activities")[0][0]
    api = _ApiPost(inst.base, token, text)
    act_pk, committed = watch_commit(db_url, last_pk, api, n)
    api.wait()
    if api.returncode != 0:
        raise RuntimeError(f"POST /api/v1/statuses failed ({api.returncode})")
    return act_pk, committed, wait_done(db_url, act_pk, 90.0, n)


def run_scheme(scheme: str, *, procs: Procs, tmp: Path, db_url: str, rounds: int,
               postgres: bool, ca: Path, chain: Path, say: Any) -> dict[str, Any]:
    """Set up sinks and an instance for ``scheme`` and run the rounds; every run recorded."""
    tls = scheme == "https"
    ports = free_ports(N_SINK_PROCS * PORTS_PER_SINK + N_SINK_PROCS + 1)
    controls, warm_port, ports = (ports[:N_SINK_PROCS], ports[N_SINK_PROCS],
                                  ports[N_SINK_PROCS + 1:])
    sinks = []
    for i in range(N_SINK_PROCS):
        mine = ports[i::N_SINK_PROCS] + ([warm_port] if i == 0 else [])
        sinks.append(procs.start(
            [PY, str(BENCH / "_sink.py"), *(["--tls", str(chain)] if tls else []),
             "--control", str(controls[i]), *map(str, mine)], log=tmp / f"sink{i}.log"))
    for c in controls:
        wait_http(f"http://{HOST}:{c}/__stats", timeout=20.0)
    time.sleep(0.3)  # the delivery ports are bound just before the control port
    env = {"SSL_CERT_FILE": str(ca)}
    inst = Instance(tmp / "app", free_port(), db_url, env=env)
    inst.data.mkdir()
    inst.init()
    remote = [RemoteActor(uri=f"{scheme}://{HOST}:{ports[i % len(ports)]}/users/f{i}",
                          inbox=f"{scheme}://{HOST}:{ports[i % len(ports)]}/users/f{i}/inbox")
              for i in range(N_INBOXES)]
    tokens = {}
    for user in ("poster", "warmer"):
        inst.cli("admin", "create-user", user)
        tokens[user] = inst.cli("admin", "token", user, "--scopes", "write"
                                ).strip().splitlines()[-1]
    poster_uri = f"{inst.base}/users/poster"
    insert_remote_actors(db_url, remote, followers_of=poster_uri)
    insert_remote_actors(db_url, [RemoteActor(
        uri=f"{scheme}://{HOST}:{warm_port}/users/w", inbox=f"{scheme}://{HOST}:{warm_port}/w")],
        followers_of=f"{inst.base}/users/warmer")
    poster_id, key_id, public_pem = db_query(
        db_url, f"SELECT id, key_id, public_key_pem FROM actors WHERE uri = '{poster_uri}'")[0]
    private_pem = db_query(
        db_url, f"SELECT private_key_pem FROM actor_keys WHERE actor_id = {poster_id}")[0][0]
    (tmp / "key.pem").write_text(private_pem)
    urls = [r.inbox for r in remote]
    (tmp / "urls.txt").write_text("\n".join(urls))
    app = inst.serve(procs)
    # Load the server's HTTP client with one delivery to another server, then close every
    # connection: each round starts with the libraries loaded and no connection open.
    post_and_wait(inst, db_url, tokens["warmer"], "warm-up", 1)
    yenv = {**os.environ, "SSL_CERT_FILE": str(ca)}
    runs: list[dict[str, Any]] = []
    for r in range(rounds):
        sink_stats(controls, "/__reset")
        wait_quiet(max_wait=8.0, say=say)
        time.sleep(0.2)
        meter = LoadMeter([app.pid, *(s.pid for s in sinks)],
                          None if not postgres else "postgres")
        meter.__enter__()
        profiler = None
        if os.environ.get("BENCH_PYSPY"):
            # Developer aid: BENCH_PYSPY=out records a py-spy profile of the server.
            profiler = subprocess.Popen(
                ["py-spy", "record", *os.environ.get(
                    "BENCH_PYSPY_ARGS", "--nonblocking -r 250").split(), "-f", "raw", "-o",
                 f"{os.environ['BENCH_PYSPY']}.{scheme}.{r}", "--pid", str(app.pid), "-d", "6"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        threads_before = thread_cpu(app.pid) if os.environ.get("BENCH_THREADS") else {}
        act_pk, committed, states = post_and_wait(
            inst, db_url, tokens["poster"],
            f"Round {r}: soup kitchen needs volunteers on Saturday.", N_INBOXES)
        meter.__exit__(None, None, None)
        if threads_before:
            used = {k: v - threads_before.get(k, 0.0) for k, v in thread_cpu(app.pid).items()}
            say("  server threads' CPU (s): " + ", ".join(
                f"{k} {v:.2f}" for k, v in sorted(used.items(), key=lambda kv: -kv[1]) if v > 0))
        if profiler is not None:
            profiler.wait(timeout=30)
        created = _ts(db_query(db_url, f"SELECT created_at FROM activities "
                                       f"WHERE id = {act_pk}")[0][0])
        last_fin = _ts(db_query(db_url, f"SELECT max(finished_at) FROM deliveries "
                                        f"WHERE activity_id = {act_pk}")[0][0])
        stats = sink_stats(controls)
        check = check_requests(controls, key_id, public_pem, urls)
        seconds = last_fin - created
        res = {
            "kind": "fediaid", "scheme": scheme, "round": r, "seconds": seconds,
            "per_s": N_INBOXES / seconds, "commit_after_s": committed - created,
            "first_post_after_s": min(s["first_at"] for s in stats) - created,
            "drain_per_s": N_INBOXES / max(1e-9, max(s["last_at"] for s in stats)
                                           - min(s["first_at"] for s in stats)),
            "states": states, "foreign_cores": meter.foreign_cores, **check,
        }
        runs.append(res)
        say(f"  [{scheme} {r}] fediaid   {res['per_s']:7,.0f}/s: post created -> all "
            f"{N_INBOXES} done in {seconds:.2f}s (commit +{res['commit_after_s']:.2f}s, "
            f"first POST +{res['first_post_after_s']:.2f}s, {res['drain_per_s']:,.0f}/s while "
            f"sending); states {states}; sinks got {check['received']} on {check['distinct']}"
            f" inboxes, {check['verified']} signatures verified; other load "
            f"{res['foreign_cores']:.2f} cores")
        (tmp / "body.json").write_text(db_query(
            db_url, f"SELECT payload FROM activities WHERE id = {act_pk}")[0][0])
        for mode in YARDSTICK_MODES:
            sink_stats(controls, "/__reset")
            time.sleep(0.2)
            ymeter = LoadMeter([s.pid for s in sinks])
            ymeter.__enter__()
            out = subprocess.run(
                [PY, str(BENCH / "_yardstick.py"), "--key", str(tmp / "key.pem"),
                 "--key-id", key_id, "--body", str(tmp / "body.json"), "--urls",
                 str(tmp / "urls.txt"), "--mode", mode],
                capture_output=True, text=True, timeout=120, check=True, env=yenv)
            ymeter.__exit__(None, None, None)
            y = json.loads(out.stdout.strip().splitlines()[-1])
            y.update(kind="yardstick", scheme=scheme, round=r,
                     foreign_cores=ymeter.foreign_cores,
                     **check_requests(controls, key_id, public_pem, urls))
            runs.append(y)
            say(f"  [{scheme} {r}] yardstick {y['per_s']:7,.0f}/s ({mode}: {y['n']} in "
                f"{y['seconds']:.2f}s, statuses {y['statuses']}, {y['verified']} signatures "
                f"verified on {y['distinct']} inboxes; other load {ymeter.foreign_cores:.2f} "
                f"cores)")
    procs.stop(app)
    for sink in sinks:
        procs.stop(sink)
    shutil.rmtree(inst.data, ignore_errors=True)
    fed = [x for x in runs if x["kind"] == "fediaid"]
    yard = [x for x in runs if x["kind"] == "yardstick" and x["mode"] == YARDSTICK]
    rate, yrate = med([x["per_s"] for x in fed]), med([x["per_s"] for x in yard])
    complete = all(x["states"].get("done") == N_INBOXES and x["verified"] == N_INBOXES
                   and x["all_inboxes"] for x in fed) and all(
        x["verified"] == N_INBOXES and x["all_inboxes"] for x in runs if x["kind"] != "fediaid")
    return {"scheme": scheme, "runs": runs, "median_per_s": rate,
            "median_yardstick_per_s": yrate, "share": rate / yrate if yrate else 0.0,
            "complete": complete,
            "by_mode": {m: [round(x["per_s"]) for x in runs if x.get("mode") == m]
                        for m in YARDSTICK_MODES},
            "per_s": [round(x["per_s"]) for x in fed]}


def run(*, postgres: bool = False, quick: bool = False, rounds: int | None = None,
        schemes: tuple[str, ...] = ("https", "http"), verbose: bool = True) -> dict[str, Any]:
    rounds = rounds or (1 if quick else 3)
    say = print if verbose else (lambda *a, **k: None)
    rows = []
    with workdir("fediaid-bench-fanout-") as tmp, Procs() as procs:
        ca, chain = make_certs(tmp)
        for scheme in schemes:
            name = f"bench_fanout_{os.getpid()}_{scheme}"
            db_url = pg_create(name) if postgres else sqlite_url(tmp / "app")
            try:
                rows.append(run_scheme(scheme, procs=procs, tmp=tmp, db_url=db_url,
                                       rounds=rounds, postgres=postgres, ca=ca, chain=chain,
                                       say=say))
            finally:
                if postgres:
                    pg_drop(name)
    db = "PostgreSQL" if postgres else "SQLite"
    say("")
    for row in rows:
        ok_rate = row["median_per_s"] >= TARGET_RATE
        ok_share = row["share"] >= TARGET_SHARE
        say(f"fediaid fan-out ({db}, {row['scheme'].upper()}): every run "
            f"{row['per_s']}/s (median {row['median_per_s']:,.0f}); yardstick "
            + "; ".join(f"{m} {v}" for m, v in row["by_mode"].items()))
        row["pass"] = None if postgres or row["scheme"] != "https" else (
            ok_rate and ok_share and row["complete"])
        verdicts = (f" [{verdict(ok_rate)} >= {TARGET_RATE:,.0f}]", f" [{verdict(ok_share)} >= "
                    f"{TARGET_SHARE:.0%}]") if row["pass"] is not None else ("", "")
        say(f"SUMMARY fanout {db} {row['scheme'].upper()}: {row['median_per_s']:,.0f}/s"
            f"{verdicts[0]} = {row['share']:.0%} of the yardstick's "
            f"{row['median_yardstick_per_s']:,.0f}/s{verdicts[1]}; every delivery made, once "
            f"per inbox, signature verified [{verdict(row['complete'])}]"
            + (f" => {verdict(bool(row['pass']))}" if row["pass"] is not None else ""))
    first = rows[0]
    return {"bench": "fanout", "db": db, "rounds": rounds, "inboxes": N_INBOXES,
            "rows": rows, "per_s": first["per_s"], "median_per_s": first["median_per_s"],
            "median_yardstick_per_s": first["median_yardstick_per_s"], "share": first["share"],
            "complete": all(r["complete"] for r in rows), "pass": first.get("pass")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 round")
    ap.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--scheme", choices=["https", "http"], action="append",
                    help="only these sinks (default: HTTPS, then plain HTTP)")
    ap.add_argument("--json", help="append the summary as a JSON line to this file")
    args = ap.parse_args()
    if args.postgres and not pg_available():
        print("SUMMARY fanout PostgreSQL: skipped (no server at 127.0.0.1:5432)")
        return 0
    summary = run(postgres=args.postgres, quick=args.quick, rounds=args.rounds,
                  schemes=tuple(args.scheme or ("https", "http")))
    emit_json(args.json, summary)
    return 0 if summary["pass"] in (True, None) else 1


if __name__ == "__main__":
    sys.exit(main())
