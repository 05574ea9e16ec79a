"""The live node and the browser plumbing the browser tests share.

The node runs in-process on its own event loop in a background thread, listening on a
socket bound to port 0, so a test can also look inside its store (to prove that chat
is stored only as ciphertext). Quick exit goes to the node's own /healthz, so no test
needs the internet.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from server import runtime
from server.app import build_app
from server.auth import AccountBook
from server.config import Settings
from server.state import Services, services_key
from server.store.memory import MemoryStore

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}

T = TypeVar("T")

# Watches camera/microphone tracks and peer connections from inside the page (so the
# tests can read decoding statistics per receive slot), and
# reports them to the test through an exposed binding: after a quick exit the page is
# gone, so the test must learn what happened while it was still there.
INSTRUMENT = """
(() => {
  const report = (kind, id) => { try { window.__sulhReport(kind, id); } catch (e) {} };
  window.__sulhTracks = [];
  const md = navigator.mediaDevices;
  if (md && md.getUserMedia) {
    const gum = md.getUserMedia.bind(md);
    md.getUserMedia = async (c) => {
      const stream = await gum(c);
      for (const t of stream.getTracks()) { window.__sulhTracks.push(t); report("track", t.id); }
      return stream;
    };
  }
  if (window.MediaStreamTrack) {
    const stop = MediaStreamTrack.prototype.stop;
    MediaStreamTrack.prototype.stop = function () {
      report("stopped", this.id);
      return stop.call(this);
    };
  }
  window.__sulhPCs = [];
  if (window.RTCPeerConnection) {
    const Native = window.RTCPeerConnection;
    const Counted = function (...args) {
      const pc = new Native(...args);
      window.__sulhPCs.push(pc);
      return pc;
    };
    Counted.prototype = Native.prototype;
    Counted.generateCertificate = Native.generateCertificate.bind(Native);
    window.RTCPeerConnection = Counted;
    const close = RTCPeerConnection.prototype.close;
    RTCPeerConnection.prototype.close = function () {
      report("pc_closed", "");
      return close.call(this);
    };
  }
})();
"""


class LiveNode:
    """A Sulh node on its own loop (the server's: server/runtime.py) in a background thread."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = runtime.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.exit_url = f"{self.base_url}/healthz"
        self.settings = Settings(
            host="127.0.0.1",
            port=port,
            data_dir=data_dir,
            allowed_origins=(self.base_url,),
            exit_url=self.exit_url,
        )
        self.runner: web.AppRunner | None = None
        self.services: Services | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``coro`` on the node's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        store = MemoryStore()
        app = build_app(self.settings, store=store, master_key=b"b" * 32)
        svc = app[services_key]
        svc.accounts = AccountBook(store, svc.keyring, None)
        self.services = svc
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.SockSite(self.runner, self.sock).start()

    def stop(self) -> None:
        if self.runner is not None:
            self.run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    @property
    def svc(self) -> Services:
        assert self.services is not None
        return self.services

    def add_mediator(self, email: str) -> None:
        self.run(self.svc.accounts.add(email, PASSWORD))

    def messages(self, case_id: str) -> list[dict[str, Any]]:
        """The case's stored chat log, as the server holds it."""
        return self.run(self.svc.store.messages(case_id))

    def participants(self, case_id: str) -> dict[str, Any]:
        """role -> Participant of the stored case."""
        case = self.run(self.svc.repo.get(case_id))
        assert case is not None
        return {p.role.value: p for p in case.participants}


@dataclass
class Person:
    """One person's browser context and page, and what the page reported."""

    context: Any
    page: Any
    reports: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def reported(self, kind: str) -> list[str]:
        return [ident for k, ident in self.reports if k == kind]
