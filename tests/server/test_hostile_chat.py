"""Hostile parties abusing the encrypted chat: boxes addressed to people outside the
room, rooms that are not theirs, other people's history, replays, and id oracles.
A refused send is refused whole: no box of it is stored or delivered to anyone."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from tests.server.conftest import Node
from tests.server.hostile_kit import Scene, refused, scene, settle
from tests.support.client import Person


def _payload(sender: Person, to: dict[str, str], text: str, **extra: Any) -> dict[str, Any]:
    """A well-formed chat.send payload: one real NaCl box per recipient {pid: key}."""
    mid = secrets.token_hex(8)
    body = json.dumps({"id": mid, "text": text}).encode()
    return {"id": mid, "boxes": {pid: sender.seal_for(k, body) for pid, k in to.items()}, **extra}


async def _refused_whole(sc: Scene, sender: Person, payload: Any, code: str) -> None:
    """The send is refused with ``code``; nothing is stored; nobody receives a box."""
    before = await sc.case()
    await refused(sender, "chat.send", payload, code)
    await settle()
    assert await sc.node.store.messages(sc.case_id) == []
    for person in (sc.m, sc.v, sc.r):
        assert person.events("chat.message") == [], person.role
    assert await sc.case() == before
    sc.assert_no_trace_of("victim", sc.r)
    sc.assert_no_trace_of("respondent", sc.v)


async def test_a_box_addressed_to_the_other_party_is_refused(node: Node) -> None:
    async with scene(node) as sc:
        # The respondent somehow holds the victim's id and key (say, from an old joint).
        to = {sc.vid: sc.v.public_b64}
        await _refused_whole(sc, sc.r, _payload(sc.r, to, "I know where you live"), "not_permitted")


async def test_a_box_addressed_to_another_cases_participant_is_refused(node: Node) -> None:
    async with scene(node) as sc, scene(node) as other:
        to = {sc.mid: sc.r.peer_key(sc.mid), other.vid: other.v.public_b64}
        await _refused_whole(sc, sc.r, _payload(sc.r, to, "hello stranger"), "not_permitted")
        assert other.v.events("chat.message") == []
        assert await node.store.messages(other.case_id) == []


async def test_a_box_addressed_to_another_cases_mediator_is_refused(node: Node) -> None:
    async with scene(node) as sc, scene(node) as other:
        to = {other.mid: other.m.public_b64}
        await _refused_whole(sc, sc.v, _payload(sc.v, to, "help"), "not_permitted")
        assert other.m.events("chat.message") == []


async def test_a_box_addressed_to_a_random_id_is_refused(node: Node) -> None:
    async with scene(node) as sc:
        to = {sc.mid: sc.v.peer_key(sc.mid), secrets.token_urlsafe(16): sc.r.public_b64}
        await _refused_whole(sc, sc.v, _payload(sc.v, to, "who is there"), "not_permitted")


async def test_a_box_addressed_to_oneself_is_refused(node: Node) -> None:
    async with scene(node) as sc:
        to = {sc.rid: sc.r.public_b64}
        await _refused_whole(sc, sc.r, _payload(sc.r, to, "echo"), "not_permitted")


async def test_writing_into_the_other_caucus_is_refused(node: Node) -> None:
    async with scene(node) as sc:
        to = {sc.mid: sc.r.peer_key(sc.mid)}
        payload = _payload(sc.r, to, "let me in", place="victim_caucus")
        await _refused_whole(sc, sc.r, payload, "not_permitted")


async def test_writing_into_a_joint_room_that_is_not_open_is_refused(node: Node) -> None:
    async with scene(node) as sc:
        to = {sc.mid: sc.v.peer_key(sc.mid)}
        await _refused_whole(sc, sc.v, _payload(sc.v, to, "joint?", place="joint"), "not_permitted")


async def test_writing_into_joint_after_it_closed_is_refused(node: Node) -> None:
    async with scene(node) as sc:
        await sc.m.ok("joint.propose")
        await sc.v.ok("joint.consent", {"agree": True})
        await sc.r.ok("joint.consent", {"agree": True})
        rs = await sc.r.wait_state(lambda s: s["joint"]["status"] == "open")
        victim_key = next(p["public_key"] for p in rs["peers"] if p["role"] == "victim")
        await sc.v.ok("joint.withdraw")
        await sc.r.wait_state(lambda s: s["joint"]["status"] == "none")
        seen = len(sc.v.received)
        to = {sc.vid: victim_key}
        await refused(
            sc.r, "chat.send", _payload(sc.r, to, "still here?", place="joint"), "not_permitted"
        )
        await refused(sc.r, "chat.send", _payload(sc.r, to, "in my caucus then"), "not_permitted")
        await settle()
        assert sc.v.events("chat.message") == []
        assert [ev for ev, _ in sc.v.received[seen:]] == []
        assert await node.store.messages(sc.case_id) == []


async def test_the_mediator_must_say_which_room_a_message_is_for(node: Node) -> None:
    async with scene(node) as sc:
        to = {sc.vid: sc.m.peer_key(sc.vid)}
        await _refused_whole(sc, sc.m, _payload(sc.m, to, "no place"), "invalid")


async def test_the_mediator_cannot_address_a_caucus_box_to_the_wrong_party(node: Node) -> None:
    """A buggy or hostile console writing in the victim's caucus to the respondent."""
    async with scene(node) as sc:
        to = {sc.rid: sc.m.peer_key(sc.rid)}
        payload = _payload(sc.m, to, "crossed wires", place="victim_caucus")
        await _refused_whole(sc, sc.m, payload, "not_permitted")


async def test_a_send_with_one_bad_recipient_is_refused_whole(node: Node) -> None:
    """A good box to the mediator riding along with one to the victim: the good box is
    not stored or delivered either."""
    async with scene(node) as sc:
        to = {sc.mid: sc.r.peer_key(sc.mid), sc.vid: sc.v.public_b64}
        await _refused_whole(sc, sc.r, _payload(sc.r, to, "half and half"), "not_permitted")


async def test_a_forged_sender_field_is_refused(node: Node) -> None:
    async with scene(node) as sc:
        to = {sc.mid: sc.r.peer_key(sc.mid)}
        payload = _payload(sc.r, to, "it was them", **{"from": sc.vid})
        await _refused_whole(sc, sc.r, payload, "invalid")


# -- history --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("place", "code"),
    [
        pytest.param("victim_caucus", "not_permitted", id="other-caucus"),
        pytest.param("away", "invalid", id="away"),
        pytest.param("lobby", "invalid", id="made-up-place"),
    ],
)
async def test_reading_history_outside_ones_own_rooms_is_refused(
    node: Node, place: str, code: str
) -> None:
    async with scene(node) as sc:
        m_key = sc.v.peer_key(sc.mid)
        assert (await sc.v.send_text({sc.mid: m_key}, "SECRET-V-HISTORY"))["ok"]
        await refused(sc.r, "chat.history", {"place": place}, code)
        await settle()
        stored = await node.store.messages(sc.case_id)
        assert len(stored) == 1
        sc.assert_no_trace_of("victim", sc.r, stored[0]["boxes"][sc.mid]["ciphertext"])


async def test_joint_history_gives_a_party_only_boxes_addressed_to_it(node: Node) -> None:
    """In joint the victim writes to the mediator alone; the respondent, reading the
    joint history later, must not get that box (nor learn it exists)."""
    async with scene(node) as sc:
        await sc.m.ok("joint.propose")
        await sc.v.ok("joint.consent", {"agree": True})
        await sc.r.ok("joint.consent", {"agree": True})
        await sc.v.wait_state(lambda s: s["joint"]["status"] == "open")
        aside = await sc.v.send_text({sc.mid: sc.v.peer_key(sc.mid)}, "aside to the mediator")
        assert aside["ok"], aside
        await sc.m.wait_event("chat.message")
        await sc.r.ok("joint.withdraw")
        await sc.r.wait_state(lambda s: s["joint"]["status"] == "none")
        history = await sc.r.ok("chat.history", {"place": "joint"})
        assert history["messages"] == []
        box = (await node.store.messages(sc.case_id))[0]["boxes"][sc.mid]
        assert box["ciphertext"] not in sc.r.wire_dump()


# -- replays and oracles ----------------------------------------------------------------


async def test_a_replayed_message_id_is_stored_and_delivered_once(node: Node) -> None:
    async with scene(node) as sc:
        to = {sc.mid: sc.v.peer_key(sc.mid)}
        payload = _payload(sc.v, to, "first")
        assert (await sc.v.ok("chat.send", payload)).get("duplicate") is None
        again = await sc.v.ok("chat.send", payload)
        assert again == {"ok": True, "duplicate": True}
        # Same id, new content: still a replay, still not delivered.
        other = _payload(sc.v, to, "changed my mind") | {"id": payload["id"]}
        assert await sc.v.ok("chat.send", other) == {"ok": True, "duplicate": True}
        await sc.m.wait_event("chat.message")
        await settle()
        assert len(sc.m.events("chat.message")) == 1
        assert len(await node.store.messages(sc.case_id)) == 1


async def test_replaying_the_victims_message_id_is_no_oracle_for_the_respondent(
    node: Node,
) -> None:
    """Ids are deduplicated per sender: the respondent cannot learn whether the victim
    used an id (``duplicate``), nor suppress the victim's later message with it."""
    async with scene(node) as sc:
        v_payload = _payload(sc.v, {sc.mid: sc.v.peer_key(sc.mid)}, "from the victim")
        await sc.v.ok("chat.send", v_payload)
        r_payload = _payload(sc.r, {sc.mid: sc.r.peer_key(sc.mid)}, "x") | {"id": v_payload["id"]}
        ack = await sc.r.ok("chat.send", r_payload)
        assert "duplicate" not in ack
        await sc.m.wait_event("chat.message", lambda d: d["from"] == sc.rid)
        sc.assert_no_trace_of("victim", sc.r)


async def test_refusals_do_not_reveal_whether_a_guessed_id_is_the_other_party(
    node: Node,
) -> None:
    """Addressing the victim's real id and a random id get the same answer word for word."""
    async with scene(node) as sc:
        m_key = sc.r.peer_key(sc.mid)
        real = await refused(
            sc.r, "chat.send", _payload(sc.r, {sc.vid: m_key}, "a"), "not_permitted"
        )
        fake = {secrets.token_urlsafe(16): m_key}
        guess = await refused(sc.r, "chat.send", _payload(sc.r, fake, "a"), "not_permitted")
        assert real == guess
        sc.assert_no_trace_of("victim", sc.r)
