"""Conference dial-out without the network: the `#*` number `*` key parser, and the app
moving caller and callee between the room and their private room (fake calls, fake UA)."""

from __future__ import annotations

import array
import itertools
from types import SimpleNamespace

import pytest

from apps.conference import (
    FAIL_BEEP_HZ,
    MAX_DIALOUT_DIGITS,
    Conference,
    DialoutKeys,
    KeyAction,
    Phase,
)
from sems_lite.ua import DialError, takes_dtmf

# --- the key parser ----------------------------------------------------------------------


def feed(keys: DialoutKeys, digits: str) -> list[KeyAction]:
    return [a for a in map(keys.feed, digits) if a is not None]


def test_hash_star_number_star_dials_the_number():
    k = DialoutKeys()
    assert feed(k, "12#*555*") == [KeyAction.DIAL]
    assert k.number == "555" and k.phase is Phase.RINGING
    assert feed(k, "123*") == []  # while it rings only `#` means something


def test_hash_cancels_a_ringing_call_and_keys_start_over():
    k = DialoutKeys()
    assert feed(k, "#*7*#") == [KeyAction.DIAL, KeyAction.DROP]
    assert k.phase is Phase.IDLE and k.number == ""
    assert feed(k, "#*8*") == [KeyAction.DIAL] and k.number == "8"


def test_after_the_answer_star_connects_and_hash_drops():
    k = DialoutKeys()
    feed(k, "#*1*")
    k.answered()
    assert feed(k, "5*") == [KeyAction.CONNECT]  # a digit in between means nothing
    assert k.phase is Phase.IDLE
    feed(k, "#*2*")
    k.answered()
    assert feed(k, "#") == [KeyAction.DROP]
    assert feed(k, "*") == []  # back in the room: a lone `*` does nothing


def test_prefix_variants_and_abandoned_numbers():
    k = DialoutKeys()
    assert feed(k, "##*3*") == [KeyAction.DIAL] and k.number == "3"  # `##*` still starts
    k.reset()
    assert feed(k, "#1*") == []  # `#` then a digit: not a dial-out
    assert feed(k, "#**") == []  # no number: nothing to dial
    assert feed(k, "#*12#34*") == []  # `#` abandons the number; `34*` alone is nothing
    assert feed(k, "#*4A5*") == [KeyAction.DIAL] and k.number == "45"  # A-D are ignored


def test_number_is_bounded():
    k = DialoutKeys()
    feed(k, "#*" + "9" * (MAX_DIALOUT_DIGITS + 10) + "*")
    assert k.number == "9" * MAX_DIALOUT_DIGITS


def test_a_failed_call_resets_the_keys():
    k = DialoutKeys()
    feed(k, "#*1*")
    k.reset()
    assert k.phase is Phase.IDLE
    assert feed(k, "#") == [] and k.phase is Phase.PREFIX


# --- the app with fake calls ---------------------------------------------------------------


class FakeCall:
    _next = 0

    def __init__(self, ua: FakeUA, user: str = "room1") -> None:
        FakeCall._next += 1
        self.id = f"d{FakeCall._next}"
        self.ua = ua
        self.app_name = "conference"
        self.ruri = SimpleNamespace(user_unescaped=user, params={})
        self.rate = 8000
        self.sink = self.source = None
        self.ended = False
        self.answered = False
        self.hung_up: str | None = None
        self.final_status = 0

    @property
    def media_tick(self) -> int:
        return self.ua.engine.tick_index

    def answer(self) -> None:
        self.answered = True

    def reject(self, status: int, reason: str = "") -> None:
        self.final_status = status

    def hangup(self, reason: str = "") -> None:
        self.hung_up = reason

    def set_timer(self, delay, callback, *args):
        return SimpleNamespace(cancel=lambda: None)


class FakeUA:
    """Records dial() calls; the test plays the callee (answer, fail, hang up)."""

    def __init__(self) -> None:
        self.engine = SimpleNamespace(tick_index=0, ptime_ms=20)
        self.dialed: list[tuple[str, str, str, float, FakeCall]] = []
        self.hooks: dict[str, tuple] = {}
        self.refuse: str | None = None

    def dial(self, target, app_name, *, on_answered, on_failed, caller="sems", ring_timeout=60):
        if self.refuse:
            raise DialError(self.refuse)
        callee = FakeCall(self, user="")
        self.dialed.append((target, app_name, caller, ring_timeout, callee))
        self.hooks[callee.id] = (on_answered, on_failed)
        return callee


def answer(ua: FakeUA, callee: FakeCall) -> None:
    ua.hooks[callee.id][0](callee)


def fail(app: Conference, ua: FakeUA, callee: FakeCall, status: int) -> None:
    # As sems_lite.dialout does it: the call ends (on_end) and then on_failed runs.
    callee.final_status = status
    callee.ended = True
    app.on_end(callee, f"callee answered {status}")
    ua.hooks[callee.id][1](callee, status)


def end(app: Conference, call: FakeCall) -> None:
    call.ended = True
    app.on_end(call, "BYE")


@pytest.fixture
def env():
    ua = FakeUA()
    app = Conference(
        {"dialout_suffix": "@10.0.0.5:5070", "dialout_timeout": 30, "lonely_user_timeout": 0}
    )
    alice, bob = FakeCall(ua), FakeCall(ua)
    app.on_invite(alice)
    app.on_invite(bob)
    return app, ua, alice, bob


def keys(app: Conference, call: FakeCall, digits: str) -> None:
    for d in digits:
        app.on_dtmf(call, d, 100)


def room_of(app: Conference, call: FakeCall) -> str | None:
    p = app.participant(call)
    return None if p is None else p.room.name


def level(lin: bytes) -> int:
    return max(abs(x) for x in array.array("h", lin))


def tick(ua: FakeUA, speakers: dict[FakeCall, int], listeners: list[FakeCall]) -> dict:
    """One media tick: each speaker writes a square wave of its level; what each hears."""
    ua.engine.tick_index += 1
    for call, lvl in speakers.items():
        call.sink.write(array.array("h", [lvl, -lvl] * 80).tobytes())
    return {c: level(bytes(c.source.read(320) or bytes(320))) for c in listeners}


def test_without_a_suffix_the_app_takes_no_digits():
    assert not takes_dtmf(Conference({}))
    assert takes_dtmf(Conference({"dialout_suffix": "@h"}))


def test_dial_answer_talk_privately_then_star_brings_both_in(env):
    app, ua, alice, bob = env
    keys(app, alice, "#*1234*")
    ((target, app_name, caller, timeout, callee),) = ua.dialed
    assert target == "sip:1234@10.0.0.5:5070" and app_name == "conference"
    assert caller == "sems" and timeout == 30
    assert room_of(app, alice) == "room1"  # still in the room while it rings
    answer(ua, callee)
    assert room_of(app, alice) == room_of(app, callee) != "room1"
    assert [p.call for p in app.rooms["room1"].participants] == [bob]
    assert app.participant(alice).room.name not in app.rooms  # no one can dial into it
    for p in (app.participant(alice), app.participant(callee), app.participant(bob)):
        p.prompt = None
    for _ in range(20):  # past the join/leave beeps
        heard = tick(ua, {alice: 3000, callee: 5000, bob: 7000}, [alice, callee, bob])
    assert heard[alice] == 5000 and heard[callee] == 3000  # only each other
    assert heard[bob] == 0  # bob is alone in the room: hears neither
    keys(app, alice, "*")
    assert room_of(app, alice) == room_of(app, callee) == "room1"
    assert len(app.rooms["room1"].participants) == 3 and not app._private
    for _ in range(20):  # two join beeps, one after the other
        heard = tick(ua, {alice: 1000, callee: 2000, bob: 4000}, [alice, callee, bob])
    assert heard == {alice: 6000, callee: 5000, bob: 3000}
    # The callee is now an ordinary participant: its hang-up just takes it out.
    end(app, callee)
    assert [p.call for p in app.rooms["room1"].participants] == [bob, alice]
    assert alice.hung_up is None


def test_hash_after_the_answer_hangs_the_callee_up_and_returns_the_caller(env):
    app, ua, alice, bob = env
    keys(app, alice, "#*55*")
    callee = ua.dialed[0][-1]
    answer(ua, callee)
    keys(app, alice, "#")
    assert callee.hung_up == "dropped by the caller"
    assert room_of(app, alice) == "room1" and room_of(app, callee) is None
    assert not app._private and not app._callees
    end(app, callee)  # the BYE's answer: nothing left to do
    assert [p.call for p in app.rooms["room1"].participants] == [bob, alice]
    keys(app, alice, "#*56*")  # and the caller can dial again
    assert ua.dialed[-1][0] == "sip:56@10.0.0.5:5070"


def test_hash_while_ringing_cancels(env):
    app, ua, alice, _bob = env
    keys(app, alice, "#*7*#")
    callee = ua.dialed[0][-1]
    assert callee.hung_up == "dropped by the caller"
    fail(app, ua, callee, 487)  # the CANCEL's 487
    assert room_of(app, alice) == "room1"
    assert app.participant(alice).prompt is None  # cancelled on purpose: no failure beep


@pytest.mark.parametrize("status", [486, 408, 503])
def test_a_failed_call_leaves_the_caller_in_the_room_with_a_beep(env, status):
    app, ua, alice, _bob = env
    keys(app, alice, "#*9*")
    fail(app, ua, ua.dialed[0][-1], status)
    me = app.participant(alice)
    assert me.room.name == "room1" and me.prompt is not None
    beep = array.array("h", bytes(me.prompt.read(1600)))  # 100 ms
    crossings = sum(1 for a, b in itertools.pairwise(beep) if (a < 0) != (b < 0))
    assert max(beep) > 1000 and abs(crossings - 2 * FAIL_BEEP_HZ // 10) <= 2
    keys(app, alice, "#*10*")  # the keys start over
    assert len(ua.dialed) == 2


def test_callee_hanging_up_in_private_sends_the_caller_back(env):
    app, ua, alice, _bob = env
    keys(app, alice, "#*1*")
    callee = ua.dialed[0][-1]
    answer(ua, callee)
    end(app, callee)
    assert room_of(app, alice) == "room1" and not app._private
    assert alice.hung_up is None and app.participant(alice).prompt is not None
    keys(app, alice, "*")  # no callee any more: a lone `*` is nothing
    assert len(app.rooms["room1"].participants) == 2


def test_caller_hanging_up_takes_the_callee_along(env):
    app, ua, alice, bob = env
    keys(app, alice, "#*1*")
    ringing = ua.dialed[0][-1]
    end(app, alice)
    assert ringing.hung_up == "the caller left the conference"  # CANCEL
    keys(app, bob, "#*2*")
    talking = ua.dialed[1][-1]
    answer(ua, talking)
    end(app, bob)
    assert talking.hung_up == "the caller left the conference"  # BYE
    assert not app.rooms and not app._private and not app._callees and not app._dialouts


def test_answer_after_the_caller_left_is_hung_up(env):
    app, ua, alice, _bob = env
    keys(app, alice, "#*1*")
    callee = ua.dialed[0][-1]
    alice.ended = True
    app.on_end(alice, "BYE")
    callee.hung_up = None
    answer(ua, callee)  # the 2xx crossed our CANCEL
    assert callee.hung_up == "dial-out no longer wanted"
    assert app.participant(callee) is None


def test_dial_error_beeps_and_the_callee_digits_are_ignored(env):
    app, ua, alice, _bob = env
    ua.refuse = "call limit 2 reached"
    keys(app, alice, "#*1*")
    assert not ua.dialed and app.participant(alice).prompt is not None
    ua.refuse = None
    keys(app, alice, "#*2*")
    callee = ua.dialed[0][-1]
    answer(ua, callee)
    keys(app, callee, "#*3*")  # the callee cannot dial out of a private room
    assert len(ua.dialed) == 1


def test_star_is_refused_when_the_main_room_is_full():
    ua = FakeUA()
    app = Conference({"dialout_suffix": "@h", "max_participants": 2, "lonely_user_timeout": 0})
    alice, bob = FakeCall(ua), FakeCall(ua)
    app.on_invite(alice)
    app.on_invite(bob)
    keys(app, alice, "#*1*")
    callee = ua.dialed[0][-1]
    answer(ua, callee)
    keys(app, alice, "*")  # room1 has bob: alice and the callee would make 3
    assert room_of(app, alice) == room_of(app, callee) != "room1"
    keys(app, alice, "#")  # still private: `#` drops the callee
    assert callee.hung_up and room_of(app, alice) == "room1"


def test_a_listen_only_caller_comes_back_listen_only():
    ua = FakeUA()
    app = Conference({"dialout_suffix": "@h", "lonely_user_timeout": 0})
    quiet = FakeCall(ua)
    quiet.ruri.params = {"listen": None}
    app.on_invite(quiet)
    assert app.participant(quiet).listen_only
    keys(app, quiet, "#*1*")
    callee = ua.dialed[0][-1]
    answer(ua, callee)
    assert not app.participant(quiet).listen_only  # the callee must hear them privately
    keys(app, quiet, "*")
    assert app.participant(quiet).listen_only and not app.participant(callee).listen_only


def test_caller_whose_room_filled_up_meanwhile_is_hung_up_on_return():
    ua = FakeUA()
    app = Conference({"dialout_suffix": "@h", "max_participants": 1, "lonely_user_timeout": 0})
    alice = FakeCall(ua)
    app.on_invite(alice)
    keys(app, alice, "#*1*")
    answer(ua, ua.dialed[0][-1])
    late = FakeCall(ua)
    app.on_invite(late)  # room1 is empty while alice is away: late takes the only place
    assert late.answered
    keys(app, alice, "#")
    assert alice.hung_up == "the conference is full"
