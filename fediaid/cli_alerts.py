"""``fediaid admin alerts``: account alerts between linked groups from the command line (the
same service as the coordinators' page /admin/alerts; docs/moderation.md, docs/network.md).

- ``alerts``: alerts from linked groups (waiting, applied, dismissed) and those this group
  shared;
- ``alerts suspend ACCOUNT --harm KIND [--reason WORDS] [--share]``: suspend an account for
  harm; ``--share`` tells the linked groups that get this group's alerts (off by default);
- ``alerts apply ID`` / ``alerts dismiss ID``: decide about an alert from a linked group;
- ``alerts retract ID [--lift]``: take back an alert this group shared (``--lift``: and
  lift the suspension here).

The operator acts as "the server operator" in the audit log.
"""

from __future__ import annotations

import argparse
from typing import Any

from fediaid.domain.alerts import Harm


def add_parser(asub: Any, common: argparse.ArgumentParser) -> None:
    x = asub.add_parser("alerts", parents=[common],
                        help="account alerts between linked groups")
    sub = x.add_subparsers(dest="alerts_command", metavar="ACTION")
    s = sub.add_parser("suspend", parents=[common], help="suspend an account for harm")
    s.add_argument("account", help="a member's name, @name@server or an actor URL")
    s.add_argument("--harm", required=True, choices=[h.value for h in Harm])
    s.add_argument("--reason", default="", help="words shared with linked groups")
    s.add_argument("--share", action="store_true",
                   help="tell the linked groups that get this group's alerts")
    for name, what in (("apply", "suspend the account here too, as the alert says"),
                       ("dismiss", "dismiss an alert from a linked group"),
                       ("retract", "take back an alert this group shared")):
        s = sub.add_parser(name, parents=[common], help=what)
        s.add_argument("id", type=int)
    s.add_argument("--lift", action="store_true",
                   help="also lift the suspension here (the member may log in again)")


async def run(rt: Any, args: argparse.Namespace) -> int:
    svc = rt.alerts
    cmd = getattr(args, "alerts_command", None)
    if cmd == "suspend":
        done = await svc.suspend(None, args.account, args.harm, reason=args.reason,
                                 share=args.share)
        told = ("an alert was shared already" if done.already_shared
                else f"{done.told} linked groups told" if args.share else "nobody told")
        print(f"Suspended {done.account.handle} ({told})")
    elif cmd == "apply":
        found = await svc.apply(None, args.id)
        print(f"Alert #{args.id} applied: {found.account_handle or found.account_uri} "
              "is suspended here")
    elif cmd == "dismiss":
        await svc.dismiss(None, args.id)
        print(f"Alert #{args.id} dismissed")
    elif cmd == "retract":
        n = await svc.retract(None, args.id, lift=args.lift)
        lifted = "; the suspension is lifted" if args.lift else ""
        print(f"Alert #{args.id} retracted ({n} linked groups told){lifted}")
    else:
        received = await svc.received(None)
        sent = await svc.sent(None)
        if not received and not sent:
            print("No account alerts.")
        for a in received:
            words = f": {a.reason}" if a.reason else ""
            gone = " [retracted by them]" if a.retracted_at else ""
            print(f"#{a.id} {a.state.value} from {a.from_handle}: "
                  f"{a.account_handle or a.account_uri} ({a.harm.value}){words}{gone}")
        for s in sent:
            state = "retracted" if s.retracted_at else f"told {len(s.sent_to)} groups"
            print(f"sent #{s.id}: {s.account_handle or s.account_uri} ({s.harm.value}) "
                  f"{state}")
    return 0
