"""Opaque identifiers. They carry no meaning: never an email, name or sequence."""

from typing import NewType

CaseId = NewType("CaseId", str)
ParticipantId = NewType("ParticipantId", str)
