"""Dial-out end to end: the box calls a sipp UAS (the callee, on its own loopback port) out
of a conference room (`#*` number `*` typed as RFC 4733 events by a sipp participant) and
out of a webconference room (`conf.dialout` over JSON-RPC). The test owns every RTP socket:
each party sends its own tone, and what each one hears is judged by spectrum."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from sems_lite.ctl import rpc

from ._calls import media_of, rtp_socket
from ._net import free_port
from ._phone import (
    Phone,
    dial_in,
    power,
    pump,
    tone_frames,
    type_keys,
    wait_bye_scenario,
)
from ._sipp import Sipp
from .test_web_page import browser, rows  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.interop

TONE_A, TONE_B, TONE_C = 450, 1100, 700  # participant A (dials), participant B, callee C
FLOOR_HZ = 1700  # no one sends this: the noise floor of what is heard
SETTLE = 0.5  # s after a move before judging (join/leave beeps, jitter buffers)
ROOM = "room1"


def start_callee(start_sipp, sock: socket.socket) -> tuple[Sipp, int]:
    """A sipp UAS that answers one INVITE with SDP at the test's socket; (sipp, SIP port)."""
    uas = start_sipp(
        "uas_answer", "127.0.0.1:9", timeout=60, keys={"rtp_port": sock.getsockname()[1]}
    )
    return uas, int(uas.cmd[uas.cmd.index("-p") + 1])


def callee_phone(uas: Sipp, sock: socket.socket) -> Phone:
    """The callee's RTP side, once the box's INVITE has arrived; returns after the ACK."""
    phone = Phone(sock, media_of(uas, 15).dest, 0xC0C0, tone_frames(TONE_C))
    uas.wait_log(r"ACKED ", 15)
    return phone


def conference_box(box, uas_port: int, control_port: int):
    return box(
        {
            "control": {"listen": f"127.0.0.1:{control_port}"},
            "apps": {"echo": "apps.echo", "conference": "apps.conference"},
            "routing": [{"user": ROOM, "app": "conference"}],
            "app_config": {
                "conference": {
                    "dialout_suffix": f"@127.0.0.1:{uas_port}",
                    "lonely_user_timeout": 0,
                }
            },
        }
    )


def participant(start_sipp, b, sock: socket.socket, scen: Path, ssrc: int, freq: int):
    sipp = start_sipp(
        scen, b.target, timeout=60, keys={"rtp_port": sock.getsockname()[1]}, service=ROOM
    )
    phone = Phone(sock, media_of(sipp).dest, ssrc, tone_frames(freq))
    sipp.wait_log(r"ACKED ")
    return sipp, phone


def heard(phone: Phone, since: float, until: float) -> dict[int, float]:
    pcm = phone.received(since, until)
    assert len(pcm) > 8000, f"only {len(pcm) // 2} samples heard in the window"
    return {f: power(pcm, f) for f in (TONE_A, TONE_B, TONE_C, FLOOR_HZ)}


def hears(levels: dict[int, float], freq: int) -> bool:
    return levels[freq] > 100 * (levels[FLOOR_HZ] + 1.0)


def not_hears(levels: dict[int, float], freq: int, reference: float) -> bool:
    """30 dB or more below `reference` (the power of a tone this listener does hear)."""
    return levels[freq] < reference / 1000


def window(phones: list[Phone], seconds: float) -> tuple[float, float]:
    """Pump for `seconds`; the time window to judge (after the settling part)."""
    start = time.monotonic()
    pump(phones, seconds)
    return start + SETTLE, time.monotonic()


def hang_up_all(url: str, sipps: list[Sipp]) -> None:
    for call in rpc(url, "calls.list", []):
        rpc(url, "calls.hangup", [call["id"]])
    for s in sipps:
        assert s.wait(15).returncode == 0, s.describe()
        assert "BYE" in s.logs()


def room_of_two(box, start_sipp, scen, sa, sb, sc):
    """A sipp callee waiting on `sc`, a conference box dialling out to it, and participants
    A and B in the room (tones TONE_A, TONE_B from `sa`, `sb`)."""
    uas, uas_port = start_callee(start_sipp, sc)
    port = free_port()
    b = conference_box(box, uas_port, port)
    a = participant(start_sipp, b, sa, scen, 0xA0A0, TONE_A)
    bb = participant(start_sipp, b, sb, scen, 0xB0B0, TONE_B)
    pump([a[1], bb[1]], 0.5)
    return uas, port, b, a, bb


def test_dialout_talks_privately_then_star_brings_the_callee_into_the_room(
    box, start_sipp, tmp_path
):
    scen = wait_bye_scenario(tmp_path, 40)
    with rtp_socket() as sa, rtp_socket() as sb, rtp_socket() as sc:
        uas, port, b, (sipp_a, a), (sipp_b, bb) = room_of_two(box, start_sipp, scen, sa, sb, sc)
        type_keys(a, "#*100*", [bb])
        assert uas.wait_log(r"INVITE (\S+) ", 10).group(1) == "100"
        c = callee_phone(uas, sc)

        since, until = window([a, bb, c], 2.0)  # answered: A and C alone together
        la, lb, lc = (heard(p, since, until) for p in (a, bb, c))
        assert hears(la, TONE_C) and not_hears(la, TONE_B, la[TONE_C]), la
        assert hears(lc, TONE_A) and not_hears(lc, TONE_B, lc[TONE_A]), lc
        # B is alone in the room: neither A nor the callee reaches it.
        assert lb[TONE_A] < la[TONE_C] / 1000 and lb[TONE_C] < la[TONE_C] / 1000, lb

        type_keys(a, "*", [bb, c])  # both into the main room
        since, until = window([a, bb, c], 2.0)
        la, lb, lc = (heard(p, since, until) for p in (a, bb, c))
        assert hears(la, TONE_B) and hears(la, TONE_C), la
        assert hears(lb, TONE_A) and hears(lb, TONE_C), lb
        assert hears(lc, TONE_A) and hears(lc, TONE_B), lc
        for levels, own in ((la, TONE_A), (lb, TONE_B), (lc, TONE_C)):
            assert levels[own] < max(levels.values()) / 100, levels  # never themselves
        assert "BYE" not in uas.logs()
        hang_up_all(f"http://127.0.0.1:{port}", [uas, sipp_a, sipp_b])
    assert "talks privately with" in b.log() and "brought" in b.log()


def test_hash_drops_the_callee_and_the_caller_is_back_in_the_room(box, start_sipp, tmp_path):
    scen = wait_bye_scenario(tmp_path, 40)
    with rtp_socket() as sa, rtp_socket() as sb, rtp_socket() as sc:
        uas, port, b, (sipp_a, a), (sipp_b, bb) = room_of_two(box, start_sipp, scen, sa, sb, sc)
        type_keys(a, "#*2001*", [bb])
        c = callee_phone(uas, sc)
        since, until = window([a, bb, c], 1.5)
        assert hears(heard(a, since, until), TONE_C)
        type_keys(a, "#", [bb, c])  # drop the callee
        result = uas.wait(10)  # the callee got its BYE and answered it
        assert result.returncode == 0, uas.describe()
        assert "BYE" in uas.logs()
        since, until = window([a, bb], 2.0)
        la, lb = heard(a, since, until), heard(bb, since, until)
        assert hears(la, TONE_B) and hears(lb, TONE_A), (la, lb)
        assert not_hears(la, TONE_C, la[TONE_B]), la
        hang_up_all(f"http://127.0.0.1:{port}", [sipp_a, sipp_b])
    assert "dropped by the caller" in b.log()


def test_conf_dialout_brings_the_callee_into_a_webconference_room(box, start_sipp, tmp_path):
    with rtp_socket() as sa, rtp_socket() as sc:
        uas, uas_port = start_callee(start_sipp, sc)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        b = box(
            {
                "control": {"listen": f"127.0.0.1:{port}"},
                "apps": {"echo": "apps.echo", "webconference": "apps.webconference"},
                "routing": [{"user": "webconf", "app": "webconference"}],
            }
        )
        rpc(url, "conf.create", {"room": "42", "admin_pin": "999", "pin": "1234"})
        sipp_a, a = dial_in(start_sipp, b, sa, wait_bye_scenario(tmp_path, 40), 0xA2A2, 60)
        pump([a], 0.6)
        type_keys(a, "42#")
        pump([a], 0.6)
        type_keys(a, "1234#")
        a.audio = tone_frames(TONE_A)

        target = f"sip:300@127.0.0.1:{uas_port}"
        ringing = rpc(url, "conf.dialout", {"room": "42", "uri": target, "pin": "999"})
        assert ringing["state"] == "ringing" and ringing["from"] == target
        listed = rpc(url, "conf.info", ["42"])["participants"]
        assert [p["state"] for p in listed] == ["speaking", "ringing"], listed
        c = callee_phone(uas, sc)
        since, until = window([a, c], 2.0)
        listed = rpc(url, "conf.info", ["42"])["participants"]
        callee = next(p for p in listed if p["id"] == ringing["id"])
        assert callee["dialout"] == "joined" and callee["state"] == "speaking", listed
        la, lc = heard(a, since, until), heard(c, since, until)
        assert hears(la, TONE_C) and hears(lc, TONE_A), (la, lc)
        assert not_hears(la, TONE_A, la[TONE_C]) and not_hears(lc, TONE_C, lc[TONE_A])

        assert rpc(url, "conf.kick", ["42", ringing["id"]]) is True
        pump([a], 0.3)
        assert uas.wait(10).returncode == 0, uas.describe()
        assert "BYE" in uas.logs()
        left = rpc(url, "conf.info", ["42"])["participants"]
        assert [p["state"] for p in left] == ["speaking"] and left[0]["id"] != ringing["id"]
        hang_up_all(url, [sipp_a])
    assert "room 42 dials" in b.log()


def test_page_dialout_button_rings_the_callee_into_the_room(
    box,
    start_sipp,
    browser,  # noqa: F811 - the Chromium fixture of test_web_page
    tmp_path,
):
    with rtp_socket() as sa, rtp_socket() as sc:
        uas, uas_port = start_callee(start_sipp, sc)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        b = box(
            {
                "control": {"listen": f"127.0.0.1:{port}"},
                "apps": {"echo": "apps.echo", "webconference": "apps.webconference"},
                "routing": [{"user": "webconf", "app": "webconference"}],
            }
        )
        browser.open(url + "/")
        browser.type("#room", "77")
        browser.type("#admin_pin", "1")
        browser.click("#create-button")
        browser.wait_for("document.getElementById('current-room').textContent === '77'")
        sipp_a, a = dial_in(start_sipp, b, sa, wait_bye_scenario(tmp_path, 40), 0xA3A3, 60)
        type_keys(a, "77##")
        browser.wait_for(f"{rows('speaking')} === 1", phones=[a])

        target = f"sip:400@127.0.0.1:{uas_port}"
        browser.type("#dialout-uri", target)
        browser.click("#dialout-button")
        assert uas.wait_log(r"INVITE (\S+) ", 10).group(1) == "400"
        c = callee_phone(uas, sc)
        browser.wait_for(f"{rows('speaking')} === 2", phones=[a, c])
        shown = browser.eval(
            "Array.from(document.querySelectorAll('#participants td.from'))"
            ".map(td => td.textContent)"
        )
        assert target in shown, shown
        callee_id = next(
            p["id"] for p in rpc(url, "conf.info", ["77"])["participants"] if p["from"] == target
        )
        browser.click(f"#participants tr[data-id='{callee_id}'] button.kick")
        browser.wait_for(f"{rows()} === 1", phones=[a])
        assert uas.wait(10).returncode == 0, uas.describe()
        assert "BYE" in uas.logs()
        hang_up_all(url, [sipp_a])
