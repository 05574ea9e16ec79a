"""The invariants of DESIGN.md section 2 as checks over one step of the domain.

Used by the state machine (random commands) and by the scenarios (the normal flow):
``check_case`` holds of every reachable case, ``check_step`` of every accepted command,
and ``expected_refusal`` says which commands must be refused and how
(``rooms_noninterference`` adds that a party's outcome never depends on the other party).
The expectations are written from the design, not read back from ``rooms``: who may chat
with whom and which media routes may exist are recomputed here.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rooms import (
    Case,
    CaseId,
    CaseStatus,
    CloseCase,
    Command,
    Connect,
    ConsentJoint,
    DomainError,
    JointStatus,
    Leave,
    MoveMediator,
    NotPermitted,
    ParticipantId,
    Place,
    PostMessage,
    ProposeJoint,
    ProtocolViolation,
    PublishKey,
    ReissueInvite,
    Role,
    SafetyExit,
    WithdrawJoint,
    audience,
    chat_members,
    chat_peers,
    media_routes,
    notices,
    open_case,
    view,
)
from rooms import events as ev
from rooms.errors import CaseClosed
from rooms.visibility import View


@functools.lru_cache(maxsize=256)
def seen_by(case: Case, pid: ParticipantId) -> View:
    """``view`` memoised: each case is looked at from every seat several times per step.
    Callers must not mutate the result."""
    return view(case, pid)


PARTIES = (Role.VICTIM, Role.RESPONDENT)
CAUCUS = {Role.VICTIM: Place.VICTIM_CAUCUS, Role.RESPONDENT: Place.RESPONDENT_CAUCUS}

# Distinctive ids, labels, pseudonyms and key tags per seat, so that a leak shows up as a
# plain substring of the other party's serialized view.
MED = ParticipantId("seat-m-0d1a")
VIC = ParticipantId("seat-v-71c3")
RES = ParticipantId("seat-r-9e55")
SEAT = {Role.MEDIATOR: MED, Role.VICTIM: VIC, Role.RESPONDENT: RES}
FORGED = (ParticipantId("seat-x-forged"), ParticipantId(""))
LABEL = {Role.VICTIM: "Label-VIOLET", Role.RESPONDENT: "Label-ROOK"}
TOKEN = {Role.VICTIM: "VIOLET", Role.RESPONDENT: "ROOK", Role.MEDIATOR: "MIRA"}
"""In every label and pseudonym of that seat, and nowhere else."""
KEY_TAG = {Role.VICTIM: b"\xa1", Role.RESPONDENT: b"\xb2", Role.MEDIATOR: b"\xc3"}
CASE_LABEL = "case-label-console-only"

MEDIATOR_ONLY = frozenset({MoveMediator, ProposeJoint, ReissueInvite, CloseCase})
PARTY_ONLY = frozenset({ConsentJoint, SafetyExit})


def pseudonym(role: Role, suffix: str) -> str:
    return f"pseud-{TOKEN[role]}-{suffix}"


def key(role: Role, rest: bytes) -> bytes:
    """A valid 32-byte key that can only have come from ``role``."""
    return KEY_TAG[role] + rest.ljust(31, b"\0")[:31]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def new_case(now: float = 0.0) -> Case:
    return open_case(
        CaseId("case-1"),
        label=CASE_LABEL,
        mediator=MED,
        victim=VIC,
        respondent=RES,
        now=now,
        labels=dict(LABEL),
    )


def other(role: Role) -> Role:
    return Role.RESPONDENT if role is Role.VICTIM else Role.VICTIM


@dataclass
class Canaries:
    """Every key each seat ever published (ids, labels and pseudonyms are fixed tokens)."""

    keys: dict[Role, set[str]] = field(default_factory=lambda: {r: set() for r in Role})

    def saw(self, case: Case, cmd: Command) -> None:
        actor = case.get(cmd.actor)
        if actor is not None and isinstance(cmd, PublishKey):
            self.keys[actor.role].add(b64(cmd.public_key))


# -- what each participant observes ------------------------------------------------


def observation(case: Case, pid: ParticipantId, events: Iterable[ev.Event]) -> Any:
    """All ``pid`` learns from a step: its view, the events and notices it is told, and
    the media routes it is part of."""
    told = tuple(
        (e, tuple(sorted(code for who, code in notices(case, e) if who == pid)))
        for e in events
        if pid in audience(case, e)
    )
    return seen_by(case, pid), told, _routes_of(case, pid)


def view_changed(before: Case, after: Case, pid: ParticipantId) -> bool:
    """Whether ``pid``'s view changed, ignoring the one field an unjoined party cannot see.

    A case turns ``open`` -> ``in_session`` when the first party joins, which is in every
    seat's view. A party that has not joined has no session and is never sent a view; once
    it joins the case is ``in_session`` whoever came first, so this reveals nothing.
    """
    old, new = seen_by(before, pid), seen_by(after, pid)
    seat = before.get(pid)
    assert seat is not None
    statuses = (old["case"]["status"], new["case"]["status"])
    if seat.role in PARTIES and not seat.joined and statuses == ("open", "in_session"):
        old = {**old, "case": {**old["case"], "status": None}}
        new = {**new, "case": {**new["case"], "status": None}}
    return bool(old != new)


def _routes_of(case: Case, pid: ParticipantId) -> list[tuple[ParticipantId, ParticipantId]]:
    return sorted(r for r in media_routes(case) if pid in r)


# -- invariants of one case --------------------------------------------------------


def expected_members(case: Case, place: Place) -> frozenset[ParticipantId]:
    """Chat is per caucus (the mediator and, once joined, that caucus's party, online or
    not) and, while open, joint (everyone in it)."""
    if place is Place.JOINT:
        if case.joint.status is not JointStatus.OPEN:
            return frozenset()
        return frozenset({MED, VIC, RES})
    for role in PARTIES:
        if place is CAUCUS[role]:
            party = case.by_role(role)
            return frozenset({MED, party.id} if party.joined else {MED})
    return frozenset()


def expected_routes(case: Case) -> frozenset[tuple[ParticipantId, ParticipantId]]:
    """Media flows between distinct online people in the same non-away place, nowhere else."""
    if case.status is CaseStatus.CLOSED:
        return frozenset()
    here = [p for p in case.participants if p.online and p.place not in (None, Place.AWAY)]
    return frozenset(
        (a.id, b.id) for a in here for b in here if a.id != b.id and a.place is b.place
    )


def check_case(case: Case, canaries: Canaries) -> None:
    """Invariants 1-5 as properties of one reachable case."""
    med = case.mediator
    joint_open = case.joint.status is JointStatus.OPEN
    routes = media_routes(case)

    # 3. Only the mediator moves: a party is nowhere, in its own caucus, or in joint.
    for role in PARTIES:
        p = case.by_role(role)
        assert p.place in (None, CAUCUS[role], Place.JOINT), (role, p.place)
        assert p.joined or not p.online, p
        if case.status is not CaseStatus.CLOSED:
            assert (p.place is None) == (not p.joined), p
    assert med.place is not None
    assert med.online or med.place is Place.AWAY, med

    # 4. Joint needs both: open means both agreed and all three are in it, online.
    in_joint = [p for p in case.participants if p.place is Place.JOINT]
    if joint_open:
        assert all(case.joint.consent_of(r) is True for r in PARTIES), case.joint
        assert len(in_joint) == 3 and all(p.online for p in case.participants), case
    else:
        assert in_joint == [], in_joint
    if case.joint.status is JointStatus.PROPOSED:
        # An answer lapses when its party goes away: joint cannot open with someone gone.
        for r in PARTIES:
            assert case.joint.consent_of(r) is None or case.by_role(r).online, case

    # 5. The mediator is in one place; media flows only within a place; chat per place.
    assert routes == expected_routes(case), (routes, expected_routes(case))
    for a, b in routes:
        if MED in (a, b):
            peer = case.get(b if a == MED else a)
            assert peer is not None and peer.online and peer.place is med.place, (a, b)
    for place in Place:
        assert frozenset(p.id for p in chat_members(case, place)) == expected_members(case, place)

    if case.status is CaseStatus.CLOSED:
        assert routes == frozenset()
        assert not any(p.online for p in case.participants)
        assert case.joint.status is JointStatus.NONE

    # 1, 2. Separation and no trace, outside an open joint session.
    for role in PARTIES:
        me, them = case.by_role(role), case.by_role(other(role))
        seen = json.dumps(seen_by(case, me.id))
        # Even in joint a party never sees the other's label or pseudonym.
        assert TOKEN[them.role] not in seen, (role, seen)
        assert CASE_LABEL not in seen
        if joint_open:
            continue
        assert them.id not in seen, (role, seen)
        for k in canaries.keys[them.role]:
            assert k not in seen, (role, seen)
        assert them.id not in chat_peers(case, me.id)
        assert (me.id, them.id) not in routes and (them.id, me.id) not in routes
        for place in Place:
            ids = {p.id for p in chat_members(case, place)}
            assert not {me.id, them.id} <= ids, (place, ids)


# -- invariants of one step --------------------------------------------------------


def accepted_post(case: Case, cmd: PostMessage) -> Place | None:
    """The place ``cmd`` is written in if it must be accepted, else None (refused)."""
    actor = case.get(cmd.actor)
    assert actor is not None
    place = cmd.place
    if place is None:
        if actor.role is Role.MEDIATOR:
            return None  # the mediator must say which room
        place = actor.place or CAUCUS[actor.role]
    members = expected_members(case, place)
    if actor.id not in members or not cmd.recipients:
        return None
    if not cmd.recipients <= members - {actor.id}:
        return None
    return place


def check_step(before: Case, cmd: Command, after: Case, events: tuple[ev.Event, ...]) -> None:
    """What must hold of an accepted command (``before`` -> ``after``)."""
    actor = before.get(cmd.actor)
    assert actor is not None
    assert before.status is not CaseStatus.CLOSED
    was_open = before.joint.status is JointStatus.OPEN
    now_open = after.joint.status is JointStatus.OPEN

    told: set[ParticipantId] = set()
    for e in events:
        heard = audience(after, e)
        assert heard <= {MED, VIC, RES}, heard
        assert {who for who, _ in notices(after, e)} <= heard, e
        told |= heard

    # Audience completeness: whoever's view changed was told why.
    changed = {p.id for p in after.participants if view_changed(before, after, p.id)}
    for pid in changed:
        assert pid in told, (pid, cmd, events)

    # 1, 2. A party's own doings reach neither the other party nor its notices.
    if actor.role in PARTIES and not was_open and not now_open:
        them = before.by_role(other(actor.role))
        assert them.id not in changed, (cmd, events)
        assert them.id not in told, (cmd, events)
        assert all(who != them.id for e in events for who, _ in notices(after, e)), events
        assert _routes_of(before, them.id) == _routes_of(after, them.id), (cmd, events)

    # 3. Only the mediator moves; a party's own command moves parties only into or out
    # of joint (or into its own caucus when it first connects).
    for role in PARTIES:
        old, new = before.by_role(role), after.by_role(role)
        if old.place is new.place or Place.JOINT in (old.place, new.place):
            continue
        if actor.role in PARTIES:
            assert isinstance(cmd, Connect) and old.id == actor.id, (cmd, old, new)
            assert old.place is None and new.place is CAUCUS[role], (old, new)
        else:
            assert isinstance(cmd, ReissueInvite | CloseCase), (cmd, old, new)
    if actor.role in PARTIES and before.mediator.place is not after.mediator.place:
        moved = (before.mediator.place, after.mediator.place)
        assert Place.JOINT in moved, (cmd, moved)

    # 4. Joint opens only on the second "yes" to a proposal; leaving it closes it for all.
    if now_open and not was_open:
        assert before.joint.status is JointStatus.PROPOSED
        assert isinstance(cmd, ConsentJoint) and cmd.agree
        assert any(isinstance(e, ev.JointOpened) for e in events)
    if was_open and actor.role in PARTIES and isinstance(cmd, WithdrawJoint | Leave | SafetyExit):
        assert after.joint.status is JointStatus.NONE
        for role in PARTIES:
            assert after.by_role(role).place is CAUCUS[role]
        assert after.mediator.place is not Place.JOINT
        closed = [e for e in events if isinstance(e, ev.JointClosed)]
        assert closed and closed[0].was_open
        for role in PARTIES:
            assert (before.by_role(role).id, "joint_closed") in notices(after, closed[0])
    if was_open and not now_open and after.status is not CaseStatus.CLOSED:
        assert all(p.place is not Place.JOINT for p in after.participants)

    # 5. After a move, nothing reaches the old place.
    if isinstance(cmd, MoveMediator) and before.mediator.place is not cmd.to:
        assert after.mediator.place is cmd.to
        for a, b in media_routes(after):
            if MED in (a, b):
                peer = after.get(b if a == MED else a)
                assert peer is not None and peer.place is cmd.to

    # 5. A message reaches exactly the members it names, in the place it belongs to.
    if isinstance(cmd, PostMessage):
        place = accepted_post(before, cmd)
        assert place is not None, cmd
        assert after == before
        (posted,) = events
        assert isinstance(posted, ev.MessagePosted) and posted.place is place
        assert audience(after, posted) == {actor.id} | cmd.recipients
        assert posted.recipients == cmd.recipients

    if isinstance(cmd, CloseCase):
        assert after.status is CaseStatus.CLOSED and media_routes(after) == frozenset()


def expected_refusal(case: Case, cmd: Command) -> type[DomainError] | None:
    """The error ``cmd`` must be refused with, or None if it must be accepted."""
    if case.status is CaseStatus.CLOSED:
        return CaseClosed
    actor = case.get(cmd.actor)
    if actor is None:
        return ProtocolViolation
    if actor.role is Role.MEDIATOR and type(cmd) in PARTY_ONLY:
        return ProtocolViolation
    if actor.role in PARTIES and type(cmd) in MEDIATOR_ONLY:
        return ProtocolViolation
    if isinstance(cmd, PublishKey) and len(cmd.public_key) != 32:
        return ProtocolViolation
    joint = case.joint.status
    if isinstance(cmd, MoveMediator) and (
        not actor.online or (cmd.to is Place.JOINT and joint is not JointStatus.OPEN)
    ):
        return NotPermitted
    if isinstance(cmd, ProposeJoint) and (
        not actor.online
        or joint is not JointStatus.NONE
        or not all(case.by_role(r).online for r in PARTIES)
    ):
        return NotPermitted
    if isinstance(cmd, WithdrawJoint) and joint is JointStatus.NONE:
        return NotPermitted
    if isinstance(cmd, PostMessage) and accepted_post(case, cmd) is None:
        return NotPermitted
    if isinstance(cmd, ConsentJoint) and (joint is not JointStatus.PROPOSED or not actor.online):
        return NotPermitted
    if isinstance(cmd, ReissueInvite) and cmd.role is Role.MEDIATOR:
        return NotPermitted
    return None
