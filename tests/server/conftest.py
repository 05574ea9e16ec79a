"""A real server on a real port, once per store backend (memory and Redis).

The same protocol tests run against both: the ``node`` fixture is parametrised.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from aiohttp import web

from server.app import build_app
from server.auth import AccountBook
from server.config import Settings
from server.state import Services, services_key
from server.store.base import Store
from server.store.memory import MemoryStore
from tests.support.client import Person, post
from tests.support.fixtures import isolated_redis_server, redis_server
from tests.support.redis_server import RedisServer

__all__ = ["isolated_redis_server", "redis_server"]

PASSWORD = "correct horse battery staple"


@dataclass
class Node:
    """One running server node, and how to reach it."""

    base_url: str
    services: Services
    backend: str
    redis_url: str | None = None
    prefix: str = ""

    @property
    def store(self) -> Store:
        return self.services.store

    async def mediator_login(self, email: str = "m@example.org") -> str:
        await self.services.accounts.add(email, PASSWORD)
        status, body = await post(
            self.base_url, "/api/login", {"email": email, "password": PASSWORD}
        )
        assert status == 200, body
        return str(body["session"])

    async def open_case(self, token: str, **body: object) -> dict[str, object]:
        status, created = await post(self.base_url, "/api/cases", body, token=token)
        assert status == 201, created
        return created

    async def three(
        self, connect: bool = True, token: str | None = None
    ) -> tuple[Person, Person, Person]:
        """A mediator (signed in, or with the given session ``token``), a victim and a
        respondent of one new case, both invites redeemed over HTTP, keys published."""
        if token is None:
            token = await self.mediator_login(f"m{uuid.uuid4().hex[:6]}@example.org")
        created = await self.open_case(token, label="Case 1")
        case_id = str(created["case_id"])
        people = [Person(self.base_url, token, "mediator", case_id=case_id)]
        for role in ("victim", "respondent"):
            url = str(created["invites"][role])  # type: ignore[index]
            status, body = await post(
                self.base_url, "/api/invites/redeem", {"token": url.split("#", 1)[1]}
            )
            assert status == 200, body
            people.append(Person(self.base_url, body["session"], role, case_id=case_id))
        if connect:
            for p in people:
                await p.connect()
                await p.ok("key.publish", {"public_key": p.public_b64})
        return people[0], people[1], people[2]


async def start_node(
    settings: Settings, store: Store, key: bytes, clock: Callable[[], float] = time.time
) -> tuple[web.AppRunner, Node]:
    """A node on a free port; Auth, the domain and the store all read ``clock``."""
    app = build_app(settings, store=store, master_key=key, clock=clock)
    app[services_key].accounts = AccountBook(store, app[services_key].keyring, None)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    node = Node(f"http://127.0.0.1:{port}", app[services_key], "memory")
    return runner, node


@pytest.fixture(params=["memory", "redis"])
async def node(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Node]:
    """A running node with the memory store, then with a real Redis."""
    settings = Settings(data_dir=tmp_path, allowed_origins=("http://127.0.0.1",))
    key = b"k" * 32
    if request.param == "memory":
        store: Store = MemoryStore()
        runner, n = await start_node(settings, store, key)
    else:
        from server.store.redis import RedisStore

        server: RedisServer = request.getfixturevalue("redis_server")
        prefix = f"t{uuid.uuid4().hex[:10]}:"
        settings = replace(settings, redis_url=server.url, redis_prefix=prefix)
        store = RedisStore(server.url, prefix=prefix)
        runner, n = await start_node(settings, store, key)
        n.backend, n.redis_url, n.prefix = "redis", server.url, prefix
    try:
        yield n
    finally:
        await runner.cleanup()
