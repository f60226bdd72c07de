"""Webshells caught when uploaded over HTTP, against the same rules on the files themselves.

    .venv/bin/python bench/upload_detection.py [--corpora ../shared/corpora] [--benign-limit N]

Rules: signature-base's webshell rules (the files ``detection_rules.conformance`` names), compiled
by libyara through ``YaraScanner``. Samples: every file of ``webshells/tennc_webshell``.

1. Files: each shell scanned directly (``scan(data, filename=name)``): the reference.
2. Uploads: each shell sent as a file field of a ``multipart/form-data`` POST (scapy-crafted
   packets, one connection per shell, written to a capture file), read by the real sensor with
   its default settings (``read_pcap``), and every event through ``DetectionEngine`` with the same
   scanner: a shell counts as caught when any YARA alert is raised on its connection.
3. The same uploads behind a 200 KB form field of padding (the carve must reach the file).
4. The old way, for comparison: YARA on the raw multipart body only, carved at 64 KB.
5. False positives: every file of ``benign_web`` uploaded the same way; uploads with any alert.

Ends with one JSON line: {"bench": "upload_detection", "value": upload recall, "unit": "recall",
"reference": file recall, "ratio": value / reference, ...details}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scapy.utils import PcapWriter  # noqa: E402

from detection_rules import DetectionEngine, RuleSet, YaraScanner  # noqa: E402
from detection_rules.conformance import SIGNATURE_BASE_WEBSHELL_FILES  # noqa: E402
from sensors.pcap import read_pcap  # noqa: E402
from sensors.samples.http_craft import http_request, http_response, multipart_form, tcp_exchange  # noqa: E402

T0 = 1_793_581_200.0
CLIENT, SERVER = "203.0.113.9", "10.20.1.80"
FIRST_PORT = 20_000
PADDING = 200 * 1024


def upload_capture(path: Path, files: list[Path], padding: int = 0) -> None:
    """One multipart upload per file, connection i from source port FIRST_PORT + i."""
    with PcapWriter(str(path), linktype=1, sync=False) as writer:
        for i, sample in enumerate(files):
            fields = {"padding": "A" * padding} if padding else {}
            content_type, body = multipart_form({**fields, "submit": "上传"},
                                                [("upfile", sample.name, "application/octet-stream",
                                                  sample.read_bytes())])
            request = http_request("POST", "/upload.php", "www.school-no1.edu.cn", body, content_type=content_type)
            for packet in tcp_exchange(T0 + i, CLIENT, SERVER, FIRST_PORT + i, request, http_response(200, b"ok")):
                writer.write(packet)


def caught_uploads(path: Path, scanner: YaraScanner, *, carve_bytes: int | None = None,
                   raw_body_only: bool = False) -> set[int]:
    """Indexes of the uploads on whose connection YARA raised an alert."""
    options = {"carve_bytes": carve_bytes} if carve_bytes is not None else {}
    events, _ = read_pcap(path, **options)
    engine = DetectionEngine(RuleSet(), yara=scanner)
    caught: set[int] = set()
    for event in events:
        if raw_body_only:
            if event["event.dataset"] != "edusoc.http":
                continue
            event = {k: v for k, v in event.items() if k != "http.request.body.files"}
        if event["event.dataset"] not in ("edusoc.http", "edusoc.files"):
            continue
        if engine.process(event):
            caught.add(int(event["source.port"]) - FIRST_PORT)
    return caught


def files_under(root: Path, limit: int | None = None) -> list[Path]:
    found = sorted(path for path in root.rglob("*") if path.is_file())
    return found[:limit] if limit else found


def names(files: list[Path], indexes: Iterable[int]) -> list[str]:
    return sorted(str(files[i].relative_to(files[i].parents[1])) for i in indexes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    default = os.environ.get("EDUSOC_CORPORA") or str(Path(__file__).resolve().parents[2] / "shared" / "corpora")
    parser.add_argument("--corpora", default=default)
    parser.add_argument("--benign-limit", type=int, default=0, help="upload only the first N benign files (0: all)")
    args = parser.parse_args()
    corpora = Path(args.corpora)
    shells_root, benign_root = corpora / "webshells" / "tennc_webshell", corpora / "benign_web"
    rules = [corpora / "yara" / "signature-base" / name for name in SIGNATURE_BASE_WEBSHELL_FILES]
    if not shells_root.is_dir() or not all(path.is_file() for path in rules):
        sys.exit(f"corpora not found under {corpora} (webshells/tennc_webshell, yara/signature-base): "
                 "pass --corpora or set EDUSOC_CORPORA")
    scanner = YaraScanner(rules, max_bytes=64 * 1024 * 1024, timeout_seconds=60)
    shells = files_under(shells_root)
    started = time.perf_counter()
    as_files = {i for i, path in enumerate(shells) if scanner.scan(path.read_bytes(), filename=path.name)}
    with tempfile.TemporaryDirectory() as tmp:
        plain, padded, benign_pcap = Path(tmp, "uploads.pcap"), Path(tmp, "padded.pcap"), Path(tmp, "benign.pcap")
        upload_capture(plain, shells)
        upload_capture(padded, shells, padding=PADDING)
        as_uploads = caught_uploads(plain, scanner)
        as_padded = caught_uploads(padded, scanner)
        old_way = caught_uploads(plain, scanner, carve_bytes=64 * 1024, raw_body_only=True)
        old_padded = caught_uploads(padded, scanner, carve_bytes=64 * 1024, raw_body_only=True)
        benign = files_under(benign_root, args.benign_limit or None) if benign_root.is_dir() else []
        false_positives: set[int] = set()
        if benign:
            upload_capture(benign_pcap, benign)
            false_positives = caught_uploads(benign_pcap, scanner)
    seconds = time.perf_counter() - started
    total = len(shells)
    missed = sorted(as_files - as_uploads)
    print(f"{total} shells, {len(scanner.namespaces)} signature-base rule files; as files {len(as_files)}, "
          f"as uploads {len(as_uploads)} ({len(as_padded)} behind {PADDING // 1024} KB of padding); "
          f"old way (raw body, 64 KB carve) {len(old_way)} ({len(old_padded)} padded); "
          f"benign uploads with an alert {len(false_positives)}/{len(benign)}; {seconds:.0f} s", file=sys.stderr)
    if missed:
        print("caught as files, missed as uploads: " + ", ".join(names(shells, missed)), file=sys.stderr)
    value, reference = len(as_uploads) / total, len(as_files) / total
    print(json.dumps({
        "bench": "upload_detection", "value": round(value, 4), "unit": "recall", "reference": round(reference, 4),
        "ratio": round(value / reference, 4) if reference else None,
        "shells": total, "caught_as_files": len(as_files), "caught_as_uploads": len(as_uploads),
        "missed_as_uploads_caught_as_files": len(missed),
        "padded_200kb_recall": round(len(as_padded) / total, 4),
        "old_raw_body_64kb_recall": round(len(old_way) / total, 4),
        "old_raw_body_64kb_padded_recall": round(len(old_padded) / total, 4),
        "benign_uploads": len(benign), "benign_false_positives": len(false_positives),
        "false_positive_rate": round(len(false_positives) / len(benign), 4) if benign else None,
    }))


if __name__ == "__main__":
    main()
