"""Media signalling: ``rtc.config`` and ``rtc.offer`` (one connection per participant,
to the server; no trickle ICE). Where media may flow is decided by ``rooms``."""

from __future__ import annotations

from typing import Any

from rooms import CaseClosed, NotPermitted, ParticipantId
from rooms.model import CaseStatus
from rooms.visibility import may_send_media, media_slot_names
from server import schema as s
from server.media import OfferRejected
from server.mediahub import MediaHub
from server.sockets import Ack, Conn, Gateway, ok


def register(gw: Gateway, hub: MediaHub) -> None:
    """Attach the media signalling events."""

    async def rtc_config(conn: Conn, payload: Any) -> Ack:
        s.obj(payload, set())
        return ok(ice_servers=hub.ice_servers(conn.pid))

    async def rtc_offer(conn: Conn, payload: Any) -> Ack:
        fields = s.obj(payload, {"sdp"}, {"type"})
        sdp = s.sdp(fields["sdp"])
        if fields.get("type", "offer") != "offer":
            raise s.Invalid("Only offers are accepted.")
        case, _ = await gw.repo.load(conn.case_id)
        if case.status is CaseStatus.CLOSED:
            raise CaseClosed("This case is closed.")
        if not may_send_media(case, ParticipantId(conn.pid)):
            raise NotPermitted("You are not connected to this case.")
        relay = await hub.relay_for(case)
        try:
            answer = await relay.offer(conn.pid, sdp)
        except OfferRejected as exc:
            raise s.Invalid("The offer could not be used.") from exc
        await hub.sync(case)
        names = media_slot_names(case, ParticipantId(conn.pid), relay.slots(conn.pid))
        return ok(sdp=answer, slots=names)

    gw.on("rtc.config", rtc_config, klass="read")
    gw.on("rtc.offer", rtc_offer, klass="rtc", max_bytes=s.MAX_SDP + 256)
