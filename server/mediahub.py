"""This node's media relays, one per case, kept in step with ``rooms.media_routes``.

``sync(case)`` is called with every new case state this node produces (before anyone
is told of it), so a route closes before the move is announced. With Redis, every node
also announces the ids of cases it changed on ``<prefix>media``; the node holding that
case's relay re-reads the case and applies it at once. Pub/sub can lose messages, so a
reconcile loop also re-reads every local case each ``RECONCILE_EVERY`` seconds.
A case's relay lives on one node: see docs/operations.md on case affinity.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from rooms import Case, CaseStatus, ParticipantId, media_routes
from server.cases import CaseRepo
from server.config import Settings
from server.logs import log
from server.media import CaseRelay, MediaConfig, client_ice_servers

RECONCILE_EVERY = 1.0
SHUTDOWN_WAIT = 2.0


class MediaHub:
    """Owns the CaseRelays on this node."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._config = MediaConfig(public_ip=settings.public_ip, ports=settings.rtc_ports)
        self._clock = clock
        self._relays: dict[str, CaseRelay] = {}
        self._lock = asyncio.Lock()
        self._redis: aioredis.Redis | None = (
            aioredis.Redis.from_url(settings.redis_url, socket_timeout=2.0)
            if settings.redis_url
            else None
        )
        self._channel = settings.redis_prefix + "media"
        self._pubsub: PubSub | None = None

    def ice_servers(self, pid: str) -> list[dict[str, object]]:
        """What a browser should use to reach the relay (TURN when configured)."""
        return client_ice_servers(
            self._settings.turn_urls, self._settings.turn_secret, now=self._clock()
        )

    async def relay_for(self, case: Case) -> CaseRelay:
        """The case's relay on this node, created on first use."""
        async with self._lock:
            relay = self._relays.get(case.id)
            if relay is None:
                relay = CaseRelay(self._config, participants=[p.id for p in case.participants])
                self._relays[case.id] = relay
                log("media_relay_started", case=case.id)
            return relay

    async def sync(self, case: Case) -> None:
        """Make the relay match ``case``: routes, and no connection for anyone offline."""
        relay = self._relays.get(case.id)
        if relay is None:
            return
        if case.status is CaseStatus.CLOSED:
            await self.drop(case.id)
            return
        relay.apply_routes(media_routes(case))
        for p in case.participants:
            if not p.online and p.id in relay.peers:
                await relay.remove(ParticipantId(p.id))

    async def announce(self, case: Case) -> None:
        """Tell the other nodes that ``case`` changed (only its opaque id travels)."""
        if self._redis is None:
            return
        try:
            await self._redis.publish(self._channel, case.id)
        except (aioredis.RedisError, OSError):
            log("media_announce_failed", level=30, case=case.id)  # the reconcile loop covers it

    async def _listen(self, repo: CaseRepo) -> None:
        """Apply other nodes' changes to the relays on this node as they are announced."""
        assert self._redis is not None
        while True:
            try:
                pubsub = self._pubsub = self._redis.pubsub()
                await pubsub.subscribe(self._channel)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    case_id = message["data"].decode()
                    if case_id in self._relays:
                        case = await repo.get(case_id)
                        if case is None:
                            await self.drop(case_id)
                        else:
                            await self.sync(case)
            except asyncio.CancelledError:
                raise
            except Exception:
                log("media_listen_failed", level=30)
                await asyncio.sleep(RECONCILE_EVERY)

    async def drop(self, case_id: str) -> None:
        """Close and forget a case's relay."""
        relay = self._relays.pop(case_id, None)
        if relay is not None:
            await relay.close()
            log("media_relay_closed", case=case_id)

    async def reconcile(self, repo: CaseRepo) -> None:
        """Re-apply stored state to every local relay (changes made on other nodes)."""
        for case_id in list(self._relays):
            try:
                case = await repo.get(case_id)
            except ConnectionError:
                continue  # storage down: keep the last routes applied here
            if case is None:
                await self.drop(case_id)
            else:
                await self.sync(case)

    async def close(self) -> None:
        """Close every relay (node shutdown)."""
        for case_id in list(self._relays):
            await self.drop(case_id)

    def lifecycle(self, repo: CaseRepo) -> Callable[[object], AsyncIterator[None]]:
        """An aiohttp cleanup context running the reconcile loop and closing relays."""

        async def run(_: object) -> AsyncIterator[None]:
            async def loop() -> None:
                while True:
                    await asyncio.sleep(RECONCILE_EVERY)
                    try:
                        await self.reconcile(repo)
                    except Exception:  # never let the safety net die
                        log("media_reconcile_failed", level=40)

            tasks = [asyncio.get_running_loop().create_task(loop())]
            if self._redis is not None:
                tasks.append(asyncio.get_running_loop().create_task(self._listen(repo)))
            yield
            if self._pubsub is not None:
                # Close the subscription first: redis-py can swallow a cancellation
                # while it waits in listen(), which would hang shutdown.
                with contextlib.suppress(Exception):
                    await self._pubsub.aclose()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(task, SHUTDOWN_WAIT)
            await self.close()
            if self._redis is not None:
                await self._redis.aclose()

        return run
