"""Structured logs that never carry payloads, names, tokens, SDP or client addresses.

Call sites pass only a fixed event name and a few whitelisted fields (codes, opaque
case ids, counts); ``log`` drops anything else, so a careless caller cannot leak.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

ALLOWED_FIELDS = frozenset(
    {"case", "role", "event", "code", "count", "node", "version", "reason", "kind", "port"}
)

logger = logging.getLogger("sulh")


def log(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Emit one JSON line: ``name`` plus only the whitelisted ``fields``."""
    safe = {
        k: v
        for k, v in fields.items()
        if k in ALLOWED_FIELDS and isinstance(v, (str, int, float, bool))
    }
    logger.log(level, json.dumps({"msg": name, **safe}, sort_keys=True))


def setup(level: int = logging.INFO) -> None:
    """Log to stderr; silence libraries that would log addresses or payloads."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logger.setLevel(level)
    for noisy in ("aiohttp.access", "socketio", "engineio", "aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
