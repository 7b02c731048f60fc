"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sems_lite.ua import UserAgent
from tests.unit.test_ua import FakeLoop, FakeTransports, build_ua

Agent = tuple[UserAgent, FakeTransports, FakeLoop]


@pytest.fixture
def ua_from(tmp_path: Path) -> Iterator[Callable[[str], Agent]]:
    """Factory: a UA on a fake clock and transport from YAML text; its calls end at teardown."""
    made: list[UserAgent] = []

    def factory(text: str) -> Agent:
        agent, net, loop = build_ua(text, str(tmp_path / "c.yaml"))
        made.append(agent)
        return agent, net, loop

    yield factory
    for agent in made:
        for call in list(agent.calls.values()):
            call._finish("test over")
