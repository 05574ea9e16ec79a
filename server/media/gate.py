"""The outbound side: one always-alive, gated track per (source, sink, kind).

Why always alive: aiortc's ``replaceTrack`` only takes effect between frames, and a sender
whose track ends stops for good. So each sink's sender keeps reading the same track for the
life of its connection; routing only opens and closes the gate in front of it.

The rules the gate protects:
* closed (unrouted): nothing is queued, and what was queued is dropped at once;
* just opened (video): nothing passes until a keyframe, so the sink can decode from it;
* bounded: a slow sender never makes the queue grow (video: drop all and wait for the
  next keyframe, since VP8 delta frames are useless without their predecessors;
  audio: drop the oldest packet).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from server.media.buffers import EncodedFrame

Encoded: TypeAlias = "EncodedFrame | av.Packet[Any]"

VIDEO_QUEUE = 8  # frames: ~270 ms at 30 fps
AUDIO_QUEUE = 10  # packets: 200 ms


class GatedTrack(MediaStreamTrack):
    """Yields the encoded frames of one source for one sink, while routed
    (:class:`~server.media.buffers.EncodedFrame`, or ``av.Packet`` from aiortc's
    decoder-thread path; the sink's ``seam.RelayPacker`` packs either)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.maxlen = VIDEO_QUEUE if kind == "video" else AUDIO_QUEUE
        self.routed = False
        self.waiting_keyframe = kind == "video"
        self.high_water = 0
        self.forwarded = 0
        self._queue: deque[Encoded] = deque()
        self._waiter: asyncio.Future[None] | None = None  # the sender waiting in recv()

    def __len__(self) -> int:
        return len(self._queue)

    def __bool__(self) -> bool:
        # Always true, even when empty: aiortc's sender loop treats a falsy track as "no
        # track" (``if not self.__track``) and then polls every 20 ms instead of awaiting
        # recv(), which costs CPU and adds up to 20 ms to every frame after a quiet gap.
        return True

    def open(self) -> None:
        """Start forwarding (video: from the next keyframe on)."""
        self.routed = True
        self.waiting_keyframe = self.kind == "video"
        self._queue.clear()

    def close(self) -> None:
        """Stop forwarding and drop everything already queued."""
        self.routed = False
        self._queue.clear()

    def restart(self) -> None:
        """The source's stream restarted (new track or encoder): wait for its keyframe."""
        if self.kind == "video":
            self.waiting_keyframe = True
            self._queue.clear()

    def push(self, packet: Encoded, keyframe: bool = False) -> bool:
        """Queue ``packet`` if routed. Returns True when the sink needs a keyframe."""
        if not self.routed:
            return False
        if self.kind == "video":
            if self.waiting_keyframe and not keyframe:
                return True
            if len(self._queue) >= self.maxlen:
                self._queue.clear()
                if not keyframe:
                    self.waiting_keyframe = True
                    return True
            self.waiting_keyframe = False
        elif len(self._queue) >= self.maxlen:
            self._queue.popleft()
        queue = self._queue
        queue.append(packet)
        if len(queue) > self.high_water:
            self.high_water = len(queue)
        self._wake()
        return False

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def recv(self) -> Any:  # Encoded; aiortc's signature says Frame | Packet
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        self.forwarded += 1
        return self._queue.popleft()

    def stop(self) -> None:
        super().stop()
        self._queue.clear()
        self._wake()


@dataclass
class Outbound:
    """What one sink receives from one source: a video and an audio gate, one msid stream."""

    video: GatedTrack = field(default_factory=lambda: GatedTrack("video"))
    audio: GatedTrack = field(default_factory=lambda: GatedTrack("audio"))
    stream_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def track(self, kind: str) -> GatedTrack:
        return self.video if kind == "video" else self.audio

    @property
    def routed(self) -> bool:
        return self.video.routed

    def open(self) -> None:
        self.video.open()
        self.audio.open()

    def close(self) -> None:
        self.video.close()
        self.audio.close()

    def renewed(self) -> Outbound:
        """Fresh tracks (the sink's connection ended), same routing, same stream id."""
        fresh = Outbound(stream_id=self.stream_id)
        if self.routed:
            fresh.open()
        return fresh
