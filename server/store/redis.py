"""The shared store: several Sulh nodes serve one deployment from one Redis (DESIGN.md §6).

Every write that must not interleave with another is one Redis command or one Lua script,
so no node can see or make a half-done change: ``take`` is GETDEL, ``create_case`` and
``save_case`` check and write in one script, ``append_message`` dedupes and appends in one.

Keys all start with ``prefix`` so deployments (and tests) can share a Redis. A case's three
keys carry the case id as a hash tag (``{id}``) so they stay in one Redis Cluster slot,
which multi-key scripts require.

A command is sent at most once (no client-side retry): if the reply is lost, the caller
gets ``ConnectionError`` instead of a silent second execution (a retried GETDEL would
return None for a record the first attempt already consumed).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.store.base import Versioned

T = TypeVar("T")

# KEYS: case, log, dedupe. ARGV: blob, ttl in ms or "" for none.
# A new case never inherits the chat of an expired case that had the same id.
_CREATE_CASE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'blob', ARGV[1], 'version', '1')
if ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""

# KEYS: case. ARGV: expected version, blob, new version, ttl in ms or "" for none.
# A missing case reads as false, which never equals a version, so nothing is created.
_SAVE_CASE = """
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'blob', ARGV[2], 'version', ARGV[3])
if ARGV[4] == '' then redis.call('PERSIST', KEYS[1])
else redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return 1
"""

# KEYS: log, dedupe. ARGV: dedupe key, record JSON, ttl in ms or "" for none.
# Log and dedupe set expire together, so a replay is refused for as long as its original
# is kept, and a replay refreshes nothing.
_APPEND_MESSAGE = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[2])
for i = 1, 2 do
  if ARGV[3] == '' then redis.call('PERSIST', KEYS[i])
  else redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
end
return 1
"""


def _px(ttl: float | None) -> int | None:
    """Seconds to milliseconds for PX/PEXPIRE; None means no expiry.

    Redis refuses 0 ms, so a non-positive ``ttl`` becomes 1 ms: gone at once, as in memory.
    """
    return None if ttl is None else max(1, math.ceil(ttl * 1000))


def _px_arg(ttl: float | None) -> str:
    """The scripts' TTL argument: milliseconds, or "" for no expiry."""
    px = _px(ttl)
    return "" if px is None else str(px)


def _escape(kind: str) -> str:
    """Keep ("a:b", "c") and ("a", "b:c") apart: a kind never contains a bare ':'."""
    return kind.replace("%", "%25").replace(":", "%3A")


def _dump(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def _load(raw: bytes | str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(raw)
    return record


def _as_bytes(value: bytes | str) -> bytes:
    """Replies are bytes (``decode_responses=False``); the client's types also allow str."""
    return value if isinstance(value, bytes) else value.encode()


class RedisStore:
    """A ``Store`` in Redis: records are JSON strings, expiry is Redis's own PX/PEXPIRE.

    Records must be JSON-able (tuples come back as lists). When Redis cannot be reached,
    every method except ``ping`` raises the builtin ``ConnectionError`` after at most
    ``timeout`` seconds; ``ping`` returns False instead, so readiness checks never raise
    and never hang.
    """

    def __init__(self, url: str, prefix: str = "sulh:", *, timeout: float = 2.0) -> None:
        self.prefix = prefix
        self._timeout = timeout
        self._redis = aioredis.Redis.from_url(
            url,
            decode_responses=False,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._create_case = self._redis.register_script(_CREATE_CASE)
        self._save_case = self._redis.register_script(_SAVE_CASE)
        self._append_message = self._redis.register_script(_APPEND_MESSAGE)

    @classmethod
    async def connect(cls, url: str, prefix: str = "sulh:", *, timeout: float = 2.0) -> RedisStore:
        """A store whose Redis has answered: a node fails at boot, not on its first request."""
        store = cls(url, prefix, timeout=timeout)
        if not await store.ping():
            await store.close()
            raise ConnectionError(f"Redis at {url} did not answer PING within {timeout}s")
        return store

    # -- keys ------------------------------------------------------------------
    def _record_key(self, kind: str, key: str) -> str:
        return f"{self.prefix}rec:{_escape(kind)}:{key}"

    def _set_key(self, kind: str, key: str) -> str:
        return f"{self.prefix}set:{_escape(kind)}:{key}"

    def _case_keys(self, case_id: str) -> tuple[str, str, str]:
        """The case hash, its chat log and its dedupe set, in one cluster slot."""
        tag = "{" + case_id + "}"
        return (
            f"{self.prefix}case:{tag}",
            f"{self.prefix}log:{tag}",
            f"{self.prefix}seen:{tag}",
        )

    async def _run(self, call: Awaitable[T]) -> T:
        """Await a Redis call; an unreachable Redis surfaces as the builtin ConnectionError,
        so callers handle both stores' outages with one except clause."""
        try:
            return await call
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise ConnectionError(f"Redis unavailable: {exc}") from exc

    # -- records ---------------------------------------------------------------
    async def put(self, kind: str, key: str, record: dict[str, Any], ttl: float | None) -> None:
        """Replace the record and its expiry in one SET (no TTL given clears the old one)."""
        name = self._record_key(kind, key)
        await self._run(self._redis.set(name, _dump(record), px=_px(ttl)))

    async def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The live record; Redis drops expired keys on access, so none is ever returned."""
        raw = await self._run(self._redis.get(self._record_key(kind, key)))
        return None if raw is None else _load(raw)

    async def touch(self, kind: str, key: str, ttl: float) -> bool:
        """PEXPIRE: atomic, and a no-op on a key that no longer exists."""
        px = _px(ttl)
        name = self._record_key(kind, key)
        return bool(await self._run(self._redis.pexpire(name, px))) if px else False

    async def take(self, kind: str, key: str) -> dict[str, Any] | None:
        """GETDEL: of any number of concurrent callers on any nodes, exactly one gets it."""
        raw = await self._run(self._redis.getdel(self._record_key(kind, key)))
        return None if raw is None else _load(raw)

    async def delete(self, kind: str, key: str) -> None:
        """Remove the record if present."""
        await self._run(self._redis.delete(self._record_key(kind, key)))

    async def add_to_set(self, kind: str, key: str, member: str, ttl: float | None) -> None:
        """SADD and the expiry refresh in one MULTI, so the set is never left without its TTL."""
        name = self._set_key(kind, key)
        px = _px(ttl)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(name, member)
            if px is not None:
                pipe.pexpire(name, px)
            else:
                pipe.persist(name)
            await self._run(pipe.execute())

    async def set_members(self, kind: str, key: str) -> set[str]:
        """The live members (empty when the set expired or never existed)."""
        raw = await self._run(self._redis.smembers(self._set_key(kind, key)))
        return {_as_bytes(member).decode() for member in raw}

    async def remove_from_set(self, kind: str, key: str, member: str) -> None:
        """SREM; the set's expiry is left as it was."""
        await self._run(self._redis.srem(self._set_key(kind, key), member))

    # -- cases -----------------------------------------------------------------
    async def create_case(self, case_id: str, blob: bytes, ttl: float | None) -> bool:
        """Create at version 1 only if absent (an atomic NX): two nodes never both own an id."""
        created = await self._run(
            self._create_case(keys=list(self._case_keys(case_id)), args=[blob, _px_arg(ttl)])
        )
        return bool(created)

    async def load_case(self, case_id: str) -> Versioned | None:
        """Blob and version read in one HMGET, so they always belong together."""
        case_key = self._case_keys(case_id)[0]
        blob, version = await self._run(self._redis.hmget(case_key, ["blob", "version"]))
        if blob is None or version is None:
            return None
        return Versioned(blob=_as_bytes(blob), version=int(version))

    async def save_case(self, case_id: str, blob: bytes, expected: int, ttl: float | None) -> bool:
        """Compare-and-set in one script: a writer holding a stale version changes nothing,
        so of concurrent savers of one version exactly one wins."""
        case_key = self._case_keys(case_id)[0]
        saved = await self._run(
            self._save_case(
                keys=[case_key], args=[str(expected), blob, str(expected + 1), _px_arg(ttl)]
            )
        )
        return bool(saved)

    # -- chat ------------------------------------------------------------------
    async def append_message(
        self, case_id: str, record: dict[str, Any], dedupe_key: str, ttl: float | None
    ) -> bool:
        """Dedupe and append in one script: a replayed box is stored once, even when the
        original and the replay reach two nodes at the same time."""
        _, log_key, seen_key = self._case_keys(case_id)
        appended = await self._run(
            self._append_message(
                keys=[log_key, seen_key], args=[dedupe_key, _dump(record), _px_arg(ttl)]
            )
        )
        return bool(appended)

    async def messages(self, case_id: str) -> list[dict[str, Any]]:
        """The whole log, oldest first (RPUSH order)."""
        raw = await self._run(self._redis.lrange(self._case_keys(case_id)[1], 0, -1))
        return [_load(item) for item in raw]

    async def purge_case(self, case_id: str) -> None:
        """Delete case, log and dedupe set in one DEL: nothing of a closed case lingers."""
        await self._run(self._redis.delete(*self._case_keys(case_id)))

    # -- lifecycle -------------------------------------------------------------
    async def ping(self) -> bool:
        """Readiness: True if Redis answers within ``timeout``; False (never raises) if not."""
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), self._timeout))
        except (TimeoutError, RedisError, OSError):
            return False

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
