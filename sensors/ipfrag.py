"""IP fragment reassembly (IPv4 and IPv6), bounded in memory and time.

Like Zeek, a datagram is passed on only once every byte of it has arrived, and where
fragments overlap the bytes that arrived first win (an overlap with different bytes is
counted: it is a known IDS-evasion trick). Incomplete datagrams are dropped after
``timeout`` seconds of capture time or when ``max_datagrams`` are pending.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

MAX_DATAGRAM = 65535


@dataclass(slots=True)
class _Pending:
    first_ts: float
    pieces: list[tuple[int, bytes]] = field(default_factory=list)  # (offset, data) in arrival order
    total: int | None = None  # payload length, known once the last fragment arrived
    size: int = 0


@dataclass
class Defragmenter:
    """Fragments in, whole IP payloads out; ``counters`` say what was reassembled or dropped."""

    max_datagrams: int = 10_000
    timeout: float = 30.0

    def __post_init__(self) -> None:
        self._pending: OrderedDict[tuple[Any, ...], _Pending] = OrderedDict()
        self.fragments = 0
        self.reassembled = 0
        self.dropped = 0  # incomplete datagrams given up on (timeout, table full, absurd size)
        self.overlaps_inconsistent = 0
        self.held_last = False  # the last add() kept its fragment waiting

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, ts: float, key: tuple[Any, ...], offset: int, more: bool, data: bytes) -> bytes | None:
        """Account one fragment; return the datagram's whole payload when this one completes it."""
        self.fragments += 1
        self._expire(ts)
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= self.max_datagrams:
                self._pending.popitem(last=False)
                self.dropped += 1
            pending = self._pending[key] = _Pending(ts)
        end = offset + len(data)
        if end > MAX_DATAGRAM or (pending.total is not None and end > pending.total and data):
            del self._pending[key]
            self.dropped += 1
            self.held_last = True
            return None
        pending.pieces.append((offset, data))
        pending.size += len(data)
        if not more:
            pending.total = end
        whole = self._complete(pending) if pending.total is not None else None
        self.held_last = whole is None
        if whole is not None:
            del self._pending[key]
            self.reassembled += 1
        return whole

    def _complete(self, pending: _Pending) -> bytes | None:
        assert pending.total is not None
        covered = 0
        for offset, data in sorted(pending.pieces, key=lambda piece: piece[0]):
            if offset > covered:
                return None
            covered = max(covered, offset + len(data))
        if covered < pending.total:
            return None
        buffer = bytearray(pending.total)
        written = bytearray(pending.total)  # 1 where an earlier fragment already set the byte
        for offset, data in pending.pieces:  # arrival order: the first bytes stay
            piece = data[: max(0, pending.total - offset)]
            stop = offset + len(piece)
            if not any(written[offset:stop]):
                buffer[offset:stop] = piece
                written[offset:stop] = b"\x01" * len(piece)
                continue
            differs = False
            for at, byte in enumerate(piece, offset):
                if not written[at]:
                    buffer[at], written[at] = byte, 1
                elif buffer[at] != byte:
                    differs = True
            self.overlaps_inconsistent += differs
        return bytes(buffer)

    def _expire(self, now: float) -> None:
        while self._pending:
            key, pending = next(iter(self._pending.items()))
            if pending.first_ts > now - self.timeout:
                return
            del self._pending[key]
            self.dropped += 1
