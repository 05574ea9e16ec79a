"""The Store contract: every test runs against the memory store and the Redis store.

What the server relies on: an invite is redeemed once, a stale writer cannot overwrite a
newer case, a replayed chat box is stored once, an expired or purged case leaves nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from server.store.base import Store, Versioned
from tests.store.backends import Backend, poll_until

TINY_TTL = 0.05
LONG_TTL = 60.0
NO_MEMBERS: set[str] = set()
NO_MESSAGES: list[dict[str, Any]] = []
BLOB = bytes(range(256)) + b"\x00\xff\xfe not utf-8: \xc3\x28"


# -- records ---------------------------------------------------------------------------
async def test_put_then_get_returns_an_equal_record(store: Store) -> None:
    record = {"n": 1, "s": "hé ✓", "l": [1, {"x": None}], "b": True}
    await store.put("invite", "h1", record, ttl=LONG_TTL)
    assert await store.get("invite", "h1") == record
    assert await store.get("invite", "other") is None


async def test_a_stored_record_is_not_changed_by_the_callers_later_mutations(store: Store) -> None:
    record = {"roles": ["a"]}
    await store.put("invite", "h1", record, ttl=None)
    record["roles"].append("b")
    fetched = await store.get("invite", "h1")
    assert fetched == {"roles": ["a"]}
    assert fetched is not None
    fetched["roles"].append("c")
    assert await store.get("invite", "h1") == {"roles": ["a"]}


async def test_put_replaces_and_delete_removes(store: Store) -> None:
    await store.put("invite", "h1", {"v": 1}, ttl=None)
    await store.put("invite", "h1", {"v": 2}, ttl=None)
    assert await store.get("invite", "h1") == {"v": 2}
    await store.delete("invite", "h1")
    assert await store.get("invite", "h1") is None
    await store.delete("invite", "h1")  # deleting nothing is fine


async def test_kind_and_key_are_kept_apart_even_when_they_contain_colons(store: Store) -> None:
    await store.put("a:b", "c", {"who": "first"}, ttl=None)
    await store.put("a", "b:c", {"who": "second"}, ttl=None)
    assert await store.get("a:b", "c") == {"who": "first"}
    assert await store.get("a", "b:c") == {"who": "second"}


async def test_records_sets_and_cases_with_one_name_do_not_collide(store: Store) -> None:
    await store.put("case", "x", {"record": True}, ttl=None)
    await store.add_to_set("case", "x", "member", ttl=None)
    assert await store.create_case("x", BLOB, ttl=None)
    assert await store.get("case", "x") == {"record": True}
    assert await store.set_members("case", "x") == {"member"}
    assert await store.load_case("x") == Versioned(BLOB, 1)


async def test_a_record_lives_until_its_ttl(store: Store, backend: Backend) -> None:
    await store.put("invite", "h1", {"v": 1}, ttl=LONG_TTL)
    await backend.elapse_within(LONG_TTL)
    assert await store.get("invite", "h1") == {"v": 1}


async def test_a_record_is_gone_after_its_ttl(store: Store, backend: Backend) -> None:
    await store.put("invite", "h1", {"v": 1}, ttl=TINY_TTL)
    await backend.elapse_past(TINY_TTL)
    assert await poll_until(lambda: store.get("invite", "h1"), None) is None
    assert await store.take("invite", "h1") is None


async def test_put_without_ttl_clears_an_earlier_ttl(store: Store, backend: Backend) -> None:
    await store.put("invite", "h1", {"v": 1}, ttl=TINY_TTL)
    await store.put("invite", "h1", {"v": 2}, ttl=None)
    await backend.elapse_past(TINY_TTL)
    assert await store.get("invite", "h1") == {"v": 2}


async def test_touch_extends_a_live_record(store: Store, backend: Backend) -> None:
    await store.put("session", "h1", {"v": 1}, ttl=TINY_TTL)
    assert await store.touch("session", "h1", LONG_TTL) is True
    await backend.elapse_past(TINY_TTL)
    assert await store.get("session", "h1") == {"v": 1}


async def test_touch_never_brings_back_a_deleted_or_expired_record(
    store: Store, backend: Backend
) -> None:
    await store.put("session", "gone", {"v": 1}, ttl=LONG_TTL)
    await store.delete("session", "gone")
    assert await store.touch("session", "gone", LONG_TTL) is False
    assert await store.get("session", "gone") is None
    await store.put("session", "old", {"v": 1}, ttl=TINY_TTL)
    await backend.elapse_past(TINY_TTL)
    await poll_until(lambda: store.get("session", "old"), None)
    assert await store.touch("session", "old", LONG_TTL) is False
    assert await store.get("session", "old") is None


async def test_take_returns_the_record_once(store: Store) -> None:
    await store.put("invite", "h1", {"v": 1}, ttl=LONG_TTL)
    assert await store.take("invite", "h1") == {"v": 1}
    assert await store.take("invite", "h1") is None
    assert await store.get("invite", "h1") is None


async def test_concurrent_takes_redeem_an_invite_exactly_once(
    store: Store, backend: Backend
) -> None:
    await store.put("invite", "h1", {"v": 1}, ttl=LONG_TTL)
    nodes = await backend.nodes(20)
    results = await asyncio.gather(*(node.take("invite", "h1") for node in nodes))
    assert [r for r in results if r is not None] == [{"v": 1}]


# -- sets ------------------------------------------------------------------------------
async def test_set_add_members_and_remove(store: Store) -> None:
    assert await store.set_members("sessions", "p1") == set()
    await store.add_to_set("sessions", "p1", "s1", ttl=LONG_TTL)
    await store.add_to_set("sessions", "p1", "s2", ttl=LONG_TTL)
    await store.add_to_set("sessions", "p1", "s1", ttl=LONG_TTL)
    assert await store.set_members("sessions", "p1") == {"s1", "s2"}
    await store.remove_from_set("sessions", "p1", "s1")
    await store.remove_from_set("sessions", "p1", "absent")
    assert await store.set_members("sessions", "p1") == {"s2"}


async def test_a_set_expires_after_its_ttl(store: Store, backend: Backend) -> None:
    await store.add_to_set("sessions", "p1", "s1", ttl=TINY_TTL)
    await backend.elapse_past(TINY_TTL)
    assert await poll_until(lambda: store.set_members("sessions", "p1"), NO_MEMBERS) == set()


async def test_adding_to_a_set_refreshes_its_ttl(store: Store, backend: Backend) -> None:
    await store.add_to_set("sessions", "p1", "s1", ttl=TINY_TTL)
    await store.add_to_set("sessions", "p1", "s2", ttl=LONG_TTL)
    await backend.elapse_past(TINY_TTL)
    assert await store.set_members("sessions", "p1") == {"s1", "s2"}


async def test_adding_without_ttl_makes_a_set_permanent(store: Store, backend: Backend) -> None:
    await store.add_to_set("sessions", "p1", "s1", ttl=TINY_TTL)
    await store.add_to_set("sessions", "p1", "s2", ttl=None)
    await backend.elapse_past(TINY_TTL)
    assert await store.set_members("sessions", "p1") == {"s1", "s2"}


# -- cases -----------------------------------------------------------------------------
async def test_create_case_stores_version_1_and_bytes_round_trip(store: Store) -> None:
    assert await store.create_case("c1", BLOB, ttl=LONG_TTL)
    assert await store.load_case("c1") == Versioned(BLOB, 1)
    assert await store.load_case("missing") is None


async def test_a_case_id_cannot_be_created_twice(store: Store) -> None:
    assert await store.create_case("c1", b"first", ttl=LONG_TTL)
    assert not await store.create_case("c1", b"second", ttl=LONG_TTL)
    assert await store.load_case("c1") == Versioned(b"first", 1)


async def test_concurrent_creates_of_one_id_have_one_winner(store: Store, backend: Backend) -> None:
    nodes = await backend.nodes(10)
    blobs = [bytes([i]) * 8 for i in range(10)]
    results = await asyncio.gather(
        *(node.create_case("c1", b, ttl=LONG_TTL) for node, b in zip(nodes, blobs, strict=True))
    )
    assert results.count(True) == 1
    assert await store.load_case("c1") == Versioned(blobs[results.index(True)], 1)


async def test_save_case_with_the_current_version_bumps_it(store: Store) -> None:
    await store.create_case("c1", b"v1", ttl=LONG_TTL)
    assert await store.save_case("c1", BLOB, expected=1, ttl=LONG_TTL)
    assert await store.load_case("c1") == Versioned(BLOB, 2)
    assert await store.save_case("c1", b"v3", expected=2, ttl=LONG_TTL)
    assert await store.load_case("c1") == Versioned(b"v3", 3)


async def test_a_stale_save_is_refused_and_writes_nothing(store: Store) -> None:
    await store.create_case("c1", b"v1", ttl=LONG_TTL)
    await store.save_case("c1", b"v2", expected=1, ttl=LONG_TTL)
    assert not await store.save_case("c1", b"stale", expected=1, ttl=LONG_TTL)
    assert not await store.save_case("c1", b"future", expected=7, ttl=LONG_TTL)
    assert await store.load_case("c1") == Versioned(b"v2", 2)


async def test_saving_a_missing_case_creates_nothing(store: Store) -> None:
    assert not await store.save_case("ghost", b"x", expected=0, ttl=LONG_TTL)
    assert not await store.save_case("ghost", b"x", expected=1, ttl=LONG_TTL)
    assert await store.load_case("ghost") is None


async def test_of_concurrent_savers_of_one_version_exactly_one_wins(
    store: Store, backend: Backend
) -> None:
    await store.create_case("c1", b"v1", ttl=LONG_TTL)
    nodes = await backend.nodes(20)
    blobs = [f"writer {i}".encode() for i in range(20)]
    results = await asyncio.gather(
        *(
            node.save_case("c1", b, expected=1, ttl=LONG_TTL)
            for node, b in zip(nodes, blobs, strict=True)
        )
    )
    assert results.count(True) == 1
    assert await store.load_case("c1") == Versioned(blobs[results.index(True)], 2)


async def test_a_case_expires_and_its_id_starts_afresh(store: Store, backend: Backend) -> None:
    await store.create_case("c1", b"old", ttl=TINY_TTL)
    await store.append_message("c1", {"box": "old"}, "d1", ttl=LONG_TTL)
    await backend.elapse_past(TINY_TTL)
    assert await poll_until(lambda: store.load_case("c1"), None) is None
    assert await store.create_case("c1", b"new", ttl=LONG_TTL)
    assert await store.load_case("c1") == Versioned(b"new", 1)
    assert await store.messages("c1") == []


async def test_save_case_refreshes_the_case_ttl(store: Store, backend: Backend) -> None:
    await store.create_case("c1", b"v1", ttl=TINY_TTL)
    assert await store.save_case("c1", b"v2", expected=1, ttl=LONG_TTL)
    await backend.elapse_past(TINY_TTL)
    assert await store.load_case("c1") == Versioned(b"v2", 2)


# -- chat ------------------------------------------------------------------------------
async def test_messages_come_back_oldest_first(store: Store) -> None:
    for i in range(5):
        assert await store.append_message("c1", {"i": i, "ct": "≈"}, f"d{i}", ttl=LONG_TTL)
    assert await store.messages("c1") == [{"i": i, "ct": "≈"} for i in range(5)]
    assert await store.messages("other") == []


async def test_a_replayed_message_is_stored_once(store: Store) -> None:
    assert await store.append_message("c1", {"box": 1}, "d1", ttl=LONG_TTL)
    assert not await store.append_message("c1", {"box": "replay"}, "d1", ttl=LONG_TTL)
    assert await store.messages("c1") == [{"box": 1}]


async def test_dedupe_keys_are_per_case(store: Store) -> None:
    assert await store.append_message("c1", {"box": 1}, "d1", ttl=LONG_TTL)
    assert await store.append_message("c2", {"box": 2}, "d1", ttl=LONG_TTL)
    assert await store.messages("c2") == [{"box": 2}]


async def test_concurrent_replays_store_one_message(store: Store, backend: Backend) -> None:
    nodes = await backend.nodes(20)
    results = await asyncio.gather(
        *(node.append_message("c1", {"n": i}, "same", ttl=LONG_TTL) for i, node in enumerate(nodes))
    )
    assert results.count(True) == 1
    assert await store.messages("c1") == [{"n": results.index(True)}]


async def test_a_chat_log_expires_with_its_ttl(store: Store, backend: Backend) -> None:
    await store.append_message("c1", {"box": 1}, "d1", ttl=TINY_TTL)
    await backend.elapse_past(TINY_TTL)
    assert await poll_until(lambda: store.messages("c1"), NO_MESSAGES) == []


# -- purge and health ------------------------------------------------------------------
async def test_purge_case_leaves_nothing_of_that_case(store: Store, backend: Backend) -> None:
    await store.create_case("c1", BLOB, ttl=LONG_TTL)
    await store.append_message("c1", {"box": 1}, "d1", ttl=LONG_TTL)
    await store.create_case("c2", b"keep", ttl=LONG_TTL)
    await store.append_message("c2", {"box": 2}, "d1", ttl=LONG_TTL)

    await store.purge_case("c1")

    assert await store.load_case("c1") is None
    assert await store.messages("c1") == []
    # The dedupe keys went too: the same key is accepted again as a new message.
    assert await store.append_message("c1", {"box": "again"}, "d1", ttl=LONG_TTL)
    assert await store.load_case("c2") == Versioned(b"keep", 1)
    assert await store.messages("c2") == [{"box": 2}]
    if backend.raw is not None:
        await store.purge_case("c1")
        assert [k for k in await backend.keys() if "c1" in k] == []


async def test_ping_answers_true_when_the_backend_is_up(store: Store) -> None:
    assert await store.ping() is True
