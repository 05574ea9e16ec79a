"""Media relay benchmark: Sulh's forwarding relay vs aiortc's stock MediaRelay, one run.

    .venv/bin/python bench/media.py [--quick]
    SULH_BENCH_PROFILE=/tmp/relay.prof ...   # cProfile each relay process (relay-<mode>.prof)

Method (all on loopback, this machine):
* The relay under test runs in its **own process** (``multiprocessing``, spawn); its CPU is
  that process's ``time.process_time()`` delta (all its threads: aiortc decoder threads and
  libvpx/opus encoders included) over a measurement window, divided by the number of
  forwarded audio+video streams. Clients run in the parent process, so their encode and
  decode are never counted. Both relays (a fresh process each) get the same two clients,
  the same two streams (one each way), the same 3 s warm-up and the same window; the
  comparison is flagged as not comparable when either relay delivered < 28.5 fps (a
  CPU-starved relay does less work, which would flatter its CPU figure). Load average is
  printed with the figures: other work on the machine inflates every number.
* Also printed, for information only (the target line keeps its definition): the marginal
  relay CPU per additional stream, measured the same way for both relays right after the
  main window: the same two clients with one of the two routes closed; CPU(2 routed) -
  CPU(1 routed). Both sources are still received (and drained) in both windows, so this is
  the cost of forwarding one more stream to a sink; the relay process alone idles at
  ~0.01 % of a core (no per-process fixed cost), yet per-stream CPU falls as streams are
  added (see the capacity ramp), which the main figure, taken at two streams, includes.
* Both relay processes run on the event loop the server runs on (``server/runtime.py``:
  uvloop), so the comparison is between relay designs, not loops. The clients' process
  uses asyncio's own loop.
* Clients are real aiortc peer connections sending 640x480@30 VP8 (synthetic frames stamped
  with a barcode of their capture time, ``time.monotonic`` ms, shared by both processes) and
  Opus (silence with a 20 ms tone burst every 0.5 s). Video latency: decoded frame at the
  receiver minus the capture stamp. Audio latency: burst onset detected at the receiver minus
  burst capture time. Both include the clients' encode and decode, as does the baseline.
* Direct P2P baseline: the same two clients connected to each other, no relay.
* Move to first frame: mediator alternates between two caucuses 20 times; time from sending
  the route change to the relay until the new party decodes its first mediator frame.
* Capacity: N concurrent two-way caucuses; clients send pre-encoded 640x480 VP8 frames
  (~1 Mbit/s, capture stamp appended after the frame) and read them back without decoding,
  so the load generator stays cheap; a step passes if every stream keeps >= 28.5 fps and p95
  latency < 150 ms. Ramp 1, 2, 4, 6, ... until a step fails (or the ramp bound).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.media_clients import (
    PacketClient,
    direct_pair,
    prepare_vp8_loop,
)
from tests.support.media import Client, age_ms, now_ms

W, H, FPS = 640, 480, 30


# ------------------------------------------------------------------ relay process

def _relay_main(conn: Any, mode: str) -> None:
    from server import runtime

    if not os.environ.get("SULH_BENCH_PROFILE"):
        runtime.run(_relay_serve(conn, mode))
        return
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.runcall(runtime.run, _relay_serve(conn, mode))
    target = os.environ["SULH_BENCH_PROFILE"]
    if target.endswith(".prof"):  # a path: keep the whole profile for pstats
        profile.dump_stats(f"{target[:-5]}-{mode}.prof")
    else:
        pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(40)


async def _relay_serve(conn: Any, mode: str) -> None:
    from bench.media_stock import StockRelay
    from server.media import CaseRelay, MediaConfig

    loop = asyncio.get_running_loop()
    cases: dict[str, Any] = {}
    pending: set[asyncio.Future[None]] = set()
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    threading.Thread(
        target=lambda: [loop.call_soon_threadsafe(inbox.put_nowait, conn.recv())
                        for _ in iter(int, 1)],
        daemon=True,
    ).start()
    config = MediaConfig(public_ip="127.0.0.1")
    while True:
        cmd, *args = await inbox.get()
        if cmd == "case":
            case_id, participants = args
            cls = CaseRelay if mode == "forward" else StockRelay
            cases[case_id] = cls(config, participants)
            conn.send(None)
        elif cmd == "offer":
            case_id, pid, sdp = args

            async def answer(case_id: str = case_id, pid: str = pid, sdp: str = sdp) -> None:
                conn.send(await cases[case_id].offer(pid, sdp))

            pending.add(asyncio.ensure_future(answer()))
        elif cmd == "routes":
            case_id, routes = args
            cases[case_id].apply_routes(frozenset(routes))
            conn.send(None)
        elif cmd == "cpu":
            conn.send(time.process_time())
        elif cmd == "stop":
            for relay in cases.values():
                await relay.close()
            conn.send(None)
            return


class RemoteRelay:
    """The parent's handle on one case in the relay process (same API as CaseRelay)."""

    def __init__(self, server: RelayProcess, case_id: str, participants: tuple[str, ...]):
        self.server, self.case_id = server, case_id
        server.call("case", case_id, participants)

    async def offer(self, pid: str, sdp: str) -> str:
        return str(await self.server.acall("offer", self.case_id, pid, sdp))

    def apply_routes(self, routes: frozenset[tuple[str, str]]) -> None:
        self.server.call("routes", self.case_id, sorted(routes))


class RelayProcess:
    def __init__(self, mode: str) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_relay_main, args=(child, mode), daemon=True)
        self.proc.start()
        self._lock = asyncio.Lock()

    def call(self, *msg: Any) -> Any:
        self.conn.send(msg)
        return self.conn.recv()

    async def acall(self, *msg: Any) -> Any:
        async with self._lock:
            self.conn.send(msg)
            return await asyncio.get_running_loop().run_in_executor(None, self.conn.recv)

    def cpu(self) -> float:
        return float(self.call("cpu"))

    def stop(self) -> None:
        try:
            self.call("stop")
        finally:
            self.proc.join(5)
            if self.proc.is_alive():
                self.proc.terminate()


# ------------------------------------------------------------------ measurements

def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(values, q))


def video_latencies(client: Client, since: int) -> list[float]:
    return [float(age_ms(v.capture_ms, v.recv_ms)) for box in client.inbox.values()
            for v in box.video if age_ms(since, v.capture_ms) < 1 << 31]


def audio_latencies(sender: Client, receiver: Client, since: int) -> list[float]:
    bursts = [b for b in sender.audio.bursts if age_ms(since, b) < 1 << 31]
    out: list[float] = []
    for box in receiver.inbox.values():
        quiet = True
        for a in box.audio:
            loud = a.rms > 1000
            if loud and quiet and age_ms(since, a.recv_ms) < 1 << 31:
                before = [b for b in bursts if age_ms(b, a.recv_ms) < 400]
                if before:
                    out.append(float(age_ms(before[-1], a.recv_ms)))
            quiet = not loud
    return out


async def caucus_run(relay: Any | None, window: float) -> dict[str, Any]:
    """Two clients, one stream each way. ``relay`` None: direct P2P."""
    a = Client("m", 1, "127.0.0.2", slots=1, width=W, height=H, fps=FPS, burst_every=0.5)
    b = Client("v", 2, "127.0.0.3", slots=1, width=W, height=H, fps=FPS, burst_every=0.5)
    server = relay
    if relay is None:
        await direct_pair(a, b)
    else:
        await a.connect(relay)
        await b.connect(relay)
        relay.apply_routes(frozenset({("m", "v"), ("v", "m")}))
    await asyncio.sleep(3.0)  # warm up
    since = now_ms()
    cpu0 = server.server.cpu() if server is not None else 0.0
    t0 = time.monotonic()
    await asyncio.sleep(window)
    cpu = (server.server.cpu() - cpu0) / (time.monotonic() - t0) if server is not None else 0.0
    video = video_latencies(a, since) + video_latencies(b, since)
    audio = audio_latencies(a, b, since) + audio_latencies(b, a, since)
    fps = len(video) / 2 / window
    marginal = float("nan")
    if server is not None:
        # After (never instead of) the figures above: the same clients with one route only,
        # so CPU(2 routed streams) - CPU(1) is what one more forwarded stream costs.
        server.apply_routes(frozenset({("m", "v")}))
        await asyncio.sleep(2.0)
        cpu0, t0 = server.server.cpu(), time.monotonic()
        await asyncio.sleep(window)
        marginal = cpu - (server.server.cpu() - cpu0) / (time.monotonic() - t0)
    await a.close()
    await b.close()
    return {"cpu_per_stream": cpu / 2, "video": video, "audio": audio, "fps": fps,
            "marginal_cpu": marginal}


async def move_run(relay: RemoteRelay, moves: int) -> list[float]:
    m = Client("m", 1, "127.0.0.2", slots=2, width=W, height=H, fps=FPS)
    v = Client("v", 2, "127.0.0.3", slots=2, width=W, height=H, fps=FPS)
    r = Client("r", 3, "127.0.0.4", slots=2, width=W, height=H, fps=FPS)
    for c in (m, v, r):
        await c.connect(relay)
    out: list[float] = []
    await asyncio.sleep(2.0)
    for i in range(moves + 1):
        party = (v, r)[i % 2]
        routes = frozenset({("m", party.name), (party.name, "m")})
        t0 = now_ms()
        relay.apply_routes(routes)
        start = time.monotonic()
        box = party.slot("video", 0)  # a party's slot 0 is the mediator
        while time.monotonic() - start < 3.0:
            got = [x for x in box.video if age_ms(t0, x.recv_ms) < 1 << 31]
            if got:
                if i > 0:  # the first one is connection setup, not a move
                    out.append(float(age_ms(t0, got[0].recv_ms)))
                break
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.5)
    for c in (m, v, r):
        await c.close()
    return out


async def capacity_ramp(max_n: int, step_window: float) -> tuple[int, list[str]]:
    loop_frames = prepare_vp8_loop(W, H, FPS)
    server = RelayProcess("forward")
    best, log = 0, []
    pairs: list[tuple[PacketClient, PacketClient]] = []
    try:
        steps = [1, 2, 4, *range(6, max_n + 1, 2)]
        for n in steps:
            while len(pairs) < n:
                i = len(pairs)
                relay = RemoteRelay(server, f"c{i}", (f"m{i}", f"p{i}"))
                a, b = PacketClient(f"m{i}", loop_frames), PacketClient(f"p{i}", loop_frames)
                await a.connect(relay)
                await b.connect(relay)
                relay.apply_routes(frozenset({(a.name, b.name), (b.name, a.name)}))
                pairs.append((a, b))
            await asyncio.sleep(3.0)
            for a, b in pairs:
                a.reset()
                b.reset()
            cpu0, t0 = server.cpu(), time.monotonic()
            await asyncio.sleep(step_window)
            elapsed = time.monotonic() - t0
            cpu = (server.cpu() - cpu0) / elapsed
            lat = [x for a, b in pairs for x in a.latencies + b.latencies]
            fps = min(len(c.latencies) / elapsed for a, b in pairs for c in (a, b))
            ok = fps >= 28.5 and pct(lat, 95) < 150
            log.append(f"  {n:3d} caucuses: min {fps:5.1f} fps, p95 {pct(lat, 95):6.1f} ms, "
                       f"relay CPU {cpu * 100:5.1f} % of a core -> {'ok' if ok else 'FAIL'}")
            print(log[-1], flush=True)
            if not ok:
                break
            best = n
    finally:
        for a, b in pairs:
            await a.close()
            await b.close()
        server.stop()
    return best, log


# ------------------------------------------------------------------ main

def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


async def main(quick: bool) -> None:
    print(f"start: {load()} ({os.cpu_count()} CPUs)", flush=True)
    window = 6.0 if quick else 10.0
    results: dict[str, dict[str, Any]] = {}
    results["direct P2P"] = await caucus_run(None, window)
    for mode, label in (("stock", "aiortc MediaRelay"), ("forward", "Sulh forward")):
        server = RelayProcess(mode)
        try:
            relay = RemoteRelay(server, "bench", ("m", "v"))
            results[label] = await caucus_run(relay, window)
            relay3 = RemoteRelay(server, "moves", ("m", "v", "r"))
            results[label]["moves"] = await move_run(relay3, 10 if quick else 20)
        finally:
            server.stop()

    base = results["direct P2P"]
    stock = results["aiortc MediaRelay"]
    print(f"\n{'mode':20s} {'CPU/stream':>11s} {'video med/p95 ms':>17s} {'audio med/p95 ms':>17s}"
          f" {'fps':>5s} {'move→frame med/p95 ms':>22s}")
    for label, r in results.items():
        moves = r.get("moves", [])
        cpu = f"{r['cpu_per_stream'] * 100:9.1f} %" if label != "direct P2P" else "        —"
        mv = f"{pct(moves, 50):8.1f} / {pct(moves, 95):6.1f}" if moves else "—"
        print(f"{label:20s} {cpu:>11s} {pct(r['video'], 50):7.1f} / {pct(r['video'], 95):6.1f}"
              f"  {pct(r['audio'], 50):7.1f} / {pct(r['audio'], 95):6.1f} {r['fps']:5.1f}"
              f" {mv:>22s}")
    fwd = results["Sulh forward"]
    cpu_ratio = fwd["cpu_per_stream"] / stock["cpu_per_stream"]
    starved = [label for label in ("aiortc MediaRelay", "Sulh forward")
               if results[label]["fps"] < 28.5]
    if starved:
        print(f"\nWARNING: {', '.join(starved)} delivered < 28.5 fps (CPU-starved): "
              "the CPU comparison is not comparable; rerun on a quieter machine")
    lat_ratio = pct(fwd["video"], 50) / pct(base["video"], 50)
    move95 = pct(fwd["moves"], 95)
    print(f"\nrelay CPU per stream, forward / MediaRelay: {cpu_ratio:.3f} "
          f"(target <= 0.125: {'met' if cpu_ratio <= 0.125 else 'NOT met'})")
    print(f"  information only, not the target: marginal relay CPU per additional forwarded "
          f"stream (CPU with both routes minus CPU with one, same two clients): forward "
          f"{fwd['marginal_cpu'] * 100:.1f} %, MediaRelay {stock['marginal_cpu'] * 100:.1f} %, "
          f"ratio {fwd['marginal_cpu'] / stock['marginal_cpu']:.3f}")
    print(f"video latency (median), forward / direct P2P: {lat_ratio:.2f} "
          f"(target <= 1.2: {'met' if lat_ratio <= 1.2 else 'NOT met'})")
    print(f"video latency (median), MediaRelay / direct P2P: "
          f"{pct(stock['video'], 50) / pct(base['video'], 50):.2f}")
    print(f"audio latency (median), forward / direct P2P: "
          f"{pct(fwd['audio'], 50) / pct(base['audio'], 50):.2f}")
    print(f"move to first frame p95: {move95:.1f} ms "
          f"(target < 150: {'met' if move95 < 150 else 'NOT met'}; {len(fwd['moves'])} moves)")

    print(f"after the comparison: {load()}")

    print("\ncapacity ramp (forward relay, 640x480@30 pre-encoded, two-way caucuses):")
    best, _ = await capacity_ramp(8 if quick else 30, 4.0 if quick else 5.0)
    print(f"largest number of concurrent two-way caucuses at 30 fps, p95 < 150 ms: {best}")
    print(f"end: {load()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter windows, fewer moves")
    ns = parser.parse_args()
    from tests.support.media import loopback_ice

    with loopback_ice():
        asyncio.run(main(ns.quick))
