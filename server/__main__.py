"""Command line: ``python -m server [--host H] [--port P]``, ``add-mediator EMAIL``, ``demo``."""

from __future__ import annotations

import argparse
import getpass
import sys

from aiohttp import web

from server import logs, runtime
from server.app import build_app
from server.config import ConfigError, Settings, from_env
from server.state import services_key


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server", description="Sulh room server")
    parser.add_argument("--host", help="address to listen on (SULH_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (SULH_PORT, default 8080)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve (the default)")
    add = sub.add_parser("add-mediator", help="create a mediator account; password from stdin")
    add.add_argument("email")
    sub.add_parser("demo", help="serve, and print a mediator login and two invite links")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = from_env()
    changes = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if changes:
        from dataclasses import replace

        settings = replace(settings, **changes)
    return settings


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\n")


async def _add_mediator(settings: Settings, email: str) -> int:
    password = _read_password()
    if len(password) < 12:
        print("error: the password must be at least 12 characters", file=sys.stderr)
        return 2
    app = build_app(settings)
    await app[services_key].accounts.add(email, password)
    await app[services_key].store.close()
    print("mediator account saved")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logs.setup()
    if args.command == "add-mediator":
        return runtime.run(_add_mediator(settings, args.email))
    if args.command == "demo":
        from server.demo import run_demo

        return run_demo(settings)
    app = build_app(settings)
    loop = runtime.new_event_loop()
    where = f"http://{settings.host}:{settings.port}"
    print(f"Sulh serving on {where} ({runtime.loop_name(loop)})", flush=True)
    web.run_app(app, host=settings.host, port=settings.port, access_log=None, print=None,
                loop=loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
