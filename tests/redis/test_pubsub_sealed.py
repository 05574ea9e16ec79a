"""What crosses Redis pub/sub between nodes is sealed: an operator subscribed to the
channel sees no pseudonym, key or label, while the nodes still deliver normally."""

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
from tests.server.conftest import Node, start_node
from tests.support.client import Person, post
from tests.support.redis_server import RedisServer

CANARY = "CANARY-pubsub-5d1e"


@pytest.fixture
async def node(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Node]:
    prefix = f"ps{uuid.uuid4().hex[:8]}:"
    settings = replace(Settings(data_dir=tmp_path), redis_url=redis_server.url, redis_prefix=prefix)
    runner, n = await start_node(settings, RedisStore(redis_server.url, prefix=prefix), b"k" * 32)
    n.backend, n.redis_url, n.prefix = "redis", redis_server.url, prefix
    try:
        yield n
    finally:
        await runner.cleanup()


async def test_socketio_messages_between_nodes_are_sealed(node: Node) -> None:
    assert node.redis_url is not None
    raw = aioredis.Redis.from_url(node.redis_url)
    pubsub = raw.pubsub()
    await pubsub.subscribe(node.prefix + "socketio")
    seen: list[bytes] = []

    async def collect() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                seen.append(message["data"])

    task = asyncio.get_running_loop().create_task(collect())
    try:
        token = await node.mediator_login("sealed@example.org")
        created = await node.open_case(token, label=f"label {CANARY}")
        m = Person(node.base_url, token, "mediator", case_id=str(created["case_id"]))
        await m.connect()
        invite = str(created["invites"]["victim"]).split("#", 1)[1]  # type: ignore[index]
        _, body = await post(node.base_url, "/api/invites/redeem", {"token": invite})
        v = Person(node.base_url, body["session"], "victim")
        await v.connect(pseudonym=CANARY)
        await v.ok("key.publish", {"public_key": v.public_b64})
        # The mediator really was told (through the manager): a positive control.
        await m.wait_state(lambda s: any(p["pseudonym"] == CANARY for p in s["participants"]))
        await m.wait_state(
            lambda s: any(p["public_key"] == v.public_b64 for p in s["participants"])
        )
        await asyncio.sleep(0.2)
        assert seen, "no pub/sub traffic observed: the test would prove nothing"
        for data in seen:
            assert CANARY.encode() not in data
            assert v.public_b64.encode() not in data
            assert b'"method"' not in data  # not even the manager's own JSON is readable
        await v.close()
        await m.close()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pubsub.aclose()
        await raw.aclose()
