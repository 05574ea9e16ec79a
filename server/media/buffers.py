"""Receive-side frame assembly for the relay: no decode, minimal delay, bounded memory.

aiortc's own jitter buffer ignores the RTP marker bit, so a video frame is only released
when the *next* frame's first packet arrives (one frame of extra delay per hop), and its
audio buffer prefetches 4 packets (~80 ms). These replacements (installed per relay
receiver by ``seam.set_receiver_buffer``) release a video frame as soon as its marker packet
completes it, and each audio packet as soon as it arrives in order.

They emit :class:`RelayFrame`, which the seam hands to the relay as :class:`EncodedFrame`s
(or, on aiortc's decoder-thread path, as ``av.Packet``), unchanged.
"""

from __future__ import annotations

import fractions
from typing import Any

from aiortc.jitterbuffer import JitterFrame
from aiortc.utils import uint16_add, uint16_gt, uint16_gte

AUDIO_TIME_BASE = fractions.Fraction(1, 48000)

MAX_VIDEO_PACKETS = 512  # about 0.5 MB of 640x480 video: a hard bound, never exceeded
GIVE_UP_TICKS = 90000 // 5  # wait 200 ms for a retransmission before skipping a lost frame


class EncodedFrame:
    """One encoded frame on its way from a relay receiver to the gated outbound tracks:
    the codec payload and its RTP timestamp (codec clock, relative to the source's first
    frame). Lighter than ``av.Packet`` (no copy, no ``Fraction`` time base); the relay's
    senders pack it with ``seam.RelayPacker``."""

    __slots__ = ("data", "timestamp")

    def __init__(self, data: bytes, timestamp: int) -> None:
        self.data = data
        self.timestamp = timestamp

    def __bytes__(self) -> bytes:
        return self.data

    def __len__(self) -> int:
        return len(self.data)


class RelayFrame(JitterFrame):
    """One or more encoded frames, in order, that the relay forwards without decoding.

    aiortc rewrites ``timestamp`` (of the first frame) to its mapped value before the
    decoder thread sees it; the others keep their RTP distance from the first.
    """

    def __init__(self, frames: list[tuple[bytes, int]]) -> None:
        super().__init__(data=frames[0][0], timestamp=frames[0][1])
        first = frames[0][1]
        self._rest = [(data, (ts - first) % (1 << 32)) for data, ts in frames[1:]]

    def parts(self) -> list[tuple[bytes, int]]:
        return [(self.data, self.timestamp)] + [
            (data, self.timestamp + delta) for data, delta in self._rest
        ]

    def encoded(self) -> list[EncodedFrame]:
        first = EncodedFrame(self.data, self.timestamp)
        if not self._rest:
            return [first]
        return [first] + [EncodedFrame(data, self.timestamp + delta) for data, delta in self._rest]


def _is_frame_start(packet: Any) -> bool:
    """VP8 payload descriptor: S bit set and partition id 0 (RFC 7741 section 4.2)."""
    payload: bytes = packet.payload
    return bool(payload) and bool(payload[0] & 0x10) and (payload[0] & 0x07) == 0


def is_vp8_keyframe(data: bytes | memoryview) -> bool:
    """VP8 frame tag: bit 0 of the first byte is 0 for a key frame (RFC 6386 section 9.1)."""
    return len(data) > 0 and (data[0] & 0x01) == 0


class VideoAssembler:
    """Marker-aware VP8 frame assembly; drops undecodable frames until the next keyframe."""

    def __init__(self) -> None:
        self.ssrc: int | None = None
        self.waiting_keyframe = True
        self._packets: dict[int, Any] = {}
        self._next: int | None = None
        self._last_ts: int | None = None
        self._newest_ts: int | None = None
        self._markers = 0  # marker packets buffered (frames possibly complete)
        self._gap = False  # the last drain stopped at a missing packet
        self._undecodable = 0  # frames dropped while waiting for a keyframe

    def __len__(self) -> int:
        return len(self._packets)

    def add(self, packet: Any) -> tuple[bool, RelayFrame | None]:
        if packet.ssrc != self.ssrc:
            self._reset()
            self.ssrc = packet.ssrc
        seq = packet.sequence_number
        if self._next is None:
            if not _is_frame_start(packet):
                return False, None
            self._next = seq
        elif not uint16_gte(seq, self._next):
            return False, None  # late or duplicate: its frame was released or abandoned
        pli = False
        if uint16_add(seq, -self._next) >= MAX_VIDEO_PACKETS:
            self._reset()
            self._next = seq if _is_frame_start(packet) else None
            pli = True
            if self._next is None:
                return True, None
        self._packets[seq] = packet
        if self._newest_ts is None or _ts_after(packet.timestamp, self._newest_ts):
            self._newest_ts = packet.timestamp
        if packet.marker:
            self._markers += 1
        elif not self._markers and not self._gap and len(self._packets) < MAX_VIDEO_PACKETS // 2:
            return pli, None  # no frame can be complete yet: skip the scan
        frames, lost = self._drain()
        return pli or lost, (RelayFrame(frames) if frames else None)

    def _reset(self) -> None:
        self._packets.clear()
        self._next = None
        self._last_ts = None
        self._newest_ts = None
        self._markers = 0
        self._gap = False
        self.waiting_keyframe = True

    def _drain(self) -> tuple[list[tuple[bytes, int]], bool]:
        frames: list[tuple[bytes, int]] = []
        lost = False
        while self._next is not None:
            got = self._take_frame()
            if got is None:
                self._gap = self._next in self._packets or self._markers > 0
                if not self._stalled():
                    break
                self._skip_gap()
                lost = True
                self.waiting_keyframe = True
                continue
            data, ts = got
            if self.waiting_keyframe:
                if not is_vp8_keyframe(data):
                    # Keep asking (every 8th dropped frame) in case a PLI or the keyframe
                    # itself was lost: otherwise this source would stay frozen for good.
                    self._undecodable += 1
                    lost |= self._undecodable % 8 == 1
                    continue
                self.waiting_keyframe = False
                self._undecodable = 0
            frames.append((data, ts))
        return frames, lost

    def _take_frame(self) -> tuple[bytes, int] | None:
        assert self._next is not None
        first = self._packets.get(self._next)
        if first is None or not _is_frame_start(first):
            return None
        seq = self._next
        parts: list[bytes] = []
        while True:
            p = self._packets.get(seq)
            if p is None:
                return None
            if p.timestamp != first.timestamp:
                break  # next frame began: this one ended without a marker
            parts.append(p._data)
            seq = uint16_add(seq, 1)
            if p.marker:
                break
        s = self._next
        while s != seq:
            if self._packets.pop(s).marker:
                self._markers -= 1
            s = uint16_add(s, 1)
        self._next = seq
        self._last_ts = first.timestamp
        return b"".join(parts), first.timestamp

    def _stalled(self) -> bool:
        if len(self._packets) >= MAX_VIDEO_PACKETS // 2:
            return True
        if self._last_ts is None or self._newest_ts is None:
            return False
        return (self._newest_ts - self._last_ts) % (1 << 32) > GIVE_UP_TICKS and _ts_after(
            self._newest_ts, self._last_ts
        )

    def _skip_gap(self) -> None:
        """Abandon the incomplete frame: resume at the next frame start after it."""
        assert self._next is not None
        starts = [
            s for s, p in self._packets.items()
            if s != self._next and _is_frame_start(p)
        ]
        if not starts:
            self._packets.clear()
            self._markers = 0
            self._next = None
            return
        origin = self._next
        target = min(starts, key=lambda s: uint16_add(s, -origin))
        distance = uint16_add(target, -origin)
        for s in list(self._packets):
            if uint16_add(s, -origin) < distance and self._packets.pop(s).marker:
                self._markers -= 1
        self._next = target


def _ts_after(a: int, b: int) -> bool:
    return a != b and (a - b) % (1 << 32) < (1 << 31)


class AudioPassthrough:
    """Releases each Opus packet as soon as it arrives in order (no prefetch); drops late ones."""

    def __init__(self) -> None:
        self.ssrc: int | None = None
        self._last: int | None = None

    def __len__(self) -> int:
        return 0

    def add(self, packet: Any) -> tuple[bool, RelayFrame | None]:
        if packet.ssrc != self.ssrc:
            self.ssrc = packet.ssrc
            self._last = None
        seq = packet.sequence_number
        if self._last is not None and not uint16_gt(seq, self._last):
            return False, None
        self._last = seq
        if not packet._data:
            return False, None
        return False, RelayFrame([(packet._data, packet.timestamp)])
