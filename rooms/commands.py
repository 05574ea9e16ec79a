"""Commands: what a participant asks for, named as instructions.

Every command names its ``actor``; the adapter fills it from the authenticated
session, never from the payload.
"""

from __future__ import annotations

from dataclasses import dataclass

from rooms.ids import ParticipantId
from rooms.model import Place, Role


@dataclass(frozen=True)
class Command:
    """Base: who is asking."""

    actor: ParticipantId


@dataclass(frozen=True)
class Connect(Command):
    """The participant's connection came up. A party enters its own caucus."""

    pseudonym: str | None = None


@dataclass(frozen=True)
class Leave(Command):
    """The participant's connection went away (or it left on purpose)."""


@dataclass(frozen=True)
class MoveMediator(Command):
    """The mediator goes to a caucus, to an open joint session, or away."""

    to: Place


@dataclass(frozen=True)
class ProposeJoint(Command):
    """The mediator invites both parties to a joint session."""


@dataclass(frozen=True)
class ConsentJoint(Command):
    """A party answers the proposal; joint opens once both agree while online."""

    agree: bool


@dataclass(frozen=True)
class WithdrawJoint(Command):
    """A party (or the mediator) ends the proposal or the open joint session."""


@dataclass(frozen=True)
class PostMessage(Command):
    """An encrypted message for ``recipients`` in the chat of ``place``."""

    place: Place | None
    recipients: frozenset[ParticipantId]
    message_id: str


@dataclass(frozen=True)
class PublishKey(Command):
    """The participant's X25519 public key (32 bytes) for end-to-end chat."""

    public_key: bytes


@dataclass(frozen=True)
class SafetyExit(Command):
    """A party leaves at once; only the mediator learns it was a safety exit."""


@dataclass(frozen=True)
class ReissueInvite(Command):
    """The mediator hands a party's seat to a new invite, revoking the old one."""

    role: Role


@dataclass(frozen=True)
class CloseCase(Command):
    """The mediator ends the case; its chat, keys and invites are purged."""
