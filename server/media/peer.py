"""One participant's single ``RTCPeerConnection`` to the server, and its negotiation.

How a client's offer is read (the client always offers; no trickle ICE):
* **its own media**: the first audio and the first video m-line the client *sends* on
  (``sendonly``/``sendrecv``) are that participant's sources; any other m-line it sends on
  is drained and discarded.
* **what it receives**: each other participant of the case is a *slot* (in the order
  ``CaseRelay.slots(pid)`` gives). The client's m-lines it *receives* on
  (``recvonly``/``sendrecv``) are bound, per kind and in m-line order, to the slots not yet
  bound; a binding lasts for the connection, so renegotiation never moves a slot.
  So a client that wants both peers offers, per kind, one ``sendrecv`` plus one
  ``recvonly`` m-line. The bound sender carries the slot's always-alive gated track and
  announces the slot's own msid stream id (random, never a participant id).
* only VP8 and Opus are accepted (frames are forwarded as they were encoded).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from aiortc import (
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.sdp import SessionDescription

from server.media import seam
from server.media.buffers import AudioPassthrough, EncodedFrame, VideoAssembler
from server.media.gate import Outbound
from server.media.ice import MediaConfig

MAX_SDP_BYTES = 64 * 1024
MAX_MLINES = 8
CODEC = {"video": "video/VP8", "audio": "audio/opus"}
_SENDS = ("sendonly", "sendrecv")
_RECEIVES = ("recvonly", "sendrecv")


class OfferRejected(ValueError):
    """The offer cannot be answered. The message is safe to show the client (no SDP)."""


PumpStarter = Callable[[str, RTCRtpReceiver], None]
Forward = Callable[[str, RTCRtpReceiver, list[EncodedFrame]], None]
OutboundFor = Callable[[str], Outbound]
KeyframeRequest = Callable[[str, str], None]
BitrateReport = Callable[[str, str, int], None]  # (source, sink, bits per second)


class Peer:
    """The server end of one participant's connection (media only: no data channel)."""

    def __init__(
        self,
        pid: str,
        config: MediaConfig,
        slots: tuple[str, ...],
        outbound: OutboundFor,
        start_pump: PumpStarter,
        forward: Forward,
        sink_wants_keyframe: KeyframeRequest,
        sink_bitrate: BitrateReport | None = None,
    ) -> None:
        self.pid = pid
        self.slots = slots
        self.pc = RTCPeerConnection(config.rtc_configuration())
        self.sources: dict[str, RTCRtpReceiver] = {}
        self._config = config
        self._outbound = outbound
        self._start_pump = start_pump
        self._forward = forward
        self._sink_wants_keyframe = sink_wants_keyframe
        self._sink_bitrate = sink_bitrate
        self._bound: dict[tuple[str, str], int] = {}  # (kind, mid) -> slot index
        self._pumped: set[int] = set()
        self._lock = asyncio.Lock()

    async def negotiate(self, sdp: str) -> tuple[str, set[str]]:
        """Answer ``sdp``; returns the answer and the kinds whose source track changed."""
        async with self._lock:
            media = _parse(sdp)
            if len(self.pc.getTransceivers()) + sum(
                1 for m in media if m.rtp.muxId not in {t.mid for t in self.pc.getTransceivers()}
            ) > MAX_MLINES:
                raise OfferRejected("too many media sections")
            try:
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            except Exception as exc:  # aiortc raises a mix of ValueError/OperationError/...
                raise OfferRejected("the offer could not be applied") from exc
            by_mid = {t.mid: t for t in self.pc.getTransceivers()}
            changed = self._configure(media, by_mid)
            seam.lighten_ice_queue(self.pc)
            # Always the relay's own sockets (also with no address or ports configured: then
            # aioice's host addresses, ephemeral ports), so media takes the direct path.
            seam.bind_host_candidates(
                self.pc,
                bind_address=self._config.public_ip,
                announced_address=self._config.public_ip,
                ports=self._config.ports,
            )
            # setLocalDescription gathers every candidate before returning: no trickle ICE.
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            for t in self.pc.getTransceivers():
                if t.receiver.track is not None and id(t.receiver) not in self._pumped:
                    self._pumped.add(id(t.receiver))
                    self._start_pump(t.kind, t.receiver)
            return self.pc.localDescription.sdp, changed

    def _configure(self, media: list[Any], by_mid: dict[str | None, RTCRtpTransceiver]) -> set[str]:
        sources: dict[str, RTCRtpReceiver] = {}
        for m in media:
            t = by_mid[m.rtp.muxId]
            if not seam.restrict_codecs(t, CODEC[t.kind]):
                raise OfferRejected("only VP8 video and Opus audio are supported")
            if not isinstance(seam.receiver_buffer(t.receiver), (VideoAssembler, AudioPassthrough)):
                buffer = VideoAssembler() if t.kind == "video" else AudioPassthrough()
                seam.set_receiver_buffer(t.receiver, buffer)
                deliver = self._deliverer(t.kind, t.receiver)
                seam.deliver_directly(t.receiver, t.kind, deliver)
                seam.receive_directly(t.receiver, t.kind, deliver)
                if t.kind == "video" and self._sink_bitrate is not None:
                    seam.forward_remb_only(t.receiver)
            if m.direction in _SENDS and t.kind not in sources:
                sources[t.kind] = t.receiver
            if m.direction in _RECEIVES:
                self._bind_slot(t)
        changed = {k for k in ("audio", "video") if sources.get(k) is not self.sources.get(k)}
        self.sources = sources
        return changed

    def _deliverer(
        self, kind: str, receiver: RTCRtpReceiver
    ) -> Callable[[list[EncodedFrame]], None]:
        return functools.partial(self._forward, kind, receiver)  # per frame: no extra frames

    def _bind_slot(self, t: RTCRtpTransceiver) -> None:
        key = (t.kind, str(t.mid))
        if key not in self._bound:
            taken = {i for (kind, _), i in self._bound.items() if kind == t.kind}
            free = [i for i in range(len(self.slots)) if i not in taken]
            if not free:
                return
            self._bound[key] = free[0]
            source = self.slots[free[0]]
            out = self._outbound(source)
            t.sender.replaceTrack(out.track(t.kind))
            seam.pack_relay_frames(t.sender, t.kind, self._bitrate_reporter(t.kind, source))
            seam.send_directly(t.sender)
            seam.set_stream_id(t.sender, out.stream_id)
            if t.kind == "video":
                seam.on_keyframe_request(
                    t.sender, lambda: self._sink_wants_keyframe(source, self.pid)
                )
        t.direction = "sendrecv"

    def _bitrate_reporter(self, kind: str, source: str) -> Callable[[int], None] | None:
        report = self._sink_bitrate
        if kind != "video" or report is None:
            return None
        pid = self.pid
        return lambda bitrate: report(source, pid, bitrate)

    def source_ssrc(self, kind: str) -> int | None:
        receiver = self.sources.get(kind)
        if receiver is None:
            return None
        buffer = seam.receiver_buffer(receiver)
        return getattr(buffer, "ssrc", None)

    async def close(self) -> None:
        await self.pc.close()


def _parse(sdp: str) -> list[Any]:
    if not isinstance(sdp, str) or len(sdp.encode("utf-8", "replace")) > MAX_SDP_BYTES:
        raise OfferRejected("the offer is too large or not text")
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:
        raise OfferRejected("the offer is not valid SDP") from exc
    media = list(description.media)
    if not media or len(media) > MAX_MLINES:
        raise OfferRejected("the offer must have between 1 and 8 media sections")
    for m in media:
        if m.kind not in ("audio", "video"):
            raise OfferRejected("only audio and video are accepted (no data channel)")
        if not m.rtp.muxId:
            raise OfferRejected("every media section needs a mid")
    return media
