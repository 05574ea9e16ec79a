"""Helpers for media routing tests: a timeline of applied routes and the leak check."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from server.media import CaseRelay
from tests.support.media import TONES, Client, age_ms, now_ms

CODES = {"m": 1, "v": 2, "r": 3}
Route = tuple[str, str]
AUDIO_IN_FLIGHT_MS = 500  # generous bound for audio captured before a route closed


def pairs(*groups: tuple[str, ...]) -> frozenset[Route]:
    """Everyone in a group sees and hears everyone else in it."""
    return frozenset((a, b) for g in groups for a in g for b in g if a != b)


@dataclass
class Timeline:
    """Every route set applied, with the time it took effect (monotonic ms)."""

    changes: list[tuple[int, frozenset[Route]]] = field(default_factory=list)

    def apply(self, relay: CaseRelay, routes: frozenset[Route]) -> int:
        at = now_ms()
        relay.apply_routes(routes)
        self.changes.append((at, routes))
        return at

    def routed_at(self, route: Route, t: int) -> bool:
        current: frozenset[Route] = frozenset()
        for at, routes in self.changes:
            if age_ms(at, t) < (1 << 31):  # at <= t
                current = routes
        return route in current

    def opened_between(self, route: Route, start: int, end: int) -> bool:
        return any(
            route in routes and age_ms(start, at) < (1 << 31) and age_ms(at, end) < (1 << 31)
            for at, routes in self.changes
        )

    def routed_within(self, route: Route, start: int, end: int) -> bool:
        return self.routed_at(route, start) or self.opened_between(route, start, end)


def check_delivery(clients: dict[str, Client], relay: CaseRelay, timeline: Timeline) -> None:
    """What every client received came from the source of its slot, and only while routed:
    a video frame captured while its route was closed never arrives unless the route was
    reopened before it arrived; no audio arrives later than AUDIO_IN_FLIGHT_MS after closing."""
    for sink, client in clients.items():
        for (_kind, slot), box in client.inbox.items():
            if slot >= len(relay.slots(sink)):
                assert not box.video and not box.audio, f"{sink}: media on an unbound slot"
                continue
            source = relay.slots(sink)[slot]
            route = (source, sink)
            for v in box.video:
                assert v.code == CODES[source], f"{sink} slot {slot} got {v.code}, not {source}"
                if not timeline.routed_at(route, v.capture_ms):
                    assert timeline.opened_between(route, v.capture_ms, v.recv_ms), (
                        f"{source}->{sink}: frame captured while unrouted was delivered"
                    )
            for a in box.audio:
                assert abs(a.freq - TONES[CODES[source]]) <= 50, f"{sink} heard the wrong tone"
                start = (a.recv_ms - AUDIO_IN_FLIGHT_MS) % (1 << 32)
                assert timeline.routed_within(route, start, a.recv_ms), (
                    f"{source}->{sink}: audio arrived long after the route closed"
                )


def received(client: Client, kind: str, slot: int, since: int | None = None) -> int:
    box = client.slot(kind, slot)
    if kind == "audio":
        return sum(1 for a in box.audio if since is None or age_ms(since, a.recv_ms) < 1 << 31)
    return sum(1 for v in box.video if since is None or age_ms(since, v.capture_ms) < 1 << 31)


DEBUG: list[Callable[[], str]] = []


def debug() -> str:
    return "; ".join(f() for f in DEBUG)


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``predicate`` held; fails after ``timeout`` (generous on purpose)."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}: {debug()}")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


_ADDR = re.compile(r"(?:c=IN IP[46] |a=candidate:\S+ \d+ \S+ \d+ )(\S+)(?: (\d+))?")


def addresses_in(sdp: str) -> set[tuple[str, int | None]]:
    """Every (address, port) in connection lines and candidates of ``sdp``."""
    return {(m.group(1), int(m.group(2)) if m.group(2) else None) for m in _ADDR.finditer(sdp)}
