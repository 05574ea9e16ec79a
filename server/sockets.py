"""socket.io: authenticate connections, then run each event through one guarded path.

Every event goes through ``Gateway._guarded``: known connection, rate limit, size
cap, session still valid, schema-checked parse, domain ``handle``, save, publish.
A refused event answers ``{"ok": false, "error": {code, message}}`` and changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import socketio

from rooms import Command, Connect, DomainError, Leave, ParticipantId, ProtocolViolation
from rooms.model import Role
from server.auth import Auth, Session
from server.cases import CaseRepo, Contention, NoSuchCase
from server.logs import log
from server.publish import LIVE, Publisher, room_of, seat_key
from server.ratelimit import RateLimiter
from server.schema import MAX_PSEUDONYM, Invalid, TooLarge, text
from server.store.base import Store

COOKIE = "sulh_session"
Ack = dict[str, Any]


def ok(**fields: Any) -> Ack:
    """A successful acknowledgement."""
    return {"ok": True, **fields}


def error(code: str, message: str) -> Ack:
    """A refused acknowledgement with a wire code and a message safe to show."""
    return {"ok": False, "error": {"code": code, "message": message}}


@dataclass(frozen=True)
class Conn:
    """What a connected socket speaks for: one seat in one case, through one session."""

    sid: str
    case_id: str
    pid: ParticipantId
    role: Role
    session_hash: str
    session_expires: float


Handler = Callable[[Conn, Any], Awaitable[Ack]]


class Gateway:
    """Owns the socket.io server's handlers for one node."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        *,
        store: Store,
        auth: Auth,
        repo: CaseRepo,
        publisher: Publisher,
        limiter: RateLimiter,
        retention: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sio = sio
        self.store = store
        self.auth = auth
        self.repo = repo
        self.publisher = publisher
        self.limiter = limiter
        self.retention = retention
        self.clock = clock
        self._conns: dict[str, Conn] = {}
        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._on_disconnect)
        sio.on("*", self._unknown_event)

    # -- connection ------------------------------------------------------------
    async def _on_connect(self, sid: str, *args: Any) -> Ack | None:
        if self._is_live(sid):  # a connected client emitting an event named "connect"
            return await self._unknown_event("connect", sid)
        environ, auth = (*args, None, None)[:2]
        await self._connect(sid, environ, auth)
        return None

    async def _on_disconnect(self, sid: str, *args: Any) -> Ack | None:
        if self._is_live(sid):  # a connected client emitting an event named "disconnect"
            return await self._unknown_event("disconnect", sid)
        await self._disconnect(sid)
        return None

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            await self._admit(sid, environ, auth)
        except ConnectionError as exc:
            log("storage_unavailable", level=40, event="connect")
            raise _refused("unavailable", "The service is briefly unavailable.") from exc

    async def _admit(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        session = await self.auth.session(_token(environ, auth))
        if session is None:
            raise _refused("unauthorized", "Sign in or use your invite link again.")
        conn = await self._seat(sid, session, auth)
        try:
            _, after, events = await self.repo.apply(
                conn.case_id, Connect(conn.pid, pseudonym=_pseudonym(auth)), clock=self.clock
            )
        except (DomainError, NoSuchCase, Invalid) as exc:
            code = getattr(exc, "code", "case_closed")
            raise _refused(code, "This session cannot be joined.") from exc
        self._conns[sid] = conn
        await self.sio.enter_room(sid, room_of(conn.pid))
        await self.store.add_to_set(LIVE, seat_key(conn.case_id, conn.pid), sid, None)
        await self.publisher.publish(after, events)
        await self.publisher.state(after, conn.pid)
        log("connected", case=conn.case_id, role=conn.role.value)

    async def _seat(self, sid: str, session: Session, auth: Any) -> Conn:
        if session.kind == "party" and session.case_id and session.pid and session.role:
            return Conn(
                sid,
                session.case_id,
                ParticipantId(session.pid),
                Role(session.role),
                session.token_hash,
                session.expires,
            )
        if session.kind == "mediator" and session.account:
            case_id = auth.get("case_id") if isinstance(auth, dict) else None
            owner = (
                await self.store.get("case_owner", case_id) if isinstance(case_id, str) else None
            )
            if owner is not None and owner["account"] == session.account:
                return Conn(
                    sid,
                    str(case_id),
                    ParticipantId(str(owner["pid"])),
                    Role.MEDIATOR,
                    session.token_hash,
                    session.expires,
                )
        raise _refused("not_permitted", "This session cannot join that case.")

    async def _disconnect(self, sid: str, *args: Any) -> None:
        conn = self._conns.pop(sid, None)
        self.limiter.forget(sid)
        if conn is None:
            return
        key = seat_key(conn.case_id, conn.pid)
        try:
            await self.store.remove_from_set(LIVE, key, sid)
            if await self.store.set_members(LIVE, key):
                return  # another tab or device of the same seat is still connected
            _, after, events = await self.repo.apply(
                conn.case_id, Leave(conn.pid), clock=self.clock
            )
            await self.publisher.publish(after, events)
        except (DomainError, NoSuchCase):
            return  # closed or purged meanwhile: nothing left to update
        except ConnectionError:
            # Storage is down: the seat stays marked online until it reconnects or the case
            # is next touched. Separation never depends on presence, only on places.
            log("storage_unavailable", level=40, case=conn.case_id, event="disconnect")

    # -- events ----------------------------------------------------------------
    def on(self, name: str, handler: Handler, *, klass: str, max_bytes: int = 2048) -> None:
        """Register ``handler`` for ``name`` behind the guards (``klass`` picks the rate limit)."""

        async def guarded(sid: str, *args: Any) -> Ack:
            payload = args[0] if args else None
            return await self._guarded(sid, name, handler, klass, max_bytes, payload)

        self.sio.on(name, guarded)

    async def _guarded(
        self, sid: str, name: str, handler: Handler, klass: str, max_bytes: int, payload: Any
    ) -> Ack:
        conn = self._conns.get(sid)
        if conn is None:
            return error("unauthorized", "Not connected to a case.")
        if not self.limiter.allow(sid, klass):
            return error("rate_limited", "Too many requests; slow down.")
        size = _size(payload)
        if size is None:
            return error("invalid", "The payload must be JSON.")
        if size > max_bytes:
            return error("too_large", "That message is too large.")
        try:
            if not await self.auth.refresh(conn.session_hash, conn.session_expires):
                self.publisher.disconnect_later([sid])
                return error("unauthorized", "Your session has ended.")
            return await handler(conn, payload)
        except (Invalid, TooLarge) as exc:
            return error(exc.code, str(exc))
        except ProtocolViolation as exc:
            log("protocol_violation", case=conn.case_id, role=conn.role.value, event=name)
            self.publisher.disconnect_later([sid])
            return error(exc.code, exc.message)
        except DomainError as exc:
            return error(exc.code, exc.message)
        except NoSuchCase:
            return error("case_closed", "This case no longer exists.")
        except Contention:
            return error("busy", "The case is busy; try again.")
        except ConnectionError:
            log("storage_unavailable", level=40, case=conn.case_id, event=name)
            return error("unavailable", "The service is briefly unavailable; try again.")
        except Exception:  # a bug: log its type only, never the payload
            log("internal_error", level=40, case=conn.case_id, event=name)
            return error("internal", "Something went wrong on the server.")

    async def _unknown_event(self, event: str, sid: str, *args: Any) -> Ack:
        """Answer an event outside the contract (a typo, a newer client, a forged
        "connect"/"disconnect") with ``invalid`` instead of leaving its ack hanging."""
        if sid not in self._conns:
            return error("unauthorized", "Not connected to a case.")
        if not self.limiter.allow(sid, "read"):
            return error("rate_limited", "Too many requests; slow down.")
        return error("invalid", "Unknown event.")

    def _is_live(self, sid: str) -> bool:
        """Whether ``sid`` is fully connected. socket.io runs the real connect and
        disconnect handlers only while a socket is pending (not yet, or no longer,
        connected); a connected client can emit events named "connect" or "disconnect"
        that reach the same handlers, with arguments of its choosing."""
        return bool(self.sio.manager.is_connected(sid, "/"))

    async def run(self, conn: Conn, command: Command) -> None:
        """The common path: apply ``command`` to the connection's case and publish."""
        _, after, events = await self.repo.apply(conn.case_id, command, clock=self.clock)
        await self.publisher.publish(after, events)


def _token(environ: dict[str, Any], auth: Any) -> str | None:
    if isinstance(auth, dict) and isinstance(auth.get("session"), str):
        return str(auth["session"])
    cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    morsel = cookie.get(COOKIE)
    return morsel.value if morsel else None


def _pseudonym(auth: Any) -> str | None:
    if not isinstance(auth, dict) or auth.get("pseudonym") in (None, ""):
        return None
    return text(auth["pseudonym"], what="pseudonym", max_len=MAX_PSEUDONYM) or None


def _size(payload: Any) -> int | None:
    """The payload's size as compact JSON; None if it is not JSON (a binary attachment)."""
    try:
        return len(json.dumps(payload, separators=(",", ":")))
    except (TypeError, ValueError):
        return None


def _refused(code: str, message: str) -> socketio.exceptions.ConnectionRefusedError:
    """A connection refusal whose ``data`` is ``{code, message}``. (Given one argument,
    socket.io sends only ``str()`` of it as the message, and the code is lost.)"""
    return socketio.exceptions.ConnectionRefusedError(message, {"code": code, "message": message})
