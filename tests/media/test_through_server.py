"""Media through the real server: socket.io signalling (`rtc.offer`) drives the relay, and
the routes follow the domain as the mediator moves, joint opens and a party exits."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from server.config import Settings
from server.store.memory import MemoryStore
from tests.media.routing import received, wait_for
from tests.server.conftest import Node, start_node
from tests.support.client import Person
from tests.support.media import SERVER_IP, Client, now_ms

CODES = {"mediator": 1, "victim": 2, "respondent": 3}
ADDRS = {"mediator": "127.0.0.2", "victim": "127.0.0.3", "respondent": "127.0.0.4"}


@dataclass
class Signalling:
    """Lets a media Client offer through a person's socket instead of a bare relay."""

    person: Person
    slots: list[str] | None = None

    async def offer(self, _name: str, sdp: str) -> str:
        ack = await self.person.call("rtc.offer", {"sdp": sdp})
        assert ack["ok"] is True, ack
        self.slots = ack["slots"]
        return str(ack["sdp"])


@pytest.fixture
async def media_node(loopback: None, tmp_path: Path) -> AsyncIterator[Node]:
    settings = Settings(data_dir=tmp_path, public_ip=SERVER_IP, rtc_ports=(47300, 47399))
    runner, node = await start_node(settings, MemoryStore(), b"k" * 32)
    try:
        yield node
    finally:
        await runner.cleanup()


async def _session(node: Node) -> dict[str, Any]:
    m, v, r = await node.three()
    people = {"mediator": m, "victim": v, "respondent": r}
    clients: dict[str, Client] = {}
    signalling: dict[str, Signalling] = {}
    for role, person in people.items():
        clients[role] = Client(role, CODES[role], ADDRS[role])
        signalling[role] = Signalling(person)
        await clients[role].connect(signalling[role])
    return {"people": people, "clients": clients, "signalling": signalling}


def _frames_from(client: Client, slot: int, code: int, since: int | None = None) -> int:
    return sum(
        1
        for v in client.slot("video", slot).video
        if v.code == code and (since is None or v.capture_ms - since >= 0)
    )


async def test_media_follows_the_mediator_and_never_crosses_caucuses(media_node: Node) -> None:
    s = await _session(media_node)
    people, clients, sig = s["people"], s["clients"], s["signalling"]
    m, v, r = people["mediator"], people["victim"], people["respondent"]
    try:
        # A party is told its slots as "mediator" / "other_party", never the other's id.
        assert sig["victim"].slots == ["mediator", "other_party"]
        assert sig["respondent"].slots == ["mediator", "other_party"]
        v_id = v.last_state()["me"]["id"]
        assert sig["mediator"].slots is not None and v_id in sig["mediator"].slots
        for role in ("victim", "respondent"):
            for answer in clients[role].answers:
                addrs = set(re.findall(r"c=IN IP4 (\S+)", answer))
                addrs |= set(re.findall(r"a=candidate:\S+ \d \S+ \d+ (\S+)", answer))
                assert addrs == {SERVER_IP}, addrs

        await m.ok("mediator.move", {"to": "victim_caucus"})
        await wait_for(
            lambda: _frames_from(clients["victim"], 0, 1) > 0, 10, "victim sees mediator"
        )
        await wait_for(
            lambda: _frames_from(clients["mediator"], sig["mediator"].slots.index(v_id), 2) > 0,
            10,
            "mediator sees victim",
        )
        assert received(clients["respondent"], "video", 0) == 0
        assert received(clients["respondent"], "video", 1) == 0

        await m.ok("mediator.move", {"to": "respondent_caucus"})
        moved = now_ms()
        await wait_for(
            lambda: _frames_from(clients["respondent"], 0, 1) > 0, 10, "respondent sees mediator"
        )
        await wait_for(
            lambda: _frames_from(clients["respondent"], 0, 1, since=moved) > 5, 10, "flowing"
        )
        # Nothing the mediator captured after the move reached the victim's caucus.
        assert _frames_from(clients["victim"], 0, 1, since=moved) == 0
        # The parties never received anything from each other.
        assert received(clients["victim"], "video", 1) == 0
        assert received(clients["respondent"], "video", 1) == 0

        await m.ok("joint.propose")
        await v.ok("joint.consent", {"agree": True})
        await r.ok("joint.consent", {"agree": True})
        await wait_for(
            lambda: _frames_from(clients["victim"], 1, 3) > 0, 10, "joint: victim sees respondent"
        )
        await wait_for(
            lambda: _frames_from(clients["respondent"], 1, 2) > 0,
            10,
            "joint: respondent sees victim",
        )

        await v.ok("safety.exit")
        exited = now_ms()
        # Joint ended with the exit and the mediator went away; it returns to the respondent.
        await m.ok("mediator.move", {"to": "respondent_caucus"})
        await wait_for(
            lambda: _frames_from(clients["respondent"], 0, 1, since=exited) > 5, 10, "after exit"
        )
        assert _frames_from(clients["respondent"], 1, 2, since=exited) == 0
    finally:
        for client in clients.values():
            await client.close()
        for person in people.values():
            await person.close()


async def test_an_offer_needs_a_live_case_and_a_well_formed_sdp(media_node: Node) -> None:
    m, v, r = await media_node.three()
    try:
        ack = await v.call("rtc.offer", {"sdp": "hello"})
        assert ack["ok"] is False and ack["error"]["code"] == "invalid"
        ack = await v.call("rtc.offer", {"sdp": "v=0\r\n" + "a" * 40000})
        assert ack["ok"] is False and ack["error"]["code"] == "too_large"
        ack = await v.call("rtc.offer", {"sdp": "v=0\r\nnot really"})
        assert ack["ok"] is False and ack["error"]["code"] == "invalid"
        ack = await v.call("rtc.config")
        assert ack == {"ok": True, "ice_servers": []}
    finally:
        for p in (m, v, r):
            await p.close()
