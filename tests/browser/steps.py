"""What people do in the browser, as small steps the tests compose."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.live import PASSWORD, SCREENSHOTS, LiveNode

SERIOUS = {"serious", "critical"}


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run the vendored axe-core on the page; the serious and critical violations."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
          const result = await axe.run(document, { resultTypes: ["violations"] });
          return result.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
          }));
        }"""
    )
    return [v for v in found if v["impact"] in SERIOUS]


def check_a11y(page: Page) -> None:
    violations = axe_violations(page)
    assert not violations, violations


def shoot(page: Page, name: str) -> None:
    """Save a full-page screenshot for people to look at (artifacts/, git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # Sticky bars would be painted mid-page in a full-page capture: let them scroll.
    page.evaluate("() => document.documentElement.classList.add('static-bars')")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.evaluate("() => document.documentElement.classList.remove('static-bars')")


def switch_language(page: Page, lang: str) -> None:
    page.locator(f"[data-set-lang={lang}]").click()
    expect(page.locator("html")).to_have_attribute("lang", lang)


# -- mediator ------------------------------------------------------------------


def mediator_login(page: Page, node: LiveNode, email: str) -> None:
    node.add_mediator(email)
    page.goto("/console")
    expect(page.locator("#login")).to_be_visible()


def submit_login(page: Page, email: str) -> None:
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("#login-form button[type=submit]").click()
    expect(page.locator("#cases")).to_be_visible()


def create_case(page: Page, label: str) -> tuple[str, dict[str, str]]:
    """Open a case from the form; returns the case id and both invite links."""
    page.fill("#case-label", label)
    page.locator("#create-form button[type=submit]").click()
    expect(page.locator("#new-case")).to_be_visible()
    invites = {
        role: page.locator(f"#invite-{role} [data-invite-url]").input_value()
        for role in ("victim", "respondent")
    }
    href = page.locator("#new-case-open").get_attribute("href") or ""
    return href.split("#", 1)[1], invites


def open_console(page: Page, case_id: str) -> None:
    page.goto(f"/console/case#{case_id}")
    expect(page.locator("#conn")).to_have_text(re.compile(r"\S"))
    expect(page.locator("#where")).to_have_attribute("data-place", "away")


def move(page: Page, to: str) -> None:
    page.locator(f"[data-move={to}]").click()
    expect(page.locator("#where")).to_have_attribute("data-place", to)


def chat(page: Page, panel: str, text: str) -> None:
    page.fill(f"#{panel} textarea", text)
    page.locator(f"#{panel} button[type=submit]").click()
    mine = page.locator(f"#{panel} .msg.mine", has_text=text)
    expect(mine).to_be_visible()
    expect(mine.locator(".state")).to_have_text("")


# -- parties -------------------------------------------------------------------


def open_invite(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#join-form")).to_be_visible()


def enter_room(page: Page, *, mode: str = "video", pseudonym: str = "") -> None:
    if pseudonym:
        page.fill("#pseudonym", pseudonym)
    page.locator(f"#mode-{mode}").check()
    page.locator("#join-enter").click()
    page.wait_for_url("**/room")
    expect(page.locator("#status-line")).not_to_have_attribute("data-state", "connecting")


def join(page: Page, url: str, **kwargs: Any) -> None:
    open_invite(page, url)
    enter_room(page, **kwargs)


def status(page: Page) -> Any:
    return page.locator("#status-line")


def safety_code_on(page: Page, selector: str) -> str:
    details = page.locator(selector)
    details.locator("summary").click()
    code = details.locator("[data-code] .group")
    expect(code).to_have_count(6)
    return " ".join(code.all_inner_texts())


def safety_code(key_a: bytes, key_b: bytes) -> str:
    """docs/protocol.md: SHA-512 over both keys sorted bytewise, first 30 bytes as six
    5-byte big-endian integers mod 100000, each zero-padded to five digits."""
    digest = hashlib.sha512(b"".join(sorted([key_a, key_b]))).digest()
    return " ".join(
        f"{int.from_bytes(digest[i : i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5)
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- media ---------------------------------------------------------------------

FRAMES = """async (slot) => {
  let total = 0;
  for (const pc of window.__sulhPCs) {
    if (pc.connectionState === "closed") continue;
    const video = pc.getTransceivers().filter((t) => t.receiver.track.kind === "video");
    const mid = video[slot] && video[slot].mid;
    if (!mid) continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video" && s.mid === mid) {
        total += s.framesDecoded || 0;
      }
    });
  }
  return total;
}"""


AUDIO = FRAMES.replace('"video"', '"audio"').replace("framesDecoded", "totalSamplesReceived")


def audio_samples(page: Page, slot: int) -> int:
    """Audio samples the page has received from one receive slot (slots as for video)."""
    return int(page.evaluate(AUDIO, slot))


def assert_hearing(page: Page, slot: int, *, timeout: float = 10.0) -> None:
    """Audio from ``slot`` keeps arriving (at least 0.2 s of it at 48 kHz)."""
    _assert_growing(page, audio_samples, slot, 9600, timeout, f"no audio received from slot {slot}")


def assert_not_hearing(page: Page, slot: int, *, settle_ms: int = 700) -> None:
    """No audio from ``slot`` arrives (after letting in-flight packets land)."""
    _assert_still(page, audio_samples, slot, settle_ms, f"audio from slot {slot} still arrives")


def _assert_growing(
    page: Page, count: Callable[[Page, int], int], slot: int, gain: int, timeout: float, why: str
) -> None:
    start = count(page, slot)
    deadline = time.monotonic() + timeout
    while count(page, slot) < start + gain:
        assert time.monotonic() < deadline, why
        page.wait_for_timeout(100)


def _assert_still(
    page: Page, count: Callable[[Page, int], int], slot: int, settle_ms: int, why: str
) -> None:
    page.wait_for_timeout(settle_ms)
    before = count(page, slot)
    page.wait_for_timeout(1000)
    assert count(page, slot) == before, why


def frames_decoded(page: Page, slot: int) -> int:
    """Video frames the page has decoded from one receive slot (0: the mediator for a
    party, Party A for the mediator; 1: the other party, or Party B for the mediator)."""
    return int(page.evaluate(FRAMES, slot))


def assert_decoding(page: Page, slot: int, *, timeout: float = 10.0) -> None:
    """Frames from ``slot`` keep arriving and decoding."""
    _assert_growing(page, frames_decoded, slot, 5, timeout, f"no video decoded from slot {slot}")


def assert_not_decoding(page: Page, slot: int, *, settle_ms: int = 700) -> None:
    """No frame from ``slot`` is decoded (after letting in-flight frames land)."""
    _assert_still(page, frames_decoded, slot, settle_ms, f"video from slot {slot} still arrives")
