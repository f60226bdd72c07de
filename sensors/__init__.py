"""Sensors: packet captures and logs to edusoc events, and shipping them to the collector."""
from sensors.community_id import community_id_v1
from sensors.conformance import run_conformance
from sensors.pcap import PcapReader, PcapStats, read_pcap
from sensors.shipper import ShipError, ShipReport, Shipper, ship_events
from sensors.traffic import TrafficAnalyzer, TrafficOptions, TrafficStats
from sensors.weblog import WeblogReader, WeblogStats, parse_line, read_access_log

__all__ = [
    "PcapReader",
    "PcapStats",
    "ShipError",
    "ShipReport",
    "Shipper",
    "TrafficAnalyzer",
    "TrafficOptions",
    "TrafficStats",
    "WeblogReader",
    "WeblogStats",
    "community_id_v1",
    "parse_line",
    "read_access_log",
    "read_pcap",
    "run_conformance",
    "ship_events",
]
