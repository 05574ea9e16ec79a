"""Bad offers get a clear refusal (OfferRejected, safe to show) and change nothing."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection, RTCRtpSender

from server.media import CaseRelay, OfferRejected
from tests.support.media import Client


async def test_garbage_and_oversized_offers_are_refused(relay: CaseRelay) -> None:
    for sdp in ("", "hello", "v=0\r\n", "x" * 70000):
        with pytest.raises(OfferRejected):
            await relay.offer("v", sdp)
    assert "v" not in relay.peers or not relay.peers["v"].pc.getTransceivers()


async def test_unknown_participant_and_answers_are_refused(relay: CaseRelay) -> None:
    with pytest.raises(ValueError):
        await relay.offer("intruder", "v=0\r\n")
    with pytest.raises(OfferRejected):
        await relay.offer("v", "v=0\r\n", type_="answer")
    with pytest.raises(ValueError):
        relay.apply_routes(frozenset({("v", "intruder")}))


async def test_data_channels_and_non_vp8_video_are_refused(relay: CaseRelay) -> None:
    pc = RTCPeerConnection()
    pc.createDataChannel("covert")
    await pc.setLocalDescription(await pc.createOffer())
    with pytest.raises(OfferRejected, match="data channel"):
        await relay.offer("v", pc.localDescription.sdp)
    await pc.close()

    client = Client("r", 3, "127.0.0.4")
    client.prepare()
    h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if "H264" in c.mimeType]
    for t in client.pc.getTransceivers():
        if t.kind == "video":
            t.setCodecPreferences(h264)
    h264_only = await client.offer()
    assert "H264" in h264_only and "VP8" not in h264_only
    with pytest.raises(OfferRejected, match="VP8"):
        await relay.offer("r", h264_only)
    await client.close()


async def test_too_many_media_sections_are_refused(relay: CaseRelay) -> None:
    client = Client("m", 1, "127.0.0.2", slots=5)
    with pytest.raises(OfferRejected, match="media sections"):
        await relay.offer("m", await client.offer())
    await client.close()
