"""The domain stays pure: ``rooms/`` imports only the standard library and itself.

DESIGN.md section 1: ``rooms/`` never does I/O, never reads the clock, never imports a
third-party package. Operators run it with no dependencies, and reviewers can trust that
every decision about who sees whom is in code with no hidden side effects.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOMS = Path(__file__).resolve().parents[2] / "rooms"

# Standard-library modules that would let the domain read the clock, draw randomness or
# do I/O: the adapters pass ``now`` and ids in instead.
IMPURE = frozenset(
    {
        "asyncio",
        "datetime",
        "io",
        "logging",
        "os",
        "pathlib",
        "random",
        "secrets",
        "shutil",
        "socket",
        "sqlite3",
        "subprocess",
        "tempfile",
        "threading",
        "time",
        "urllib",
        "uuid",
    }
)


def imported_modules(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """Every absolute module name ``source`` imports, with its line (relative imports are
    within the package and skipped). Calls to ``__import__``/``import_module`` are reported
    as ``<dynamic import>``: the domain has no reason to import anything at run time."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in {"__import__", "import_module"}:
                found.append((node.lineno, "<dynamic import>"))
    return found


def foreign_imports(source: str, filename: str = "<source>") -> list[str]:
    """Imports in ``source`` that are neither the standard library nor ``rooms``."""
    bad = []
    for line, module in imported_modules(source, filename):
        top = module.split(".")[0]
        if top == "rooms" or top in sys.stdlib_module_names:
            continue
        bad.append(f"{filename}:{line}: {module}")
    return bad


def impure_imports(source: str, filename: str = "<source>") -> list[str]:
    """Standard-library imports in ``source`` that would give the domain a clock or I/O."""
    return [
        f"{filename}:{line}: {module}"
        for line, module in imported_modules(source, filename)
        if module.split(".")[0] in IMPURE
    ]


def domain_sources() -> list[Path]:
    sources = sorted(ROOMS.rglob("*.py"))
    assert len(sources) >= 5, f"expected the domain package at {ROOMS}"
    return sources


def test_domain_imports_only_the_standard_library_and_itself() -> None:
    bad = [
        finding
        for path in domain_sources()
        for finding in foreign_imports(path.read_text(encoding="utf-8"), str(path))
    ]
    assert bad == [], "rooms/ must import only the standard library:\n" + "\n".join(bad)


def test_domain_never_reads_the_clock_or_does_io() -> None:
    bad = [
        finding
        for path in domain_sources()
        for finding in impure_imports(path.read_text(encoding="utf-8"), str(path))
    ]
    assert bad == [], "rooms/ must not read the clock or do I/O:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    "source",
    [
        "import aiohttp",
        "import os, aiohttp.web as web",
        "from socketio import AsyncServer",
        "def f():\n    import redis\n",
        "try:\n    import nacl.public\nexcept ImportError:\n    pass\n",
        "import importlib\nmod = importlib.import_module('json')",
        "mod = __import__('aiortc')",
    ],
)
def test_scanner_flags_a_third_party_import(source: str) -> None:
    """The guard above can fail: it recognises the ways a package sneaks in."""
    assert foreign_imports(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations",
        "import base64, enum\nfrom collections.abc import Callable",
        "from rooms.model import Case",
        "from . import model\nfrom .ids import CaseId",
    ],
)
def test_scanner_accepts_standard_library_and_rooms(source: str) -> None:
    assert foreign_imports(source) == []


@pytest.mark.parametrize("source", ["import time", "from datetime import datetime", "import os"])
def test_scanner_flags_clock_and_io(source: str) -> None:
    assert impure_imports(source) != []
