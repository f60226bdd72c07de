"""Bundled sample inputs for demos and tests (see make_sample_pcap.py for what they contain)."""
from pathlib import Path

SAMPLE_PCAP = Path(__file__).with_name("campus_sample.pcap")
SAMPLE_ACCESS_LOG = Path(__file__).with_name("access.log")

__all__ = ["SAMPLE_ACCESS_LOG", "SAMPLE_PCAP"]
