"""conf_auth end to end, with a real XML-RPC server (the stdlib's, in a thread) that answers
AuthorizeConference(caller, pin) with {result, room, max_duration}: the right PIN puts the
sipp caller into the room it names (a conference URI), where another participant already
talks, and the box sends BYE max_duration seconds later; three refused PINs end in BYE."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ._calls import call_length_ms, rtp_socket
from ._phone import pump, tone_frames, type_keys, wait_bye_scenario
from .test_pin_collect import (
    PIN_SERVICE,
    TONE_A,
    TONE_B,
    AuthServer,
    assert_hear_each_other,
    dial,
    pin_config,
)

pytestmark = pytest.mark.interop

ROOM = "7000"
PIN = "2468"
MAX_DURATION = 4


def authorize(caller: str, pin: str) -> dict:
    if pin != PIN:
        return {"result": "WRONG_PIN"}
    return {"result": "OK", "room": f"sip:{ROOM}@127.0.0.1", "max_duration": MAX_DURATION}


@pytest.fixture
def auth() -> Iterator[AuthServer]:
    server = AuthServer({"AuthorizeConference": authorize})
    yield server
    server.close()


def test_right_pin_joins_the_returned_room_until_max_duration(box, start_sipp, auth, tmp_path):
    b = box(pin_config("conf_auth", "apps.conf_auth", {"auth_url": auth.url}, ROOM))
    with rtp_socket() as sock_a, rtp_socket() as sock_b:
        length = ["-d", str(call_length_ms(10.0))]
        sipp_a, a = dial(start_sipp, b, sock_a, "uac_echo_call", ROOM, 0xA2, length)
        a.audio = tone_frames(TONE_A)
        scen = wait_bye_scenario(tmp_path, 20)
        sipp_b, caller = dial(start_sipp, b, sock_b, scen, PIN_SERVICE, 0xB2)
        caller.audio = tone_frames(TONE_B)
        pump([caller, a], 0.6)
        type_keys(caller, PIN + "#", [a])
        typed = time.time()  # the join follows the '#' within a few ms
        pump([caller, a], 0.6)  # the "entering" beep
        since = time.monotonic()
        pump([caller, a], 2.0)
        result = sipp_b.wait(10)  # the box hangs up on max_duration
        assert result.returncode == 0, sipp_b.describe()
        assert sipp_a.wait(20).returncode == 0, sipp_a.describe()
    ((name, caller_uri, pin),) = auth.calls
    assert (name, pin) == ("AuthorizeConference", PIN)
    assert caller_uri.startswith("sip:sipp@127.0.0.1")
    assert_hear_each_other(a, caller, since)
    (bye,) = sipp_b.log_times("BYE")
    assert MAX_DURATION - 0.7 < bye - typed < MAX_DURATION + 0.8, bye - typed
    assert "conference time limit reached" in b.log()
    assert f"joined room {ROOM}" in b.log()


def test_three_refused_pins_end_in_bye(box, start_sipp, auth, tmp_path):
    b = box(pin_config("conf_auth", "apps.conf_auth", {"auth_url": auth.url}, ROOM))
    with rtp_socket() as sock:
        scen = wait_bye_scenario(tmp_path, 20)
        sipp, caller = dial(start_sipp, b, sock, scen, PIN_SERVICE, 0xC1)
        pump([caller], 0.6)
        for wrong in ("1#", "2#"):
            type_keys(caller, wrong)
            pump([caller], 1.2)
        assert "BYE" not in sipp.logs()
        type_keys(caller, "3#")
        pump([caller], 2.0)
        result = sipp.wait(10)
    assert result.returncode == 0, sipp.describe()
    assert "BYE" in sipp.logs()
    assert [c[2] for c in auth.calls] == ["1", "2", "3"]
    assert "third failure: goodbye" in b.log() and "joined room" not in b.log()
