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
  that hands relay frames (as :class:`EncodedFrame`) straight to the relay on the event loop
  (``deliver_directly``),
  saving the decoder-thread round trip (a GIL hand-off, up to a few ms per frame); the
  ``get_decoder`` dispatcher above remains the safety net should a frame take the thread path.
* ``RTCRtpSender._RTCRtpSender__encoder``: preset per relay sender to a :class:`RelayPacker`
  (``pack_relay_frames``), which packetizes :class:`EncodedFrame`s straight from their bytes
  and RTP timestamp: no ``av.Packet``, no ``Fraction`` time-base conversion, no copy. It uses
  ``Vp8Encoder._packetize`` (aiortc's own VP8 payload descriptor and packet size).
* ``RTCRtpReceiver._send_rtcp_pli(ssrc)``: ask a source for a keyframe.
* ``RTCRtpReceiver._RTCRtpReceiver__remote_bitrate_estimator`` (set to ``None`` per relay
  video receiver: ``forward_remb_only``), ``_RTCRtpReceiver__rtcp_ssrc`` and ``_send_rtcp``
  (``send_remb``): a forwarder does not estimate the upstream leg per packet; it passes the
  lowest REMB of the source's routed sinks upstream, as an SFU does. Sinks' REMB reach the
  relay through ``RTCRtpSender._handle_rtcp_packet`` setting ``encoder.target_bitrate``,
  which :class:`RelayPacker` reports.
* ``RTCRtpSender._send_keyframe``: called by the sender when its remote peer sends PLI/FIR;
  shadowed per sender instance so the request can be forwarded upstream.
* ``RTCRtpSender._stream_id``: the ``msid`` stream id in the answer, one per relayed source.
* ``aiortc.clock.current_ms`` / ``current_ntp_time`` (called per RTP packet, via the
  ``clock`` module): replaced process-wide by equivalents that read ``time.time_ns()`` once
  instead of building and subtracting ``datetime`` objects (same values, same units).
* ``StunProtocol.datagram_received`` on the relay's own sockets (``bind_host_candidates``):
  a datagram whose first byte is above 3 cannot be STUN (RFC 7983), so RTP/RTCP/DTLS go
  straight to the connection instead of through a failing STUN parse per packet.
* aioice ``Connection._queue`` (``lighten_ice_queue``): the received-datagram queue between
  aioice and aiortc's DTLS transport, replaced per relay connection, before ICE connects,
  by :class:`_DatagramQueue` (the same ``put_nowait``/``get`` for its single reader, without
  ``asyncio.Queue``'s size and task-done bookkeeping on every packet); and
  ``RTCIceTransport._send``/``_recv`` (bound to the connection's ``send``/``recv`` in its
  constructor), replaced by one-coroutine equivalents over ``Connection._nominated``
  (``CandidatePair.protocol.transport.sendto(data, pair.remote_addr)``, as aioice does).
* Direct SRTP receive (``receive_directly``, registered per connection by
  ``lighten_ice_queue``): once DTLS is connected, the relay socket's callback decrypts each
  SRTP packet with ``RTCDtlsTransport._rx_srtp``, finds its receiver in
  ``_rtp_router.ssrc_table`` and, for the relay's primary codec, does what
  ``RTCRtpReceiver._handle_rtp_packet`` does (``__remote_streams`` statistics for RTCP RR,
  ``__nack_generator`` and ``_send_rtcp_nack``, VP8 depayloading, the relay's buffer,
  ``_send_rtcp_pli``, ``__timestamp_mapper``) in one synchronous call, instead of a queue hop
  into ``RTCDtlsTransport``'s receive task and a dozen coroutine frames per packet. RTX,
  unknown payload types, SRTCP, DTLS and anything before the handshake still take aiortc's
  path. (DTLS-level byte counters in ``getStats`` then miss these packets; nothing reads them.)
* Direct RTP send (``send_directly``): each relay sender's ``_run_rtp`` is shadowed per
  instance by :func:`_run_relay_rtp`, which sends the same packets (sequence numbers,
  timestamp origin, abs-send-time and mid extensions, marker, the ``__rtp_history`` NACK
  answers come from, the ``__ntp_timestamp``/``__rtp_timestamp``/``__octet_count``/
  ``__packet_count`` its RTCP sender reports read) with one serialized header per frame,
  ``RTCDtlsTransport._tx_srtp`` and the nominated pair's socket, and sets
  ``__rtp_started``/``__rtp_exited`` as ``stop()`` expects.
* ``RTCIceGatherer._connection`` and aioice's ``Connection.get_component_candidates``,
  ``StunProtocol``, ``Candidate``, ``candidate_foundation``, ``candidate_priority``: aioice
  binds host candidates on every interface with an ephemeral port; the relay binds one
  configured address inside a configured UDP port range instead.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import fractions
import functools
import logging
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import aioice.ice
import aioice.turn
import aiortc
import aiortc.clock
import aiortc.codecs
import aiortc.rtcicetransport
import aiortc.rtcrtpreceiver
import av
import pylibsrtp
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import VIDEO_TIME_BASE, MediaStreamError, convert_timebase
from aiortc.rtcdtlstransport import State as _DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import StreamStatistics as _stream_statistics
from aiortc.rtp import RTCP_PSFB_APP, RTP_HISTORY_SIZE, RtcpPsfbPacket, RtpPacket, pack_remb_fci

from server.logs import log
from server.media.buffers import AUDIO_TIME_BASE, EncodedFrame, RelayFrame

AIORTC_VERSION = "1.16.0"

_JITTER_ATTR = "_RTCRtpReceiver__jitter_buffer"
_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_ENCODER_ATTR = "_RTCRtpSender__encoder"
_ESTIMATOR_ATTR = "_RTCRtpReceiver__remote_bitrate_estimator"
_RTCP_SSRC_ATTR = "_RTCRtpReceiver__rtcp_ssrc"
_lock = threading.Lock()
_receiver_module: Any = aiortc.rtcrtpreceiver
_ice: Any = aioice.ice
_stock_get_decoder: Callable[[RTCRtpCodecParameters], Any] | None = None
_DTLS_CONNECTED = _DtlsState.CONNECTED


_NTP_UNIX_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP epoch) to 1970-01-01
_stock_clock: dict[str, Callable[[], int]] = {}


def _current_ms() -> int:
    """``aiortc.clock.current_ms``: milliseconds since the NTP epoch."""
    return time.time_ns() // 1_000_000 + _NTP_UNIX_OFFSET * 1000


def _current_ntp_time() -> int:
    """``aiortc.clock.current_ntp_time``: 64-bit NTP time at microsecond resolution."""
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    return ((seconds + _NTP_UNIX_OFFSET) << 32) | ((micros << 32) // 1_000_000)


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

    def __init__(self, inner: Any, deliver: Callable[[list[EncodedFrame]], None]) -> None:
        self.inner = inner
        self._deliver = deliver

    def put(self, item: Any) -> None:
        if item is not None and type(item[1]) is RelayFrame:
            self._deliver(item[1].encoded())
        else:
            self.inner.put(item)

    def get(self) -> Any:
        return self.inner.get()


def deliver_directly(
    receiver: RTCRtpReceiver, kind: str, deliver: Callable[[list[EncodedFrame]], None]
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
    setattr(receiver, _QUEUE_ATTR, _DirectQueue(current, deliver))


class RelayPacker:
    """A relay sender's "encoder": packetizes already-encoded frames, never encodes.

    Takes :class:`EncodedFrame` (the direct path) or an ``av.Packet`` in the codec's clock
    (the decoder-thread path). VP8 gets aiortc's own payload descriptor and picture ids.
    """

    def __init__(self, kind: str, on_bitrate: Callable[[int], None] | None = None) -> None:
        self._vp8 = kind == "video"
        self._time_base = VIDEO_TIME_BASE if self._vp8 else AUDIO_TIME_BASE
        self.picture_id = random.randint(0, (1 << 15) - 1)
        self._on_bitrate = on_bitrate
        self._bitrate: int | None = None

    @property
    def target_bitrate(self) -> int | None:
        """The sink's latest REMB (aiortc's sender sets it on every REMB it receives)."""
        return self._bitrate

    @target_bitrate.setter
    def target_bitrate(self, bitrate: int) -> None:
        self._bitrate = bitrate
        if self._on_bitrate is not None:
            self._on_bitrate(bitrate)

    def pack(self, frame: Any) -> tuple[list[bytes], int]:
        if type(frame) is EncodedFrame:
            data, timestamp = frame.data, frame.timestamp
        else:
            data = bytes(frame)
            timestamp = convert_timebase(frame.pts, frame.time_base, self._time_base)
        if not self._vp8:
            return [data], timestamp
        payloads = Vp8Encoder._packetize(data, self.picture_id)
        self.picture_id = (self.picture_id + 1) & 0x7FFF
        return payloads, timestamp

    def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        # Only the relay's gated tracks feed this sender, and they carry encoded frames.
        raise TypeError("the relay never encodes")


def pack_relay_frames(
    sender: RTCRtpSender, kind: str, on_bitrate: Callable[[int], None] | None = None
) -> None:
    """Make ``sender`` packetize relayed frames with a :class:`RelayPacker` (idempotent);
    ``on_bitrate`` gets each REMB estimate the sink sends for this sender.

    Call before the sender starts; aiortc only looks its encoder up when it has none.
    """
    if not hasattr(sender, _ENCODER_ATTR):
        raise SeamMoved(f"RTCRtpSender.{_ENCODER_ATTR} is gone")
    if not isinstance(getattr(sender, _ENCODER_ATTR), RelayPacker):
        setattr(sender, _ENCODER_ATTR, RelayPacker(kind, on_bitrate))


def forward_remb_only(receiver: RTCRtpReceiver) -> None:
    """Stop ``receiver`` running aiortc's per-packet bandwidth estimator (the relay sends
    its sinks' REMB upstream instead, ``send_remb``)."""
    if not hasattr(receiver, _ESTIMATOR_ATTR):
        raise SeamMoved(f"RTCRtpReceiver.{_ESTIMATOR_ATTR} is gone")
    setattr(receiver, _ESTIMATOR_ATTR, None)


async def send_remb(receiver: RTCRtpReceiver, media_ssrc: int, bitrate: int) -> None:
    """Send a REMB (Receiver Estimated Maximum Bitrate) for ``media_ssrc`` upstream."""
    rtcp_ssrc = getattr(receiver, _RTCP_SSRC_ATTR, None)
    if rtcp_ssrc is None:
        return
    packet = RtcpPsfbPacket(
        fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(bitrate, [media_ssrc])
    )
    await receiver._send_rtcp(packet)


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
    clock_users = (getattr(RTCRtpSender, "_run_rtp", None),)
    for name in ("current_ms", "current_ntp_time"):
        if not callable(getattr(aiortc.clock, name, None)):
            found.append(f"aiortc.clock.{name} is gone")
    if getattr(getattr(aiortc.clock, "NTP_EPOCH", None), "year", None) != 1900:
        found.append("aiortc.clock.NTP_EPOCH is no longer 1900-01-01")
    if any(f is None or "current_ntp_time" not in f.__code__.co_names for f in clock_users):
        found.append("RTCRtpSender._run_rtp no longer reads clock.current_ntp_time")
    if "datagram_received" not in vars(aioice.ice.StunProtocol):
        found.append("aioice.ice.StunProtocol.datagram_received is gone")
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
    if handle is None or _ESTIMATOR_ATTR not in handle.__code__.co_names:
        found.append(f"RTCRtpReceiver._handle_rtp_packet no longer uses {_ESTIMATOR_ATTR}")
    run_rtcp = getattr(RTCRtpReceiver, "_run_rtcp", None)
    if run_rtcp is None or _RTCP_SSRC_ATTR not in run_rtcp.__code__.co_names:
        found.append(f"RTCRtpReceiver no longer keeps {_RTCP_SSRC_ATTR}")
    if not hasattr(RTCRtpReceiver, "_send_rtcp"):
        found.append("RTCRtpReceiver._send_rtcp is gone")
    if rtcp is None or "target_bitrate" not in rtcp.__code__.co_names:
        found.append("RTCRtpSender._handle_rtcp_packet no longer sets encoder.target_bitrate")
    nxt = getattr(RTCRtpSender, "_next_encoded_frame", None)
    if nxt is None or "pack" not in nxt.__code__.co_names:
        found.append("RTCRtpSender._next_encoded_frame no longer packs pre-encoded av.Packet")
    if nxt is None or _ENCODER_ATTR not in nxt.__code__.co_names:
        found.append(f"RTCRtpSender._next_encoded_frame no longer uses {_ENCODER_ATTR}")
    if not callable(getattr(Vp8Encoder, "_packetize", None)):
        found.append("aiortc.codecs.vpx.Vp8Encoder._packetize is gone")
    for name in ("Vp8Encoder", "OpusEncoder"):
        if not hasattr(getattr(aiortc.codecs, name, None), "pack"):
            found.append(f"aiortc.codecs.{name}.pack is gone")
    for name in ("get_host_addresses", "StunProtocol", "candidate_foundation",
                 "candidate_priority", "Candidate"):
        if not hasattr(aioice.ice, name):
            found.append(f"aioice.ice.{name} is gone")
    if "_codecs" not in RTCRtpTransceiver.__init__.__code__.co_names:
        found.append("RTCRtpTransceiver._codecs is gone")
    data_received = getattr(aioice.ice.Connection, "data_received", None)
    recvfrom = getattr(aioice.ice.Connection, "recvfrom", None)
    for fn, what in ((data_received, "data_received"), (recvfrom, "recvfrom")):
        if fn is None or "_queue" not in fn.__code__.co_names:
            found.append(f"aioice Connection.{what} no longer uses _queue")
    sendto = getattr(aioice.ice.Connection, "sendto", None)
    if sendto is None or "_nominated" not in sendto.__code__.co_names:
        found.append("aioice Connection.sendto no longer sends through _nominated")
    send_data = getattr(aioice.ice.StunProtocol, "send_data", None)
    if send_data is None or "sendto" not in send_data.__code__.co_names:
        found.append("aioice StunProtocol.send_data no longer calls transport.sendto")
    if not isinstance(getattr(aioice.ice.CandidatePair, "remote_addr", None), property):
        found.append("aioice CandidatePair.remote_addr is gone")
    ice_init = aiortc.rtcicetransport.RTCIceTransport.__init__.__code__.co_names
    if "_send" not in ice_init or "_recv" not in ice_init:
        found.append("RTCIceTransport no longer binds _send/_recv to its connection")
    if recvfrom is None or "_nominated" not in recvfrom.__code__.co_names:
        found.append("aioice Connection.recvfrom no longer refuses to read before nomination")
    if not hasattr(aioice.ice.Connection, "get_component_candidates"):
        found.append("aioice.ice.Connection.get_component_candidates is gone")
    found += _direct_path_problems()
    return found


def _direct_path_problems() -> list[str]:
    """What the direct receive and send paths need (see the module docstring)."""
    found: list[str] = []
    dtls = aiortc.rtcdtlstransport.RTCDtlsTransport
    recv_next = getattr(dtls, "_recv_next", None)
    for name in ("_rx_srtp", "unprotect", "_handle_rtp_data"):
        if recv_next is None or name not in recv_next.__code__.co_names:
            found.append(f"RTCDtlsTransport._recv_next no longer uses {name}")
    route = getattr(dtls, "_handle_rtp_data", None)
    if route is None or "_rtp_router" not in route.__code__.co_names:
        found.append("RTCDtlsTransport._handle_rtp_data no longer routes with _rtp_router")
    router = getattr(aiortc.rtcdtlstransport, "RtpRouter", None)
    route_rtp = getattr(router, "route_rtp", None)
    if route_rtp is None or "ssrc_table" not in route_rtp.__code__.co_names:
        found.append("RtpRouter.route_rtp no longer uses ssrc_table")
    send_rtp = getattr(dtls, "_send_rtp", None)
    if send_rtp is None or "_tx_srtp" not in send_rtp.__code__.co_names:
        found.append("RTCDtlsTransport._send_rtp no longer uses _tx_srtp")
    if getattr(getattr(aiortc.rtcdtlstransport, "State", None), "CONNECTED", None) is None:
        found.append("aiortc.rtcdtlstransport.State.CONNECTED is gone")
    handle = getattr(RTCRtpReceiver, "_handle_rtp_packet", None)
    names = handle.__code__.co_names if handle is not None else ()
    for attr in (*_RECEIVER_ATTRS.values(), "_send_rtcp_nack", "_send_rtcp_pli", "_enabled"):
        if attr not in names:
            found.append(f"RTCRtpReceiver._handle_rtp_packet no longer uses {attr}")
    if not callable(getattr(aiortc.rtcrtpreceiver, "StreamStatistics", None)):
        found.append("aiortc.rtcrtpreceiver.StreamStatistics is gone")
    run_rtp = getattr(RTCRtpSender, "_run_rtp", None)
    names = run_rtp.__code__.co_names if run_rtp is not None else ()
    for key, attr in _SENDER_ATTRS.items():
        if key not in ("track", "encoder") and attr not in names:
            found.append(f"RTCRtpSender._run_rtp no longer uses {attr}")
    if "_send_rtp" not in names or "abs_send_time" not in names or "mid" not in names:
        found.append("RTCRtpSender._run_rtp no longer sends abs-send-time and mid")
    send = getattr(RTCRtpSender, "send", None)
    if send is None or "_run_rtp" not in send.__code__.co_names:
        found.append("RTCRtpSender.send no longer starts self._run_rtp")
    if "_RTCRtpSender__track" not in RTCRtpSender.replaceTrack.__code__.co_names:
        found.append("RTCRtpSender no longer keeps its track in __track")
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
        for name, fast in (("current_ms", _current_ms), ("current_ntp_time", _current_ntp_time)):
            _stock_clock[name] = getattr(aiortc.clock, name)
            setattr(aiortc.clock, name, fast)


def uninstall() -> None:
    """Restore aiortc's own ``get_decoder`` (tests only)."""
    global _stock_get_decoder
    with _lock:
        if _stock_get_decoder is not None:
            setattr(_receiver_module, "get_decoder", _stock_get_decoder)  # noqa: B010
            _stock_get_decoder = None
            for name, stock in _stock_clock.items():
                setattr(aiortc.clock, name, stock)
            _stock_clock.clear()


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

class _DatagramQueue:
    """Unbounded FIFO with the part of ``asyncio.Queue``'s API aioice uses for received
    datagrams (``put_nowait``, ``get``, ``empty``, ``qsize``); woken readers in order."""

    def __init__(self) -> None:
        self._items: collections.deque[Any] = collections.deque()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def get(self) -> Any:
        items = self._items
        while not items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if items and waiter.done() and not waiter.cancelled():
                    self._wake()  # it was woken for an item it will not take: pass it on
                raise
        return items.popleft()


def lighten_ice_queue(pc: RTCPeerConnection) -> None:
    """Give each of ``pc``'s ICE connections a :class:`_DatagramQueue` (idempotent), let its
    ``RTCIceTransport`` send and receive through the nominated pair directly, and let the
    relay socket's callback handle SRTP itself (:class:`_DirectSrtp`).

    Only before ICE connects (nothing can be waiting on the old queue then: aioice's
    ``recvfrom`` refuses to read until a pair is nominated) and only while it is empty.
    """
    for transceiver in pc.getTransceivers():
        ice = transceiver.receiver.transport.transport
        connection = ice.iceGatherer._connection
        queue = getattr(connection, "_queue", None)
        if queue is None or not hasattr(ice, "_send") or not hasattr(ice, "_recv"):
            raise SeamMoved("aioice Connection._queue or RTCIceTransport._send/_recv is gone")
        if isinstance(queue, _DatagramQueue) or connection._nominated or not queue.empty():
            continue
        light = _DatagramQueue()
        setattr(connection, "_queue", light)  # noqa: B010
        direct = _DirectSrtp(transceiver.receiver.transport, connection)
        setattr(connection, "_sulh_direct_srtp", direct)  # noqa: B010
        send, recv = _direct_io(connection._nominated, light)
        setattr(ice, "_send", send)  # noqa: B010
        setattr(ice, "_recv", recv)  # noqa: B010


def _direct_io(
    nominated: dict[int, Any], queue: _DatagramQueue
) -> tuple[Callable[[bytes], Any], Callable[[], Any]]:
    """aioice ``Connection.send``/``recv`` (component 1, as aiortc uses them), each in one
    coroutine instead of three and two nested ones, with the same errors."""

    async def send(data: bytes) -> None:
        pair = nominated.get(1)
        if pair is None:
            raise ConnectionError("Cannot send data, not connected")
        pair.protocol.transport.sendto(data, pair.remote_addr)

    async def recv() -> bytes:
        if not nominated:
            raise ConnectionError("Cannot receive data, not connected")
        result = await queue.get()
        if result is None:
            raise ConnectionError("Connection lost while receiving data")
        data: bytes = result[0]
        return data

    return send, recv


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
        # As aioice sizes its own host sockets: room for a keyframe's burst of packets.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, aioice.turn.UDP_SOCKET_BUFFER_SIZE)
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
            try:
                sock = _bind_udp(address, ports)
            except OSError:
                if bind_address or ports:
                    raise  # the configured address or range is unusable: say so
                continue  # as aioice: an interface that cannot be bound is skipped
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _relay_protocol()(connection), sock=sock
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


_protocols: dict[type, type] = {}


def _relay_protocol() -> Any:
    """aioice's StunProtocol, minus the per-packet STUN parse attempt for media."""
    base = _ice.StunProtocol
    cls = _protocols.get(base)
    if cls is None:

        def datagram_received(self: Any, data: bytes, addr: tuple[Any, ...]) -> None:
            if data and data[0] > 3:  # RFC 7983: STUN is 0-3; DTLS 20-63; RTP/RTCP 128-191
                direct = getattr(self.receiver, "_sulh_direct_srtp", None)
                if direct is not None and 127 < data[0] < 192 and direct(data):
                    return
                self.receiver.data_received(data, self.local_candidate.component)
            else:
                base.datagram_received(self, data, addr)

        cls = type("RelayStunProtocol", (base,), {"datagram_received": datagram_received})
        _protocols[base] = cls
    return cls


# ---------------------------------------------------------------------------- direct SRTP receive

_RECEIVER_ATTRS = {
    "codecs": "_RTCRtpReceiver__codecs",
    "streams": "_RTCRtpReceiver__remote_streams",
    "nack": "_RTCRtpReceiver__nack_generator",
    "mapper": "_RTCRtpReceiver__timestamp_mapper",
}
_RTP_HEADER = struct.Struct("!BBHII")
_resuming: set[asyncio.Task[None]] = set()


def _run_now(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to completion right now if it never suspends (aiortc's RTP handlers
    only await sends, which do not suspend); otherwise finish it in a task."""
    try:
        yielded = coro.send(None)
    except StopIteration:
        return
    task = asyncio.ensure_future(_resume(coro, yielded))
    _resuming.add(task)
    task.add_done_callback(_resuming.discard)


async def _resume(coro: Coroutine[Any, Any, None], yielded: Any) -> None:
    try:
        while True:
            if yielded is None:  # a bare yield (asyncio.sleep(0))
                await asyncio.sleep(0)
            else:  # a future, as Task.__step would wait for it
                yielded._asyncio_future_blocking = False
                await asyncio.wait([yielded])
            try:
                yielded = coro.send(None)
            except StopIteration:
                return
    except asyncio.CancelledError:
        coro.close()
        raise


class _Rtp:
    """The parts of an RTP packet the relay's receive path reads (aiortc's ``RtpPacket``
    builds header-extension objects the relay never uses)."""

    __slots__ = ("_data", "marker", "payload", "payload_type", "sequence_number", "ssrc",
                 "timestamp")

    def __init__(self, payload_type: int, marker: int, sequence_number: int, timestamp: int,
                 ssrc: int, payload: bytes) -> None:
        self.payload_type = payload_type
        self.marker = marker
        self.sequence_number = sequence_number
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.payload = payload
        self._data = b""


def _vp8_payload(payload: bytes) -> bytes:
    """The VP8 data after its payload descriptor (RFC 7741 section 4.2); ValueError if the
    descriptor is truncated (as ``aiortc.codecs.vpx.VpxPayloadDescriptor.parse``)."""
    if not payload:
        raise ValueError("VPX descriptor is too short")
    pos = 1
    if payload[0] & 0x80:
        if len(payload) < 2:
            raise ValueError("VPX descriptor has truncated extended bits")
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) < pos + 1:
                raise ValueError("VPX descriptor has truncated PictureID")
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: one shared byte
            pos += 1
        if len(payload) < pos:
            raise ValueError("VPX descriptor is truncated")
    return payload[pos:]


class _DirectReceiver:
    """One relay receiver's RTP handling, run straight from the socket callback: what
    ``RTCRtpReceiver._handle_rtp_packet`` does for the relay's primary codec (RTCP
    statistics, NACKs, depayloading, the relay's frame buffer, PLI, timestamp mapping),
    without its estimator, source bookkeeping or decoder hand-off. Anything else (RTX,
    an unknown payload type) still takes aiortc's own path."""

    def __init__(self, receiver: RTCRtpReceiver, kind: str,
                 deliver: Callable[[list[EncodedFrame]], None]) -> None:
        self.receiver = receiver
        self.video = kind == "video"
        self.mime = "video/vp8" if self.video else "audio/opus"
        self.deliver = deliver
        self.payload_type = -1
        self.clock_rate = 90000 if self.video else 48000
        self.buffer: Any = receiver_buffer(receiver)
        self.streams: dict[int, Any] = getattr(receiver, _RECEIVER_ATTRS["streams"])
        self.nack: Any = getattr(receiver, _RECEIVER_ATTRS["nack"])
        self.mapper: Any = getattr(receiver, _RECEIVER_ATTRS["mapper"])

    def accepts(self, payload_type: int) -> bool:
        if self.payload_type < 0:
            codecs = getattr(self.receiver, _RECEIVER_ATTRS["codecs"])
            for pt, codec in codecs.items():
                if codec.mimeType.lower() == self.mime:
                    self.payload_type = pt
                    self.clock_rate = codec.clockRate
        return payload_type == self.payload_type

    def handle(self, packet: _Rtp) -> None:
        receiver = self.receiver
        if not receiver._enabled:
            return
        ssrc = packet.ssrc
        stats = self.streams.get(ssrc)
        if stats is None:
            stats = self.streams[ssrc] = _stream_statistics(self.clock_rate)
        stats_packet: Any = packet
        stats.add(stats_packet)  # reads sequence_number and timestamp only
        nack = self.nack
        if nack is not None and nack.add(packet):
            _run_now(receiver._send_rtcp_nack(ssrc, sorted(nack.missing)))
        payload = packet.payload
        if payload:
            try:
                packet._data = _vp8_payload(payload) if self.video else payload
            except ValueError:
                return
        pli, frame = self.buffer.add(packet)
        if pli:
            _run_now(receiver._send_rtcp_pli(ssrc))
        if frame is not None:
            frame.timestamp = self.mapper.map(frame.timestamp)
            self.deliver(frame.encoded())


class _DirectSrtp:
    """Decrypts and handles a relay connection's SRTP packets in the socket callback,
    instead of queueing each one for ``RTCDtlsTransport``'s receive task (one event-loop
    pass and a dozen coroutine hops per packet). DTLS, SRTCP and anything before the DTLS
    handshake completes still go through aiortc."""

    def __init__(self, dtls: Any, connection: Any) -> None:
        self.dtls = dtls
        self.nominated: dict[int, Any] = connection._nominated
        self.router = dtls._rtp_router
        self.warned = False

    def __call__(self, data: bytes) -> bool:
        """Handle ``data`` (an SRTP or SRTCP packet); False: leave it to aiortc."""
        dtls = self.dtls
        srtp = dtls._rx_srtp
        if (srtp is None or dtls._state is not _DTLS_CONNECTED or not self.nominated
                or len(data) < 12 or 191 < data[1] < 209):  # SRTCP (RFC 5761 section 4)
            return False
        try:
            rtp = srtp.unprotect(data)
        except pylibsrtp.Error:
            return True  # as aiortc: not authentic, dropped
        try:
            self._handle(rtp)
        except Exception:  # a malformed packet from the peer must never stop the socket
            if not self.warned:  # once per connection: a peer cannot flood the log
                self.warned = True
                log("media_rtp_dropped", level=logging.WARNING)
        return True

    def _handle(self, rtp: bytes) -> None:
        if len(rtp) < 12:
            return
        first, second, seq, timestamp, ssrc = _RTP_HEADER.unpack_from(rtp)
        receiver = self.router.ssrc_table.get(ssrc)
        direct = getattr(receiver, "_sulh_direct", None)
        payload_type = second & 0x7F
        if direct is None or first >> 6 != 2 or not direct.accepts(payload_type):
            self._aiortc_path(rtp)
            return
        pos = 12 + 4 * (first & 0x0F)
        end = len(rtp)
        if first & 0x10:  # header extension: skipped (the relay reads none)
            if end < pos + 4:
                return
            pos += 4 + 4 * ((rtp[pos + 2] << 8) | rtp[pos + 3])
        if first & 0x20:  # padding
            padding = rtp[-1]
            if not padding or padding > end - pos:
                return
            end -= padding
        if pos > end:
            return
        direct.handle(_Rtp(payload_type, second >> 7, seq, timestamp, ssrc, rtp[pos:end]))

    def _aiortc_path(self, rtp: bytes) -> None:
        """Parse, route and handle as aiortc does for a decrypted packet."""
        _run_now(self.dtls._handle_rtp_data(rtp, arrival_time_ms=aiortc.clock.current_ms()))


def receive_directly(
    receiver: RTCRtpReceiver, kind: str, deliver: Callable[[list[EncodedFrame]], None]
) -> None:
    """Handle ``receiver``'s RTP (primary codec) in its connection's socket callback (see
    ``lighten_ice_queue``) and hand its frames to ``deliver``. Call before the receiver
    starts, after ``set_receiver_buffer``."""
    for name in _RECEIVER_ATTRS.values():
        if not hasattr(receiver, name):
            raise SeamMoved(f"RTCRtpReceiver.{name} is gone")
    if not isinstance(getattr(receiver, "_sulh_direct", None), _DirectReceiver):
        setattr(receiver, "_sulh_direct", _DirectReceiver(receiver, kind, deliver))  # noqa: B010


# ---------------------------------------------------------------------------- direct RTP send

_SENDER_ATTRS = {
    "track": "_RTCRtpSender__track",
    "encoder": _ENCODER_ATTR,
    "started": "_RTCRtpSender__rtp_started",
    "exited": "_RTCRtpSender__rtp_exited",
    "history": "_RTCRtpSender__rtp_history",
    "extensions": "_RTCRtpSender__rtp_header_extensions_map",
    "mid": "_RTCRtpSender__mid",
    "ntp": "_RTCRtpSender__ntp_timestamp",
    "rtp_ts": "_RTCRtpSender__rtp_timestamp",
    "octets": "_RTCRtpSender__octet_count",
    "packets": "_RTCRtpSender__packet_count",
}


async def _run_relay_rtp(sender: RTCRtpSender, codec: RTCRtpCodecParameters) -> None:
    """``RTCRtpSender._run_rtp`` for a relay sender: the same packets (sequence numbers,
    timestamps, abs-send-time and mid extensions, marker, NACK history, SR counters), but a
    frame's packets share one serialized header and go straight to the nominated ICE pair,
    with no per-packet coroutine chain."""
    names = _SENDER_ATTRS
    getattr(sender, names["started"]).set()
    sequence_number = random.randint(0, 65535)
    timestamp_origin = random.randint(0, (1 << 32) - 1)
    history: dict[int, RtpPacket] = getattr(sender, names["history"])
    extensions = getattr(sender, names["extensions"])
    mid = getattr(sender, names["mid"])
    payload_type = int(codec.payloadType or 0)  # set by negotiation before the sender starts
    ssrc = sender._ssrc
    dtls: Any = sender.transport
    nominated: dict[int, Any] = dtls.transport.iceGatherer._connection._nominated
    try:
        while True:
            track = getattr(sender, names["track"])
            if not track:
                await asyncio.sleep(0.02)
                continue
            frame = await track.recv()
            if not sender._enabled:
                continue
            payloads, frame_ts = getattr(sender, names["encoder"]).pack(frame)
            if not payloads:
                continue
            pair = nominated.get(1)
            srtp = dtls._tx_srtp
            if dtls._state is not _DTLS_CONNECTED or pair is None or srtp is None:
                raise ConnectionError("not connected")
            send, address = pair.protocol.transport.sendto, pair.remote_addr
            timestamp = (timestamp_origin + frame_ts) & 0xFFFFFFFF
            abs_send_time = (aiortc.clock.current_ntp_time() >> 14) & 0x00FFFFFF
            last = len(payloads) - 1
            header: bytearray | None = None
            octets = 0
            for i, payload in enumerate(payloads):
                packet = RtpPacket(payload_type=payload_type, sequence_number=sequence_number,
                                   timestamp=timestamp, ssrc=ssrc)
                packet.payload = payload
                packet.marker = 1 if i == last else 0
                packet.extensions.abs_send_time = abs_send_time
                packet.extensions.mid = mid
                history[sequence_number % RTP_HISTORY_SIZE] = packet
                if header is None:
                    data = packet.serialize(extensions)
                    header = bytearray(data[: len(data) - len(payload)])
                else:  # same header but for the marker bit and the sequence number
                    header[1] = (packet.marker << 7) | payload_type
                    header[2] = sequence_number >> 8
                    header[3] = sequence_number & 0xFF
                    data = bytes(header) + payload
                send(srtp.protect(data), address)
                octets += len(payload)
                sequence_number = (sequence_number + 1) & 0xFFFF
            setattr(sender, names["ntp"], aiortc.clock.current_ntp_time())
            setattr(sender, names["rtp_ts"], timestamp)
            setattr(sender, names["octets"], getattr(sender, names["octets"]) + octets)
            setattr(sender, names["packets"], getattr(sender, names["packets"]) + last + 1)
    except (asyncio.CancelledError, ConnectionError, MediaStreamError):
        pass
    except Exception as exc:  # never a traceback: it could carry packet or address values
        log("media_sender_failed", level=logging.WARNING, reason=type(exc).__name__)
    finally:
        track = getattr(sender, names["track"])
        if track:
            track.stop()
            setattr(sender, names["track"], None)
        getattr(sender, names["exited"]).set()


def send_directly(sender: RTCRtpSender) -> None:
    """Make ``sender`` send relayed frames with :func:`_run_relay_rtp` (idempotent). Call
    after ``pack_relay_frames`` and before the sender starts (``setLocalDescription``)."""
    for name in _SENDER_ATTRS.values():
        if not hasattr(sender, name):
            raise SeamMoved(f"RTCRtpSender.{name} is gone")
    if "_run_rtp" not in vars(sender):
        setattr(sender, "_run_rtp", functools.partial(_run_relay_rtp, sender))  # noqa: B010
