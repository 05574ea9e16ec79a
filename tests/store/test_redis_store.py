"""What only the Redis store has: real TTLs on every key, a key prefix per deployment, one
cluster slot per case, and behaviour when Redis goes away and comes back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from server.store.redis import RedisStore
from tests.support.redis_server import RedisServer

OUTAGE_TIMEOUT = 0.5  # the store's socket timeout in outage tests
BOUND = 5.0  # no call may take longer than this, whatever Redis does


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def two_stores(redis_server: RedisServer) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    run = f"sulhtest:{uuid.uuid4().hex}:"
    a = RedisStore(redis_server.url, prefix=f"{run}a:")
    b = RedisStore(redis_server.url, prefix=f"{run}b:")
    yield a, b
    await a.close()
    await b.close()
    async with aioredis.Redis.from_url(redis_server.url) as raw:
        leftovers = await _keys(raw, run)
        if leftovers:
            await raw.delete(*leftovers)


async def _keys(raw: aioredis.Redis, prefix: str) -> list[bytes]:
    return [k async for k in raw.scan_iter(match=f"{prefix}*")]


async def test_every_key_gets_the_requested_ttl(
    two_stores: tuple[RedisStore, RedisStore], raw: aioredis.Redis
) -> None:
    store, _ = two_stores
    await store.put("invite", "h1", {"v": 1}, ttl=60)
    await store.add_to_set("sessions", "p1", "s1", ttl=60)
    await store.create_case("c1", b"v1", ttl=60)
    await store.append_message("c1", {"box": 1}, "d1", ttl=60)
    keys = await _keys(raw, store.prefix)
    assert len(keys) == 5
    for key in keys:
        assert 0 < await raw.pttl(key) <= 60_000, key

    await store.put("invite", "h1", {"v": 1}, ttl=None)
    await store.add_to_set("sessions", "p1", "s2", ttl=None)
    await store.save_case("c1", b"v2", expected=1, ttl=None)
    await store.append_message("c1", {"box": 2}, "d2", ttl=None)
    assert [await raw.pttl(k) for k in keys] == [-1] * 5  # no TTL given: none kept


async def test_a_refused_save_leaves_the_ttl_alone(
    two_stores: tuple[RedisStore, RedisStore], raw: aioredis.Redis
) -> None:
    store, _ = two_stores
    await store.create_case("c1", b"v1", ttl=10)
    assert not await store.save_case("c1", b"stale", expected=5, ttl=1000)
    (case_key,) = [k for k in await _keys(raw, store.prefix) if b"case:" in k]
    assert 0 < await raw.pttl(case_key) <= 10_000


async def test_deployments_with_different_prefixes_do_not_see_each_other(
    two_stores: tuple[RedisStore, RedisStore], raw: aioredis.Redis
) -> None:
    a, b = two_stores
    await a.put("invite", "h1", {"v": "a"}, ttl=60)
    await a.create_case("c1", b"a", ttl=60)
    await a.append_message("c1", {"box": "a"}, "d1", ttl=60)
    assert await b.get("invite", "h1") is None
    assert await b.load_case("c1") is None
    assert await b.create_case("c1", b"b", ttl=60)
    assert await b.append_message("c1", {"box": "b"}, "d1", ttl=60)
    await b.purge_case("c1")
    assert await a.messages("c1") == [{"box": "a"}]
    assert all(k.startswith(a.prefix.encode()) for k in await _keys(raw, a.prefix))


async def test_a_cases_keys_share_one_cluster_slot(
    two_stores: tuple[RedisStore, RedisStore], raw: aioredis.Redis
) -> None:
    store, _ = two_stores
    await store.create_case("c1", b"v1", ttl=60)
    await store.append_message("c1", {"box": 1}, "d1", ttl=60)
    keys = await _keys(raw, store.prefix)
    assert len(keys) == 3
    assert len({key_slot(k) for k in keys}) == 1


# -- outages ---------------------------------------------------------------------------
@pytest.fixture
async def outage_store(isolated_redis_server: RedisServer) -> AsyncIterator[RedisStore]:
    store = RedisStore(isolated_redis_server.url, timeout=OUTAGE_TIMEOUT)
    yield store
    await store.close()


async def _ping_timed(store: RedisStore) -> tuple[bool, float]:
    start = time.monotonic()
    answer = await asyncio.wait_for(store.ping(), BOUND)
    return answer, time.monotonic() - start


async def test_ping_says_false_while_redis_is_down_and_true_once_it_is_back(
    isolated_redis_server: RedisServer, outage_store: RedisStore
) -> None:
    """Readiness checks must answer, not raise or hang, so a load balancer can drain a node;
    once Redis is back the same store serves again without being rebuilt."""
    await outage_store.put("invite", "h1", {"v": 1}, ttl=60)
    isolated_redis_server.stop()

    answer, elapsed = await _ping_timed(outage_store)
    assert answer is False
    assert elapsed < OUTAGE_TIMEOUT * 3
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(outage_store.get("invite", "h1"), BOUND)

    isolated_redis_server.restart()
    assert await outage_store.ping() is True
    assert await outage_store.get("invite", "h1") is None  # nothing persisted: by design
    assert await outage_store.create_case("c1", b"v1", ttl=60)  # scripts reload themselves
    assert await outage_store.save_case("c1", b"v2", expected=1, ttl=60)


async def test_a_hung_redis_costs_at_most_the_timeout(
    isolated_redis_server: RedisServer, outage_store: RedisStore
) -> None:
    assert await outage_store.ping()
    isolated_redis_server.freeze()
    try:
        answer, elapsed = await _ping_timed(outage_store)
        assert answer is False
        assert elapsed < OUTAGE_TIMEOUT * 3
        start = time.monotonic()
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(outage_store.put("invite", "h1", {}, ttl=60), BOUND)
        assert time.monotonic() - start < OUTAGE_TIMEOUT * 3
    finally:
        isolated_redis_server.thaw()
    assert await outage_store.ping() is True


async def test_connect_fails_at_boot_when_redis_is_unreachable(
    isolated_redis_server: RedisServer,
) -> None:
    store = await RedisStore.connect(isolated_redis_server.url, timeout=OUTAGE_TIMEOUT)
    assert await store.ping()
    await store.close()
    isolated_redis_server.stop()
    with pytest.raises(ConnectionError, match="did not answer"):
        await RedisStore.connect(isolated_redis_server.url, timeout=OUTAGE_TIMEOUT)
