"""Media fixtures: real aiortc clients on loopback, each on its own 127.0.0.x address."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from server.media import CaseRelay, MediaConfig
from tests.support.media import SERVER_IP, Client, loopback_ice

PORTS = (47100, 47199)
NAMES = {"m": (1, "127.0.0.2"), "v": (2, "127.0.0.3"), "r": (3, "127.0.0.4")}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: long-running (60 s) memory-flatness session")


@pytest.fixture
def loopback() -> Iterator[None]:
    with loopback_ice():
        yield


@pytest.fixture
async def relay(loopback: None) -> AsyncIterator[CaseRelay]:
    relay = CaseRelay(MediaConfig(public_ip=SERVER_IP, ports=PORTS), participants=("m", "v", "r"))
    yield relay
    await relay.close()


@pytest.fixture
async def clients(relay: CaseRelay) -> AsyncIterator[dict[str, Client]]:
    made = {name: Client(name, code, addr) for name, (code, addr) in NAMES.items()}
    for client in made.values():
        await client.connect(relay)
    yield made
    for client in made.values():
        await client.close()
