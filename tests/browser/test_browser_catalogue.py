"""Every string a person reads comes from the message catalogues, in both languages.

These run without a browser: they read the templates and scripts and check that each
catalogue key they use exists in English and Urdu, that Urdu is complete, and that no
visible text calls anyone a "victim".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from server.pages import LANGUAGES, load_catalogues

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
SCRIPTS = ROOT / "static" / "js"
KEY = r"[a-z_]+(?:\.[a-z_0-9]+)+"

# Keys built at run time from a wire value: each prefix with every value it can take.
DYNAMIC = {
    "error.": [
        "unauthorized",
        "not_permitted",
        "invalid",
        "too_large",
        "rate_limited",
        "case_closed",
        "invite_invalid",
        "not_found",
        "busy",
        "internal",
        "network",
        "timeout",
        "no_recipient",
    ],
    "status.mediator.": ["with_you", "with_other_party", "away", "offline"],
    "notice.": [
        "mediator_joined",
        "mediator_left_for_other_party",
        "mediator_away",
        "mediator_offline",
        "joint_proposed",
        "joint_opened",
        "joint_closed",
    ],
    "media.unavailable.": ["server", "failed", "denied", "missing"],
    "devices.": ["denied", "missing", "failed"],
    "ended.": ["unauthorized", "case_closed", "not_permitted"],
    "case.status.": ["open", "in_session", "closed"],
    "case.joint.status.": ["none", "proposed", "open"],
    "join.mode.": ["video", "audio", "text", "video.hint", "audio.hint", "text.hint"],
    "lang.name.": list(LANGUAGES),
}


# Dotted string literals in the scripts that are socket events, not catalogue keys.
EVENTS = {
    "state.get",
    "key.publish",
    "chat.send",
    "chat.history",
    "chat.message",
    "mediator.move",
    "joint.propose",
    "joint.consent",
    "joint.withdraw",
    "safety.exit",
    "rtc.offer",
    "rtc.config",
}


def used_keys() -> set[str]:
    """Every literal key in the templates (t(), data-i18n, data-i18n-attr, macro
    arguments) and every dotted string literal in the scripts."""
    keys: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        keys |= set(re.findall(rf"""\bt\(\s*["']({KEY})["']""", text))
        keys |= set(re.findall(rf'data-i18n="({KEY})"', text))
        for attr in re.findall(r'data-i18n-attr="([^"]+)"', text):
            keys |= {pair.split(":", 1)[1] for pair in attr.split(";") if ":" in pair}
        keys |= set(re.findall(rf"""title_key = ["']({KEY})["']""", text))
        for args in re.findall(r"chat_panel\(([^)]*)\)", text):
            keys |= set(re.findall(rf"""["']({KEY})["']""", args))
    for path in SCRIPTS.glob("*.js"):
        text = path.read_text(encoding="utf-8")
        for key in re.findall(rf"""["']({KEY})["']""", text):
            if key not in EVENTS and not key.startswith("sulh."):
                keys.add(key)
    return keys


@pytest.fixture(scope="module")
def catalogues() -> dict[str, dict[str, str]]:
    return {lang: dict(load_catalogues().by_language[lang]) for lang in LANGUAGES}


def test_every_key_the_pages_use_exists_in_every_language(
    catalogues: dict[str, dict[str, str]],
) -> None:
    wanted = used_keys() | {p + v for p, vs in DYNAMIC.items() for v in vs}
    for lang, catalogue in catalogues.items():
        missing = sorted(k for k in wanted if k not in catalogue)
        assert not missing, f"{lang}.json lacks {missing}"


def test_urdu_translates_every_english_string(catalogues: dict[str, dict[str, str]]) -> None:
    assert set(catalogues["ur"]) == set(catalogues["en"])
    same = [
        k
        for k, v in catalogues["ur"].items()
        if v == catalogues["en"][k] and not k.startswith(("lang.name.", "party.custom"))
    ]
    assert not same, f"untranslated: {same}"
    assert all(
        re.search(r"[\u0600-\u06ff]", v)
        for k, v in catalogues["ur"].items()
        if not k.startswith(("lang.name.", "party.custom"))
    )


def test_no_visible_text_calls_anyone_a_victim(catalogues: dict[str, dict[str, str]]) -> None:
    for lang, catalogue in catalogues.items():
        for key, value in catalogue.items():
            assert "victim" not in value.lower(), (lang, key)
            assert "متاثر" not in value, (lang, key)  # Urdu for "victim", "affected person"


def test_placeholders_match_between_languages(catalogues: dict[str, dict[str, str]]) -> None:
    for key, english in catalogues["en"].items():
        names = set(re.findall(r"\{(\w+)\}", english))
        assert set(re.findall(r"\{(\w+)\}", catalogues["ur"][key])) == names, key


def test_catalogues_are_flat_string_maps() -> None:
    for lang in LANGUAGES:
        data = json.loads((ROOT / "static" / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
        assert all(isinstance(v, str) for v in data.values())
