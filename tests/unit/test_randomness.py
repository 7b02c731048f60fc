"""Identifiers from os.urandom: right sizes and ranges, and the box core never loads
hashlib (OpenSSL costs ~4 MB of RSS) unless digest authentication is configured."""

from __future__ import annotations

import subprocess
import sys

from sems_lite.randomness import randbits, token_hex


def test_token_hex_length_and_uniqueness() -> None:
    tokens = {token_hex(6) for _ in range(1000)}
    assert len(tokens) == 1000 and all(len(t) == 12 for t in tokens)


def test_randbits_covers_its_range_only() -> None:
    for k in (1, 7, 16, 31, 32):
        values = [randbits(k) for _ in range(2000)]
        assert min(values) >= 0 and max(values) < 2**k
        assert max(values) >= 2 ** (k - 1)  # the top bit is reachable


def test_the_server_does_not_import_hashlib() -> None:
    code = (
        "import sys, sems_lite.server, sems_lite.cli, apps.echo, apps.announcement\n"
        "print('_hashlib' in sys.modules, 'secrets' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
