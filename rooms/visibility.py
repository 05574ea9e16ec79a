"""Who may learn what. Computed from the case, never stored.

The adapters apply exactly these sets: ``audience`` (who is told of an event),
``notices`` (what each of them is told), ``chat_members``/``chat_peers`` (who may
read whom), ``media_routes`` (whose media flows where) and ``view`` (the whole of
what one participant may know). Outside an open joint session nothing here ever
lets one party learn anything about the other.
"""

from __future__ import annotations

import base64
from typing import Any

from rooms import events as e
from rooms.ids import ParticipantId
from rooms.model import (
    CAUCUS_OF,
    PARTY_ROLES,
    Case,
    CaseStatus,
    JointStatus,
    Participant,
    Place,
    Role,
)

View = dict[str, Any]


def chat_members(case: Case, place: Place) -> frozenset[Participant]:
    """Who belongs to ``place``'s chat: the caucus's party (once joined) and the mediator;
    joint: whoever is in it, while it is open."""
    if place is Place.JOINT:
        if case.joint.status is not JointStatus.OPEN:
            return frozenset()
        return frozenset(p for p in case.participants if p.place is Place.JOINT)
    for role, caucus in CAUCUS_OF.items():
        if caucus is place:
            party = case.by_role(role)
            return frozenset({case.mediator, party} if party.joined else {case.mediator})
    return frozenset()


def chat_places(case: Case, pid: ParticipantId) -> tuple[Place, ...]:
    """The chats ``pid`` may read and write now (a party: its caucus, and joint while in it)."""
    return tuple(
        place
        for place in (Place.VICTIM_CAUCUS, Place.RESPONDENT_CAUCUS, Place.JOINT)
        if any(p.id == pid for p in chat_members(case, place))
    )


def chat_peers(case: Case, pid: ParticipantId) -> frozenset[ParticipantId]:
    """The participants ``pid`` may message (and whose public keys it may see)."""
    peers: set[ParticipantId] = set()
    for place in chat_places(case, pid):
        peers |= {p.id for p in chat_members(case, place)}
    peers.discard(pid)
    return frozenset(peers)


def media_routes(case: Case) -> frozenset[tuple[ParticipantId, ParticipantId]]:
    """``(source, sink)`` pairs whose media may flow now: online people in the same room.

    A party's caucus only holds that party and, when there, the mediator; the two
    parties share a room only in an open joint session. Away and offline: no route.
    """
    if case.status is CaseStatus.CLOSED:
        return frozenset()
    rooms: dict[Place, list[ParticipantId]] = {}
    for p in case.participants:
        if p.online and p.place is not None and p.place is not Place.AWAY:
            rooms.setdefault(p.place, []).append(p.id)
    return frozenset((a, b) for ids in rooms.values() for a in ids for b in ids if a != b)


def _everyone(case: Case) -> frozenset[ParticipantId]:
    return frozenset(p.id for p in case.participants)


def _with_mediator(case: Case, *pids: ParticipantId) -> frozenset[ParticipantId]:
    return frozenset({case.mediator.id, *pids})


def audience(case: Case, event: e.Event) -> frozenset[ParticipantId]:
    """Who may learn of ``event`` (``case`` is the case after it happened).

    Anything a party does on its own (joining, leaving, answering a proposal,
    its key, a safety exit) is told to itself and the mediator only.
    """
    if isinstance(event, e.MessagePosted):
        return frozenset({event.subject, *event.recipients})
    if isinstance(event, e.KeyPublished):
        # The mediator's console shows every seat's key, joined or not.
        return chat_peers(case, event.subject) | _with_mediator(case, event.subject)
    if isinstance(event, (e.PartyJoined, e.JointAnswered, e.SafetyExited, e.InviteReissued)):
        return _with_mediator(case, event.subject)
    if isinstance(event, e.ParticipantLeft):
        if event.subject == case.mediator.id:
            return _everyone(case)
        return _with_mediator(case, event.subject)
    if isinstance(
        event,
        (
            e.MediatorOnline,
            e.MediatorMoved,
            e.JointProposed,
            e.JointOpened,
            e.JointClosed,
            e.CaseClosed,
        ),
    ):
        return _everyone(case)
    raise TypeError(f"no audience rule for {type(event).__name__}")


def mediator_status(case: Case, party: Participant) -> str:
    """What a party knows of the mediator: with_you, with_other_party, away or offline."""
    mediator = case.mediator
    if not mediator.online:
        return "offline"
    if mediator.place is Place.AWAY or mediator.place is None:
        return "away"
    if mediator.place is party.place:
        return "with_you"
    if mediator.place is Place.JOINT:
        # Joint needs both parties, so a party outside it cannot exist; say "away".
        return "away"
    return "with_other_party"


def _notices_for_move(case: Case, event: e.MediatorMoved) -> list[tuple[ParticipantId, str]]:
    out: list[tuple[ParticipantId, str]] = []
    for role in PARTY_ROLES:
        party = case.by_role(role)
        mine = CAUCUS_OF[role]
        if event.to_place is mine:
            out.append((party.id, "mediator_joined"))
        elif event.from_place is mine:
            code = "mediator_away"
            if event.to_place is CAUCUS_OF[_other(role)]:
                code = "mediator_left_for_other_party"
            out.append((party.id, code))
    return out


def _other(role: Role) -> Role:
    return Role.RESPONDENT if role is Role.VICTIM else Role.VICTIM


def notices(case: Case, event: e.Event) -> list[tuple[ParticipantId, str]]:
    """Short notices (``{code}``) for people who should be alerted, a subset of ``audience``."""
    parties = [case.by_role(r).id for r in PARTY_ROLES]
    mediator = case.mediator.id
    if isinstance(event, e.MediatorMoved):
        return _notices_for_move(case, event)
    if isinstance(event, e.JointClosed):
        return [(pid, "joint_closed") for pid in (*parties, mediator)]
    if isinstance(event, e.JointOpened):
        return [(pid, "joint_opened") for pid in (*parties, mediator)]
    if isinstance(event, e.JointProposed):
        return [(pid, "joint_proposed") for pid in parties]
    if isinstance(event, e.SafetyExited):
        return [(mediator, "party_safety_exit")]
    if isinstance(event, e.PartyJoined):
        return [(mediator, "party_joined")]
    if isinstance(event, e.ParticipantLeft):
        if event.subject == mediator:
            return [(pid, "mediator_offline") for pid in parties]
        return [(mediator, "party_left")]
    if isinstance(event, e.InviteReissued):
        return [(event.subject, "session_revoked")]
    if isinstance(event, e.CaseClosed):
        return [(pid, "case_closed") for pid in (*parties, mediator)]
    return []


def _key(p: Participant) -> str | None:
    return base64.b64encode(p.public_key).decode() if p.public_key else None


def _peer(case: Case, viewer: Participant, p: Participant) -> dict[str, Any]:
    # A party never sees the other party's label or pseudonym, even in joint:
    # those are the mediator's notes and the party's own words to the mediator.
    label = p.label if viewer.role is Role.MEDIATOR or p.role is Role.MEDIATOR else None
    return {"id": p.id, "role": p.role.value, "label": label, "public_key": _key(p)}


def view(case: Case, pid: ParticipantId) -> View:
    """Everything ``pid`` may know about the case now (the ``state`` event's payload)."""
    me = case.get(pid)
    if me is None:
        raise LookupError(pid)
    peers = sorted(chat_peers(case, pid))
    base: View = {
        "me": {"id": me.id, "role": me.role.value, "place": me.place.value if me.place else None},
        "case": {"id": case.id, "status": case.status.value},
        "peers": [_peer(case, me, p) for p in case.participants if p.id in peers],
        "chats": [place.value for place in chat_places(case, pid)],
    }
    if me.role is Role.MEDIATOR:
        base["case"]["label"] = case.label
        base["participants"] = [
            {
                "id": p.id,
                "role": p.role.value,
                "label": p.label,
                "pseudonym": p.pseudonym,
                "online": p.online,
                "joined": p.joined,
                "place": p.place.value if p.place else None,
                "public_key": _key(p),
                "safety_exited": p.safety_exited,
            }
            for p in case.participants
        ]
        base["joint"] = {
            "status": case.joint.status.value,
            "consents": {r.value: case.joint.consent_of(r) for r in PARTY_ROLES},
        }
        return base
    base["mediator"] = mediator_status(case, me)
    base["joint"] = {
        "status": case.joint.status.value,
        "my_consent": case.joint.consent_of(me.role),
    }
    return base


def history_places(case: Case, pid: ParticipantId) -> frozenset[Place]:
    """Chats whose history ``pid`` may ask for: a party its own caucus and joint (where it
    only ever gets boxes addressed to or sent by itself); the mediator every chat."""
    me = case.get(pid)
    if me is None:
        return frozenset()
    if me.role is Role.MEDIATOR:
        return frozenset({Place.VICTIM_CAUCUS, Place.RESPONDENT_CAUCUS, Place.JOINT})
    return frozenset({CAUCUS_OF[me.role], Place.JOINT})


def media_slot_names(case: Case, pid: ParticipantId, sources: tuple[str, ...]) -> list[str]:
    """How ``pid`` may call the sources of its receive slots: the mediator by participant
    id; a party only "mediator" or "other_party" (never the other party's id)."""
    me = case.get(pid)
    if me is None:
        raise LookupError(pid)
    names: list[str] = []
    for source in sources:
        other = case.get(ParticipantId(source))
        if other is None:
            raise LookupError(source)
        if me.role is Role.MEDIATOR:
            names.append(other.id)
        else:
            names.append("mediator" if other.role is Role.MEDIATOR else "other_party")
    return names


def may_send_media(case: Case, pid: ParticipantId) -> bool:
    """Whether ``pid`` may (re)negotiate its connection to the relay: a connected
    participant of a case that is not closed. Where its media goes is ``media_routes``."""
    me = case.get(pid)
    return me is not None and me.online and case.status is not CaseStatus.CLOSED
