"""The relay's direct receive and send paths (server/media/seam.py) with real aiortc clients:
they keep what aiortc's own paths give the clients (RTCP reports both ways, loss repair
by NACK and RTX) and survive hostile datagrams."""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import Callable
from typing import Any

import pytest
from aiortc.codecs.vpx import vp8_depayload

from server.media import CaseRelay, seam
from tests.media.routing import pairs, received, wait_for
from tests.support.media import Client

pytestmark = pytest.mark.timeout(60)

VICTIM_CAUCUS = pairs(("m", "v"))


def _connection(relay: CaseRelay, pid: str) -> Any:
    transceiver = relay.peers[pid].pc.getTransceivers()[0]
    return transceiver.receiver.transport.transport.iceGatherer._connection


def _vp8_payload_type(answer: str) -> int:
    found = re.search(r"a=rtpmap:(\d+) VP8/90000", answer)
    assert found, "the answer has no VP8"
    return int(found.group(1))


async def _stats(client: Client, kind: str, type_: str) -> list[Any]:
    report = await client.pc.getStats()
    return [s for s in report.values() if s.type == type_ and getattr(s, "kind", kind) == kind]


async def test_rtcp_reports_flow_both_ways_through_the_direct_paths(
    relay: CaseRelay, clients: dict[str, Client]
) -> None:
    """The relay's sender reports count what it forwarded (the sink's view of the relay's
    leg), and its receiver reports count what it received (the source's view)."""
    m, v = clients["m"], clients["v"]
    relay.apply_routes(VICTIM_CAUCUS)
    await wait_for(lambda: received(v, "video", 0) >= 30, 10, "the victim to see the mediator")

    async def reports() -> tuple[list[Any], list[Any]]:
        return (await _stats(v, "video", "remote-outbound-rtp"),
                await _stats(m, "video", "remote-inbound-rtp"))

    deadline = asyncio.get_running_loop().time() + 8
    sent, seen = await reports()
    while not (any(s.packetsSent > 30 for s in sent) and seen) and (
        asyncio.get_running_loop().time() < deadline
    ):
        await asyncio.sleep(0.25)
        sent, seen = await reports()
    assert any(s.packetsSent > 30 and s.bytesSent > 3000 for s in sent), (
        f"the victim got no sender report counting forwarded video: {sent}"
    )
    assert seen, "the mediator got no receiver report for its video"
    assert all(s.packetsLost == 0 for s in seen), "loopback lost packets: the report is wrong"


async def test_a_lost_packet_is_repaired_by_nack_and_rtx(
    relay: CaseRelay, clients: dict[str, Client]
) -> None:
    """One video packet from the victim is lost on its way in. The relay asks for it again
    (NACK), the victim's retransmission (RTX) takes aiortc's own path, and the mediator
    sees every frame: no gap, no wait for the next keyframe."""
    m, v = clients["m"], clients["v"]
    video_pt = _vp8_payload_type(v.answers[-1])
    connection = _connection(relay, "v")
    direct: Callable[[bytes], bool] = connection._sulh_direct_srtp
    seen: list[int] = []
    lost: list[int] = []

    def lossy(data: bytes) -> bool:
        if len(data) > 12 and data[1] & 0x7F == video_pt:
            seen.append(1)
            if len(seen) == 90 and not lost:
                lost.append(int.from_bytes(data[2:4], "big"))
                return True  # consumed: the packet never arrives
        return direct(data)

    connection._sulh_direct_srtp = lossy
    relay.apply_routes(VICTIM_CAUCUS)
    slot = relay.slots("m").index("v")
    await wait_for(lambda: bool(lost) and received(m, "video", slot) >= len(seen) // 2 + 60, 15,
                   "a video packet to be lost and 60 more frames to arrive")
    seqs = [x.seq for x in m.slot("video", slot).video if x.code == v.code]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), (
        "frames went missing around the lost packet: it was not repaired"
    )


async def test_garbage_datagrams_to_the_media_port_change_nothing(
    relay: CaseRelay, clients: dict[str, Client]
) -> None:
    """Anyone can send UDP to the relay's port: forged RTP/RTCP, truncated headers, random
    bytes. None of it is authentic SRTP; it is dropped and the caucus carries on."""
    m, v = clients["m"], clients["v"]
    relay.apply_routes(VICTIM_CAUCUS)
    await wait_for(lambda: received(v, "video", 0) >= 10, 10, "the victim to see the mediator")
    pair = _connection(relay, "v")._nominated[1]
    host, port = pair.local_candidate.host, pair.local_candidate.port
    junk = [b"\x80", b"\x80\x60", b"\x80\x60" + os.urandom(10), b"\x90\x60" + os.urandom(40),
            b"\xa0\x60" + bytes(10) + b"\xff", b"\x81\xc8" + os.urandom(30)]
    junk += [b"\x80" + os.urandom(200) for _ in range(200)]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for data in junk:
            sock.sendto(data, (host, port))
            await asyncio.sleep(0)
    finally:
        sock.close()
    before = received(v, "video", 0), received(m, "video", relay.slots("m").index("v"))
    await wait_for(
        lambda: received(v, "video", 0) >= before[0] + 20
        and received(m, "video", relay.slots("m").index("v")) >= before[1] + 20,
        10, "media to keep flowing both ways after the junk",
    )
    assert relay.peers["v"].pc.connectionState == "connected"


def test_vp8_depayloading_matches_aiortc() -> None:
    """Every descriptor shape (RFC 7741: X, I with 7/15-bit ids, L, T, K, truncations) gives
    aiortc's result, or a ValueError where aiortc raises one."""
    bodies = [b"", b"\x9d", b"\x01\x02\x03\x04\x05\x06\x07"]
    for first in (0x00, 0x10, 0x80, 0x90):
        for ext in range(0, 256, 16):
            for pid in (b"", b"\x05", b"\x85", b"\x85\x01"):
                for body in bodies:
                    payload = bytes([first, ext]) + pid + body if first & 0x80 else (
                        bytes([first]) + pid + body)
                    for cut in range(len(payload) + 1):
                        data = payload[:cut]
                        try:
                            want: bytes | None = vp8_depayload(data)
                        except ValueError:
                            want = None
                        try:
                            got: bytes | None = seam._vp8_payload(data)
                        except ValueError:
                            got = None
                        assert got == want, data.hex()


async def test_a_handler_that_suspends_still_runs_to_its_end() -> None:
    """aiortc's RTP handlers normally finish at once; one that waits is finished in a task."""
    done: list[str] = []
    gate = asyncio.get_running_loop().create_future()

    async def waits() -> None:
        done.append("started")
        done.append(await gate)
        await asyncio.sleep(0)
        done.append("finished")

    async def quick() -> None:
        done.append("quick")

    seam._run_now(quick())
    assert done == ["quick"]
    seam._run_now(waits())
    assert done == ["quick", "started"]
    gate.set_result("resumed")
    for _ in range(5):
        await asyncio.sleep(0)
    assert done == ["quick", "started", "resumed", "finished"]
    assert not seam._resuming



async def test_with_no_address_or_ports_configured_media_still_takes_the_relays_sockets(
    loopback: None,
) -> None:
    """The default settings (no SULH_PUBLIC_IP, no SULH_RTC_PORTS): the relay binds its own
    sockets on the host's addresses, and media flows through the direct paths."""
    from server.media import MediaConfig

    relay = CaseRelay(MediaConfig(), participants=("m", "v"))
    m, v = Client("m", 1, "127.0.0.2", slots=1), Client("v", 2, "127.0.0.3", slots=1)
    try:
        await m.connect(relay)
        await v.connect(relay)
        relay.apply_routes(VICTIM_CAUCUS)
        await wait_for(lambda: received(v, "video", 0) >= 10 and received(m, "video", 0) >= 10,
                       10, "the caucus to see each other")
        connection = _connection(relay, "v")
        assert type(connection._nominated[1].protocol).__name__ == "RelayStunProtocol"
        assert isinstance(connection._sulh_direct_srtp, seam._DirectSrtp)
    finally:
        await m.close()
        await v.close()
        await relay.close()
