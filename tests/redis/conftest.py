"""Real-Redis fixtures for this directory (see tests/support/fixtures.py)."""

from tests.support.fixtures import isolated_redis_server, redis_server

__all__ = ["isolated_redis_server", "redis_server"]
