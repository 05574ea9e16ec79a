"""Invariants 1-5 (DESIGN.md section 2) under random sequences of every command.

Every command is sent by every seat (and by strangers), allowed or not, with hostile
values: forged and cross-caucus recipients, keys of the wrong length, moves to every place.
After each step the checks in ``rooms_invariants`` say what the users rely on: the two
parties never learn of each other outside joint, only the mediator moves people, joint
needs both, the mediator is in one place, and whoever's view changed was told.

``SULH_HYPOTHESIS_EXAMPLES`` overrides the number of runs (default 2000) for quick local runs.
"""

from __future__ import annotations

import os

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from rooms_invariants import (
    FORGED,
    MED,
    RES,
    SEAT,
    VIC,
    Canaries,
    b64,
    check_case,
    check_step,
    expected_refusal,
    key,
    new_case,
    pseudonym,
)
from rooms_noninterference import check_noninterference, outcome

from rooms import (
    CaseStatus,
    CloseCase,
    Command,
    Connect,
    ConsentJoint,
    DomainError,
    JointStatus,
    Leave,
    MoveMediator,
    ParticipantId,
    Place,
    PostMessage,
    ProposeJoint,
    PublishKey,
    ReissueInvite,
    Role,
    SafetyExit,
    WithdrawJoint,
    handle,
)
from rooms.errors import CaseClosed

EXAMPLES = int(os.environ.get("SULH_HYPOTHESIS_EXAMPLES", "2000"))

# The three seats far more often than strangers, so that sessions get somewhere.
actors = st.sampled_from([MED, VIC, RES, MED, VIC, RES, MED, VIC, RES, FORGED[0]])
recipients = st.frozensets(st.sampled_from([MED, VIC, RES, *FORGED]), max_size=4)
ROLE_OF = {pid: role for role, pid in SEAT.items()}

# A head start that brings everyone online and through a proposal and both consents.
HAPPY_PATH: list[Command] = [
    Connect(MED),
    Connect(VIC, pseudonym=pseudonym(Role.VICTIM, "first")),
    Connect(RES, pseudonym=pseudonym(Role.RESPONDENT, "first")),
    ProposeJoint(MED),
    ConsentJoint(VIC, agree=True),
    ConsentJoint(RES, agree=True),
]


class CaseMachine(RuleBasedStateMachine):
    """One case driven by random commands; every step is checked."""

    def __init__(self) -> None:
        super().__init__()
        self.case = new_case()
        self.now = 0.0
        self.canaries = Canaries()
        self.checked: object = None

    def step(self, cmd: Command) -> None:
        before = self.case
        snapshot = repr(before)  # every field of the (immutable) case, nested
        self.now += 1.0
        expected = expected_refusal(before, cmd)
        check_noninterference(before, cmd, self.now)
        try:
            after, events = handle(before, cmd, now=self.now)
        except DomainError as err:
            event(f"refused {type(cmd).__name__}")
            assert self.case is before and repr(before) == snapshot, "a refusal leaves no trace"
            assert expected is not None, f"{cmd} refused ({err.code}: {err.message})"
            assert isinstance(err, expected), (cmd, err, expected)
            if before.status is CaseStatus.CLOSED:
                assert isinstance(err, CaseClosed)
            return
        assert expected is None, f"{cmd} should have been refused with {expected.__name__}"
        assert repr(before) == snapshot, "handle must not mutate the case it was given"
        self.canaries.saw(before, cmd)
        check_step(before, cmd, after, events)
        self.case = after
        if after.joint.status is JointStatus.OPEN:
            event("joint open")
        if after.status is CaseStatus.CLOSED:
            event("case closed")

    @initialize(head_start=st.integers(0, len(HAPPY_PATH)))
    def start(self, head_start: int) -> None:
        for cmd in HAPPY_PATH[:head_start]:
            self.step(cmd)

    @rule(actor=actors, suffix=st.none() | st.sampled_from(["a", "b"]))
    def connect(self, actor: ParticipantId, suffix: str | None) -> None:
        role = ROLE_OF.get(actor, Role.MEDIATOR)
        name = None if suffix is None else pseudonym(role, suffix)
        self.step(Connect(actor, pseudonym=name))

    @rule(actor=actors)
    def leave(self, actor: ParticipantId) -> None:
        self.step(Leave(actor))

    @rule(actor=actors, to=st.sampled_from(Place))
    def move_mediator(self, actor: ParticipantId, to: Place) -> None:
        self.step(MoveMediator(actor, to=to))

    @rule(actor=actors)
    def propose_joint(self, actor: ParticipantId) -> None:
        self.step(ProposeJoint(actor))

    @rule(actor=actors, agree=st.booleans())
    def consent_joint(self, actor: ParticipantId, agree: bool) -> None:
        self.step(ConsentJoint(actor, agree=agree))

    @rule(actor=actors)
    def withdraw_joint(self, actor: ParticipantId) -> None:
        self.step(WithdrawJoint(actor))

    @rule(
        actor=actors,
        place=st.none() | st.sampled_from(Place),
        to=recipients,
        message_id=st.sampled_from(["m1", "m2"]),
    )
    def post_message(
        self,
        actor: ParticipantId,
        place: Place | None,
        to: frozenset[ParticipantId],
        message_id: str,
    ) -> None:
        cmd = PostMessage(actor, place=place, recipients=to, message_id=message_id)
        other = {VIC: RES, RES: VIC}.get(actor)
        if other is not None and other in to and self.case.joint.status is not JointStatus.OPEN:
            # Naming the other party gets the same answer as naming nobody real.
            forged = PostMessage(
                actor, place=place, recipients=(to - {other}) | {FORGED[0]}, message_id=message_id
            )
            real, fake = outcome(self.case, cmd, self.now), outcome(self.case, forged, self.now)
            assert real[0] is None and fake[0] is None
            assert real[1] == fake[1], (real[1], fake[1])
        self.step(cmd)

    @rule(actor=actors, size=st.sampled_from([32, 32, 32, 0, 31, 33, 64]), n=st.integers(0, 2))
    def publish_key(self, actor: ParticipantId, size: int, n: int) -> None:
        role = ROLE_OF.get(actor, Role.MEDIATOR)
        raw = key(role, bytes([n]))  # distinct per seat, so a leak is recognisable
        public_key = raw if size == 32 else (raw * 2)[:size]
        self.step(PublishKey(actor, public_key=public_key))

    @rule(actor=actors)
    def safety_exit(self, actor: ParticipantId) -> None:
        self.step(SafetyExit(actor))

    @rule(
        actor=actors,
        what=st.sampled_from([("reissue", r) for r in Role] + [("close", None)]),
    )
    def administer(self, actor: ParticipantId, what: tuple[str, Role | None]) -> None:
        kind, role = what
        if kind == "close":
            self.step(CloseCase(actor))
        else:
            assert role is not None
            self.step(ReissueInvite(actor, role=role))

    @invariant()
    def holds(self) -> None:
        if self.checked is not self.case:  # a refused step leaves the same case object
            check_case(self.case, self.canaries)
            self.checked = self.case


CaseMachine.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=40, deadline=None
)
TestCaseMachine = CaseMachine.TestCase


def test_key_canaries_are_tracked() -> None:
    """The canary check can fail: a published key is recognised in a serialized view."""
    canaries = Canaries()
    case = new_case()
    cmd = PublishKey(VIC, public_key=key(Role.VICTIM, b"x"))
    canaries.saw(case, cmd)
    assert canaries.keys[Role.VICTIM] == {b64(key(Role.VICTIM, b"x"))}
