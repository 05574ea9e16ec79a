"""Hostile clients asking for what their role, the joint state or the case's lifecycle
does not allow. Each attack is refused with its exact code, leaves the case as it was,
and nothing of the other party reaches the attacker."""

from __future__ import annotations

import asyncio
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
from tests.support.client import post

# -- wrong roles: no honest client sends these, so they are refused and disconnected ---

WRONG_ROLE = [
    pytest.param(
        "r", "mediator.move", {"to": "victim_caucus"}, id="respondent-moves-into-victim-caucus"
    ),
    pytest.param(
        "v", "mediator.move", {"to": "respondent_caucus"}, id="victim-moves-into-respondent-caucus"
    ),
    pytest.param("r", "joint.propose", None, id="respondent-proposes-joint"),
    pytest.param("v", "joint.propose", None, id="victim-proposes-joint"),
    pytest.param("m", "joint.consent", {"agree": True}, id="mediator-consents-for-the-parties"),
    pytest.param("m", "safety.exit", None, id="mediator-safety-exits"),
]


@pytest.mark.parametrize(("who", "event", "payload"), WRONG_ROLE)
async def test_an_event_outside_the_callers_role_is_refused_and_disconnects_it(
    node: Node, who: str, event: str, payload: Any
) -> None:
    async with scene(node) as sc:
        attacker = getattr(sc, who)
        attacker_id = {"m": sc.mid, "v": sc.vid, "r": sc.rid}[who]
        before = await sc.case()
        await refused(attacker, event, payload, "not_permitted")
        await wait_disconnected(attacker)
        await settle()
        after = await sc.case()
        # Only the attacker's own presence changed (it was disconnected), nothing else.
        assert without_presence(after, attacker_id) == without_presence(before, attacker_id)
        assert after.mediator.place == before.mediator.place
        assert after.joint == before.joint
        sc.assert_no_trace_of("victim", sc.r)
        sc.assert_no_trace_of("respondent", sc.v)


# -- joint requests that make no sense now: refused, nothing changes, no disconnect ----


async def _unchanged_after(sc: Scene, attacker: Any, event: str, payload: Any, code: str) -> None:
    before = await sc.case()
    m_before = await sc.mediator_view()
    await refused(attacker, event, payload, code)
    await settle()
    assert await sc.case() == before
    assert await sc.mediator_view() == m_before
    assert attacker.sio.connected
    sc.assert_no_trace_of("victim", sc.r)
    sc.assert_no_trace_of("respondent", sc.v)


async def test_consenting_to_a_joint_session_nobody_proposed_is_refused(node: Node) -> None:
    async with scene(node) as sc:
        await _unchanged_after(sc, sc.r, "joint.consent", {"agree": True}, "not_permitted")


async def test_withdrawing_from_a_joint_session_that_does_not_exist_is_refused(
    node: Node,
) -> None:
    async with scene(node) as sc:
        await _unchanged_after(sc, sc.v, "joint.withdraw", None, "not_permitted")


async def test_the_mediator_cannot_walk_into_a_joint_room_that_is_not_open(node: Node) -> None:
    async with scene(node) as sc:
        await sc.m.ok("joint.propose")
        await sc.v.wait_state(lambda s: s["joint"]["status"] == "proposed")
        await _unchanged_after(sc, sc.m, "mediator.move", {"to": "joint"}, "not_permitted")


async def test_consenting_again_once_joint_is_open_is_refused(node: Node) -> None:
    async with scene(node) as sc:
        await sc.m.ok("joint.propose")
        await sc.v.ok("joint.consent", {"agree": True})
        await sc.r.ok("joint.consent", {"agree": True})
        await sc.m.wait_state(lambda s: s["joint"]["status"] == "open")
        before = await sc.case()
        await refused(sc.r, "joint.consent", {"agree": False}, "not_permitted")
        assert await sc.case() == before


async def test_a_party_declining_reveals_nothing_to_the_other_party(node: Node) -> None:
    """The hostile respondent cannot learn the victim's answer, nor the victim the
    respondent's decline: each party's view only holds its own consent."""
    async with scene(node) as sc:
        await sc.m.ok("joint.propose")
        await sc.r.wait_state(lambda s: s["joint"]["status"] == "proposed")
        await settle()
        r_seen = len(sc.r.received)
        await sc.v.ok("joint.consent", {"agree": True})
        await sc.v.ok("joint.withdraw")
        await sc.v.ok("joint.consent", {"agree": False})
        await sc.m.wait_state(lambda s: s["joint"]["consents"]["victim"] is False)
        await settle()
        assert sc.r.received[r_seen:] == []
        state = (await sc.r.ok("state.get"))["state"]
        assert state["joint"] == {"status": "proposed", "my_consent": None}
        sc.assert_no_trace_of("victim", sc.r)


async def test_the_respondent_cannot_watch_the_victim_come_and_go(node: Node) -> None:
    """Presence is invisible across caucuses: the victim leaving, reconnecting and
    re-publishing its key sends the respondent nothing at all."""
    async with scene(node) as sc:
        await settle()
        r_seen = len(sc.r.received)
        await sc.v.ok("leave")
        await sc.v.close()
        await sc.m.wait_state(lambda s: not _online(s, sc.vid))
        v2 = type(sc.v)(sc.node.base_url, sc.v.session, "victim", case_id=sc.case_id)
        sc.extra.append(v2)
        await v2.connect()
        await v2.ok("key.publish", {"public_key": v2.public_b64})
        await sc.m.wait_state(lambda s: _online(s, sc.vid))
        await settle()
        assert sc.r.received[r_seen:] == []
        sc.assert_no_trace_of("victim", sc.r, v2.public_b64)


def _online(mediator_state: dict[str, Any], pid: str) -> bool:
    return any(p["id"] == pid and p["online"] for p in mediator_state["participants"])


# -- events that do not exist, and socket.io's reserved names used as events ------------


@pytest.mark.parametrize(
    "event",
    [
        pytest.param("admin.close_case", id="made-up-event"),
        pytest.param("rooms.handle", id="internal-name"),
        pytest.param("chat.send ", id="near-miss-name"),
    ],
)
async def test_an_event_that_does_not_exist_is_answered_invalid(node: Node, event: str) -> None:
    async with scene(node) as sc:
        before = await sc.case()
        await refused(sc.r, event, {"to": "victim_caucus"}, "invalid")
        assert await sc.case() == before
        assert sc.r.sio.connected
        sc.assert_no_trace_of("victim", sc.r)


async def test_a_forged_disconnect_event_does_not_take_the_seat_offline(node: Node) -> None:
    """socket.io dispatches a client event named "disconnect" to the server's
    disconnect handler unless the server tells the two apart."""
    async with scene(node) as sc:
        before = await sc.case()
        await refused(sc.v, "disconnect", "transport close", "invalid")
        await settle()
        assert await sc.case() == before
        assert sc.v.sio.connected
        assert (await sc.v.ok("state.get"))["state"]["me"]["id"] == sc.vid


async def test_a_forged_connect_event_cannot_rebind_the_socket(node: Node) -> None:
    """A client event named "connect" must not re-run authentication with a
    client-supplied environ (cookie) and auth (pseudonym, case, session)."""
    async with scene(node) as sc:
        before = await sc.case()
        forged = ({"HTTP_COOKIE": f"sulh_session={sc.v.session}"}, {"pseudonym": "Evil"})
        await refused(sc.r, "connect", forged, "invalid")
        await settle()
        assert await sc.case() == before
        assert (await sc.r.ok("state.get"))["state"]["me"]["id"] == sc.rid
        sc.assert_no_trace_of("victim", sc.r)


# -- a closed case refuses everything but reading its outcome ---------------------------


async def test_a_closed_case_refuses_every_command_and_every_reconnect(node: Node) -> None:
    from tests.server.hostile_kit import connect_error, refusal_code

    async with scene(node) as sc:
        status, _ = await post(
            node.base_url, f"/api/cases/{sc.case_id}/close", {}, token=sc.m.session
        )
        assert status == 200
        for person in (sc.m, sc.v, sc.r):
            await wait_disconnected(person)
        closed = await sc.case()
        # Parties' sessions ended with the case; the mediator's console is refused.
        for party in (sc.v, sc.r):
            said = await connect_error(node.base_url, {"session": party.session})
            assert refusal_code(said) == "unauthorized"
        said = await connect_error(node.base_url, {"session": sc.m.session, "case_id": sc.case_id})
        assert refusal_code(said) == "case_closed"
        for path in ("close", "invites/victim", "invites/respondent"):
            status, body = await post(
                node.base_url, f"/api/cases/{sc.case_id}/{path}", {}, token=sc.m.session
            )
            assert (status, body["error"]["code"]) == (409, "case_closed"), (path, body)
        assert await sc.case() == closed
        assert await node.store.messages(sc.case_id) == []


async def test_commands_racing_the_close_are_refused_as_closed(node: Node) -> None:
    """Events already in flight when the case closes meet a closed case, never a crash."""
    async with scene(node) as sc:
        close = asyncio.ensure_future(
            post(node.base_url, f"/api/cases/{sc.case_id}/close", {}, token=sc.m.session)
        )
        acks = await asyncio.gather(
            *(sc.v.sio.call("joint.withdraw", timeout=5) for _ in range(5)),
            return_exceptions=True,
        )
        assert (await close)[0] == 200
        codes = {a["error"]["code"] for a in acks if isinstance(a, dict) and not a["ok"]}
        assert codes <= {"not_permitted", "case_closed", "unauthorized"}, acks
        assert (await sc.case()).status.value == "closed"
