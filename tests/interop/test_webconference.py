"""webconference end to end: a room made over JSON-RPC, sipp callers that type the room
number and PIN as RFC 4733 events (sent from the test's own RTP socket, as in
test_dtmf.py): the right PIN joins (conf.info lists the caller), a wrong PIN is answered
with the "wrong PIN" beep and the PIN prompt again, the third wrong PIN ends in BYE."""

from __future__ import annotations

import time

import pytest

from sems_lite.ctl import rpc

from ._calls import rtp_socket
from ._net import free_port
from ._phone import (
    ENTER_PIN_HZ,
    WRONG_PIN_HZ,
    dial_in,
    power,
    pump,
    type_keys,
    wait_bye_scenario,
    webconf_config,
)

pytestmark = pytest.mark.interop


def test_right_pin_joins_and_shows_in_conf_info(box, start_sipp, tmp_path):
    port = free_port()
    b = box(webconf_config(port))
    url = f"http://127.0.0.1:{port}"
    rpc(url, "conf.create", {"room": "42", "admin_pin": "999", "pin": "1234"})
    with rtp_socket() as sock:
        sipp, phone = dial_in(start_sipp, b, sock, wait_bye_scenario(tmp_path, 30), 0x4201, 40)
        pump([phone], 0.6)  # the "enter room" beep
        assert rpc(url, "conf.info", ["42"])["participants"] == []
        type_keys(phone, "42#")
        pump([phone], 0.6)
        type_keys(phone, "1234#")
        pump([phone], 0.5)
        people = rpc(url, "conf.info", ["42"])["participants"]
        assert len(people) == 1, people
        assert people[0]["from"].startswith("sip:sipp@") and people[0]["state"] == "speaking"
        assert rpc(url, "conf.list", []) == [{"room": "42", "participants": 1, "has_pin": True}]
        assert rpc(url, "conf.kick", ["42", people[0]["id"]]) is True
        pump([phone], 0.3)
        result = sipp.wait(10)
    assert result.returncode == 0, sipp.describe()
    assert "BYE" in sipp.logs()
    assert rpc(url, "conf.info", ["42"])["participants"] == []
    assert "webconference: call" in b.log() and "joined room 42" in b.log()


def test_wrong_pin_reprompts_and_third_wrong_pin_hangs_up(box, start_sipp, tmp_path):
    port = free_port()
    b = box(webconf_config(port))
    url = f"http://127.0.0.1:{port}"
    rpc(url, "conf.create", ["7", "555", "31"])
    with rtp_socket() as sock:
        sipp, phone = dial_in(start_sipp, b, sock, wait_bye_scenario(tmp_path, 30), 0x0701, 40)
        pump([phone], 0.6)
        type_keys(phone, "7#")
        pump([phone], 0.6)
        windows = []
        for wrong in ("1#", "2#"):
            type_keys(phone, wrong)
            start = time.monotonic()
            pump([phone], 1.2)  # "wrong PIN" beep, then the PIN prompt again
            windows.append((start, time.monotonic()))
        assert "BYE" not in sipp.logs()  # two wrong PINs: still asked again
        assert rpc(url, "conf.info", ["7"])["participants"] == []
        type_keys(phone, "3#")
        pump([phone], 2.0)  # wrong PIN, goodbye, BYE
        result = sipp.wait(10)
    assert result.returncode == 0, sipp.describe()
    assert "BYE" in sipp.logs()
    for since, until in windows:
        pcm = phone.received(since, until)
        wrong, reprompt = power(pcm, WRONG_PIN_HZ), power(pcm, ENTER_PIN_HZ)
        floor = power(pcm, 1700) + 1.0  # a frequency no prompt uses
        assert wrong > 100 * floor and reprompt > 100 * floor, (wrong, reprompt, floor)
    assert b.log().count(": wrong_pin (room 7)") == 2
    assert ": goodbye (room 7)" in b.log()
    assert rpc(url, "conf.info", ["7"])["participants"] == []
