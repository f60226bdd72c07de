"""Live capture on the loopback interface with a BPF filter; every packet stays on 127.0.0.1."""
from __future__ import annotations

import os
import threading
import time
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
