"""The server, and every async test, runs on the same event loop (server/runtime.py)."""

from __future__ import annotations

import asyncio

from server import runtime


async def test_async_tests_run_on_the_servers_event_loop() -> None:
    assert runtime.name() == "uvloop"
    assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")


def test_runtime_run_returns_the_result_on_uvloop() -> None:
    async def which() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert runtime.run(which()).startswith("uvloop")

