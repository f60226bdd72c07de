"""TCP stream reassembly: segments in any order, with retransmissions, to in-order bytes.

Each direction of a connection is one ``TcpStream``. As in Zeek's reassembler, bytes are
delivered in sequence order as soon as they are contiguous; a retransmission or overlap
keeps the bytes that arrived first (a retransmission carrying *different* bytes is counted:
it is how IDS evasion looks); a hole that never fills is reported to the analyzer as a gap
of so many bytes, either when the out-of-order buffer is full or when the stream ends.
Sequence numbers wrap modulo 2**32.
"""
from __future__ import annotations

from collections.abc import Callable

_MOD = 1 << 32
_HALF = 1 << 31

Deliver = Callable[[bytes], None]
Gap = Callable[[int], None]


class TcpStream:
    """One direction's byte stream; ``data`` and ``gap`` receive what the analyzer should see."""

    __slots__ = ("next_seq", "pending", "pending_bytes", "max_pending", "data", "gap", "delivered",
                 "missed", "retransmitted", "inconsistent")

    def __init__(self, data: Deliver, gap: Gap, max_pending: int = 256 * 1024) -> None:
        self.next_seq: int | None = None  # sequence number of the next byte to deliver
        self.pending: dict[int, bytes] = {}  # out-of-order segments by sequence number
        self.pending_bytes = 0
        self.max_pending = max_pending
        self.data, self.gap = data, gap
        self.delivered = 0
        self.missed = 0  # bytes never seen (gaps), like Zeek's missed_bytes
        self.retransmitted = 0  # segments wholly seen before
        self.inconsistent = 0  # retransmissions whose bytes differ from the first copy

    def syn(self, seq: int) -> None:
        """The SYN fixes the stream's start: its first data byte is seq + 1."""
        if self.next_seq is None:
            self.next_seq = (seq + 1) % _MOD

    def segment(self, seq: int, payload: bytes) -> None:
        """Account one segment's payload."""
        if not payload:
            return
        if self.next_seq is None:  # joined mid-stream (SYN missed): start here
            self.next_seq = seq
        ahead = (seq - self.next_seq) % _MOD
        if ahead >= _HALF:  # starts before what was delivered: a retransmission or an overlap
            seen = _MOD - ahead
            if seen >= len(payload):
                self.retransmitted += 1
                return
            payload, seq = payload[seen:], self.next_seq
            ahead = 0
        if ahead == 0:
            self._deliver(payload)
            if self.pending:
                self._drain()
            return
        held = self.pending.get(seq)
        if held is not None:
            if held != payload[: len(held)]:
                self.inconsistent += 1
            if len(held) >= len(payload):
                self.retransmitted += 1
                return
            self.pending_bytes -= len(held)
        self.pending[seq] = payload
        self.pending_bytes += len(payload)
        if self.pending_bytes > self.max_pending:
            self._skip_to_pending()

    def flush(self) -> None:
        """The stream ended: deliver what is buffered, reporting the holes as gaps."""
        while self.pending:
            self._skip_to_pending()

    def _deliver(self, payload: bytes) -> None:
        assert self.next_seq is not None
        self.next_seq = (self.next_seq + len(payload)) % _MOD
        self.delivered += len(payload)
        self.data(payload)

    def _drain(self) -> None:
        progress = True
        while progress and self.pending:
            progress = False
            for seq in list(self.pending):
                assert self.next_seq is not None
                ahead = (seq - self.next_seq) % _MOD
                if ahead and ahead < _HALF:
                    continue
                payload = self.pending.pop(seq)
                self.pending_bytes -= len(payload)
                seen = (_MOD - ahead) % _MOD
                if seen < len(payload):
                    self._deliver(payload[seen:])
                    progress = True
                else:
                    self.retransmitted += 1

    def _skip_to_pending(self) -> None:
        """Give up on the hole before the earliest buffered segment and carry on from it."""
        assert self.next_seq is not None
        base = self.next_seq
        first = min(self.pending, key=lambda seq: (seq - base) % _MOD)
        hole = (first - base) % _MOD
        if hole and hole < _HALF:
            self.missed += hole
            self.next_seq = first
            self.gap(hole)
        self._drain()
