"""Who may ask for what: the one table that answers "may this role send this command?".

A role asking for a command outside its row is not a mistake an honest client makes
(the pages never offer it), so it is a ``ProtocolViolation``. Whether an allowed
command makes sense *now* (the joint state, the places) is checked by its handler
in ``rooms.handle`` and refused with ``NotPermitted``.
"""

from __future__ import annotations

from rooms import commands as c
from rooms.model import Role

_EVERYONE = frozenset(Role)
_MEDIATOR = frozenset({Role.MEDIATOR})
_PARTIES = frozenset({Role.VICTIM, Role.RESPONDENT})

ALLOWED: dict[type[c.Command], frozenset[Role]] = {
    c.Connect: _EVERYONE,
    c.Leave: _EVERYONE,
    c.PublishKey: _EVERYONE,
    c.PostMessage: _EVERYONE,
    # Only the mediator moves anyone (invariant 3): parties have no move command.
    c.MoveMediator: _MEDIATOR,
    c.ProposeJoint: _MEDIATOR,
    # Joint needs both parties' own consent (invariant 4); withdrawing is open to all.
    c.ConsentJoint: _PARTIES,
    c.WithdrawJoint: _EVERYONE,
    c.SafetyExit: _PARTIES,
    c.ReissueInvite: _MEDIATOR,
    c.CloseCase: _MEDIATOR,
}


def may(role: Role, command: type[c.Command]) -> bool:
    """Whether ``role`` can ever send ``command`` (unknown commands: never)."""
    return role in ALLOWED.get(command, frozenset())
