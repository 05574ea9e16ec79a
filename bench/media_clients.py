"""Load-generating clients for bench/media.py: cheap pre-encoded senders, direct P2P pairs."""

from __future__ import annotations

import asyncio
import fractions
import struct
import time
from typing import Any

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from server.media import seam
from server.media.buffers import AudioPassthrough, VideoAssembler
from server.media.ice import MediaConfig
from tests.support.media import LOOPBACK_ADDR, Client, age_ms, now_ms

MAGIC = b"SULH"


def prepare_vp8_loop(width: int, height: int, fps: int, seconds: int = 2) -> list[bytes]:
    """Encoded VP8 frames of a moving synthetic picture (~1 Mbit/s); frame 0 is a keyframe."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.bit_rate = 1_000_000
    codec.framerate = fractions.Fraction(fps, 1)
    codec.time_base = fractions.Fraction(1, fps)
    codec.gop_size = 10_000
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    out: list[bytes] = []
    rng = np.random.default_rng(1)
    for i in range(seconds * fps):
        img = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
        img[:height] = ((np.arange(width)[None, :] + 4 * i) % 256).astype(np.uint8)
        img[:height] ^= rng.integers(0, 24, (height, width), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="yuv420p")
        frame.pts = i
        out += [bytes(p) for p in codec.encode(frame)]
    out += [bytes(p) for p in codec.encode(None)]
    return out


def _opus_packet() -> bytes:
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.format, codec.layout = 48000, "s16", "stereo"
    codec.bit_rate = 32000
    t = np.arange(960) / 48000
    wave = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    for _ in range(5):
        frame = av.AudioFrame.from_ndarray(np.repeat(wave, 2).reshape(1, -1), format="s16",
                                           layout="stereo")
        frame.sample_rate = 48000
        for p in codec.encode(frame):
            return bytes(p)
    raise RuntimeError("opus produced nothing")


class PacketTrack(MediaStreamTrack):
    """Replays pre-encoded frames at real time; video frames get a capture stamp appended."""

    def __init__(self, kind: str, frames: list[bytes], rate: int, clock: int) -> None:
        super().__init__()
        self.kind, self.frames, self.rate, self.clock = kind, frames, rate, clock
        self.i = 0
        self.start: float | None = None

    async def recv(self) -> av.Packet:
        if self.start is None:
            self.start = time.monotonic()
        delay = self.start + self.i / self.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        data = self.frames[self.i % len(self.frames)]
        if self.kind == "video":
            data += MAGIC + struct.pack("!I", now_ms())
        packet = av.Packet(data)
        packet.pts = self.i * (self.clock // self.rate)
        packet.time_base = fractions.Fraction(1, self.clock)
        self.i += 1
        return packet


_OPUS: list[bytes] = []


class PacketClient:
    """A caucus participant that neither encodes nor decodes: relay load only."""

    def __init__(self, name: str, frames: list[bytes]) -> None:
        if not _OPUS:
            _OPUS.append(_opus_packet())
        self.name = name
        self.pc = RTCPeerConnection(MediaConfig().rtc_configuration())
        self.tracks = [
            PacketTrack("video", frames, 30, 90000),
            PacketTrack("audio", _OPUS, 50, 48000),
        ]
        self.latencies: list[float] = []
        self._tasks: list[asyncio.Task[None]] = []

    def reset(self) -> None:
        self.latencies = []

    async def connect(self, relay: Any) -> None:
        seam.install()
        for track in self.tracks:
            self.pc.addTransceiver(track, direction="sendrecv")
        LOOPBACK_ADDR.set("127.0.0.2")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await relay.offer(self.name, self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        for t in self.pc.getTransceivers():
            buffer = VideoAssembler() if t.kind == "video" else AudioPassthrough()
            seam.set_receiver_buffer(t.receiver, buffer)
            self._tasks.append(asyncio.ensure_future(self._read(t.kind, t.receiver.track)))

    async def _read(self, kind: str, track: MediaStreamTrack) -> None:
        while True:
            try:
                packet = await track.recv()
            except MediaStreamError:
                return
            if kind == "video":
                tail = bytes(packet)[-8:]
                if tail[:4] == MAGIC:
                    self.latencies.append(float(age_ms(struct.unpack("!I", tail[4:])[0])))

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()


async def direct_pair(a: Client, b: Client) -> None:
    """Connect ``a`` straight to ``b`` (the baseline: no server in the media path)."""

    class Answerer:
        async def offer(self, pid: str, sdp: str) -> str:
            await b.pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            for kind, track in (("video", b.video), ("audio", b.audio)):
                t = next(t for t in b.pc.getTransceivers() if t.kind == kind)
                t.sender.replaceTrack(track)
                t.direction = "sendrecv"
            LOOPBACK_ADDR.set(b.address)
            await b.pc.setLocalDescription(await b.pc.createAnswer())
            return str(b.pc.localDescription.sdp)

    b._made = True
    await a.connect(Answerer())
    b.start_readers()
