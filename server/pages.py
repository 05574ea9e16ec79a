"""The browser pages: jinja2 templates, static files and the message catalogues.

Templates never receive user data: only the page's language, its catalogue and
operator configuration (the quick-exit address). Everything about a case reaches
the page through the JSON API or the socket, and the page's scripts put it into the
DOM as text. Autoescaping is on for every template regardless.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from server.state import services_key

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
LANGUAGES = ("en", "ur")
RTL = frozenset({"ur"})
DEFAULT_LANGUAGE = "en"
SAFE_EXIT_FALLBACK = "about:blank"


@dataclass(frozen=True)
class Catalogues:
    """Every UI string, per language (static/i18n/<lang>.json). English is complete;
    a key missing from another language falls back to English."""

    by_language: Mapping[str, Mapping[str, str]]

    def lookup(self, lang: str, key: str) -> str:
        """The text for ``key`` in ``lang``; English, then the key itself, as fallbacks."""
        own = self.by_language.get(lang, {})
        if key in own:
            return own[key]
        return self.by_language[DEFAULT_LANGUAGE].get(key, key)


def load_catalogues(directory: Path = STATIC / "i18n") -> Catalogues:
    """Read every language's catalogue; a missing or malformed file stops the start-up."""
    loaded: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        data = json.loads((directory / f"{lang}.json").read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise ValueError(f"catalogue {lang}.json must map keys to strings")
        loaded[lang] = data
    return Catalogues(loaded)


def safe_exit_url(url: str) -> str:
    """Quick exit may only go to an http(s) address; anything else (a ``javascript:``
    URL, a typo) becomes a blank page rather than a script or a broken exit."""
    parts = urlsplit(url.strip())
    if parts.scheme in ("http", "https") and parts.netloc:
        return url.strip()
    return SAFE_EXIT_FALLBACK


def environment() -> jinja2.Environment:
    """Autoescaping on for everything, undefined names fail loudly."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def pick_language(request: web.Request) -> str:
    """``?lang=ur`` lets a mediator send a link that opens in Urdu; the page's own
    switch (kept in sessionStorage) takes over after that."""
    lang = request.query.get("lang", DEFAULT_LANGUAGE)
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


class Pages:
    """Renders one template per page, in the requested language."""

    def __init__(self, catalogues: Catalogues, env: jinja2.Environment | None = None) -> None:
        self.catalogues = catalogues
        self.env = env or environment()

    def handler(
        self, template: str, *, party: bool
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """A GET handler for ``template``; party pages carry the quick-exit address."""

        async def render(request: web.Request) -> web.Response:
            lang = pick_language(request)
            exit_url = safe_exit_url(request.app[services_key].settings.exit_url)

            def t(key: str) -> str:
                return self.catalogues.lookup(lang, key)

            html = self.env.get_template(template).render(
                lang=lang,
                dir="rtl" if lang in RTL else "ltr",
                languages=LANGUAGES,
                t=t,
                party=party,
                exit_url=exit_url,
            )
            return web.Response(text=html, content_type="text/html", charset="utf-8")

        return render


async def home(request: web.Request) -> web.Response:
    """There is no public front page: the root leads to the mediators' sign-in."""
    return web.Response(status=302, headers={"Location": "/console"})


def routes(catalogues: Catalogues | None = None) -> list[web.AbstractRouteDef]:
    """The page routes and ``/static/``. Called once by ``server.app.build_app``."""
    pages = Pages(catalogues or load_catalogues())
    return [
        web.get("/", home),
        web.get("/join", pages.handler("join.html", party=True)),
        web.get("/room", pages.handler("room.html", party=True)),
        web.get("/console", pages.handler("console.html", party=False)),
        web.get("/console/case", pages.handler("case.html", party=False)),
        web.static("/static", STATIC, follow_symlinks=False, show_index=False),
    ]
