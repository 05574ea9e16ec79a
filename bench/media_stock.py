"""The comparison point for bench/media.py: aiortc's stock MediaRelay (decode + re-encode),
with the same offer/slot conventions and a route gate in front of each sink's encoder."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription
from av.frame import Frame

from server.media import seam
from server.media.ice import MediaConfig


class Forwarder(MediaStreamTrack):
    """Decoded frames of one source for one sink, passed on only while routed."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.inner: MediaStreamTrack | None = None
        self.routed = False
        self._ready = asyncio.Event()

    def attach(self, inner: MediaStreamTrack) -> None:
        self.inner = inner
        self._ready.set()

    async def recv(self) -> Frame:
        await self._ready.wait()
        assert self.inner is not None
        while True:
            frame = await self.inner.recv()
            if self.routed:
                return frame


class StockRelay:
    def __init__(self, config: MediaConfig, participants: Iterable[str]) -> None:
        self.config = config
        self.participants = tuple(participants)
        self.relay = MediaRelay()
        self.pcs: dict[str, RTCPeerConnection] = {}
        self.fwd = {
            (a, b, k): Forwarder(k)
            for a in self.participants for b in self.participants if a != b
            for k in ("video", "audio")
        }

    async def offer(self, pid: str, sdp: str) -> str:
        pc = RTCPeerConnection(self.config.rtc_configuration())
        self.pcs[pid] = pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        slots = [p for p in self.participants if p != pid]
        used = {"video": 0, "audio": 0}
        sources: set[str] = set()
        by_mid = {t.mid: t for t in pc.getTransceivers()}
        for m in SessionDescription.parse(sdp).media:
            t = by_mid[m.rtp.muxId]
            if m.direction in ("sendonly", "sendrecv") and t.kind not in sources:
                sources.add(t.kind)
                for sink in slots:
                    self.fwd[(pid, sink, t.kind)].attach(
                        self.relay.subscribe(t.receiver.track, buffered=False))
            if m.direction in ("recvonly", "sendrecv") and used[t.kind] < len(slots):
                t.sender.replaceTrack(self.fwd[(slots[used[t.kind]], pid, t.kind)])
                t.direction = "sendrecv"
                used[t.kind] += 1
        seam.bind_host_candidates(pc, bind_address=self.config.public_ip,
                                  announced_address=self.config.public_ip, ports=None)
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    def apply_routes(self, routes: frozenset[tuple[str, str]]) -> None:
        for (a, b, _), f in self.fwd.items():
            f.routed = (a, b) in routes

    async def close(self) -> None:
        for pc in self.pcs.values():
            await pc.close()
