"""Suite-wide rules.

With ``SULH_REQUIRE_ALL=1`` (set by .ci/run) a skipped test is reported as a failure:
CI must run everything, so a missing redis-server or browser can never look green.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Generator

import pytest

from server import runtime


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and os.environ.get("SULH_REQUIRE_ALL") == "1":
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped under SULH_REQUIRE_ALL=1 (CI runs everything): {reason}"
    return report


_LOOP = runtime.name()


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every async test runs on the loop the server runs on (server/runtime.py)."""
    return {_LOOP: runtime.new_event_loop}
