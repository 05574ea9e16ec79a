"""Typed application state: everything a node needs, hung off the aiohttp app."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import socketio
from aiohttp import web

from server.auth import AccountBook, Auth
from server.cases import CaseRepo
from server.config import Settings
from server.crypto import Keyring
from server.publish import Publisher
from server.store.base import Store


@dataclass
class Services:
    """One node's services. Built in ``server.app.build_app``, closed in its cleanup context."""

    settings: Settings
    store: Store
    keyring: Keyring
    auth: Auth
    accounts: AccountBook
    repo: CaseRepo
    sio: socketio.AsyncServer
    publisher: Publisher
    clock: Callable[[], float] = field(default=time.time)


services_key = web.AppKey("services", Services)
