"""The case repository: load, run the domain, save atomically (optimistic versioning)."""

from __future__ import annotations

from collections.abc import Callable

from rooms import Case, Command, handle
from rooms.events import Event
from server.codec import case_from_json, case_to_json
from server.crypto import Keyring
from server.store.base import Store

MAX_ATTEMPTS = 20


class NoSuchCase(LookupError):
    """The case does not exist (or has expired)."""


class Contention(RuntimeError):
    """Too many concurrent writers; the command was not applied."""


class CaseRepo:
    """Reads and writes sealed cases; every write is a compare-and-set on the version."""

    def __init__(self, store: Store, keyring: Keyring, retention: float) -> None:
        self._store = store
        self._keyring = keyring
        self._retention = retention

    def _seal(self, case: Case) -> bytes:
        return self._keyring.seal(case_to_json(case))

    async def create(self, case: Case) -> None:
        """Store a brand-new case; ids come from 128-bit randomness, so a clash is a bug."""
        if not await self._store.create_case(case.id, self._seal(case), self._retention):
            raise RuntimeError("case id collision")

    async def load(self, case_id: str) -> tuple[Case, int]:
        """The case and its version; NoSuchCase if absent."""
        found = await self._store.load_case(case_id)
        if found is None:
            raise NoSuchCase(case_id)
        return case_from_json(self._keyring.open(found.blob)), found.version

    async def get(self, case_id: str) -> Case | None:
        """The case, or None."""
        try:
            return (await self.load(case_id))[0]
        except NoSuchCase:
            return None

    async def apply(
        self, case_id: str, command: Command, *, clock: Callable[[], float]
    ) -> tuple[Case, Case, tuple[Event, ...]]:
        """Run ``command`` through the domain and save the result atomically.

        Returns (before, after, events). Domain errors propagate with nothing saved;
        a lost compare-and-set is retried on the fresh case.
        """
        for _ in range(MAX_ATTEMPTS):
            before, version = await self.load(case_id)
            after, events = handle(before, command, now=clock())
            if not events and after == before:
                return before, after, ()
            if await self._store.save_case(case_id, self._seal(after), version, self._retention):
                return before, after, events
        raise Contention(case_id)
