"""The test helper itself: Redis tests rely on it for isolation and for simulated outages."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support.fixtures import start_redis_server
from tests.support.redis_server import RedisServer, RedisServerUnavailable


def _ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"SET k v\r\nPING\r\n")
        return sock.recv(64)


def test_the_server_is_private_and_answers_on_its_own_port(
    isolated_redis_server: RedisServer,
) -> None:
    assert isolated_redis_server.port != 6379
    assert isolated_redis_server.url == f"redis://127.0.0.1:{isolated_redis_server.port}/0"
    assert _ping(isolated_redis_server.port) == b"+OK\r\n+PONG\r\n"


def test_stop_refuses_connections_and_restart_answers_on_the_same_port(
    isolated_redis_server: RedisServer,
) -> None:
    port = isolated_redis_server.port
    isolated_redis_server.stop()
    assert not isolated_redis_server.running
    with pytest.raises(ConnectionRefusedError):
        _ping(port)
    isolated_redis_server.restart()
    assert isolated_redis_server.port == port
    assert _ping(port).endswith(b"+PONG\r\n")


def test_nothing_is_written_to_disk(isolated_redis_server: RedisServer) -> None:
    _ping(isolated_redis_server.port)
    isolated_redis_server.stop()
    assert sorted(p.name for p in isolated_redis_server.dir.iterdir()) == ["redis.log"]


def test_close_removes_the_temp_dir() -> None:
    server = start_redis_server()
    server.close()
    assert not server.dir.exists()


def test_a_missing_binary_raises_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RedisServerUnavailable, match="redis-server not found"):
        RedisServer()


def test_a_missing_binary_skips_unless_everything_is_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("SULH_REQUIRE_ALL", raising=False)
    with pytest.raises(pytest.skip.Exception):
        start_redis_server()
    monkeypatch.setenv("SULH_REQUIRE_ALL", "1")
    with pytest.raises(pytest.fail.Exception, match="SULH_REQUIRE_ALL=1"):
        start_redis_server()
