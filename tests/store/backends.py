"""The backends the store contract runs on, and how each lets time pass."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import redis.asyncio as aioredis

from server.store.base import Store
from server.store.redis import RedisStore

T = TypeVar("T")

POLL_LIMIT = 2.0


class FakeClock:
    """Monotonic seconds that move only on ``advance``: expiry tests never sleep."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Backend:
    """A store under test plus the means to let time pass for it."""

    name: str
    store: Store
    clock: FakeClock | None = None
    raw: aioredis.Redis | None = None
    url: str = ""
    prefix: str = ""
    opened: list[RedisStore] = field(default_factory=list)

    async def nodes(self, n: int) -> list[Store]:
        """``n`` stores sharing this one's data, as ``n`` server nodes would, each with a
        connection already open so their commands really interleave in Redis."""
        if self.raw is None:
            return [self.store] * n
        stores = [RedisStore(self.url, prefix=self.prefix) for _ in range(n)]
        self.opened.extend(stores)
        assert all(await asyncio.gather(*(s.ping() for s in stores)))
        return list(stores)

    async def aclose(self) -> None:
        """Close every store opened by ``nodes``."""
        for store in self.opened:
            await store.close()

    async def elapse_past(self, ttl: float) -> None:
        """Let more than ``ttl`` seconds pass (fake clock, or a real sleep for Redis)."""
        if self.clock is not None:
            self.clock.advance(ttl + 0.001)
        else:
            await asyncio.sleep(ttl + 0.01)

    async def elapse_within(self, ttl: float) -> None:
        """Let time pass but stay before ``ttl`` (Redis tests use TTLs far beyond a test)."""
        if self.clock is not None:
            self.clock.advance(ttl * 0.99)

    async def keys(self) -> list[str]:
        """Every Redis key this test's store owns (SCAN on its prefix)."""
        assert self.raw is not None
        return [k.decode() async for k in self.raw.scan_iter(match=f"{self.prefix}*")]


async def poll_until(
    probe: Callable[[], Awaitable[T]], expected: T, limit: float = POLL_LIMIT
) -> T:
    """Call ``probe`` until it returns ``expected`` or ``limit`` seconds pass; return the
    last answer. Redis expires keys on its own clock, so tests poll (bounded) to see it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        answer = await probe()
        if answer == expected or loop.time() > deadline:
            return answer
        await asyncio.sleep(0.01)
