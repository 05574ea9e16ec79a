"""The per-case media relay: forwards encoded VP8/Opus frames only along the domain's routes.

Public API (everything the socket.io layer needs)::

    relay = CaseRelay(config, participants=(mediator_id, victim_id, respondent_id))
    answer_sdp = await relay.offer(pid, sdp)          # rtc.offer; also renegotiation;
                                                      # OfferRejected (safe message) if bad
    relay.apply_routes(rooms.media_routes(case))       # after every event that changes them
    relay.slots(pid) -> tuple[str, ...]                # who each receive slot carries
    await relay.remove(pid)                            # leave, safety exit, disconnect
    await relay.close()                                # case closed / shutdown

Design (DESIGN.md section 5):
* one ``RTCPeerConnection`` per participant (``peer.Peer``), ``iceServers=[]``;
* received frames are never decoded: the seam hands each relay receiver's frames over encoded
  and the sink's ``RTCRtpSender`` packs them again (``Encoder.pack``);
* one :class:`~server.media.gate.Outbound` (video + audio gated track) per ordered pair
  (source, sink) of the case, created up front and kept alive; ``apply_routes`` only opens
  and closes gates. With a mediator and one party a sink uses one slot; in joint, two;
* every received track is drained by a pump, routed or not; an unrouted source's frames
  are dropped on arrival, never queued for later;
* a newly opened route sends a PLI to the source, and the gate holds that sink until a
  VP8 keyframe; PLI/FIR from a sink is forwarded to its source (rate-limited);
* bandwidth: the relay does not estimate each upstream leg per packet; it sends each source
  the lowest REMB among its routed sinks (the sinks estimate the whole path);
* nothing is ever written anywhere; logs carry no SDP, addresses or payloads.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Iterable

import av
from aiortc import RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError

from server.logs import log
from server.media import seam
from server.media.buffers import EncodedFrame, is_vp8_keyframe
from server.media.gate import Outbound
from server.media.ice import MediaConfig
from server.media.peer import OfferRejected, Peer

Route = tuple[str, str]
PLI_REPEAT = 0.25  # while a sink waits for a keyframe, ask again this often (PLI may be lost)
SINK_PLI_INTERVAL = 0.2  # at most one sink-originated PLI per source per interval

__all__ = ["CaseRelay", "MediaConfig", "OfferRejected"]


class CaseRelay:
    """Media for one case. Never lets a source's frame reach a sink outside the routes."""

    def __init__(self, config: MediaConfig, participants: Iterable[str]) -> None:
        seam.install()
        _quiet_media_libraries()
        self.config = config
        self.participants = tuple(dict.fromkeys(participants))
        if len(self.participants) < 2:
            raise ValueError("a relay needs at least two participants")
        self._slots = {p: tuple(q for q in self.participants if q != p) for p in self.participants}
        self.outbound: dict[Route, Outbound] = {
            (a, b): Outbound() for a in self.participants for b in self.participants if a != b
        }
        self.routes: frozenset[Route] = frozenset()
        self.peers: dict[str, Peer] = {}
        self._pumps: set[asyncio.Task[None]] = set()
        self._rtcp: set[asyncio.Task[None]] = set()
        self._last_pli: dict[str, float] = {}
        self._last_sink_pli: dict[str, float] = {}
        self._remb: dict[Route, int] = {}  # (source, sink) -> the sink's latest REMB
        self._closed = False

    def slots(self, pid: str) -> tuple[str, ...]:
        """The sources ``pid`` can receive, in slot order (the mediator's peers, or for a
        party: the mediator, then the other party)."""
        self._check_pid(pid)
        return self._slots[pid]

    async def offer(self, pid: str, sdp: str, type_: str = "offer") -> str:
        """Answer ``pid``'s offer (first connection or renegotiation). Raises OfferRejected."""
        self._check_pid(pid)
        if type_ != "offer":
            raise OfferRejected("only offers are accepted")
        if self._closed:
            raise OfferRejected("the session is closed")
        peer = self.peers.get(pid)
        if peer is None or peer.pc.connectionState in ("closed", "failed"):
            if peer is not None:
                await self.remove(pid)
            peer = Peer(
                pid,
                self.config,
                self.slots(pid),
                outbound=lambda source: self.outbound[(source, pid)],
                start_pump=lambda kind, receiver: self._start_pump(pid, kind, receiver),
                forward=functools.partial(self._forward, pid),
                sink_wants_keyframe=self._sink_wants_keyframe,
                sink_bitrate=self._sink_bitrate,
            )
            self.peers[pid] = peer
        answer, changed = await peer.negotiate(sdp)
        if "video" in changed:
            for sink in self.slots(pid):
                self.outbound[(pid, sink)].video.restart()
        log("media_negotiated", count=len(peer.pc.getTransceivers()))
        return answer

    def apply_routes(self, routes: frozenset[tuple[str, str]]) -> None:
        """Make ``routes`` the only flows: close removed routes (dropping what was queued),
        open added ones (keyframe requested, sink held until it arrives)."""
        routes = frozenset(routes)
        unknown = [r for r in routes if r not in self.outbound]
        if unknown:
            raise ValueError("route between unknown participants")
        for route in self.routes - routes:
            self.outbound[route].close()
            self._remb.pop(route, None)
        added = routes - self.routes
        for route in added:
            self.outbound[route].open()
        self.routes = routes
        for source in {s for s, _ in added}:
            self._request_keyframe(source, force=True)

    async def remove(self, pid: str) -> None:
        """``pid`` left or disconnected: close its connection; its routes stay as the domain
        says (a reconnect gets fresh outbound tracks in the same routing state)."""
        self._check_pid(pid)
        peer = self.peers.pop(pid, None)
        if peer is not None:
            await peer.close()
        for source in self.slots(pid):
            self.outbound[(source, pid)] = self.outbound[(source, pid)].renewed()
            self._remb.pop((source, pid), None)  # its estimate left with its connection
        for sink in self.slots(pid):
            self.outbound[(pid, sink)].video.restart()

    async def close(self) -> None:
        """Close every connection; the relay accepts nothing afterwards."""
        self._closed = True
        self.apply_routes(frozenset())
        peers = list(self.peers.values())
        self.peers.clear()
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        for task in list(self._pumps) + list(self._rtcp):
            task.cancel()
        await asyncio.gather(*self._pumps, *self._rtcp, return_exceptions=True)

    # ------------------------------------------------------------------ forwarding

    def _check_pid(self, pid: str) -> None:
        if pid not in self.participants:
            raise ValueError("unknown participant")

    def _start_pump(self, pid: str, kind: str, receiver: RTCRtpReceiver) -> None:
        task = asyncio.ensure_future(self._pump(pid, kind, receiver))
        self._pumps.add(task)
        task.add_done_callback(self._pumps.discard)

    async def _pump(self, pid: str, kind: str, receiver: RTCRtpReceiver) -> None:
        """Drain one received track for its whole life. Frames normally reach ``_forward``
        straight from the receiver (seam.deliver_directly); this only sees the end of the
        stream, or frames that took aiortc's decoder-thread path (as ``av.Packet``)."""
        track = receiver.track
        while True:
            try:
                item = await track.recv()
            except MediaStreamError:
                return
            if isinstance(item, av.Packet):  # anything decoded is never relayed
                self._forward(pid, kind, receiver, [EncodedFrame(bytes(item), int(item.pts or 0))])

    def _forward(
        self, pid: str, kind: str, receiver: RTCRtpReceiver, frames: list[EncodedFrame]
    ) -> None:
        """Pass ``pid``'s frames to each sink whose gate is open; drop them otherwise."""
        peer = self.peers.get(pid)
        if peer is None or peer.sources.get(kind) is not receiver:
            return
        video = kind == "video"
        outbound = self.outbound
        gates = []
        for sink in self._slots[pid]:
            out = outbound[(pid, sink)]
            gate = out.video if video else out.audio
            if gate.routed:
                gates.append(gate)
        if not gates:
            return  # unrouted: dropped on arrival, never queued
        wants_key = False
        for frame in frames:
            keyframe = video and is_vp8_keyframe(frame.data)
            for gate in gates:
                wants_key |= gate.push(frame, keyframe)
        if wants_key:
            self._request_keyframe(pid)

    def _request_keyframe(self, source: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_pli.get(source, 0.0) < PLI_REPEAT:
            return
        peer = self.peers.get(source)
        if peer is None or "video" not in peer.sources:
            return
        ssrc = peer.source_ssrc("video")
        if ssrc is None:
            return  # nothing received yet: the first frame will be a keyframe anyway
        self._last_pli[source] = now
        task = asyncio.ensure_future(seam.send_pli(peer.sources["video"], ssrc))
        self._rtcp.add(task)
        task.add_done_callback(self._rtcp.discard)

    def _sink_wants_keyframe(self, source: str, sink: str) -> None:
        """A sink sent PLI/FIR for ``source``'s slot: pass it on while routed (never let an
        unrouted sink signal to a source), rate-limited."""
        if (source, sink) not in self.routes:
            return
        now = time.monotonic()
        if now - self._last_sink_pli.get(source, 0.0) < SINK_PLI_INTERVAL:
            return
        self._last_sink_pli[source] = now
        self._request_keyframe(source, force=True)

    def _sink_bitrate(self, source: str, sink: str, bitrate: int) -> None:
        """A sink reported (REMB) how much of ``source``'s video it can take: tell the source
        the lowest estimate among its routed sinks (an unrouted sink never signals)."""
        if (source, sink) not in self.routes:
            return
        self._remb[(source, sink)] = bitrate
        lowest = min(b for (s, _), b in self._remb.items() if s == source)
        peer = self.peers.get(source)
        receiver = peer.sources.get("video") if peer is not None else None
        ssrc = peer.source_ssrc("video") if peer is not None else None
        if receiver is None or ssrc is None:
            return
        task = asyncio.ensure_future(seam.send_remb(receiver, ssrc, lowest))
        self._rtcp.add(task)
        task.add_done_callback(self._rtcp.discard)


def _quiet_media_libraries() -> None:
    """aiortc logs SDP at DEBUG and aioice logs candidate addresses at INFO: cap both."""
    for name in ("aiortc", "aioice"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
