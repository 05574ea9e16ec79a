"""Canaries: plant unique strings in the victim's chat plaintext, pseudonym and key,
run a realistic shuttle session, and search everywhere they must not be: the
respondent's wire, the store (every Redis key, listed with ``redis-cli --scan`` and
dumped by type), Redis pub/sub traffic (plaintext only) and the server's logs.

Positive controls make the test able to fail: the pseudonym must reach the mediator's
console, and the plaintext must come out of the mediator's box with the right keys
(and only with them).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import nacl.exceptions
import pytest
from nacl.public import Box, PrivateKey, PublicKey

from server.store.memory import MemoryStore
from tests.server.conftest import Node
from tests.server.hostile_kit import mediator_session, settle, wait_disconnected
from tests.support.client import Person, post
from tests.support.waiting import eventually

TRANSPORT_LOGGERS = ("socketio.server", "engineio.server")
"""Loggers the server configures itself (``logger=False``: errors only). Raising them to
DEBUG would test a configuration the server never runs; the test checks they stay quiet."""


def _needles(canaries: dict[str, str]) -> list[bytes]:
    return [v.encode() for v in canaries.values()]


async def _redis_dump(node: Node) -> dict[bytes, bytes]:
    """Every key under the node's prefix with its whole value, read by type."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(str(node.redis_url))
    dump: dict[bytes, bytes] = {}
    try:
        async for key in client.scan_iter(match=node.prefix + "*", count=1000):
            kind = (await client.type(key)).decode()
            if kind == "string":
                value = await client.get(key) or b""
            elif kind == "hash":
                value = b"\0".join(k + b"=" + v for k, v in (await client.hgetall(key)).items())
            elif kind == "list":
                value = b"\0".join(await client.lrange(key, 0, -1))
            elif kind == "set":
                value = b"\0".join(sorted(await client.smembers(key)))
            elif kind == "zset":
                value = b"\0".join(m for m, _ in await client.zrange(key, 0, -1, withscores=True))
            else:
                raise AssertionError(f"unexpected Redis type {kind} at {key!r}")
            dump[key] = value
    finally:
        await client.aclose()
    return dump


def _redis_cli_keys(node: Node) -> set[bytes] | None:
    """The same keys as ``redis-cli --scan`` sees them (None if redis-cli is absent)."""
    cli = shutil.which("redis-cli")
    if cli is None:
        return None
    out = subprocess.run(
        [cli, "-u", str(node.redis_url), "--scan", "--pattern", node.prefix + "*"],
        check=True,
        capture_output=True,
        timeout=10,
    ).stdout
    return {line for line in out.split(b"\n") if line}


async def _assert_store_clean(node: Node, needles: list[bytes]) -> int:
    """No needle in any stored byte; returns how many keys/records were searched."""
    if node.backend == "redis":
        dump = await _redis_dump(node)
        cli_keys = _redis_cli_keys(node)
        if cli_keys is not None:
            assert cli_keys == set(dump), "redis-cli --scan and SCAN disagree"
        blob = b"\n".join(k + b" " + v for k, v in dump.items())
        count = len(dump)
    else:
        store = node.store
        assert isinstance(store, MemoryStore)
        blob = repr(vars(store)).encode()
        count = len(blob)
    for needle in needles:
        assert needle not in blob, f"canary {needle[:20]!r} found in the {node.backend} store"
    return count


@asynccontextmanager
async def _pubsub_tap(node: Node) -> AsyncIterator[list[bytes]]:
    """Everything published on the socket.io channel while the block runs (Redis only)."""
    seen: list[bytes] = []
    if node.backend != "redis":
        yield seen
        return
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(str(node.redis_url))
    pubsub = client.pubsub()
    await pubsub.subscribe(node.prefix + "socketio")

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                seen.append(message["data"])

    task = asyncio.ensure_future(listen())
    try:
        yield seen
    finally:
        task.cancel()
        await pubsub.aclose()
        await client.aclose()


async def _people(node: Node, pseudonym: str) -> tuple[Person, Person, Person]:
    """Open a case and connect all three; the victim gives ``pseudonym`` at connect."""
    token = await mediator_session(node)
    created = await node.open_case(token, label="Case 1")
    case_id = str(created["case_id"])
    m = Person(node.base_url, token, "mediator", case_id=case_id)
    parties = []
    for role in ("victim", "respondent"):
        invite = str(created["invites"][role]).split("#", 1)[1]  # type: ignore[index]
        status, body = await post(node.base_url, "/api/invites/redeem", {"token": invite})
        assert status == 200, body
        parties.append(Person(node.base_url, body["session"], role, case_id=case_id))
    v, r = parties
    await m.connect()
    await v.connect(pseudonym=pseudonym)
    await r.connect()
    for p in (m, v, r):
        await p.ok("key.publish", {"public_key": p.public_b64})
    return m, v, r


def _opens_with(box: dict[str, str], mine: PrivateKey, theirs: str) -> bytes | None:
    try:
        return bytes(
            Box(mine, PublicKey(base64.b64decode(theirs))).decrypt(
                base64.b64decode(box["ciphertext"]), base64.b64decode(box["nonce"])
            )
        )
    except nacl.exceptions.CryptoError:
        return None


async def test_the_victims_canaries_are_found_nowhere_they_must_not_be(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("sulh", "aiohttp", "redis", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    tag = uuid.uuid4().hex[:12].upper()
    text_canary = f"TXTCANARY{tag}"
    nick_canary = f"NICK{tag}"
    canaries = {"text": text_canary, "pseudonym": nick_canary}

    async with _pubsub_tap(node) as published:
        m, v, r = await _people(node, nick_canary)
        try:
            ms = await m.wait_state(
                lambda s: all(p["public_key"] and p["online"] for p in s["participants"])
            )
            ids = {p["role"]: p["id"] for p in ms["participants"]}
            mid, vid, rid = ids["mediator"], ids["victim"], ids["respondent"]
            canaries["victim_key"] = v.public_b64
            raw_keys = [bytes(v.key.public_key)]
            await v.wait_state(lambda s: bool(s["peers"][0]["public_key"]))
            await r.wait_state(lambda s: bool(s["peers"][0]["public_key"]))

            # The shuttle: the mediator visits each caucus; messages go both ways.
            await m.ok("mediator.move", {"to": "victim_caucus"})
            sent = await v.send_text({mid: v.peer_key(mid)}, f"he has the photos {text_canary}")
            assert sent["ok"], sent
            got = await m.wait_event("chat.message", lambda d: d["from"] == vid)
            await m.send_text({vid: m.peer_key(vid)}, "thank you", place="victim_caucus")
            await v.wait_event("chat.message")
            # The victim's browser makes a new key pair (a reload): a second key canary.
            v.key = PrivateKey.generate()
            canaries["victim_key_2"] = v.public_b64
            raw_keys.append(bytes(v.key.public_key))
            await v.ok("key.publish", {"public_key": v.public_b64})
            await m.ok("mediator.move", {"to": "respondent_caucus"})
            await r.send_text({mid: r.peer_key(mid)}, "I want this over")
            await m.wait_event("chat.message", lambda d: d["from"] == rid)
            await m.send_text({rid: m.peer_key(rid)}, "delete them", place="respondent_caucus")
            await r.wait_event("chat.message")
            await m.wait_state(lambda s: _key_of(s, vid) == canaries["victim_key_2"])
            await m.send_text({vid: m.peer_key(vid)}, "still here", place="victim_caucus")
            await eventually(lambda: len(v.events("chat.message")) == 2)
            await r.ok("chat.history", {})
            await v.ok("chat.history", {})
            await m.ok("chat.history", {"place": "victim_caucus"})
            await m.ok("mediator.move", {"to": "away"})

            # Mid-session, while the pseudonym and keys are live, the store is clean.
            # (Participant ids are opaque and do live in the store, as key names.)
            searched = await _assert_store_clean(node, _needles(canaries) + raw_keys)
            assert searched > 0

            await v.ok("safety.exit")
            await m.wait_event("notice", lambda d: d["code"] == "party_safety_exit")
            await wait_disconnected(v)
            await settle()
            await _assert_store_clean(node, _needles(canaries) + raw_keys)

            # Positive controls: the canaries were really planted where they belong.
            assert nick_canary in m.wire_dump(), "the pseudonym must reach the mediator"
            assert canaries["victim_key"] in m.wire_dump()
            plain = _opens_with(got["box"], m.key, canaries["victim_key"])
            assert plain is not None and text_canary in json.loads(plain)["text"]
            assert _opens_with(got["box"], r.key, canaries["victim_key"]) is None
            assert _opens_with(got["box"], r.key, m.public_b64) is None
            assert _opens_with(got["box"], PrivateKey.generate(), m.public_b64) is None
            assert text_canary not in m.wire_dump()  # on the wire only as ciphertext

            # The respondent's socket got nothing of the victim: no canary, no ciphertext,
            # no sign of the safety exit.
            wire = r.wire_dump()
            for name, value in (canaries | {"participant id": vid}).items():
                assert value not in wire, f"victim's {name} reached the respondent"
            assert got["box"]["ciphertext"] not in wire
            assert "party_safety_exit" not in wire and "safety" not in wire
        finally:
            for p in (m, v, r):
                await p.close()
        await settle()

    for message in published:
        assert text_canary.encode() not in message, "plaintext crossed Redis pub/sub"
    if node.backend == "redis":
        assert published, "the pub/sub tap saw nothing: it was not listening"

    # Logs: every record, its arguments and any traceback text.
    records = caplog.records
    assert any(rec.name == "sulh" for rec in records), "no server log was captured"
    for rec in records:
        text = " ".join(
            [rec.getMessage(), repr(rec.args), rec.exc_text or "", str(getattr(rec, "msg", ""))]
        )
        for name, value in (canaries | {"participant id": vid}).items():
            assert value not in text, f"victim's {name} in a {rec.name} log record"
    for name in TRANSPORT_LOGGERS:
        assert logging.getLogger(name).getEffectiveLevel() >= logging.ERROR, name


def _key_of(state: dict[str, Any], pid: str) -> str | None:
    return next((p["public_key"] for p in state["participants"] if p["id"] == pid), None)
