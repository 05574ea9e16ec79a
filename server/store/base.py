"""The storage interface. The in-memory and Redis stores pass the same contract tests.

The store holds bytes and small JSON-able records; it never sees a Case object, a
plaintext name or a raw token. Callers encrypt case records (SecretBox) and hash
tokens (keyed BLAKE2b) before anything reaches a store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Versioned:
    """A stored case blob with the version a compare-and-set must name."""

    blob: bytes
    version: int


class Store(Protocol):
    """What Sulh keeps. Every record has a TTL in seconds (``ttl``) or lives until deleted.

    ``now`` is never read here: records expire through the backend's own TTLs
    (Redis) or a clock passed in at construction (memory, so tests can fake time).
    """

    # -- records: small JSON-able dicts under a namespaced key -----------------
    async def put(self, kind: str, key: str, record: dict[str, Any], ttl: float | None) -> None:
        """Store ``record`` under (kind, key), replacing any, expiring after ``ttl`` seconds."""

    async def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The live record under (kind, key), or None."""

    async def take(self, kind: str, key: str) -> dict[str, Any] | None:
        """Atomically read and delete: of concurrent callers, exactly one gets the record."""

    async def touch(self, kind: str, key: str, ttl: float) -> bool:
        """Extend a live record's expiry to ``ttl`` seconds from now; False if it is gone.
        Never brings a deleted or expired record back (a revoked session stays revoked)."""

    async def delete(self, kind: str, key: str) -> None:
        """Remove (kind, key) if present."""

    async def add_to_set(self, kind: str, key: str, member: str, ttl: float | None) -> None:
        """Add ``member`` to the set (kind, key); ``ttl`` refreshes the set's expiry."""

    async def set_members(self, kind: str, key: str) -> set[str]:
        """The members of the set (kind, key) (empty if none)."""

    async def remove_from_set(self, kind: str, key: str, member: str) -> None:
        """Remove ``member`` from the set (kind, key)."""

    # -- cases: encrypted blobs with optimistic versioning ---------------------
    async def create_case(self, case_id: str, blob: bytes, ttl: float | None) -> bool:
        """Store a new case at version 1; False if the id is taken."""

    async def load_case(self, case_id: str) -> Versioned | None:
        """The case blob and its version, or None."""

    async def save_case(self, case_id: str, blob: bytes, expected: int, ttl: float | None) -> bool:
        """Compare-and-set: store ``blob`` as version ``expected + 1`` only if the stored
        version is still ``expected``. False (and nothing written) otherwise."""

    # -- chat: an append-only log of ciphertext records per case ---------------
    async def append_message(
        self, case_id: str, record: dict[str, Any], dedupe_key: str, ttl: float | None
    ) -> bool:
        """Append ``record`` to the case's log unless ``dedupe_key`` was seen; False if a replay."""

    async def messages(self, case_id: str) -> list[dict[str, Any]]:
        """The case's log, oldest first."""

    async def purge_case(self, case_id: str) -> None:
        """Delete the case, its log and its dedupe keys."""

    async def ping(self) -> bool:
        """True when the backend answers (readiness)."""

    async def close(self) -> None:
        """Release connections."""
