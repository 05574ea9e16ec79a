"""Settings, read once from the environment (all optional for a local run)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
T = TypeVar("T")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(ValueError):
    """A setting is malformed; the server refuses to start rather than guess."""


def parse_duration(text: str) -> float:
    """'72h' -> 259200.0; plain numbers are seconds."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) <= 0:
        raise ConfigError(f"not a duration: {text!r} (use e.g. 90s, 30m, 72h, 7d)")
    return float(int(match.group(1)) * _UNITS[match.group(2)])


def parse_port_range(text: str) -> tuple[int, int]:
    """'40000-40100' -> (40000, 40100)."""
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
    if not match:
        raise ConfigError(f"not a port range: {text!r} (use e.g. 40000-40100)")
    low, high = int(match.group(1)), int(match.group(2))
    if not 1024 <= low <= high <= 65535:
        raise ConfigError(f"port range out of bounds: {text!r}")
    return low, high


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Defaults give a private single-process server on loopback."""

    host: str = "127.0.0.1"
    port: int = 8080
    redis_url: str | None = None
    redis_prefix: str = "sulh:"
    secret_key_file: Path | None = None
    data_dir: Path = Path("data")
    allowed_origins: tuple[str, ...] = ()
    public_url: str | None = None
    public_ip: str | None = None
    rtc_ports: tuple[int, int] | None = None
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    exit_url: str = "https://www.wikipedia.org/"
    retention: float = 72 * 3600.0
    invite_ttl: float = 72 * 3600.0
    session_idle: float = 2 * 3600.0
    session_absolute: float = 12 * 3600.0
    max_event_bytes: int = 64 * 1024
    extra: Mapping[str, str] = field(default_factory=dict)

    def origins(self) -> list[str]:
        """The socket.io/HTTP origin allowlist: configured, or this server's own address."""
        if self.allowed_origins:
            return list(self.allowed_origins)
        hosts = (
            {self.host, "127.0.0.1", "localhost"}
            if self.host in ("127.0.0.1", "localhost")
            else {self.host}
        )
        return sorted(f"http://{h}:{self.port}" for h in hosts)


def _csv(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def _named(name: str, parse: Callable[[str], T], text: str) -> T:
    try:
        return parse(text)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from exc


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from SULH_* variables; raise ConfigError on anything malformed."""
    env = os.environ if env is None else env
    get = env.get
    try:
        port = int(get("SULH_PORT", "8080"))
    except ValueError as exc:
        raise ConfigError("SULH_PORT must be a number") from exc
    key_file = get("SULH_SECRET_KEY_FILE")
    rtc = get("SULH_RTC_PORTS")
    return Settings(
        host=get("SULH_HOST", "127.0.0.1"),
        port=port,
        redis_url=get("SULH_REDIS_URL") or None,
        redis_prefix=get("SULH_REDIS_PREFIX", "sulh:"),
        secret_key_file=Path(key_file) if key_file else None,
        data_dir=Path(get("SULH_DATA_DIR", "data")),
        allowed_origins=_csv(get("SULH_ALLOWED_ORIGINS")),
        public_url=(get("SULH_PUBLIC_URL") or "").rstrip("/") or None,
        public_ip=get("SULH_PUBLIC_IP") or None,
        rtc_ports=_named("SULH_RTC_PORTS", parse_port_range, rtc) if rtc else None,
        turn_urls=_csv(get("SULH_TURN_URLS")),
        turn_secret=get("SULH_TURN_SECRET") or None,
        exit_url=get("SULH_EXIT_URL", "https://www.wikipedia.org/"),
        retention=_named("SULH_RETENTION", parse_duration, get("SULH_RETENTION", "72h")),
        invite_ttl=_named("SULH_INVITE_TTL", parse_duration, get("SULH_INVITE_TTL", "72h")),
        session_idle=_named("SULH_SESSION_IDLE", parse_duration, get("SULH_SESSION_IDLE", "2h")),
        session_absolute=_named("SULH_SESSION_MAX", parse_duration, get("SULH_SESSION_MAX", "12h")),
    )
