"""webconference without sockets: the PIN dialogue (digits in, steps out), rooms and their
control methods, muting in the mix, idle expiry on a fake clock."""

from __future__ import annotations

import array
import json
from types import SimpleNamespace

import pytest

from apps.webconference import (
    ALREADY_EXISTS,
    NOT_FOUND,
    NOT_IMPLEMENTED,
    PinCollector,
    RoomError,
    Step,
    Verdict,
    WebConference,
    register_control,
)
from sems_lite.control import ControlServer


def checker(rooms: dict[str, str]):
    def check(room: str, pin: str) -> Verdict:
        if room not in rooms:
            return Verdict.UNKNOWN_ROOM
        return Verdict.OK if pin == rooms[room] else Verdict.WRONG_PIN

    return check


def feed(collector: PinCollector, keys: str) -> list[Step]:
    return [s for s in map(collector.feed, keys) if s is not None]


def test_right_room_and_pin_join():
    c = PinCollector(checker({"42": "1234"}))
    assert feed(c, "42#") == [Step.ASK_PIN]
    assert c.room == "42"
    assert feed(c, "1234#") == [Step.JOIN]
    assert c.done and c.pin == "1234"
    assert feed(c, "1#") == []  # finished: digits are ignored


def test_wrong_pin_reprompts_then_third_failure_says_goodbye():
    c = PinCollector(checker({"42": "1234"}))
    assert feed(c, "42#9#") == [Step.ASK_PIN, Step.WRONG_PIN]
    assert c.room == "42"  # the room stays: only the PIN is asked again
    assert feed(c, "8#") == [Step.WRONG_PIN]
    assert feed(c, "1234#") == [Step.JOIN]  # second chance still allowed before the third
    c = PinCollector(checker({"42": "1234"}))
    assert feed(c, "42#1#2#3#") == [Step.ASK_PIN, Step.WRONG_PIN, Step.WRONG_PIN, Step.GOODBYE]
    assert c.done and c.attempts == 3
    assert feed(c, "1234#") == []


def test_unknown_room_asks_for_the_room_again_and_counts_as_a_failure():
    c = PinCollector(checker({"42": "1"}), max_attempts=2)
    assert feed(c, "7#1#") == [Step.ASK_PIN, Step.UNKNOWN_ROOM]
    assert c.room is None
    assert feed(c, "42#2#") == [Step.ASK_PIN, Step.GOODBYE]


def test_star_clears_the_entry_and_stray_hash_is_ignored():
    c = PinCollector(checker({"42": "55"}))
    assert feed(c, "#") == []
    assert feed(c, "9*42#") == [Step.ASK_PIN]
    assert feed(c, "77*55#") == [Step.JOIN]


def test_empty_pin_room_accepts_plain_hash():
    c = PinCollector(checker({"5": ""}))
    assert feed(c, "5##") == [Step.ASK_PIN, Step.JOIN]


def test_entries_are_bounded():
    seen: list[tuple[str, str]] = []

    def check(room: str, pin: str) -> Verdict:
        seen.append((room, pin))
        return Verdict.WRONG_PIN

    c = PinCollector(check)
    feed(c, "1" * 100 + "#" + "2" * 100 + "#")
    assert seen == [("1" * 16, "2" * 16)]


# --- the app with fake calls --------------------------------------------------------------


class FakeCall:
    _next = 0

    def __init__(self, engine: SimpleNamespace) -> None:
        FakeCall._next += 1
        self.id = f"c{FakeCall._next}"
        self.ua = SimpleNamespace(engine=engine)
        self.from_addr = SimpleNamespace(uri=f"sip:user{self.id}@example.org")
        self.rate = 8000
        self.sink = self.source = None
        self.answered = False
        self.hung_up: str | None = None
        self.plays: list[tuple[list, bool]] = []
        self.on_finished = None

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


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def env():
    clock = Clock()
    app = WebConference({"room_idle_timeout": 60}, clock=clock)
    engine = SimpleNamespace(tick_index=0, ptime_ms=20)
    return app, clock, engine


def dial(app: WebConference, call: FakeCall, keys: str) -> None:
    for k in keys:
        app.on_dtmf(call, k, 100)


def tone(level: int) -> bytes:
    return array.array("h", [level if i % 2 else -level for i in range(160)]).tobytes()


def test_caller_joins_with_right_pin_and_is_listed(env):
    app, _clock, engine = env
    app.create_room("42", "999", "1234")
    call = FakeCall(engine)
    app.on_invite(call)
    assert call.answered and len(call.plays) == 1
    dial(app, call, "42#1234#")
    info = app.room_info("42")
    assert [p["id"] for p in info["participants"]] == [call.id]
    assert info["participants"][0]["state"] == "speaking"
    assert call.sink is call.source  # the member is both ends of the call's audio
    # The admin PIN lets a caller in as well.
    other = FakeCall(engine)
    app.on_invite(other)
    dial(app, other, "42#999#")
    assert len(app.room_info("42")["participants"]) == 2


def test_three_wrong_pins_end_the_call_after_goodbye(env):
    app, _clock, engine = env
    app.create_room("42", "999", "1234")
    call = FakeCall(engine)
    app.on_invite(call)
    dial(app, call, "42#1#2#")
    assert call.hung_up is None and len(call.plays) == 4  # enter room, pin, wrong x2
    dial(app, call, "3#")
    assert call.hung_up is None  # goodbye is playing first
    call.on_finished()
    assert call.hung_up == "wrong PIN"
    assert app.room_info("42")["participants"] == []


def test_mute_takes_a_participant_out_of_the_mix(env):
    app, _clock, engine = env
    app.create_room("1", "9", "")
    a, b = FakeCall(engine), FakeCall(engine)
    for call in (a, b):
        app.on_invite(call)
        dial(app, call, "1##")
    for member in (a.sink, b.sink):
        member.prompt = None  # skip the "entering" beep

    def tick(level_a: int) -> bytes:
        engine.tick_index += 1
        a.sink.write(tone(level_a))
        b.sink.write(bytes(320))
        a.source.read(320)
        return bytes(b.source.read(320))

    heard = array.array("h", tick(4000))
    assert max(heard) > 3000  # b hears a
    app.set_muted("1", a.id, True)
    assert app.room_info("1")["participants"][0]["state"] == "muted"
    for _ in range(10):  # let the join beep finish
        heard = array.array("h", tick(4000))
    assert max(heard) == 0 and min(heard) == 0
    app.set_muted("1", a.id, False)
    assert max(array.array("h", tick(4000))) > 3000
    talk = app.room_info("1")["participants"][0]
    assert talk["talking"] is True and talk["talk_time_s"] == pytest.approx(0.04)


def test_kick_delete_and_errors(env):
    app, _clock, engine = env
    app.create_room("7", "1", "2")
    with pytest.raises(RoomError) as exc:
        app.create_room("7", "1", "2")
    assert exc.value.code == ALREADY_EXISTS
    for bad in ("", "12a", "1" * 17, None, True):
        with pytest.raises(RoomError):
            app.create_room(bad, "1", "2")
    call = FakeCall(engine)
    app.on_invite(call)
    dial(app, call, "7#2#")
    assert app.kick("7", call.id) is True and call.hung_up
    with pytest.raises(RoomError) as exc:
        app.kick("7", "nobody")
    assert exc.value.code == NOT_FOUND
    app.on_end(call, "kicked")
    assert app.room_info("7")["participants"] == []
    assert app.delete_room("7") is True
    assert app.list_rooms() == []


def test_rooms_expire_only_when_empty_for_the_idle_timeout(env):
    app, clock, engine = env
    app.create_room("1", "9", "5")
    app.create_room("2", "9", "5")
    call = FakeCall(engine)
    app.on_invite(call)
    dial(app, call, "1#5#")
    clock.now += 61
    assert [r["room"] for r in app.list_rooms()] == ["1"]  # room 2 was never used
    app.on_end(call, "bye")
    clock.now += 59
    assert [r["room"] for r in app.list_rooms()] == ["1"]
    clock.now += 2
    assert app.list_rooms() == []


def test_control_methods_over_json_rpc(env):
    app, _clock, engine = env
    control = ControlServer(SimpleNamespace(), "127.0.0.1", 0)
    register_control(control, lambda: app)

    def rpc(method: str, params) -> dict:
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
        return json.loads(control.handle_rpc(body.encode()))

    created = rpc("conf.create", {"room": "31", "admin_pin": "0", "pin": "4"})
    assert created["result"]["room"] == "31"
    assert rpc("conf.list", [])["result"] == [{"room": "31", "participants": 0, "has_pin": True}]
    assert rpc("conf.create", ["31", "0", "4"])["error"]["code"] == ALREADY_EXISTS
    assert rpc("conf.info", ["nope"])["error"]["code"] == NOT_FOUND
    assert rpc("conf.info", {"bogus": 1})["error"]["code"] == -32602
    call = FakeCall(engine)
    app.on_invite(call)
    dial(app, call, "31#4#")
    muted = rpc("conf.mute", {"room": "31", "participant": call.id})["result"]
    assert muted["state"] == "muted"
    assert rpc("conf.unmute", ["31", call.id])["result"]["state"] == "speaking"
    assert rpc("conf.kick", ["31", call.id])["result"] is True and call.hung_up
    dial_out = rpc("conf.dialout", ["31", "sip:x@y"])["error"]
    assert dial_out["code"] == NOT_IMPLEMENTED and "not implemented" in dial_out["message"]
    assert rpc("conf.delete", ["31"])["result"] is True
    assert rpc("conf.list", [])["result"] == []
