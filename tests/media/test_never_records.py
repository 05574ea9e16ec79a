"""Nothing is recorded: no MediaRecorder anywhere in server/, no Redis in the media layer,
and a whole session (caucus, move, joint, away) writes no file at all."""

from __future__ import annotations

import ast
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from server.media import CaseRelay, MediaConfig
from tests.media.conftest import NAMES, PORTS
from tests.media.routing import pairs, received, wait_for
from tests.support.media import SERVER_IP, Client

ROOT = Path(__file__).resolve().parents[2]
_writes: list[str] | None = None
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _writes is None:
        return
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writing and isinstance(path, (str, bytes, os.PathLike)):
            name = os.fsdecode(path)
            if "__pycache__" not in name and not name.startswith("/dev/"):
                _writes.append(f"open {name}")
    elif event in ("os.rename", "os.mkdir", "os.remove", "os.truncate", "shutil.copyfile"):
        _writes.append(f"{event} {args[0]!r}")


sys.addaudithook(_audit)


def _names(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found |= {a.name for a in node.names} | {node.module or ""}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
    return found


def test_nothing_under_server_uses_media_recorder() -> None:
    files = list((ROOT / "server").rglob("*.py"))
    assert files
    for path in files:
        names = _names(ast.parse(path.read_text(), filename=str(path)))
        assert "MediaRecorder" not in names, f"{path.relative_to(ROOT)} uses MediaRecorder"
        assert not any("contrib.media" in n for n in names), f"{path} imports aiortc.contrib.media"


def test_the_media_layer_cannot_reach_redis_or_storage() -> None:
    for path in (ROOT / "server" / "media").rglob("*.py"):
        names = _names(ast.parse(path.read_text(), filename=str(path)))
        for bad in ("redis", "server.store", "write_bytes", "write_text", "tempfile"):
            assert bad not in names, f"{path.relative_to(ROOT)} mentions {bad}"
        calls = {
            n.func.id for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        assert "open" not in calls, f"{path.relative_to(ROOT)} opens a file"


@pytest.mark.timeout(60)
async def test_a_whole_session_writes_nothing(
    loopback: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    global _writes
    workdir, tmpdir = tmp_path / "cwd", tmp_path / "tmp"
    workdir.mkdir()
    tmpdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    before = sorted(Path(tempfile.gettempdir()).iterdir())
    _writes = []
    try:
        relay = CaseRelay(MediaConfig(public_ip=SERVER_IP, ports=PORTS), ("m", "v", "r"))
        clients = {n: Client(n, code, addr) for n, (code, addr) in NAMES.items()}
        for c in clients.values():
            await c.connect(relay)
        for routes in (pairs(("m", "v")), pairs(("m", "r")), pairs(("m", "v", "r"))):
            relay.apply_routes(routes)
            await wait_for(lambda: received(clients["m"], "video", 0) > 0
                           or received(clients["m"], "video", 1) > 0, 3.0, "media")
            await asyncio.sleep(0.3)
        relay.apply_routes(frozenset())
        for c in clients.values():
            await c.close()
        await relay.close()
        found = list(_writes)
    finally:
        _writes = None
    assert found == [], f"the session wrote: {found}"
    assert list(workdir.iterdir()) == [], "files appeared in the working directory"
    assert sorted(Path(tempfile.gettempdir()).iterdir()) == before, "files appeared in TMPDIR"


def test_the_write_detector_sees_a_write(tmp_path: Path) -> None:
    """The session test above can fail: a file written while watching is reported."""
    global _writes
    _writes = []
    try:
        (tmp_path / "frame.raw").write_bytes(b"\x00")
        found = list(_writes)
    finally:
        _writes = None
    assert any("frame.raw" in w for w in found)
