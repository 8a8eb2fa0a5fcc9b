"""``fediaid admin email-settings``: the group's SMTP server from the command line (the same
service as the coordinators' page /admin/email; changes are in the group's audit log as the
server operator's).

Without options it prints the settings (the password only as "set" or "not set"). The
password is read from standard input (``--password-stdin``) or the environment variable
``FEDIAID_SMTP_PASSWORD``, never from the command line, where other users of the machine
could read it in the process list.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def add_parser(asub: Any, common: argparse.ArgumentParser) -> None:
    x = asub.add_parser("email-settings", parents=[common],
                        help="show or set the SMTP server e-mails are sent through")
    x.add_argument("--host", help="the SMTP server, e.g. smtp.example.org")
    x.add_argument("--port", help="its port (default: 587 for STARTTLS, 465 for TLS, 25)")
    x.add_argument("--tls", choices=["starttls", "tls", "none"],
                   help="STARTTLS, implicit TLS from the first byte, or none (a relay on "
                        "this machine only)")
    x.add_argument("--username", help="the SMTP user name (empty: no login)")
    x.add_argument("--sender", help="the address e-mails come from")
    x.add_argument("--password-stdin", action="store_true",
                   help="read the SMTP password from standard input (or set "
                        "FEDIAID_SMTP_PASSWORD)")
    x.add_argument("--clear-password", action="store_true", help="remove the password")
    x.add_argument("--test", metavar="ADDRESS", help="queue a test message to ADDRESS")
    x.add_argument("--off", action="store_true",
                   help="forget the SMTP server (nothing is sent; members' addresses stay)")


async def run(rt: Any, args: argparse.Namespace) -> int:
    service = rt.email_settings
    if args.off:
        await service.turn_off(None)
        print("E-mail is off.")
        return 0
    changing = any(v is not None for v in (args.host, args.port, args.tls, args.username,
                                           args.sender)) or args.password_stdin \
        or args.clear_password or "FEDIAID_SMTP_PASSWORD" in os.environ
    if changing:
        current = await service.current()
        password = None
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif "FEDIAID_SMTP_PASSWORD" in os.environ:
            password = os.environ["FEDIAID_SMTP_PASSWORD"]
        await service.save(
            None, host=args.host if args.host is not None else current.host,
            port=args.port if args.port is not None else (
                current.port if current.host else ""),
            tls=args.tls or current.tls.value,
            username=args.username if args.username is not None else current.username,
            sender=args.sender if args.sender is not None else current.sender,
            password=password or None, clear_password=args.clear_password)
    smtp = await service.current()
    if smtp.configured:
        print(f"host: {smtp.host}\nport: {smtp.port}\ntls: {smtp.tls.value}\n"
              f"username: {smtp.username or '(none)'}\n"
              f"password: {'set' if smtp.has_password else 'not set'}\nsender: {smtp.sender}")
    else:
        print("E-mail is not set up. Set it with: fediaid admin email-settings --host HOST "
              "--tls starttls --username NAME --password-stdin --sender ADDRESS")
    if args.test:
        await service.send_test(None, args.test)
        print("A test message is queued; the worker sends it (see `fediaid admin status`).")
    return 0
