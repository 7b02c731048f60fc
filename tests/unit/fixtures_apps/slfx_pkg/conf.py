"""A dummy app inside a package (dotted module name)."""

from collections.abc import Mapping
from typing import Any


class Conference:
    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config


def create_app(config: Mapping[str, Any]) -> Conference:
    return Conference(config)
