"""Memory stays flat over a 60-second session with moves: every queue stays within its
bound and Python-level memory does not grow between t=20 s and t=60 s.
Deselect with ``-m "not soak"`` for a quick run."""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import pytest

from server.media import CaseRelay, MediaConfig
from server.media.buffers import MAX_VIDEO_PACKETS
from server.media.seam import receiver_buffer
from tests.media.conftest import NAMES, PORTS
from tests.media.routing import pairs
from tests.support.media import SERVER_IP, Client

SESSION = 60.0
STEPS = [pairs(("m", "v")), pairs(("m", "r")), pairs(("m", "v", "r")), frozenset()]
MAX_GROWTH = 4 * 1024 * 1024  # whole process, clients included: generous
MAX_MEDIA_GROWTH = 256 * 1024  # allocated by server/media itself


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _check_bounds(relay: CaseRelay) -> None:
    for out in relay.outbound.values():
        for gate in (out.video, out.audio):
            assert len(gate) <= gate.maxlen and gate.high_water <= gate.maxlen
    for peer in relay.peers.values():
        for t in peer.pc.getTransceivers():
            assert len(receiver_buffer(t.receiver)) <= MAX_VIDEO_PACKETS  # type: ignore[arg-type]


@pytest.mark.soak
@pytest.mark.timeout(150)
async def test_memory_is_flat_over_a_minute(loopback: None) -> None:
    relay = CaseRelay(MediaConfig(public_ip=SERVER_IP, ports=PORTS), ("m", "v", "r"))
    # 15 fps: tracemalloc slows the whole process (clients included) on a 2-core machine.
    clients = {n: Client(n, c, a, record=False, fps=15) for n, (c, a) in NAMES.items()}
    for client in clients.values():
        await client.connect(relay)
    tracemalloc.start(1)
    start = time.monotonic()
    marks: dict[str, tuple[int, tracemalloc.Snapshot, int]] = {}
    step = 0
    try:
        while (elapsed := time.monotonic() - start) < SESSION:
            relay.apply_routes(STEPS[step % len(STEPS)])
            step += 1
            for _ in range(4):
                await asyncio.sleep(0.5)
                _check_bounds(relay)
            if "t20" not in marks and elapsed >= 20:
                marks["t20"] = (tracemalloc.get_traced_memory()[0], tracemalloc.take_snapshot(),
                                _rss_kib())
        marks["t60"] = (tracemalloc.get_traced_memory()[0], tracemalloc.take_snapshot(),
                        _rss_kib())
    finally:
        tracemalloc.stop()
        for client in clients.values():
            await client.close()
        await relay.close()
    (m20, s20, r20), (m60, s60, r60) = marks["t20"], marks["t60"]
    media = [tracemalloc.Filter(True, "*/server/media/*")]
    diff = s60.filter_traces(media).compare_to(s20.filter_traces(media), "filename")
    media_growth = sum(d.size_diff for d in diff)
    assert clients["m"].slot("video", 0).frames > 100, "media did not flow during the session"
    assert m60 - m20 < MAX_GROWTH, f"traced memory grew {(m60 - m20) // 1024} KiB in 40 s"
    assert media_growth < MAX_MEDIA_GROWTH, f"server/media grew {media_growth // 1024} KiB"
    print(f"soak: traced +{(m60 - m20) // 1024} KiB, media +{media_growth // 1024} KiB, "
          f"RSS {r20} -> {r60} KiB")
