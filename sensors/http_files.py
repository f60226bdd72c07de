"""Files and form fields out of HTTP bodies, like Zeek's files.log.

    for found in extract_files(transaction):      # HttpFile records of one transaction
        ...
    form = form_fields(transaction)               # ["name=value", ...] of a form body

What counts as a file:

- an upload: each part of a ``multipart/form-data`` request body that names a ``filename``
  (its content is cut out of the body, so YARA sees the file from its first byte: offset- and
  size-anchored rules work), or a whole request body that is not a form (PUT, a POST of
  ``application/octet-stream``...);
- a download: a response body that is not a page (HTML, CSS, script, JSON are left in the
  HTTP event, where YARA scans them as before).

Each record has the name (``filename=`` of the part, else the last segment of the URL path),
the MIME type declared (the part's or the message's Content-Type) and the one sniffed from the
first bytes, the size, and — when the whole file is in the carve — its SHA-256 and MD5. A file
cut by the carve limit is marked ``truncated`` and carries no hash (a hash of a prefix would
match no indicator). Everything here reads only the carve, so it costs no more memory than the
carve already does.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from sensors.http import HttpTransaction

MAX_FORM_FIELDS = 256  # name=value pairs kept per request body
MAX_FORM_VALUE_CHARS = 4096
MAX_PARTS = 64  # multipart parts looked at per body
# Bodies that are pages of a site rather than files someone fetched.
PAGE_TYPES = frozenset({"text/html", "text/css", "text/javascript", "application/javascript",
                        "application/x-javascript", "application/json", "text/xml", "application/xml"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})

_PARAMETER = re.compile(r';\s*([A-Za-z0-9_*.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
# (magic prefix, MIME type), looked for at offset 0 of the content
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "application/x-dosexec"),
    (b"\x7fELF", "application/x-executable"),
    (b"PK\x03\x04", "application/zip"),
    (b"%PDF-", "application/pdf"),
    (b"\x1f\x8b", "application/gzip"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (b"#!", "text/x-shellscript"),
)
_TEXT_MARKERS: tuple[tuple[bytes, str], ...] = (
    (b"<?php", "text/x-php"),
    (b"<%@", "text/x-jsp"),
    (b"<%", "text/x-asp"),
    (b"<!doctype html", "text/html"),
    (b"<html", "text/html"),
    (b"<?xml", "text/xml"),
)


@dataclass(frozen=True, slots=True)
class HttpFile:
    """One file seen in an HTTP transaction."""

    direction: str  # upload (in the request) | download (in the response)
    source: str  # multipart (a part of a form) | body (the whole body)
    index: int  # position among the transaction's files, from 0
    name: str | None
    declared_mime_type: str | None
    mime_type: str | None  # sniffed from the first bytes
    size: int  # bytes of the file (for a truncated one: what the sender said or sent)
    truncated: bool
    sha256: str | None
    md5: str | None
    content: bytes | None  # a multipart part's carved content (a whole body is in the HTTP event already)
    form_name: str | None = None  # the form field the part belongs to


def media_type(content_type: str | None) -> str:
    """'multipart/form-data; boundary=x' -> 'multipart/form-data'."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _parameters(header: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in _PARAMETER.findall(header):
        value = value.strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        found.setdefault(name.lower(), value)
    return found


def sniff_mime_type(data: bytes) -> str | None:
    """The MIME type the first bytes show (a short signature table; None when nothing is known)."""
    if not data:
        return None
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    head = data[:512].lstrip().lower()
    for marker, mime in _TEXT_MARKERS:
        if head.startswith(marker):
            return mime
    if b"<?php" in data[:4096].lower():
        return "text/x-php"
    sample = data[:1024]
    if b"\x00" not in sample:
        try:
            sample.decode("utf-8")
            return "text/plain"
        except UnicodeDecodeError as exc:
            if exc.start >= len(sample) - 3:  # a character cut at the sample's end
                return "text/plain"
    return "application/octet-stream"


@dataclass(frozen=True, slots=True)
class _Part:
    headers: dict[str, str]
    content: bytes
    complete: bool  # the closing delimiter was seen (the part is whole)


def multipart_parts(body: bytes, boundary: str) -> list[_Part]:
    """The parts of a multipart body (RFC 2046), as far as the carve holds them."""
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    parts: list[_Part] = []
    start = body.find(delimiter)
    while start >= 0 and len(parts) < MAX_PARTS:
        after = start + len(delimiter)
        if body[after:after + 2] == b"--":
            break  # the close delimiter
        header_end = body.find(b"\r\n\r\n", after)
        sep = 4
        if header_end < 0:
            header_end, sep = body.find(b"\n\n", after), 2
        if header_end < 0:
            break
        headers: dict[str, str] = {}
        for line in re.split(rb"\r?\n", body[after:header_end]):
            name, colon, value = line.partition(b":")
            if colon:
                headers[name.strip().decode("latin-1").lower()] = value.strip().decode("utf-8", "replace")
        content_start = header_end + sep
        following = body.find(b"\r\n" + delimiter, content_start)
        if following < 0:
            bare = body.find(b"\n" + delimiter, content_start)
            if bare < 0:
                parts.append(_Part(headers, body[content_start:], False))
                break
            parts.append(_Part(headers, body[content_start:bare], True))
            start = bare + 1
            continue
        parts.append(_Part(headers, body[content_start:following], True))
        start = following + 2
    return parts


def _multipart(transaction: HttpTransaction) -> list[_Part]:
    content_type = transaction.request_content_type or ""
    if media_type(content_type) != "multipart/form-data" or not transaction.request_body:
        return []
    boundary = _parameters(content_type).get("boundary")
    return multipart_parts(transaction.request_body, boundary) if boundary else []


def _file(direction: str, source: str, index: int, name: str | None, declared: str | None, content: bytes,
          size: int, truncated: bool, keep_content: bool, form_name: str | None = None) -> HttpFile:
    whole = not truncated
    return HttpFile(
        direction=direction, source=source, index=index, name=name or None,
        declared_mime_type=declared or None, mime_type=sniff_mime_type(content), size=size, truncated=truncated,
        sha256=hashlib.sha256(content).hexdigest() if whole else None,
        md5=hashlib.md5(content, usedforsecurity=False).hexdigest() if whole else None,
        content=content if keep_content else None, form_name=form_name,
    )


def url_extension(path: str) -> str | None:
    """ECS url.extension: of the path's last segment, lower case, without the dot ('/a/b.PHP' -> 'php')."""
    name = path.rsplit("/", 1)[-1]
    stem, dot, extension = name.rpartition(".")
    return extension.lower() if dot and stem and extension and len(extension) <= 16 else None


def _name_from_path(uri: str | None) -> str | None:
    path = (uri or "").split("?", 1)[0]
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name or None


def extract_files(transaction: HttpTransaction) -> list[HttpFile]:
    """The files of one transaction: uploaded form parts or a raw upload, then a download."""
    files: list[HttpFile] = []
    request_type = media_type(transaction.request_content_type)
    if request_type == "multipart/form-data":
        for part in _multipart(transaction):
            disposition = _parameters(part.headers.get("content-disposition", ""))
            if "filename" not in disposition and "filename*" not in disposition:
                continue
            name = disposition.get("filename") or disposition.get("filename*", "").rsplit("'", 1)[-1]
            if not name and not part.content:
                continue  # a file input left empty
            truncated = not part.complete
            files.append(_file("upload", "multipart", len(files), name.replace("\\", "/").rsplit("/", 1)[-1],
                               part.headers.get("content-type"), part.content, len(part.content), truncated,
                               True, disposition.get("name")))
    elif transaction.request_body and request_type not in FORM_TYPES:
        files.append(_file("upload", "body", len(files), _name_from_path(transaction.uri),
                           transaction.request_content_type, transaction.request_body,
                           _body_size(transaction, request=True), transaction.request_truncated, False))
    response_type = media_type(transaction.response_content_type)
    if transaction.response_body and response_type not in PAGE_TYPES:
        sniffed = sniff_mime_type(transaction.response_body)
        # an undeclared page is a page too, and so is undeclared plain text (an answer, not a file)
        if sniffed not in PAGE_TYPES and not (sniffed == "text/plain" and not response_type):
            files.append(_file("download", "body", len(files), _name_from_path(transaction.uri),
                               transaction.response_content_type, transaction.response_body,
                               _body_size(transaction, request=False), transaction.response_truncated, False))
    return files


def _body_size(transaction: HttpTransaction, *, request: bool) -> int:
    """The file's size: the decoded length when all of it was decoded, else the length sent."""
    if request:
        decoded, truncated = transaction.request_decoded, transaction.request_truncated
        body, sent = transaction.request_body, transaction.request_body_len
    else:
        decoded, truncated = transaction.response_decoded, transaction.response_truncated
        body, sent = transaction.response_body, transaction.response_body_len
    return len(body) if decoded and not truncated else sent


def _text_value(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")[:MAX_FORM_VALUE_CHARS]


def form_fields(transaction: HttpTransaction) -> list[str]:
    """``name=value`` of each field of a form body, decoded (urlencoded fields and non-file parts)."""
    request_type = media_type(transaction.request_content_type)
    body = transaction.request_body
    if not body:
        return []
    fields: list[str] = []
    if request_type == "application/x-www-form-urlencoded":
        pairs = body.split(b"&", MAX_FORM_FIELDS)[:MAX_FORM_FIELDS]  # never parse past the fields kept
        text = b"&".join(pairs).decode("utf-8", "replace")
        for name, value in parse_qsl(text, keep_blank_values=True, errors="replace"):
            fields.append(f"{name}={value[:MAX_FORM_VALUE_CHARS]}")
            if len(fields) >= MAX_FORM_FIELDS:
                break
    elif request_type == "multipart/form-data":
        for part in _multipart(transaction):
            disposition = _parameters(part.headers.get("content-disposition", ""))
            if "filename" in disposition or "filename*" in disposition:
                continue
            fields.append(f"{disposition.get('name', '')}={_text_value(part.content)}")
            if len(fields) >= MAX_FORM_FIELDS:
                break
    return fields
