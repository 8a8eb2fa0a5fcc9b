"""The inbox ceiling for bench/inbox.py: the least a signed, durable inbox can do on this stack.

A bare Starlette endpoint under the same uvicorn settings as ``fediaid serve`` (uvloop,
httptools, no access log, no lifespan work besides the writer) that:

1. reads the body and checks ``Digest`` (SHA-256) against it,
2. parses the draft-cavage ``Signature`` header, checks the ``Date`` window,
3. looks the key up in a dict preloaded from a JSON file (keyId -> PEM, owner),
4. verifies RSA-2048 PKCS#1 v1.5 over the signing string of the covered headers,
5. parses the JSON and checks that the key's owner is the activity's actor,
6. hands the row to one writer task (group commit: ``INSERT .. ON CONFLICT DO NOTHING`` of
   up to 256 rows per SQLAlchemy-async transaction) and answers 202 once it is committed.

No routing table, middleware, blocks, services or background workers: whatever the real
endpoint does beyond this is its overhead. Usage:
    python bench/_ceiling_inbox.py --port P --database-url URL --keys keys.json
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

import orjson
import uvicorn
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

metadata = MetaData()
items = Table(
    "ceiling_inbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("ap_id", String(2048), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("actor", String(2048), nullable=False),
    Column("payload", Text, nullable=False),
    Column("received_at", String(40), nullable=False),
)

KEYS: dict[str, tuple[rsa.RSAPublicKey, str]] = {}
ENGINE: AsyncEngine
QUEUE: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[None]]]


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


async def writer() -> None:
    is_pg = ENGINE.dialect.name == "postgresql"
    stmt = (postgresql.insert(items) if is_pg else sqlite.insert(items)
            ).on_conflict_do_nothing(index_elements=["ap_id"])
    while True:
        batch = [await QUEUE.get()]
        while len(batch) < 256 and not QUEUE.empty():
            batch.append(QUEUE.get_nowait())
        try:
            async with ENGINE.begin() as conn:
                await conn.execute(stmt, [row for row, _ in batch])
        except Exception as exc:
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            continue
        for _, fut in batch:
            if not fut.done():
                fut.set_result(None)


def _params(value: str) -> dict[str, str]:
    out = {}
    for part in value.split(","):
        k, _, v = part.strip().partition("=")
        out[k] = v.strip('"')
    return out


async def inbox(request: Request) -> Response:
    body = await request.body()
    h = request.headers
    try:
        params = _params(h["signature"])
        digest = h["digest"]
        if not digest.startswith("SHA-256=") or not hmac.compare_digest(
            base64.b64decode(digest[8:]), hashlib.sha256(body).digest()
        ):
            return Response(status_code=401)
        if abs(time.time() - parsedate_to_datetime(h["date"]).timestamp()) > 3900:
            return Response(status_code=401)
        key, owner = KEYS[params["keyId"]]
        lines = []
        for name in params["headers"].split():
            if name == "(request-target)":
                lines.append(f"(request-target): post {request.url.path}")
            else:
                lines.append(f"{name}: {h[name]}")
        key.verify(base64.b64decode(params["signature"]), "\n".join(lines).encode(),
                   padding.PKCS1v15(), hashes.SHA256())
    except (KeyError, ValueError, InvalidSignature):
        return Response(status_code=401)
    activity = orjson.loads(body)
    if activity.get("actor") != owner:
        return Response(status_code=401)
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    QUEUE.put_nowait(({"ap_id": activity["id"], "type": activity["type"], "actor": owner,
                       "payload": body.decode(), "received_at": str(time.time())}, fut))
    await fut
    return Response(status_code=202)


async def healthz(request: Request) -> Response:
    return Response("ok")


def main() -> None:
    global ENGINE, QUEUE
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--keys", required=True)
    args = ap.parse_args()
    for key_id, (pem, owner) in json.loads(open(args.keys).read()).items():
        public = serialization.load_pem_public_key(pem.encode())
        assert isinstance(public, rsa.RSAPublicKey)
        KEYS[key_id] = (public, owner)
    if args.database_url.startswith("sqlite"):
        ENGINE = create_async_engine(args.database_url, poolclass=AsyncAdaptedQueuePool,
                                     pool_size=1, max_overflow=0)
        event.listen(ENGINE.sync_engine, "connect", _pragmas)
        event.listen(ENGINE.sync_engine, "begin", _begin_immediate)
    else:
        ENGINE = create_async_engine(args.database_url, pool_size=2)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        global QUEUE
        QUEUE = asyncio.Queue()
        async with ENGINE.begin() as conn:
            await conn.run_sync(metadata.create_all)
        task = asyncio.create_task(writer())
        yield
        task.cancel()
        await ENGINE.dispose()

    app = Starlette(routes=[Route("/inbox", inbox, methods=["POST"]),
                            Route("/healthz", healthz)], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning", server_header=False)


if __name__ == "__main__":
    main()
