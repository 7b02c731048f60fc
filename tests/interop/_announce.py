"""Announcement-call building blocks: box configs for the announcement apps, the test's
own RTP receiver for a call that only listens, and "is this the prompt?" on the audio.

The reference for a prompt is the WAV after one G.711 pass in the call's law (what a
perfect box can deliver); the received audio is aligned to it with audioop.findfit.
"""

from __future__ import annotations

import math
import socket
import time
import warnings
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _audio, _calls, _rtp
from ._box import REPO_ROOT
from ._sipp import Sipp

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

PROMPTS = REPO_ROOT / "etc" / "prompts"
DEFAULT_WAV = PROMPTS / "default.wav"
MIN_SNR_DB = 30.0
# Another prompt than the expected one scores near 0 dB (or below); a match is > 30 dB.
MAX_WRONG_SNR_DB = 10.0
LAW_OF_PT = {_rtp.PT_PCMU: "PCMU", _rtp.PT_PCMA: "PCMA"}
SILENCE = {"PCMU": b"\xff", "PCMA": b"\xd5"}


def app_box_config(app: str, users: list[str] | str, **app_config: Any) -> dict[str, Any]:
    """Box config override routing `users` to `app` with absolute prompt paths.

    Defaults point at the shipped prompts (etc/prompts); app_config keys override them.
    """
    default = str(DEFAULT_WAV) if app != "precoded_announce" else str(PROMPTS / "default")
    settings = {"announce_path": str(PROMPTS), "default_announce": default, **app_config}
    return {
        "apps": {"echo": "apps.echo", app: f"apps.{app}"},
        "routing": [{"user": "echo", "app": "echo"}, {"user": users, "app": app}],
        "app_config": {app: settings},
    }


# --- audio --------------------------------------------------------------------------
def encode(lin: bytes, law: str) -> bytes:
    if law == "PCMU":
        return audioop.lin2ulaw(lin, _audio.WIDTH)
    if law == "PCMA":
        return audioop.lin2alaw(lin, _audio.WIDTH)
    raise ValueError(f"unknown law {law}")


def decode(data: bytes, law: str) -> bytes:
    if law == "PCMU":
        return audioop.ulaw2lin(data, _audio.WIDTH)
    if law == "PCMA":
        return audioop.alaw2lin(data, _audio.WIDTH)
    raise ValueError(f"unknown law {law}")


def g711_roundtrip(lin: bytes, law: str) -> bytes:
    return decode(encode(lin, law), law)


def prompt_reference(path: Path, law: str) -> bytes:
    """The 8 kHz mono 16-bit WAV at `path` as a perfect box would deliver it in `law`."""
    lin, rate, channels = _audio.read_wav(path)
    if (rate, channels) != (_audio.RATE, 1):
        raise ValueError(f"{path}: {rate} Hz x{channels}, want 8000 Hz mono")
    return g711_roundtrip(lin, law)


def tone(freq: float, seconds: float, amplitude: int = 12000) -> bytes:
    """A plain sine at 8 kHz (prompts that differ clearly from the shipped one)."""
    n = int(seconds * _audio.RATE)
    step = 2 * math.pi * freq / _audio.RATE
    return array("h", (int(amplitude * math.sin(step * i)) for i in range(n))).tobytes()


def duration(path: Path) -> float:
    lin, rate, _ = _audio.read_wav(path)
    return len(lin) / _audio.WIDTH / rate


@dataclass
class Match:
    snr_db: float
    correlation: float
    offset: int  # samples: where the shorter signal sits in the longer one
    overlap: int  # samples compared
    heard: int  # samples received
    reference: int  # samples in the reference

    def summary(self) -> str:
        return (
            f"snr={self.snr_db:.1f}dB corr={self.correlation:.4f} offset={self.offset} "
            f"overlap={self.overlap} heard={self.heard} reference={self.reference} samples"
        )


def match(heard: bytes, reference: bytes) -> Match:
    """Align the shorter signal inside the longer one (least squares) and compare the
    overlapping part: SNR of `heard` against `reference`."""
    n_heard, n_ref = len(heard) // 2, len(reference) // 2
    if not n_heard or not n_ref:
        return Match(-math.inf, 0.0, 0, 0, n_heard, n_ref)
    if n_heard >= n_ref:
        off = _audio.findfit(heard, reference)
        a, b = reference, heard[2 * off : 2 * off + len(reference)]
    else:
        off = _audio.findfit(reference, heard)
        a, b = reference[2 * off : 2 * off + len(heard)], heard
    corr, snr = _audio.compare(a, b)
    return Match(snr, corr, off, len(a) // 2, n_heard, n_ref)


def prompt_problems(heard: bytes, reference: bytes, what: str = "prompt") -> list[str]:
    """Why `heard` is not the whole of `reference` (empty: it is)."""
    m = match(heard, reference)
    problems = []
    if m.heard < m.reference - _audio.FRAME:
        problems.append(f"heard only {m.heard} of the {what}'s {m.reference} samples")
    if not m.snr_db > MIN_SNR_DB:
        problems.append(f"audio is not the {what}: {m.summary()} (want SNR > {MIN_SNR_DB} dB)")
    return problems


# --- RTP ----------------------------------------------------------------------------
def collect(
    sock: socket.socket,
    sipp: Sipp,
    timeout: float,
    tail: float = 0.2,
    until: Callable[[], bool] | None = None,
) -> _rtp.StreamRecord:
    """Record every datagram on `sock` until sipp ends or `until()` is true, then `tail`
    seconds more; at most `timeout` s in all."""
    rec = _rtp.StreamRecord()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and sipp.proc.poll() is None:
        if until is not None and until():
            break
        _rtp.listen(sock, min(0.02, max(0.0, deadline - time.monotonic())), rec)
    _rtp.listen(sock, tail, rec)
    return rec


def announce_call(
    box: Any, start_sipp: Callable[..., Sipp], user: str, timeout: float = 20.0
) -> tuple[_rtp.StreamRecord, Sipp]:
    """sipp calls `user` (uac_wait_bye: answer, then wait for the box's BYE) while the
    test records the RTP on the port in the offer. Returns (record, sipp) once sipp ended.
    """
    with _calls.rtp_socket() as sock:
        sipp = start_sipp(
            "uac_wait_bye",
            box.target,
            service=user,
            keys={"rtp_port": sock.getsockname()[1]},
            timeout=timeout,
        )
        _calls.media_of(sipp)
        rec = collect(sock, sipp, timeout)
    result = sipp.wait()
    assert result.returncode == 0, f"sipp call failed\n{sipp.describe()}"
    return rec, sipp


def stream_audio(arrivals: list[_rtp.Arrival]) -> tuple[bytes, str, bytes]:
    """(linear audio, law, raw payloads) of one RTP stream in sequence order.

    A missing sequence number becomes a frame of silence, so a loss shows up as error.
    """
    if not arrivals:
        return b"", "PCMU", b""
    pts = {a.packet.pt for a in arrivals}
    if len(pts) != 1 or next(iter(pts)) not in LAW_OF_PT:
        raise AssertionError(f"want one G.711 payload type in the stream, got {sorted(pts)}")
    law = LAW_OF_PT[next(iter(pts))]
    seqs = _rtp._extended([a.packet.seq for a in arrivals])
    by_seq = dict(zip(seqs, (a.packet.payload for a in arrivals), strict=True))
    frame = len(arrivals[0].packet.payload)
    payloads = b"".join(
        by_seq.get(s, SILENCE[law] * frame) for s in range(min(by_seq), max(by_seq) + 1)
    )
    return decode(payloads, law), law, payloads


def heard_before(rec: _rtp.StreamRecord, wall: float) -> list[_rtp.Arrival]:
    """RTP packets that arrived before the epoch time `wall`."""
    return [a for a in rec.rtp() if a.wall < wall]
