"""Deep dissection (`sensor pcap --deep`): the real tshark decodes what the fast path does not cover."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from sensors.deep import DeepDissector, DeepError
from soc_core.events import validate_event
from tests.conftest import corpus
from tests.sensor_traffic import T0, Conversation, write


def dhcp_request(hostname: str):
    packet = (Ether(src="02:00:00:00:00:09", dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
              / UDP(sport=68, dport=67) / BOOTP(chaddr=bytes.fromhex("020000000009"), xid=0x1234)
              / DHCP(options=[("message-type", "request"), ("requested_addr", "10.20.3.77"),
                              ("hostname", hostname.encode()), "end"]))
    packet.time = T0
    return packet


def ftp_login(user: str, password: str):
    talk = Conversation(sport=41000, dport=21).handshake()
    talk.send(False, b"220 school ftp ready\r\n").send(True, f"USER {user}\r\n".encode())
    talk.send(False, b"331 password please\r\n").send(True, f"PASS {password}\r\n".encode())
    talk.send(False, b"230 logged in\r\n").send(True, b"RETR grades.xlsx\r\n").send(False, b"150 here it comes\r\n")
    return talk.close().packets


def test_ftp_and_dhcp_become_deep_records_with_ecs_fields_and_no_password(tmp_path):
    path = write(tmp_path, [dhcp_request("teacher-pc-12")] + ftp_login("zhangsan", "S3cret!pass"))
    events = list(DeepDissector().events(path))
    by_protocol = {e["network.protocol"]: e for e in events}
    assert set(by_protocol) == {"dhcp", "ftp"}
    dhcp, ftp = by_protocol["dhcp"], by_protocol["ftp"]
    assert dhcp["host.hostname"] == "teacher-pc-12" and "dhcp.option.requested_ip_address=10.20.3.77" in dhcp["deep.fields"]
    assert (dhcp["source.port"], dhcp["destination.port"]) == (68, 67)
    assert ftp["user.name"] == "zhangsan" and "ftp.request.command=RETR" in ftp["deep.fields"]
    assert ftp["destination.port"] == 21 and ftp["source.port"] == 41000  # the server spoke first, still the destination
    assert not any("S3cret" in value for e in events for value in e["deep.fields"] + [e["message"]])
    for event in events:
        validate_event(event)
    assert [e["event.id"] for e in DeepDissector().events(path)] == [e["event.id"] for e in events]  # stable ids


def test_cli_pcap_deep_adds_deep_records_to_the_fast_path_events(tmp_path):
    path = write(tmp_path, ftp_login("lisi", "pw"))
    edusoc = str(Path(sys.executable).with_name("edusoc"))
    result = subprocess.run([edusoc, "sensor", "pcap", str(path), "--deep", "--stdout"], capture_output=True,
                            text=True, check=True)
    datasets = [json.loads(line)["event.dataset"] for line in result.stdout.splitlines()]
    assert datasets.count("edusoc.flow") == 1 and datasets.count("edusoc.deep") == 1
    plain = subprocess.run([edusoc, "sensor", "pcap", str(path), "--stdout"], capture_output=True, text=True, check=True)
    assert "edusoc.deep" not in plain.stdout


def test_dhcp_host_name_from_zeek_s_dhcp_trace():
    events = list(DeepDissector().events(corpus("zeek_btest", "traces", "dhcp", "dhcp.pcap")))
    assert {e.get("host.hostname") for e in events if e["network.protocol"] == "dhcp"} >= {"btest.is.cool"}


def test_a_file_tshark_cannot_read_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture file at all" * 10)
    with pytest.raises(DeepError, match="tshark could not read"):
        list(DeepDissector().events(junk))
