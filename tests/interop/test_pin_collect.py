"""pin_collect end to end, with a real XML-RPC server (the stdlib's, in a thread) as the
auth peer: a sipp caller types its PIN as RFC 4733 events (from the test's own RTP socket);
the right PIN joins the conference room where another sipp participant already talks
(each then hears the other's tone, not its own); a wrong PIN is answered by the "wrong PIN"
beep and the PIN prompt again; the third wrong PIN ends in BYE."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from xmlrpc.server import SimpleXMLRPCServer

import pytest

from ._calls import call_length_ms, media_of, rtp_socket
from ._phone import (
    ENTER_PIN_HZ,
    WRONG_PIN_HZ,
    Phone,
    power,
    pump,
    tone_frames,
    type_keys,
    wait_bye_scenario,
)

pytestmark = pytest.mark.interop

ROOM = "1234"  # pin_collect's room is the PIN: the first participant dials it directly
PIN_SERVICE = "pin"
TONE_A, TONE_B = 450, 1100


class AuthServer:
    """SimpleXMLRPCServer on 127.0.0.1:<free port>, serving in a thread; keeps the calls."""

    def __init__(self, functions: dict[str, Callable]) -> None:
        self.calls: list[tuple] = []
        self.server = SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False, allow_none=True)
        for name, fn in functions.items():
            self.server.register_function(self._recording(name, fn), name)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _recording(self, name: str, fn: Callable) -> Callable:
        def method(*args):
            self.calls.append((name, *args))
            return fn(*args)

        return method

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/RPC2"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def auth_server() -> Iterator[Callable[..., AuthServer]]:
    started: list[AuthServer] = []

    def factory(**functions: Callable) -> AuthServer:
        started.append(AuthServer(functions))
        return started[-1]

    yield factory
    for s in started:
        s.close()


def pin_config(app: str, module: str, app_config: dict, room: str) -> dict:
    return {
        "apps": {"echo": "apps.echo", "conference": "apps.conference", app: module},
        "routing": [{"user": PIN_SERVICE, "app": app}, {"user": room, "app": "conference"}],
        "app_config": {app: app_config, "conference": {"lonely_user_timeout": 0}},
    }


def dial(start_sipp, b, sock, scen, service: str, ssrc: int, args=(), timeout=30) -> tuple:
    sipp = start_sipp(
        scen,
        b.target,
        list(args),
        timeout=timeout,
        keys={"rtp_port": sock.getsockname()[1]},
        service=service,
    )
    phone = Phone(sock, media_of(sipp).dest, ssrc)
    sipp.wait_log(r"ACKED ")
    return sipp, phone


def assert_hear_each_other(a: Phone, b: Phone, since: float) -> None:
    """Each phone hears the other's tone at least 20 dB above its own."""
    for me, mine, theirs in ((a, TONE_A, TONE_B), (b, TONE_B, TONE_A)):
        pcm = me.received(since)
        assert len(pcm) > 16000, f"only {len(pcm) // 2} samples heard since the join"
        ratio = 10 * math.log10(power(pcm, theirs) / max(power(pcm, mine), 1e-9))
        assert ratio > 20, f"own tone {mine} Hz only {ratio:.1f} dB below the other's"


def test_right_pin_joins_the_room_and_audio_flows(box, start_sipp, auth_server):
    auth = auth_server(authorize=lambda user, pin: pin == ROOM)
    b = box(pin_config("pin_collect", "apps.pin_collect", {"auth_url": auth.url}, ROOM))
    with rtp_socket() as sock_a, rtp_socket() as sock_b:
        length = ["-d", str(call_length_ms(6.0))]
        sipp_a, a = dial(start_sipp, b, sock_a, "uac_echo_call", ROOM, 0xA1, length)
        a.audio = tone_frames(TONE_A)
        sipp_b, caller = dial(start_sipp, b, sock_b, "uac_echo_call", PIN_SERVICE, 0xB1, length)
        caller.audio = tone_frames(TONE_B)
        pump([caller, a], 0.6)  # the welcome beeps
        assert auth.calls == []
        type_keys(caller, ROOM + "#", [a])
        pump([caller, a], 0.6)  # the XML-RPC round trip and the "entering" beep
        since = time.monotonic()
        pump([caller, a], 2.0)
        for s in (sipp_a, sipp_b):
            assert s.wait(20).returncode == 0, s.describe()
    assert auth.calls == [("authorize", "sipp", ROOM)]
    assert_hear_each_other(a, caller, since)
    assert f"joined room {ROOM}" in b.log()


def test_wrong_pin_reprompts_and_third_wrong_pin_hangs_up(box, start_sipp, auth_server, tmp_path):
    auth = auth_server(authorize=lambda user, pin: pin == ROOM)
    b = box(pin_config("pin_collect", "apps.pin_collect", {"auth_url": auth.url}, ROOM))
    with rtp_socket() as sock:
        sipp, caller = dial(start_sipp, b, sock, wait_bye_scenario(tmp_path, 30), PIN_SERVICE, 9)
        pump([caller], 0.6)
        windows = []
        for wrong in ("1#", "2#"):
            type_keys(caller, wrong)
            start = time.monotonic()
            pump([caller], 1.2)  # "wrong PIN", then the PIN prompt again
            windows.append((start, time.monotonic()))
        assert "BYE" not in sipp.logs()
        type_keys(caller, "3#")
        pump([caller], 2.0)  # wrong PIN, goodbye, BYE
        result = sipp.wait(10)
    assert result.returncode == 0, sipp.describe()
    assert "BYE" in sipp.logs()
    assert [c[2] for c in auth.calls] == ["1", "2", "3"]
    for since, until in windows:
        pcm = caller.received(since, until)
        wrong, reprompt = power(pcm, WRONG_PIN_HZ), power(pcm, ENTER_PIN_HZ)
        floor = power(pcm, 1700) + 1.0  # a frequency no prompt uses
        assert wrong > 100 * floor and reprompt > 100 * floor, (wrong, reprompt, floor)
    assert b.log().count("wrong PIN, asking again") == 2
    assert "third failure: goodbye" in b.log()


def test_unreachable_auth_server_counts_as_a_failure(box, start_sipp, tmp_path):
    # Nothing listens on the discard port of loopback: connection refused, never a hang.
    config = {"auth_url": "http://127.0.0.1:9/RPC2", "max_attempts": 1}
    b = box(pin_config("pin_collect", "apps.pin_collect", config, ROOM))
    with rtp_socket() as sock:
        sipp, caller = dial(start_sipp, b, sock, wait_bye_scenario(tmp_path, 20), PIN_SERVICE, 7)
        pump([caller], 0.4)
        type_keys(caller, "5#")
        pump([caller], 2.0)
        result = sipp.wait(10)
    assert result.returncode == 0, sipp.describe()
    assert "auth server:" in b.log() and "ECONNREFUSED" in b.log()
