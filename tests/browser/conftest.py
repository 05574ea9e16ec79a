"""Real Chromium (Debian's /usr/bin/chromium) against a real Sulh node (tests/browser/live.py).

Every person gets their own browser context: separate cookies, storage and fake camera.
Skipped when chromium is missing (and then failed under SULH_REQUIRE_ALL=1, see
tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.live import CHROMIUM, CHROMIUM_ARGS, INSTRUMENT, PHONE, LiveNode, Person


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    live = LiveNode(tmp_path_factory.mktemp("sulh-browser"))
    live.start()
    try:
        yield live
    finally:
        live.stop()


# Module scope, not session: while the sync Playwright driver is alive it holds an event
# loop running on the main thread, which would break every asyncio test that runs after
# it. Ending it with each module keeps the rest of the suite unaffected.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def people(browser: Any, node: LiveNode) -> Iterator[Any]:
    """``people(viewport)`` opens a fresh context for one more person."""
    opened: list[Person] = []

    def open_person(viewport: dict[str, int] = PHONE) -> Person:
        context = browser.new_context(viewport=viewport, base_url=node.base_url)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=node.base_url)
        person = Person(context, None)
        context.expose_binding(
            "__sulhReport", lambda _source, kind, ident: person.reports.append((kind, ident))
        )
        context.add_init_script(INSTRUMENT)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda exc: person.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: (
                person.errors.append(f"csp: {msg.text}")
                if "Content Security Policy" in msg.text
                else None
            ),
        )
        person.page = page
        opened.append(person)
        return person

    yield open_person
    for person in opened:
        person.context.close()
    for person in opened:
        assert not person.errors, person.errors
