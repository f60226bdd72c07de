"""The stream analyzers and the fast decoder take any bytes: they report, count or skip, and never raise."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensors.http import HttpAnalyzer
from sensors.packets import Frame, PacketDecodeError, decode_frame
from sensors.ipfrag import Defragmenter
from sensors.ssh import SshAnalyzer
from sensors.tls import TlsAnalyzer, TlsParseError, parse_client_hello, parse_server_hello

CHUNKS = st.lists(st.tuples(st.booleans(), st.binary(max_size=300)), max_size=12)
HTTPISH = st.lists(st.tuples(st.booleans(), st.sampled_from([
    b"GET / HTTP/1.1\r\n", b"Host: a\r\n", b"\r\n", b"HTTP/1.1 200 OK\r\n", b"Content-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n", b"0\r\n\r\n", b"zz\r\n", b"POST /x HTTP/1.0\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n", b"\x00\xff", b"abcde"])), max_size=30)


def run(analyzer, chunks, gaps=()):
    for i, (from_orig, data) in enumerate(chunks):
        analyzer.data(from_orig, data, float(i))
        if i in gaps:
            analyzer.gap(from_orig, 7)
    analyzer.finish()


@settings(max_examples=300, deadline=None)
@given(chunks=st.one_of(CHUNKS, HTTPISH), gaps=st.sets(st.integers(0, 12), max_size=3))
def test_http_analyzer_takes_any_bytes(chunks, gaps):
    records = []
    run(HttpAnalyzer(records.append, carve_bytes=16), chunks, gaps)
    for record in records:
        assert record.request_body_len >= 0 and record.response_body_len >= 0
        assert len(record.request_body) <= 16 and len(record.response_body) <= 16


@settings(max_examples=300, deadline=None)
@given(chunks=CHUNKS)
def test_tls_and_ssh_analyzers_take_any_bytes(chunks):
    tls_records, ssh_records = [], []
    run(TlsAnalyzer(tls_records.append), [(o, b"\x16\x03\x01" + d) for o, d in chunks])
    run(SshAnalyzer(ssh_records.append), chunks)
    assert len(tls_records) <= 1 and len(ssh_records) <= 1


@settings(max_examples=400, deadline=None)
@given(body=st.binary(max_size=200))
def test_hello_parsers_raise_only_their_parse_error(body):
    for parse in (parse_client_hello, parse_server_hello):
        try:
            hello = parse(body)
        except TlsParseError:
            continue
        if hasattr(hello, "ja4"):
            assert hello.ja4().startswith("t") and len(hello.ja3()) == 32


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=120), linktype=st.sampled_from([1, 101, 113, 276, 0]),
       prefix=st.sampled_from([b"", bytes.fromhex("0200000000020200000000010800"),
                               bytes.fromhex("020000000002020000000001810000640800"),
                               bytes.fromhex("02000000000202000000000186dd")]))
def test_fast_decoder_with_fragments_fails_only_with_decode_errors(data, linktype, prefix):
    defrag = Defragmenter(max_datagrams=4)
    frame_bytes = prefix + data if linktype == 1 else data
    for _ in range(2):  # twice: the second copy of a fragment meets the first
        try:
            decode_frame(Frame(0.0, linktype, frame_bytes), defrag)
        except PacketDecodeError:
            pass


@settings(max_examples=500, deadline=None)
@given(seconds=st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_fast_event_timestamps_equal_the_schema_formatter(seconds):
    from sensors.netevents import timestamp_from_epoch as fast
    from soc_core.events import timestamp_from_epoch as reference

    assert fast(seconds) == reference(seconds)


@settings(max_examples=200, deadline=None)
@given(tail=st.binary(max_size=400), cut=st.integers(0, 200), flips=st.lists(st.integers(0, 199), max_size=4))
def test_the_pcapng_reader_takes_any_bytes_after_a_valid_start(tail, cut, flips):
    import io
    import struct

    from sensors.packets import CaptureEnd, read_records

    shb = struct.pack("<II", 0x0A0D0D0A, 28) + struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb = struct.pack("<IIHHI", 1, 20, 1, 0, 65535) + struct.pack("<I", 20)
    frame = bytes(range(60))
    epb = struct.pack("<IIIIIII", 6, 32 + 60, 0, 0, 1, 60, 60) + frame + struct.pack("<I", 32 + 60)
    data = bytearray(shb + idb + epb + epb)
    for at in flips:
        data[len(shb) + len(idb) + at % (2 * len(epb))] ^= 0xFF
    stream = io.BytesIO(bytes(data[:len(data) - cut]) + tail)
    end = CaptureEnd()
    for ts, linktype, packet, snapped in read_records(stream, end):
        assert linktype == 1 and isinstance(packet, bytes) and len(packet) <= 256 * 1024
