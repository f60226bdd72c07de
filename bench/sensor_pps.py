"""Packets per second of the sensor's fast path against tshark on the same capture, and the
memory of the flow table holding one million concurrent flows.

    .venv/bin/python bench/sensor_pps.py PCAP [--flows 1000000] [--repeat 3]

1. The sensor: every frame of PCAP through the whole pipeline (decode, defragment, flow table,
   TCP reassembly, DNS/HTTP/TLS/SSH analyzers, event dicts built), single-threaded, one core.
2. tshark (the reference, same run, same file): ``tshark -n -r PCAP -T fields -e ...`` extracting
   the same fields (tuples, TCP flags, DNS query/type/rcode/answers, HTTP method/host/URI/UA/
   referrer/status/length, TLS SNI/version/cipher/JA3, SSH banner, ICMP type/code) to /dev/null.
3. Memory: a fresh process fills a TrafficAnalyzer holding ``--flows`` concurrent flows (one
   SYN each, nothing expires), reports resident memory, then pushes half as many more through
   and reports it again: the table evicts instead of growing.

With ``--repeat N`` both run N times, alternating, and each side's best run counts.

Ends with one JSON line: {"bench": "sensor_pps", "value": sensor pps, "unit": "packets/s",
"reference": tshark pps, "ratio": value / reference, ...details}. Create the campus-mix capture
with bench/make_campus_pcap.py.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TSHARK_FIELDS = [
    "frame.time_epoch", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.proto", "tcp.srcport", "tcp.dstport",
    "udp.srcport", "udp.dstport", "tcp.flags", "icmp.type", "icmp.code", "dns.id", "dns.qry.name", "dns.qry.type",
    "dns.flags.rcode", "dns.a", "dns.aaaa", "dns.resp.ttl", "http.request.method", "http.host", "http.request.uri",
    "http.user_agent", "http.referer", "http.response.code", "http.content_length",
    "tls.handshake.extensions_server_name", "tls.handshake.version", "tls.handshake.ciphersuite",
    "tls.handshake.ja3", "ssh.protocol",
]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_sensor(pcap: Path) -> dict:
    from sensors.pcap import PcapReader
    from sensors.traffic import relax_gc

    relax_gc()  # as `edusoc sensor pcap/live/run` do
    reader = PcapReader(pcap, max_flows=1_000_000)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    events = sum(1 for _ in reader)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    stats = reader.stats
    return {"packets": stats.packets, "events": events, "by_dataset": dict(stats.events), "cpu_s": round(cpu, 2),
            "wall_s": round(wall, 2), "pps": stats.packets / cpu, "decode_errors": stats.decode_errors}


def run_tshark(pcap: Path) -> dict:
    tshark = shutil.which("tshark")
    if tshark is None:
        raise SystemExit("tshark not found: it is the reference of this benchmark (apt-get install tshark)")
    command = [tshark, "-n", "-r", str(pcap), "-T", "fields"]
    for name in TSHARK_FIELDS:
        command += ["-e", name]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall0 = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run(command, stdout=sink, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    packets = int(subprocess.run(["capinfos", "-c", "-M", "-T", str(pcap)], capture_output=True, text=True,
                                 check=True).stdout.strip().splitlines()[-1].split("\t")[-1])
    return {"packets": packets, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "pps": packets / cpu,
            "peak_rss_mb": round(after.ru_maxrss / 1024)}


def flow_memory(flows: int) -> dict:
    """Resident memory of a TrafficAnalyzer holding ``flows`` concurrent flows (run in a fresh process)."""
    from sensors.packets import Frame
    from sensors.traffic import TrafficAnalyzer, TrafficOptions

    # One SYN per flow from a distinct client address and port on a /8: the table must hold them all.
    syn = bytearray(bytes.fromhex("020000000002020000000001080045000028000100004006000a0a000001cb00710a"
                                  "9c40005000000001000000005002200000000000"))
    baseline = rss_mb()
    traffic = TrafficAnalyzer(TrafficOptions(max_flows=flows, idle_timeout=1e9))
    emitted = 0

    def push(count: int, first: int) -> None:
        nonlocal emitted
        for n in range(first, first + count):
            syn[26:30] = struct.pack("!I", 0x0A000000 | (n >> 4))
            syn[34:36] = struct.pack("!H", 1024 + (n & 0xF))
            emitted += sum(1 for _ in traffic.feed(Frame(1_793_581_200.0 + n * 1e-6, 1, bytes(syn))))

    push(flows, 0)
    full = rss_mb()
    held = len(traffic.flows)
    push(flows // 2, flows)
    after = rss_mb()
    return {"flows_held": held, "rss_baseline_mb": round(baseline), "rss_full_mb": round(full),
            "bytes_per_flow": round((full - baseline) * 1024 * 1024 / max(held, 1)),
            "rss_after_50pct_more_mb": round(after), "flows_in_table_after": len(traffic.flows),
            "evicted": emitted}


def main() -> None:
    parser = argparse.ArgumentParser(description="sensor packets/s against tshark, and flow-table memory")
    parser.add_argument("pcap", type=Path)
    parser.add_argument("--flows", type=int, default=1_000_000, help="concurrent flows for the memory check")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, alternating; the least CPU of each "
                        "counts (on a shared machine a run can lose time to others; both sides get the same chance)")
    parser.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_only:
        print(json.dumps(flow_memory(args.flows)))
        return
    sensors, tsharks = [], []
    for _ in range(max(args.repeat, 1)):
        sensor = run_sensor(args.pcap)
        print(f"sensor : {sensor['packets']} packets in {sensor['cpu_s']} s CPU -> {sensor['pps']:,.0f} packets/s "
              f"({sensor['events']} events: {sensor['by_dataset']})")
        tshark = run_tshark(args.pcap)
        print(f"tshark : {tshark['packets']} packets in {tshark['cpu_s']} s CPU -> {tshark['pps']:,.0f} packets/s "
              f"(-T fields, {len(TSHARK_FIELDS)} fields, peak RSS {tshark['peak_rss_mb']} MB)")
        sensors.append(sensor)
        tsharks.append(tshark)
    sensor, tshark = max(sensors, key=lambda r: r["pps"]), max(tsharks, key=lambda r: r["pps"])
    memory = json.loads(subprocess.run([sys.executable, __file__, str(args.pcap), "--memory-only", "--flows",
                                        str(args.flows)], capture_output=True, text=True, check=True).stdout)
    print(f"memory : {memory['flows_held']} concurrent flows -> RSS {memory['rss_full_mb']} MB "
          f"({memory['bytes_per_flow']} B/flow); after {args.flows // 2} more: RSS {memory['rss_after_50pct_more_mb']} MB, "
          f"{memory['flows_in_table_after']} flows held, {memory['evicted']} evicted")
    ratio = sensor["pps"] / tshark["pps"]
    print(json.dumps({"bench": "sensor_pps", "value": round(sensor["pps"]), "unit": "packets/s",
                      "reference": round(tshark["pps"]), "ratio": round(ratio, 2), "pcap": str(args.pcap),
                      "packets": sensor["packets"], "rss_mb_at_1m_flows": memory["rss_full_mb"],
                      "flows_held": memory["flows_held"], "repeat": len(sensors)}))


if __name__ == "__main__":
    main()
