"""Real aiortc clients for media tests and benches: stamped video, tone audio, loopback ICE.

* Every video frame carries a barcode (64 bits as 4x16 black/white blocks, large enough to
  survive VP8 at low bitrate): the source's code, a sequence number and the capture time
  (``time.monotonic`` in ms, a clock shared by every process on the host), and a checksum.
* Every participant's audio is a distinct pure tone, told apart on the receiving side by FFT.
* ``loopback_ice``: aioice never offers 127.0.0.1; this patch makes each client offer its own
  loopback address (127.0.0.2, .3, ...) so a test can tell the server's address from theirs,
  and the tests run in a network namespace that has nothing but ``lo``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fractions
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
import av
import numpy as np
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

SERVER_IP = "127.0.0.1"
LOOPBACK_ADDR: contextvars.ContextVar[str] = contextvars.ContextVar("loopback", default=SERVER_IP)
ROWS, COLS = 4, 16
TONES = {1: 400.0, 2: 700.0, 3: 1000.0, 4: 1300.0}  # multiples of the 50 Hz FFT bin


def now_ms() -> int:
    return int(time.monotonic() * 1000) & 0xFFFFFFFF


def age_ms(stamp_ms: int, at_ms: int | None = None) -> int:
    """Milliseconds from ``stamp_ms`` to ``at_ms`` (now), modulo 2**32."""
    return ((now_ms() if at_ms is None else at_ms) - stamp_ms) % (1 << 32)


@contextlib.contextmanager
def loopback_ice() -> Iterator[None]:
    """Let aioice gather a loopback host candidate (the calling task's LOOPBACK_ADDR)."""
    original = aioice.ice.get_host_addresses

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [LOOPBACK_ADDR.get()]

    aioice.ice.get_host_addresses = host_addresses
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original


# --------------------------------------------------------------------------- stamps

def _checksum(value: int) -> int:
    return (sum(value.to_bytes(7, "big")) ^ 0xA5) & 0xFF


def pack_stamp(code: int, seq: int, t_ms: int) -> int:
    value = ((code & 0xF) << 52) | ((seq & 0xFFFFF) << 32) | (t_ms & 0xFFFFFFFF)
    return (value << 8) | _checksum(value)


def unpack_stamp(bits: int) -> tuple[int, int, int] | None:
    value, check = bits >> 8, bits & 0xFF
    if _checksum(value) != check:
        return None
    return (value >> 52) & 0xF, (value >> 32) & 0xFFFFF, value & 0xFFFFFFFF


def _block(width: int) -> int:
    return max(8, width // (COLS + 4))


def draw_stamp(luma: np.ndarray, bits: int) -> None:
    b = _block(luma.shape[1])
    for i in range(ROWS * COLS):
        r, c = divmod(i, COLS)
        on = (bits >> (63 - i)) & 1
        luma[b + r * b: b + (r + 1) * b, b + c * b: b + (c + 1) * b] = 235 if on else 16


def read_stamp(luma: np.ndarray) -> tuple[int, int, int] | None:
    b = _block(luma.shape[1])
    q = b // 4
    bits = 0
    for i in range(ROWS * COLS):
        r, c = divmod(i, COLS)
        y, x = b + r * b, b + c * b
        bits = (bits << 1) | int(luma[y + q: y + b - q, x + q: x + b - q].mean() > 125)
    return unpack_stamp(bits)


# --------------------------------------------------------------------------- tracks

class StampedVideoTrack(MediaStreamTrack):
    """Synthetic camera: each frame stamped with (code, seq, capture time)."""

    kind = "video"

    def __init__(self, code: int, width: int = 320, height: int = 240, fps: int = 30) -> None:
        super().__init__()
        self.code, self.width, self.height, self.fps = code, width, height, fps
        self.seq = 0
        self._start: float | None = None
        self._background = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
        self._background[: height, :] = np.linspace(60, 190, width, dtype=np.uint8)[None, :]

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.seq / self.fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        image = self._background.copy()
        draw_stamp(image[: self.height], pack_stamp(self.code, self.seq, now_ms()))
        frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
        frame.pts = self.seq * (90000 // self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        self.seq += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """Synthetic microphone: a continuous tone (or, with ``burst_every``, silence with 20 ms
    bursts whose capture times are recorded in ``bursts``)."""

    kind = "audio"

    def __init__(self, freq: float, burst_every: float | None = None) -> None:
        super().__init__()
        self.freq = freq
        self.burst_every = burst_every
        self.bursts: list[int] = []
        self._samples = 0
        self._start: float | None = None
        self._last_burst = 0.0

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._samples / 48000
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t = (self._samples + np.arange(960)) / 48000
        wave = (np.sin(2 * np.pi * self.freq * t) * 12000).astype(np.int16)
        if self.burst_every is not None:
            if time.monotonic() - self._last_burst >= self.burst_every:
                self._last_burst = time.monotonic()
                self.bursts.append(now_ms())
            else:
                wave[:] = 0
        frame = av.AudioFrame.from_ndarray(wave.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, 48000)
        self._samples += 960
        return frame


def dominant_tone(frame: av.AudioFrame) -> tuple[float, float]:
    """(frequency of the strongest bin, RMS) of the first channel."""
    data = frame.to_ndarray().reshape(-1)
    if frame.format.is_planar is False and len(frame.layout.channels) == 2:
        data = data[::2]
    data = data.astype(np.float64)
    rms = float(np.sqrt(np.mean(data**2))) if len(data) else 0.0
    spectrum = np.abs(np.fft.rfft(data))
    freqs = np.fft.rfftfreq(len(data), 1 / frame.sample_rate)
    return float(freqs[int(np.argmax(spectrum[1:])) + 1]), rms


# --------------------------------------------------------------------------- client

@dataclass
class VideoSeen:
    code: int
    seq: int
    capture_ms: int
    recv_ms: int


@dataclass
class AudioSeen:
    freq: float
    rms: float
    recv_ms: int


@dataclass
class Inbox:
    video: list[VideoSeen] = field(default_factory=list)
    unreadable: int = 0
    audio: list[AudioSeen] = field(default_factory=list)
    frames: int = 0  # every frame received, also when not recorded


class Client:
    """A participant's browser, played by aiortc: one connection, to the server only."""

    def __init__(self, name: str, code: int, address: str, *, slots: int = 2,
                 video: bool = True, width: int = 320, height: int = 240, fps: int = 30,
                 burst_every: float | None = None, record: bool = True) -> None:
        self.name, self.code, self.address, self.slots = name, code, address, slots
        self.record = record
        # A browser bundles everything; aiortc's default "balanced" policy breaks a second
        # m-line of the same kind, so bundle explicitly (and use no STUN server).
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.video = StampedVideoTrack(code, width, height, fps) if video else None
        self.audio = ToneAudioTrack(TONES[code], burst_every)
        self.inbox: dict[tuple[str, int], Inbox] = {}
        self.answers: list[str] = []
        self._readers: list[asyncio.Task[None]] = []
        self._read: set[int] = set()
        self._made = False

    def prepare(self) -> None:
        """Add the transceivers (done by the first offer when not called before)."""
        if self._made:
            return
        self._made = True
        for kind, track in (("video", self.video), ("audio", self.audio)):
            if track is not None:
                self.pc.addTransceiver(track, direction="sendrecv")
            else:
                self.pc.addTransceiver(kind, direction="recvonly")
            for _ in range(self.slots - 1):
                self.pc.addTransceiver(kind, direction="recvonly")

    async def offer(self) -> str:
        self.prepare()
        LOOPBACK_ADDR.set(self.address)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def connect(self, relay: Any) -> None:
        """Offer, get the server's answer (no trickle ICE), start reading every slot."""
        answer = await relay.offer(self.name, await self.offer())
        self.answers.append(answer)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        self.start_readers()

    def start_readers(self) -> None:
        """Read every receiving slot (slot = index among this kind's m-lines)."""
        for kind in ("video", "audio"):
            ts = [t for t in self.pc.getTransceivers() if t.kind == kind]
            for slot, t in enumerate(ts):
                track = t.receiver.track
                if track is not None and id(track) not in self._read:
                    self._read.add(id(track))
                    self.inbox.setdefault((kind, slot), Inbox())
                    self._readers.append(asyncio.ensure_future(self._reader(kind, slot, track)))

    async def add_camera(self, relay: Any) -> None:
        """Renegotiate: start sending video on the first video m-line."""
        self.video = StampedVideoTrack(self.code)
        t = next(t for t in self.pc.getTransceivers() if t.kind == "video")
        t.sender.replaceTrack(self.video)
        t.direction = "sendrecv"
        await self.connect(relay)

    async def _reader(self, kind: str, slot: int, track: MediaStreamTrack) -> None:
        box = self.inbox[(kind, slot)]
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            at = now_ms()
            box.frames += 1
            if not self.record:
                continue
            if kind == "video":
                luma = np.frombuffer(frame.planes[0], dtype=np.uint8).reshape(
                    frame.height, frame.planes[0].line_size
                )[:, : frame.width]
                stamp = read_stamp(luma)
                if stamp is None:
                    box.unreadable += 1
                else:
                    box.video.append(VideoSeen(stamp[0], stamp[1], stamp[2], at))
            else:
                freq, rms = dominant_tone(frame)
                box.audio.append(AudioSeen(freq, rms, at))

    def videos(self) -> list[VideoSeen]:
        return [v for (k, _), box in self.inbox.items() if k == "video" for v in box.video]

    def slot(self, kind: str, slot: int) -> Inbox:
        return self.inbox.setdefault((kind, slot), Inbox())

    async def close(self) -> None:
        await self.pc.close()
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
