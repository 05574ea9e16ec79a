"""The command line a newcomer and an operator use: demo, add-mediator, bad settings."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.client import post

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SULH_")}
    return {**env, "SULH_DATA_DIR": str(tmp_path / "data"), **extra}


def _serve(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """``python -m server ARGS`` with its stdout readable."""
    return subprocess.Popen(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


async def test_demo_prints_a_working_login_and_two_working_invites(tmp_path: Path) -> None:
    port = _free_port()
    proc = _serve(tmp_path, "--port", str(port), "demo")
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while time.monotonic() < deadline and not any("Case id" in line for line in lines):
            lines.append(proc.stdout.readline())
        text = "".join(lines)
        base = f"http://127.0.0.1:{port}"
        email = re.search(r"email:\s+(\S+)", text)
        password = re.search(r"password:\s+(\S+)", text)
        invites = re.findall(re.escape(base) + r"/join#(\S+)", text)
        assert email and password and len(invites) == 2, text
        status, body = await post(base, "/api/login", {"email": email[1], "password": password[1]})
        assert status == 200 and body["session"]
        roles = set()
        for token in invites:
            status, body = await post(base, "/api/invites/redeem", {"token": token})
            assert status == 200, body
            roles.add(body["role"])
        assert roles == {"victim", "respondent"}
        assert not (tmp_path / "data" / "mediators.json").exists()  # the demo account is not kept
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_add_mediator_reads_the_password_from_stdin_and_refuses_a_short_one(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "server", "add-mediator", "new@example.org"]
    short = subprocess.run(
        run,
        cwd=ROOT,
        env=_env(tmp_path),
        input="short\n",
        text=True,
        capture_output=True,
        timeout=30,
    )
    assert short.returncode == 2 and "12 characters" in short.stderr
    ok = subprocess.run(
        run,
        cwd=ROOT,
        env=_env(tmp_path),
        input="a long enough password\n",
        text=True,
        capture_output=True,
        timeout=30,
    )
    assert ok.returncode == 0, ok.stderr
    stored = (tmp_path / "data" / "mediators.json").read_text()
    assert "new@example.org" not in stored and "a long enough password" not in stored
    assert "argon2id" in stored


def test_a_malformed_setting_stops_the_server_with_a_clear_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server"],
        cwd=ROOT,
        env=_env(tmp_path, SULH_RETENTION="forever"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "SULH_RETENTION" in result.stderr and "72h" in result.stderr


async def test_the_server_says_where_it_serves_and_on_which_event_loop(tmp_path: Path) -> None:
    port = _free_port()
    proc = _serve(tmp_path, "--port", str(port))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.strip() == f"Sulh serving on http://127.0.0.1:{port} (uvloop)", first
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        status = 0
        while time.monotonic() < deadline and status != 401:
            try:
                status, _ = await post(base, "/api/login", {"email": "x@example.org",
                                                            "password": "not the password"})
            except OSError:
                await asyncio.sleep(0.1)
        assert status == 401, "the server on uvloop did not answer"
    finally:
        proc.terminate()
        proc.wait(10)
