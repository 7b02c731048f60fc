"""Cross tests: the kernels built for each board and run under qemu-user (boards/)."""

from __future__ import annotations


def pytest_configure(config) -> None:
    # registered here too, so `-m cross` works before pyproject.toml lists the marker
    config.addinivalue_line(
        "markers", "cross: cross-builds for a board with zig and runs the result under qemu"
    )
