"""Secrets at rest: passwords hashed with Argon2id, bearer and sensor tokens with SHA-256."""
from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A fresh random token (256 bits) to hand to a user or a sensor exactly once."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens are high-entropy random strings, so a fast hash is enough to make a
    # leaked database useless for authentication (as GitHub does for PATs).
    return hashlib.sha256(token.encode()).hexdigest()
