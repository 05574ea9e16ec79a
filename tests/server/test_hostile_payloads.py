"""Malformed and oversized payloads, and floods. Every one gets a clear code on the
acknowledgement, never a crash, a hang or a state change, and nothing of the other
party reaches the attacker."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

from tests.server.conftest import Node
from tests.server.hostile_kit import (
    Scene,
    refused,
    scene,
    settle,
    wait_disconnected,
    without_presence,
)
from tests.support.client import b64


def _box(nonce: bytes = b"\0" * 24, ct: bytes = b"\1" * 48) -> dict[str, str]:
    return {"nonce": b64(nonce), "ciphertext": b64(ct)}


def _chat(sc: Scene, box: Any = None, **over: Any) -> dict[str, Any]:
    """A respondent's chat.send to the mediator, with parts replaced by ``over``."""
    payload = {"id": "m1", "boxes": {sc.mid: box if box is not None else _box()}}
    payload.update(over)
    return payload


async def _unchanged(sc: Scene, attacker: Any, event: str, payload: Any, code: str) -> None:
    before = await sc.case()
    await refused(attacker, event, payload, code)
    await settle()
    assert await sc.case() == before
    assert await sc.node.store.messages(sc.case_id) == []
    assert attacker.sio.connected
    sc.assert_no_trace_of("victim", sc.r)
    sc.assert_no_trace_of("respondent", sc.v)


# (event, payload builder, code): each builder gets the scene so it can name real ids.
MALFORMED = [
    pytest.param(
        "key.publish", lambda sc: ["not", "an", "object"], "invalid", id="key-list-payload"
    ),
    pytest.param("key.publish", lambda sc: "just a string", "invalid", id="key-string-payload"),
    pytest.param("key.publish", lambda sc: None, "invalid", id="key-no-payload"),
    pytest.param("key.publish", lambda sc: (None,), "invalid", id="key-null-payload"),
    pytest.param("key.publish", lambda sc: {"public_key": 12345}, "invalid", id="key-number"),
    pytest.param(
        "key.publish", lambda sc: {"public_key": "!!not base64!!"}, "invalid", id="key-bad-base64"
    ),
    pytest.param(
        "key.publish", lambda sc: {"public_key": b64(os.urandom(31))}, "invalid", id="key-31-bytes"
    ),
    pytest.param(
        "key.publish", lambda sc: {"public_key": b64(os.urandom(33))}, "invalid", id="key-33-bytes"
    ),
    pytest.param(
        "key.publish",
        lambda sc: {"public_key": b64(os.urandom(32)), "owner": sc.vid},
        "invalid",
        id="key-extra-field",
    ),
    pytest.param(
        "key.publish", lambda sc: {"public_key": {"$ne": None}}, "invalid", id="key-nested-junk"
    ),
    pytest.param("joint.consent", lambda sc: {"agree": "yes"}, "invalid", id="agree-yes-string"),
    pytest.param("joint.consent", lambda sc: {"agree": 1}, "invalid", id="agree-one"),
    pytest.param("joint.consent", lambda sc: {}, "invalid", id="agree-missing"),
    pytest.param("mediator.move", lambda sc: {"to": ["victim_caucus"]}, "invalid", id="move-list"),
    pytest.param("state.get", lambda sc: 42, "invalid", id="state-get-number"),
    pytest.param("state.get", lambda sc: b"\x00\x01binary", "invalid", id="binary-attachment"),
    pytest.param("chat.send", lambda sc: _chat(sc, id="../../etc"), "invalid", id="chat-id-path"),
    pytest.param("chat.send", lambda sc: _chat(sc, id="x" * 65), "invalid", id="chat-id-65-chars"),
    pytest.param("chat.send", lambda sc: _chat(sc, id=None), "invalid", id="chat-id-null"),
    pytest.param("chat.send", lambda sc: _chat(sc, boxes={}), "invalid", id="chat-no-boxes"),
    pytest.param(
        "chat.send", lambda sc: _chat(sc, boxes=[_box()]), "invalid", id="chat-boxes-list"
    ),
    pytest.param(
        "chat.send", lambda sc: _chat(sc, _box(nonce=b"\0" * 23)), "invalid", id="chat-nonce-23"
    ),
    pytest.param(
        "chat.send", lambda sc: _chat(sc, _box(nonce=b"\0" * 25)), "invalid", id="chat-nonce-25"
    ),
    pytest.param(
        "chat.send",
        lambda sc: _chat(sc, _box(ct=b"\1" * 15)),
        "invalid",
        id="chat-ct-shorter-than-mac",
    ),
    pytest.param(
        "chat.send",
        lambda sc: _chat(sc, {"nonce": "%%%", "ciphertext": "%%%"}),
        "invalid",
        id="chat-box-bad-base64",
    ),
    pytest.param(
        "chat.send",
        lambda sc: _chat(sc, _box() | {"plaintext": "hi"}),
        "invalid",
        id="chat-box-extra-field",
    ),
    pytest.param(
        "chat.send",
        lambda sc: _chat(sc, {"nonce": {"a": [1, {"b": None}]}, "ciphertext": 7}),
        "invalid",
        id="chat-box-nested-junk",
    ),
    pytest.param("chat.send", lambda sc: _chat(sc, place=7), "invalid", id="chat-place-number"),
    pytest.param(
        "chat.history",
        lambda sc: {"place": "victim_caucus", "limit": 10**9},
        "invalid",
        id="history-extra-field",
    ),
]


@pytest.mark.parametrize("node", ["memory"], indirect=True)
@pytest.mark.parametrize(("event", "build", "code"), MALFORMED)
async def test_a_malformed_payload_is_refused_and_changes_nothing(
    node: Node, event: str, build: Any, code: str
) -> None:
    """Schemas are checked before the store is touched, so one store is enough here;
    the size, flood and connect attacks below run against both."""
    async with scene(node) as sc:
        await _unchanged(sc, sc.r, event, build(sc), code)


# -- sizes ------------------------------------------------------------------------------


async def test_a_control_event_over_its_size_cap_is_refused(node: Node) -> None:
    async with scene(node) as sc:
        payload = {"public_key": b64(os.urandom(32)), "pad": "x" * 4096}
        await _unchanged(sc, sc.r, "key.publish", payload, "too_large")


async def test_a_chat_event_over_its_size_cap_is_refused(node: Node) -> None:
    async with scene(node) as sc:
        big = {f"p{i}": _box(ct=os.urandom(8 * 1024)) for i in range(5)}  # ~55 KB of JSON
        await _unchanged(sc, sc.r, "chat.send", _chat(sc, boxes=big), "too_large")


async def test_a_huge_ciphertext_is_refused(node: Node) -> None:
    async with scene(node) as sc:
        payload = _chat(sc, _box(ct=os.urandom(16 * 1024)))
        await _unchanged(sc, sc.r, "chat.send", payload, "too_large")


async def test_too_many_recipients_are_refused(node: Node) -> None:
    async with scene(node) as sc:
        boxes = {sc.mid: _box(), "a1": _box(), "a2": _box(), "a3": _box()}
        await _unchanged(sc, sc.r, "chat.send", _chat(sc, boxes=boxes), "invalid")


async def test_a_frame_over_the_transport_limit_closes_the_socket_and_nothing_else(
    node: Node,
) -> None:
    """Over max_http_buffer_size (64 KiB) the transport drops the connection before any
    handler runs; the server goes on serving everyone else."""
    async with scene(node) as sc:
        before = await sc.case()
        await sc.r.sio.emit("state.get", {"pad": "x" * (70 * 1024)})
        await wait_disconnected(sc.r)
        await sc.m.wait_state(lambda s: not _online(s, sc.rid))
        assert without_presence(await sc.case(), sc.rid) == without_presence(before, sc.rid)
        assert (await sc.v.ok("state.get"))["state"]["me"]["id"] == sc.vid
        sc.assert_no_trace_of("victim", sc.r)


def _online(state: dict[str, Any], pid: str) -> bool:
    return any(p["id"] == pid and p["online"] for p in state["participants"])


async def test_a_10kb_pseudonym_is_refused_at_connect(node: Node) -> None:
    from tests.server.hostile_kit import connect_error, refusal_code

    async with scene(node) as sc:
        before = await sc.case()
        said = await connect_error(
            node.base_url, {"session": sc.v.session, "pseudonym": "A" * 10_240}
        )
        assert refusal_code(said) == "too_large"
        assert await sc.case() == before
        said = await connect_error(
            node.base_url, {"session": sc.v.session, "pseudonym": "x\u0000y"}
        )
        assert refusal_code(said) == "invalid"
        assert await sc.case() == before
        assert "A" * 100 not in sc.m.wire_dump()


# -- floods ---------------------------------------------------------------------------


async def test_a_burst_of_events_is_rate_limited_without_a_crash(node: Node) -> None:
    async with scene(node) as sc:
        before = await sc.case()
        acks = await asyncio.gather(*(sc.r.sio.call("state.get", timeout=5) for _ in range(60)))
        codes = [a["error"]["code"] if not a["ok"] else "ok" for a in acks]
        assert set(codes) == {"ok", "rate_limited"}, codes
        assert 15 <= codes.count("ok") <= 40, codes  # burst 20, plus refills meanwhile
        await asyncio.sleep(0.5)  # the bucket refills: the connection is usable again
        assert (await sc.r.ok("state.get"))["state"]["me"]["id"] == sc.rid
        assert await sc.case() == before
        sc.assert_no_trace_of("victim", sc.r)


async def test_a_chat_flood_is_rate_limited_and_the_mediator_gets_only_what_passed(
    node: Node,
) -> None:
    async with scene(node) as sc:
        key = sc.r.peer_key(sc.mid)
        body = json.dumps({"text": "spam"}).encode()
        payloads = [
            {"id": f"spam{i}", "boxes": {sc.mid: sc.r.seal_for(key, body)}} for i in range(40)
        ]
        acks = await asyncio.gather(*(sc.r.sio.call("chat.send", p, timeout=5) for p in payloads))
        passed = [p["id"] for p, a in zip(payloads, acks, strict=True) if a["ok"]]
        limited = [a for a in acks if not a["ok"]]
        assert limited and all(a["error"]["code"] == "rate_limited" for a in limited)
        await sc.m.wait_event("chat.message", lambda d: d["id"] == passed[-1])
        await settle()
        assert sorted(d["id"] for d in sc.m.events("chat.message")) == sorted(passed)
        assert sc.v.events("chat.message") == []


async def test_unknown_events_are_rate_limited_too(node: Node) -> None:
    async with scene(node) as sc:
        acks = await asyncio.gather(*(sc.r.sio.call("x.flood", {}, timeout=5) for _ in range(40)))
        codes = {a["error"]["code"] for a in acks}
        assert codes == {"invalid", "rate_limited"}, codes
