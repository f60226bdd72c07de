"""HTTP Content-Encoding (gzip, deflate, br) undone for the carved part of a body, never beyond it.

YARA rules match content, not its gzip: the carve of a compressed body holds the decoded
bytes. Decoding is bounded by the carve size: each call asks the decompressor for at most
what still fits, and once the carve is full decoding stops (``capped``) — a decompression
bomb costs no more memory or CPU than an honest body. A body that cannot be decoded
(unknown or stacked encodings, corrupt data) keeps its raw bytes and says why (``error``).
"""
from __future__ import annotations

import zlib

import brotli

# Content-Encoding tokens (RFC 9110 8.4.1; x-gzip as an alias of gzip) handled here.
SUPPORTED = frozenset({"gzip", "x-gzip", "deflate", "br"})


def content_codings(header: str | None) -> list[str]:
    """The codings of a Content-Encoding header, in the order they were applied; identity left out."""
    if not header:
        return []
    return [token for token in (part.strip().lower() for part in header.split(",")) if token and token != "identity"]


class ContentDecoder:
    """Incremental decoder of one body's single coding, producing at most ``limit`` bytes in all."""

    __slots__ = ("coding", "limit", "produced", "capped", "error", "_zlib", "_brotli", "_started")

    def __init__(self, coding: str, limit: int) -> None:
        if coding not in SUPPORTED:
            raise ValueError(f"unsupported content coding {coding!r}")
        self.coding = coding
        self.limit = limit
        self.produced = 0
        self.capped = False  # the decoded body reached the limit: decoding stopped there
        self.error: str | None = None
        self._started = False
        self._brotli = brotli.Decompressor() if coding == "br" else None
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS) if coding in ("gzip", "x-gzip") else (
            zlib.decompressobj(zlib.MAX_WBITS) if coding == "deflate" else None)

    @property
    def stopped(self) -> bool:
        return self.capped or self.error is not None

    def feed(self, data: bytes) -> bytes:
        """Decoded bytes of ``data`` that still fit under the limit (b"" once stopped)."""
        if self.stopped or not data:
            return b""
        room = self.limit - self.produced
        try:
            out = self._decode(data, room)
        except (zlib.error, brotli.error) as exc:
            self.error = f"{self.coding} data does not decode: {exc}"
            return b""
        if len(out) > room:
            out = out[:room]
        self.produced += len(out)
        if self.produced >= self.limit:
            self.capped = self._more_pending()
        return out

    def _decode(self, data: bytes, room: int) -> bytes:
        if self._brotli is not None:
            return self._brotli.process(data, output_buffer_limit=room)
        assert self._zlib is not None
        if self.coding == "deflate" and not self._started:
            # "deflate" should be a zlib stream (RFC 9110), but servers also send raw DEFLATE.
            self._started = True
            try:
                return self._zlib.decompress(data, room)
            except zlib.error:
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        self._started = True
        return self._zlib.decompress(data, room)

    @property
    def finished(self) -> bool:
        """The coded stream ended properly."""
        if self._brotli is not None:
            return self._brotli.is_finished()
        assert self._zlib is not None
        return self._zlib.eof

    def _more_pending(self) -> bool:
        """At the limit: is there decoded output we are leaving out (or input not yet looked at)?"""
        if self._zlib is not None and self._zlib.unconsumed_tail:
            return True
        return not self.finished
