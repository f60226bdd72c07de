"""``edusoc sensor``: read captures and access logs, print events or ship them to the collector."""
from __future__ import annotations

import json
import shutil
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from sensors.conformance import run_conformance
from sensors.deep import DeepDissector, DeepError
from sensors.logfiles import LOG_FORMATS, LogFileReader
from soc_core.clock import SystemClock
from sensors.pcap import PcapReader
from sensors.traffic import TrafficOptions, relax_gc
from sensors.shipper import ShipError, Shipper
from sensors.spool import DiskSpool
from sensors.weblog import WeblogReader

app = typer.Typer(
    help="Sensor: turn packet captures and web access logs into edusoc events, print them or ship them.",
    no_args_is_help=True,
)
_err = Console(stderr=True)

_STDOUT = typer.Option(False, "--stdout", help="Print events as NDJSON on stdout instead of shipping them.")
_COLLECTOR = typer.Option(None, "--collector", envvar="EDUSOC_SENSOR_COLLECTOR", help="Collector base URL, e.g. https://soc.example:8000.")
_TOKEN = typer.Option(None, "--token", envvar="EDUSOC_SENSOR_TOKEN", help="Sensor token issued by the collector.")
_BATCH = typer.Option(1000, "--batch-size", min=1, help="Events per request.")
_ATTEMPTS = typer.Option(5, "--max-attempts", min=1, help="Tries per batch on connection errors, 429 and 5xx.")
_SPOOL = typer.Option(Path("var/sensor/spool"), "--spool", help="Where batches wait while the collector is down "
                      "(sent first by the next run, or by `sensor run` with this spool); '' = give up instead.")
_SPOOL_MB = typer.Option(1024.0, "--spool-max-mb", min=1.0, help="Spool size limit; the oldest batches are dropped past it.")


def _check_output(stdout: bool, collector: Optional[str], token: Optional[str]) -> None:
    if stdout:
        return
    if not collector or not token:
        _err.print("[red]error:[/] give --stdout, or --collector URL and --token T to ship events")
        raise typer.Exit(2)


def _emit(events: Iterable[dict[str, Any]], stdout: bool, collector: Optional[str], token: Optional[str],
          batch_size: int, max_attempts: int, spool_dir: Path | None = None, spool_max_mb: float = 1024.0) -> None:
    if stdout:
        out = sys.stdout
        for event in events:
            out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
        out.flush()
        return
    assert collector and token
    spool = DiskSpool(spool_dir, int(spool_max_mb * 1024 * 1024)) if spool_dir and str(spool_dir) not in ("", ".") else None
    with Shipper(collector, token, batch_size=batch_size, max_attempts=max_attempts, spool=spool) as shipper:
        try:
            report = shipper.ship(events)
        except ShipError as exc:
            _err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
    _err.print(
        f"shipped {report.events_sent} events in {report.batches_sent} batches: "
        f"{report.accepted} accepted, {report.duplicates} duplicates, {len(report.rejected)} rejected"
    )
    for rejected in report.rejected[:20]:
        _err.print(f"  rejected: batch {rejected.batch} line {rejected.line} ({rejected.event_id}): {rejected.reason}")
    if report.spooled_delivered:
        _err.print(f"delivered {report.spooled_delivered} batches an earlier run had spooled")
    if report.batches_spooled and spool is not None:
        _err.print(f"[yellow]spooled {report.batches_spooled} batches in {spool.dir}: the collector was unavailable; "
                   f"the next run (or `sensor run` with this spool) sends them[/]")
    for failure in report.failures:
        _err.print(f"[red]failed:[/] {failure}" if "spool" not in failure else f"  {failure}")
    if not report.ok:
        raise typer.Exit(1)


@app.command("pcap")
def pcap_command(
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="pcap or pcapng files."),
    stdout: bool = _STDOUT,
    collector: Optional[str] = _COLLECTOR,
    token: Optional[str] = _TOKEN,
    batch_size: int = _BATCH,
    max_attempts: int = _ATTEMPTS,
    spool: Path = _SPOOL,
    spool_max_mb: float = _SPOOL_MB,
    max_flows: int = typer.Option(100_000, "--max-flows", min=1, help="Flows held at once; the oldest is emitted when full."),
    idle_timeout: float = typer.Option(300.0, "--idle-timeout", min=0.0, help="Seconds without packets before a flow is emitted."),
    carve_kb: int = typer.Option(1024, "--carve-kb", min=0, help="First N KB of each HTTP body kept in the event "
                                  "for YARA and file extraction (longer bodies are marked truncated)."),
    deep: bool = typer.Option(False, "--deep", help="Also run tshark's dissectors for the protocols the fast path "
                              "does not cover (DHCP, SMB, Kerberos, FTP, SMTP, QUIC SNI, ...): edusoc.deep events."),
) -> None:
    """Read captures into flow, DNS, HTTP, TLS and SSH events (edusoc.flow/dns/http/tls/ssh)."""
    _check_output(stdout, collector, token)
    if deep and shutil.which("tshark") is None:
        _err.print("[red]error:[/] --deep runs tshark, which is not installed (apt-get install tshark)")
        raise typer.Exit(1)
    relax_gc()
    readers = [PcapReader(path, max_flows=max_flows, idle_timeout=idle_timeout, carve_bytes=carve_kb * 1024)
               for path in files]

    def events() -> Iterator[dict[str, Any]]:
        for reader in readers:
            yield from reader
            stats = reader.stats
            records = ", ".join(f"{count} {dataset.split('.')[-1]}" for dataset, count in sorted(stats.events.items()))
            _err.print(
                f"{stats.path}: {stats.packets} packets -> {records or 'no events'}; "
                f"{stats.decode_errors} undecodable, {stats.non_ip} non-IP, {stats.flows_evicted} flows evicted, "
                f"{stats.fragments_reassembled} datagrams reassembled, {stats.tcp_missed_bytes} TCP bytes missed"
            )
            if stats.not_a_capture:
                _err.print(f"[red]{stats.path}: {stats.not_a_capture}[/]")
            if stats.truncated:
                _err.print(f"[yellow]{stats.path}: capture cut off: {stats.truncation_reason}; kept the packets before it[/]")
            for reason, count in stats.decode_error_reasons.most_common(5):
                _err.print(f"  skipped {count}: {reason}")
            if deep:
                dissector = DeepDissector()
                try:
                    yield from dissector.events(reader.path)
                except DeepError as exc:
                    _err.print(f"[yellow]{reader.path}: deep dissection skipped: {exc}[/]")
                    continue
                found = dissector.stats
                _err.print(f"{reader.path}: tshark: {found.packets} packets of {found.records} deep records"
                           + (f"; tshark ended with: {found.tshark_error}" if found.tshark_error else ""))

    _emit(events(), stdout, collector, token, batch_size, max_attempts, spool, spool_max_mb)


@app.command("logs")
def logs_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="Log file."),
    log_format: str = typer.Option("nginx", "--format",
                                   help=f"One of {', '.join(LOG_FORMATS)} (auth/iptables are syslog lines)."),
    stdout: bool = _STDOUT,
    collector: Optional[str] = _COLLECTOR,
    token: Optional[str] = _TOKEN,
    batch_size: int = _BATCH,
    max_attempts: int = _ATTEMPTS,
    spool: Path = _SPOOL,
    spool_max_mb: float = _SPOOL_MB,
) -> None:
    """Read a log file once into events: web access, syslog/auth/firewall, Suricata EVE or JSON lines."""
    if log_format not in LOG_FORMATS:
        _err.print(f"[red]error:[/] --format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
        raise typer.Exit(2)
    _check_output(stdout, collector, token)
    if log_format in ("nginx", "apache"):
        reader = WeblogReader(file, log_format=log_format)  # type: ignore[arg-type]

        def events() -> Iterator[dict[str, Any]]:
            yield from reader
            stats = reader.stats
            _err.print(f"{file}: {stats.lines} lines, {stats.events} events, {stats.rejected} lines not understood")
            for error in stats.errors[:20]:
                _err.print(f"  {file}:{error.line}: {error.reason}")
    else:
        lines = LogFileReader(file, log_format, SystemClock())

        def events() -> Iterator[dict[str, Any]]:
            yield from lines
            stats = lines.stats
            _err.print(f"{file}: {stats.lines} lines, {stats.events} events, {stats.rejected} not understood, "
                       f"{stats.oversize} over the length limit")
            for reason, count in stats.reasons.most_common(10):
                _err.print(f"  skipped {count}: {reason}")
            for example in stats.examples:
                _err.print(f"  {example}", markup=False, highlight=False)

    _emit(events(), stdout, collector, token, batch_size, max_attempts, spool, spool_max_mb)


@app.command("live")
def live_command(
    iface: str = typer.Option(..., "--iface", help="Interface to capture on (root or CAP_NET_RAW)."),
    bpf: str = typer.Option("", "--bpf", help="BPF filter, e.g. 'not port 22'."),
    stdout: bool = _STDOUT,
    collector: Optional[str] = _COLLECTOR,
    token: Optional[str] = _TOKEN,
    batch_size: int = _BATCH,
    max_attempts: int = _ATTEMPTS,
    spool: Path = _SPOOL,
    spool_max_mb: float = _SPOOL_MB,
    max_flows: int = typer.Option(100_000, "--max-flows", min=1),
    idle_timeout: float = typer.Option(300.0, "--idle-timeout", min=0.0),
    carve_kb: int = typer.Option(1024, "--carve-kb", min=0),
    seconds: float = typer.Option(0.0, "--seconds", min=0.0, help="Stop after this long (0: until Ctrl-C)."),
) -> None:
    """Capture live traffic into the same events as `sensor pcap` (for a long-running sensor use `sensor run`)."""
    from sensors.live import CaptureError, LiveCapture

    _check_output(stdout, collector, token)
    relax_gc()
    capture = LiveCapture(iface, bpf, TrafficOptions(max_flows=max_flows, idle_timeout=idle_timeout,
                                                     carve_bytes=carve_kb * 1024))
    try:
        capture.open()
    except CaptureError as exc:
        _err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    stop = threading.Event()
    if seconds:
        timer = threading.Timer(seconds, stop.set)
        timer.daemon = True
        timer.start()
    # Ctrl-C or SIGTERM ends the capture cleanly: what the kernel holds is read, open flows are emitted.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    _err.print(f"capturing on {iface} (filter {bpf!r}); Ctrl-C to stop")

    def events() -> Iterator[dict[str, Any]]:
        yield from capture.events(stop)
        stats = capture.stats
        _err.print(f"{iface}: {stats.packets} packets, {capture.drops()} dropped by the kernel, "
                   f"{sum(stats.events.values())} events, {stats.decode_errors} undecodable")

    _emit(events(), stdout, collector, token, batch_size, max_attempts, spool, spool_max_mb)


@app.command("run")
def run_command(
    config: Path = typer.Option(..., "--config", exists=True, dir_okay=False, readable=True, help="Sensor YAML file."),
) -> None:
    """Run the sensor: configured capture files, interfaces, log files and syslog, shipped with spool and heartbeat."""
    from sensors.config import SensorConfigError, load_sensor_config
    from sensors.runner import SensorRunner, stats_lines

    try:
        settings = load_sensor_config(config)
    except SensorConfigError as exc:
        _err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    relax_gc()
    runner = SensorRunner(settings, SystemClock())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _err.print(f"sensor {settings.sensor.name}: shipping to {settings.collector.url}, spool {settings.spool.dir}")
    try:
        runner.run(stop)
    except KeyboardInterrupt:
        stop.set()
    for line in stats_lines(runner):
        _err.print(line)


@app.command("conformance")
def conformance_command(
    corpus: Path = typer.Argument(..., exists=True, file_okay=False, help="Directory with PAIRS.tsv, traces/, baselines/ (zeek_btest)."),
    show: int = typer.Option(20, "--show", min=0, help="Disagreements to list per protocol."),
) -> None:
    """Compare the sensor with Zeek's logs of Zeek's test traces and print agreement per protocol."""
    report = run_conformance(corpus)
    for line in report.lines():
        typer.echo(line)
    for result in report.protocols.values():
        for mismatch in result.mismatches[:show]:
            typer.echo(f"  disagree: {mismatch}")
    for skipped in report.skipped:
        typer.echo(f"  skipped: {skipped}")


if __name__ == "__main__":
    app()
