"""A well-formed dummy app: records its config and how often it was created."""

from collections.abc import Mapping
from typing import Any

created = 0


class DummyApp:
    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config


def create_app(config: Mapping[str, Any]) -> DummyApp:
    global created
    created += 1
    return DummyApp(config)
