"""Sensors: packet captures and web access logs to edusoc events, and shipping them to the collector."""
from sensors.community_id import community_id_v1
from sensors.pcap import PcapReader, PcapStats, read_pcap
from sensors.shipper import ShipError, ShipReport, Shipper, ship_events
from sensors.weblog import WeblogReader, WeblogStats, parse_line, read_access_log

__all__ = [
    "PcapReader",
    "PcapStats",
    "ShipError",
    "ShipReport",
    "Shipper",
    "WeblogReader",
    "WeblogStats",
    "community_id_v1",
    "parse_line",
    "read_access_log",
    "read_pcap",
    "ship_events",
]
