"""The pages as HTTP serves them (no browser needed): languages, direction, the
quick-exit address, static files and the headers every page carries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from server.app import build_app
from server.config import Settings
from server.pages import safe_exit_url
from server.store.memory import MemoryStore


@pytest.fixture
async def base_url(tmp_path: Path) -> AsyncIterator[str]:
    settings = Settings(data_dir=tmp_path, exit_url="javascript:alert(1)")
    runner = web.AppRunner(build_app(settings, store=MemoryStore(), master_key=b"p" * 32))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def fetch(url: str) -> tuple[int, dict[str, str], str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, allow_redirects=False) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.text()


async def test_pages_render_in_english_and_urdu_right_to_left(base_url: str) -> None:
    status, _, html = await fetch(base_url + "/join")
    assert status == 200
    assert '<html lang="en" dir="ltr">' in html
    assert "Exit this page" in html
    status, _, html = await fetch(base_url + "/join?lang=ur")
    assert '<html lang="ur" dir="rtl">' in html
    assert "یہ صفحہ فوراً چھوڑیں" in html
    _, _, html = await fetch(base_url + "/join?lang=xx")
    assert '<html lang="en" dir="ltr">' in html


async def test_every_page_has_the_strict_headers_and_no_inline_script(base_url: str) -> None:
    for path in ("/join", "/room", "/console", "/console/case"):
        status, headers, html = await fetch(base_url + path)
        assert status == 200, path
        assert headers["Cache-Control"] == "no-store"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "camera=(self)" in headers["Permissions-Policy"]
        assert "<script>" not in html and "<style" not in html and " style=" not in html
        assert 'type="module" src="/static/js/' in html


async def test_quick_exit_never_goes_to_a_script_url(base_url: str) -> None:
    _, _, html = await fetch(base_url + "/join")
    assert 'data-exit-url="about:blank"' in html
    assert "javascript:" not in html
    assert safe_exit_url("https://www.bbc.co.uk/weather") == "https://www.bbc.co.uk/weather"
    assert safe_exit_url(" data:text/html,hi") == "about:blank"
    assert safe_exit_url("//evil.example") == "about:blank"


async def test_static_files_are_served_and_nothing_outside(base_url: str) -> None:
    status, headers, _ = await fetch(base_url + "/static/js/room.js")
    assert status == 200 and "javascript" in headers["Content-Type"]
    assert (await fetch(base_url + "/static/vendor/tweetnacl/nacl-fast.min.js"))[0] == 200
    assert (await fetch(base_url + "/static/../server/app.py"))[0] == 404
    assert (await fetch(base_url + "/static/%2e%2e/server/app.py"))[0] in (403, 404)
    assert (await fetch(base_url + "/static/"))[0] in (403, 404)


async def test_the_root_leads_to_the_mediator_sign_in(base_url: str) -> None:
    status, headers, _ = await fetch(base_url + "/")
    assert status == 302 and headers["Location"] == "/console"


def test_settings_exit_url_default_is_neutral() -> None:
    assert safe_exit_url(replace(Settings()).exit_url).startswith("https://")
