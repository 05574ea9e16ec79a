"""Turn domain events into socket.io emits and session changes, applying only what
``rooms.visibility`` says. Every emit targets one participant's private room
``p:<id>``; there are no shared rooms a socket could be left in by mistake."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import socketio

from rooms import Case, audience, notices, view
from rooms import events as e
from rooms.model import Role
from server.auth import Auth
from server.cases import CaseRepo
from server.logs import log
from server.mediahub import MediaHub
from server.store.base import Store

LIVE = "live"
ACK_GRACE = 0.05


def room_of(pid: str) -> str:
    """The private socket.io room of one participant."""
    return f"p:{pid}"


def seat_key(case_id: str, pid: str) -> str:
    """Store key naming one participant's seat in one case."""
    return f"{case_id}:{pid}"


class Publisher:
    """Carries out the effects of events: state refreshes, notices, revocations."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        store: Store,
        auth: Auth,
        repo: CaseRepo,
        media: MediaHub | None = None,
    ) -> None:
        self._sio = sio
        self._store = store
        self._auth = auth
        self._repo = repo
        self._media = media
        self._pending: set[asyncio.Task[None]] = set()

    async def state(self, case: Case, pid: str) -> None:
        """Send ``pid`` its own filtered view."""
        await self._sio.emit("state", view(case, pid), room=room_of(pid))  # type: ignore[arg-type]

    async def publish(self, after: Case, events: tuple[e.Event, ...]) -> None:
        """Tell each event's audience the new state, then the notices, then end sessions."""
        if not events:
            return
        if self._media is not None:
            # Media first: a route closes before anyone is told that the mediator moved.
            await self._media.sync(after)
            await self._media.announce(after)
        targets: set[str] = set()
        for event in events:
            targets |= audience(after, event)
        for pid in sorted(targets):
            await self.state(after, pid)
        mediator = after.mediator.id
        for event in events:
            for pid, code in notices(after, event):
                payload: dict[str, Any] = {"code": code}
                if pid == mediator:
                    subject = after.get(event.subject)
                    if subject is not None and subject.role is not Role.MEDIATOR:
                        payload["participant"] = subject.id
                await self._sio.emit("notice", payload, room=room_of(pid))
        for event in events:
            await self._after_effects(after, event)

    async def _after_effects(self, case: Case, event: e.Event) -> None:
        if isinstance(event, (e.SafetyExited, e.InviteReissued)):
            await self._auth.revoke_seat(case.id, event.subject)
            await self.disconnect_seat(case.id, event.subject)
            log("seat_ended", case=case.id, kind=type(event).__name__)
        elif isinstance(event, e.CaseClosed):
            parties: list[str] = [p.id for p in case.participants if p.role is not Role.MEDIATOR]
            await self._auth.revoke_case(case.id, parties)
            # Purge the chat log, then keep only the closed, key-less record for the outcome.
            await self._store.purge_case(case.id)
            await self._repo.create(case)
            for p in case.participants:
                await self.disconnect_seat(case.id, p.id)
            log("case_closed", case=case.id)

    async def disconnect_seat(self, case_id: str, pid: str) -> None:
        """Close every socket of a seat, on whichever node it is.

        The sessions are already revoked, so nothing more can be sent on these sockets;
        the close itself waits a moment so that the acknowledgement of the command that
        ended the seat (a safety exit, say) reaches the client first.
        """
        key = seat_key(case_id, pid)
        sids = await self._store.set_members(LIVE, key)
        for sid in sids:
            await self._store.remove_from_set(LIVE, key, sid)
        self.disconnect_later(sids)

    def disconnect_later(self, sids: Iterable[str]) -> None:
        """Close sockets once the acknowledgement being sent now has gone out."""
        sids = list(sids)

        async def close_later() -> None:
            await asyncio.sleep(ACK_GRACE)
            for sid in sids:
                await self._sio.disconnect(sid)

        task = asyncio.get_running_loop().create_task(close_later())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
