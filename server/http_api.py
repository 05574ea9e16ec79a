"""The JSON HTTP API: login/logout, cases, invites, health. Errors are
``{"error": {"code", "message"}}`` with a 4xx status; nothing else is ever echoed."""

from __future__ import annotations

import json
from collections.abc import Set
from typing import Any

from aiohttp import web

from rooms import (
    CaseId,
    CloseCase,
    DomainError,
    ParticipantId,
    ReissueInvite,
    Role,
    open_case,
    view,
)
from server import schema as s
from server.cases import NoSuchCase
from server.crypto import random_id
from server.logs import log
from server.sockets import COOKIE
from server.state import Services, services_key

CASE_OWNER, MEDIATOR_CASES = "case_owner", "mediator_cases"


def fail(status: int, code: str, message: str) -> web.Response:
    """A JSON error response."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def _body(
    request: web.Request, required: Set[str], optional: Set[str] = frozenset()
) -> dict[str, Any]:
    try:
        payload = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise s.Invalid("The body must be JSON.") from exc
    return s.obj(payload, required, optional)


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


async def _mediator(request: web.Request) -> tuple[Services, str]:
    svc = request.app[services_key]
    session = await svc.auth.session(_bearer(request))
    if session is None or session.kind != "mediator" or session.account is None:
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": {"code": "unauthorized", "message": "Please sign in."}}),
            content_type="application/json",
        )
    return svc, session.account


async def _owned_case(request: web.Request) -> tuple[Services, str, str]:
    svc, account = await _mediator(request)
    case_id = s.ident(request.match_info["case_id"], "case id")
    owner = await svc.store.get(CASE_OWNER, case_id)
    if owner is None or owner["account"] != account:
        raise web.HTTPNotFound(
            text=json.dumps({"error": {"code": "not_found", "message": "No such case."}}),
            content_type="application/json",
        )
    return svc, case_id, str(owner["pid"])


def invite_url(request: web.Request, token: str) -> str:
    """The invite link: the token rides in the fragment, so it never reaches a server log."""
    base = request.app[services_key].settings.public_url or f"{request.scheme}://{request.host}"
    return f"{base}/join#{token}"


async def login(request: web.Request) -> web.Response:
    svc = request.app[services_key]
    body = await _body(request, {"email", "password"})
    account = await svc.accounts.check(body["email"], body["password"])
    if account is None:
        log("login_failed")
        return fail(401, "unauthorized", "Wrong email or password.")
    token = await svc.auth.open_session("mediator", account=account)
    response = web.json_response({"session": token})
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="Strict", secure=request.secure, path="/"
    )
    return response


async def logout(request: web.Request) -> web.Response:
    svc = request.app[services_key]
    session = await svc.auth.session(_bearer(request))
    if session is not None:
        await svc.auth.revoke(session.token_hash)
    response = web.json_response({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


async def create_case(request: web.Request) -> web.Response:
    svc, account = await _mediator(request)
    body = await _body(request, set(), {"label", "labels"})
    label = s.text(body.get("label") or "", what="label", max_len=s.MAX_LABEL)
    labels: dict[Role, str] = {}
    raw = body.get("labels") or {}
    if not isinstance(raw, dict) or set(raw) - {"victim", "respondent"}:
        raise s.Invalid("labels may name only victim and respondent.")
    for role, text in raw.items():
        value = s.text(text, what="label", max_len=s.MAX_LABEL)
        if value:
            labels[Role(role)] = value
    case_id, tokens = await start_case(svc, account, label, labels)
    invites = {role: invite_url(request, token) for role, token in tokens.items()}
    return web.json_response({"case_id": case_id, "invites": invites}, status=201)


async def start_case(
    svc: Services, account: str, label: str, labels: dict[Role, str]
) -> tuple[str, dict[str, str]]:
    """Open a case owned by ``account``; returns its id and one invite token per party."""
    ids = {r: ParticipantId(random_id()) for r in Role}
    case = open_case(
        CaseId(random_id()),
        label=label,
        mediator=ids[Role.MEDIATOR],
        victim=ids[Role.VICTIM],
        respondent=ids[Role.RESPONDENT],
        now=svc.clock(),
        labels=labels,
    )
    await svc.repo.create(case)
    owner = {"account": account, "pid": ids[Role.MEDIATOR]}
    await svc.store.put(CASE_OWNER, case.id, owner, svc.settings.retention)
    await svc.store.add_to_set(MEDIATOR_CASES, account, case.id, None)
    tokens = {
        r.value: await svc.auth.issue_invite(case.id, r.value, ids[r])
        for r in (Role.VICTIM, Role.RESPONDENT)
    }
    log("case_opened", case=case.id)
    return case.id, tokens


async def list_cases(request: web.Request) -> web.Response:
    svc, account = await _mediator(request)
    cases = []
    for case_id in sorted(await svc.store.set_members(MEDIATOR_CASES, account)):
        case = await svc.repo.get(case_id)
        if case is None:
            await svc.store.remove_from_set(MEDIATOR_CASES, account, case_id)
            continue
        cases.append(
            {
                "case_id": case.id,
                "label": case.label,
                "status": case.status.value,
                "opened_at": case.opened_at,
            }
        )
    cases.sort(key=lambda c: c["opened_at"], reverse=True)
    return web.json_response({"cases": cases})


async def get_case(request: web.Request) -> web.Response:
    svc, case_id, pid = await _owned_case(request)
    case, _ = await svc.repo.load(case_id)
    return web.json_response({"case": view(case, ParticipantId(pid))})


async def _reset_seat(request: web.Request) -> tuple[Services, str, str, str] | web.Response:
    """Empty a party's seat: every session of the seat ends (the caller deals with its invite)."""
    svc, case_id, pid = await _owned_case(request)
    role = request.match_info["role"]
    if role not in ("victim", "respondent"):
        return fail(400, "invalid", "Only a party's invite can be re-issued or revoked.")
    _, after, events = await svc.repo.apply(
        case_id, ReissueInvite(ParticipantId(pid), Role(role)), clock=svc.clock
    )
    await svc.publisher.publish(after, events)
    return svc, case_id, role, after.by_role(Role(role)).id


async def reissue(request: web.Request) -> web.Response:
    reset = await _reset_seat(request)
    if isinstance(reset, web.Response):
        return reset
    svc, case_id, role, pid = reset
    token = await svc.auth.issue_invite(case_id, role, pid)
    return web.json_response({"invite": invite_url(request, token)})


async def revoke(request: web.Request) -> web.Response:
    reset = await _reset_seat(request)
    if isinstance(reset, web.Response):
        return reset
    svc, case_id, role, _ = reset
    await svc.auth.revoke_invite(case_id, role)
    return web.json_response({"ok": True})


async def close_case(request: web.Request) -> web.Response:
    svc, case_id, pid = await _owned_case(request)
    _, after, events = await svc.repo.apply(case_id, CloseCase(ParticipantId(pid)), clock=svc.clock)
    await svc.publisher.publish(after, events)
    return web.json_response({"case": view(after, ParticipantId(pid))})


async def redeem(request: web.Request) -> web.Response:
    svc = request.app[services_key]
    body = await _body(request, {"token"})
    invite = await svc.auth.redeem(body["token"])
    if invite is None:
        return fail(
            403,
            "invite_invalid",
            "This invite link is not valid any more. Ask your mediator for a new one.",
        )
    case = await svc.repo.get(invite.case_id)
    if case is None or case.status.value == "closed":
        return fail(403, "case_closed", "This case has ended.")
    token = await svc.auth.open_session(
        "party", case_id=invite.case_id, pid=invite.pid, role=invite.role
    )
    log("invite_redeemed", case=invite.case_id, role=invite.role)
    # No cookie for parties: on a shared device the page keeps the token in
    # sessionStorage, which quick exit wipes.
    return web.json_response({"session": token, "role": invite.role, "case_id": invite.case_id})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    svc = request.app[services_key]
    if not await svc.store.ping():
        return fail(503, "not_ready", "Storage is unreachable.")
    return web.json_response({"ok": True})


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Map every failure to the JSON error contract; never echo input, never leak a trace."""
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except s.Invalid as exc:
        return fail(413 if exc.code == "too_large" else 400, exc.code, str(exc))
    except DomainError as exc:
        return fail(409, exc.code, exc.message)
    except NoSuchCase:
        return fail(404, "not_found", "No such case.")
    except ConnectionError:
        log("storage_unavailable", level=40, kind="http")
        return fail(503, "unavailable", "The service is briefly unavailable; try again.")
    except web.HTTPRequestEntityTooLarge:
        return fail(413, "too_large", "The request is too large.")
    except web.HTTPException as exc:
        if exc.content_type == "application/json":
            raise
        return fail(exc.status, _code_for(exc.status), exc.reason or "Request refused.")
    except Exception:
        log("internal_error", level=40, kind="http")
        return fail(500, "internal", "Something went wrong on the server.")


def _code_for(status: int) -> str:
    return {
        401: "unauthorized",
        403: "not_permitted",
        404: "not_found",
        405: "invalid",
        413: "too_large",
    }.get(status, "invalid")


def routes() -> list[web.RouteDef]:
    """The API's routes."""
    return [
        web.post("/api/login", login),
        web.post("/api/logout", logout),
        web.post("/api/cases", create_case),
        web.get("/api/cases", list_cases),
        web.get("/api/cases/{case_id}", get_case),
        web.post("/api/cases/{case_id}/invites/{role}", reissue),
        web.delete("/api/cases/{case_id}/invites/{role}", revoke),
        web.post("/api/cases/{case_id}/close", close_case),
        web.post("/api/invites/redeem", redeem),
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
    ]
