"""webconference without sockets: the PIN dialogue (digits in, steps out), rooms and their
control methods, muting in the mix, idle expiry on a fake clock."""

from __future__ import annotations

import array
import json
from types import SimpleNamespace

import pytest

from apps.webconference import (
    ALREADY_EXISTS,
    DIAL_FAILED,
    NOT_FOUND,
    ROOM_FULL,
    WRONG_PIN,
    PinCollector,
    RoomError,
    Step,
    Verdict,
    WebConference,
    register_control,
)
from sems_lite.control import ControlServer
from sems_lite.ua import DialError


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
        self.app_name = "webconference"
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
    register_control(control, lambda: app, None, "webconference")

    def rpc(method: str, params) -> dict:
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
        return json.loads(control.handle_rpc(body.encode()))

    created = rpc("conf.create", {"room": "31", "admin_pin": "0", "pin": "4"})
    assert created["result"]["room"] == "31"
    assert rpc("conf.list", [])["result"] == [{"room": "31", "participants": 0, "has_pin": True}]
    assert rpc("conf.create", ["31", "0", "4"])["error"]["code"] == ALREADY_EXISTS
    assert rpc("conf.info", ["nope"])["error"]["code"] == NOT_FOUND
    assert rpc("conf.info", {"bogus": 1})["error"]["code"] == -32602
    dial_out = rpc("conf.dialout", ["31", "sip:x@y"])["error"]  # no UA known yet
    assert dial_out["code"] == DIAL_FAILED and "no user agent" in dial_out["message"]
    call = FakeCall(engine)
    app.on_invite(call)
    dial(app, call, "31#4#")
    muted = rpc("conf.mute", {"room": "31", "participant": call.id})["result"]
    assert muted["state"] == "muted"
    assert rpc("conf.unmute", ["31", call.id])["result"]["state"] == "speaking"
    assert rpc("conf.kick", ["31", call.id])["result"] is True and call.hung_up
    assert rpc("conf.delete", ["31"])["result"] is True
    assert rpc("conf.list", [])["result"] == []


# --- dial-out ------------------------------------------------------------------------------


class FakeUA:
    """dial() hands back a fake call; the test then answers it or fails it."""

    def __init__(self, engine: SimpleNamespace) -> None:
        self.engine = engine
        self.dialed: list[tuple[str, str, str, float]] = []
        self.hooks: dict[str, tuple] = {}

    def dial(self, target, app_name, *, on_answered, on_failed, caller="sems", ring_timeout=60):
        if not target.startswith("sip:"):
            raise DialError(f"target {target!r} is not a sip: URI")
        call = FakeCall(self.engine)
        call.ua = self
        call.final_status = 0
        self.dialed.append((target, app_name, caller, ring_timeout))
        self.hooks[call.id] = (call, on_answered, on_failed)
        return call

    def answer(self, call_id: str) -> FakeCall:
        call, on_answered, _ = self.hooks[call_id]
        on_answered(call)
        return call

    def fail(self, app: WebConference, call_id: str, status: int) -> None:
        call, _, on_failed = self.hooks[call_id]
        call.final_status = status
        app.on_end(call, f"callee answered {status}")  # the call ends first, as in dialout.py
        on_failed(call, status)


@pytest.fixture
def dial_env(env):
    app, clock, engine = env
    ua = FakeUA(engine)
    app.attach(ua, "webconf")
    app.create_room("5", "77", "1")
    return app, clock, engine, ua


def test_dialout_rings_then_joins_and_is_heard(dial_env):
    app, _clock, engine, ua = dial_env
    caller = FakeCall(engine)
    app.on_invite(caller)
    dial(app, caller, "5#1#")
    entry = app.dial_out("5", "sip:200@10.0.0.7")
    assert ua.dialed == [("sip:200@10.0.0.7", "webconf", "sems", 60.0)]
    assert entry["state"] == "ringing" and entry["from"] == "sip:200@10.0.0.7"
    people = app.room_info("5")["participants"]
    assert [p["state"] for p in people] == ["speaking", "ringing"]
    assert app.list_rooms()[0]["participants"] == 1  # ringing is not in the room yet
    callee = ua.answer(entry["id"])
    people = app.room_info("5")["participants"]
    assert [(p["id"], p["state"]) for p in people] == [
        (caller.id, "speaking"),
        (callee.id, "speaking"),
    ]
    assert people[1]["dialout"] == "joined" and people[1]["from"] == "sip:200@10.0.0.7"
    assert "dialout" not in people[0]
    for call in (caller, callee):
        call.sink.prompt = None
    for _ in range(10):  # past the join beep
        engine.tick_index += 1
        callee.sink.write(tone(3000))
        caller.sink.write(bytes(320))
        heard = array.array("h", bytes(caller.source.read(320)))
        callee.source.read(320)
    assert max(heard) == 3000  # the caller hears the callee
    assert app.set_muted("5", callee.id, True)["state"] == "muted"  # like anyone else
    assert app.kick("5", callee.id) is True and callee.hung_up
    app.on_end(callee, "kicked")
    assert [p["id"] for p in app.room_info("5")["participants"]] == [caller.id]


def test_failed_dialout_is_listed_with_its_status_for_a_while(dial_env):
    app, clock, _engine, ua = dial_env
    entry = app.dial_out("5", "sip:busy@h", "77")
    ua.fail(app, entry["id"], 486)
    (listed,) = app.room_info("5")["participants"]
    assert listed["state"] == "failed" and listed["status"] == 486
    app.failed_linger = 10
    clock.now += 9
    assert len(app.room_info("5")["participants"]) == 1
    clock.now += 2
    assert app.room_info("5")["participants"] == []


def test_dialout_errors(dial_env):
    app, _clock, _engine, ua = dial_env
    with pytest.raises(RoomError) as exc:
        app.dial_out("5", "sip:a@h", "1")  # the participants' PIN is not the admin PIN
    assert exc.value.code == WRONG_PIN
    with pytest.raises(RoomError) as exc:
        app.dial_out("nope", "sip:a@h")
    assert exc.value.code == NOT_FOUND
    with pytest.raises(RoomError) as exc:
        app.dial_out("5", "tel:123")
    assert exc.value.code == DIAL_FAILED and "not a sip: URI" in str(exc.value)
    app.max_participants = 1
    app.dial_out("5", "sip:a@h")
    with pytest.raises(RoomError) as exc:
        app.dial_out("5", "sip:b@h")  # the ringing one counts
    assert exc.value.code == ROOM_FULL
    assert len(ua.dialed) == 1


def test_kick_cancels_a_ringing_dialout_and_a_late_answer_is_hung_up(dial_env):
    app, _clock, _engine, ua = dial_env
    entry = app.dial_out("5", "sip:a@h")
    assert app.kick("5", entry["id"]) is True
    callee = ua.hooks[entry["id"]][0]
    assert callee.hung_up == "cancelled from the control interface"
    assert app.room_info("5")["participants"] == []
    callee.hung_up = None
    ua.answer(entry["id"])  # the 2xx crossed the CANCEL
    assert callee.hung_up == "dial-out no longer wanted"
    assert app.room_info("5")["participants"] == []


def test_deleting_the_room_cancels_its_dialouts(dial_env):
    app, _clock, _engine, ua = dial_env
    entry = app.dial_out("5", "sip:a@h")
    app.delete_room("5")
    callee = ua.hooks[entry["id"]][0]
    assert callee.hung_up == "conference room deleted"


def test_the_first_call_gives_the_app_its_user_agent_and_name(env):
    app, _clock, engine = env
    assert app.ua is None
    call = FakeCall(engine)
    call.app_name = "wc"
    app.on_invite(call)
    assert app.ua is call.ua and app.app_name == "wc"


def test_dialout_over_json_rpc_with_the_servers_ua(env):
    app, _clock, engine = env
    ua = FakeUA(engine)
    control = ControlServer(SimpleNamespace(), "127.0.0.1", 0)
    register_control(control, lambda: app, ua, "webconf2")

    def rpc(method: str, params) -> dict:
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
        return json.loads(control.handle_rpc(body.encode()))

    rpc("conf.create", ["8", "0"])
    ringing = rpc("conf.dialout", {"room": "8", "uri": "sip:300@h", "pin": "0"})["result"]
    assert ringing["state"] == "ringing" and ua.dialed[0][:2] == ("sip:300@h", "webconf2")
    assert rpc("conf.dialout", ["8", "sip:1@h", "9"])["error"]["code"] == WRONG_PIN
    ua.answer(ringing["id"])
    (joined,) = rpc("conf.info", ["8"])["result"]["participants"]
    assert joined["dialout"] == "joined" and joined["id"] == ringing["id"]
