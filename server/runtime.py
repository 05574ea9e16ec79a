"""The event loop Sulh runs on: uvloop where it is installed (Linux, macOS), else asyncio's.

uvloop runs the same asyncio code, with the loop, its sockets and its UDP transports in C
(libuv). The media relay's cost per packet is mostly event-loop work (one socket callback,
one sender wake-up), so this is where the relay's CPU goes down most; ``bench/media.py``
runs both relays it compares on this loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new uvloop loop, or asyncio's default loop where uvloop is not installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency wherever it builds
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: which implementation ``loop`` is (for logs and benches)."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def name() -> str:
    """What :func:`new_event_loop` gives."""
    loop = new_event_loop()
    try:
        return loop_name(loop)
    finally:
        loop.close()


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on :func:`new_event_loop`."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
