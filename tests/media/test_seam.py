"""The private aiortc/aioice seams the relay relies on are still where server/media/seam.py
expects them. If one of these fails after an upgrade, read its message: it names the moved
symbol. Do not relay media until seam.py is adapted (and aiortc pinned again)."""

from __future__ import annotations

import asyncio

import aiortc.rtcrtpreceiver
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender

from server.media import seam
from server.media.buffers import RelayFrame


def test_every_private_symbol_is_where_the_seam_expects_it() -> None:
    found = seam.problems()
    assert not found, "aiortc/aioice moved a private symbol the relay uses:\n" + "\n".join(found)


def test_a_moved_symbol_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail, and says what moved."""
    monkeypatch.delattr(aiortc.rtcrtpreceiver.RTCRtpReceiver, "_send_rtcp_pli")
    assert any("_send_rtcp_pli" in p for p in seam.problems())
    monkeypatch.undo()
    monkeypatch.delattr(RTCRtpSender, "_send_keyframe")
    monkeypatch.setattr(RTCRtpSender, "_handle_rtcp_packet", lambda *a: None)
    assert any("_send_keyframe" in p for p in seam.problems())


def test_install_is_idempotent_and_only_passes_relay_frames_through() -> None:
    seam.install()
    first = aiortc.rtcrtpreceiver.get_decoder
    seam.install()
    assert aiortc.rtcrtpreceiver.get_decoder is first
    codec = next(c for c in aiortc.codecs.CODECS["video"] if c.mimeType == "video/VP8")
    decoder = aiortc.rtcrtpreceiver.get_decoder(codec)
    frame = RelayFrame([(b"\x10\x02\x00", 9000), (b"\x11\x00", 12000)])
    frame.timestamp = 0  # what aiortc's TimestampMapper does to the first frame
    packets = decoder.decode(frame)
    assert [bytes(p) for p in packets] == [b"\x10\x02\x00", b"\x11\x00"]
    assert [p.pts for p in packets] == [0, 3000]


def test_receiver_and_sender_hooks_attach_per_instance() -> None:
    async def run() -> None:
        pc = RTCPeerConnection()
        t = pc.addTransceiver("video")
        marker = object()
        seam.set_receiver_buffer(t.receiver, marker)
        assert seam.receiver_buffer(t.receiver) is marker
        calls: list[int] = []
        seam.on_keyframe_request(t.sender, lambda: calls.append(1))
        t.sender._send_keyframe()
        assert calls == [1]
        other = pc.addTransceiver("video")
        assert seam.receiver_buffer(other.receiver) is not marker
        await pc.close()

    asyncio.run(run())


def test_fast_clock_matches_aiortcs_own() -> None:
    import aiortc.clock

    seam.install()
    stock_ms = seam._stock_clock["current_ms"]
    stock_ntp = seam._stock_clock["current_ntp_time"]
    assert aiortc.clock.current_ms is not stock_ms
    assert abs(aiortc.clock.current_ms() - stock_ms()) <= 5
    fast, stock = aiortc.clock.current_ntp_time(), stock_ntp()
    assert abs(fast - stock) < (5 << 32) // 1000  # within 5 ms, same 32.32 fixed point
    assert fast >> 32 == stock >> 32 or abs((fast >> 32) - (stock >> 32)) == 1


def test_relay_sockets_pass_media_straight_through_and_stun_to_aioice() -> None:
    got: list[bytes] = []
    stun_seen: list[bytes] = []

    class Receiver:
        def data_received(self, data: bytes, component: int) -> None:
            got.append(data)

    cls = seam._relay_protocol()
    proto = cls.__new__(cls)
    proto.receiver = Receiver()
    proto.local_candidate = type("C", (), {"component": 1})()
    base = cls.__mro__[1]
    original = base.datagram_received
    try:
        base.datagram_received = lambda self, data, addr: stun_seen.append(data)
        proto.datagram_received(b"\x80\x60" + bytes(30), ("127.0.0.1", 1))  # RTP
        proto.datagram_received(b"\x17\xfe\xfd" + bytes(30), ("127.0.0.1", 1))  # DTLS
        proto.datagram_received(b"\x00\x01" + bytes(18), ("127.0.0.1", 1))  # STUN
    finally:
        base.datagram_received = original
    assert [d[0] for d in got] == [0x80, 0x17]
    assert [d[0] for d in stun_seen] == [0x00]


def test_relay_packer_packs_like_aiortc_without_encoding() -> None:
    import fractions

    import av
    from aiortc.codecs.vpx import Vp8Encoder

    from server.media.buffers import EncodedFrame

    frame = bytes(range(256)) * 12  # 3 KB: three RTP packets
    packer = seam.RelayPacker("video")
    stock = Vp8Encoder()
    stock.picture_id = packer.picture_id
    packet = av.Packet(frame)
    packet.pts, packet.time_base = 3000, fractions.Fraction(1, 90000)
    assert packer.pack(EncodedFrame(frame, 3000)) == stock.pack(packet)
    assert packer.pack(packet) == stock.pack(packet)  # decoder-thread path: av.Packet
    audio = seam.RelayPacker("audio")
    assert audio.pack(EncodedFrame(b"opus", 960)) == ([b"opus"], 960)
    with pytest.raises(TypeError):
        audio.encode(object())


def test_datagram_queue_behaves_like_asyncio_queue_for_aioice() -> None:
    async def run() -> None:
        q = seam._DatagramQueue()
        assert q.empty() and q.qsize() == 0
        q.put_nowait((b"a", 1))
        assert await q.get() == (b"a", 1)
        reader = asyncio.ensure_future(q.get())
        await asyncio.sleep(0)
        q.put_nowait((b"b", 1))
        q.put_nowait(None)  # aioice's "connection lost"
        assert await reader == (b"b", 1)
        assert await q.get() is None
        # A reader cancelled after being woken passes the item on to the next one.
        first, second = asyncio.ensure_future(q.get()), asyncio.ensure_future(q.get())
        await asyncio.sleep(0)
        q.put_nowait((b"c", 1))
        first.cancel()
        assert await second == (b"c", 1)

    asyncio.run(run())


def test_relay_connections_get_the_light_queue_before_ice_connects() -> None:
    async def run() -> None:
        pc = RTCPeerConnection()
        pc.addTransceiver("video")
        seam.lighten_ice_queue(pc)
        connection = pc.getTransceivers()[0].receiver.transport.transport.iceGatherer._connection
        assert isinstance(connection._queue, seam._DatagramQueue)
        await pc.close()

    asyncio.run(run())


def test_relay_ice_transport_sends_and_receives_like_aioice() -> None:
    async def run() -> None:
        sent: list[tuple[bytes, tuple[str, int]]] = []
        nominated: dict[int, object] = {}
        queue = seam._DatagramQueue()
        send, recv = seam._direct_io(nominated, queue)  # type: ignore[arg-type]
        with pytest.raises(ConnectionError):
            await send(b"x")
        with pytest.raises(ConnectionError):
            await recv()

        class Transport:
            def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
                sent.append((data, addr))

        pair = type(
            "Pair",
            (),
            {
                "protocol": type("P", (), {"transport": Transport()})(),
                "remote_addr": ("127.0.0.2", 5000),
            },
        )()
        nominated[1] = pair
        await send(b"rtp")
        assert sent == [(b"rtp", ("127.0.0.2", 5000))]
        queue.put_nowait((b"srtp", 1))
        assert await recv() == b"srtp"
        queue.put_nowait(None)
        with pytest.raises(ConnectionError):
            await recv()

    asyncio.run(run())


def test_a_moved_symbol_of_the_direct_paths_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The direct receive and send paths shadow aiortc's per-packet methods: if aiortc's
    own versions stop using the state they keep in step, the check says which."""
    import aiortc.rtcdtlstransport

    async def run_rtp(self: object, codec: object) -> None:
        return None

    monkeypatch.setattr(RTCRtpSender, "_run_rtp", run_rtp)
    found = seam.problems()
    assert any("_RTCRtpSender__rtp_history" in p for p in found)
    assert any("_RTCRtpSender__packet_count" in p for p in found)
    monkeypatch.undo()

    async def handle(self: object, packet: object, arrival_time_ms: int) -> None:
        return None

    monkeypatch.setattr(aiortc.rtcrtpreceiver.RTCRtpReceiver, "_handle_rtp_packet", handle)
    monkeypatch.setattr(aiortc.rtcdtlstransport.RTCDtlsTransport, "_send_rtp", handle)
    found = seam.problems()
    assert any("_RTCRtpReceiver__nack_generator" in p for p in found)
    assert any("_RTCRtpReceiver__timestamp_mapper" in p for p in found)
    assert any("_tx_srtp" in p for p in found)


def test_direct_hooks_refuse_objects_without_the_private_state() -> None:
    class Bare:
        pass

    with pytest.raises(seam.SeamMoved, match="RTCRtpReceiver"):
        seam.receive_directly(Bare(), "video", lambda frames: None)  # type: ignore[arg-type]
    with pytest.raises(seam.SeamMoved, match="RTCRtpSender"):
        seam.send_directly(Bare())  # type: ignore[arg-type]
