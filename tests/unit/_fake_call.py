"""A stand-in for `sems_lite.call.Call` in app unit tests: records what the app asked of
the call (answer, play, timers, hangup, handover) without SIP or media."""

from __future__ import annotations

from types import SimpleNamespace


class FakeUri:
    def __init__(self, user: str) -> None:
        self.user_unescaped = user

    def __str__(self) -> str:
        return f"sip:{self.user_unescaped}@example.org"


class FakeCall:
    _next = 0

    def __init__(self, apps: dict, user: str = "alice") -> None:
        FakeCall._next += 1
        self.id = f"c{FakeCall._next}"
        engine = SimpleNamespace(tick_index=0, ptime_ms=20)
        self.ua = SimpleNamespace(
            engine=engine, loop=object(), apps=SimpleNamespace(instance=apps.__getitem__)
        )
        self.from_addr = SimpleNamespace(uri=FakeUri(user))
        self.rate = 8000
        self.sink = self.source = None
        self.answered = False
        self.ended = False
        self.hung_up: str | None = None
        self.plays: list[tuple[list, bool]] = []
        self.on_finished = None
        self.timers: list[tuple[float, object, tuple]] = []
        self.handed_to: str | None = None

    @property
    def media_tick(self) -> int:
        return self.ua.engine.tick_index

    def answer(self) -> None:
        self.answered = True

    def play(self, *items, barge_in=False, on_finished=None):
        self.plays.append((list(items), barge_in))
        self.on_finished = on_finished

    def hangup(self, reason: str = "") -> None:
        self.hung_up = reason

    def set_timer(self, delay, callback, *args):
        self.timers.append((delay, callback, args))
        return SimpleNamespace(cancel=lambda: None)

    def handover(self, app_name: str) -> None:
        self.handed_to = app_name
