"""Sessions, invites and mediator accounts. Tokens are stored only as keyed hashes.

- A session is either a mediator's (``kind="mediator"``, bound to an account) or a
  party's (``kind="party"``, bound to one seat of one case). Sessions have an idle
  expiry (refreshed on use) and an absolute one, and are revoked on logout, on
  safety exit, on invite re-issue and on case close.
- An invite is single use, expires, and is bound to one role of one case. Re-issuing
  deletes the old invite's hash, so the old link stops working at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.crypto import Keyring, hash_password, new_token, random_id, verify_password
from server.store.base import Store

SESSION, INVITE, SEAT_INVITE, SEAT_SESSIONS, CASE_SESSIONS = (
    "session",
    "invite",
    "seat_invite",
    "seat_sessions",
    "case_sessions",
)
MEDIATOR, MEDIATOR_CASES = "mediator", "mediator_cases"


@dataclass(frozen=True)
class Session:
    """Who a bearer token speaks for. ``case_id``/``pid`` only for parties."""

    token_hash: str
    kind: str
    account: str | None = None
    case_id: str | None = None
    pid: str | None = None
    role: str | None = None
    expires: float = 0.0


@dataclass(frozen=True)
class Invite:
    """What a redeemed invite grants: one role's seat in one case."""

    case_id: str
    role: str
    pid: str


class Auth:
    """Issues and checks sessions and invites over a Store."""

    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        *,
        idle: float,
        absolute: float,
        invite_ttl: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._idle = idle
        self._absolute = absolute
        self._invite_ttl = invite_ttl
        self._clock = clock

    # -- sessions --------------------------------------------------------------
    async def open_session(self, kind: str, **fields: str) -> str:
        """A fresh token for a new session (never reuses one: new token on every login)."""
        token = new_token()
        h = self._keyring.token_hash(token)
        now = self._clock()
        record = {"kind": kind, "created": now, "expires": now + self._absolute, **fields}
        await self._store.put(SESSION, h, record, min(self._idle, self._absolute))
        if kind == "party":
            seat = f"{fields['case_id']}:{fields['pid']}"
            await self._store.add_to_set(SEAT_SESSIONS, seat, h, self._absolute)
            await self._store.add_to_set(CASE_SESSIONS, fields["case_id"], h, self._absolute)
        return token

    async def session(self, token: Any) -> Session | None:
        """The live session for ``token``, refreshing its idle expiry; None if unknown."""
        if not isinstance(token, str) or not 16 <= len(token) <= 128:
            return None
        h = self._keyring.token_hash(token)
        record = await self._store.get(SESSION, h)
        if record is None:
            return None
        expires = float(record["expires"])
        if not await self.refresh(h, expires):
            return None
        return Session(
            token_hash=h,
            kind=record["kind"],
            account=record.get("account"),
            case_id=record.get("case_id"),
            pid=record.get("pid"),
            role=record.get("role"),
            expires=expires,
        )

    async def refresh(self, token_hash: str, expires: float) -> bool:
        """Whether a session is still valid, extending its idle expiry if so. Activity
        keeps a session alive up to its absolute expiry; a revoked one never comes back."""
        remaining = expires - self._clock()
        if remaining <= 0:
            await self._store.delete(SESSION, token_hash)
            return False
        return await self._store.touch(SESSION, token_hash, min(self._idle, remaining))

    async def revoke(self, token_hash: str) -> None:
        """End one session (logout)."""
        await self._store.delete(SESSION, token_hash)

    async def revoke_seat(self, case_id: str, pid: str) -> None:
        """End every session of one seat (safety exit, invite re-issue)."""
        seat = f"{case_id}:{pid}"
        for h in await self._store.set_members(SEAT_SESSIONS, seat):
            await self._store.delete(SESSION, h)
        await self._store.delete(SEAT_SESSIONS, seat)

    async def revoke_case(self, case_id: str, pids: list[str]) -> None:
        """End every party session of a case and delete its invites (case close)."""
        for h in await self._store.set_members(CASE_SESSIONS, case_id):
            await self._store.delete(SESSION, h)
        await self._store.delete(CASE_SESSIONS, case_id)
        for pid in pids:
            await self._store.delete(SEAT_SESSIONS, f"{case_id}:{pid}")
        for role in ("victim", "respondent"):
            await self.revoke_invite(case_id, role)

    # -- invites -----------------------------------------------------------------
    async def issue_invite(self, case_id: str, role: str, pid: str) -> str:
        """A new single-use invite token for a seat; any earlier invite for it stops working."""
        await self.revoke_invite(case_id, role)
        token = new_token()
        h = self._keyring.token_hash(token)
        record = {"case_id": case_id, "role": role, "pid": pid}
        await self._store.put(INVITE, h, record, self._invite_ttl)
        await self._store.put(SEAT_INVITE, f"{case_id}:{role}", {"hash": h}, self._invite_ttl)
        return token

    async def revoke_invite(self, case_id: str, role: str) -> None:
        """Make the seat's current invite link stop working (if it has one)."""
        current = await self._store.take(SEAT_INVITE, f"{case_id}:{role}")
        if current is not None:
            await self._store.delete(INVITE, str(current["hash"]))

    async def redeem(self, token: Any) -> Invite | None:
        """Consume an invite: of any number of concurrent redeemers, one gets it."""
        if not isinstance(token, str) or not 16 <= len(token) <= 128:
            return None
        h = self._keyring.token_hash(token)
        record = await self._store.take(INVITE, h)
        if record is None:
            return None
        await self._store.delete(SEAT_INVITE, f"{record['case_id']}:{record['role']}")
        return Invite(case_id=record["case_id"], role=record["role"], pid=record["pid"])


# -- mediator accounts -----------------------------------------------------------


class AccountBook:
    """Mediator accounts: keyed hash of the email -> Argon2id hash and account id.

    With Redis they live in the store (shared by all nodes); in the embedded mode in
    a JSON file in the data directory, so ``add-mediator`` survives a restart. The
    email itself is never stored in clear.
    """

    def __init__(self, store: Store, keyring: Keyring, file: Path | None) -> None:
        self._store = store
        self._keyring = keyring
        self._file = file

    def _key(self, email: str) -> str:
        return self._keyring.token_hash("email:" + email.strip().lower())

    def _read_file(self) -> dict[str, dict[str, str]]:
        if self._file is None or not self._file.exists():
            return {}
        data: dict[str, dict[str, str]] = json.loads(self._file.read_text())
        return data

    async def add(self, email: str, password: str) -> str:
        """Create or reset an account; returns its id."""
        key = self._key(email)
        existing = await self._find(key)
        account = existing["account"] if existing else random_id()
        record = {"account": account, "pwhash": hash_password(password)}
        if self._file is not None:
            data = self._read_file()
            data[key] = record
            self._file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._file.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            tmp.chmod(0o600)
            tmp.replace(self._file)
        else:
            await self._store.put(MEDIATOR, key, record, None)
        return account

    async def _find(self, key: str) -> dict[str, str] | None:
        if self._file is not None:
            return self._read_file().get(key)
        found = await self._store.get(MEDIATOR, key)
        return {k: str(v) for k, v in found.items()} if found else None

    async def check(self, email: Any, password: Any) -> str | None:
        """The account id if the credentials match, else None (same work either way)."""
        if not isinstance(email, str) or not isinstance(password, str):
            return None
        found = await self._find(self._key(email))
        if found is None:
            verify_password(_DUMMY_HASH, password)  # equalise timing for unknown emails
            return None
        return found["account"] if verify_password(found["pwhash"], password) else None


_DUMMY_HASH = hash_password("sulh-timing-equaliser")
