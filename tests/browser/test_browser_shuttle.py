"""A whole shuttle-mediation session with three people in three real browsers.

The mediator (desktop) opens a case; Party A and Party B (phones, fake cameras) join
through their links; video frames are decoded only where the mediator is; encrypted
chat arrives and decrypts in the browser while the server holds only ciphertext; the
mediator moves and both status lines follow; joint session with consent (Party A
without her camera), then a one-tap withdrawal; safety codes match; a dropped
connection re-syncs without duplicates; quick exit; case closed.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api")

from playwright.sync_api import Page, expect

from tests.browser.live import DESKTOP, PHONE, LiveNode, Person
from tests.browser.steps import (
    assert_decoding,
    assert_not_decoding,
    chat,
    check_a11y,
    create_case,
    join,
    mediator_login,
    move,
    open_console,
    open_invite,
    safety_code,
    safety_code_on,
    status,
    submit_login,
)

SECRETS = [
    "Please make him delete the photos",
    "Thank you for writing, I am here now",
    "I only want this to be over",
    "Written while you were offline",
    "Hello everyone in the joint room",
]


def live_video_tracks(page: Page) -> int:
    return int(
        page.evaluate(
            "() => window.__sulhTracks.filter(t => t.kind === 'video' && "
            "t.readyState === 'live').length"
        )
    )


@pytest.mark.timeout(240)
def test_whole_shuttle_session(node: LiveNode, people: Any) -> None:
    mediator: Person = people(DESKTOP)
    party_a: Person = people(PHONE)
    party_b: Person = people(PHONE)
    m, a, b = mediator.page, party_a.page, party_b.page

    # 1. The mediator signs in and opens a case; two separate invite links.
    mediator_login(m, node, "mediator@example.org")
    check_a11y(m)
    submit_login(m, "mediator@example.org")
    case_id, invites = create_case(m, "Case 7")
    assert invites["victim"] != invites["respondent"]
    assert all(re.fullmatch(rf"{node.base_url}/join#[\w-]+", u) for u in invites.values())
    m.locator("#invite-victim [data-copy]").click()
    expect(m.locator("#invite-victim [data-copied]")).to_have_text("Copied.")
    check_a11y(m)
    open_console(m, case_id)
    expect(m.locator("#where")).to_contain_text("You are away")

    # 2. Party A opens the link: the token leaves the address bar at once.
    open_invite(a, invites["victim"])
    assert "#" not in a.url
    expect(a.locator("#join-intro")).to_contain_text("cannot see you, hear you")
    expect(a.locator(".exit-note")).to_contain_text("What it cannot hide")
    a.locator("#test-start").click()
    expect(a.locator("#preview-box")).to_be_visible()
    a.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
    check_a11y(a)
    a.locator("#test-stop").click()
    a.fill("#pseudonym", "Sara")
    a.locator("#join-enter").click()
    a.wait_for_url("**/room")
    expect(status(a)).to_have_text(re.compile("The mediator is away"))

    # 3. Party B joins too. While the mediator is away nobody receives any video.
    join(b, invites["respondent"])
    expect(status(b)).to_have_text(re.compile("The mediator is away"))
    a.wait_for_function("() => window.__sulhPCs.length > 0")
    b.wait_for_function("() => window.__sulhPCs.length > 0")
    for page in (a, b, m):
        assert_not_decoding(page, 0)
        assert_not_decoding(page, 1)

    victim_card, respondent_card = m.locator("#caucus-victim"), m.locator("#caucus-respondent")
    expect(victim_card.locator("[data-presence]")).to_have_text("Connected, in their room")
    expect(victim_card.locator("[data-pseudonym]")).to_have_text("Calls themselves: Sara")
    expect(respondent_card.locator("[data-presence]")).to_have_text("Connected, in their room")
    expect(respondent_card.locator("[data-pseudonym]")).to_be_hidden()

    # 4. Party A writes while the mediator is away; the mediator reads it, with an
    #    unread count; Party B sees nothing of it.
    chat(a, "chat-caucus", SECRETS[0])
    expect(victim_card.locator(".msg", has_text=SECRETS[0])).to_be_visible()
    expect(victim_card.locator("[data-unread]")).to_have_text("1 unread")
    expect(b.locator("body")).not_to_contain_text(SECRETS[0])

    # 5. The mediator goes to Party A: both status lines change.
    move(m, "victim_caucus")
    expect(m.locator("#where")).to_have_text(re.compile("You are in Party A.s room"))
    expect(victim_card.locator("[data-unread]")).to_be_hidden()
    expect(status(a)).to_have_text("The mediator is with you.")
    expect(status(b)).to_have_text(re.compile("The mediator is with the other party"))
    chat(m, "chat-victim", SECRETS[1])
    incoming = a.locator("#chat-caucus .msg", has_text=SECRETS[1])
    expect(incoming).to_be_visible()
    expect(incoming.locator(".who")).to_have_text("Mediator")
    # Video: Party A and the mediator see each other; Party B sees nobody.
    assert_decoding(a, 0)
    assert_decoding(m, 0)
    assert_not_decoding(b, 0)
    assert_not_decoding(m, 1)
    expect(a.locator("#video-mediator")).to_be_visible()
    expect(a.locator("#media-notice")).to_be_hidden()
    check_a11y(a)
    check_a11y(m)

    # 6. The mediator goes to Party B: Party A is told, Party B has the mediator.
    move(m, "respondent_caucus")
    expect(status(a)).to_have_text(re.compile("The mediator is with the other party"))
    expect(a.locator("#notice")).to_have_text("The mediator has gone to the other party.")
    expect(status(b)).to_have_text("The mediator is with you.")
    assert_decoding(b, 0)
    assert_decoding(m, 1)
    assert_not_decoding(a, 0)  # nothing captured after the move reaches the old room
    assert_not_decoding(m, 0)
    expect(a.locator("#video-mediator")).to_be_hidden()
    chat(b, "chat-caucus", SECRETS[2])
    expect(respondent_card.locator(".msg", has_text=SECRETS[2])).to_be_visible()
    expect(a.locator("body")).not_to_contain_text(SECRETS[2])

    # 7. Safety codes: the same 30 digits on both ends, and the documented algorithm.
    seats = node.participants(case_id)
    expected_a = safety_code(seats["mediator"].public_key, seats["victim"].public_key)
    assert safety_code_on(a, "#verify") == expected_a
    assert safety_code_on(m, "#verify-victim") == expected_a
    expected_b = safety_code(seats["mediator"].public_key, seats["respondent"].public_key)
    assert safety_code_on(b, "#verify") == expected_b
    assert safety_code_on(m, "#verify-respondent") == expected_b
    assert expected_a != expected_b

    # 8. Party A's network drops; the mediator writes meanwhile; Party A reconnects
    #    by itself and sees every message exactly once.
    party_a.context.set_offline(True)
    expect(status(a)).to_have_text(re.compile("Reconnecting"))
    expect(victim_card.locator("[data-presence]")).to_have_text("Offline")
    chat(m, "chat-victim", SECRETS[3])
    party_a.context.set_offline(False)
    expect(victim_card.locator("[data-presence]")).to_have_text(
        "Connected, in their room", timeout=15_000
    )
    expect(a.locator("#chat-caucus .msg", has_text=SECRETS[3])).to_have_count(1)
    expect(a.locator("#chat-caucus .msg")).to_have_count(3)
    expect(status(a)).to_have_text(re.compile("The mediator is with the other party"))

    # 9. Joint session: proposal, consent (Party A without camera), then one-tap withdrawal.
    assert live_video_tracks(a) == 1
    m.locator("#joint-propose").click()
    expect(a.locator("#joint-prompt")).to_be_visible()
    expect(b.locator("#joint-prompt")).to_be_visible()
    expect(a.locator("#joint-prompt")).to_contain_text("leave at any moment")
    check_a11y(a)
    a.locator("#joint-nocam").check()
    a.locator("#joint-yes").click()
    expect(a.locator("#joint-waiting")).to_be_visible()
    expect(m.locator("#consent-victim")).to_have_text("Party A: agreed")
    expect(m.locator("#consent-respondent")).to_have_text("Party B: no answer yet")
    expect(b.locator("#joint-waiting")).to_be_hidden()  # B is not told A's answer
    b.locator("#joint-yes").click()
    for page in (a, b):
        expect(page.locator("#joint-banner")).to_be_visible()
        expect(status(page)).to_have_text(re.compile("You are in the joint session"))
    expect(m.locator("#where")).to_have_attribute("data-place", "joint")
    a.wait_for_function(
        "() => window.__sulhTracks.filter(t => t.kind === 'video' && "
        "t.readyState === 'live').length === 0"
    )
    # In joint: A sees the mediator and B; B sees the mediator but not A (no camera).
    assert_decoding(a, 0)
    assert_decoding(a, 1)
    assert_decoding(b, 0)
    assert_not_decoding(b, 1)
    expect(a.locator("#tile-other")).to_be_visible()
    expect(a.locator("#chat-joint")).to_be_visible()
    chat(b, "chat-joint", SECRETS[4])
    joint_message = a.locator("#chat-joint .msg", has_text=SECRETS[4])
    expect(joint_message).to_be_visible()
    expect(joint_message.locator(".who")).to_have_text("Other party")
    expect(m.locator("#chat-joint .msg", has_text=SECRETS[4])).to_be_visible()
    check_a11y(a)
    check_a11y(m)
    a.locator("#joint-withdraw").click()
    for page in (a, b):
        expect(page.locator("#joint-banner")).to_be_hidden()
        expect(page.locator("#notice")).to_have_text(
            "The joint session has ended. You are back in your own room."
        )
        expect(status(page)).to_have_text(re.compile("The mediator is away"))
    expect(m.locator("#where")).to_have_attribute("data-place", "away")
    for page in (a, b):  # back in separate rooms, the mediator away: no video at all
        assert_not_decoding(page, 0)
        assert_not_decoding(page, 1)
    a.wait_for_function(
        "() => window.__sulhTracks.filter(t => t.kind === 'video' && "
        "t.readyState === 'live').length === 1"
    )

    # 10. The server's store holds ciphertext only.
    stored = json.dumps(node.messages(case_id))
    assert node.messages(case_id), "chat was not stored"
    for text in SECRETS:
        assert text not in stored
        assert text.encode().hex() not in stored

    # 11. Quick exit by pressing Shift three times. Capitals typed in a message
    #     (Shift as a modifier) do not count.
    b_status_before = status(b).inner_text()
    a.locator("#chat-caucus textarea").press_sequentially("Hello World Again")
    assert a.url.endswith("/room")
    history_before = a.evaluate("() => history.length")
    tracks = set(party_a.reported("track"))
    assert tracks
    a.locator("body").press("Shift")
    a.keyboard.press("Shift")
    a.keyboard.press("Shift")
    a.wait_for_url(node.exit_url)
    assert tracks <= set(party_a.reported("stopped")), "a camera or microphone was left on"
    assert party_a.reported("pc_closed"), "the peer connection was not closed"
    assert a.evaluate("() => sessionStorage.length") == 0
    assert a.evaluate("() => history.length") == history_before  # replaced, not pushed
    expect(victim_card.locator("[data-presence]")).to_have_text("Left (safety exit)")
    expect(m.locator("#events")).to_contain_text("Party A left (safety exit).")
    a.go_back()
    assert "/room" not in a.url and "/join" not in a.url
    expect(status(b)).to_have_text(b_status_before)  # Party B learns nothing
    expect(b.locator("body")).not_to_contain_text("safety")

    # 12. The mediator closes the case: Party B's page ends and forgets the session.
    m.once("dialog", lambda dialog: dialog.accept())
    m.locator("#close-case").click()
    expect(m.locator("#case-missing")).to_contain_text("The case is closed")
    expect(b.locator("#ended")).to_be_visible()
    expect(b.locator("#ended-body")).to_contain_text("ended this case")
    assert b.evaluate("() => sessionStorage.getItem('sulh.session')") is None
