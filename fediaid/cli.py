"""The ``fediaid`` command.

Every command takes ``--data DIR`` (default ``./data``, or ``FEDIAID_DATA``). Commands that
print something meant for scripts print it as their last line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

from fediaid import __version__
from fediaid.config import (
    LOG_FORMATS,
    Settings,
    default_database_url,
    is_initialised,
    load_settings,
    resolve_data_dir,
    write_config,
)
from fediaid.datadir import make_data_dir, private_umask, secure_data_dir
from fediaid.domain.actors import Role
from fediaid.errors import ConfigError, FediaidError
from fediaid.logs import configure


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:  # uvloop is optional (not on Windows)
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


async def _with_runtime(settings: Settings, fn: Callable[[Any], Awaitable[int]]) -> int:
    from fediaid.services.runtime import Runtime

    rt = await Runtime.open(settings)
    try:
        return await fn(rt)
    finally:
        await rt.close()


# -- init ---------------------------------------------------------------------------------
async def _init(args: argparse.Namespace, data: Path) -> int:
    from fediaid.services.runtime import Runtime
    from fediaid.services.setup import initialise

    if is_initialised(data):
        raise ConfigError(f"{data}/ already holds a fediaid instance ({data}/fediaid.toml).")
    name = args.name or args.group.replace("-", " ").replace("_", " ").title()
    url = args.database_url or os.environ.get("FEDIAID_DATABASE_URL") or ""
    make_data_dir(data)  # 0700; once, before anything runs
    settings = Settings(data_dir=data, domain=args.domain, group_slug=args.group,
                        group_name=name, dev=args.dev, area=args.area or "",
                        database_url=url or default_database_url(data))
    rt = await Runtime.open(settings, require_identity=False)
    try:
        link = await initialise(rt, group_name=name, coordinator=args.coordinator)
    finally:
        await rt.close()
    # Written last: a failed init leaves no config behind, so it can simply be run again.
    write_config(data, domain=args.domain, group=args.group, name=name, dev=args.dev,
                 area=args.area or "", database_url=args.database_url)
    print(f"Created the group @{args.group}@{args.domain} ({name}) in {data}/.")
    print(f"First coordinator: {args.coordinator}. Start the server with "
          f"`fediaid serve --data {data}`, then open this link once to log in:")
    print(link)
    return 0


# -- serve / worker -------------------------------------------------------------------------
async def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from fediaid.jobs.runner import Workers
    from fediaid.services.runtime import Runtime

    rt = await Runtime.open(settings)
    app = create_app(rt)
    config = uvicorn.Config(
        app, host=args.host, port=args.port, http="httptools", lifespan="off",
        log_config=None, access_log=False, proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        timeout_graceful_shutdown=10, server_header=False,
    )
    announced: list[str] = []

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:  # listening: the address and the login link answer now
                for line in announced:
                    print(line, flush=True)

        def handle_exit(self, sig: int, frame: Any) -> None:
            # End open streaming responses first, so a stop does not wait for the
            # graceful-shutdown timeout on each SSE client.
            rt.streaming.shutdown()
            super().handle_exit(sig, frame)

    server = _Server(config)
    # `serve --processes N`: the supervisor's listening socket, shared by its N processes.
    sockets = None
    if args.listen_fd is not None:
        import socket

        sockets = [socket.socket(fileno=args.listen_fd)]
    workers = Workers(rt)
    if not args.no_workers:
        workers.start()
    # The federation policy's one refresher: a CLI `admin block` (another process) writes to
    # the database, and this process applies it within seconds, with or without workers.
    policy = asyncio.create_task(rt.policy.keep_fresh(workers.stop_event), name="policy")
    link = await _first_login_hint(rt)
    from fediaid.cli_serve import tune_process

    await rt.db.checkpoint_apart()  # SQLite: the WAL copied back apart from the writer
    tune_process()  # start-up done: the garbage collector set for serving
    announced.append(f"fediaid {__version__} serving {settings.group_name} at "
                     f"http://{args.host}:{args.port} as {settings.base_url}")
    if link:
        announced.append(f"Log in as the first coordinator by opening: {link}")
    try:
        await server.serve(sockets=sockets)
    finally:
        await workers.stop()
        policy.cancel()
        await rt.close()
    return 0


async def _first_login_hint(rt: Any) -> str | None:
    """While no coordinator has a password, each start prints a fresh login link."""
    coordinator = await rt.accounts.first_coordinator_without_password()
    if coordinator is None:
        return None
    link: str = await rt.accounts.login_link(coordinator)
    return link


async def _worker(settings: Settings) -> int:
    import signal

    from fediaid.jobs.runner import Workers
    from fediaid.services.runtime import Runtime

    rt = await Runtime.open(settings)
    workers = Workers(rt)
    workers.start()
    policy = asyncio.create_task(rt.policy.keep_fresh(workers.stop_event), name="policy")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, workers.stop_event.set)
    from fediaid.cli_serve import tune_process

    await rt.db.checkpoint_apart()
    tune_process()
    print(f"fediaid worker running for {settings.base_url}", flush=True)
    try:
        await workers.stop_event.wait()
    finally:
        await workers.stop()
        policy.cancel()
        await rt.close()
    return 0


# -- admin ------------------------------------------------------------------------------
async def _admin(rt: Any, args: argparse.Namespace) -> int:
    cmd = args.admin_command
    group = rt.identity.group
    if cmd == "create-user":
        role = Role.COORDINATOR if args.coordinator else Role.MEMBER
        user = await rt.accounts.create_user(args.name, role=role)
        print(f"Created {role.value} {user.username}. Their one-time login link:")
        print(await rt.accounts.login_link(user.username))
    elif cmd == "login-link":
        print(await rt.accounts.login_link(args.name))
    elif cmd == "role":
        # The operator changes a role at once (no second coordinator), in the audit log.
        from fediaid.services.roles import parse_role

        await rt.roles.change(None, args.name, parse_role(args.role))
        print(f"{args.name} is now {'an' if args.role == 'admin' else 'a'} {args.role}.")
    elif cmd == "reset-two-factor":
        user = await rt.accounts.get_user(args.name)
        had = await rt.two_factor.reset(user)
        print(f"Two-factor login is off for {args.name}; they can enrol again."
              if had else f"{args.name} had no two-factor login.")
    elif cmd == "token":
        scopes = [s for part in args.scopes for s in part.replace(",", " ").split()]
        print(await rt.accounts.create_token(args.name, scopes=scopes, name="cli"))
    elif cmd == "follow":
        state = await rt.follows.follow(group, args.handle)
        print(f"@{group.username} follows {args.handle}: {state.value}")
    elif cmd == "unfollow":
        await rt.follows.unfollow(group, args.handle)
        print(f"@{group.username} no longer follows {args.handle}")
    elif cmd == "post":
        print(await rt.notes.post_as_group(args.text))
    elif cmd == "block":
        cancelled, removed = await rt.moderation.block_domain(args.domain, reason=args.reason)
        print(f"Blocked {args.domain}: {cancelled} deliveries cancelled, {removed} follows "
              "removed")
    elif cmd == "unblock":
        await rt.moderation.unblock_domain(args.domain)
        print(f"Unblocked {args.domain}")
    elif cmd in ("silence", "unsilence"):
        await rt.policy.silence(args.domain, cmd == "silence")
        print(f"{cmd.capitalize()}d {args.domain}")
    elif cmd in ("allow", "disallow"):
        await rt.policy.allow(args.domain, cmd == "allow")
        print(f"{args.domain} {'added to' if cmd == 'allow' else 'removed from'} the "
              "allow-list")
    elif cmd == "allow-list-mode":
        cancelled = await rt.policy.set_allow_list_mode(args.value == "on")
        print("Only domains on the allow-list federate" if args.value == "on"
              else "Every domain that is not blocked federates"
              + (f" ({cancelled} deliveries cancelled)" if cancelled else ""))
    elif cmd == "secure-mode":
        await rt.authorized_fetch.set_secure_mode(args.value == "on")
        print("Every ActivityPub fetch must be signed (secure mode)" if args.value == "on"
              else "Public ActivityPub documents are served to unsigned fetches")
    elif cmd == "approve-follows":
        await rt.moderation.set_follow_approval(args.value == "yes")
        policy = ("wait for a coordinator" if args.value == "yes"
                  else "are accepted automatically")
        print(f"Follows of the group {policy}.")
    elif cmd in ("export-member", "delete-member"):
        from fediaid import cli_member_data

        return await cli_member_data.run(rt, args)
    elif cmd == "email-settings":
        from fediaid import cli_email

        return await cli_email.run(rt, args)
    elif cmd == "sms-settings":
        from fediaid import cli_sms

        return await cli_sms.run(rt, args)
    elif cmd == "forward-needs":
        from fediaid import cli_forwarding

        return await cli_forwarding.run(rt, args)
    elif cmd == "alerts":
        from fediaid import cli_alerts

        return await cli_alerts.run(rt, args)
    elif cmd in ("link", "unlink", "links"):
        from fediaid import cli_links

        return await cli_links.run(rt, args)
    elif cmd == "blocklist":
        from fediaid import cli_blocklist

        return await cli_blocklist.run(rt, args)
    elif cmd == "status":
        from fediaid import cli_status

        return await cli_status.run(rt, args)
    return 0


# -- parser ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    data_help = "instance directory (default: $FEDIAID_DATA or ./data)"
    # `--data` is accepted before or after any subcommand. Only the top-level parser has a
    # default: a subparser's default would overwrite a value given before the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", metavar="DIR", default=argparse.SUPPRESS, help=data_help)
    log_help = ("log lines as plain text or as JSON objects, one per line (default: "
                "$FEDIAID_LOG_FORMAT, log_format in fediaid.toml, or text)")
    common.add_argument("--log-format", choices=LOG_FORMATS, default=argparse.SUPPRESS,
                        help=log_help)
    p = argparse.ArgumentParser(
        prog="fediaid",
        description="fediaid: a federated server for neighborhood mutual aid groups.",
    )
    p.add_argument("--data", metavar="DIR", default=None, help=data_help)
    p.add_argument("--log-format", choices=LOG_FORMATS, default=None, help=log_help)
    p.add_argument("--version", action="version", version=f"fediaid {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("init", parents=[common], help="create a new instance in DIR")
    s.add_argument("--domain", required=True, help="public host[:port], e.g. aid.example.org")
    s.add_argument("--group", required=True, help="the group's short name, e.g. elm")
    s.add_argument("--name", help='the group\'s display name, e.g. "Elm St Mutual Aid"')
    s.add_argument("--area", help="the neighborhood(s) the group serves, in plain words")
    s.add_argument("--coordinator", default="admin", help="first coordinator's name (admin)")
    s.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in DIR)")
    s.add_argument("--dev", action="store_true",
                   help="development only: plain http, and peers on private/loopback addresses")

    s = sub.add_parser("serve", parents=[common], help="run the web server (and workers)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--no-workers", action="store_true",
                   help="serve only; run `fediaid worker` separately")
    s.add_argument("--processes", type=int, default=1, metavar="N",
                   help="N web processes on the one port, plus a worker process unless "
                        "--no-workers (PostgreSQL only; default 1)")
    # Internal: a web process started by `serve --processes N` serves on this inherited
    # listening socket (fediaid/cli_serve.py).
    s.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)

    sub.add_parser("worker", parents=[common],
                   help="run background workers only (several may share a PostgreSQL queue)")

    s = sub.add_parser("migrate", parents=[common], help="apply database migrations")
    s.add_argument("--to", default="head", help="target revision (default: head)")
    s.add_argument("--downgrade", metavar="REV", help="go back to revision REV")

    a = sub.add_parser("admin", parents=[common], help="administration commands")
    asub = a.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    x = asub.add_parser("create-user", parents=[common], help="create a member account")
    x.add_argument("name")
    x.add_argument("--coordinator", action="store_true", help="make them a coordinator")
    x = asub.add_parser("login-link", parents=[common], help="print a one-time login link")
    x.add_argument("name")
    x = asub.add_parser("role", parents=[common],
                        help="change an account's role at once (written in the audit log)")
    x.add_argument("name")
    x.add_argument("role", choices=["member", "coordinator", "admin"])
    x = asub.add_parser("reset-two-factor", parents=[common],
                        help="turn off a lost second factor (written in the audit log)")
    x.add_argument("name")
    x = asub.add_parser("token", parents=[common],
                        help="print an API access token (last line) for scripts")
    x.add_argument("name")
    x.add_argument("--scopes", nargs="+", default=["read", "write", "follow"])
    x = asub.add_parser("follow", parents=[common],
                        help="the group follows another group or account")
    x.add_argument("handle", help="@name@host or an actor URL")
    x = asub.add_parser("unfollow", parents=[common], help="the group stops following")
    x.add_argument("handle")
    x = asub.add_parser("post", parents=[common], help="the group posts a public note")
    x.add_argument("text")
    x = asub.add_parser("block", parents=[common],
                        help="refuse a domain: nothing in or out; cancels its deliveries and "
                             "removes follows with it")
    x.add_argument("domain")
    x.add_argument("--reason")
    x = asub.add_parser("unblock", parents=[common], help="lift a domain block")
    x.add_argument("domain")
    for name, text in (("silence", "show a domain's content only to its followers"),
                       ("unsilence", "lift a silence"),
                       ("allow", "put a domain on the allow-list"),
                       ("disallow", "take a domain off the allow-list")):
        x = asub.add_parser(name, parents=[common], help=text)
        x.add_argument("domain")
    x = asub.add_parser("allow-list-mode", parents=[common],
                        help="whether only domains on the allow-list federate")
    x.add_argument("value", choices=["on", "off"])
    x = asub.add_parser("secure-mode", parents=[common],
                        help="whether every ActivityPub fetch must be signed (as Mastodon's "
                             "AUTHORIZED_FETCH)")
    x.add_argument("value", choices=["on", "off"])
    x = asub.add_parser("approve-follows", parents=[common],
                        help="whether follows of the group wait for a coordinator")
    x.add_argument("value", choices=["yes", "no"])
    x = asub.add_parser("status", parents=[common],
                        help="queues, failing deliveries, database and media, in words")
    x.add_argument("--json", action="store_true", help="the same figures as one JSON object")
    from fediaid import cli_blocklist

    cli_blocklist.add_parser(asub, common)
    from fediaid import cli_links

    cli_links.add_parser(asub, common)
    from fediaid import cli_alerts

    cli_alerts.add_parser(asub, common)
    from fediaid import cli_forwarding

    cli_forwarding.add_parser(asub, common)
    from fediaid import cli_member_data

    cli_member_data.add_parser(asub, common)
    from fediaid import cli_email

    cli_email.add_parser(asub, common)
    from fediaid import cli_sms

    cli_sms.add_parser(asub, common)
    from fediaid import cli_backup

    cli_backup.add_parsers(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    data = resolve_data_dir(args.data)
    # DIR holds keys, password hashes and the session secret: whatever this process creates
    # is private to its user, and an existing DIR with looser modes is repaired.
    private_umask()
    try:
        if args.command != "init" and is_initialised(data):
            secure_data_dir(data)
        if args.command == "init":
            configure(os.environ.get("FEDIAID_LOG_LEVEL", "warning"),
                      args.log_format or os.environ.get("FEDIAID_LOG_FORMAT", "text"))
            return _run(_init(args, data))
        if args.command in ("backup", "restore", "backup-key", "move-to-postgres"):
            from fediaid import cli_backup

            return _run(cli_backup.run(args, data))
        settings = load_settings(data)
        if args.log_format:
            settings = replace(settings, log_format=args.log_format)
        configure(settings.log_level if args.command in ("serve", "worker") else "warning",
                  settings.log_format)
        if args.command == "serve" and args.processes != 1:
            from fediaid import cli_serve

            if args.processes < 1:
                raise ConfigError("--processes must be at least 1")
            return cli_serve.supervise(settings, args, data)
        if args.command == "serve":
            return _run(_serve(settings, args))
        if args.command == "worker":
            return _run(_worker(settings))
        if args.command == "migrate":
            return _run(_migrate(settings, args))
        if args.command == "admin":
            return _run(_with_runtime(settings, lambda rt: _admin(rt, args)))
    except FediaidError as exc:
        print(f"fediaid: {exc.public}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 1


async def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from fediaid.storage.engine import Database
    from fediaid.storage.migrate import current_revision, downgrade, upgrade

    db = Database(settings.database_url)
    try:
        if args.downgrade:
            await downgrade(db, args.downgrade)
        else:
            await upgrade(db, args.to)
        print(f"database at revision {await current_revision(db) or 'none (empty)'}")
    finally:
        await db.dispose()
    return 0


