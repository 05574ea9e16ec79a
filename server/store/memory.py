"""The embedded default store: everything in this process's memory, nothing on disk."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from server.store.base import Versioned

Clock = Callable[[], float]


T = TypeVar("T")


def _copy(record: T) -> T:
    """Round-trip through JSON, as Redis does, so both stores accept and return the same."""
    copied: T = json.loads(json.dumps(record))
    return copied


class MemoryStore:
    """A ``Store`` held in dicts; expiry is checked against ``clock`` on every read."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._records: dict[tuple[str, str], tuple[dict[str, Any], float | None]] = {}
        self._sets: dict[tuple[str, str], tuple[set[str], float | None]] = {}
        self._cases: dict[str, tuple[Versioned, float | None]] = {}
        self._logs: dict[str, tuple[list[dict[str, Any]], set[str], float | None]] = {}

    def _deadline(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._clock() + ttl

    def _live(self, deadline: float | None) -> bool:
        return deadline is None or self._clock() < deadline

    async def put(self, kind: str, key: str, record: dict[str, Any], ttl: float | None) -> None:
        self._records[(kind, key)] = (_copy(record), self._deadline(ttl))

    async def get(self, kind: str, key: str) -> dict[str, Any] | None:
        entry = self._records.get((kind, key))
        if entry is None:
            return None
        if not self._live(entry[1]):
            del self._records[(kind, key)]
            return None
        return _copy(entry[0])

    async def take(self, kind: str, key: str) -> dict[str, Any] | None:
        record = await self.get(kind, key)
        self._records.pop((kind, key), None)
        return record

    async def touch(self, kind: str, key: str, ttl: float) -> bool:
        if await self.get(kind, key) is None:
            return False
        record, _ = self._records[(kind, key)]
        self._records[(kind, key)] = (record, self._deadline(ttl))
        return True

    async def delete(self, kind: str, key: str) -> None:
        self._records.pop((kind, key), None)

    async def add_to_set(self, kind: str, key: str, member: str, ttl: float | None) -> None:
        members = await self.set_members(kind, key)
        members.add(member)
        self._sets[(kind, key)] = (members, self._deadline(ttl))

    async def set_members(self, kind: str, key: str) -> set[str]:
        entry = self._sets.get((kind, key))
        if entry is None or not self._live(entry[1]):
            self._sets.pop((kind, key), None)
            return set()
        return set(entry[0])

    async def remove_from_set(self, kind: str, key: str, member: str) -> None:
        entry = self._sets.get((kind, key))
        if entry is not None:
            entry[0].discard(member)

    async def create_case(self, case_id: str, blob: bytes, ttl: float | None) -> bool:
        if await self.load_case(case_id) is not None:
            return False
        self._cases[case_id] = (Versioned(blob, 1), self._deadline(ttl))
        return True

    async def load_case(self, case_id: str) -> Versioned | None:
        entry = self._cases.get(case_id)
        if entry is None:
            return None
        if not self._live(entry[1]):
            await self.purge_case(case_id)
            return None
        return entry[0]

    async def save_case(self, case_id: str, blob: bytes, expected: int, ttl: float | None) -> bool:
        current = await self.load_case(case_id)
        if current is None or current.version != expected:
            return False
        self._cases[case_id] = (Versioned(blob, expected + 1), self._deadline(ttl))
        return True

    async def append_message(
        self, case_id: str, record: dict[str, Any], dedupe_key: str, ttl: float | None
    ) -> bool:
        log, seen, deadline = self._logs.get(case_id, ([], set(), None))
        if not self._live(deadline):
            log, seen = [], set()
        if dedupe_key in seen:
            return False
        seen.add(dedupe_key)
        log.append(_copy(record))
        self._logs[case_id] = (log, seen, self._deadline(ttl))
        return True

    async def messages(self, case_id: str) -> list[dict[str, Any]]:
        entry = self._logs.get(case_id)
        if entry is None or not self._live(entry[2]):
            self._logs.pop(case_id, None)
            return []
        return _copy(entry[0])

    async def purge_case(self, case_id: str) -> None:
        self._cases.pop(case_id, None)
        self._logs.pop(case_id, None)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None
