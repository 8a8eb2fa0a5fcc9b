"""``fediaid admin sms-settings``: the group's SMS gateway from the command line (the same
service as the coordinators' page /admin/sms; changes are in the group's audit log as the
server operator's).

Without options it prints the settings (secrets only as "set" or "not set"). Twilio's auth
token or the phone's password is read from standard input (``--secret-stdin``) or the
environment variable ``FEDIAID_SMS_SECRET``; the phone's webhook signing key from
``FEDIAID_SMS_SIGNING_KEY``: never from the command line, where other users of the machine
could read them in the process list.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def add_parser(asub: Any, common: argparse.ArgumentParser) -> None:
    x = asub.add_parser("sms-settings", parents=[common],
                        help="show or set the SMS gateway texts come and go through")
    x.add_argument("--provider", choices=["twilio", "android"],
                   help="Twilio, or an Android phone with SMS Gateway for Android")
    x.add_argument("--number", help="the group's number, the one neighbors text")
    x.add_argument("--account", help="Twilio's Account SID, or the app's user name")
    x.add_argument("--api-url", help="the phone's address (http://192.168.1.20:8080) or the "
                                     "app's cloud server; empty for Twilio")
    x.add_argument("--allow-private", choices=["yes", "no"],
                   help="the phone is on the group's network: allow its one private address")
    x.add_argument("--secret-stdin", action="store_true",
                   help="read Twilio's auth token or the app's password from standard input "
                        "(or set FEDIAID_SMS_SECRET)")
    x.add_argument("--test", metavar="NUMBER", help="queue a test text to NUMBER")
    x.add_argument("--off", action="store_true",
                   help="forget the gateway (nothing is sent; texts received stay)")


async def run(rt: Any, args: argparse.Namespace) -> int:
    service = rt.sms_settings
    if args.off:
        await service.turn_off(None)
        print("Text messages are off.")
        return 0
    changing = any(v is not None for v in (args.provider, args.number, args.account,
                                           args.api_url, args.allow_private)) \
        or args.secret_stdin or "FEDIAID_SMS_SECRET" in os.environ \
        or "FEDIAID_SMS_SIGNING_KEY" in os.environ
    if changing:
        current = await service.current()
        secret = None
        if args.secret_stdin:
            secret = sys.stdin.readline().rstrip("\r\n")
        elif "FEDIAID_SMS_SECRET" in os.environ:
            secret = os.environ["FEDIAID_SMS_SECRET"]
        allow = (args.allow_private == "yes" if args.allow_private is not None
                 else bool(current.private_address))
        await service.save(
            None, provider=args.provider or (current.provider.value if current.provider
                                             else ""),
            number=args.number if args.number is not None else current.number,
            account=args.account if args.account is not None else current.account,
            api_url=args.api_url if args.api_url is not None else current.api_url,
            allow_private=allow, secret=secret or None,
            signing_key=os.environ.get("FEDIAID_SMS_SIGNING_KEY") or None)
    sms = await service.current()
    if sms.provider is not None:
        print(f"provider: {sms.provider.value}\nnumber: {sms.number}\n"
              f"account: {sms.account}\napi url: {sms.api_url or '(Twilio)'}\n"
              f"private address allowed: {sms.private_address or 'none'}\n"
              f"secret: {'set' if sms.has_secret else 'not set'}\n"
              f"signing key: {'set' if sms.has_signing_key else 'not set'}\n"
              f"incoming texts at: {service.webhook_url(sms.provider)}")
    else:
        print("Text messages are not set up. Set them with: fediaid admin sms-settings "
              "--provider twilio --number +15551234567 --account AC... --secret-stdin")
    if args.test:
        await rt.sms.send_test(None, args.test)
        print("A test text is queued; the worker sends it (see `fediaid admin status`).")
    return 0
