"""Events: what happened, in the past tense. ``audience`` decides who learns of each."""

from __future__ import annotations

from dataclasses import dataclass

from rooms.ids import ParticipantId
from rooms.model import Place, Role


@dataclass(frozen=True)
class Event:
    """Base: every event is about what one participant did or had done to it."""

    subject: ParticipantId


@dataclass(frozen=True)
class PartyJoined(Event):
    """A party came online in its own caucus (first time or after a reconnect)."""

    first_time: bool


@dataclass(frozen=True)
class MediatorOnline(Event):
    """The mediator's console connected; the mediator starts away."""


@dataclass(frozen=True)
class ParticipantLeft(Event):
    """A participant went offline."""


@dataclass(frozen=True)
class MediatorMoved(Event):
    """The mediator went from one place to another."""

    from_place: Place
    to_place: Place


@dataclass(frozen=True)
class JointProposed(Event):
    """The mediator proposed a joint session."""


@dataclass(frozen=True)
class JointAnswered(Event):
    """A party consented or declined (only the mediator and that party learn it)."""

    agree: bool


@dataclass(frozen=True)
class JointOpened(Event):
    """Both parties consented; everyone is now in joint."""


@dataclass(frozen=True)
class JointClosed(Event):
    """The proposal or the joint session ended; everyone is back in a caucus."""

    was_open: bool


@dataclass(frozen=True)
class MessagePosted(Event):
    """An encrypted message was accepted for ``recipients`` in ``place``'s chat."""

    place: Place
    recipients: frozenset[ParticipantId]
    message_id: str


@dataclass(frozen=True)
class KeyPublished(Event):
    """A participant published (or replaced) its chat public key."""


@dataclass(frozen=True)
class SafetyExited(Event):
    """A party used quick exit; its session ends."""


@dataclass(frozen=True)
class InviteReissued(Event):
    """A party's seat now belongs to a new invite; the old one and its session end."""

    role: Role


@dataclass(frozen=True)
class CaseClosed(Event):
    """The mediator closed the case."""
