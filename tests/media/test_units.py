"""Frame assembly and gates, packet by packet (no network)."""

from __future__ import annotations

import asyncio

import av
import pytest
from aiortc.rtp import RtpPacket

from server.media.buffers import MAX_VIDEO_PACKETS, AudioPassthrough, VideoAssembler
from server.media.gate import GatedTrack
from server.media.ice import MediaConfig, client_ice_servers, turn_credentials


def vp8(seq: int, ts: int, *, start: bool, marker: bool, key: bool = False) -> RtpPacket:
    p = RtpPacket(payload_type=97, sequence_number=seq % 65536, timestamp=ts, ssrc=1234)
    p.marker = int(marker)
    p.payload = bytes([0x10 if start else 0x00]) + (b"\x00" if key else b"\x01") + b"x" * 10
    p._data = p.payload[1:]  # type: ignore[attr-defined]
    return p


def frame(seq: int, ts: int, n: int, key: bool = False) -> list[RtpPacket]:
    return [vp8(seq + i, ts, start=i == 0, marker=i == n - 1, key=key and i == 0)
            for i in range(n)]


def test_video_frame_leaves_with_its_marker_packet_not_one_frame_later() -> None:
    buf = VideoAssembler()
    out = [buf.add(p)[1] for p in frame(100, 0, 3, key=True)]
    assert out[:2] == [None, None] and out[2] is not None
    assert out[2].data.startswith(b"\x00")


def test_video_waits_for_a_keyframe_after_a_lost_frame() -> None:
    buf = VideoAssembler()
    for p in frame(0, 0, 2, key=True):
        buf.add(p)
    lost = frame(2, 3000, 2)
    buf.add(lost[1])  # first packet of this frame never comes
    pli, got = False, []
    for i in range(10):  # later delta frames: undecodable without the lost one
        for p in frame(4 + 2 * i, 6000 + 3000 * i, 2):
            flag, out = buf.add(p)
            pli |= flag
            got += [out] if out else []
    assert pli, "a lost frame must trigger a keyframe request"
    assert got == [], "delta frames after a loss must not be forwarded"
    flag, out = buf.add(frame(24, 40000, 1, key=True)[0])
    assert out is not None and out.data.startswith(b"\x00")


def test_video_buffer_is_bounded() -> None:
    buf = VideoAssembler()
    buf.add(frame(0, 0, 1, key=True)[0])
    for i in range(5 * MAX_VIDEO_PACKETS):  # a frame that never completes
        buf.add(vp8(1 + i, 3000, start=i == 0, marker=False))
        assert len(buf) <= MAX_VIDEO_PACKETS


def test_audio_has_no_prefetch_and_drops_late_packets() -> None:
    buf = AudioPassthrough()
    a = RtpPacket(payload_type=96, sequence_number=10, timestamp=960, ssrc=1)
    a._data = b"opus"  # type: ignore[attr-defined]
    assert buf.add(a)[1] is not None
    late = RtpPacket(payload_type=96, sequence_number=9, timestamp=0, ssrc=1)
    late._data = b"opus"  # type: ignore[attr-defined]
    assert buf.add(late)[1] is None


def test_gate_drops_everything_when_closed_and_holds_video_until_a_keyframe() -> None:
    async def run() -> None:
        gate = GatedTrack("video")
        delta, key = av.Packet(b"\x01"), av.Packet(b"\x00")
        assert gate.push(key, keyframe=True) is False and len(gate) == 0  # unrouted
        gate.open()
        assert gate.push(delta) is True and len(gate) == 0  # wants a keyframe
        gate.push(key, keyframe=True)
        gate.push(delta)
        assert len(gate) == 2
        gate.close()
        assert len(gate) == 0
        gate.open()
        for _ in range(100):
            gate.push(key, keyframe=True)
            assert len(gate) <= gate.maxlen
        assert await gate.recv() is key

    asyncio.run(run())


def test_audio_gate_is_bounded() -> None:
    gate = GatedTrack("audio")
    gate.open()
    for _ in range(1000):
        gate.push(av.Packet(b"a"))
    assert len(gate) == gate.maxlen


def test_turn_rest_credentials_follow_coturn_use_auth_secret() -> None:
    import base64
    import hashlib
    import hmac

    user, cred = turn_credentials("s3cret", now=1000.0, ttl=600, user="abc")
    assert user == "1600:abc"
    digest = hmac.new(b"s3cret", b"1600:abc", hashlib.sha1).digest()
    assert cred == base64.b64encode(digest).decode()
    servers = client_ice_servers(["turn:turn.example.org:3478?transport=udp"], "s3cret", now=0)
    assert servers[0]["urls"] == ["turn:turn.example.org:3478?transport=udp"]
    expiry = int(servers[0]["username"].split(":")[0])
    assert 0 < expiry <= 6 * 3600
    assert client_ice_servers([], None, now=0) == []
    assert client_ice_servers(["turn:x"], None, now=0) == []


def test_an_empty_gate_is_still_a_track_to_aiortc() -> None:
    # aiortc's sender loop polls every 20 ms while ``not track``: an empty gate must not
    # look like a missing track (that cost CPU and up to 20 ms per frame).
    for kind in ("video", "audio"):
        gate = GatedTrack(kind)
        assert len(gate) == 0 and bool(gate) is True


def test_each_source_gets_the_lowest_remb_of_its_routed_sinks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from server.media import CaseRelay, seam

    sent: list[tuple[object, int, int]] = []

    async def send_remb(receiver: object, ssrc: int, bitrate: int) -> None:
        sent.append((receiver, ssrc, bitrate))

    async def send_pli(receiver: object, ssrc: int) -> None:
        pass

    monkeypatch.setattr(seam, "send_remb", send_remb)
    monkeypatch.setattr(seam, "send_pli", send_pli)
    receiver = object()

    class FakePeer:
        def __init__(self) -> None:
            self.sources = {"video": receiver}

        def source_ssrc(self, kind: str) -> int:
            return 1234

        async def close(self) -> None:
            pass

    async def run() -> None:
        relay = CaseRelay(MediaConfig(public_ip="127.0.0.1"), ("m", "v", "r"))
        relay.peers["m"] = FakePeer()  # type: ignore[assignment]
        joint = {("m", "v"), ("v", "m"), ("m", "r"), ("r", "m")}
        relay.apply_routes(frozenset(joint))
        relay._sink_bitrate("m", "v", 800_000)
        relay._sink_bitrate("m", "r", 300_000)
        relay._sink_bitrate("m", "v", 900_000)
        await asyncio.sleep(0)
        assert [b for _, _, b in sent] == [800_000, 300_000, 300_000]
        assert all(r is receiver and s == 1234 for r, s, _ in sent)
        relay.apply_routes(frozenset({("m", "v"), ("v", "m")}))  # r leaves the caucus
        relay._sink_bitrate("m", "r", 100_000)  # unrouted: never reaches the source
        relay._sink_bitrate("m", "v", 900_000)
        await asyncio.sleep(0)
        assert [b for _, _, b in sent][3:] == [900_000]
        await relay.close()

    asyncio.run(run())
