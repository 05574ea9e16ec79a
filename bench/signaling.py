#!/usr/bin/env python
"""Signaling benchmark: end-to-end encrypted chat relay through one Sulh server process.

    .venv/bin/python bench/signaling.py [--cases 1,50,200] [--messages N] [--rate R] [--quick]

What runs:

* The Sulh server (``python -m server``, in-memory store) in its own process, on a free
  loopback port with a throw-away data directory; a fresh server for each case count. The
  mediator account is made with ``python -m server add-mediator`` (password on stdin).
* For every case: one mediator, one victim, one respondent, each a real
  ``socketio.AsyncClient`` with its own PyNaCl X25519 key pair, joined through the real HTTP
  API (login, case creation, invite redemption) and ``key.publish``. The clients run in one
  or more separate client processes (``--client-procs``), never in the server's process.
* Traffic: the victim and the respondent write to the mediator in their caucus; the
  mediator answers each in turn. Every client sends ``--messages`` messages at ``--rate``
  messages per second on a fixed (open-loop) schedule with a random phase, which keeps each
  connection well under the server's per-connection chat limit (server/ratelimit.py).
  Every message is a real NaCl box of a short JSON line; the recipient decrypts it.
* Baseline, same run, same machine, same client code: a bare python-socketio server
  (``--bare-server``, no auth, no store, no checks) that relays each ``chat.send`` box to
  its recipient's room. Case counts alternate between the baseline and Sulh so that
  machine noise hits both alike.

Figures:

* latency: from just before the sender's ``chat.send`` emit to the recipient's
  ``chat.message`` handler, both in the same client process (time.perf_counter);
* events/s: ``chat.message`` events delivered to recipients per second, over the window
  from the first send to the last delivery, across all client processes;
* server CPU: CPU time of the server process over the window (from /proc), as % of one
  core and as delivered events per server CPU-second (a load-independent capacity figure).

The offered load grows with the number of cases (the per-client rate is fixed), so at an
unsaturated server events/s should scale with the case count; the ratio table shows how
well it does and what each event costs in server CPU relative to one case.

The whole run is bounded (``--budget`` seconds, 170 by default) and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import math
import multiprocessing as mp
import os
import platform
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
EMAIL = "bench@example.org"
CLIENTS_PER_CASE = 3
CONNECT_CONCURRENCY = 20
DRAIN_MAX_SECONDS = 20.0  # after the last send, wait at most this long for deliveries...
DRAIN_IDLE_SECONDS = 3.0  # ...and stop early once nothing has arrived for this long
TEXT = "I would like to talk about the arrangements for next week, if that is alright."

# Processes this run started: stopped in ``cleanup`` (and by the watchdog).
_CHILDREN: list[Any] = []


# --------------------------------------------------------------------------------------
# small helpers


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def proc_sched(pid: int) -> tuple[float, float | None] | None:
    """(CPU seconds, seconds spent runnable but waiting for a CPU) of a running process.

    From the nanosecond counters of its threads' /proc schedstat (Linux); the wait is
    what noisy neighbours cost it. Falls back to the clock ticks of /proc/PID/stat (CPU
    only, coarse), and to None where there is no /proc.
    """
    try:
        cpu_ns = wait_ns = 0
        for task in Path(f"/proc/{pid}/task").iterdir():
            fields = (task / "schedstat").read_text().split()
            cpu_ns, wait_ns = cpu_ns + int(fields[0]), wait_ns + int(fields[1])
        return cpu_ns / 1e9, wait_ns / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, None


def sched_delta(
    before: tuple[float, float | None] | None, after: tuple[float, float | None] | None
) -> tuple[float | None, float | None]:
    if before is None or after is None:
        return None, None
    wait = None if before[1] is None or after[1] is None else after[1] - before[1]
    return after[0] - before[0], wait


def raise_fd_limit() -> None:
    """600 sockets per process need more than a 1024 default on some machines."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else 65536
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, 65536), hard))
    except (ImportError, ValueError, OSError):
        pass


# --------------------------------------------------------------------------------------
# the bare python-socketio relay (baseline server), run as ``--bare-server PORT``


def run_bare_server(port: int) -> int:
    import socketio
    from aiohttp import web

    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        max_http_buffer_size=64 * 1024,
        logger=False,
        engineio_logger=False,
        ping_interval=10,
        ping_timeout=10,
    )
    names: dict[str, str] = {}

    @sio.on("connect")
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        name = str(auth["room"])
        names[sid] = name
        await sio.enter_room(sid, "p:" + name)

    @sio.on("disconnect")
    async def disconnect(sid: str, *args: Any) -> None:
        names.pop(sid, None)

    @sio.on("chat.send")
    async def chat_send(sid: str, data: Any) -> dict[str, Any]:
        at = time.time()
        for pid, box in data["boxes"].items():
            message = {
                "id": data["id"],
                "from": names[sid],
                "place": data.get("place"),
                "box": box,
                "at": at,
            }
            await sio.emit("chat.message", message, room="p:" + pid)
        return {"ok": True, "at": at}

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    sio.attach(app)
    web.run_app(app, host=HOST, port=port, access_log=None, print=None, shutdown_timeout=2)
    return 0


# --------------------------------------------------------------------------------------
# client processes


@dataclass
class Meter:
    """What one client process measured."""

    sent_at: dict[str, float] = field(default_factory=dict)  # message id -> perf_counter
    latencies: list[float] = field(default_factory=list)  # milliseconds
    lags: list[float] = field(default_factory=list)  # ms a send left after its scheduled time
    sent: int = 0
    delivered: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    bad_boxes: int = 0
    dropped: int = 0  # connections that closed without the bench asking
    first_send_wall: float = math.inf
    last_delivery_wall: float = 0.0

    def acked(self, mid: str, ack: Any = None, *args: Any) -> None:
        if isinstance(ack, dict) and ack.get("ok") is True:
            return
        code = "no_ack"
        if isinstance(ack, dict) and isinstance(ack.get("error"), dict):
            code = str(ack["error"].get("code"))
        self.refused[code] = self.refused.get(code, 0) + 1
        self.sent_at.pop(mid, None)


class Client:
    """One participant: a socket, a key pair, and boxes for its peers."""

    def __init__(self, meter: Meter, role: str, auth: dict[str, Any]) -> None:
        import socketio
        from nacl.public import PrivateKey

        self.meter = meter
        self.role = role
        self.auth = auth
        self.key = PrivateKey.generate()
        self.sio = socketio.AsyncClient(reconnection=False)
        self.pid = ""
        self.state: dict[str, Any] | None = None
        self.state_seen = asyncio.Event()
        self.boxes: dict[str, Any] = {}  # peer id -> nacl.public.Box
        self.targets: list[tuple[str, str | None]] = []  # (recipient id, place)
        self.closing = False
        self.sio.on("chat.message", self._on_message)
        self.sio.on("state", self._on_state)
        self.sio.on("disconnect", self._on_disconnect)

    @property
    def public_b64(self) -> str:
        return b64(bytes(self.key.public_key))

    def add_peer(self, pid: str, public_b64: str) -> None:
        from nacl.public import Box, PublicKey

        self.boxes[pid] = Box(self.key, PublicKey(base64.b64decode(public_b64)))

    def _on_state(self, data: Any) -> None:
        self.state = data
        self.state_seen.set()

    def _on_disconnect(self, *reason: Any) -> None:
        if not self.closing:
            self.meter.dropped += 1

    async def close(self) -> None:
        self.closing = True
        await self.sio.disconnect()

    def _on_message(self, data: Any) -> None:
        now = time.perf_counter()
        meter = self.meter
        mid = data.get("id")
        started = meter.sent_at.pop(mid, None)
        if started is None:
            return  # not ours, or a duplicate
        meter.latencies.append((now - started) * 1000.0)
        meter.delivered += 1
        meter.last_delivery_wall = time.time()
        box = self.boxes.get(data.get("from"))
        try:
            plain = box.decrypt(  # type: ignore[union-attr]
                base64.b64decode(data["box"]["ciphertext"]), base64.b64decode(data["box"]["nonce"])
            )
            if json.loads(plain)["id"] != mid:
                meter.bad_boxes += 1
        except Exception:
            meter.bad_boxes += 1

    async def connect(self, base_url: str) -> None:
        await self.sio.connect(base_url, auth=self.auth, transports=["websocket"], wait_timeout=20)

    async def wait_state(self, predicate: Any, timeout: float) -> dict[str, Any]:
        async def until() -> dict[str, Any]:
            while self.state is None or not predicate(self.state):
                self.state_seen.clear()
                await self.state_seen.wait()
            return self.state

        return await asyncio.wait_for(until(), timeout)

    async def send_loop(self, start: float, rate: float, count: int) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / rate
        meter = self.meter
        for k in range(count):
            due = start + k * interval
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            pid, place = self.targets[k % len(self.targets)]
            mid = secrets.token_hex(8)
            sealed = self.boxes[pid].encrypt(json.dumps({"id": mid, "n": k, "text": TEXT}).encode())
            payload: dict[str, Any] = {
                "id": mid,
                "boxes": {pid: {"nonce": b64(sealed.nonce), "ciphertext": b64(sealed.ciphertext)}},
            }
            if place is not None:
                payload["place"] = place
            if meter.first_send_wall == math.inf:
                meter.first_send_wall = time.time()
            meter.sent += 1
            meter.lags.append(max(0.0, loop.time() - due) * 1000.0)
            meter.sent_at[mid] = time.perf_counter()
            await self.sio.emit(
                "chat.send", payload, callback=lambda *a, mid=mid: meter.acked(mid, *a)
            )


async def _bounded(coros: list[Any], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def run(coro: Any) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(run(c) for c in coros))


async def _join_sulh(meter: Meter, base_url: str, job: dict[str, Any]) -> list[Client]:
    """Connect one case's three seats, publish keys, learn each other's ids and keys."""
    m = Client(meter, "mediator", {"session": job["mediator"], "case_id": job["case_id"]})
    v = Client(meter, "victim", {"session": job["victim"]})
    r = Client(meter, "respondent", {"session": job["respondent"]})
    for c in (m, v, r):
        await c.connect(base_url)
        ack = await c.sio.call("key.publish", {"public_key": c.public_b64}, timeout=20)
        if not (isinstance(ack, dict) and ack.get("ok")):
            raise RuntimeError(f"key.publish refused: {ack}")

    def keyed(state: dict[str, Any]) -> bool:
        people = state.get("participants") or state.get("peers") or []
        return bool(people) and all(p.get("public_key") for p in people)

    ms = await m.wait_state(keyed, 30)
    m.pid = ms["me"]["id"]
    by_role = {p["role"]: p for p in ms["participants"]}
    for c in (v, r):
        c.pid = by_role[c.role]["id"]
        m.add_peer(c.pid, by_role[c.role]["public_key"])
        cs = await c.wait_state(keyed, 30)
        (peer,) = cs["peers"]
        c.add_peer(peer["id"], peer["public_key"])
        c.targets = [(peer["id"], None)]
    m.targets = [(v.pid, "victim_caucus"), (r.pid, "respondent_caucus")]
    return [m, v, r]


async def _join_bare(meter: Meter, base_url: str, job: dict[str, Any]) -> list[Client]:
    """The same three clients against the bare relay: ids are room names, keys swapped locally."""
    tag = f"c{job['index']}"
    people = [
        Client(meter, role, {"room": f"{tag}.{role[0]}"})
        for role in ("mediator", "victim", "respondent")
    ]
    for c in people:
        c.pid = c.auth["room"]
        await c.connect(base_url)
    m, v, r = people
    for c in (v, r):
        m.add_peer(c.pid, c.public_b64)
        c.add_peer(m.pid, m.public_b64)
        c.targets = [(m.pid, None)]
    m.targets = [(v.pid, "victim_caucus"), (r.pid, "respondent_caucus")]
    return people


async def _worker(pipe: Connection, spec: dict[str, Any]) -> None:
    meter = Meter()
    loop = asyncio.get_running_loop()
    join = _join_sulh if spec["kind"] == "sulh" else _join_bare
    t0 = time.perf_counter()
    groups = await _bounded(
        [join(meter, spec["base_url"], job) for job in spec["jobs"]],
        CONNECT_CONCURRENCY // CLIENTS_PER_CASE or 1,
    )
    clients = [c for g in groups for c in g]
    pipe.send(("ready", {"clients": len(clients), "join_seconds": time.perf_counter() - t0}))

    message = await loop.run_in_executor(None, pipe.recv)
    if message[0] != "go":
        return
    start_wall: float = message[1]
    start = loop.time() + (start_wall - time.time())
    rate, count = spec["rate"], spec["messages"]
    sched0, cpu0, wall0 = proc_sched(os.getpid()), time.process_time(), time.time()
    await asyncio.gather(
        *(c.send_loop(start + random.random() / rate, rate, count) for c in clients)
    )
    give_up = loop.time() + DRAIN_MAX_SECONDS
    seen, idle_since = meter.delivered, loop.time()
    while meter.sent_at and loop.time() < give_up:
        await asyncio.sleep(0.01)
        if meter.delivered != seen:
            seen, idle_since = meter.delivered, loop.time()
        elif loop.time() - idle_since > DRAIN_IDLE_SECONDS:
            break
    sched1, cpu1, wall1 = proc_sched(os.getpid()), time.process_time(), time.time()
    _, waited = sched_delta(sched0, sched1)
    pipe.send(
        (
            "done",
            {
                "latencies": meter.latencies,
                "lags": meter.lags,
                "sent": meter.sent,
                "delivered": meter.delivered,
                "lost": len(meter.sent_at),
                "refused": meter.refused,
                "bad_boxes": meter.bad_boxes,
                "dropped": meter.dropped,
                "first_send_wall": meter.first_send_wall,
                "last_delivery_wall": meter.last_delivery_wall,
                "cpu": cpu1 - cpu0,
                "wait": waited,
                "wall": wall1 - wall0,
            },
        )
    )
    with contextlib.suppress(Exception):
        await asyncio.wait_for(_bounded([c.close() for c in clients], 50), timeout=15)


def worker_main(pipe: Connection, spec: dict[str, Any]) -> None:
    """Entry point of a client process."""
    raise_fd_limit()
    # A starved client's engine.io gives up on a silent server with an error log line per
    # socket; the bench counts those drops itself and reports them once.
    for name in ("engineio.client", "socketio.client"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        asyncio.run(_worker(pipe, spec))
    except BaseException as exc:  # report, so the parent fails fast instead of waiting
        with contextlib.suppress(Exception):
            pipe.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        pipe.close()


# --------------------------------------------------------------------------------------
# the orchestrator


@dataclass
class Phase:
    kind: str  # "bare" or "sulh"
    cases: int
    clients: int = 0
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    bad_boxes: int = 0
    dropped: int = 0
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    window: float = math.nan
    server_cpu: float | None = None
    server_wait: float | None = None
    server_wall: float = math.nan
    client_cpu: float = 0.0
    client_wait: float | None = None
    client_wall: float = math.nan
    load: float = math.nan
    join_seconds: float = math.nan

    @property
    def median(self) -> float:
        return statistics.median(self.latencies) if self.latencies else math.nan

    @property
    def p99(self) -> float:
        return percentile(sorted(self.latencies), 99)

    @property
    def lag_p99(self) -> float:
        return percentile(sorted(self.lags), 99)

    @property
    def events_per_s(self) -> float:
        return self.delivered / self.window if self.window > 0 else math.nan

    @property
    def server_pct(self) -> float:
        if self.server_cpu is None:
            return math.nan
        return 100.0 * self.server_cpu / self.server_wall

    @property
    def server_wait_pct(self) -> float:
        if self.server_wait is None:
            return math.nan
        return 100.0 * self.server_wait / self.server_wall

    @property
    def client_pct(self) -> float:
        return 100.0 * self.client_cpu / self.client_wall

    @property
    def client_wait_pct(self) -> float:
        if self.client_wait is None:
            return math.nan
        return 100.0 * self.client_wait / self.client_wall

    @property
    def events_per_cpu_s(self) -> float:
        if not self.server_cpu:
            return math.nan
        return self.delivered / self.server_cpu


def server_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SULH_")}
    env.update(
        SULH_HOST=HOST, SULH_PORT=str(port), SULH_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1"
    )
    return env


def add_mediator(data_dir: Path, password: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "server", "add-mediator", EMAIL],
        input=password + "\n",
        text=True,
        capture_output=True,
        cwd=ROOT,
        env=server_env(data_dir, 0),
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"add-mediator failed:\n{done.stderr.strip()[-1500:]}")


def start_server(kind: str, port: int, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    if kind == "sulh":
        cmd = [sys.executable, "-m", "server"]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--bare-server", str(port)]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=server_env(data_dir, port),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    _CHILDREN.append(proc)
    return proc


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


async def wait_healthy(base_url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    import aiohttp

    give_up = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < give_up:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited early; see its log:\n{log.read_text()[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(base_url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not become healthy within 30 s")


async def open_cases(base_url: str, password: str, n: int) -> list[dict[str, Any]]:
    """Log in once, open ``n`` cases and redeem both invites of each (the real HTTP API)."""
    import aiohttp

    async with aiohttp.ClientSession() as http:

        async def post(path: str, body: Any, token: str | None = None) -> dict[str, Any]:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with http.post(base_url + path, json=body, headers=headers) as resp:
                data: dict[str, Any] = await resp.json(content_type=None)
                if resp.status >= 300:
                    raise RuntimeError(f"POST {path}: {resp.status} {data}")
                return data

        session = (await post("/api/login", {"email": EMAIL, "password": password}))["session"]

        async def one(i: int) -> dict[str, Any]:
            created = await post("/api/cases", {"label": f"Bench case {i}"}, session)
            job = {"index": i, "case_id": created["case_id"], "mediator": session}
            for role in ("victim", "respondent"):
                token = str(created["invites"][role]).split("#", 1)[1]
                job[role] = (await post("/api/invites/redeem", {"token": token}))["session"]
            return job

        return list(await _bounded([one(i) for i in range(n)], 16))


async def recv(pipe: Connection, timeout: float) -> Any:
    ready = await asyncio.to_thread(pipe.poll, timeout)
    if not ready:
        raise TimeoutError("a client process did not answer in time")
    message = pipe.recv()
    if message[0] == "error":
        raise RuntimeError(f"client process failed: {message[1]}")
    return message


async def run_phase(
    kind: str, cases: int, args: argparse.Namespace, data_dir: Path, password: str
) -> Phase:
    phase = Phase(kind, cases)
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    log = data_dir / f"server-{kind}-{cases}.log"
    proc = start_server(kind, port, data_dir, log)
    workers: list[tuple[Any, Connection]] = []
    try:
        await wait_healthy(base_url, proc, log)
        if kind == "sulh":
            jobs = await open_cases(base_url, password, cases)
        else:
            jobs = [{"index": i} for i in range(cases)]
        nprocs = max(1, min(args.client_procs, cases))
        ctx = mp.get_context("spawn")
        for w in range(nprocs):
            parent, child = ctx.Pipe()
            spec = {
                "kind": kind,
                "base_url": base_url,
                "jobs": jobs[w::nprocs],
                "rate": args.rate,
                "messages": args.messages,
            }
            process = ctx.Process(target=worker_main, args=(child, spec), daemon=True)
            process.start()
            child.close()
            _CHILDREN.append(process)
            workers.append((process, parent))
        readies = await asyncio.gather(*(recv(pipe, 90) for _, pipe in workers))
        phase.clients = sum(r[1]["clients"] for r in readies)
        phase.join_seconds = max(r[1]["join_seconds"] for r in readies)

        await asyncio.sleep(0.3)  # let the join traffic settle
        with contextlib.suppress(OSError):
            phase.load = os.getloadavg()[0]
        sched0, wall0 = proc_sched(proc.pid), time.time()
        start_wall = time.time() + 0.3
        for _, pipe in workers:
            pipe.send(("go", start_wall))
        limit = args.messages / args.rate + DRAIN_MAX_SECONDS + 30
        results = [r[1] for r in await asyncio.gather(*(recv(pipe, limit) for _, pipe in workers))]
        sched1, wall1 = proc_sched(proc.pid), time.time()

        for r in results:
            phase.latencies.extend(r["latencies"])
            phase.lags.extend(r["lags"])
            phase.sent += r["sent"]
            phase.delivered += r["delivered"]
            phase.lost += r["lost"]
            phase.bad_boxes += r["bad_boxes"]
            phase.dropped += r["dropped"]
            phase.client_cpu += r["cpu"]
            if r["wait"] is not None:
                phase.client_wait = (phase.client_wait or 0.0) + r["wait"]
            for code, k in r["refused"].items():
                phase.refused[code] = phase.refused.get(code, 0) + k
        phase.client_wall = max(r["wall"] for r in results)
        first = min(r["first_send_wall"] for r in results)
        last = max(r["last_delivery_wall"] for r in results)
        phase.window = last - first if last > first else math.nan
        phase.server_cpu, phase.server_wait = sched_delta(sched0, sched1)
        phase.server_wall = wall1 - wall0
        for process, _ in workers:  # they disconnect their clients, then exit
            await asyncio.to_thread(process.join, 20)
    finally:
        for process, pipe in workers:
            if process.is_alive():
                process.terminate()
                process.join(5)
            pipe.close()
        stop_process(proc)
    return phase


# --------------------------------------------------------------------------------------
# report


def fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def report(phases: list[Phase], args: argparse.Namespace) -> None:
    from importlib.metadata import version

    print()
    print("Sulh signaling bench: E2EE chat relay through one server process")
    print(
        f"  machine: {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, python-socketio {version('python-socketio')}"
    )
    print(
        f"  server in its own process; clients in {args.client_procs} other process(es); "
        f"{CLIENTS_PER_CASE} clients per case, each sending {args.messages} messages "
        f"at {args.rate:g}/s"
    )
    print(
        "  latency: chat.send emit -> recipient's chat.message, one clock; events/s: "
        "chat.message deliveries per second"
    )
    print(
        "  bare: a bare python-socketio relay (no auth, store or checks), the raw baseline; "
        "ev/CPU-s: deliveries"
    )
    print("  per CPU-second of the server process (roughly what one dedicated core could carry)")
    print()
    header = (
        f"{'server':<6} {'cases':>5} {'clients':>7} {'sent':>6} {'delivered':>9} "
        f"{'lost':>4} {'refused':>7} {'median ms':>9} {'p99 ms':>8} {'events/s':>9} "
        f"{'ev/CPU-s':>8}"
    )
    print(header)
    print("-" * len(header))
    for p in phases:
        print(
            f"{p.kind:<6} {p.cases:>5} {p.clients:>7} {p.sent:>6} {p.delivered:>9} "
            f"{p.lost:>4} {sum(p.refused.values()):>7} {fmt(p.median, 2):>9} "
            f"{fmt(p.p99, 2):>8} {fmt(p.events_per_s, 1):>9} {fmt(p.events_per_cpu_s, 0):>8}"
        )
    print()
    print(
        "Conditions during each window (CPU% and wait% are of one core; wait = runnable but "
        "not running,"
    )
    print(
        "i.e. CPU taken by other processes on the machine; cli lag = how late the clients "
        "sent against schedule):"
    )
    chead = (
        f"{'server':<6} {'cases':>5} {'srv CPU%':>8} {'srv wait%':>9} {'cli CPU%':>8} "
        f"{'cli wait%':>9} {'cli lag p99 ms':>14} {'load 1m':>7}"
    )
    print(chead)
    print("-" * len(chead))
    for p in phases:
        print(
            f"{p.kind:<6} {p.cases:>5} {fmt(p.server_pct, 1):>8} {fmt(p.server_wait_pct, 1):>9} "
            f"{fmt(p.client_pct, 1):>8} {fmt(p.client_wait_pct, 1):>9} "
            f"{fmt(p.lag_p99, 1):>14} {fmt(p.load, 2):>7}"
        )
    print()

    by = {(p.kind, p.cases): p for p in phases}
    counts = sorted({p.cases for p in phases})
    base = counts[0]
    if len(counts) > 1:
        print(
            f"Ratios to the {base}-case figures of the same server, same run "
            f"(events/s ideal = x cases; CPU/event 1.00 = same cost per event):"
        )
        rhead = (
            f"{'server':<6} {'cases':>5} {'x cases':>7} {'median x':>8} {'p99 x':>7} "
            f"{'events/s x':>10} {'CPU/event x':>11}"
        )
        print(rhead)
        print("-" * len(rhead))
        for kind in ("bare", "sulh"):
            ref = by.get((kind, base))
            for n in counts[1:]:
                p = by.get((kind, n))
                if ref is None or p is None:
                    continue
                print(
                    f"{kind:<6} {n:>5} {n / base:>7.0f} "
                    f"{fmt(ratio(p.median, ref.median)):>8} {fmt(ratio(p.p99, ref.p99)):>7} "
                    f"{fmt(ratio(p.events_per_s, ref.events_per_s)):>10} "
                    f"{fmt(ratio(ref.events_per_cpu_s, p.events_per_cpu_s)):>11}"
                )
        print()
    if any(k == "bare" for k, _ in by):
        print("Sulh against the bare relay at the same case count, same run:")
        shead = f"{'cases':>5} {'median x':>8} {'p99 x':>7} {'events/s x':>10} {'CPU/event x':>11}"
        print(shead)
        print("-" * len(shead))
        for n in counts:
            s, b = by.get(("sulh", n)), by.get(("bare", n))
            if s is None or b is None:
                continue
            print(
                f"{n:>5} {fmt(ratio(s.median, b.median)):>8} {fmt(ratio(s.p99, b.p99)):>7} "
                f"{fmt(ratio(s.events_per_s, b.events_per_s)):>10} "
                f"{fmt(ratio(b.events_per_cpu_s, s.events_per_cpu_s)):>11}"
            )
        print()
    if any(len(p.latencies) < 100 for p in phases):
        print("note: with fewer than 100 deliveries, p99 is the slowest delivery.")
    busy = [p for p in phases if max(p.server_wait_pct, p.client_wait_pct) > 20]
    if busy:
        names = ", ".join(f"{p.kind} {p.cases}" for p in busy)
        print(
            f"note: other processes held the CPUs during {names} (wait% above 20): those "
            "latencies include time spent queueing for a CPU, not only relay work."
        )
    for p in phases:
        if p.lost or p.refused or p.bad_boxes or p.dropped:
            print(
                f"warning: {p.kind} {p.cases} cases: {p.lost} not delivered in time, "
                f"refused {p.refused or 0}, {p.bad_boxes} failed to decrypt, "
                f"{p.dropped} connections dropped"
            )
    print()


# --------------------------------------------------------------------------------------
# main


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--cases",
        default="1,50,200",
        help="comma-separated concurrent case counts (default 1,50,200)",
    )
    parser.add_argument(
        "--messages",
        type=int,
        default=15,
        help="messages each client sends per case count (default 15)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="messages per second per client (default 1; must stay under "
        "the server's per-connection chat limit)",
    )
    parser.add_argument(
        "--client-procs",
        type=int,
        default=max(1, min(4, (os.cpu_count() or 2) // 2)),
        help="client processes (default: half the CPUs, at most 4)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=175.0,
        help="limit on the whole run, in seconds (default 175): phases that "
        "would not fit are skipped, and the run is killed at the limit",
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the bare python-socketio relay baseline"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 and 5 cases, 6 messages per client"
    )
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.messages, args.rate = "1,5", 6, 3.0
        args.budget = min(args.budget, 90.0)
    try:
        args.case_counts = [int(c) for c in str(args.cases).split(",") if c.strip()]
    except ValueError:
        parser.error("--cases takes comma-separated numbers, e.g. 1,50,200")
    if not args.case_counts or min(args.case_counts) < 1:
        parser.error("--cases needs positive numbers")
    if args.messages < 1 or args.client_procs < 1:
        parser.error("--messages and --client-procs must be at least 1")
    return args


def _check_rate(args: argparse.Namespace) -> None:
    """Refuse a rate that would trip the server's own per-connection chat limit."""
    sys.path.insert(0, str(ROOT))
    from server.ratelimit import DEFAULT_LIMITS

    limit, burst = DEFAULT_LIMITS["chat"]
    if not 0 < args.rate <= 0.9 * limit:
        raise SystemExit(
            f"--rate must be above 0 and at most {0.9 * limit:g}/s: the server "
            f"allows {limit:g} chat events/s per connection (burst {burst:g})"
        )


def cleanup() -> None:
    for child in reversed(_CHILDREN):
        with contextlib.suppress(Exception):
            if isinstance(child, subprocess.Popen):
                stop_process(child)
            elif child.is_alive():
                child.terminate()


def _watchdog(budget: float) -> threading.Timer:
    def expire() -> None:
        print(
            f"bench: time budget of {budget:.0f}s exceeded; stopping", file=sys.stderr, flush=True
        )
        for child in _CHILDREN:
            with contextlib.suppress(Exception):
                child.kill()
        os._exit(3)

    timer = threading.Timer(budget, expire)
    timer.daemon = True
    timer.start()
    return timer


async def _run(args: argparse.Namespace, data_dir: Path, deadline: float) -> list[Phase]:
    password = "bench-" + secrets.token_urlsafe(18)
    await asyncio.to_thread(add_mediator, data_dir, password)
    phases = []
    for n in args.case_counts:
        kinds = ("sulh",) if args.no_baseline else ("bare", "sulh")
        for kind in kinds:
            t0 = time.monotonic()
            needed = args.messages / args.rate + 8 + n * CLIENTS_PER_CASE * 0.02
            if t0 + needed > deadline:
                print(
                    f"  {kind:<4} {n:>4} cases: skipped, it would not fit in --budget",
                    file=sys.stderr,
                    flush=True,
                )
                continue
            phase = await run_phase(kind, n, args, data_dir, password)
            print(
                f"  {kind:<4} {n:>4} cases: {phase.clients} clients joined in "
                f"{phase.join_seconds:.1f}s, {phase.delivered}/{phase.sent} delivered, "
                f"phase {time.monotonic() - t0:.1f}s",
                file=sys.stderr,
                flush=True,
            )
            phases.append(phase)
    return phases


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.bare_server is not None:
        return run_bare_server(args.bare_server)
    _check_rate(args)
    raise_fd_limit()
    timer = _watchdog(args.budget)
    data_dir = Path(tempfile.mkdtemp(prefix="sulh-bench-"))
    started = time.monotonic()
    try:
        phases = asyncio.run(_run(args, data_dir, started + args.budget - 10))
    except Exception as exc:
        print(f"bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        cleanup()
        timer.cancel()
        shutil.rmtree(data_dir, ignore_errors=True)
    if not phases:
        print("bench: no phase fitted in the time budget", file=sys.stderr)
        return 1
    report(phases, args)
    print(f"total run time {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
