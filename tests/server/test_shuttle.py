"""The normal shuttle session over real sockets, against both stores."""

from __future__ import annotations

import json

import aiohttp

from tests.server.conftest import Node
from tests.support.client import Person
from tests.support.waiting import quiet


async def test_parties_wait_in_their_own_caucus_and_see_the_mediator_away(node: Node) -> None:
    m, v, r = await node.three()
    vs = await v.wait_state(lambda s: s["mediator"] == "away")
    assert vs["me"]["place"] == "victim_caucus"
    assert [p["role"] for p in vs["peers"]] == ["mediator"]
    rs = await r.wait_state(lambda s: s["mediator"] == "away")
    assert rs["me"]["place"] == "respondent_caucus"
    ms = await m.wait_state(lambda s: all(p["online"] for p in s["participants"]))
    assert ms["me"]["place"] == "away"
    for person in (m, v, r):
        await person.close()


async def test_mediator_moves_between_caucuses_and_status_lines_follow(node: Node) -> None:
    m, v, r = await node.three()
    await m.ok("mediator.move", {"to": "victim_caucus"})
    await v.wait_state(lambda s: s["mediator"] == "with_you")
    await r.wait_state(lambda s: s["mediator"] == "with_other_party")
    await m.ok("mediator.move", {"to": "respondent_caucus"})
    await v.wait_event("notice", lambda d: d["code"] == "mediator_left_for_other_party")
    await v.wait_state(lambda s: s["mediator"] == "with_other_party")
    await r.wait_state(lambda s: s["mediator"] == "with_you")
    await m.ok("mediator.move", {"to": "away"})
    await r.wait_state(lambda s: s["mediator"] == "away")
    for person in (m, v, r):
        await person.close()


async def test_encrypted_chat_reaches_only_the_caucus_and_decrypts(node: Node) -> None:
    m, v, r = await node.three()
    await v.wait_state(lambda s: s["peers"][0]["public_key"] is not None)
    await m.wait_state(lambda s: all(p["public_key"] for p in s["participants"]))
    ack = await v.send_text(
        {m.last_state()["me"]["id"]: v.peer_key(m.last_state()["me"]["id"])}, "hello mediator"
    )
    assert ack["ok"], ack
    msg = await m.wait_event("chat.message")
    v_id = v.last_state()["me"]["id"]
    assert msg["from"] == v_id and msg["place"] == "victim_caucus"
    plain = json.loads(m.open_from(m.peer_key(v_id), msg["box"]))
    assert plain["text"] == "hello mediator"
    # The mediator answers from the console while away; the message stays in that caucus.
    await m.send_text({v_id: m.peer_key(v_id)}, "I will be with you soon", place="victim_caucus")
    got = await v.wait_event("chat.message")
    m_id = m.last_state()["me"]["id"]
    assert (
        json.loads(v.open_from(v.peer_key(m_id), got["box"]))["text"] == "I will be with you soon"
    )
    await quiet()
    assert r.events("chat.message") == []
    history = await v.ok("chat.history", {})
    assert [h["id"] for h in history["messages"]] == [msg["id"], got["id"]]
    for person in (m, v, r):
        await person.close()


async def test_joint_opens_only_with_both_consents_and_closes_on_withdraw(node: Node) -> None:
    m, v, r = await node.three()
    await m.ok("joint.propose")
    await v.wait_state(lambda s: s["joint"]["status"] == "proposed")
    await v.ok("joint.consent", {"agree": True})
    await quiet(0.2)
    assert r.last_state()["joint"]["my_consent"] is None  # the respondent learns nothing of it
    await r.ok("joint.consent", {"agree": True})
    vs = await v.wait_state(lambda s: s["joint"]["status"] == "open")
    assert vs["me"]["place"] == "joint" and vs["mediator"] == "with_you"
    assert {p["role"] for p in vs["peers"]} == {"mediator", "respondent"}
    await r.ok("joint.withdraw")
    vs = await v.wait_state(lambda s: s["joint"]["status"] == "none")
    assert vs["me"]["place"] == "victim_caucus"
    assert [p["role"] for p in vs["peers"]] == ["mediator"]
    await v.wait_event("notice", lambda d: d["code"] == "joint_closed")
    ms = await m.wait_state(lambda s: s["joint"]["status"] == "none")
    assert ms["me"]["place"] == "away"
    for person in (m, v, r):
        await person.close()


async def test_safety_exit_tells_the_mediator_and_nobody_else(node: Node) -> None:
    m, v, r = await node.three()
    await quiet(0.2)
    before = len(r.received)
    await v.ok("safety.exit")
    notice = await m.wait_event("notice", lambda d: d["code"] == "party_safety_exit")
    assert notice["participant"] == v.last_state()["me"]["id"]
    await m.wait_state(lambda s: any(p["safety_exited"] for p in s["participants"]))
    await quiet()
    assert r.received[before:] == []
    assert not v.sio.connected
    for person in (m, r):
        await person.close()


async def test_closing_the_case_ends_every_session_and_purges_chat(node: Node) -> None:
    from tests.support.client import get, post

    m, v, r = await node.three()
    m_id = (await m.wait_state(lambda s: True))["me"]["id"]
    await v.wait_state(lambda s: s["peers"][0]["public_key"] is not None)
    await v.send_text({m_id: v.peer_key(m_id)}, "before close")
    status, body = await post(node.base_url, f"/api/cases/{m.case_id}/close", {}, token=m.session)
    assert status == 200, body
    assert body["case"]["case"]["status"] == "closed"
    await v.wait_event("notice", lambda d: d["code"] == "case_closed")
    await quiet()
    assert not v.sio.connected and not r.sio.connected
    assert await node.store.messages(str(m.case_id)) == []
    status, body = await get(node.base_url, f"/api/cases/{m.case_id}", token=m.session)
    assert status == 200 and body["case"]["case"]["status"] == "closed"
    assert all(p["public_key"] is None for p in body["case"]["participants"])
    await m.close()


async def test_revoking_an_invite_ends_the_link_and_the_seat_until_a_new_one_is_issued(
    node: Node,
) -> None:
    from tests.support.client import get, post
    from tests.support.waiting import eventually

    token = await node.mediator_login("revoker@example.org")
    created = await node.open_case(token)
    case_id = str(created["case_id"])
    link = str(created["invites"]["victim"]).split("#", 1)[1]  # type: ignore[index]
    async with aiohttp.ClientSession() as http:
        url = f"{node.base_url}/api/cases/{case_id}/invites/victim"
        async with http.delete(url, headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
    status, body = await post(node.base_url, "/api/invites/redeem", {"token": link})
    assert (status, body["error"]["code"]) == (403, "invite_invalid")
    # A new invite for the same seat works, and revoking again throws out whoever used it.
    status, body = await post(
        node.base_url, f"/api/cases/{case_id}/invites/victim", {}, token=token
    )
    assert status == 200
    status, seat = await post(
        node.base_url, "/api/invites/redeem", {"token": body["invite"].split("#", 1)[1]}
    )
    assert status == 200
    v = Person(node.base_url, seat["session"], "victim")
    await v.connect()
    async with aiohttp.ClientSession() as http:
        url = f"{node.base_url}/api/cases/{case_id}/invites/victim"
        async with http.delete(url, headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
    await eventually(lambda: not v.sio.connected)
    status, body = await get(node.base_url, f"/api/cases/{case_id}", token=token)
    victim = next(p for p in body["case"]["participants"] if p["role"] == "victim")
    assert victim["joined"] is False and victim["online"] is False
