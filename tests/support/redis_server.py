"""A throwaway ``redis-server`` process for tests: its own port, its own temp dir, no disk.

Tests must never touch a Redis that something else is using (the machine's 6379 may hold a
developer's data), so every ``RedisServer`` picks a free port on 127.0.0.1 and persists
nothing. ``stop()`` and ``restart()`` keep the port, so a test can simulate an outage and
check that clients recover when the same address answers again.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class RedisServerUnavailable(RuntimeError):
    """No ``redis-server`` binary, or it would not start: the caller decides skip or fail."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` child process on 127.0.0.1 that saves nothing to disk.

    Starting blocks until the server answers PING (at most ``READY_TIMEOUT`` seconds) so a
    test never races the server's startup. Use as a context manager, or call ``close()``.
    """

    def __init__(self, binary: str | None = None) -> None:
        found = binary or shutil.which("redis-server")
        if found is None:
            raise RedisServerUnavailable("redis-server not found on PATH")
        self._binary = found
        self._dir = Path(tempfile.mkdtemp(prefix="sulh-redis-"))
        self._port = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        """The TCP port; the same across ``restart()``."""
        return self._port

    @property
    def url(self) -> str:
        """A redis:// URL for this server (database 0)."""
        return f"redis://127.0.0.1:{self._port}/0"

    @property
    def dir(self) -> Path:
        """The server's working dir (where a dump would land; with ``save ""`` none does)."""
        return self._dir

    @property
    def running(self) -> bool:
        """True while the child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def _options(self) -> list[str]:
        """Loopback only, no RDB snapshots, no AOF, in the foreground (so we own the pid)."""
        options = {
            "port": str(self._port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "daemonize": "no",
            "dir": str(self._dir),
        }
        return [arg for name, value in options.items() for arg in (f"--{name}", value)]

    def start(self) -> None:
        """Start the server on this object's port; return once it answers PING."""
        if self.running:
            return
        log = (self._dir / "redis.log").open("ab")
        try:
            self._proc = subprocess.Popen(
                [self._binary, *self._options()],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if _answers_ping(self._port):
                return
            time.sleep(0.01)
        self.stop()
        raise RedisServerUnavailable(
            f"redis-server on port {self._port} did not answer PING within "
            f"{READY_TIMEOUT}s; log:\n{self.log_tail()}"
        )

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers (a hung Redis)."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: undo ``freeze``."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); its data is gone, the port is kept."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)  # a frozen server cannot act on SIGTERM
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)

    def restart(self) -> None:
        """Stop, then start again on the same port (an empty server: nothing is saved)."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove its temp dir."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the server's log, for error messages."""
        try:
            return (self._dir / "redis.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
