"""The Sulh domain: who may be where, and who may learn what. Standard library only."""

from rooms.commands import (
    CloseCase,
    Command,
    Connect,
    ConsentJoint,
    Leave,
    MoveMediator,
    PostMessage,
    ProposeJoint,
    PublishKey,
    ReissueInvite,
    SafetyExit,
    WithdrawJoint,
)
from rooms.errors import CaseClosed, DomainError, NotPermitted, ProtocolViolation
from rooms.handle import handle
from rooms.ids import CaseId, ParticipantId
from rooms.lifecycle import open_case
from rooms.model import Case, CaseStatus, JointStatus, Participant, Place, Role
from rooms.visibility import audience, chat_members, chat_peers, media_routes, notices, view

__all__ = [
    "Case",
    "CaseClosed",
    "CaseId",
    "CaseStatus",
    "CloseCase",
    "Command",
    "Connect",
    "ConsentJoint",
    "DomainError",
    "JointStatus",
    "Leave",
    "MoveMediator",
    "NotPermitted",
    "Participant",
    "ParticipantId",
    "Place",
    "PostMessage",
    "ProposeJoint",
    "ProtocolViolation",
    "PublishKey",
    "ReissueInvite",
    "Role",
    "SafetyExit",
    "WithdrawJoint",
    "audience",
    "chat_members",
    "chat_peers",
    "handle",
    "media_routes",
    "notices",
    "open_case",
    "view",
]
