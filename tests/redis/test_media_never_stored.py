"""Media flowing through a Redis-backed node never reaches Redis: while video and audio
stream, no write command is run and the stored bytes do not change."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from server.config import Settings
from server.store.redis import RedisStore
from tests.media.routing import wait_for
from tests.media.test_through_server import ADDRS, CODES, Signalling, _frames_from
from tests.server.conftest import Node, start_node
from tests.support.media import SERVER_IP, Client, loopback_ice
from tests.support.redis_server import RedisServer

WRITES = (
    "set",
    "setex",
    "psetex",
    "mset",
    "append",
    "rpush",
    "lpush",
    "hset",
    "hmset",
    "sadd",
    "zadd",
    "xadd",
    "eval",
    "evalsha",
    "getdel",
    "del",
    "pexpire",
)


async def _writes(raw: aioredis.Redis) -> dict[str, int]:
    stats = await raw.info("commandstats")
    return {k: int(v["calls"]) for k, v in stats.items() if k.removeprefix("cmdstat_") in WRITES}


async def _stored(raw: aioredis.Redis) -> dict[bytes, bytes]:
    return {key: await raw.dump(key) async for key in raw.scan_iter()}


@pytest.fixture
async def node(isolated_redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Node]:
    url = isolated_redis_server.url
    prefix = f"ms{uuid.uuid4().hex[:8]}:"
    with loopback_ice():
        settings = replace(
            Settings(data_dir=tmp_path, public_ip=SERVER_IP, rtc_ports=(47500, 47549)),
            redis_url=url,
            redis_prefix=prefix,
        )
        runner, n = await start_node(settings, RedisStore(url, prefix=prefix), b"k" * 32)
        n.redis_url = url
        try:
            yield n
        finally:
            await runner.cleanup()


async def test_streaming_media_writes_nothing_to_redis(node: Node) -> None:
    assert node.redis_url is not None
    raw = aioredis.Redis.from_url(node.redis_url)
    m, v, r = await node.three()
    clients: dict[str, Client] = {}
    try:
        for role, person in (("mediator", m), ("victim", v)):
            clients[role] = Client(role, CODES[role], ADDRS[role])
            await clients[role].connect(Signalling(person))
        await m.ok("mediator.move", {"to": "victim_caucus"})
        await wait_for(lambda: _frames_from(clients["victim"], 0, 1) > 0, 10, "media flows")
        await asyncio.sleep(0.5)  # let the move's own writes settle
        writes, stored = await _writes(raw), await _stored(raw)
        before = _frames_from(clients["victim"], 0, 1)
        await asyncio.sleep(2.0)
        assert _frames_from(clients["victim"], 0, 1) > before + 20  # media really flowed
        assert await _writes(raw) == writes
        assert await _stored(raw) == stored
    finally:
        for client in clients.values():
            await client.close()
        for p in (m, v, r):
            await p.close()
        await raw.aclose()
