"""create_app() forgets to return the app."""

from collections.abc import Mapping
from typing import Any


def create_app(config: Mapping[str, Any]) -> None:
    return None
