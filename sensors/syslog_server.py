"""Syslog receiver: UDP datagrams and TCP streams (octet-counting or newline framing) to events.

    server = SyslogServer(on_event, clock, host="0.0.0.0", udp_port=514, tcp_port=514)
    server.start()     # serves on its own thread; server.udp_port / tcp_port are the bound ports
    ...
    server.stop()

Anything on the port that is not a syslog message (binary garbage, empty datagrams, frames
over ``max_message``) is counted in ``stats`` and dropped; the receiver never stops for it.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from soc_core.clock import Clock
from sensors.logfiles import LineParser, LineRejected, LogStats
from sensors.syslog import StreamFramer

EventSink = Callable[[dict[str, Any]], None]


@dataclass
class SyslogCounters:
    datagrams: int = 0
    tcp_connections: int = 0
    tcp_bad_frames: int = 0


class SyslogServer:
    """Receives syslog on UDP and TCP and hands each message's event to ``on_event`` (on the server thread)."""

    def __init__(self, on_event: EventSink, clock: Clock, *, host: str = "127.0.0.1", udp_port: int | None = 514,
                 tcp_port: int | None = 514, max_message: int = 64 * 1024, log_format: str = "syslog") -> None:
        self.on_event = on_event
        self.parser = LineParser(log_format, clock)
        self.host, self.udp_port, self.tcp_port = host, udp_port, tcp_port
        self.max_message = max_message
        self.stats = LogStats(source=f"syslog://{host}")
        self.counters = SyslogCounters()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._sequence = 0

    def start(self) -> None:
        """Bind and serve on a background thread; raises OSError if a port cannot be bound."""
        self._thread = threading.Thread(target=self._run, name="syslog-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)

    def handle(self, raw: bytes, sender: str | None) -> None:
        """One message off the wire (also the entry point for tests and other transports)."""
        self.stats.lines += 1
        if len(raw) > self.max_message:
            self.stats.oversize += 1
            return
        self._sequence += 1
        try:
            # Identical messages from one device are distinct events: where = sender, receipt time, sequence.
            where = (sender, self.parser.clock.now().isoformat(), self._sequence)
            event = self.parser.parse(raw, where=where, sender=sender)
        except LineRejected as exc:
            self.stats.reject(str(exc))
            return
        self.stats.events += 1
        self.on_event(event)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to start() or kept for stop()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        transport = server = None
        if self.udp_port is not None:
            transport, _ = await self._loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=(self.host, self.udp_port))
            self.udp_port = transport.get_extra_info("sockname")[1]
        if self.tcp_port is not None:
            server = await asyncio.start_server(self._stream, self.host, self.tcp_port, limit=self.max_message * 2)
            self.tcp_port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopping.wait()
        if transport is not None:
            transport.close()
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters.tcp_connections += 1
        peer = writer.get_extra_info("peername")
        sender = peer[0] if peer else None
        framer = StreamFramer(self.max_message)
        try:
            while data := await reader.read(65536):
                for message in framer.feed(data):
                    self.handle(message, sender)
            for message in framer.flush():
                self.handle(message, sender)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.stats.oversize += framer.counters.oversize
            self.counters.tcp_bad_frames += framer.counters.bad_frames
            writer.close()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: SyslogServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.server.counters.datagrams += 1
        self.server.handle(data, addr[0] if addr else None)
