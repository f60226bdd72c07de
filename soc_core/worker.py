"""Run untrusted parsing (an uploaded spreadsheet) in a child process with a memory and a time limit.

An upload is parsed by libraries that trust their input (openpyxl, the csv module): a 1.6 KB XLSX
with one merged range kept 280 MB and stalled every route for 15 s, a 173 KB sheet of 1,050,000
rows answered 500 after 35 s (issue 14). In a child the parse cannot take the server's memory
(``RLIMIT_AS``) nor its time (the child is killed at the deadline), and the server's event loop and
interpreter stay free for other requests while it waits.

The child is started by the ``forkserver`` method: a small clean process forks it, so neither the
server's threads nor its memory are copied.
"""
from __future__ import annotations

import multiprocessing
import resource
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")
_CONTEXT = multiprocessing.get_context("forkserver")


class WorkerLimitExceeded(RuntimeError):
    """The child ran out of its memory or time, or died; ``limit`` says which ("memory", "time", "crash")."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


class WorkerError(RuntimeError):
    """The function raised in the child an exception that could not be sent back as itself."""


def run_limited(function: Callable[..., T], *args: Any, memory_bytes: int, seconds: float) -> T:
    """``function(*args)`` in a child process limited to ``memory_bytes`` of address space and
    ``seconds`` of wall time; its result (or its exception, re-raised here) comes back pickled.
    Blocks the calling thread, not the interpreter: call it from a worker thread in async code."""
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(target=_child, args=(sender, function, args, memory_bytes), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(seconds):
            raise WorkerLimitExceeded("time", f"gave up after {seconds:g} s")
        try:
            ok, payload = receiver.recv()
        except EOFError:
            child.join(5)
            raise WorkerLimitExceeded("crash", f"the worker died (exit code {child.exitcode})") from None
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(5)
    if ok:
        return payload  # type: ignore[no-any-return]
    if isinstance(payload, BaseException):
        raise payload
    if payload == "MemoryError":
        raise WorkerLimitExceeded("memory", f"needed more than {memory_bytes // (1024 * 1024)} MB")
    raise WorkerError(payload)


def _child(sender: Connection, function: Callable[..., Any], args: tuple[Any, ...], memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        result: tuple[bool, Any] = (True, function(*args))
    except MemoryError:
        result = (False, "MemoryError")
    except Exception as exc:  # noqa: BLE001 - sent to the parent, which raises it
        result = (False, exc)
    try:
        sender.send(result)
    except MemoryError:
        sender.send((False, "MemoryError"))
    except Exception:  # noqa: BLE001 - e.g. an exception that does not pickle
        sender.send((False, "".join(traceback.format_exception_only(result[1]))[:2000] if not result[0] else "unpicklable result"))
    finally:
        sender.close()
