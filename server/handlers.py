"""The socket.io events of the wire contract (docs/protocol.md). Each handler parses
its payload into a command and lets ``Gateway.run`` do the rest; none decides who may
do what (that is ``rooms``)."""

from __future__ import annotations

from typing import Any

from rooms import (
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
from rooms.handle import handle
from rooms.ids import ParticipantId
from rooms.model import CHAT_PLACES
from rooms.visibility import history_places
from server import schema as s
from server.sockets import Ack, Conn, Gateway, ok

CHAT_MAX_BYTES = 48 * 1024
MAX_RECIPIENTS = 3


def register(gw: Gateway) -> None:
    """Attach every event handler of the contract to the gateway."""

    async def state_get(conn: Conn, payload: Any) -> Ack:
        s.obj(payload, set())
        case, _ = await gw.repo.load(conn.case_id)
        return ok(state=view(case, conn.pid))

    async def key_publish(conn: Conn, payload: Any) -> Ack:
        fields = s.obj(payload, {"public_key"})
        key = s.b64bytes(fields["public_key"], what="public_key", exact=32)
        await gw.run(conn, PublishKey(conn.pid, key))
        return ok()

    async def mediator_move(conn: Conn, payload: Any) -> Ack:
        fields = s.obj(payload, {"to"})
        await gw.run(conn, MoveMediator(conn.pid, s.place(fields["to"], allow_away=True)))
        return ok()

    async def joint_propose(conn: Conn, payload: Any) -> Ack:
        s.obj(payload, set())
        await gw.run(conn, ProposeJoint(conn.pid))
        return ok()

    async def joint_consent(conn: Conn, payload: Any) -> Ack:
        fields = s.obj(payload, {"agree"})
        await gw.run(conn, ConsentJoint(conn.pid, s.boolean(fields["agree"], "agree")))
        return ok()

    async def joint_withdraw(conn: Conn, payload: Any) -> Ack:
        s.obj(payload, set())
        await gw.run(conn, WithdrawJoint(conn.pid))
        return ok()

    async def safety_exit(conn: Conn, payload: Any) -> Ack:
        s.obj(payload, set())
        await gw.run(conn, SafetyExit(conn.pid))
        return ok()

    async def leave(conn: Conn, payload: Any) -> Ack:
        s.obj(payload, set())
        await gw.run(conn, Leave(conn.pid))
        return ok()

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
        at = gw.clock()
        record = {
            "id": message_id,
            "from": conn.pid,
            "place": posted.place.value,  # type: ignore[attr-defined]
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
                room=f"p:{pid}",
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
    gw.on("key.publish", key_publish, klass="control")
    gw.on("mediator.move", mediator_move, klass="control")
    gw.on("joint.propose", joint_propose, klass="control")
    gw.on("joint.consent", joint_consent, klass="control")
    gw.on("joint.withdraw", joint_withdraw, klass="control")
    gw.on("safety.exit", safety_exit, klass="control")
    gw.on("leave", leave, klass="control")
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
