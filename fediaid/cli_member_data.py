"""``fediaid admin export-member NAME FILE`` and ``fediaid admin delete-member NAME --yes``:
a coordinator handles a member's request on their behalf (the same service as the member's
own pages /account/data and /account/delete; both written in the group's audit log).

``--intake POST`` (repeatable) names a proxy post whose intake record is about this
person (a neighbor whose need a coordinator recorded, who later got an account): the
export includes it, deletion deletes the post and its record. Nothing is matched by name.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def add_parser(asub: Any, common: argparse.ArgumentParser) -> None:
    x = asub.add_parser("export-member", parents=[common],
                        help="write everything about a member to a zip file (JSON, CSV, "
                             "media), for a request made on their behalf")
    x.add_argument("name")
    x.add_argument("file")
    x.add_argument("--intake", metavar="POST", action="append", default=[],
                   help="a proxy post whose intake record is about this person")
    x = asub.add_parser("delete-member", parents=[common],
                        help="delete a member's account everywhere (cannot be undone)")
    x.add_argument("name")
    x.add_argument("--yes", action="store_true", help="really delete it")
    x.add_argument("--intake", metavar="POST", action="append", default=[],
                   help="a proxy post whose intake record is about this person (deleted)")


async def run(rt: Any, args: argparse.Namespace) -> int:
    from fediaid.services.member_data import parse_ids

    intake = parse_ids(args.intake)
    if args.admin_command == "export-member":
        data = await rt.member_data.archive_for(None, args.name, intake_post_ids=intake)
        path = Path(args.file)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        print(f"Wrote everything about {args.name} to {path} ({len(data)} bytes). It is "
              "private: hand it to them only.")
        return 0
    if not args.yes:
        print(f"This deletes {args.name}'s account, posts and messages everywhere, and cannot "
              "be undone. Run it again with --yes.")
        return 1
    await rt.member_data.delete_member(None, args.name, intake_post_ids=intake)
    print(f"Deleted the account {args.name}; other servers are being told. The name stays "
          "reserved.")
    return 0
