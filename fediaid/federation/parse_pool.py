"""Parsing received notes in a helper process, for the inbox worker's large batches.

``parse_remote_note`` (sanitizing with nh3, hashtags, addressing) is the costliest step of
applying a received ``Create``: ~80 us of a 2 KB note on a quiet core, about three times
what writing its rows costs the event loop. One Python process uses one core for that. While
a backlog drains (a burst of thousands of activities), the inbox worker hands the next
batch's payloads to one helper process, which parses them on the other core while the
worker writes the batch before (services/inbox_processing.py, jobs/inbox.py); the result is
the same function's result, pickled back.

- The helper starts on first use, only for a batch of at least ``MIN_NOTES`` notes: outside
  bursts no process is started and nothing changes. One per process; it is stopped when it
  has had nothing to do for ``IDLE_SECONDS`` (the inbox worker asks when it is idle: the
  helper's ~40 MB, and multiprocessing's resource tracker's ~13 MB, are given back after a
  burst), and ends with the process: the worker shuts it down when it stops, and the helper
  watches its parent and exits when the parent is gone (a server killed with SIGKILL, or by
  the kernel's OOM killer, left its helper behind for good).
- Anything but a note's parsing is left to the caller, and so is a note whose parsing raised
  in the helper (parsed again in process: its error is the caller's, as before). A helper
  that died or cannot start is given up for the life of the process: everything is parsed
  in process, as before.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor

import orjson

from activitypub.vocab import type_of
from fediaid.federation.inbound import RemoteNote, parse_remote_note

log = logging.getLogger(__name__)

# Notes in a batch for which starting (or using) the helper is worth it.
MIN_NOTES = 32
# A helper unused for this long is stopped (``release_if_idle``).
IDLE_SECONDS = 300.0

# Per payload: the note ``parse_remote_note`` makes of a ``Create``'s embedded object (None:
# not a note), or AGAIN: anything else (not such a Create, or parsing raised): the caller
# does in process whatever it does with it.
AGAIN = "again"
Parsed = RemoteNote | None | str

# How often the helper looks whether the process that started it still runs.
PARENT_CHECK_SECONDS = 1.0

_pool: ProcessPoolExecutor | None = None
_disabled = False
_last_used = 0.0
# Notes the helper parsed (for tests and the curious).
helped = 0


def _parse_one(payload: str) -> Parsed:
    activity = orjson.loads(payload)
    if not isinstance(activity, dict) or type_of(activity) != "Create":
        return AGAIN
    obj = activity.get("object")
    return parse_remote_note(obj) if isinstance(obj, dict) else AGAIN


def parse_payloads(payloads: list[str]) -> list[Parsed]:
    """The helper's work: each payload's note (see ``AGAIN``)."""
    out: list[Parsed] = []
    for payload in payloads:
        try:
            out.append(_parse_one(payload))
        except Exception:  # noqa: BLE001 - the caller parses it again and sees the error
            out.append(AGAIN)
    return out


def _watch_parent(parent: int) -> None:
    """In the helper, at its start: exit as soon as the process that started it is gone (it
    is then adopted by another: ``getppid`` changes). A pool that is shut down stops its
    helper itself; this is for a parent that could not (killed)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _executor() -> ProcessPoolExecutor | None:
    global _pool, _disabled
    if _disabled:
        return None
    if _pool is None:
        try:
            # spawn: the parent has threads (database drivers); forking them is unsafe.
            _pool = ProcessPoolExecutor(max_workers=1,
                                        mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_watch_parent, initargs=(os.getpid(),))
        except (OSError, ValueError) as exc:
            log.warning("note parsing stays in process: no helper process (%s)", exc)
            _disabled = True
            return None
    return _pool


def submit(payloads: list[str]) -> asyncio.Future[list[Parsed]] | None:
    """Start parsing ``payloads`` in the helper; None when there are too few to be worth it
    or there is no helper (then the caller parses in process)."""
    if len(payloads) < MIN_NOTES:
        return None
    global _last_used
    pool = _executor()
    if pool is None:
        return None
    _last_used = time.monotonic()
    try:
        fut: Future[list[Parsed]] = pool.submit(parse_payloads, payloads)
    except RuntimeError as exc:  # BrokenProcessPool, or shut down
        _give_up(exc)
        return None
    return asyncio.wrap_future(fut)


async def result(fut: asyncio.Future[list[Parsed]] | None) -> list[Parsed] | None:
    """The helper's notes, or None when it failed (the caller parses in process)."""
    global helped
    if fut is None:
        return None
    try:
        notes = await fut
    except Exception as exc:  # noqa: BLE001 - a dead helper: parse in process
        _give_up(exc)
        return None
    helped += sum(1 for n in notes if not isinstance(n, str))
    return notes


def _give_up(exc: BaseException) -> None:
    global _pool, _disabled
    log.warning("note parsing back in process: the helper process failed (%s)", exc)
    _disabled = True
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def release_if_idle(now: float | None = None) -> bool:
    """Stop the helper if it has had nothing to do for ``IDLE_SECONDS``; returns whether it
    was stopped (the next large batch starts a new one)."""
    global _pool
    if _pool is None or (now if now is not None else time.monotonic()) - _last_used < (
            IDLE_SECONDS):
        return False
    pool, _pool = _pool, None
    pool.shutdown(wait=False, cancel_futures=True)
    return True


def shutdown() -> None:
    """Stop the helper (at exit; tests)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None
