"""Pytest fixtures for a real Redis. Import them into a conftest.py (or list this module in
``pytest_plugins`` of the root conftest)::

    from tests.support.fixtures import isolated_redis_server, redis_server  # noqa: F401

A missing ``redis-server`` skips the test, unless ``SULH_REQUIRE_ALL=1`` (CI), where it fails:
a run that claims to cover everything must not quietly skip the Redis half.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.redis_server import RedisServer, RedisServerUnavailable


def start_redis_server() -> RedisServer:
    """A started ``RedisServer``, or skip/fail the calling test if there is none."""
    try:
        server = RedisServer()
        try:
            server.start()
        except BaseException:
            server.close()
            raise
    except RedisServerUnavailable as exc:
        reason = f"real Redis needed: {exc}"
        if os.environ.get("SULH_REQUIRE_ALL") == "1":
            pytest.fail(f"{reason} (SULH_REQUIRE_ALL=1 forbids skipping)")
        pytest.skip(reason)
    return server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis for the session. Share it through unique key prefixes; do not stop it."""
    server = start_redis_server()
    yield server
    server.close()


@pytest.fixture
def isolated_redis_server() -> Iterator[RedisServer]:
    """A Redis of this test's own, which it may ``stop()`` and ``restart()``."""
    server = start_redis_server()
    yield server
    server.close()
