"""The socket.io events of the wire contract (docs/protocol.md). Each handler parses
its payload into a command and lets ``Gateway.run`` do the rest; none decides who may
do what (that is ``rooms``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rooms import (
    Command,
    ConsentJoint,
    Leave,
    MoveMediator,
    NotPermitted,
    PostMessage,
    ProposeJoint,
    PublishKey,
    SafetyExit,
    WithdrawJoint,
    view,
)
from rooms.events import MessagePosted
from rooms.handle import handle
from rooms.ids import ParticipantId
from rooms.model import CHAT_PLACES
from rooms.visibility import history_places
from server import schema as s
from server.publish import room_of
from server.sockets import Ack, Conn, Gateway, ok

CHAT_MAX_BYTES = 48 * 1024
MAX_RECIPIENTS = 3


Parser = Callable[[ParticipantId, Any], Command]


def _no_fields(make: Callable[[ParticipantId], Command]) -> Parser:
    def parse(pid: ParticipantId, payload: Any) -> Command:
        s.obj(payload, set())
        return make(pid)

    return parse


def _publish_key(pid: ParticipantId, payload: Any) -> Command:
    fields = s.obj(payload, {"public_key"})
    return PublishKey(pid, s.b64bytes(fields["public_key"], what="public_key", exact=32))


def _move(pid: ParticipantId, payload: Any) -> Command:
    fields = s.obj(payload, {"to"})
    return MoveMediator(pid, s.place(fields["to"], allow_away=True))


def _consent(pid: ParticipantId, payload: Any) -> Command:
    fields = s.obj(payload, {"agree"})
    return ConsentJoint(pid, s.boolean(fields["agree"], "agree"))


COMMANDS: dict[str, Parser] = {
    "key.publish": _publish_key,
    "mediator.move": _move,
    "joint.propose": _no_fields(ProposeJoint),
    "joint.consent": _consent,
    "joint.withdraw": _no_fields(WithdrawJoint),
    "safety.exit": _no_fields(SafetyExit),
    "leave": _no_fields(Leave),
}
"""Events that are exactly one domain command, with the parser of their payload."""


def register(gw: Gateway) -> None:
    """Attach every event handler of the contract to the gateway."""

    async def state_get(conn: Conn, payload: Any) -> Ack:
        s.obj(payload, set())
        case, _ = await gw.repo.load(conn.case_id)
        return ok(state=view(case, conn.pid))

    def one_command(name: str, parse: Parser) -> None:
        """An event that is one domain command: parse, run, acknowledge."""

        async def run(conn: Conn, payload: Any) -> Ack:
            await gw.run(conn, parse(conn.pid, payload))
            return ok()

        gw.on(name, run, klass="control")

    for name, parse in COMMANDS.items():
        one_command(name, parse)

    async def chat_send(conn: Conn, payload: Any) -> Ack:
        fields = s.obj(payload, {"id", "boxes"}, {"place"})
        message_id = s.ident(fields["id"], "message id")
        place = s.place(fields["place"]) if fields.get("place") is not None else None
        raw_boxes = fields["boxes"]
        if not isinstance(raw_boxes, dict) or not raw_boxes:
            raise s.Invalid("boxes must be an object with one box per recipient.")
        if len(raw_boxes) > MAX_RECIPIENTS:
            raise s.Invalid("Too many recipients.")
        boxes = {s.ident(pid, "recipient"): s.box(b) for pid, b in raw_boxes.items()}
        command = PostMessage(
            conn.pid, place, frozenset(ParticipantId(p) for p in boxes), message_id
        )
        case, _ = await gw.repo.load(conn.case_id)
        _, events = handle(case, command, now=gw.clock())  # permission check; changes nothing
        posted = events[0]
        assert isinstance(posted, MessagePosted)
        at = gw.clock()
        record = {
            "id": message_id,
            "from": conn.pid,
            "place": posted.place.value,
            "at": at,
            "boxes": boxes,
        }
        fresh = await gw.store.append_message(
            conn.case_id, record, f"{conn.pid}:{message_id}", gw.retention
        )
        if not fresh:
            return ok(duplicate=True)
        # Stored before announced: a node that misses the pub/sub message loses nothing.
        for pid, b in boxes.items():
            await gw.sio.emit(
                "chat.message",
                {"id": message_id, "from": conn.pid, "place": record["place"], "box": b, "at": at},
                room=room_of(pid),
            )
        return ok(at=at)

    async def chat_history(conn: Conn, payload: Any) -> Ack:
        fields = s.obj(payload, set(), {"place"})
        case, _ = await gw.repo.load(conn.case_id)
        me = case.get(ParticipantId(conn.pid))
        if fields.get("place") is not None:
            place = s.place(fields["place"])
        elif me is not None and me.place in CHAT_PLACES:
            place = me.place
        else:
            raise s.Invalid("Say which room's history you want.")
        if place not in history_places(case, ParticipantId(conn.pid)):
            raise NotPermitted("You cannot read that room.")
        items = []
        for record in await gw.store.messages(conn.case_id):
            if record["place"] != place.value:
                continue
            boxes = record["boxes"]
            if conn.pid in boxes:  # only ever the caller's own box
                items.append(_item(record, boxes[conn.pid], to=conn.pid))
            elif record["from"] == conn.pid:
                to = sorted(boxes)[0]
                items.append(_item(record, boxes[to], to=to))
        return ok(messages=items)

    gw.on("state.get", state_get, klass="read")
    gw.on("chat.send", chat_send, klass="chat", max_bytes=CHAT_MAX_BYTES)
    gw.on("chat.history", chat_history, klass="read")


def _item(record: dict[str, Any], box: dict[str, str], *, to: str) -> dict[str, Any]:
    return {
        "id": record["id"],
        "from": record["from"],
        "to": to,
        "place": record["place"],
        "at": record["at"],
        "box": box,
    }
