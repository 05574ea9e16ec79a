"""The relay with three real aiortc clients on loopback: mediator "m", victim "v",
respondent "r". Each sends stamped video and its own tone; routes come as
``rooms.media_routes`` would give them."""

from __future__ import annotations

import asyncio

import pytest

from server.media import CaseRelay
from tests.media.conftest import PORTS
from tests.media.routing import (
    Timeline,
    addresses_in,
    check_delivery,
    pairs,
    received,
    wait_for,
)
from tests.support.media import SERVER_IP, Client, now_ms

pytestmark = pytest.mark.timeout(60)

VICTIM_CAUCUS = pairs(("m", "v"))
RESPONDENT_CAUCUS = pairs(("m", "r"))
JOINT = pairs(("m", "v", "r"))
BOUND = 3.0  # seconds: a generous bound for "the new caucus gets a frame"


def slot_of(relay: CaseRelay, sink: str, source: str) -> int:
    return relay.slots(sink).index(source)


async def test_caucus_separation_moves_joint_and_away(
    relay: CaseRelay, clients: dict[str, Client]
) -> None:
    """The mediator meets each party in turn, then all meet in joint, then the mediator
    leaves: each sink gets only the routed source's picture and voice, the unrouted party
    gets nothing, and nothing captured after a move reaches the old caucus."""
    m, v, r = clients["m"], clients["v"], clients["r"]
    tl = Timeline()

    tl.apply(relay, VICTIM_CAUCUS)
    await wait_for(
        lambda: received(m, "video", slot_of(relay, "m", "v")) >= 10
        and received(v, "video", slot_of(relay, "v", "m")) >= 10
        and received(v, "audio", slot_of(relay, "v", "m")) >= 10,
        BOUND, "the victim caucus to see and hear each other",
    )
    assert all(not box.video and not box.audio for box in r.inbox.values()), (
        "the respondent received media while in its caucus alone"
    )

    moved = tl.apply(relay, RESPONDENT_CAUCUS)
    took = await wait_for(
        lambda: received(r, "video", slot_of(relay, "r", "m"), since=moved) > 0,
        BOUND, "the respondent to see the mediator after the move",
    )
    assert took < BOUND
    await wait_for(lambda: received(m, "video", slot_of(relay, "m", "r")) > 0, BOUND,
                   "the mediator to see the respondent")
    await asyncio.sleep(0.6)
    assert received(v, "video", slot_of(relay, "v", "m"), since=moved) == 0
    assert received(m, "video", slot_of(relay, "m", "v"), since=moved) == 0
    assert received(v, "audio", slot_of(relay, "v", "m"), since=(moved + 500)) == 0
    assert received(r, "video", slot_of(relay, "r", "v")) == 0, "a party saw the other party"
    assert received(r, "audio", slot_of(relay, "r", "v")) == 0, "a party heard the other party"

    joined = tl.apply(relay, JOINT)
    for sink, client in clients.items():
        for source in relay.slots(sink):
            await wait_for(
                lambda c=client, s=sink, src=source: received(
                    c, "video", slot_of(relay, s, src), since=joined) > 0
                and received(c, "audio", slot_of(relay, s, src), since=joined) > 0,
                BOUND, f"{sink} to receive {source} in joint",
            )

    away = tl.apply(relay, frozenset())
    await asyncio.sleep(0.8)
    for client in clients.values():
        for slot in range(2):
            assert received(client, "video", slot, since=away) == 0
            assert received(client, "audio", slot, since=(away + 500)) == 0

    check_delivery(clients, relay, tl)
    for client in clients.values():
        for box in client.inbox.values():
            assert box.unreadable <= max(3, len(box.video) // 20), "frames arrived corrupted"


async def test_parties_only_ever_see_the_server_address(
    relay: CaseRelay, clients: dict[str, Client]
) -> None:
    """Every SDP and ICE candidate a party receives carries the server's address and a
    port from the configured range; never another participant's address."""
    relay.apply_routes(JOINT)
    await wait_for(lambda: all(received(c, "video", 0) > 0 for c in clients.values()), BOUND,
                   "media to flow")
    client_addresses = {c.address for c in clients.values()}
    for client in clients.values():
        assert client.answers
        for answer in client.answers:
            found = addresses_in(answer)
            assert found, "the answer carries no candidate"
            for address, port in found:
                if address == "0.0.0.0":
                    continue  # the "discard" placeholder of RFC 8839, not an address
                assert address == SERVER_IP, "an answer carried a non-server address"
                assert address not in client_addresses
                if port is not None:
                    assert PORTS[0] <= port <= PORTS[1]
        for t in client.pc.getTransceivers():
            ice = t.receiver.transport.transport
            for cand in ice.getRemoteCandidates():
                assert cand.ip == SERVER_IP
                assert PORTS[0] <= cand.port <= PORTS[1]


async def test_camera_added_later_and_reconnect(relay: CaseRelay) -> None:
    """A victim may join without a camera and turn it on later (renegotiation), and a
    party that reconnects is routed again without the mediator doing anything."""
    m = Client("m", 1, "127.0.0.2")
    v = Client("v", 2, "127.0.0.3", video=False)
    try:
        await m.connect(relay)
        await v.connect(relay)
        relay.apply_routes(VICTIM_CAUCUS)
        await wait_for(lambda: received(m, "audio", 0) > 5, BOUND, "the victim's voice")
        assert received(m, "video", 0) == 0
        await v.add_camera(relay)
        await wait_for(lambda: received(m, "video", 0) > 0, BOUND, "the victim's camera")
        assert received(v, "video", 0) > 0, "renegotiation broke the victim's own view"

        await relay.remove("v")
        await v.close()
        v = Client("v", 2, "127.0.0.5")
        await v.connect(relay)
        since = now_ms()
        await wait_for(lambda: received(m, "video", 0, since=since) > 0, BOUND,
                       "the reconnected victim's camera")
        await wait_for(lambda: received(v, "video", 0) > 0, BOUND,
                       "the reconnected victim to see the mediator")
    finally:
        await m.close()
        await v.close()
