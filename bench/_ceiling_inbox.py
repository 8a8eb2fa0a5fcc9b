"""The inbox ceiling for bench/inbox.py: the least a signed, durable inbox can do on this stack.

A bare Starlette endpoint under the same uvicorn settings as ``fediaid serve`` (uvloop,
httptools, no access log, no lifespan work besides the writer) that:

1. reads the body and verifies the request with fediaid's own verification code,
   ``activitypub.verify.verify_request`` (digest, ``Date`` window, draft-cavage or RFC 9421
   parsing, the covered host against the configured origin ``--base-url``, RSA), with the
   keys looked up in a dict preloaded from a JSON file (keyId -> PEM, owner) instead of the
   key cache and the database,
2. parses the JSON and checks that the key's owner is the activity's actor,
3. hands the row to one writer task (group commit: ``INSERT .. ON CONFLICT DO NOTHING`` of
   up to 256 rows per SQLAlchemy-async transaction) and answers 202 once it is committed.

No routing table, middleware, federation policy, rate limits, services or background
workers: whatever the real endpoint does beyond this is its overhead. Usage:
    python bench/_ceiling_inbox.py --port P --database-url URL --keys keys.json \
        --base-url http://HOST:PORT   (the origin the requests were signed for)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from activitypub.errors import KeyResolutionError, SignatureError
from activitypub.keys import load_public_key
from activitypub.verify import ResolvedKey, verify_request

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

KEYS: dict[str, ResolvedKey] = {}
BASE_URL = ""
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


async def resolve(key_id: str, refresh: bool) -> ResolvedKey:
    try:
        return KEYS[key_id]
    except KeyError:
        raise KeyResolutionError(f"unknown key {key_id}") from None


async def inbox(request: Request) -> Response:
    body = await request.body()
    # The headers as fediaid's inbox fast path hands them to verification (api/activitypub).
    headers: dict[str, str] = {}
    for raw_key, raw_value in request.scope["headers"]:
        key, value = raw_key.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    try:
        signer = await verify_request(method="POST", url=BASE_URL + request.scope["path"],
                                      headers=headers, body=body, resolve_key=resolve,
                                      now=time.time())
    except (KeyResolutionError, SignatureError):
        return Response(status_code=401)
    activity = orjson.loads(body)
    if activity.get("actor") != signer.owner:
        return Response(status_code=401)
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    QUEUE.put_nowait(({"ap_id": activity["id"], "type": activity["type"],
                       "actor": signer.owner, "payload": body.decode(),
                       "received_at": str(time.time())}, fut))
    await fut
    return Response(status_code=202)


async def healthz(request: Request) -> Response:
    return Response("ok")


def main() -> None:
    global ENGINE, QUEUE, BASE_URL
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--keys", required=True)
    ap.add_argument("--base-url", required=True,
                    help="the origin the requests were signed for (fediaid's base URL)")
    args = ap.parse_args()
    BASE_URL = args.base_url.rstrip("/")
    for key_id, (pem, owner) in json.loads(open(args.keys).read()).items():
        KEYS[key_id] = ResolvedKey(key_id=key_id, owner=owner, public_key=load_public_key(pem))
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
