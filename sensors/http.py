"""HTTP/1.x over reassembled TCP: requests paired with responses, bodies measured and carved.

One ``HttpAnalyzer`` per connection parses both directions incrementally. A request and
its response make one ``HttpTransaction`` (pipelined requests pair in order, as in Zeek's
http.log); a request never answered is still reported when the connection ends. Body
lengths count the entity body after transfer decoding (chunked framing removed), like
Zeek's request_body_len/response_body_len. The first ``carve_bytes`` of each body are kept
for YARA scanning and file extraction (``sensors.http_files``); a body longer than its carve is
marked ``truncated``. Every carved byte (raw and decoded) is taken from one ``CarveBudget``
shared by all connections and given back when the transaction is reported, so a burst of large
concurrent bodies cannot hold more memory than the budget: a body that finds the budget spent
stops being carved there (and is marked truncated) rather than held.

After a 2xx answer to CONNECT the connection is a tunnel: its bytes go to the ``tunnel``
analyzer the session table supplies (TLS through a proxy), as Zeek does.
"""
from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sensors.http_encoding import SUPPORTED, ContentDecoder, content_codings

MAX_HEADER_BYTES = 64 * 1024
DEFAULT_CARVE_BYTES = 1024 * 1024
DEFAULT_CARVE_BUDGET_BYTES = 256 * 1024 * 1024
# Like Zeek: the method is a token followed by white space, the URI ends at the next white space.
_REQUEST_LINE = re.compile(rb"^([A-Za-z0-9_-]{1,32})[ \t]+(\S*)(?:[ \t]+(.*?))?[ \t]*$")
_VERSION = re.compile(rb"^HTTP/(\d\.\d)")
_STATUS_LINE = re.compile(rb"^HTTP/(\d\.\d)[ \t]+(\d{3})(?:[ \t]+(.*))?$")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_NO_BODY_STATUS = (204, 304)


def _text(raw: bytes) -> str:
    # Header values are bytes on the wire; keep odd ones visible rather than failing.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


@dataclass(slots=True)
class HttpTransaction:
    """One request and its response, as far as they were seen."""

    ts: float
    depth: int = 0  # 1-based position of the request in its connection (Zeek's trans_depth); <0: no request
    method: str | None = None
    uri: str | None = None
    version: str | None = None
    host: str | None = None
    user_agent: str | None = None
    referrer: str | None = None
    request_body_len: int = 0
    request_body: bytes = b""
    request_content_type: str | None = None
    cookie: str | None = None
    status_code: int | None = None
    status_msg: str | None = None
    response_version: str | None = None
    response_body_len: int = 0
    response_body: bytes = b""
    response_content_type: str | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    request_encoding: str | None = None  # Content-Encoding header, lower case
    response_encoding: str | None = None
    request_decoded: bool = False  # request_body holds the decoded content, not the coded bytes
    response_decoded: bool = False
    request_decoder: Carve | None = None
    response_decoder: Carve | None = None
    request_held: int = 0  # bytes of the CarveBudget the request's carves hold
    response_held: int = 0
    request_starved: bool = False  # the budget ran out: the raw carve stopped
    response_starved: bool = False
    request_truncated: bool = False  # the carve stopped before the body ended
    response_truncated: bool = False


class CarveBudget:
    """Bytes of body carves all connections may hold at once, taken as carves grow."""

    __slots__ = ("capacity", "in_use", "starved")

    def __init__(self, capacity: int = DEFAULT_CARVE_BUDGET_BYTES) -> None:
        self.capacity = capacity
        self.in_use = 0
        self.starved = 0  # carves cut short because the budget was spent

    def take(self, wanted: int) -> int:
        """Up to ``wanted`` bytes; less (and counted) when the budget is nearly spent."""
        granted = max(0, min(wanted, self.capacity - self.in_use))
        if granted < wanted:
            self.starved += 1
        self.in_use += granted
        return granted

    def release(self, size: int) -> None:
        self.in_use = max(0, self.in_use - size)


class Carve:
    """The first ``limit`` bytes of one body: decoded when its Content-Encoding allows, else as sent.

    Both are kept (each bounded by the limit) until the body ends, so a coding that turns out
    corrupt halfway still leaves the raw carve.
    """

    __slots__ = ("decoder", "decoded", "unsupported")

    def __init__(self, encoding: str, limit: int) -> None:
        codings = content_codings(encoding)
        self.decoder = ContentDecoder(codings[0], limit) if len(codings) == 1 and codings[0] in SUPPORTED else None
        self.unsupported = bool(codings) and self.decoder is None  # unknown or stacked codings: raw carve
        self.decoded = bytearray()

    def feed(self, chunk: bytes, budget: CarveBudget) -> int:
        """Decode ``chunk`` into the carve; returns the budget bytes the growth took."""
        if self.decoder is None or self.decoder.stopped:
            return 0
        out = self.decoder.feed(chunk)
        if not out:
            return 0
        granted = budget.take(len(out))
        self.decoded += out[:granted]
        if granted < len(out):
            self.decoder.capped = True  # the budget is spent: decoding stops here, marked as capped
        return granted

    def result(self, raw: bytes) -> tuple[bytes, bool, str]:
        """(carve, whether it is decoded, outcome: decoded | capped | error | unsupported | none)."""
        decoder = self.decoder
        if decoder is None:
            return raw, False, "unsupported" if self.unsupported else "none"
        if decoder.error is not None or (raw and not self.decoded and not decoder.finished):
            return raw, False, "error"
        return bytes(self.decoded), True, "capped" if decoder.capped else "decoded"


@dataclass(slots=True)
class _Message:
    start_line: bytes
    headers: dict[str, str]


class _Direction:
    """Framing of one direction: header block, then a body by length, chunks, or until close."""

    __slots__ = ("buffer", "state", "remaining", "chunk_trailer", "dead", "on_headers", "on_body", "on_end",
                 "on_tunnel")

    def __init__(self, on_headers: Callable[[_Message], str], on_body: Callable[[bytes], None],
                 on_end: Callable[[], None], on_tunnel: Callable[[bytes], None] | None = None) -> None:
        self.buffer = bytearray()
        self.state = "headers"  # headers | length | chunk_size | chunk_data | chunk_crlf | trailer | close | dead
        self.remaining = 0
        self.dead = False
        self.on_headers, self.on_body, self.on_end = on_headers, on_body, on_end
        self.on_tunnel = on_tunnel or (lambda rest: None)

    def feed(self, data: bytes) -> None:
        if self.dead:
            return
        if self.state in ("length", "chunk_data", "close") and not self.buffer:
            data = self._body_bytes(data)  # fast path: body bytes need no buffering
            if not data:
                return
        self.buffer += data
        while self.buffer and not self.dead:
            if not self._step():
                break

    def gap(self, size: int) -> None:
        """Bytes missed: skip them inside a body, lose sync anywhere else."""
        if self.state == "length" and size < self.remaining and not self.buffer:
            self.remaining -= size
        elif self.state == "close":
            pass
        else:
            self.dead = True

    def end(self) -> None:
        if self.state in ("close", "length", "chunk_size", "chunk_data", "chunk_crlf", "trailer"):
            self.on_end()
        self.state = "headers"

    def _body_bytes(self, data: bytes) -> bytes:
        """Consume body bytes at the front of data; return what is left."""
        if self.state == "close":
            self.on_body(data)
            return b""
        take = data[: self.remaining]
        self.on_body(take)
        self.remaining -= len(take)
        rest = data[len(take):]
        if self.remaining == 0:
            if self.state == "length":
                self.state = "headers"
                self.on_end()
            else:
                self.state = "chunk_crlf"
        return rest

    def _line(self) -> bytes | None:
        at = self.buffer.find(b"\n")
        if at < 0:
            if len(self.buffer) > MAX_HEADER_BYTES:
                self.dead = True
            return None
        line = bytes(self.buffer[:at]).rstrip(b"\r")
        del self.buffer[: at + 1]
        return line

    def _step(self) -> bool:
        state = self.state
        if state == "headers":
            while self.buffer[:2] in (b"\r\n",) or self.buffer[:1] == b"\n":  # stray CRLF between messages
                del self.buffer[: 2 if self.buffer[:1] == b"\r" else 1]
            if not self.buffer:
                return False
            match = _HEADER_END.search(self.buffer)
            if match is None:
                if len(self.buffer) > MAX_HEADER_BYTES:
                    self.dead = True
                return False
            block = bytes(self.buffer[: match.start()])
            del self.buffer[: match.end()]
            lines = re.split(rb"\r?\n", block)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                if sep:
                    headers[_text(name.strip()).lower()] = _text(value.strip())
            framing = self.on_headers(_Message(lines[0], headers))
            if framing == "dead":
                self.dead = True
                return False
            if framing == "tunnel":  # the rest of the stream is another protocol's (CONNECT)
                self.dead = True
                rest, self.buffer = bytes(self.buffer), bytearray()
                self.on_tunnel(rest)
                return False
            if framing == "none":
                self.on_end()
                return True
            if framing == "chunked":
                self.state = "chunk_size"
                return True
            if framing == "close":
                self.state = "close"
            else:
                self.state, self.remaining = "length", int(framing)
                if self.remaining == 0:
                    self.state = "headers"
                    self.on_end()
                    return True
            rest = self._body_bytes(bytes(self.buffer))
            self.buffer = bytearray(rest)
            return True
        if state in ("length", "chunk_data", "close"):
            rest = self._body_bytes(bytes(self.buffer))
            self.buffer = bytearray(rest)
            return True
        if state == "chunk_size":
            line = self._line()
            if line is None:
                return False
            size_text = line.split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                self.dead = True
                return False
            if size == 0:
                self.state = "trailer"
            else:
                self.state, self.remaining = "chunk_data", size
            return True
        if state == "chunk_crlf":
            line = self._line()
            if line is None:
                return False
            self.state = "chunk_size"
            return True
        if state == "trailer":
            line = self._line()
            if line is None:
                return False
            if not line:
                self.state = "headers"
                self.on_end()
            return True
        return False


def _content_length(headers: dict[str, str]) -> int | None:
    value = headers.get("content-length")
    if value is None:
        return None
    try:
        length = int(value.split(",")[0].strip())
    except ValueError:
        return None
    return length if length >= 0 else None


class Tunnel(Protocol):
    """What carries a CONNECT tunnel's bytes (an analyzer of sensors.sessions)."""

    @property
    def done(self) -> bool: ...
    def data(self, from_orig: bool, chunk: bytes, ts: float) -> None: ...
    def gap(self, from_orig: bool, size: int) -> None: ...
    def finish(self) -> None: ...


class HttpAnalyzer:
    """Feed both directions of one connection; completed transactions go to ``emit``.

    ``tunnel`` makes the analyzer of a CONNECT tunnel's content (called once, after the proxy's
    2xx); ``budget`` is shared by every connection's carves.
    """

    def __init__(self, emit: Callable[[HttpTransaction], None], carve_bytes: int = DEFAULT_CARVE_BYTES,
                 budget: CarveBudget | None = None, tunnel: Callable[[], Tunnel | None] | None = None) -> None:
        self.emit = emit
        self.carve_bytes = carve_bytes
        self.budget = budget if budget is not None else CarveBudget()
        self.make_tunnel = tunnel
        self.tunnel: Tunnel | None = None
        self.now = 0.0
        self.pending: deque[HttpTransaction] = deque()  # requests waiting for their response
        self.current_request: HttpTransaction | None = None
        self.current_response: HttpTransaction | None = None
        self.orig = _Direction(self._request_headers, self._request_body, self._request_end,
                               lambda rest: self._tunnel_data(True, rest))
        self.resp = _Direction(self._response_headers, self._response_body, self._response_end,
                               lambda rest: self._tunnel_data(False, rest))
        self.requests = 0
        self.orphan_responses = 0
        self.desynced = False
        self.decoding: Counter[str] = Counter()  # bodies with a Content-Encoding, by outcome (Carve.result)

    @property
    def done(self) -> bool:
        if self.tunnel is not None:
            return self.tunnel.done
        return self.orig.dead and self.resp.dead

    def data(self, from_orig: bool, chunk: bytes, ts: float) -> None:
        self.now = ts
        if self.tunnel is not None:
            self.tunnel.data(from_orig, chunk, ts)
            return
        if from_orig:
            self.orig.feed(chunk)
            return
        resp = self.resp
        if resp.state == "headers" and not resp.buffer and self.pending and self.pending[0].version == "0.9":
            # An HTTP/0.9 request gets an answer without status line or headers: all of it is body,
            # until close (Zeek reads it so even when the server answers with a 1.x status line).
            self.current_response = self.pending.popleft()
            resp.state = "close"
        resp.feed(chunk)

    def gap(self, from_orig: bool, size: int) -> None:
        if self.tunnel is not None:
            self.tunnel.gap(from_orig, size)
            return
        (self.orig if from_orig else self.resp).gap(size)

    def finish(self) -> None:
        """The connection ended: close-delimited bodies end here; unanswered requests are reported."""
        self.orig.end()
        self.resp.end()
        if self.current_response is not None:
            self._response_end()
        while self.pending:
            self._report(self.pending.popleft())
        if self.tunnel is not None:
            self.tunnel.finish()

    def _tunnel_data(self, from_orig: bool, rest: bytes) -> None:
        """The proxy said yes to CONNECT: from here on both directions carry the tunnel."""
        if self.tunnel is None:
            self.tunnel = self.make_tunnel() if self.make_tunnel is not None else None
            if self.tunnel is None:
                self.orig.dead = self.resp.dead = True
                return
            # the client's bytes already buffered after its CONNECT belong to the tunnel too
            early, self.orig.buffer = bytes(self.orig.buffer), bytearray()
            self.orig.dead = True
            if early:
                self.tunnel.data(True, early, self.now)
        if rest:
            self.tunnel.data(from_orig, rest, self.now)

    def _carve(self, carved: int, chunk: bytes) -> tuple[bytes, bool]:
        """(the part of ``chunk`` the carve keeps, whether the budget ran out)."""
        room = self.carve_bytes - carved
        if room <= 0:
            return b"", False
        piece = chunk[:room]
        granted = self.budget.take(len(piece))
        return (piece, False) if granted == len(piece) else (piece[:granted], True)

    # -- requests
    def _request_headers(self, message: _Message) -> str:
        match = _REQUEST_LINE.match(message.start_line)
        if match is None:
            self.desynced = True
            return "dead"
        method, uri, rest = match.groups()
        if uri.startswith(b"HTTP/") and not rest:
            uri, rest = b"", uri
        version_match = _VERSION.match(rest) if rest else None
        headers = message.headers
        transaction = HttpTransaction(
            self.now, method=_text(method), uri=_text(uri),
            version=_text(version_match.group(1)) if version_match else None if rest else "0.9",
            host=headers.get("host"), user_agent=headers.get("user-agent"), referrer=headers.get("referer"),
            request_headers=headers, request_content_type=headers.get("content-type"), cookie=headers.get("cookie"),
        )
        self.requests += 1
        transaction.depth = self.requests
        self.current_request = transaction
        self.pending.append(transaction)
        encoding = headers.get("content-encoding")
        if encoding:
            transaction.request_encoding = encoding.lower()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            framing = "chunked"
        else:
            length = _content_length(headers)
            framing = str(length) if length else "none"
        if encoding and framing != "none":
            transaction.request_decoder = Carve(encoding, self.carve_bytes)
        return framing

    def _request_body(self, chunk: bytes) -> None:
        transaction = self.current_request
        if transaction is None:
            return
        transaction.request_body_len += len(chunk)
        if not transaction.request_starved:
            piece, transaction.request_starved = self._carve(len(transaction.request_body), chunk)
            if piece:
                transaction.request_body += piece
                transaction.request_held += len(piece)
        if transaction.request_decoder is not None:
            transaction.request_held += transaction.request_decoder.feed(chunk, self.budget)

    def _request_end(self) -> None:
        self.current_request = None

    # -- responses
    def _response_headers(self, message: _Message) -> str:
        match = _STATUS_LINE.match(message.start_line)
        if match is None:
            self.desynced = True
            return "dead"
        version, status, reason = match.groups()
        code = int(status)
        if 100 <= code < 200 and code != 101:
            return "none"  # an interim answer: the final one follows
        if self.pending:
            transaction = self.pending.popleft()
        else:
            self.orphan_responses += 1
            transaction = HttpTransaction(self.now, depth=-self.orphan_responses)
        transaction.status_code = code
        transaction.status_msg = _text(reason) if reason else ""
        transaction.response_version = _text(version)
        transaction.response_content_type = message.headers.get("content-type")
        self.current_response = transaction
        headers = message.headers
        encoding = headers.get("content-encoding")
        if encoding:
            transaction.response_encoding = encoding.lower()
        if transaction.method == "HEAD" or code in _NO_BODY_STATUS:
            return "none"
        if transaction.method == "CONNECT" and 200 <= code < 300:
            self._response_end()
            return "tunnel"
        if code == 101:
            self._response_end()
            return "dead"  # the connection now carries another protocol
        if "chunked" in headers.get("transfer-encoding", "").lower():
            framing = "chunked"
        else:
            length = _content_length(headers)
            framing = "close" if length is None else str(length)
        if encoding and framing != "0":
            transaction.response_decoder = Carve(encoding, self.carve_bytes)
        return framing

    def _response_body(self, chunk: bytes) -> None:
        transaction = self.current_response
        if transaction is None:
            return
        transaction.response_body_len += len(chunk)
        if not transaction.response_starved:
            piece, transaction.response_starved = self._carve(len(transaction.response_body), chunk)
            if piece:
                transaction.response_body += piece
                transaction.response_held += len(piece)
        if transaction.response_decoder is not None:
            transaction.response_held += transaction.response_decoder.feed(chunk, self.budget)

    def _response_end(self) -> None:
        if self.current_response is not None:
            self._report(self.current_response)
            self.current_response = None

    def _report(self, transaction: HttpTransaction) -> None:
        """Swap in the decoded carves, mark cut ones, give their budget back, count decoding, and emit."""
        transaction.request_truncated = transaction.request_body_len > len(transaction.request_body)
        transaction.response_truncated = transaction.response_body_len > len(transaction.response_body)
        if transaction.request_decoder is not None:
            transaction.request_body, transaction.request_decoded, outcome = \
                transaction.request_decoder.result(transaction.request_body)
            transaction.request_decoder = None
            self.decoding[outcome] += 1
            if transaction.request_decoded:
                transaction.request_truncated = outcome == "capped"
        if transaction.response_decoder is not None:
            transaction.response_body, transaction.response_decoded, outcome = \
                transaction.response_decoder.result(transaction.response_body)
            transaction.response_decoder = None
            self.decoding[outcome] += 1
            if transaction.response_decoded:
                transaction.response_truncated = outcome == "capped"
        self.budget.release(transaction.request_held + transaction.response_held)
        transaction.request_held = transaction.response_held = 0
        self.emit(transaction)
