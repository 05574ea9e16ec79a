"""Domain values: roles, places, participants and the case itself (all immutable)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from rooms.ids import CaseId, ParticipantId


class Role(enum.Enum):
    """Who someone is in a case. The UI never shows the word "victim"."""

    MEDIATOR = "mediator"
    VICTIM = "victim"
    RESPONDENT = "respondent"


PARTY_ROLES = (Role.VICTIM, Role.RESPONDENT)


class Place(enum.Enum):
    """Where a participant is. A party is only ever in its own caucus or in joint."""

    VICTIM_CAUCUS = "victim_caucus"
    RESPONDENT_CAUCUS = "respondent_caucus"
    JOINT = "joint"
    AWAY = "away"


CAUCUS_OF = {Role.VICTIM: Place.VICTIM_CAUCUS, Role.RESPONDENT: Place.RESPONDENT_CAUCUS}
"""Each party's own caucus: the only caucus it can ever be in."""

CHAT_PLACES = (Place.VICTIM_CAUCUS, Place.RESPONDENT_CAUCUS, Place.JOINT)


class CaseStatus(enum.Enum):
    """Lifecycle: open -> in_session -> closed. A closed case only reports its outcome."""

    OPEN = "open"
    IN_SESSION = "in_session"
    CLOSED = "closed"


class JointStatus(enum.Enum):
    """A joint session is proposed by the mediator and opens only when both consent."""

    NONE = "none"
    PROPOSED = "proposed"
    OPEN = "open"


@dataclass(frozen=True)
class Participant:
    """One seat in a case. ``place`` is None until a party has joined."""

    id: ParticipantId
    role: Role
    label: str
    pseudonym: str | None = None
    public_key: bytes | None = None
    online: bool = False
    joined: bool = False
    place: Place | None = None
    safety_exited: bool = False

    def with_(self, **changes: object) -> Participant:
        """A copy with ``changes``: participants are never mutated."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Joint:
    """Joint-session state. ``consents`` holds each party's current answer, if any."""

    status: JointStatus = JointStatus.NONE
    consents: tuple[tuple[Role, bool], ...] = ()

    def consent_of(self, role: Role) -> bool | None:
        """The party's current answer to the proposal, or None if it has not answered."""
        for r, agree in self.consents:
            if r is role:
                return agree
        return None

    def with_consent(self, role: Role, agree: bool | None) -> Joint:
        """A copy with ``role``'s answer set (None clears it)."""
        rest = tuple((r, a) for r, a in self.consents if r is not role)
        if agree is None:
            return Joint(self.status, rest)
        return Joint(self.status, tuple(sorted((*rest, (role, agree)), key=lambda c: c[0].value)))


@dataclass(frozen=True)
class Case:
    """A mediation case: three seats, the joint state and the lifecycle status."""

    id: CaseId
    label: str
    status: CaseStatus
    participants: tuple[Participant, ...]
    joint: Joint = field(default_factory=Joint)
    opened_at: float = 0.0
    closed_at: float | None = None

    def by_role(self, role: Role) -> Participant:
        """The seat for ``role`` (every case has exactly one of each)."""
        for p in self.participants:
            if p.role is role:
                return p
        raise LookupError(role)

    def get(self, pid: ParticipantId) -> Participant | None:
        """The participant with id ``pid`` in this case, or None for a stranger."""
        for p in self.participants:
            if p.id == pid:
                return p
        return None

    @property
    def mediator(self) -> Participant:
        """The mediator's seat."""
        return self.by_role(Role.MEDIATOR)

    def replace_participant(self, new: Participant) -> Case:
        """A copy with the seat of ``new.id`` replaced by ``new``."""
        return replace(
            self, participants=tuple(new if p.id == new.id else p for p in self.participants)
        )

    def with_(self, **changes: object) -> Case:
        """A copy with ``changes``: cases are never mutated."""
        return replace(self, **changes)  # type: ignore[arg-type]


def other_party(role: Role) -> Role:
    """The party role that is not ``role`` (which must be a party)."""
    return Role.RESPONDENT if role is Role.VICTIM else Role.VICTIM
