"""``handle(case, command, now=...)``: check everything, then build the new case.

Each handler receives the case and the actor's seat, raises a ``DomainError``
before touching anything if the command is refused, and otherwise returns the
new case with the events that happened, in order. A refused command leaves no trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rooms import commands as c
from rooms import events as e
from rooms.errors import CaseClosed, NotPermitted, ProtocolViolation
from rooms.model import (
    CAUCUS_OF,
    PARTY_ROLES,
    Case,
    CaseStatus,
    Joint,
    JointStatus,
    Participant,
    Place,
    Role,
)
from rooms.policy import may
from rooms.visibility import chat_members

Result = tuple[Case, tuple[e.Event, ...]]
C = TypeVar("C", bound=c.Command)
Handler = Callable[[Case, Any, Participant, float], Result]

PUBLIC_KEY_BYTES = 32


def handle(case: Case, command: c.Command, *, now: float) -> Result:
    """Apply ``command`` to ``case`` at time ``now``; raise a DomainError to refuse it."""
    if case.status is CaseStatus.CLOSED:
        raise CaseClosed("This case is closed.")
    actor = case.get(command.actor)
    if actor is None:
        raise ProtocolViolation("Unknown participant.", code="not_permitted")
    if not may(actor.role, type(command)):
        raise ProtocolViolation("Your role cannot do that.", code="not_permitted")
    return _HANDLERS[type(command)](case, command, actor, now)


# -- helpers -------------------------------------------------------------------


def _close_joint(case: Case, subject: Participant) -> Result:
    """End a proposal or an open joint session; everyone in joint returns to a caucus.

    Parties go back to their own caucus and the mediator goes away, so that nobody
    stays together with someone they did not choose to be with.
    """
    if case.joint.status is JointStatus.NONE:
        return case, ()
    was_open = case.joint.status is JointStatus.OPEN
    if was_open:
        for p in case.participants:
            if p.place is Place.JOINT:
                back = Place.AWAY if p.role is Role.MEDIATOR else CAUCUS_OF[p.role]
                case = case.replace_participant(p.with_(place=back))
    case = case.with_(joint=Joint())
    return case, (e.JointClosed(subject.id, was_open=was_open),)


def _party_gone(case: Case, party: Participant) -> Result:
    """A party became unavailable: its consent lapses and an open joint closes."""
    if case.joint.status is JointStatus.OPEN:
        return _close_joint(case, party)
    if case.joint.status is JointStatus.PROPOSED:
        case = case.with_(joint=case.joint.with_consent(party.role, None))
    return case, ()


def _maybe_open_joint(case: Case, subject: Participant) -> Result:
    """Open joint only when proposed, both parties agree and all three are online."""
    joint = case.joint
    if joint.status is not JointStatus.PROPOSED:
        return case, ()
    parties = [case.by_role(r) for r in PARTY_ROLES]
    if not all(joint.consent_of(p.role) is True and p.online for p in parties):
        return case, ()
    if not case.mediator.online:
        return case, ()
    for p in case.participants:
        case = case.replace_participant(p.with_(place=Place.JOINT))
    case = case.with_(joint=Joint(JointStatus.OPEN, joint.consents))
    return case, (e.JointOpened(subject.id),)


# -- handlers ------------------------------------------------------------------


def _connect(case: Case, cmd: c.Connect, actor: Participant, now: float) -> Result:
    if actor.role is Role.MEDIATOR:
        if actor.online:
            return case, ()
        case = case.replace_participant(actor.with_(online=True, place=Place.AWAY))
        return case, (e.MediatorOnline(actor.id),)
    pseudonym = cmd.pseudonym if cmd.pseudonym is not None else actor.pseudonym
    if actor.online and pseudonym == actor.pseudonym:
        return case, ()
    first_time = not actor.joined
    place = actor.place if actor.online else CAUCUS_OF[actor.role]
    case = case.replace_participant(
        actor.with_(online=True, joined=True, place=place, pseudonym=pseudonym)
    )
    if case.status is CaseStatus.OPEN:
        case = case.with_(status=CaseStatus.IN_SESSION)
    return case, (e.PartyJoined(actor.id, first_time=first_time),)


def _leave(case: Case, cmd: c.Leave, actor: Participant, now: float) -> Result:
    if not actor.online:
        return case, ()
    events: tuple[e.Event, ...] = ()
    if actor.role is Role.MEDIATOR:
        # Without the mediator nobody may stay together, and a proposal lapses.
        case, events = _close_joint(case, actor)
        case = case.replace_participant(case.mediator.with_(online=False, place=Place.AWAY))
    else:
        case, events = _party_gone(case, actor)
        seat = case.by_role(actor.role)
        case = case.replace_participant(seat.with_(online=False))
    return case, (*events, e.ParticipantLeft(actor.id))


def _move_mediator(case: Case, cmd: c.MoveMediator, actor: Participant, now: float) -> Result:
    if not actor.online:
        raise NotPermitted("You are not connected.")
    if cmd.to is Place.JOINT and case.joint.status is not JointStatus.OPEN:
        raise NotPermitted("No joint session is open.")
    if cmd.to is actor.place:
        return case, ()
    events: tuple[e.Event, ...] = ()
    from_place = actor.place or Place.AWAY
    if from_place is Place.JOINT:
        # The mediator leaving joint ends it: the parties are never left together alone.
        case, events = _close_joint(case, actor)
    case = case.replace_participant(case.mediator.with_(place=cmd.to))
    return case, (*events, e.MediatorMoved(actor.id, from_place=from_place, to_place=cmd.to))


def _propose_joint(case: Case, cmd: c.ProposeJoint, actor: Participant, now: float) -> Result:
    if not actor.online:
        raise NotPermitted("You are not connected.")
    if case.joint.status is not JointStatus.NONE:
        raise NotPermitted("A joint session is already proposed or open.")
    if not all(case.by_role(r).online for r in PARTY_ROLES):
        raise NotPermitted("Both parties must be connected to propose a joint session.")
    case = case.with_(joint=Joint(JointStatus.PROPOSED))
    return case, (e.JointProposed(actor.id),)


def _consent_joint(case: Case, cmd: c.ConsentJoint, actor: Participant, now: float) -> Result:
    if case.joint.status is JointStatus.NONE:
        raise NotPermitted("No joint session has been proposed.")
    if case.joint.status is JointStatus.OPEN:
        raise NotPermitted("The joint session is already open.")
    if not actor.online:
        raise NotPermitted("You are not connected.")
    case = case.with_(joint=case.joint.with_consent(actor.role, cmd.agree))
    answered = e.JointAnswered(actor.id, agree=cmd.agree)
    case, opened = _maybe_open_joint(case, actor)
    return case, (answered, *opened)


def _withdraw_joint(case: Case, cmd: c.WithdrawJoint, actor: Participant, now: float) -> Result:
    if case.joint.status is JointStatus.NONE:
        raise NotPermitted("There is no joint session to withdraw from.")
    if actor.role is Role.MEDIATOR or case.joint.status is JointStatus.OPEN:
        return _close_joint(case, actor)
    # A party taking back its answer to a proposal: only the mediator learns of it.
    case = case.with_(joint=case.joint.with_consent(actor.role, None))
    return case, (e.JointAnswered(actor.id, agree=False),)


def _post_message(case: Case, cmd: c.PostMessage, actor: Participant, now: float) -> Result:
    place = cmd.place
    if place is None:
        if actor.role is Role.MEDIATOR:
            raise NotPermitted("Say which room the message is for.", code="invalid")
        place = actor.place or CAUCUS_OF[actor.role]
    if place is Place.AWAY:
        raise NotPermitted("There is no chat away from the rooms.", code="invalid")
    members = chat_members(case, place)
    if actor not in members:
        raise NotPermitted("You cannot write in that room.")
    others = frozenset(p.id for p in members) - {actor.id}
    if not cmd.recipients:
        raise NotPermitted("A message needs at least one recipient.", code="invalid")
    if not cmd.recipients <= others:
        raise NotPermitted("A recipient is not in that room.")
    return case, (e.MessagePosted(actor.id, place, cmd.recipients, cmd.message_id),)


def _publish_key(case: Case, cmd: c.PublishKey, actor: Participant, now: float) -> Result:
    if len(cmd.public_key) != PUBLIC_KEY_BYTES:
        raise ProtocolViolation("A public key is 32 bytes.", code="invalid")
    if cmd.public_key == actor.public_key:
        return case, ()
    case = case.replace_participant(actor.with_(public_key=cmd.public_key))
    return case, (e.KeyPublished(actor.id),)


def _safety_exit(case: Case, cmd: c.SafetyExit, actor: Participant, now: float) -> Result:
    case, events = _party_gone(case, actor)
    seat = case.by_role(actor.role).with_(online=False, safety_exited=True, public_key=None)
    case = case.replace_participant(seat)
    return case, (*events, e.SafetyExited(actor.id))


def _reissue_invite(case: Case, cmd: c.ReissueInvite, actor: Participant, now: float) -> Result:
    if cmd.role not in PARTY_ROLES:
        raise NotPermitted("Only a party's invite can be re-issued.", code="invalid")
    seat = case.by_role(cmd.role)
    case, events = _party_gone(case, seat)
    fresh = seat.with_(
        online=False, joined=False, place=None, public_key=None, pseudonym=None, safety_exited=False
    )
    case = case.replace_participant(fresh)
    return case, (*events, e.InviteReissued(seat.id, role=cmd.role))


def _close_case(case: Case, cmd: c.CloseCase, actor: Participant, now: float) -> Result:
    seats = tuple(
        p.with_(online=False, public_key=None, place=None if p.role in PARTY_ROLES else Place.AWAY)
        for p in case.participants
    )
    case = case.with_(status=CaseStatus.CLOSED, closed_at=now, participants=seats, joint=Joint())
    return case, (e.CaseClosed(actor.id),)


_HANDLERS: dict[type[c.Command], Handler] = {
    c.Connect: _connect,
    c.Leave: _leave,
    c.MoveMediator: _move_mediator,
    c.ProposeJoint: _propose_joint,
    c.ConsentJoint: _consent_joint,
    c.WithdrawJoint: _withdraw_joint,
    c.PostMessage: _post_message,
    c.PublishKey: _publish_key,
    c.SafetyExit: _safety_exit,
    c.ReissueInvite: _reissue_invite,
    c.CloseCase: _close_case,
}
