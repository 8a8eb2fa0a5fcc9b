"""``fediaid admin blocklist ...``: the group's blocklist from the command line (the same
service as the coordinators' page /admin/domains; docs/moderation.md, "Other servers").

- ``export [FILE]``: Mastodon's CSV (standard output without FILE);
- ``import FILE [--apply]``: what the CSV would change; with ``--apply``, change it. A bad
  file changes nothing and says which line is wrong;
- ``subscribe URL|@group@server``, ``unsubscribe ID``, ``subscriptions``, ``fetch``:
  linked groups' published lists (fetched signed now; the worker fetches every 6 hours);
- ``proposals``, ``accept ID|all``, ``dismiss ID|all``: their proposed changes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(asub: Any, common: argparse.ArgumentParser) -> None:
    b = asub.add_parser("blocklist", parents=[common],
                        help="export/import the domain blocklist (Mastodon CSV); "
                             "subscribe to a linked group's list")
    bsub = b.add_subparsers(dest="blocklist_command", required=True, metavar="ACTION")
    x = bsub.add_parser("export", parents=[common], help="write the blocklist as CSV")
    x.add_argument("file", nargs="?", help="where to write (default: standard output)")
    x = bsub.add_parser("import", parents=[common],
                        help="show what a CSV blocklist would change (--apply: change it)")
    x.add_argument("file")
    x.add_argument("--apply", action="store_true", help="apply the changes")
    x = bsub.add_parser("subscribe", parents=[common],
                        help="subscribe to a linked group's published blocklist")
    x.add_argument("url", help="the list's URL, the group's actor URL, or @group@server")
    x = bsub.add_parser("unsubscribe", parents=[common], help="stop a subscription")
    x.add_argument("id", type=int)
    bsub.add_parser("subscriptions", parents=[common], help="list subscriptions")
    bsub.add_parser("fetch", parents=[common], help="fetch every subscribed list now")
    bsub.add_parser("proposals", parents=[common], help="changes waiting for a decision")
    for name in ("accept", "dismiss"):
        x = bsub.add_parser(name, parents=[common], help=f"{name} a proposal (or all)")
        x.add_argument("id", help="a proposal's number, or all")


async def run(rt: Any, args: argparse.Namespace) -> int:
    svc = rt.blocklists
    cmd = args.blocklist_command
    if cmd == "export":
        text = await svc.export_csv()
        if args.file:
            Path(args.file).write_text(text, encoding="utf-8")  # noqa: ASYNC240 - one file
            print(f"Wrote {text.count(chr(10)) - 1} domains to {args.file}")
        else:
            sys.stdout.write(text)
    elif cmd == "import":
        data = Path(args.file).read_bytes()  # noqa: ASYNC240 - one file
        plan = await (svc.import_apply(None, data) if args.apply else svc.import_preview(data))
        for d in plan:
            print(f"{d.change.value:7} {d.domain}: {d.before.value} -> {d.severity.value}"
                  + (f"  ({d.comment})" if d.comment else ""))
        if not plan:
            print("Nothing to change.")
        elif args.apply:
            print(f"Applied {len(plan)} changes.")
        else:
            print(f"{len(plan)} changes; run again with --apply to make them.")
    elif cmd == "subscribe":
        sub, fresh = await svc.subscribe(None, args.url)
        print(f"Subscribed ({sub.id}) to {sub.url}: {fresh} proposals.")
    elif cmd == "unsubscribe":
        await svc.unsubscribe(None, args.id)
        print("Unsubscribed.")
    elif cmd == "subscriptions":
        for s in await svc.subscriptions():
            print(f"{s.id}\t{s.url}\t{s.fetched_at or 'never fetched'}"
                  + (f"\tlast error: {s.last_error}" if s.last_error else ""))
    elif cmd == "fetch":
        fresh = 0
        for s in await svc.subscriptions():
            fresh += await svc.fetch(s)
        print(f"{fresh} new or changed proposals.")
    elif cmd == "proposals":
        for v in await svc.proposals():
            p = v.proposal
            print(f"{p.id}\t{p.change.value} {p.domain}: {v.before.value} -> "
                  f"{p.severity.value}\tfrom {v.subscription.publisher or v.subscription.url}"
                  + (f"\t({p.comment})" if p.comment else ""))
    elif cmd in ("accept", "dismiss"):
        if args.id == "all":
            n = await svc.decide_all(None, accept=cmd == "accept")
            print(f"{cmd.capitalize()}ed {n} proposals.")
        else:
            domain = await svc.decide(None, int(args.id), accept=cmd == "accept")
            print(f"{cmd.capitalize()}ed the proposal for {domain}.")
    return 0
