"""``fediaid admin forward-needs``: forwarding unmet needs to linked groups from the command
line (issue 12; docs/network.md, "Needs nobody near could meet").

- ``forward-needs`` alone: the settings, then offer the needs that are due now (what the
  worker does by itself every few minutes);
- ``--after-hours N`` (0: off), ``--daily-cap N``, ``--by-default yes|no``: change the
  settings (as the coordinators' settings page does, in the group's log);
- ``--at 2026-12-07T10:00:00Z``: run the check as if it were that time (tests, and to see
  what a longer delay would forward); nothing else changes with it.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any


def add_parser(asub: Any, common: argparse.ArgumentParser) -> None:
    x = asub.add_parser("forward-needs", parents=[common],
                        help="offer unmet needs to linked groups now, or change how")
    x.add_argument("--after-hours", type=int,
                   help="offer needs nobody answered within this many hours (0: off)")
    x.add_argument("--daily-cap", type=int,
                   help="show at most this many needs from linked groups a day")
    x.add_argument("--by-default", choices=["yes", "no"],
                   help="whether a need is offered unless its asker says no")
    x.add_argument("--at", help="run the check as if it were this time (ISO 8601, UTC)")
    x.add_argument("--settings-only", action="store_true",
                   help="change the settings without running the check")


async def run(rt: Any, args: argparse.Namespace) -> int:
    svc = rt.forwarding
    values: dict[str, Any] = {}
    if args.after_hours is not None:
        values["after_hours"] = args.after_hours
    if args.daily_cap is not None:
        values["daily_cap"] = args.daily_cap
    if args.by_default is not None:
        values["by_default"] = args.by_default
    settings = await (svc.update_settings(None, values) if values else svc.settings_now())
    print(f"Forwarding: {'after ' + str(settings.after_hours) + ' hours' if settings.on else 'off'}"
          f"; needs offered unless the asker says no: {'yes' if settings.by_default else 'no'}"
          f"; shown from linked groups a day: at most {settings.daily_cap}")
    if args.settings_only:
        return 0
    now = None
    if args.at:
        now = datetime.fromisoformat(args.at.replace("Z", "+00:00"))
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
    sent = await svc.forward_due(now)
    print(f"Offered to linked groups: {sent}")
    return 0
