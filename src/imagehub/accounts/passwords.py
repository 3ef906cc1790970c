"""Password hashing (argon2id), off the event loop and bounded in memory."""

from __future__ import annotations

from functools import lru_cache

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the RFC 9106 low-memory profile (64 MiB, t=3)
# Each hash takes ~64 MiB and tens of milliseconds of CPU: bound how many run at once so a
# flood of logins cannot exhaust memory; the rest wait their turn.
_hashing_slots = anyio.CapacityLimiter(4)


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password, limiter=_hashing_slots)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("not-a-real-password")


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        # An unknown email still pays for one verification, so timing does not tell.
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    return await anyio.to_thread.run_sync(_verify, password_hash, password, limiter=_hashing_slots)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
