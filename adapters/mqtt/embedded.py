"""An embedded MQTT broker (amqtt) so devices can publish straight to the box when none runs there.

It speaks MQTT 3.1.1 only and is meant for small sites and demos; a production box runs mosquitto
with the recommended config in config/mosquitto.conf. It runs in a thread with its own event loop,
so the gateway's loop never waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

log = logging.getLogger("gridedge.broker")


def listening(host: str, port: int, timeout: float = 0.3) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def is_local(host: str) -> bool:
    """Whether a broker host names this box (only then may the gateway start one itself)."""
    return host in {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}


class EmbeddedBroker:
    """amqtt's broker on host:port, in a thread of its own; anonymous, in-memory sessions."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until it listens; raises if it cannot."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"embedded broker did not start on {self.host}:{self.port} within {timeout:.0f}s")
        if self._error is not None:
            raise RuntimeError(f"embedded broker failed to start: {self._error}") from self._error
        log.info("embedded MQTT broker (amqtt, MQTT 3.1.1) listening on %s:%d", self.host, self.port)

    def stop(self) -> None:
        """Shut the broker down and join its thread."""
        loop = self._loop
        if loop is None or self._broker is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), loop)
        try:
            future.result(timeout=10)
        except Exception:  # shutting down: log and go on
            log.warning("embedded broker did not shut down cleanly", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to the caller of start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _start(self) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._broker = Broker(config)
        await self._broker.start()
