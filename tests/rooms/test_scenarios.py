"""The shuttle-mediation flow as users live it, and the edges they rely on.

Every step also runs the invariant checks of the state machine (``rooms_invariants``), so a
scenario that passes here is also one in which nothing leaked between the caucuses.
"""

from __future__ import annotations

from typing import Any

import pytest
from rooms_invariants import (
    FORGED,
    MED,
    RES,
    VIC,
    Canaries,
    b64,
    check_case,
    check_step,
    key,
    new_case,
    pseudonym,
)
from rooms_noninterference import check_noninterference

from rooms import (
    Case,
    CaseClosed,
    CaseId,
    CloseCase,
    Command,
    Connect,
    ConsentJoint,
    DomainError,
    JointStatus,
    Leave,
    MoveMediator,
    NotPermitted,
    ParticipantId,
    Place,
    PostMessage,
    ProposeJoint,
    ProtocolViolation,
    PublishKey,
    ReissueInvite,
    Role,
    SafetyExit,
    WithdrawJoint,
    audience,
    events,
    handle,
    media_routes,
    notices,
    open_case,
    view,
)


class Room:
    """One case driven step by step, each step checked against invariants 1-5."""

    def __init__(self, case: Case | None = None) -> None:
        self.case = case or new_case()
        self.now = 0.0
        self.events: tuple[events.Event, ...] = ()
        self.canaries = Canaries()

    def do(self, cmd: Command) -> tuple[events.Event, ...]:
        before = self.case
        self.now += 1.0
        check_noninterference(before, cmd, self.now)
        after, happened = handle(before, cmd, now=self.now)
        self.canaries.saw(before, cmd)
        check_step(before, cmd, after, happened)
        check_case(after, self.canaries)
        self.case, self.events = after, happened
        return happened

    def refuse(self, cmd: Command, error: type[DomainError]) -> DomainError:
        before = self.case
        with pytest.raises(error) as refused:
            handle(before, cmd, now=self.now + 1.0)
        assert self.case == before
        return refused.value

    def notices(self, pid: ParticipantId) -> list[str]:
        """The notices ``pid`` got from the last step."""
        return [code for e in self.events for who, code in notices(self.case, e) if who == pid]

    def told(self, pid: ParticipantId) -> bool:
        """Whether ``pid`` learned of anything in the last step."""
        return any(pid in audience(self.case, e) for e in self.events)

    def joint(self) -> JointStatus:
        return self.case.joint.status

    def view(self, pid: ParticipantId) -> dict[str, Any]:
        return view(self.case, pid)

    def seat(self, pid: ParticipantId) -> dict[str, Any]:
        """The mediator's console row for ``pid``."""
        (row,) = [p for p in self.view(MED)["participants"] if p["id"] == pid]
        return dict(row)

    def routes(self) -> set[tuple[str, str]]:
        return set(media_routes(self.case))


def pairs(*pids: ParticipantId) -> set[tuple[str, str]]:
    return {(a, b) for a in pids for b in pids if a != b}


def everyone_online() -> Room:
    room = Room()
    room.do(Connect(MED))
    room.do(Connect(VIC, pseudonym=pseudonym(Role.VICTIM, "1")))
    room.do(Connect(RES, pseudonym=pseudonym(Role.RESPONDENT, "1")))
    return room


def in_joint() -> Room:
    room = everyone_online()
    room.do(ProposeJoint(MED))
    room.do(ConsentJoint(VIC, agree=True))
    room.do(ConsentJoint(RES, agree=True))
    assert room.joint() is JointStatus.OPEN
    return room


# -- the normal flow -----------------------------------------------------------------


def test_a_new_case_shows_the_mediator_party_a_and_party_b_never_victim() -> None:
    case = open_case(
        CaseId("c"), label="Dispute 12", mediator=MED, victim=VIC, respondent=RES, now=5.0
    )
    console = view(case, MED)
    assert console["case"] == {"id": "c", "status": "open", "label": "Dispute 12"}
    assert [p["label"] for p in console["participants"]] == ["Mediator", "Party A", "Party B"]
    assert "Victim" not in str(console) and media_routes(case) == frozenset()


def test_each_party_waits_alone_in_its_own_caucus_and_only_the_mediator_learns_it_joined() -> None:
    room = Room()
    room.do(Connect(MED))
    room.do(Connect(VIC, pseudonym=pseudonym(Role.VICTIM, "1")))
    assert room.notices(MED) == ["party_joined"]
    assert not room.told(RES)
    respondent_before = room.view(RES)
    room.do(Connect(RES))
    assert room.view(VIC)["me"]["place"] == "victim_caucus"
    assert room.view(RES)["me"]["place"] == "respondent_caucus"
    assert room.view(VIC)["mediator"] == room.view(RES)["mediator"] == "away"
    assert respondent_before["mediator"] == "away"
    assert room.routes() == set()
    assert room.seat(VIC)["pseudonym"] == pseudonym(Role.VICTIM, "1")
    assert room.view(MED)["case"]["status"] == "in_session"


def test_mediator_shuttles_and_each_party_hears_only_with_you_or_with_the_other_party() -> None:
    room = everyone_online()
    room.do(MoveMediator(MED, to=Place.VICTIM_CAUCUS))
    assert room.notices(VIC) == ["mediator_joined"]
    assert room.view(VIC)["mediator"] == "with_you"
    assert room.view(RES)["mediator"] == "with_other_party"
    assert room.routes() == pairs(MED, VIC)

    room.do(MoveMediator(MED, to=Place.RESPONDENT_CAUCUS))
    assert room.notices(VIC) == ["mediator_left_for_other_party"]
    assert room.notices(RES) == ["mediator_joined"]
    assert room.view(VIC)["mediator"] == "with_other_party"
    assert room.routes() == pairs(MED, RES)

    room.do(MoveMediator(MED, to=Place.AWAY))
    assert room.notices(RES) == ["mediator_away"]
    assert room.notices(VIC) == []
    assert room.view(VIC)["mediator"] == room.view(RES)["mediator"] == "away"
    assert room.routes() == set()


def test_joint_opens_after_both_consent_and_a_withdrawal_sends_everyone_back() -> None:
    room = everyone_online()
    room.do(MoveMediator(MED, to=Place.VICTIM_CAUCUS))
    room.do(ProposeJoint(MED))
    assert room.notices(VIC) == room.notices(RES) == ["joint_proposed"]

    respondent_before = room.view(RES)
    room.do(ConsentJoint(VIC, agree=True))
    assert room.view(RES) == respondent_before and not room.told(RES)
    assert room.view(MED)["joint"]["consents"] == {"victim": True, "respondent": None}

    room.do(ConsentJoint(RES, agree=True))
    for pid in (MED, VIC, RES):
        assert "joint_opened" in room.notices(pid)
        assert room.view(pid)["me"]["place"] == "joint"
    assert room.view(VIC)["mediator"] == "with_you"
    assert room.routes() == pairs(MED, VIC, RES)
    # In joint the parties may message each other, but never see labels or pseudonyms.
    assert RES in {p["id"] for p in room.view(VIC)["peers"]}
    room.do(PostMessage(VIC, place=None, recipients=frozenset({RES, MED}), message_id="j1"))
    assert room.events[0] == events.MessagePosted(VIC, Place.JOINT, frozenset({RES, MED}), "j1")

    room.do(WithdrawJoint(VIC))
    for pid in (MED, VIC, RES):
        assert room.notices(pid) == ["joint_closed"]
    assert room.view(VIC)["me"]["place"] == "victim_caucus"
    assert room.view(RES)["me"]["place"] == "respondent_caucus"
    assert room.view(MED)["me"]["place"] == "away"
    assert room.joint() is JointStatus.NONE
    assert room.routes() == set()


def test_a_safety_exit_alerts_the_mediator_and_leaves_the_other_party_none_the_wiser() -> None:
    room = everyone_online()
    room.do(PublishKey(VIC, public_key=key(Role.VICTIM, b"k")))
    room.do(MoveMediator(MED, to=Place.RESPONDENT_CAUCUS))
    respondent_before = room.view(RES)
    room.do(SafetyExit(VIC))
    assert room.notices(MED) == ["party_safety_exit"]
    assert room.seat(VIC)["safety_exited"] is True
    assert room.seat(VIC)["online"] is False
    assert room.seat(VIC)["public_key"] is None
    assert room.view(RES) == respondent_before
    assert not room.told(RES) and room.notices(RES) == []
    assert room.routes() == pairs(MED, RES)


def test_closing_the_case_ends_every_session_and_refuses_everything_after() -> None:
    room = everyone_online()
    room.do(MoveMediator(MED, to=Place.VICTIM_CAUCUS))
    room.do(CloseCase(MED))
    for pid in (MED, VIC, RES):
        assert room.notices(pid) == ["case_closed"]
        assert room.view(pid)["case"]["status"] == "closed"
    assert room.routes() == set()
    assert room.case.closed_at == room.now
    for cmd in (
        Connect(VIC),
        Leave(MED),
        MoveMediator(MED, to=Place.VICTIM_CAUCUS),
        ProposeJoint(MED),
        PostMessage(VIC, place=None, recipients=frozenset({MED}), message_id="m"),
        PublishKey(RES, public_key=key(Role.RESPONDENT, b"")),
        SafetyExit(VIC),
        ReissueInvite(MED, role=Role.VICTIM),
        CloseCase(MED),
        Connect(FORGED[0]),
    ):
        assert room.refuse(cmd, CaseClosed).code == "case_closed"


def test_reissuing_an_invite_gives_the_seat_to_a_new_person_with_a_clean_slate() -> None:
    room = everyone_online()
    room.do(PublishKey(VIC, public_key=key(Role.VICTIM, b"old")))
    room.do(SafetyExit(VIC))
    room.do(ReissueInvite(MED, role=Role.VICTIM))
    assert room.notices(VIC) == ["session_revoked"]
    assert not room.told(RES)
    assert {k: room.seat(VIC)[k] for k in ("pseudonym", "public_key", "place", "joined")} == {
        "pseudonym": None,
        "public_key": None,
        "place": None,
        "joined": False,
    }
    assert room.seat(VIC)["safety_exited"] is False
    (joined,) = room.do(Connect(VIC, pseudonym=pseudonym(Role.VICTIM, "new")))
    assert joined == events.PartyJoined(VIC, first_time=True)
    assert room.seat(VIC)["pseudonym"] == pseudonym(Role.VICTIM, "new")
    assert room.refuse(ReissueInvite(MED, role=Role.MEDIATOR), NotPermitted).code == "invalid"


# -- edges ---------------------------------------------------------------------------


def test_declining_does_not_cancel_the_proposal_for_the_other_party() -> None:
    room = everyone_online()
    room.do(ProposeJoint(MED))
    respondent_before = room.view(RES)
    room.do(ConsentJoint(VIC, agree=False))
    assert room.view(MED)["joint"]["consents"]["victim"] is False
    assert room.view(RES) == respondent_before
    room.do(ConsentJoint(RES, agree=True))
    assert room.joint() is JointStatus.PROPOSED
    room.do(ConsentJoint(VIC, agree=True))  # changed their mind
    assert room.joint() is JointStatus.OPEN


def test_a_party_that_disconnects_loses_its_consent_so_joint_never_opens_without_it() -> None:
    room = everyone_online()
    room.do(ProposeJoint(MED))
    room.do(ConsentJoint(VIC, agree=True))
    room.do(Leave(VIC))
    assert room.view(MED)["joint"]["consents"]["victim"] is None
    assert room.refuse(ConsentJoint(VIC, agree=True), NotPermitted)
    room.do(ConsentJoint(RES, agree=True))
    assert room.joint() is JointStatus.PROPOSED
    room.do(Connect(VIC))
    assert room.joint() is JointStatus.PROPOSED
    assert room.view(VIC)["joint"] == {"status": "proposed", "my_consent": None}
    room.do(ConsentJoint(VIC, agree=True))
    assert room.joint() is JointStatus.OPEN


@pytest.mark.parametrize("gone", [Leave(RES), SafetyExit(RES), WithdrawJoint(RES)])
def test_either_party_going_closes_joint_at_once(gone: Command) -> None:
    room = in_joint()
    room.do(gone)
    assert room.joint() is JointStatus.NONE
    assert room.view(VIC)["me"]["place"] == "victim_caucus"
    assert room.notices(VIC) == ["joint_closed"]
    assert room.routes() == set()


def test_the_mediator_going_offline_closes_joint_and_tells_both_parties() -> None:
    room = in_joint()
    room.do(Leave(MED))
    assert room.joint() is JointStatus.NONE
    for pid in (VIC, RES):
        assert room.notices(pid) == ["joint_closed", "mediator_offline"]
        assert room.view(pid)["mediator"] == "offline"
    assert {room.view(p)["me"]["place"] for p in (VIC, RES)} == {
        "victim_caucus",
        "respondent_caucus",
    }
    assert room.routes() == set()


def test_the_mediator_leaving_joint_for_a_caucus_ends_it_for_everyone() -> None:
    room = in_joint()
    room.do(MoveMediator(MED, to=Place.VICTIM_CAUCUS))
    assert isinstance(room.events[0], events.JointClosed)
    assert room.routes() == pairs(MED, VIC)
    assert room.view(RES)["me"]["place"] == "respondent_caucus"


def test_the_mediator_cannot_enter_joint_unless_it_is_open() -> None:
    room = everyone_online()
    assert room.refuse(MoveMediator(MED, to=Place.JOINT), NotPermitted)
    room.do(ProposeJoint(MED))
    room.do(ConsentJoint(VIC, agree=True))
    assert room.refuse(MoveMediator(MED, to=Place.JOINT), NotPermitted)


def test_a_party_cannot_post_into_the_other_caucus_or_to_the_other_party() -> None:
    room = everyone_online()
    into_other = PostMessage(
        VIC, place=Place.RESPONDENT_CAUCUS, recipients=frozenset({MED}), message_id="m"
    )
    assert room.refuse(into_other, NotPermitted)
    to_other = PostMessage(VIC, place=None, recipients=frozenset({RES}), message_id="m")
    to_stranger = PostMessage(VIC, place=None, recipients=frozenset({FORGED[0]}), message_id="m")
    real, forged = room.refuse(to_other, NotPermitted), room.refuse(to_stranger, NotPermitted)
    assert (real.code, real.message) == (forged.code, forged.message)


def test_the_mediator_must_name_the_room_a_message_is_for() -> None:
    room = everyone_online()
    unnamed = PostMessage(MED, place=None, recipients=frozenset({VIC}), message_id="m")
    assert room.refuse(unnamed, NotPermitted).code == "invalid"
    room.do(
        PostMessage(MED, place=Place.VICTIM_CAUCUS, recipients=frozenset({VIC}), message_id="m")
    )
    assert audience(room.case, room.events[0]) == {MED, VIC}


def test_a_party_can_leave_messages_for_the_mediator_who_can_answer_from_elsewhere() -> None:
    room = everyone_online()
    room.do(MoveMediator(MED, to=Place.RESPONDENT_CAUCUS))
    room.do(PostMessage(VIC, place=None, recipients=frozenset({MED}), message_id="m1"))
    assert room.events == (events.MessagePosted(VIC, Place.VICTIM_CAUCUS, frozenset({MED}), "m1"),)
    room.do(
        PostMessage(MED, place=Place.VICTIM_CAUCUS, recipients=frozenset({VIC}), message_id="m2")
    )
    assert not room.told(RES)
    room.do(Leave(MED))
    room.do(PostMessage(VIC, place=None, recipients=frozenset({MED}), message_id="m3"))


def test_a_party_has_no_command_that_moves_anyone() -> None:
    room = everyone_online()
    for cmd in (
        MoveMediator(VIC, to=Place.RESPONDENT_CAUCUS),
        ProposeJoint(VIC),
        ReissueInvite(VIC, role=Role.RESPONDENT),
        CloseCase(RES),
    ):
        assert room.refuse(cmd, ProtocolViolation).code == "not_permitted"


def test_a_key_published_in_caucus_reaches_only_the_mediator_and_in_joint_everyone() -> None:
    room = everyone_online()
    room.do(PublishKey(VIC, public_key=key(Role.VICTIM, b"a")))
    assert audience(room.case, room.events[0]) == {VIC, MED}
    assert b64(key(Role.VICTIM, b"a")) not in str(room.view(RES))
    room = in_joint()
    room.do(PublishKey(VIC, public_key=key(Role.VICTIM, b"b")))
    assert audience(room.case, room.events[0]) == {VIC, MED, RES}
    assert b64(key(Role.VICTIM, b"b")) in {p["public_key"] for p in room.view(RES)["peers"]}
    assert room.refuse(PublishKey(VIC, public_key=b"short"), ProtocolViolation).code == "invalid"


def test_the_mediator_console_is_told_of_every_key_it_shows() -> None:
    """Even a key from a seat that has not joined yet appears on the console."""
    room = Room()
    room.do(PublishKey(VIC, public_key=key(Role.VICTIM, b"early")))
    assert MED in audience(room.case, room.events[0])
    assert room.seat(VIC)["public_key"] == b64(key(Role.VICTIM, b"early"))
