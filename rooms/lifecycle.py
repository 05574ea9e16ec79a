"""Opening a case: the only way a case comes to exist."""

from __future__ import annotations

from rooms.ids import CaseId, ParticipantId
from rooms.model import Case, CaseStatus, Participant, Place, Role

DEFAULT_LABELS = {Role.VICTIM: "Party A", Role.RESPONDENT: "Party B"}
"""The console never calls anyone "victim": parties are Party A / Party B by default."""


def open_case(
    case_id: CaseId,
    *,
    label: str,
    mediator: ParticipantId,
    victim: ParticipantId,
    respondent: ParticipantId,
    now: float,
    labels: dict[Role, str] | None = None,
) -> Case:
    """A new open case with three empty seats; the ids come from the caller's randomness."""
    ids = {Role.MEDIATOR: mediator, Role.VICTIM: victim, Role.RESPONDENT: respondent}
    if len(set(ids.values())) != len(ids):
        raise ValueError("participant ids must be distinct")
    names = {**DEFAULT_LABELS, Role.MEDIATOR: "Mediator", **(labels or {})}
    seats = tuple(
        Participant(
            id=ids[r], role=r, label=names[r], place=Place.AWAY if r is Role.MEDIATOR else None
        )
        for r in Role
    )
    return Case(id=case_id, label=label, status=CaseStatus.OPEN, participants=seats, opened_at=now)
