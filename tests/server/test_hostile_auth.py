"""Hostile clients at the door: no or forged credentials, other cases' ids, replayed,
raced, expired and re-issued invites, ended sessions, and the HTTP API without
authority. Each is refused with its exact code and leaves every case as it was."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.server.conftest import Node
from tests.server.hostile_kit import (
    connect_error,
    mediator_session,
    refusal_code,
    refused,
    scene,
    settle,
    timed_node,
    wait_disconnected,
)
from tests.support.client import Person, get, post

EVIL = "http://evil.example"


async def _redeem(node: Node, token: Any) -> tuple[int, dict[str, Any]]:
    return await post(node.base_url, "/api/invites/redeem", {"token": token})


async def _fresh_case(node: Node) -> tuple[str, str, dict[str, str]]:
    """A new case with unredeemed invites: (mediator session, case id, {role: token})."""
    session = await mediator_session(node)
    created = await node.open_case(session, label="Case")
    tokens = {r: str(u).split("#", 1)[1] for r, u in created["invites"].items()}  # type: ignore[attr-defined]
    return session, str(created["case_id"]), tokens


# -- socket.io connect ----------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param(None, id="no-auth"),
        pytest.param({}, id="empty-auth"),
        pytest.param({"session": secrets.token_urlsafe(32)}, id="random-token"),
        pytest.param({"session": "A" * 10_000}, id="10kb-token"),
        pytest.param({"session": 12345}, id="number-token"),
        pytest.param({"session": {"$ne": ""}}, id="object-token"),
        pytest.param({"session": ""}, id="empty-token"),
    ],
)
async def test_a_connection_without_a_valid_session_is_refused(node: Node, auth: Any) -> None:
    said = await connect_error(node.base_url, auth)
    assert refusal_code(said) == "unauthorized"


async def test_a_garbage_cookie_is_refused(node: Node) -> None:
    said = await connect_error(
        node.base_url, None, headers={"Cookie": f"sulh_session={secrets.token_urlsafe(32)}"}
    )
    assert refusal_code(said) == "unauthorized"


async def test_an_unredeemed_invite_token_is_not_a_session(node: Node) -> None:
    _, _, tokens = await _fresh_case(node)
    said = await connect_error(node.base_url, {"session": tokens["victim"]})
    assert refusal_code(said) == "unauthorized"
    assert (await _redeem(node, tokens["victim"]))[0] == 200  # and it was not consumed


@pytest.mark.parametrize(
    "case_id",
    [
        pytest.param(None, id="no-case-id"),
        pytest.param({"$gt": ""}, id="object-case-id"),
        pytest.param("nonexistent-case", id="unknown-case-id"),
    ],
)
async def test_a_mediator_session_without_its_own_case_is_refused(node: Node, case_id: Any) -> None:
    session = await mediator_session(node)
    auth = {"session": session} if case_id is None else {"session": session, "case_id": case_id}
    said = await connect_error(node.base_url, auth)
    assert refusal_code(said) == "not_permitted"


async def test_a_mediator_cannot_open_another_mediators_case(node: Node) -> None:
    async with scene(node) as victim_case:
        before = await victim_case.case()
        seen = {p.role: len(p.received) for p in (victim_case.m, victim_case.v, victim_case.r)}
        intruder = await mediator_session(node)
        said = await connect_error(
            node.base_url, {"session": intruder, "case_id": victim_case.case_id}
        )
        assert refusal_code(said) == "not_permitted"
        await settle()
        assert await victim_case.case() == before
        for p in (victim_case.m, victim_case.v, victim_case.r):
            assert len(p.received) == seen[p.role]


async def test_a_party_session_is_bound_to_its_own_case_whatever_case_id_it_claims(
    node: Node,
) -> None:
    async with scene(node) as a, scene(node) as b:
        before_b = await b.case()
        probe = Person(node.base_url, a.r.session, "respondent")
        a.extra.append(probe)
        await probe.connect(case_id=b.case_id)
        state = await probe.wait_state(lambda s: True)
        assert state["case"]["id"] == a.case_id and state["me"]["id"] == a.rid
        await settle()
        assert await b.case() == before_b
        wire = probe.wire_dump()
        for needle in (b.vid, b.rid, b.mid, b.v.public_b64, b.m.public_b64, a.vid):
            assert needle not in wire


async def test_a_cross_site_socket_with_the_mediators_cookie_is_refused(node: Node) -> None:
    """Cross-site WebSocket hijacking: a page on another origin riding the cookie."""
    async with scene(node) as sc:
        before = await sc.case()
        headers = {"Origin": EVIL, "Cookie": f"sulh_session={sc.m.session}"}
        said = await connect_error(node.base_url, {"case_id": sc.case_id}, headers=headers)
        assert said is not None
        await settle()
        assert await sc.case() == before


# -- invites --------------------------------------------------------------------------


async def test_a_second_redemption_of_an_invite_is_refused(node: Node) -> None:
    _, case_id, tokens = await _fresh_case(node)
    status, first = await _redeem(node, tokens["respondent"])
    assert status == 200 and first["role"] == "respondent"
    status, again = await _redeem(node, tokens["respondent"])
    assert (status, again["error"]["code"]) == (403, "invite_invalid")
    assert "session" not in again
    # The first redeemer's session is untouched by the replay.
    person = Person(node.base_url, first["session"], "respondent", case_id=case_id)
    await person.connect()
    assert (await person.wait_state(lambda s: True))["me"]["role"] == "respondent"
    await person.close()


async def test_concurrent_redemptions_of_one_invite_have_exactly_one_winner(node: Node) -> None:
    _, _, tokens = await _fresh_case(node)
    results = await asyncio.gather(*(_redeem(node, tokens["victim"]) for _ in range(12)))
    winners = [body for status, body in results if status == 200]
    losers = [body["error"]["code"] for status, body in results if status != 200]
    assert len(winners) == 1
    assert losers == ["invite_invalid"] * 11


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_an_expired_invite_is_refused(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_server").url if backend == "redis" else None
    async with timed_node(backend, tmp_path, url, invite_ttl=0.4) as tn:
        _, _, tokens = await _fresh_case(tn.node)
        await tn.advance(0.6)
        status, body = await _redeem(tn.node, tokens["victim"])
        assert (status, body["error"]["code"]) == (403, "invite_invalid")


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_an_idle_session_is_refused_on_its_next_event(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_server").url if backend == "redis" else None
    async with timed_node(backend, tmp_path, url, session_idle=0.8) as tn:
        _, case_id, tokens = await _fresh_case(tn.node)
        status, seat = await _redeem(tn.node, tokens["victim"])
        assert status == 200
        v = Person(tn.node.base_url, seat["session"], "victim", case_id=case_id)
        await v.connect()
        try:
            await v.ok("state.get")  # in use, on time
            await tn.advance(1.0)  # then left alone longer than the idle limit
            await refused(v, "state.get", None, "unauthorized")
            await wait_disconnected(v)
            said = await connect_error(tn.node.base_url, {"session": v.session})
            assert refusal_code(said) == "unauthorized"
        finally:
            await v.close()


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_an_active_session_outlives_the_idle_limit_but_not_the_absolute_one(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_server").url if backend == "redis" else None
    async with timed_node(backend, tmp_path, url, session_idle=0.8, session_absolute=2.4) as tn:
        _, case_id, tokens = await _fresh_case(tn.node)
        status, seat = await _redeem(tn.node, tokens["victim"])
        assert status == 200
        v = Person(tn.node.base_url, seat["session"], "victim", case_id=case_id)
        await v.connect()
        try:
            for _ in range(3):  # 1.5 s in use: twice the idle limit, each gap shorter
                await tn.advance(0.5)
                await v.ok("state.get")
            await tn.advance(1.0)  # past the absolute limit, however busy
            await refused(v, "state.get", None, "unauthorized")
        finally:
            await v.close()


async def test_reissuing_an_invite_kills_the_old_link_and_the_old_seat(node: Node) -> None:
    session, case_id, tokens = await _fresh_case(node)
    # An unused link stops working the moment a new one is issued.
    status, body = await post(
        node.base_url, f"/api/cases/{case_id}/invites/victim", {}, token=session
    )
    assert status == 200
    new_token = str(body["invite"]).split("#", 1)[1]
    status, old = await _redeem(node, tokens["victim"])
    assert (status, old["error"]["code"]) == (403, "invite_invalid")
    # A seat in use is ended: its socket is closed and its session refused.
    status, seat = await _redeem(node, new_token)
    assert status == 200
    v = Person(node.base_url, seat["session"], "victim", case_id=case_id)
    await v.connect()
    await v.wait_state(lambda s: True)
    status, _ = await post(node.base_url, f"/api/cases/{case_id}/invites/victim", {}, token=session)
    assert status == 200
    await v.wait_event("notice", lambda d: d["code"] == "session_revoked")
    await wait_disconnected(v)
    said = await connect_error(node.base_url, {"session": seat["session"]})
    assert refusal_code(said) == "unauthorized"
    status, again = await _redeem(node, new_token)
    assert (status, again["error"]["code"]) == (403, "invite_invalid")


async def test_a_session_token_is_not_an_invite(node: Node) -> None:
    async with scene(node) as sc:
        for token in (sc.m.session, sc.v.session):
            status, body = await _redeem(node, token)
            assert (status, body["error"]["code"]) == (403, "invite_invalid")
        assert sc.v.sio.connected


# -- ended sessions -------------------------------------------------------------------


async def test_a_logged_out_mediator_is_refused_on_the_next_event(node: Node) -> None:
    async with scene(node) as sc:
        status, _ = await post(node.base_url, "/api/logout", {}, token=sc.m.session)
        assert status == 200
        before = await sc.case()
        await refused(sc.m, "mediator.move", {"to": "victim_caucus"}, "unauthorized")
        await wait_disconnected(sc.m)
        await sc.v.wait_state(lambda s: s["mediator"] == "offline")
        assert (await sc.case()).mediator.place == before.mediator.place
        said = await connect_error(node.base_url, {"session": sc.m.session, "case_id": sc.case_id})
        assert refusal_code(said) == "unauthorized"
        status, body = await get(node.base_url, "/api/cases", token=sc.m.session)
        assert (status, body["error"]["code"]) == (401, "unauthorized")


async def test_a_party_that_logged_out_is_refused_on_the_next_event(node: Node) -> None:
    async with scene(node) as sc:
        assert (await post(node.base_url, "/api/logout", {}, token=sc.r.session))[0] == 200
        await refused(sc.r, "chat.history", {}, "unauthorized")
        await wait_disconnected(sc.r)
        sc.assert_no_trace_of("victim", sc.r)


async def test_a_safety_exit_ends_every_tab_of_that_seat(node: Node) -> None:
    async with scene(node) as sc:
        tab = Person(node.base_url, sc.v.session, "victim", case_id=sc.case_id)
        sc.extra.append(tab)
        await tab.connect()
        await tab.wait_state(lambda s: True)
        r_seen = len(sc.r.received)
        await sc.v.ok("safety.exit")
        await wait_disconnected(sc.v)
        await wait_disconnected(tab)
        said = await connect_error(node.base_url, {"session": sc.v.session})
        assert refusal_code(said) == "unauthorized"
        await settle()
        assert sc.r.received[r_seen:] == []


# -- the HTTP API ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("POST", "/api/cases", id="create-case"),
        pytest.param("GET", "/api/cases", id="list-cases"),
        pytest.param("GET", "/api/cases/{case}", id="read-case"),
        pytest.param("POST", "/api/cases/{case}/close", id="close-case"),
        pytest.param("POST", "/api/cases/{case}/invites/victim", id="reissue-invite"),
    ],
)
async def test_the_mediator_api_refuses_anyone_but_a_mediator(
    node: Node, method: str, path: str
) -> None:
    """No token, a made-up token and a party's own session all get 401."""
    async with scene(node) as sc:
        before = await sc.case()
        url = path.format(case=sc.case_id)
        for token in (None, secrets.token_urlsafe(32), sc.v.session, sc.r.session):
            if method == "POST":
                status, body = await post(node.base_url, url, {}, token=token)
            else:
                status, body = await get(node.base_url, url, token=token)
            assert (status, body["error"]["code"]) == (401, "unauthorized"), token
        assert await sc.case() == before
        assert sc.v.sio.connected and sc.r.sio.connected


@pytest.mark.parametrize("path", ["", "/close", "/invites/respondent"])
async def test_another_mediators_case_does_not_exist_for_you(node: Node, path: str) -> None:
    async with scene(node) as sc:
        before = await sc.case()
        intruder = await mediator_session(node)
        url = f"/api/cases/{sc.case_id}{path}"
        status, body = await (
            post(node.base_url, url, {}, token=intruder)
            if path
            else get(node.base_url, url, token=intruder)
        )
        assert (status, body["error"]["code"]) == (404, "not_found")
        assert await sc.case() == before


async def _raw(node: Node, path: str, data: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(node.base_url + path, data=data, headers=headers) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def test_a_cross_origin_post_is_refused_even_with_a_valid_session(node: Node) -> None:
    async with scene(node) as sc:
        before = await sc.case()
        auth = {"Authorization": f"Bearer {sc.m.session}", "Content-Type": "application/json"}
        for path in (
            f"/api/cases/{sc.case_id}/close",
            f"/api/cases/{sc.case_id}/invites/victim",
            "/api/cases",
            "/api/logout",
        ):
            status, body = await _raw(node, path, b"{}", auth | {"Origin": EVIL})
            assert (status, body["error"]["code"]) == (403, "not_permitted"), path
        assert await sc.case() == before
        assert (await sc.m.ok("state.get"))["state"]["case"]["status"] == "in_session"


@pytest.mark.parametrize("node", ["memory"], indirect=True)
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param(b"token=abc", 400, "invalid", id="form-encoded"),
        pytest.param(b"", 400, "invalid", id="empty"),
        pytest.param(b"\xff\xfe\x00garbage", 400, "invalid", id="not-utf8"),
        pytest.param(b"[1, 2, 3]", 400, "invalid", id="json-list"),
        pytest.param(b"null", 400, "invalid", id="json-null"),
        pytest.param(b'{"token": "x", "role": "mediator"}', 400, "invalid", id="extra-field"),
        pytest.param(b'{"token": {"$ne": null}}', 403, "invite_invalid", id="object-token"),
        pytest.param(b'{"token": "' + b"a" * 70_000 + b'"}', 413, "too_large", id="over-64k"),
    ],
)
async def test_a_non_json_or_malformed_body_is_refused(
    node: Node, body: bytes, status: int, code: str
) -> None:
    """The body is parsed before any store is touched: one store is enough."""
    got, answer = await _raw(
        node, "/api/invites/redeem", body, {"Content-Type": "application/json"}
    )
    assert (got, answer["error"]["code"]) == (status, code)
