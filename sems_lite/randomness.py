"""Unpredictable identifiers (tags, branches, Call-IDs, SSRCs) from os.urandom.

The same source as the `secrets` module, without importing it: `secrets` pulls in
hashlib and with it OpenSSL, about 4 MB of resident memory a router would pay for nothing.
"""

from __future__ import annotations

import os


def token_hex(nbytes: int) -> str:
    return os.urandom(nbytes).hex()


def randbits(k: int) -> int:
    """A random integer of `k` bits (0 <= n < 2**k)."""
    return int.from_bytes(os.urandom((k + 7) // 8), "big") >> (-k % 8)
