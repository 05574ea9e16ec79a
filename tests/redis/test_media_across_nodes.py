"""With several nodes, a change made through another node reaches the node that holds
the case's media relay at once (Redis pub/sub), not only at the next reconcile."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web

from server.config import Settings
from server.store.redis import RedisStore
from tests.media.routing import wait_for
from tests.media.test_through_server import ADDRS, CODES, Signalling, _frames_from
from tests.server.conftest import Node, start_node
from tests.support.client import post
from tests.support.media import SERVER_IP, Client, loopback_ice, now_ms
from tests.support.redis_server import RedisServer
from tests.support.waiting import quiet

PROPAGATION_MS = 500  # allowance for the pub/sub hop; the reconcile loop is made slow


@pytest.fixture
async def two_nodes(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Node, Node]]:
    # Only the pub/sub path may apply the change within this test's horizon.
    monkeypatch.setattr("server.mediahub.RECONCILE_EVERY", 60.0)
    prefix = f"mn{uuid.uuid4().hex[:8]}:"
    runners: list[web.AppRunner] = []
    nodes = []
    with loopback_ice():
        for i, ports in enumerate(((47400, 47449), (47450, 47499))):
            settings = replace(
                Settings(data_dir=tmp_path / str(i), public_ip=SERVER_IP, rtc_ports=ports),
                redis_url=redis_server.url,
                redis_prefix=prefix,
            )
            runner, node = await start_node(
                settings, RedisStore(redis_server.url, prefix=prefix), b"k" * 32
            )
            runners.append(runner)
            nodes.append(node)
        try:
            yield nodes[0], nodes[1]
        finally:
            for runner in runners:
                await runner.cleanup()


async def test_reissue_through_another_node_cuts_the_old_seats_media_at_once(
    two_nodes: tuple[Node, Node],
) -> None:
    node_a, node_b = two_nodes
    m, v, r = await node_a.three()  # the case's people (and relay) are on node A
    clients = {}
    try:
        for role, person in (("mediator", m), ("victim", v)):
            clients[role] = Client(role, CODES[role], ADDRS[role])
            await clients[role].connect(Signalling(person))
        await m.ok("mediator.move", {"to": "victim_caucus"})
        await wait_for(
            lambda: _frames_from(clients["victim"], 0, 1) > 0, 10, "victim sees mediator"
        )

        # The mediator's console talks to node B's API: the victim's seat gets a new invite.
        status, body = await post(
            node_b.base_url, f"/api/cases/{m.case_id}/invites/victim", {}, token=m.session
        )
        assert status == 200, body
        cut = now_ms()
        await quiet(1.5)
        assert _frames_from(clients["victim"], 0, 1, since=cut + PROPAGATION_MS) == 0
    finally:
        for client in clients.values():
            await client.close()
        for person in (m, v, r):
            await person.close()
