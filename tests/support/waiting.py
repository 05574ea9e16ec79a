"""Bounded waiting for conditions observed over real sockets (never a bare sleep)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def eventually(
    condition: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01
) -> None:
    """Return as soon as ``condition()`` holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def quiet(seconds: float = 0.3) -> None:
    """Let in-flight messages land before asserting that something did NOT arrive."""
    await asyncio.sleep(seconds)
