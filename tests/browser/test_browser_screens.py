"""Every main screen, in English and in Urdu (right to left), on a 360 px phone and on a
desktop: the language switch works and is remembered, no serious or critical axe-core
violation anywhere, and a screenshot of each screen in artifacts/screenshots/ for people
to look at (``<lang>-<size>-<nn>-<screen>.png``)."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api")

from playwright.sync_api import Page, expect

from tests.browser.live import DESKTOP, PHONE, LiveNode
from tests.browser.steps import (
    assert_hearing,
    assert_not_hearing,
    chat,
    check_a11y,
    create_case,
    mediator_login,
    move,
    open_console,
    open_invite,
    shoot,
    status,
    submit_login,
    switch_language,
)

URDU = re.compile(r"[\u0600-\u06ff]")
SIZES = {"phone": PHONE, "desktop": DESKTOP}


def screen(page: Page, lang: str, size: str, n: int, name: str) -> None:
    """The checks every screen gets: language and direction, axe, a screenshot."""
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("html")).to_have_attribute("dir", "rtl" if lang == "ur" else "ltr")
    if lang == "ur":
        assert URDU.search(page.locator("main").inner_text())
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert page.viewport_size is not None
    assert width <= page.viewport_size["width"], f"{name}: sideways scrolling at {size}"
    check_a11y(page)
    shoot(page, f"{lang}-{size}-{n:02d}-{name}")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("size", ["phone", "desktop"])
@pytest.mark.parametrize("lang", ["en", "ur"])
def test_every_screen(node: LiveNode, people: Any, lang: str, size: str) -> None:
    viewport = SIZES[size]
    m = people(viewport).page
    a = people(viewport).page
    b = people(PHONE).page
    email = f"screens-{lang}-{size}@example.org"

    # The mediator's sign-in, case list with the two invites, and session console.
    mediator_login(m, node, email)
    if lang != "en":
        switch_language(m, lang)
    screen(m, lang, size, 1, "console-login")
    submit_login(m, email)
    case_id, invites = create_case(m, "Case 12")
    screen(m, lang, size, 2, "case-list")
    open_console(m, case_id)  # the language choice is remembered across pages

    # A party's invite page, switched to the language before entering.
    open_invite(a, invites["victim"])
    if lang != "en":
        switch_language(a, lang)
    screen(a, lang, size, 3, "join")
    a.fill("#pseudonym", "Sara")
    a.locator("#join-enter").click()
    a.wait_for_url("**/room")
    expect(status(a)).to_have_attribute("data-state", "away")
    screen(a, lang, size, 4, "room-waiting")

    # The other party joins with sound only: no camera is opened at all.
    open_invite(b, invites["respondent"])
    b.locator("#mode-audio").check()
    b.locator("#join-enter").click()
    b.wait_for_url("**/room")
    expect(b.locator("#toggle-camera")).to_be_hidden()
    b.wait_for_function("() => window.__sulhTracks.length > 0")
    kinds = b.evaluate("() => window.__sulhTracks.map(t => t.kind)")
    assert kinds == ["audio"]

    # The mediator comes in and writes; the party answers.
    move(m, "victim_caucus")
    expect(status(a)).to_have_attribute("data-state", "with_you")
    chat(m, "chat-victim", "Salaam, I am here with you.")
    expect(a.locator("#chat-caucus .msg", has_text="Salaam")).to_be_visible()
    chat(a, "chat-caucus", "شکریہ، میں یہاں ہوں")
    expect(m.locator("#chat-victim .msg", has_text="شکریہ")).to_be_visible()
    a.locator("#verify summary").click()
    screen(a, lang, size, 5, "room-with-mediator")
    m.locator("#verify-victim summary").click()
    screen(m, lang, size, 6, "session-console")

    # The joint-session prompt, and the joint session itself.
    m.locator("#joint-propose").click()
    expect(a.locator("#joint-prompt")).to_be_visible()
    screen(a, lang, size, 7, "joint-prompt")
    a.locator("#joint-yes").click()
    b.locator("#joint-yes").click()
    expect(a.locator("#joint-banner")).to_be_visible()
    expect(m.locator("#where")).to_have_attribute("data-place", "joint")
    screen(a, lang, size, 8, "joint-open")
    screen(m, lang, size, 9, "console-joint")

    # Leaving: the party's "you have left" page.
    a.locator("#joint-withdraw").click()
    expect(a.locator("#joint-banner")).to_be_hidden()
    a.locator("#leave").click()
    expect(a.locator("#ended")).to_be_visible()
    screen(a, lang, size, 10, "left")


def test_quick_exit_button_on_the_invite_page(node: LiveNode, people: Any) -> None:
    """The exit button works before anything else: it wipes the unredeemed invite too."""
    m = people(DESKTOP).page
    a = people(PHONE).page
    mediator_login(m, node, "exit-button@example.org")
    submit_login(m, "exit-button@example.org")
    _, invites = create_case(m, "Exit")
    open_invite(a, invites["victim"])
    assert a.evaluate("() => sessionStorage.getItem('sulh.invite')")
    expect(a.locator("#quick-exit")).to_be_in_viewport()
    a.locator("#quick-exit").click()
    a.wait_for_url(node.exit_url)
    assert a.evaluate("() => sessionStorage.length") == 0


def test_invite_page_without_a_token_explains_what_to_do(people: Any) -> None:
    a = people(PHONE).page
    a.goto("/join")
    expect(a.locator("#join-missing")).to_be_visible()
    expect(a.locator("#join-form")).to_be_hidden()
    check_a11y(a)


def test_a_used_invite_is_refused_and_the_mediator_can_reissue_it(
    node: LiveNode, people: Any
) -> None:
    """A second redemption gets a plain message; a re-issued link works and ends the
    old session at once."""
    m = people(DESKTOP).page
    first, second = people(PHONE).page, people(PHONE).page
    mediator_login(m, node, "used-invite@example.org")
    submit_login(m, "used-invite@example.org")
    _, invites = create_case(m, "Used")
    open_invite(first, invites["victim"])
    first.locator("#join-enter").click()
    first.wait_for_url("**/room")
    open_invite(second, invites["victim"])
    second.locator("#join-enter").click()
    expect(second.locator("#join-error")).to_have_text(
        "This invite link is not valid any more. Ask the mediator for a new one."
    )
    m.once("dialog", lambda dialog: dialog.accept())
    row = m.locator(".case-row", has_text="Used")
    row.locator(".case-reissue[data-role=victim]").click()
    fresh = row.locator(".case-invite [data-invite-url]")
    expect(fresh).to_have_value(re.compile(r"/join#"))
    assert fresh.input_value() != invites["victim"]
    expect(first.locator("#ended-body")).to_have_text(
        "This link has been replaced by a new one. Ask the mediator for the new link."
    )
    open_invite(second, fresh.input_value())
    second.locator("#join-enter").click()
    second.wait_for_url("**/room")
    expect(status(second)).not_to_have_attribute("data-state", "connecting")


def test_low_data_asks_the_camera_for_320x240_at_15fps(node: LiveNode, people: Any) -> None:
    m = people(DESKTOP).page
    a = people(PHONE).page
    mediator_login(m, node, "low-data@example.org")
    submit_login(m, "low-data@example.org")
    _, invites = create_case(m, "Low data")
    open_invite(a, invites["victim"])
    a.locator("#low-data").check()
    a.locator("#join-enter").click()
    a.wait_for_url("**/room")
    a.wait_for_function("() => window.__sulhTracks.some(t => t.kind === 'video')")
    settings = a.evaluate("() => window.__sulhTracks.find(t => t.kind === 'video').getSettings()")
    assert settings["width"] <= 320 and settings["height"] <= 240
    assert settings["frameRate"] <= 15


def test_leaving_keeps_the_tab_able_to_go_back_in(node: LiveNode, people: Any) -> None:
    """ "Leave" is not quick exit: the tab keeps its session, and "Go back in" works."""
    m = people(DESKTOP).page
    a = people(PHONE).page
    mediator_login(m, node, "leave@example.org")
    submit_login(m, "leave@example.org")
    case_id, invites = create_case(m, "Leave")
    open_console(m, case_id)
    open_invite(a, invites["victim"])
    a.locator("#mode-text").check()
    a.locator("#join-enter").click()
    a.wait_for_url("**/room")
    expect(a.locator("#stage")).to_be_hidden()  # messages only: no camera, no connection
    chat(a, "chat-caucus", "before leaving")
    a.locator("#leave").click()
    expect(a.locator("#ended")).to_be_visible()
    expect(a.locator("#ended")).to_be_focused()
    expect(m.locator("#caucus-victim [data-presence]")).to_have_text("Offline")
    a.locator("#rejoin").click()
    expect(status(a)).to_have_attribute("data-state", "away")
    expect(a.locator("#chat-caucus .msg", has_text="before leaving")).to_have_count(1)
    expect(m.locator("#caucus-victim [data-presence]")).to_have_text("Connected, in their room")
    assert a.evaluate("() => window.__sulhPCs.length + window.__sulhTracks.length") == 0


def test_sound_only_works_end_to_end_and_stays_in_its_caucus(node: LiveNode, people: Any) -> None:
    """A party on a weak connection joins with sound only: the mediator hears it and it
    hears the mediator while they share its room, and the other party hears nothing."""
    m = people(DESKTOP).page
    a, b = people(PHONE).page, people(PHONE).page
    mediator_login(m, node, "sound@example.org")
    submit_login(m, "sound@example.org")
    case_id, invites = create_case(m, "Sound only")
    open_console(m, case_id)
    for page, role in ((a, "victim"), (b, "respondent")):
        open_invite(page, invites[role])
        page.locator("#mode-audio").check()
        page.locator("#join-enter").click()
        page.wait_for_url("**/room")
        expect(status(page)).to_have_attribute("data-state", "away")
    move(m, "respondent_caucus")
    expect(status(b)).to_have_attribute("data-state", "with_you")
    assert_hearing(b, 0)  # Party B hears the mediator
    assert_hearing(m, 1)  # the mediator hears Party B (slot 1 is Party B for the mediator)
    assert_not_hearing(a, 0)  # Party A hears nobody: the mediator is elsewhere
    assert_not_hearing(a, 1)
    assert_not_hearing(m, 0)
