"""A Redis outage: clear errors while it is down, normal service when it is back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from server.config import Settings
from server.store.redis import RedisStore
from tests.server.conftest import Node, start_node
from tests.support.client import get
from tests.support.redis_server import RedisServer


@pytest.fixture
async def redis_node(isolated_redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Node]:
    prefix = f"o{uuid.uuid4().hex[:8]}:"
    settings = replace(
        Settings(data_dir=tmp_path), redis_url=isolated_redis_server.url, redis_prefix=prefix
    )
    runner, node = await start_node(
        settings, RedisStore(isolated_redis_server.url, prefix=prefix), b"k" * 32
    )
    node.backend, node.redis_url, node.prefix = "redis", isolated_redis_server.url, prefix
    try:
        yield node
    finally:
        await runner.cleanup()


async def test_a_hung_redis_gives_clear_errors_and_nothing_changes_until_it_answers(
    redis_node: Node, isolated_redis_server: RedisServer
) -> None:
    m, v, r = await redis_node.three()
    await v.wait_state(lambda s: s["mediator"] == "away")
    isolated_redis_server.freeze()
    try:
        status, body = await get(redis_node.base_url, "/readyz")
        assert status == 503 and body["error"]["code"] == "not_ready"
        ack = await m.call("mediator.move", {"to": "victim_caucus"})
        assert ack["ok"] is False and ack["error"]["code"] == "unavailable"
    finally:
        isolated_redis_server.thaw()
    status, _ = await get(redis_node.base_url, "/readyz")
    assert status == 200
    # The refused move changed nothing; made again, it works and reaches the party.
    assert v.last_state()["mediator"] == "away"
    await m.ok("mediator.move", {"to": "victim_caucus"})
    await v.wait_state(lambda s: s["mediator"] == "with_you", timeout=10)
    for p in (m, v, r):
        await p.close()


async def test_after_redis_restarts_empty_old_sessions_are_refused_and_service_resumes(
    redis_node: Node, isolated_redis_server: RedisServer
) -> None:
    m, v, r = await redis_node.three()
    isolated_redis_server.stop()
    ack = await m.call("mediator.move", {"to": "victim_caucus"})
    assert ack["ok"] is False and ack["error"]["code"] == "unavailable"
    isolated_redis_server.restart()  # a Redis without persistence comes back empty
    ack = await m.call("mediator.move", {"to": "victim_caucus"})
    assert ack["ok"] is False and ack["error"]["code"] == "unauthorized"
    for p in (m, v, r):
        await p.close()
    m2, v2, r2 = await redis_node.three()  # new login, case and invites work again
    await m2.ok("mediator.move", {"to": "victim_caucus"})
    await v2.wait_state(lambda s: s["mediator"] == "with_you", timeout=10)
    for p in (m2, v2, r2):
        await p.close()
