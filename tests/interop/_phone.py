"""A phone for the conference tests: sends tones and RFC 4733 keys from the test's own RTP
socket and measures what it hears (Goertzel power), plus the webconference set-up the
webconference, web page, dial-out, pin_collect and conf_auth tests share."""

from __future__ import annotations

import math
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import _audio, _rtp
from ._calls import media_of
from ._sipp import Sipp, scenario_variant

PT_EVENT = 101  # telephone-event in the sipp scenarios' offer
EVENTS = "0123456789*#ABCD"
EVENT_PACKETS = 5  # 100 ms per key
END_REPEATS = 2  # the end packet goes three times in all (RFC 4733 §2.5.1.4)
GAP_SLOTS = 3
SILENCE = b"\xff" * _audio.FRAME  # PCMU silence
SERVICE = "webconf"
# The app's default prompt beeps (apps.webconference.TONES).
WRONG_PIN_HZ = 300
ENTER_PIN_HZ = 900


def webconf_config(control_port: int, **app_config: object) -> dict:
    return {
        "control": {"listen": f"127.0.0.1:{control_port}"},
        "apps": {"echo": "apps.echo", "webconference": "apps.webconference"},
        "routing": [{"user": SERVICE, "app": "webconference"}],
        "app_config": {"webconference": dict(app_config)},
    }


def tone_frames(freq: int, level: int = 6000) -> list[bytes]:
    """One second of a sine as PCMU frames (an integer frequency repeats every second)."""
    lin = b"".join(
        struct.pack("<h", int(level * math.sin(2 * math.pi * freq * i / _audio.RATE)))
        for i in range(_audio.RATE)
    )
    return _audio.frames(_audio.to_ulaw(lin), _audio.FRAME)


def power(lin: bytes, freq: int) -> float:
    """Goertzel power at `freq` (relative units, normalised by length)."""
    samples = struct.unpack(f"<{len(lin) // 2}h", lin)
    coeff = 2 * math.cos(2 * math.pi * freq / _audio.RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / max(1, len(samples)) ** 2


@dataclass
class Phone:
    """The RTP side of one sipp caller: audio every 20 ms, RFC 4733 keys when asked."""

    sock: socket.socket
    dest: tuple[str, int]
    ssrc: int
    audio: list[bytes] = field(default_factory=lambda: [SILENCE])
    slot: int = 0
    seq: int = 1000
    pending: list[bytes] = field(default_factory=list)  # event packets, one per slot
    heard: list[tuple[float, bytes]] = field(default_factory=list)  # (monotonic, PCMU)

    def keys(self, digits: str) -> None:
        """Queue key presses; each takes 5 slots of events plus a gap of audio."""
        for digit in digits:
            ts = self._ts(self.slot + len(self.pending))
            code = EVENTS.index(digit)
            for j in range(EVENT_PACKETS + END_REPEATS):
                end = j >= EVENT_PACKETS - 1
                duration = min(j + 1, EVENT_PACKETS) * _audio.FRAME
                payload = struct.pack("!BBH", code, (0x80 if end else 0) | 10, duration)
                self.pending.append(self._packet(PT_EVENT, ts, payload, j == 0))
            self.pending += [b""] * GAP_SLOTS

    def _ts(self, slot: int) -> int:
        return 160_000 + slot * _audio.FRAME

    def _packet(self, pt: int, ts: int, payload: bytes, marker: bool) -> bytes:
        # Sequence numbers are fixed when sent (see send_slot), not when queued.
        return struct.pack("!BIB", pt | (0x80 if marker else 0), ts, 0) + payload

    def send_slot(self) -> None:
        item = self.pending.pop(0) if self.pending else b""
        if item:
            b1, ts, _ = struct.unpack_from("!BIB", item)
            data = _rtp.pack_rtp(b1 & 0x7F, self.seq, ts, self.ssrc, item[6:], bool(b1 & 0x80))
        else:
            frame = self.audio[self.slot % len(self.audio)]
            data = _rtp.pack_rtp(_rtp.PT_PCMU, self.seq, self._ts(self.slot), self.ssrc, frame)
        self.sock.sendto(data, self.dest)
        self.seq += 1
        self.slot += 1

    def received(self, since: float = 0.0, until: float = math.inf) -> bytes:
        """Linear PCM of what the box sent in [since, until)."""
        return _audio.from_ulaw(b"".join(p for t, p in self.heard if since <= t < until))


def pump(phones: list[Phone], seconds: float) -> None:
    """Run every phone for `seconds` on 20 ms deadlines, recording what comes back."""
    socks = {p.sock: p for p in phones}
    start = time.monotonic()
    for k in range(int(seconds / _rtp.PTIME)):
        for p in phones:
            p.send_slot()
        deadline = start + (k + 1) * _rtp.PTIME
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(list(socks), [], [], left)
            for sock in ready:
                pkt = _rtp.unpack_rtp(sock.recv(2048))
                if pkt is not None and pkt.pt == _rtp.PT_PCMU:
                    socks[sock].heard.append((time.monotonic(), pkt.payload))


def type_keys(phone: Phone, digits: str, others: list[Phone] = ()) -> None:
    """Send the keys and wait until they are all out (other phones keep talking)."""
    phone.keys(digits)
    pump([phone, *others], len(phone.pending) * _rtp.PTIME)


def wait_bye_scenario(tmp_path: Path, seconds: int) -> Path:
    return scenario_variant(
        "uac_wait_bye", tmp_path, {'timeout="15000"': f'timeout="{seconds}000"'}
    )


def dial_in(
    start_sipp, b, sock: socket.socket, scen: Path, ssrc: int, timeout: float
) -> tuple[Sipp, Phone]:
    sipp = start_sipp(
        scen, b.target, timeout=timeout, keys={"rtp_port": sock.getsockname()[1]}, service=SERVICE
    )
    phone = Phone(sock, media_of(sipp).dest, ssrc)
    sipp.wait_log(r"ACKED ")
    return sipp, phone
