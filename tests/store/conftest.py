"""One ``store`` fixture, run once per backend, so both stores answer to one contract.

The memory store runs on a fake clock (time passes only when a test says so); the Redis
store runs against a real ``redis-server`` of this session, each test under its own key
prefix, and with real (tiny) TTLs where expiry itself is under test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from server.store.base import Store
from server.store.memory import MemoryStore
from server.store.redis import RedisStore
from tests.store.backends import Backend, FakeClock
from tests.support.fixtures import isolated_redis_server, redis_server
from tests.support.redis_server import RedisServer

__all__ = ["isolated_redis_server", "redis_server"]


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        clock = FakeClock()
        yield Backend("memory", MemoryStore(clock=clock), clock=clock)
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    prefix = f"sulhtest:{uuid.uuid4().hex}:"
    store = RedisStore(server.url, prefix=prefix)
    raw = aioredis.Redis.from_url(server.url)
    try:
        backend = Backend("redis", store, raw=raw, url=server.url, prefix=prefix)
        yield backend
    finally:
        await backend.aclose()
        leftovers = [k async for k in raw.scan_iter(match=f"{prefix}*")]
        if leftovers:
            await raw.delete(*leftovers)
        await store.close()
        await raw.aclose()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.store
