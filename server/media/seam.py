"""The one place that touches aiortc's and aioice's private internals.

aiortc is pinned exactly (pyproject.toml) because the relay depends on details that are
not part of its public API. Every such detail is used here and nowhere else, and
``problems()`` lists what an upgrade broke; ``tests/media/test_seam.py`` fails loudly on it.

The seams, and why:

* ``aiortc.rtcrtpreceiver.get_decoder`` (module level, looked up by the receiver's decoder
  thread for every codec change). ``install()`` replaces it, once, with a dispatcher whose
  decoders hand frames produced by our own buffers (:class:`RelayFrame`) back as ``av.Packet``
  without decoding, and lazily fall back to aiortc's stock decoder for anything else. A peer
  connection the relay does not own is therefore never affected.
* ``RTCRtpReceiver._RTCRtpReceiver__jitter_buffer``: replaced per receiver by
  ``server.media.buffers`` (marker-aware video, no audio prefetch), which emit RelayFrames.
* ``RTCRtpReceiver._RTCRtpReceiver__decoder_queue``: replaced per relay receiver by a queue
  that hands relay frames straight to the relay on the event loop (``deliver_directly``),
  saving the decoder-thread round trip (a GIL hand-off, up to a few ms per frame); the
  ``get_decoder`` dispatcher above remains the safety net should a frame take the thread path.
* ``RTCRtpReceiver._send_rtcp_pli(ssrc)``: ask a source for a keyframe.
* ``RTCRtpSender._send_keyframe``: called by the sender when its remote peer sends PLI/FIR;
  shadowed per sender instance so the request can be forwarded upstream.
* ``RTCRtpSender._stream_id``: the ``msid`` stream id in the answer, one per relayed source.
* ``RTCIceGatherer._connection`` and aioice's ``Connection.get_component_candidates``,
  ``StunProtocol``, ``Candidate``, ``candidate_foundation``, ``candidate_priority``: aioice
  binds host candidates on every interface with an ephemeral port; the relay binds one
  configured address inside a configured UDP port range instead.
"""

from __future__ import annotations

import asyncio
import errno
import fractions
import random
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

import aioice.ice
import aiortc
import aiortc.codecs
import aiortc.rtcrtpreceiver
import av
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import VIDEO_TIME_BASE
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from server.media.buffers import AUDIO_TIME_BASE, RelayFrame

AIORTC_VERSION = "1.16.0"

_JITTER_ATTR = "_RTCRtpReceiver__jitter_buffer"
_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_lock = threading.Lock()
_receiver_module: Any = aiortc.rtcrtpreceiver
_ice: Any = aioice.ice
_stock_get_decoder: Callable[[RTCRtpCodecParameters], Any] | None = None


class SeamMoved(RuntimeError):
    """An aiortc/aioice upgrade moved a private symbol the relay relies on."""


def relay_packets(frame: RelayFrame, time_base: fractions.Fraction) -> list[av.Packet[Any]]:
    """The encoded frames of ``frame`` as ``av.Packet``s, as aiortc's senders can pack them."""
    out = []
    for data, pts in frame.parts():
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = time_base
        out.append(packet)
    return out


class _DirectQueue:
    """Stands in for a relay receiver's decoder queue: relay frames are handed to
    ``deliver`` at once, on the event loop (no thread hop, no track queue); the stop
    sentinel and anything else still go to the decoder thread, which then ends normally."""

    def __init__(self, inner: Any, deliver: Callable[[list[av.Packet[Any]]], None],
                 time_base: fractions.Fraction) -> None:
        self.inner = inner
        self._deliver = deliver
        self._time_base = time_base

    def put(self, item: Any) -> None:
        if item is not None and isinstance(item[1], RelayFrame):
            self._deliver(relay_packets(item[1], self._time_base))
        else:
            self.inner.put(item)

    def get(self) -> Any:
        return self.inner.get()


def deliver_directly(
    receiver: RTCRtpReceiver, kind: str, deliver: Callable[[list[av.Packet[Any]]], None]
) -> None:
    """Hand ``receiver``'s assembled frames to ``deliver`` synchronously (idempotent).

    Must be called before the receiver starts (before ``setLocalDescription``); its track
    then only ever carries the end-of-stream marker, so it can never accumulate frames.
    """
    current = getattr(receiver, _QUEUE_ATTR, None)
    if current is None:
        raise SeamMoved(f"RTCRtpReceiver.{_QUEUE_ATTR} is gone")
    if isinstance(current, _DirectQueue):
        return
    time_base = VIDEO_TIME_BASE if kind == "video" else AUDIO_TIME_BASE
    setattr(receiver, _QUEUE_ATTR, _DirectQueue(current, deliver, time_base))


class _PassthroughDecoder:
    """Returns relay frames as encoded ``av.Packet``s; decodes anything else as aiortc would."""

    def __init__(self, codec: RTCRtpCodecParameters) -> None:
        self._codec = codec
        self._stock: Any = None
        self._time_base = VIDEO_TIME_BASE if codec.clockRate == 90000 else AUDIO_TIME_BASE

    def decode(self, encoded_frame: JitterFrame) -> list[Any]:
        if isinstance(encoded_frame, RelayFrame):
            return relay_packets(encoded_frame, self._time_base)
        if self._stock is None:
            assert _stock_get_decoder is not None
            self._stock = _stock_get_decoder(self._codec)
        return list(self._stock.decode(encoded_frame))


def _dispatching_get_decoder(codec: RTCRtpCodecParameters) -> _PassthroughDecoder:
    return _PassthroughDecoder(codec)


def problems() -> list[str]:
    """Every private symbol the relay needs that this aiortc/aioice no longer provides."""
    found: list[str] = []
    if aiortc.__version__ != AIORTC_VERSION:
        found.append(f"aiortc is {aiortc.__version__}, the seams were checked on {AIORTC_VERSION}")
    worker = getattr(aiortc.rtcrtpreceiver, "decoder_worker", None)
    if worker is None or "get_decoder" not in worker.__code__.co_names:
        found.append("aiortc.rtcrtpreceiver.decoder_worker no longer calls get_decoder")
    if not hasattr(aiortc.rtcrtpreceiver, "get_decoder"):
        found.append("aiortc.rtcrtpreceiver.get_decoder is gone")
    handle = getattr(RTCRtpReceiver, "_handle_rtp_packet", None)
    if handle is None or "_RTCRtpReceiver__jitter_buffer" not in handle.__code__.co_names:
        found.append("RTCRtpReceiver._handle_rtp_packet no longer uses __jitter_buffer")
    if handle is None or "_RTCRtpReceiver__decoder_queue" not in handle.__code__.co_names:
        found.append("RTCRtpReceiver._handle_rtp_packet no longer puts frames on __decoder_queue")
    receive = getattr(RTCRtpReceiver, "receive", None)
    if receive is None or "_RTCRtpReceiver__decoder_queue" not in receive.__code__.co_names:
        found.append("RTCRtpReceiver.receive no longer hands __decoder_queue to its thread")
    if not hasattr(RTCRtpReceiver, "_send_rtcp_pli"):
        found.append("RTCRtpReceiver._send_rtcp_pli is gone")
    rtcp = getattr(RTCRtpSender, "_handle_rtcp_packet", None)
    if rtcp is None or "_send_keyframe" not in rtcp.__code__.co_names:
        found.append("RTCRtpSender._handle_rtcp_packet no longer calls _send_keyframe on PLI/FIR")
    nxt = getattr(RTCRtpSender, "_next_encoded_frame", None)
    if nxt is None or "pack" not in nxt.__code__.co_names:
        found.append("RTCRtpSender._next_encoded_frame no longer packs pre-encoded av.Packet")
    for name in ("Vp8Encoder", "OpusEncoder"):
        if not hasattr(getattr(aiortc.codecs, name, None), "pack"):
            found.append(f"aiortc.codecs.{name}.pack is gone")
    for name in ("get_host_addresses", "StunProtocol", "candidate_foundation",
                 "candidate_priority", "Candidate"):
        if not hasattr(aioice.ice, name):
            found.append(f"aioice.ice.{name} is gone")
    if "_codecs" not in RTCRtpTransceiver.__init__.__code__.co_names:
        found.append("RTCRtpTransceiver._codecs is gone")
    if not hasattr(aioice.ice.Connection, "get_component_candidates"):
        found.append("aioice.ice.Connection.get_component_candidates is gone")
    return found


def install() -> None:
    """Install the passthrough decoder dispatcher (idempotent, thread-safe).

    Raises :class:`SeamMoved` naming what moved, rather than relaying media wrongly.
    """
    global _stock_get_decoder
    with _lock:
        if _stock_get_decoder is not None:
            return
        found = problems()
        if found:
            raise SeamMoved("; ".join(found))
        _stock_get_decoder = getattr(_receiver_module, "get_decoder")  # noqa: B009
        setattr(_receiver_module, "get_decoder", _dispatching_get_decoder)  # noqa: B010


def uninstall() -> None:
    """Restore aiortc's own ``get_decoder`` (tests only)."""
    global _stock_get_decoder
    with _lock:
        if _stock_get_decoder is not None:
            setattr(_receiver_module, "get_decoder", _stock_get_decoder)  # noqa: B010
            _stock_get_decoder = None


def installed() -> bool:
    return _stock_get_decoder is not None


def set_receiver_buffer(receiver: RTCRtpReceiver, buffer: object) -> None:
    """Make ``receiver`` assemble frames with ``buffer`` (which must emit RelayFrames)."""
    if not hasattr(receiver, _JITTER_ATTR):
        raise SeamMoved(f"RTCRtpReceiver.{_JITTER_ATTR} is gone")
    setattr(receiver, _JITTER_ATTR, buffer)


def receiver_buffer(receiver: RTCRtpReceiver) -> object:
    return getattr(receiver, _JITTER_ATTR)


async def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Send an RTCP Picture Loss Indication for ``media_ssrc`` to the receiver's remote peer."""
    await receiver._send_rtcp_pli(media_ssrc)


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever ``sender``'s remote peer sends PLI or FIR."""
    setattr(sender, "_send_keyframe", callback)  # noqa: B010


def set_stream_id(sender: RTCRtpSender, stream_id: str) -> None:
    """Set the ``msid`` stream id ``sender`` announces (groups a source's audio and video)."""
    sender._stream_id = stream_id


# ---------------------------------------------------------------------------- ICE binding

def restrict_codecs(transceiver: RTCRtpTransceiver, mime_type: str) -> bool:
    """Keep only ``mime_type`` (and its RTX) on ``transceiver``; False if it was not offered.

    The relay forwards encoded frames, so both legs must use the same codec (VP8, Opus).
    aiortc negotiates codecs inside ``setRemoteDescription``; this narrows the result
    before the answer is made (and ``setCodecPreferences`` keeps it so on renegotiation).
    """
    mime = mime_type.lower()
    kept = [c for c in transceiver._codecs if c.mimeType.lower() == mime]
    if not kept:
        return False
    types = {c.payloadType for c in kept}
    kept += [
        c for c in transceiver._codecs
        if c.mimeType.lower() == f"{transceiver.kind}/rtx" and c.parameters.get("apt") in types
    ]
    transceiver._codecs = kept
    caps = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    transceiver.setCodecPreferences(
        [c for c in caps if c.mimeType.lower() in (mime, f"{transceiver.kind}/rtx")]
    )
    return True


def _bind_udp(address: str, ports: tuple[int, int] | None) -> socket.socket:
    try:
        return _bind_in_range(address, ports)
    except OSError as exc:
        if exc.errno != errno.EADDRNOTAVAIL:
            raise
        # The public address is not on this host (1:1 NAT): listen on all, announce it.
        return _bind_in_range("::" if ":" in address else "0.0.0.0", ports)


def _bind_in_range(address: str, ports: tuple[int, int] | None) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    candidates = [0] if ports is None else random.sample(range(ports[0], ports[1] + 1),
                                                        ports[1] - ports[0] + 1)
    last: OSError | None = None
    for port in candidates:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((address, port))
        except OSError as exc:
            sock.close()
            last = exc
            if exc.errno == errno.EADDRINUSE:
                continue
            raise
        sock.setblocking(False)
        return sock
    raise OSError(errno.EADDRINUSE, "no free UDP port in the configured range") from last


def bind_host_candidates(
    pc: RTCPeerConnection,
    *,
    bind_address: str | None,
    announced_address: str | None,
    ports: tuple[int, int] | None,
) -> None:
    """Make ``pc``'s ICE gather exactly one host candidate per interface address it uses:
    bound to ``bind_address`` (or aioice's host addresses), on a port from ``ports``,
    announced as ``announced_address`` (the configured public IP) when given.

    Call after ``setRemoteDescription`` and before ``setLocalDescription`` (which gathers).
    """
    for transceiver in pc.getTransceivers():
        gatherer = transceiver.receiver.transport.transport.iceGatherer
        connection = gatherer._connection
        if getattr(connection, "_sulh_bound", False):
            continue
        gather = _ranged_gatherer(connection, bind_address, announced_address, ports)
        setattr(connection, "get_component_candidates", gather)  # noqa: B010
        setattr(connection, "_sulh_bound", True)  # noqa: B010


def _ranged_gatherer(
    connection: Any,
    bind_address: str | None,
    announced_address: str | None,
    ports: tuple[int, int] | None,
) -> Callable[..., Any]:
    async def get_component_candidates(
        component: int, addresses: Sequence[str], timeout: int = 5
    ) -> list[Any]:
        loop = asyncio.get_running_loop()
        chosen = [bind_address] if bind_address else list(addresses)
        candidates = []
        for address in chosen:
            sock = _bind_udp(address, ports)
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _ice.StunProtocol(connection), sock=sock
            )
            host, port = transport.get_extra_info("sockname")[:2]
            if announced_address:
                host = announced_address
            protocol.local_candidate = _ice.Candidate(
                foundation=_ice.candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=_ice.candidate_priority(component, "host"),
                host=host,
                port=port,
                type="host",
            )
            connection._protocols.append(protocol)
            candidates.append(protocol.local_candidate)
        return candidates

    return get_component_candidates
