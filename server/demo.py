"""``python -m server demo``: serve, with a throwaway mediator and one case ready to try."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from server import runtime
from server.app import build_app
from server.auth import AccountBook
from server.config import Settings
from server.crypto import new_token
from server.http_api import start_case
from server.state import services_key

DEMO_EMAIL = "demo@sulh.invalid"


def run_demo(settings: Settings) -> int:
    """Serve until interrupted; print the login and both invite links once listening.

    The demo account lives only in this process's memory (never in the data directory).
    """
    app = build_app(settings)
    svc = app[services_key]
    svc.accounts = AccountBook(svc.store, svc.keyring, None)
    password = new_token()[:20]
    base = settings.public_url or f"http://{settings.host}:{settings.port}"

    banner: list[str] = []

    async def prepare(app: web.Application) -> AsyncIterator[None]:
        account = await svc.accounts.add(DEMO_EMAIL, password)
        case_id, tokens = await start_case(svc, account, "Demo case", {})
        banner.append(
            "\nSulh demo is running.\n"
            f"  Mediator console: {base}/console\n"
            f"    email:    {DEMO_EMAIL}\n"
            f"    password: {password}\n"
            "  Invite for Party A (open in a second browser window):\n"
            f"    {base}/join#{tokens['victim']}\n"
            "  Invite for Party B (open in a third browser window):\n"
            f"    {base}/join#{tokens['respondent']}\n"
            f"  Case id: {case_id}\n"
        )
        yield

    def announce(_: str) -> None:
        # run_app calls this once the socket is listening, so the links work at once.
        print("".join(banner), flush=True)

    app.cleanup_ctx.append(prepare)
    web.run_app(app, host=settings.host, port=settings.port, access_log=None, print=announce,
                loop=runtime.new_event_loop())
    return 0
