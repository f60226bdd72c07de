"""``edusoc sensor run``: the sensor process. Sources -> batches -> disk spool -> collector, plus heartbeat.

Sources run on their own threads (capture files, live interfaces, the syslog receiver) and put
events on a bounded queue; tailed log files are polled from the main loop. The main loop
batches events (``batch_events`` or ``batch_seconds``, whichever first), writes each batch to the
spool, commits tailed-file offsets once their lines are spooled, sends what the spool holds and
the heartbeat. Nothing a source sees is ever fatal: it is counted and shows in the heartbeat.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import httpx

from soc_core.clock import Clock
from sensors.config import SensorConfig
from sensors.logfiles import FileTailer, LineParser, LineRejected, LogStats, OffsetStore
from sensors.pcap import PcapReader
from sensors.shipper import encode_batch
from sensors.spool import DiskSpool
from sensors.syslog_server import SyslogServer
from sensors.traffic import TrafficOptions, TrafficStats
from sensors.uplink import Uplink

QUEUE_EVENTS = 50_000


def sensor_version() -> str:
    try:
        return version("edusoc")
    except PackageNotFoundError:
        return "0"


@dataclass
class _Tailed:
    tailer: FileTailer
    parser: LineParser


class SensorRunner:
    """All configured sources feeding one uplink; ``step()`` is one turn of the main loop."""

    def __init__(self, config: SensorConfig, clock: Clock, *, client: httpx.Client | None = None,
                 live_capture: Callable[..., Any] | None = None) -> None:
        self.config, self.clock = config, clock
        collector = config.collector
        self.spool = DiskSpool(config.spool.dir, int(config.spool.max_mb * 1024 * 1024))
        self.uplink = Uplink(collector.url, collector.read_token(), self.spool, clock,
                             timeout=collector.timeout_seconds, backoff_initial=collector.backoff_initial_seconds,
                             backoff_max=collector.backoff_max_seconds, heartbeat_seconds=collector.heartbeat_seconds,
                             version=sensor_version(), client=client)
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue(QUEUE_EVENTS)
        self.queue_drops = 0
        self.errors = 0
        self.events = 0
        self.batch: list[dict[str, Any]] = []
        self.batch_started: datetime | None = None
        packets = config.packets
        self.traffic_options = TrafficOptions(max_flows=packets.max_flows, idle_timeout=packets.idle_timeout_seconds,
                                              carve_bytes=packets.carve_kb * 1024,
                                              carve_budget_bytes=packets.carve_budget_mb * 1024 * 1024)
        self.packet_stats: list[TrafficStats] = []
        self.capture_drops: Callable[[], int] = lambda: 0
        offsets = OffsetStore(Path(config.state_dir) / "offsets.json")
        max_line = config.logs.max_line_kb * 1024
        self.tailed = [_Tailed(FileTailer(source.path, offsets, max_line=max_line), LineParser(source.format, clock))
                       for source in config.logs.files]
        self.syslog: SyslogServer | None = None
        if config.logs.syslog is not None:
            syslog = config.logs.syslog
            self.syslog = SyslogServer(self._offer, clock, host=syslog.host, udp_port=syslog.udp_port,
                                       tcp_port=syslog.tcp_port, max_message=syslog.max_message_kb * 1024,
                                       log_format=syslog.format)
        self._live_capture = live_capture
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    # -- sources
    def start(self) -> None:
        """Start the threaded sources (capture files, interfaces, syslog receiver)."""
        if self.syslog is not None:
            self.syslog.start()
        for path in self.config.packets.files:
            self._thread(self._read_capture, path)
        if self.config.packets.interfaces:
            from sensors.live import LiveCapture

            for interface in self.config.packets.interfaces:
                capture = (self._live_capture or LiveCapture)(interface.name, interface.bpf, self.traffic_options,
                                                              snaplen=interface.snaplen)
                self.packet_stats.append(capture.stats)
                previous = self.capture_drops

                def capture_drops(capture: Any = capture, previous: Callable[[], int] = previous) -> int:
                    return previous() + capture.drops()

                self.capture_drops = capture_drops
                self._thread(self._follow_capture, capture)

    def stop(self) -> None:
        self._stop.set()
        if self.syslog is not None:
            self.syslog.stop()
        for thread in self._threads:
            thread.join(10)
        for tailed in self.tailed:
            tailed.tailer.close()

    def _thread(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name=f"source-{len(self._threads)}")
        self._threads.append(thread)
        thread.start()

    def _offer(self, event: dict[str, Any]) -> None:
        """From a source that must not block (the syslog receiver): a full queue drops and counts."""
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self.queue_drops += 1

    def _put(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            while not self._stop.is_set():
                try:
                    self.queue.put(event, timeout=0.5)  # capture files wait for the uplink: no loss
                    break
                except queue.Full:
                    continue

    def _read_capture(self, path: str) -> None:
        reader = PcapReader(path, self.traffic_options)
        self.packet_stats.append(reader.stats)
        try:
            self._put(reader)
        except OSError:
            self.errors += 1

    def _follow_capture(self, capture: Any) -> None:
        try:
            self._put(capture.events(self._stop))
        except OSError:
            self.errors += 1

    # -- main loop
    def step(self) -> None:
        """Poll files, batch queued events, spool full or old batches, send, heartbeat."""
        for tailed in self.tailed:
            for line, where in tailed.tailer.poll():
                try:
                    self._add(tailed.parser.parse(line, where=where))
                except LineRejected as exc:
                    tailed.tailer.stats.reject(str(exc), f"byte {where[1]}")
        while len(self.batch) < self.config.collector.batch_events * 4:
            try:
                self._add(self.queue.get_nowait())
            except queue.Empty:
                break
        now = self.clock.now()
        age = timedelta(seconds=self.config.collector.batch_seconds)
        if self.batch and (len(self.batch) >= self.config.collector.batch_events
                           or (self.batch_started is not None and now - self.batch_started >= age)):
            self.flush()
        elif not self.batch:
            self._commit_offsets()
        self.uplink.send_pending()
        self.uplink.heartbeat(self.counters())

    def flush(self) -> None:
        """Spool everything batched so far, then remember how far the tailed files were read."""
        size = self.config.collector.batch_events
        for start in range(0, len(self.batch), size):
            self.spool.put(encode_batch(self.batch[start:start + size]))
        self.batch, self.batch_started = [], None
        self._commit_offsets()

    def run(self, stop: threading.Event, tick: float | None = None) -> None:
        """Run until ``stop`` is set; then spool what is batched and try one last send."""
        tick = tick if tick is not None else self.config.logs.poll_seconds
        self.start()
        try:
            while not stop.is_set():
                self.step()
                stop.wait(tick)
        finally:
            self.stop()
            while not self.queue.empty():
                self._add(self.queue.get_nowait())
            self.flush()
            self.uplink.send_pending()
            self.uplink.close()

    def _add(self, event: dict[str, Any]) -> None:
        if not self.batch:
            self.batch_started = self.clock.now()
        self.batch.append(event)
        self.events += 1

    def _commit_offsets(self) -> None:
        for tailed in self.tailed:
            tailed.tailer.commit()

    def counters(self) -> dict[str, int]:
        """The heartbeat's counters."""
        packets = sum(s.packets for s in self.packet_stats)
        decode_errors = sum(s.decode_errors for s in self.packet_stats)
        logs = [t.tailer.stats for t in self.tailed] + ([self.syslog.stats] if self.syslog is not None else [])
        log_errors = sum(s.rejected + s.oversize for s in logs)
        uplink = self.uplink.counters
        return {
            "packets": packets,
            "drops": self.capture_drops() + self.queue_drops + self.spool.counters.dropped_batches,
            "events": self.events,
            "spool_bytes": self.spool.bytes,
            "spool_batches": self.spool.batches,
            "errors": self.errors + decode_errors + log_errors + uplink.send_failures + uplink.batches_refused,
            "decode_errors": decode_errors,
            "log_lines": sum(s.lines for s in logs),
            "log_rejected": sum(s.rejected for s in logs),
            "log_oversize": sum(s.oversize for s in logs),
            "queue_drops": self.queue_drops,
            "spool_dropped_batches": self.spool.counters.dropped_batches,
            "events_accepted": uplink.events_accepted,
            "events_rejected": uplink.events_rejected,
            "send_failures": uplink.send_failures,
            # What the syslog receiver could not use (garbage, frames over the limit, bad octet counts).
            "syslog_rejected": self.syslog.stats.rejected if self.syslog is not None else 0,
            "syslog_bad_frames": self.syslog.counters.tcp_bad_frames if self.syslog is not None else 0,
        }


def stats_lines(runner: SensorRunner) -> list[str]:
    """A short human summary for the console."""
    counters = runner.counters()
    return [", ".join(f"{k} {v}" for k, v in counters.items()), runner.uplink.last_error or "no uplink errors"]


__all__ = ["LogStats", "SensorRunner", "sensor_version", "stats_lines"]
