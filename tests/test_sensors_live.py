"""Live capture with a BPF filter: on loopback (every packet stays on 127.0.0.1), and through the CLI on
one end of a veth pair between two network namespaces made for the test (nothing leaves the pair)."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from sensors.live import CaptureError, LiveCapture

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="live capture needs root (AF_PACKET socket); run as root")


class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = b"hello from the school web server"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_live_capture_on_loopback_decodes_http_through_the_fast_path():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    capture = LiveCapture("lo", f"tcp port {port}")
    capture.open()
    stop = threading.Event()
    events: list[dict] = []
    reader = threading.Thread(target=lambda: events.extend(capture.events(stop)), daemon=True)
    reader.start()
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/hello?from=edusoc", headers={"User-Agent": "edusoc-live-test"})
        assert response.status_code == 200
        deadline = time.monotonic() + 15
        seen = -1
        # Wait until the kernel has handed over the whole exchange (teardown included): the count
        # stops growing. This waits for another party's I/O, not for the clock.
        while time.monotonic() < deadline and (capture.stats.packets < 8 or capture.stats.packets != seen):
            seen = capture.stats.packets
            time.sleep(0.5)
    finally:
        stop.set()
        reader.join(10)
        server.shutdown()
        server.server_close()
    http = [e for e in events if e["event.dataset"] == "edusoc.http"]
    assert len(http) == 1
    assert http[0]["url.original"] == "/hello?from=edusoc" and http[0]["http.response.status_code"] == 200
    assert http[0]["user_agent.original"] == "edusoc-live-test" and http[0]["destination.port"] == port
    (flow,) = [e for e in events if e["event.dataset"] == "edusoc.flow"]
    assert flow["network.connection.state"] == "SF"
    assert capture.stats.decode_errors == 0 and capture.stats.tcp_retransmissions == 0
    assert flow["network.packets"] == capture.stats.packets  # each packet once, though loopback shows it twice
    assert capture.drops() >= 0


def test_unknown_interface_is_a_clear_error():
    with pytest.raises(CaptureError, match="no-such-if0"):
        LiveCapture("no-such-if0", "").open()


# -- live capture between two network namespaces joined by a veth pair --------------------------
# Nothing here leaves the pair: both ends live in namespaces created for the test (addresses from
# TEST-NET-1, no route anywhere else), and deleting the namespaces at the end removes the veths.

GZIP_SERVER = """
import gzip, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
PAGE = gzip.compress(b"<html>notice: " + b"exam schedule " * 300 + b"</html>")
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(PAGE)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(PAGE)
server = HTTPServer((sys.argv[1], 8080), Handler)
print("ready", flush=True)
server.handle_request()
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def veth_namespaces():
    """(client namespace, its veth, client address, server namespace, server address)."""
    tag = str(os.getpid() % 100_000)
    client_ns, server_ns, client_if, server_if = f"edusoc-c{tag}", f"edusoc-s{tag}", f"evc{tag}", f"evs{tag}"
    created: list[str] = []
    try:
        for ns in (client_ns, server_ns):
            try:
                _ip("netns", "add", ns)
            except (subprocess.CalledProcessError, FileNotFoundError) as exc:
                pytest.skip(f"cannot create a network namespace here ({getattr(exc, 'stderr', exc)}): "
                            "the veth capture test needs root and netns support")
            created.append(ns)
        _ip("link", "add", client_if, "netns", client_ns, "type", "veth", "peer", "name", server_if, "netns", server_ns)
        for ns, interface, address in ((client_ns, client_if, "192.0.2.1/30"), (server_ns, server_if, "192.0.2.2/30")):
            _ip("-n", ns, "addr", "add", address, "dev", interface)
            _ip("-n", ns, "link", "set", interface, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield client_ns, client_if, "192.0.2.1", server_ns, "192.0.2.2"
    finally:
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_live_capture_on_a_veth_in_its_own_namespace_through_the_cli(veth_namespaces):
    client_ns, client_if, client_ip, server_ns, server_ip = veth_namespaces
    edusoc = str(Path(sys.executable).with_name("edusoc"))
    server = subprocess.Popen(["ip", "netns", "exec", server_ns, sys.executable, "-c", GZIP_SERVER, server_ip],
                              stdout=subprocess.PIPE, text=True)
    sensor = subprocess.Popen(["ip", "netns", "exec", client_ns, edusoc, "sensor", "live", "--iface", client_if,
                               "--bpf", "tcp port 8080", "--stdout"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        for line in sensor.stderr:  # scapy may warn first; wait for the line saying the socket is open
            if "capturing on" in line:
                break
        else:
            pytest.fail(f"the sensor ended before capturing (exit {sensor.wait()})")
        fetched = subprocess.run(["ip", "netns", "exec", client_ns, "curl", "-s", "-o", "/dev/null", "-w",
                                  "%{http_code}", "-A", "edusoc-veth-test", f"http://{server_ip}:8080/notice?id=7"],
                                 capture_output=True, text=True, timeout=30)
        assert fetched.stdout == "200"
        server.wait(timeout=30)
    finally:
        sensor.send_signal(signal.SIGINT)  # a clean stop: the socket is read empty, open flows are emitted
        out, err = sensor.communicate(timeout=30)
        server.kill()
    assert sensor.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    (http,) = [e for e in events if e["event.dataset"] == "edusoc.http"]
    assert (http["source.ip"], http["destination.ip"], http["destination.port"]) == (client_ip, server_ip, 8080)
    assert http["url.original"] == "/notice?id=7" and http["user_agent.original"] == "edusoc-veth-test"
    assert http["http.response.content_encoding"] == "gzip" and http["http.response.body.content_decoded"] is True
    assert base64.b64decode(http["http.response.body.content"]).startswith(b"<html>notice: exam schedule")
    (flow,) = [e for e in events if e["event.dataset"] == "edusoc.flow"]
    assert flow["network.connection.state"] == "SF" and flow["source.ip"] == client_ip
    assert {e["source.ip"] for e in events} | {e["destination.ip"] for e in events} == {client_ip, server_ip}
