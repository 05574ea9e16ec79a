"""Tools for the hostile-client suites (test_hostile_*.py).

A ``Scene`` is one case with its three people connected and keys published, plus the
ids that a hostile party must never learn about the other one. The checks here are
what every attack asserts: the exact refusal code, an unchanged case, and no trace of
the other party on the attacker's wire.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import socketio

from rooms import Case
from server.config import Settings
from server.store.base import Store
from server.store.memory import MemoryStore
from tests.server.conftest import Node, start_node
from tests.support.client import Person
from tests.support.waiting import eventually, quiet

SETTLE = 0.1
"""How long to let in-flight emits land before asserting that something did NOT arrive."""


@dataclass
class Scene:
    """A case whose mediator, victim and respondent are connected with keys published."""

    node: Node
    m: Person
    v: Person
    r: Person
    mid: str
    vid: str
    rid: str
    extra: list[Person] = field(default_factory=list)

    @property
    def case_id(self) -> str:
        return str(self.m.case_id)

    async def case(self) -> Case:
        """The stored case right now (the server's truth, not anyone's view)."""
        return (await self.node.services.repo.load(self.case_id))[0]

    async def mediator_view(self) -> dict[str, Any]:
        """What the mediator's console shows now (asked over the wire)."""
        return (await self.m.ok("state.get"))["state"]  # type: ignore[no-any-return]

    def traces(self, role: str) -> list[str]:
        """Strings that identify ``role``'s party: its participant id and public key."""
        person = self.v if role == "victim" else self.r
        pid = self.vid if role == "victim" else self.rid
        return [pid, person.public_b64]

    def assert_no_trace_of(self, role: str, on: Person, *more: str) -> None:
        """Nothing that identifies ``role`` (or any of ``more``) ever reached ``on``."""
        wire = on.wire_dump()
        for needle in [*self.traces(role), *more]:
            assert needle not in wire, f"{needle[:12]}… of the {role} reached the {on.role}"


async def mediator_session(node: Node) -> str:
    """A fresh mediator session, as ``/api/login`` would give (without Argon2's cost:
    login itself is tested elsewhere; these suites attack what comes after it)."""
    account = f"acct{uuid.uuid4().hex[:12]}"
    return await node.services.auth.open_session("mediator", account=account)


async def three(node: Node) -> tuple[Person, Person, Person]:
    """``Node.three`` with a mediator session that skips Argon2."""
    return await node.three(token=await mediator_session(node))


@asynccontextmanager
async def scene(node: Node) -> AsyncIterator[Scene]:
    """Open a case, connect everyone, publish keys; close every socket afterwards."""
    m, v, r = await three(node)
    ms = await m.wait_state(
        lambda s: all(p["public_key"] and p["online"] for p in s["participants"])
    )
    ids = {p["role"]: p["id"] for p in ms["participants"]}
    for party in (v, r):
        await party.wait_state(lambda s: bool(s["peers"]) and bool(s["peers"][0]["public_key"]))
    sc = Scene(node, m, v, r, ids["mediator"], ids["victim"], ids["respondent"])
    try:
        yield sc
    finally:
        for person in (m, v, r, *sc.extra):
            await person.close()


async def refused(person: Person, event: str, payload: Any, code: str) -> dict[str, Any]:
    """Send ``event`` and assert it is refused with exactly ``code`` and a safe message."""
    ack = await person.call(event, payload)
    assert ack.get("ok") is False, (event, ack)
    assert set(ack) == {"ok", "error"}, ack
    assert ack["error"]["code"] == code, (event, ack)
    assert isinstance(ack["error"]["message"], str) and ack["error"]["message"], ack
    return ack


def without_presence(case: Case, pid: str) -> Case:
    """``case`` as if ``pid`` had never gone offline: a hostile client the server
    disconnects goes offline (and nothing else changes)."""
    seats = tuple(p.with_(online=True) if p.id == pid else p for p in case.participants)
    return case.with_(participants=seats)


async def settle() -> None:
    await quiet(SETTLE)


async def wait_disconnected(person: Person, timeout: float = 3.0) -> None:
    await eventually(lambda: not person.sio.connected, timeout)


async def connect_error(
    base_url: str, auth: Any = None, headers: dict[str, str] | None = None
) -> Any:
    """Try to connect; assert the server refused, and return what it said (connect_error)."""
    sio = socketio.AsyncClient(reconnection=False)
    said: list[Any] = []

    async def on_error(data: Any = None) -> None:
        said.append(data)

    sio.on("connect_error", on_error)
    try:
        await sio.connect(
            base_url, auth=auth, headers=headers or {}, transports=["websocket"], wait_timeout=5
        )
    except socketio.exceptions.ConnectionError:
        return said[-1] if said else None
    await sio.disconnect()
    raise AssertionError("the connection was accepted")


def refusal_code(said: Any) -> str:
    """The wire code of a refused socket.io connection ({message, data: {code, message}})."""
    assert isinstance(said, dict) and isinstance(said.get("data"), dict), said
    return str(said["data"]["code"])


# -- a node whose time the test controls ---------------------------------------------


class Clock:
    """Wall time the test can move forward (for the memory store, Auth and the domain)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class TimedNode:
    """A node with short-lived invites/sessions. ``advance`` moves time on: the fake
    clock for the memory store, real time for Redis (whose TTLs Redis itself enforces)."""

    node: Node
    clock: Clock | None

    async def advance(self, seconds: float) -> None:
        if self.clock is not None:
            self.clock.now += seconds
        else:
            await asyncio.sleep(seconds)


@asynccontextmanager
async def timed_node(
    backend: str, tmp_path: Path, redis_url: str | None, **overrides: Any
) -> AsyncIterator[TimedNode]:
    """Start a node with ``Settings`` ``overrides`` (e.g. ``invite_ttl=0.3``)."""
    settings = replace(
        Settings(data_dir=tmp_path, allowed_origins=("http://127.0.0.1",)), **overrides
    )
    clock: Clock | None = None
    store: Store
    if backend == "memory":
        clock = Clock()
        store = MemoryStore(clock=clock)
    else:
        from server.store.redis import RedisStore

        prefix = f"t{uuid.uuid4().hex[:10]}:"
        settings = replace(settings, redis_url=redis_url, redis_prefix=prefix)
        store = RedisStore(str(redis_url), prefix=prefix)
    runner, node = await start_node(
        settings, store, b"k" * 32, clock if clock is not None else time.time
    )
    node.backend = backend
    try:
        yield TimedNode(node, clock)
    finally:
        await runner.cleanup()

