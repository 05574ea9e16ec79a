"""Per-connection token buckets: every event costs a token; an empty bucket refuses."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Bucket:
    """``rate`` tokens per second up to ``burst``; starts full."""

    rate: float
    burst: float
    tokens: float
    stamp: float

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if there are enough; refill by elapsed time first."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


class RateLimiter:
    """One bucket per (connection, event class). Forget a connection when it closes."""

    def __init__(
        self,
        limits: dict[str, tuple[float, float]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._buckets: dict[tuple[str, str], Bucket] = {}

    def allow(self, sid: str, klass: str) -> bool:
        """Whether connection ``sid`` may send one more event of ``klass`` now."""
        now = self._clock()
        bucket = self._buckets.get((sid, klass))
        if bucket is None:
            rate, burst = self._limits[klass]
            bucket = self._buckets[(sid, klass)] = Bucket(rate, burst, burst, now)
        return bucket.take(now)

    def forget(self, sid: str) -> None:
        """Drop a closed connection's buckets (no growth over time)."""
        for key in [k for k in self._buckets if k[0] == sid]:
            del self._buckets[key]


DEFAULT_LIMITS: dict[str, tuple[float, float]] = {
    # (tokens per second, burst)
    "chat": (5.0, 20.0),
    "control": (5.0, 20.0),
    "rtc": (1.0, 5.0),
    "read": (5.0, 20.0),
}
