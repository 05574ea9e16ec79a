"""Non-interference: outside joint, what a party observes of its own command is the same
whatever the other party is doing (DESIGN.md section 2, invariants 1 and 2).

The command is replayed against twins of the case that differ only in the other party's
private state, and the actor's observations (refusal or view, events, notices, media)
must be identical.
"""

from __future__ import annotations

from typing import Any

from rooms_invariants import CAUCUS, PARTIES, key, observation, other, pseudonym

from rooms import Case, CaseStatus, Command, DomainError, JointStatus, Role, handle


def twins(case: Case, hidden: Role) -> list[Case]:
    """``case`` with everything private to the ``hidden`` party changed: never joined; joined
    but offline; online after a safety exit, with another pseudonym and key, and (if a joint
    session is proposed) agreeing to it."""
    seat = case.by_role(hidden)
    absent = seat.with_(
        online=False,
        joined=False,
        place=None,
        pseudonym=None,
        public_key=None,
        safety_exited=False,
    )
    present = seat.with_(
        online=True,
        joined=True,
        place=CAUCUS[hidden],
        pseudonym=pseudonym(hidden, "twin"),
        public_key=key(hidden, b"twin"),
        safety_exited=True,
    )
    no_answer = case.joint.with_consent(hidden, None)
    agreed = (
        case.joint.with_consent(hidden, True)
        if case.joint.status is JointStatus.PROPOSED
        else case.joint
    )
    return [
        case.replace_participant(absent).with_(joint=no_answer),
        case.replace_participant(present.with_(online=False)).with_(joint=no_answer),
        case.replace_participant(present).with_(joint=agreed),
    ]


def outcome(case: Case, cmd: Command, now: float) -> tuple[Case | None, Any]:
    """What the actor of ``cmd`` observes of it: the refusal, or its observation after."""
    try:
        after, events = handle(case, cmd, now=now)
    except DomainError as err:
        return None, ("refused", type(err), err.code, err.message)
    return after, observation(after, cmd.actor, events)


def check_noninterference(before: Case, cmd: Command, now: float) -> None:
    """Outside joint, nothing a party sees of its own command depends on the other party.

    The one thing that may differ is joint opening: a party learns the other said yes
    exactly when the session it agreed to opens.
    """
    actor = before.get(cmd.actor)
    if actor is None or actor.role not in PARTIES:
        return
    if before.status is CaseStatus.CLOSED or before.joint.status is JointStatus.OPEN:
        return
    after, seen = outcome(before, cmd, now)
    if after is not None and after.joint.status is JointStatus.OPEN:
        return
    for twin in twins(before, other(actor.role)):
        twin_after, twin_seen = outcome(twin, cmd, now)
        if twin_after is not None and twin_after.joint.status is JointStatus.OPEN:
            continue
        assert seen == twin_seen, (cmd, before, twin)
