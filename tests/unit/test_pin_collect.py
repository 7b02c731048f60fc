"""pin_collect without sockets: the PIN dialogue, static PIN lists and maps, XML-RPC
verdicts (the call to the server replaced by a recorder), joining the conference app."""

from __future__ import annotations

import math
from array import array

import pytest

from apps.conference import Conference, Participant
from apps.pin_collect import TONES, Phase, PinCollect, PinDialog
from sems_lite.core.http_client import HttpError
from sems_lite.media.player import TonePlayer
from tests.unit._fake_call import FakeCall

# --- the dialogue -------------------------------------------------------------------------


def test_hash_or_star_submits_and_empty_entries_are_ignored():
    d = PinDialog()
    assert [d.feed(k) for k in "12#"] == [None, None, "12"]
    assert d.phase is Phase.VERIFYING
    assert d.feed("3") is None and d.feed("#") is None  # ignored while verifying
    assert d.rejected() is True and d.phase is Phase.COLLECTING
    assert d.feed("#") is None and d.feed("*") is None  # nothing typed
    assert [d.feed(k) for k in "9A5*"] == [None, None, None, "95"]  # letters ignored
    d.accepted()
    assert d.phase is Phase.DONE and d.feed("1") is None and d.feed("#") is None


def test_third_rejection_ends_the_dialogue():
    d = PinDialog(max_attempts=3)
    for expect_more in (True, True, False):
        assert d.feed("1") is None and d.feed("#") == "1"
        assert d.rejected() is expect_more
    assert d.phase is Phase.DONE and d.attempts == 3


def test_entries_are_bounded():
    d = PinDialog()
    for _ in range(100):
        d.feed("7")
    assert d.feed("#") == "7" * 16


# --- the app with fake calls ----------------------------------------------------------------


class FakeRequest:
    def __init__(self, url, method, params, timeout, callback) -> None:
        self.url, self.method, self.params = url, method, params
        self.timeout, self.callback = timeout, callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


CANDIDATES = sorted({f for tones in TONES.values() for f, _ in tones})


def loudest(pcm: bytes, rate: int = 8000) -> int:
    """Which of the prompt frequencies dominates `pcm` (Goertzel)."""

    def power(freq: int) -> float:
        coeff = 2 * math.cos(2 * math.pi * freq / rate)
        s1 = s2 = 0.0
        for v in array("h", pcm):
            s1, s2 = v + coeff * s1 - s2, s1
        return s1 * s1 + s2 * s2 - coeff * s1 * s2

    return max(CANDIDATES, key=power)


def heard(items: list) -> list[int]:
    """The frequencies of the beeps in a play() (the default prompts are tones)."""
    return [loudest(bytes(i.read(1600))) for i in items if isinstance(i, TonePlayer)]


def beeps(name: str) -> list[int]:
    return [f for f, _ in TONES[name]]


@pytest.fixture
def requests(monkeypatch) -> list[FakeRequest]:
    """XML-RPC calls the apps make, kept instead of sent."""
    made: list[FakeRequest] = []

    def fake_call(loop, url, method, params, timeout, callback):
        made.append(FakeRequest(url, method, params, timeout, callback))
        return made[-1]

    monkeypatch.setattr("sems_lite.xmlrpc_call.xmlrpc_call", fake_call)
    return made


def setup(config: dict) -> tuple[PinCollect, Conference, dict]:
    conference = Conference({"lonely_user_timeout": 0})
    apps: dict = {"conference": conference}
    app = PinCollect(config)
    apps["pin_collect"] = app
    return app, conference, apps


def keys(app, call, digits: str) -> None:
    for d in digits:
        app.on_dtmf(call, d, 100)


def test_prompt_beeps_are_told_apart():
    # heard() must name each default beep right, or the prompt checks below mean nothing.
    for freq in CANDIDATES:
        assert heard([TonePlayer(freq, 150)]) == [freq]


def test_right_static_pin_joins_the_room_named_by_the_pin():
    app, conference, apps = setup({"pins": ["1234", 5678]})
    call = FakeCall(apps)
    app.on_invite(call)
    assert call.answered
    items, barge_in = call.plays[-1]
    assert heard(items) == beeps("welcome") + beeps("enter_pin") and barge_in
    keys(app, call, "5678#")
    assert call.handed_to == "conference"
    assert isinstance(call.sink, Participant) and call.sink is call.source
    assert [p.call for p in conference.rooms["5678"].participants] == [call]
    assert heard(call.sink.prompt._items) == beeps("entering")
    assert app.sessions == {} and call.hung_up is None


def test_pin_map_and_fixed_room():
    app, conference, apps = setup({"pins": {"11": "sales", "22": "support"}})
    call = FakeCall(apps)
    app.on_invite(call)
    keys(app, call, "22*")  # '*' submits too
    assert "support" in conference.rooms
    app, conference, apps = setup({"pins": ["11"], "room": "board"})
    call = FakeCall(apps)
    app.on_invite(call)
    keys(app, call, "11#")
    assert list(conference.rooms) == ["board"]


def test_wrong_pin_reprompts_and_third_says_goodbye_then_hangs_up():
    app, conference, apps = setup({"pins": ["1234"]})
    call = FakeCall(apps)
    app.on_invite(call)
    for n in range(2):
        keys(app, call, "9#")
        items, barge_in = call.plays[-1]
        assert heard(items) == beeps("wrong_pin") + beeps("enter_pin") and barge_in
        assert call.on_finished is None and call.hung_up is None, n
    keys(app, call, "1#")
    items, barge_in = call.plays[-1]
    assert heard(items) == beeps("wrong_pin") + beeps("goodbye") and not barge_in
    assert call.hung_up is None  # not before the goodbye is heard
    call.on_finished()
    assert call.hung_up == "wrong PIN"
    keys(app, call, "1234#")  # too late
    assert conference.rooms == {} and call.handed_to is None


def test_full_room_says_goodbye():
    app, conference, apps = setup({"pins": ["1"]})
    conference.max_participants = 1
    first, second = FakeCall(apps), FakeCall(apps)
    for c in (first, second):
        app.on_invite(c)
        keys(app, c, "1#")
    assert first.handed_to == "conference" and second.handed_to is None
    assert heard(second.plays[-1][0]) == beeps("goodbye")
    second.on_finished()
    assert second.hung_up == "conference room full"


def test_xmlrpc_authorize_verdicts(requests):
    url = "http://127.0.0.1:8000/RPC2"
    app, conference, apps = setup({"auth_url": url, "auth_timeout": 2})
    call = FakeCall(apps, user="bob")
    app.on_invite(call)
    keys(app, call, "42#")
    assert len(requests) == 1
    r = requests[0]
    assert (r.url, r.method, r.params, r.timeout) == (url, "authorize", ["bob", "42"], 2.0)
    keys(app, call, "43#")  # ignored while the server thinks
    assert len(requests) == 1
    r.callback(False, None)
    assert heard(call.plays[-1][0]) == beeps("wrong_pin") + beeps("enter_pin")
    keys(app, call, "44#")
    requests[1].callback(None, HttpError("refused"))  # counts as a failure too
    assert heard(call.plays[-1][0]) == beeps("wrong_pin") + beeps("enter_pin")
    keys(app, call, "45#")
    requests[2].callback(True, None)
    assert call.handed_to == "conference" and "45" in conference.rooms


def test_xmlrpc_string_answer_names_the_room(requests):
    app, conference, apps = setup({"auth_url": "http://127.0.0.1:1/", "auth_method": "check"})
    call = FakeCall(apps)
    app.on_invite(call)
    keys(app, call, "7#")
    assert requests[0].method == "check"
    requests[0].callback("room-9", None)
    assert list(conference.rooms) == ["room-9"]


def test_hangup_while_verifying_cancels_the_request(requests):
    app, conference, apps = setup({"auth_url": "http://127.0.0.1:1/"})
    call = FakeCall(apps)
    app.on_invite(call)
    keys(app, call, "7#")
    call.ended = True
    app.on_end(call, "caller hung up")
    assert requests[0].cancelled
    requests[0].callback(True, None)  # a late answer changes nothing
    assert conference.rooms == {} and call.handed_to is None


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"pins": ["1"], "auth_url": "http://127.0.0.1/"},
        {"auth_url": "https://127.0.0.1/"},
        {"auth_url": "http://auth.example.org/"},
        {"pins": ["1"], "max_attempts": 0},
    ],
)
def test_config_errors(config):
    with pytest.raises((ValueError, HttpError)):
        PinCollect(config)
