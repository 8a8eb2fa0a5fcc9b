"""``fediaid admin link|unlink|links``: links with other groups from the command line (the
same service as the coordinators' Network page, /admin/network; docs/network.md).

- ``link @group@server [--share NAME ...]``: propose a link, or accept the one that group
  proposed; ``--pause`` / ``--resume`` an active link;
- ``unlink @group@server``: end a link (or decline or withdraw a proposal);
- ``links``: every link and its state.

The operator acts as "the server operator" in the audit log.
"""

from __future__ import annotations

import argparse
from typing import Any

from fediaid.domain.links import Share

STATE_WORDS = {
    "proposed_by_us": "proposed by us, waiting for them",
    "proposed_by_them": "proposed by them, waiting for us",
    "active": "active",
    "paused": "paused",
    "ended": "ended",
}


def add_parser(asub: Any, common: argparse.ArgumentParser) -> None:
    x = asub.add_parser("link", parents=[common],
                        help="propose a link with another group (or accept theirs)")
    x.add_argument("handle", help="@group@server or the group's actor URL")
    x.add_argument("--share", action="append", choices=[s.value for s in Share],
                   help="what this group shares over the link (repeat; default: "
                        "blocklists)")
    how = x.add_mutually_exclusive_group()
    how.add_argument("--pause", action="store_true", help="pause an active link")
    how.add_argument("--resume", action="store_true", help="resume a paused link")
    x = asub.add_parser("unlink", parents=[common],
                        help="end a link (or decline or withdraw a proposal)")
    x.add_argument("handle")
    asub.add_parser("links", parents=[common], help="links with other groups")


async def run(rt: Any, args: argparse.Namespace) -> int:
    svc = rt.links
    cmd = args.admin_command
    if cmd == "link":
        if args.pause or args.resume:
            state = await svc.pause(None, args.handle, resume=args.resume)
        else:
            shares = frozenset(Share(s) for s in args.share) if args.share else None
            links = {link.actor_uri: link for link in await svc.links()}
            target = await svc.known(args.handle)
            theirs = links.get(target.uri)
            if theirs is not None and theirs.state.value == "proposed_by_them":
                state = await svc.accept(None, args.handle, shares)
            elif shares is not None:
                state = await svc.propose(None, args.handle, shares)
            else:
                state = await svc.propose(None, args.handle)
        print(f"Link with {args.handle}: {STATE_WORDS[state.value]}")
    elif cmd == "unlink":
        await svc.end(None, args.handle)
        print(f"Link with {args.handle}: ended")
    else:
        links = await svc.links()
        if not links:
            print("No links with other groups.")
        for link in links:
            ours = ", ".join(sorted(s.value for s in link.our_shares)) or "nothing"
            theirs = ", ".join(sorted(s.value for s in link.their_shares)) or "nothing"
            print(f"{link.handle}  {STATE_WORDS[link.state.value]}  "
                  f"(we share: {ours}; they share: {theirs})")
    return 0
