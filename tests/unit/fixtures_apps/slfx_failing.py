"""create_app() rejects its config."""

from collections.abc import Mapping
from typing import Any


def create_app(config: Mapping[str, Any]) -> object:
    raise ValueError(f"bad greeting {config.get('greeting')!r}")
