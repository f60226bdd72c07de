"""SSH: the client's and the server's identification banners (RFC 4253 section 4.2).

A server may send other lines before its banner (RFC 4253 allows it; Zeek skips them);
only a line starting ``SSH-`` counts. Everything after the banners is encrypted.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MAX_BANNER_SEARCH = 8 * 1024


@dataclass(slots=True)
class SshBanners:
    ts: float
    client: str | None = None
    server: str | None = None

    @property
    def version(self) -> int | None:
        """2 for SSH-2.0 (and 1.99, which speaks both), 1 for SSH-1.x, as in Zeek's ssh.log."""
        banners = [b for b in (self.client, self.server) if b]
        if not banners:
            return None
        if all(b.startswith(("SSH-2.0", "SSH-1.99")) for b in banners):
            return 2
        return 1 if any(b.startswith("SSH-1.") and not b.startswith("SSH-1.99") for b in banners) else 2


class _Side:
    __slots__ = ("buffer", "banner", "dead")

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.banner: str | None = None
        self.dead = False

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while self.banner is None:
            at = self.buffer.find(b"\n")
            if at < 0:
                if len(self.buffer) > MAX_BANNER_SEARCH:
                    self.dead = True
                return
            line = bytes(self.buffer[:at]).rstrip(b"\r")
            del self.buffer[: at + 1]
            if line.startswith(b"SSH-"):
                self.banner = line.decode("utf-8", "replace")
                self.buffer.clear()


class SshAnalyzer:
    """Feed both directions; the banners go to ``emit`` once both are seen, or at finish."""

    def __init__(self, emit: Callable[[SshBanners], None]) -> None:
        self.emit = emit
        self.orig, self.resp = _Side(), _Side()
        self.record: SshBanners | None = None
        self.emitted = False

    @property
    def done(self) -> bool:
        return self.emitted or (self.orig.dead and self.resp.dead)

    def data(self, from_orig: bool, chunk: bytes, ts: float) -> None:
        side = self.orig if from_orig else self.resp
        if self.emitted or side.dead or side.banner is not None:
            return
        side.feed(chunk)
        if side.banner is not None:
            if self.record is None:
                self.record = SshBanners(ts)
            self.record.client, self.record.server = self.orig.banner, self.resp.banner
            if self.orig.banner and self.resp.banner:
                self._emit()

    def gap(self, from_orig: bool, size: int) -> None:
        side = self.orig if from_orig else self.resp
        if side.banner is None:
            side.dead = True

    def finish(self) -> None:
        self._emit()

    def _emit(self) -> None:
        if not self.emitted and self.record is not None:
            self.emitted = True
            self.emit(self.record)
