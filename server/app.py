"""Build the aiohttp application: HTTP API, socket.io, security headers, one store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import socketio
from aiohttp import web

from server import handlers, http_api, pages, rtc
from server.auth import AccountBook, Auth
from server.cases import CaseRepo
from server.config import Settings
from server.crypto import Keyring, SealedJson, load_or_create_key
from server.mediahub import MediaHub
from server.publish import Publisher
from server.ratelimit import DEFAULT_LIMITS, RateLimiter
from server.sockets import Gateway
from server.state import Services, services_key
from server.store.base import Store
from server.store.memory import MemoryStore

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
ROOM_PAGES = ("/join", "/room", "/console")


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every response: no caching, no referrer, strict CSP; camera only on room pages."""
    response: web.StreamResponse = await handler(request)
    headers = response.headers
    headers["Cache-Control"] = "no-store"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    media = "(self)" if request.path.startswith(ROOM_PAGES) else "()"
    headers["Permissions-Policy"] = (
        f"camera={media}, microphone={media}, geolocation=(), interest-cohort=()"
    )
    return response


@web.middleware
async def same_origin_writes(request: web.Request, handler: Any) -> web.StreamResponse:
    """Refuse state-changing requests whose Origin is not on the allowlist (CSRF)."""
    origin = request.headers.get("Origin")
    writes = request.method not in ("GET", "HEAD", "OPTIONS")
    if writes and origin is not None and origin not in request.app[services_key].settings.origins():
        return http_api.fail(403, "not_permitted", "Cross-origin request refused.")
    response: web.StreamResponse = await handler(request)
    return response


class SealedRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager with every pub/sub message sealed (SealedJson).

    The manager's ``json`` argument alone is not enough: ``set_server`` replaces it with
    the server's JSON module, so the sealer is put back after it.
    """

    def __init__(self, url: str, channel: str, keyring: Keyring) -> None:
        self._sealer = SealedJson(keyring)
        super().__init__(url, channel=channel, json=self._sealer)

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        self.json = self._sealer


def make_store(settings: Settings) -> Store:
    """The in-memory store by default; Redis when SULH_REDIS_URL is set."""
    if settings.redis_url:
        from server.store.redis import RedisStore

        return RedisStore(settings.redis_url, prefix=settings.redis_prefix)
    return MemoryStore()


def build_app(
    settings: Settings,
    *,
    store: Store | None = None,
    master_key: bytes | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """A complete node. ``store``/``master_key``/``clock`` may be given by tests."""
    store = store if store is not None else make_store(settings)
    if master_key is None:
        key_file = settings.secret_key_file or settings.data_dir / "secret.key"
        master_key = load_or_create_key(key_file)
    keyring = Keyring(master_key)
    manager = (
        SealedRedisManager(settings.redis_url, settings.redis_prefix + "socketio", keyring)
        if settings.redis_url
        else None
    )
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins=settings.origins(),
        max_http_buffer_size=settings.max_event_bytes,
        client_manager=manager,
        logger=False,
        engineio_logger=False,
        ping_interval=10,
        ping_timeout=10,
    )
    auth = Auth(
        store,
        keyring,
        idle=settings.session_idle,
        absolute=settings.session_absolute,
        invite_ttl=settings.invite_ttl,
        clock=clock,
    )
    accounts_file = None if settings.redis_url else settings.data_dir / "mediators.json"
    repo = CaseRepo(store, keyring, settings.retention)
    media = MediaHub(settings, clock)
    publisher = Publisher(sio, store, auth, repo, media)
    services = Services(
        settings,
        store,
        keyring,
        auth,
        AccountBook(store, keyring, accounts_file),
        repo,
        sio,
        publisher,
        clock,
    )
    gateway = Gateway(
        sio,
        store=store,
        auth=auth,
        repo=repo,
        publisher=publisher,
        limiter=RateLimiter(DEFAULT_LIMITS),
        retention=settings.retention,
        clock=clock,
    )
    handlers.register(gateway)
    rtc.register(gateway, media)

    app = web.Application(
        middlewares=[security_headers, http_api.errors, same_origin_writes],
        client_max_size=64 * 1024,
    )
    app[services_key] = services
    app.add_routes(http_api.routes())
    app.add_routes(pages.routes())
    sio.attach(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        yield
        await store.close()

    app.cleanup_ctx.append(lifecycle)
    app.cleanup_ctx.append(media.lifecycle(repo))
    return app
