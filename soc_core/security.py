"""Secrets at rest: passwords hashed with Argon2id, bearer and sensor tokens with SHA-256.

Argon2id holds its whole memory cost while it runs, so concurrent logins multiply it: the parameters are
OWASP's minimum for Argon2id (m=19 MiB, t=2, p=1; Password Storage Cheat Sheet) instead of argon2-cffi's
default 64 MiB × 4 lanes, and at most ``max_concurrent_hashes`` hashes run at once (the rest wait, then
are refused with ``HashingBusy``). Hashes made with other parameters still verify and are rehashed at the
next successful login.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASH_MEMORY_KIB = 19 * 1024
HASH_TIME_COST = 2
HASH_PARALLELISM = 1

T = TypeVar("T")
_hasher = PasswordHasher(time_cost=HASH_TIME_COST, memory_cost=HASH_MEMORY_KIB, parallelism=HASH_PARALLELISM)
_slot_count = 4
_slots = threading.BoundedSemaphore(_slot_count)
# Hashes run on these threads only: each thread's malloc arena keeps the 19 MiB it used, so hashing on any of
# the server's 40 request threads would let the resident memory grow to 40 × 19 MiB over time.
_workers = ThreadPoolExecutor(max_workers=_slot_count, thread_name_prefix="argon2")
_wait_seconds = 10.0
# Verified against when the user does not exist, so an unknown name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class HashingBusy(RuntimeError):
    """Every password-hashing slot stayed busy for the whole wait: answer 503, the client retries."""


def limit_concurrent_hashing(slots: int, wait_seconds: float) -> None:
    """Set how many hashes run at once (auth.max_concurrent_hashes) and how long a login waits for a slot."""
    global _slots, _slot_count, _wait_seconds, _workers
    if slots != _slot_count:
        _workers = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="argon2")
    _slots, _slot_count, _wait_seconds = threading.BoundedSemaphore(slots), slots, wait_seconds


def _in_slot(work: Callable[[], T]) -> T:
    """Run ``work`` on a hashing thread once a slot is free (HashingBusy after the wait)."""
    if not _slots.acquire(timeout=_wait_seconds):
        raise HashingBusy("登录繁忙，请稍后重试 / too many logins at once, retry shortly")
    try:
        return _workers.submit(work).result()
    finally:
        _slots.release()


def hash_password(password: str) -> str:
    return _in_slot(lambda: _hasher.hash(password))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_password(password_hash: str, password: str) -> bool:
    return _in_slot(lambda: _verify(password_hash, password))


def verify_dummy_password(password: str) -> None:
    """Spend the time of one verification for a user who does not exist (no timing oracle for user names)."""
    verify_password(_DUMMY_HASH, password)


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def new_token() -> str:
    """A fresh random token (256 bits) to hand to a user or a sensor exactly once."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens are high-entropy random strings, so a fast hash is enough to make a
    # leaked database useless for authentication (as GitHub does for PATs).
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(left: str, right: str) -> bool:
    """Constant-time comparison of two secrets (or their hashes)."""
    return hmac.compare_digest(left.encode(), right.encode())
