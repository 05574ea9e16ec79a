"""Two server processes sharing one real Redis: one deployment, several nodes.

The victim and the respondent may land on different nodes than the mediator; chat,
moves and state must cross nodes, and separation must hold across them too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.client import Person, post
from tests.support.redis_server import RedisServer
from tests.support.waiting import quiet

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "two nodes share one redis"
CANARY = "CANARY-two-nodes-7f3a"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"node exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("node did not become ready")


@pytest.fixture
def nodes(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """Two `python -m server` processes with one Redis, one key file, separate data dirs."""
    prefix = f"two{uuid.uuid4().hex[:8]}:"
    key_file = tmp_path / "secret.key"
    key_file.write_bytes(os.urandom(32))
    base_env = {
        **os.environ,
        "SULH_REDIS_URL": redis_server.url,
        "SULH_REDIS_PREFIX": prefix,
        "SULH_SECRET_KEY_FILE": str(key_file),
    }
    subprocess.run(
        [sys.executable, "-m", "server", "add-mediator", "m@example.org"],
        input=PASSWORD.encode(),
        env={**base_env, "SULH_DATA_DIR": str(tmp_path / "admin")},
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=30,
    )
    procs, urls, logs = [], [], []
    try:
        for i in (1, 2):
            port = _free_port()
            log_path = tmp_path / f"node{i}.log"
            env = {**base_env, "SULH_PORT": str(port), "SULH_DATA_DIR": str(tmp_path / f"n{i}")}
            log_file = log_path.open("wb")
            logs.append(log_file)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "server"],
                    env=env,
                    cwd=ROOT,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs, strict=True):
            _wait_healthy(url, proc)
        yield urls[0], urls[1], tmp_path
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for f in logs:
            f.close()


async def _case(node_for: dict[str, str]) -> tuple[Person, Person, Person]:
    mediator_url = node_for["mediator"]
    status, body = await post(
        mediator_url, "/api/login", {"email": "m@example.org", "password": PASSWORD}
    )
    assert status == 200, body
    token = body["session"]
    status, created = await post(mediator_url, "/api/cases", {"label": "cross-node"}, token=token)
    assert status == 201, created
    people = {"mediator": Person(mediator_url, token, "mediator", case_id=created["case_id"])}
    for role in ("victim", "respondent"):
        invite = created["invites"][role].split("#", 1)[1]
        status, red = await post(node_for[role], "/api/invites/redeem", {"token": invite})
        assert status == 200, red
        people[role] = Person(node_for[role], red["session"], role, case_id=created["case_id"])
    await people["mediator"].connect()
    await people["victim"].connect(pseudonym=CANARY)
    await people["respondent"].connect()
    for p in people.values():
        await p.ok("key.publish", {"public_key": p.public_b64})
    return people["mediator"], people["victim"], people["respondent"]


@pytest.mark.parametrize("respondent_node", [1, 2])
async def test_chat_and_moves_cross_nodes_and_separation_holds(
    nodes: tuple[str, str, Path], respondent_node: int
) -> None:
    node1, node2, tmp = nodes
    m, v, r = await _case(
        {"mediator": node2, "victim": node1, "respondent": node1 if respondent_node == 1 else node2}
    )
    ms = await m.wait_state(
        lambda s: all(p["online"] and p["public_key"] for p in s["participants"])
    )
    assert {p["pseudonym"] for p in ms["participants"]} >= {CANARY}  # the canary was planted
    m_id = ms["me"]["id"]
    v_id = next(p["id"] for p in ms["participants"] if p["role"] == "victim")
    await v.wait_state(lambda s: s["peers"][0]["public_key"] is not None)

    # Chat from node 1 to node 2 and back.
    ack = await v.send_text({m_id: v.peer_key(m_id)}, f"secret {CANARY}")
    assert ack["ok"], ack
    msg = await m.wait_event("chat.message")
    assert CANARY in json.loads(m.open_from(m.peer_key(v_id), msg["box"]))["text"]
    await m.send_text({v_id: m.peer_key(v_id)}, "answer from node 2", place="victim_caucus")
    got = await v.wait_event("chat.message")
    assert json.loads(v.open_from(v.peer_key(m_id), got["box"]))["text"] == "answer from node 2"

    # Moves made on node 2 reach parties on node 1 (and 2).
    await m.ok("mediator.move", {"to": "victim_caucus"})
    await v.wait_state(lambda s: s["mediator"] == "with_you")
    await r.wait_state(lambda s: s["mediator"] == "with_other_party")
    await m.ok("mediator.move", {"to": "respondent_caucus"})
    await v.wait_event("notice", lambda d: d["code"] == "mediator_left_for_other_party")
    await r.wait_state(lambda s: s["mediator"] == "with_you")

    # The victim leaves with a safety exit; the mediator on the other node learns it.
    await v.ok("safety.exit")
    await m.wait_event("notice", lambda d: d["code"] == "party_safety_exit")
    await quiet(0.5)

    dump = r.wire_dump()
    for secret in (v_id, CANARY, v.public_b64, "safety"):
        assert secret not in dump, f"respondent received {secret!r}"
    assert r.events("chat.message") == []
    for log in tmp.glob("node*.log"):
        text = log.read_text()
        assert CANARY not in text and v.public_b64 not in text and v.session not in text
    for p in (m, r):
        await p.close()
