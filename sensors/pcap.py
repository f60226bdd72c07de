"""Read a pcap/pcapng file into edusoc events: flows, DNS, HTTP, TLS and SSH records.

    reader = PcapReader("campus.pcap")
    for event in reader:          # flat ECS dicts that pass soc_core.events.validate_event
        ...
    reader.stats                  # PcapStats: what was read, skipped and why

Bad input is never fatal: a cut-off file yields every complete packet before the cut,
undecodable packets are counted in ``stats`` and skipped.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from sensors.netevents import DNS_DATASET, FLOW_DATASET, MODULE, dns_event, flow_event
from sensors.packets import CaptureEnd, CaptureFormatError, read_records
from sensors.traffic import TrafficAnalyzer, TrafficOptions, TrafficStats

PcapStats = TrafficStats

__all__ = ["DNS_DATASET", "FLOW_DATASET", "MODULE", "PcapReader", "PcapStats", "dns_event", "flow_event", "read_pcap"]


class PcapReader:
    """Iterate the events of one capture file; ``stats`` is complete once iteration ends."""

    def __init__(self, path: str | Path, options: TrafficOptions | None = None, **overrides: Any) -> None:
        self.path = Path(path)
        self.options = replace(options or TrafficOptions(), **overrides)
        self.stats = PcapStats(path=str(path))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        traffic = TrafficAnalyzer(self.options, self.stats)
        feed = traffic.feed_record
        end = CaptureEnd()
        with self.path.open("rb") as stream:
            try:
                for ts, linktype, data, snapped in read_records(stream, end):
                    events = feed(ts, linktype, data, snapped)
                    if events:  # most packets complete nothing: skip building an iterator
                        yield from events
            except CaptureFormatError as exc:
                self.stats.not_a_capture = str(exc)
        self.stats.truncated, self.stats.truncation_reason = end.truncated, end.reason
        yield from traffic.flush()


def read_pcap(path: str | Path, **options: Any) -> tuple[list[dict[str, Any]], PcapStats]:
    """All events of a capture file and the stats of reading it (options as for TrafficOptions)."""
    reader = PcapReader(path, **options)
    events = list(reader)
    return events, reader.stats
