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
