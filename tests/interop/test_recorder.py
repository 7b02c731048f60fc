"""The crash-safe recorder end to end: the caller's audio goes to a WAV file (app
tests.interop.apps.record_caller, flush every 1600 bytes = 100 ms) whose header is
rewritten at every flush.

- kill -9 in the middle of the call leaves a valid WAV holding the audio up to the last
  flush, sample for sample what was sent (after the G.711 round trip);
- a BYE closes the file with all of the audio, including the tail shorter than a flush.
"""

from __future__ import annotations

import struct
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import _audio, _rtp
from ._box import Box, BoxError, start_box, tail
from ._calls import call_length_ms, media_of, rtp_socket, signal_payloads
from ._net import free_port
from ._relay import send_schedule

pytestmark = pytest.mark.interop

FLUSH_BYTES = 1600  # 100 ms of 16-bit 8 kHz audio
SSRC = 0x7EC0_7EC0
KILL_AFTER_S = 2.0
MIN_SURVIVING_S = 1.5
MIN_SNR_DB = 30.0
# 152 frames (3.04 s): 48640 bytes, not a multiple of FLUSH_BYTES, so the last 640 bytes
# reach the file only when the call's end closes the recorder.
CLEAN_FRAMES = 152


def record_config(path: Path) -> dict[str, Any]:
    return {
        "apps": {"rec": "tests.interop.apps.record_caller"},
        "routing": [{"user": "rec", "app": "rec"}],
        "app_config": {"rec": {"path": str(path), "flush_bytes": FLUSH_BYTES}},
    }


@pytest.fixture
def killable_box(
    request: pytest.FixtureRequest, tmp_path: Path, rtp_ports: tuple[int, int]
) -> Iterator[Callable[..., Box]]:
    """Like `box`, but the test may SIGKILL it: teardown only makes sure it is gone
    (SIGTERM, then SIGKILL) and shows its stderr if the test failed."""
    started: list[Box] = []

    def factory(config: dict[str, Any]) -> Box:
        if started:
            raise RuntimeError("one killable box per test")
        try:
            b = start_box(
                tmp_path / "box",
                host="127.0.0.1",
                port=free_port("127.0.0.1"),
                rtp_ports=(rtp_ports[0], rtp_ports[0] + 99),
                config=config,
            )
        except BoxError as exc:
            pytest.fail(str(exc), pytrace=False)
        started.append(b)
        return b

    yield factory
    for b in started:
        b.stop()
        rep = getattr(request.node, "rep_call", None)
        if rep is None or rep.failed:
            print(f"===== {b.describe()} stderr =====\n{tail(b.log(), 300)}")


def rtp_slots(payloads: list[bytes]) -> list[list[bytes]]:
    return [
        [_rtp.pack_rtp(_rtp.PT_PCMU, 500 + i, 8000 + i * _audio.FRAME, SSRC, p, i == 0)]
        for i, p in enumerate(payloads)
    ]


def wav_layout(path: Path) -> tuple[int, int, int]:
    """(RIFF size field, data chunk offset, data size field), walking the chunks."""
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE", f"not a RIFF/WAVE file: {raw[:12]!r}"
    riff_size = struct.unpack_from("<I", raw, 4)[0]
    pos = 12
    while pos + 8 <= len(raw):
        cid, size = struct.unpack_from("<4sI", raw, pos)
        if cid == b"data":
            return riff_size, pos + 8, size
        pos += 8 + size + (size & 1)
    raise AssertionError(f"{path}: no data chunk")


def check_wav(path: Path) -> bytes:
    """Open with the stdlib `wave`: 8 kHz mono 16-bit, header consistent with the file."""
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        frames = w.readframes(w.getnframes())
        assert len(frames) == 2 * w.getnframes(), "header promises more audio than the file has"
    riff_size, data_at, data_size = wav_layout(path)
    assert riff_size == data_at - 8 + data_size + (data_size & 1), "RIFF size disagrees"
    return frames


def match_sent(recorded: bytes, sent_lin: bytes) -> tuple[int, float]:
    """Align the recording in what was sent (findfit on a middle piece, then the whole
    recording is compared); returns (offset in samples, SNR in dB)."""
    n = len(recorded) // 2
    piece_at = n // 2 - 800
    piece = recorded[piece_at * 2 : (piece_at + 1600) * 2]
    offset = _audio.findfit(sent_lin, piece) - piece_at
    assert offset >= 0 and offset + n <= len(sent_lin) // 2, (
        f"recording ({n} samples) does not fit in what was sent at offset {offset}"
    )
    _corr, snr = _audio.compare(sent_lin[offset * 2 : (offset + n) * 2], recorded)
    return offset, snr


def test_kill_9_leaves_valid_wav_with_audio_up_to_last_flush(killable_box, start_sipp, tmp_path):
    wav_path = tmp_path / "rec.wav"
    b = killable_box(record_config(wav_path))
    payloads = signal_payloads(3.0)
    sent_lin = _audio.from_ulaw(b"".join(payloads))  # what the box can decode
    kill_slot = int(KILL_AFTER_S / _rtp.PTIME)
    killed = {}

    def kill() -> None:
        b.proc.kill()
        b.proc.wait(5)
        killed["at"] = time.monotonic()

    with rtp_socket() as sock:
        sipp = start_sipp(
            "uac_echo_call",
            b.target,
            ["-d", str(call_length_ms(3.0))],
            keys={"rtp_port": sock.getsockname()[1]},
            service="rec",
        )
        media = media_of(sipp)
        send_schedule(sock, media.dest, rtp_slots(payloads), at_slot={kill_slot: kill})
    sipp.kill()  # its BYE has no one to answer it now
    assert b.proc.returncode == -9, f"box exit code {b.proc.returncode}, want -9 (SIGKILL)"

    recorded = check_wav(wav_path)
    _, data_at, data_size = wav_layout(wav_path)
    file_size = wav_path.stat().st_size
    seconds = len(recorded) / 2 / _audio.RATE
    assert seconds >= MIN_SURVIVING_S, f"only {seconds:.2f} s survived the kill"
    # Nothing the box had not received yet: at most the frames sent before the kill.
    assert len(recorded) // 2 <= kill_slot * _audio.FRAME
    # The header was last written at a flush, and at most one flush of data is beyond it.
    assert data_size % FLUSH_BYTES == 0, f"data size {data_size} is not at a flush boundary"
    assert 0 <= file_size - (data_at + data_size) <= FLUSH_BYTES
    offset, snr = match_sent(recorded, sent_lin)
    assert offset == 0, f"recording starts {offset} samples into the signal, want 0"
    assert snr > MIN_SNR_DB, f"recording differs from what was sent: SNR {snr:.1f} dB"


def test_bye_closes_wav_with_all_audio(box, start_sipp, tmp_path):
    wav_path = tmp_path / "rec.wav"
    b = box(record_config(wav_path))
    payloads = signal_payloads(CLEAN_FRAMES * _rtp.PTIME)[:CLEAN_FRAMES]
    assert len(payloads) == CLEAN_FRAMES
    sent_lin = _audio.from_ulaw(b"".join(payloads))
    with rtp_socket() as sock:
        sipp = start_sipp(
            "uac_echo_call",
            b.target,
            ["-d", str(call_length_ms(CLEAN_FRAMES * _rtp.PTIME))],
            keys={"rtp_port": sock.getsockname()[1]},
            service="rec",
        )
        media = media_of(sipp)
        send_schedule(sock, media.dest, rtp_slots(payloads))
        result = sipp.wait()
    assert result.returncode == 0, f"sipp call failed\n{sipp.describe()}"
    want = CLEAN_FRAMES * _audio.FRAME * 2
    # The BYE's 200 can reach sipp a moment before the box closes the file.
    deadline = time.monotonic() + 2.0
    while wav_layout(wav_path)[2] < want and time.monotonic() < deadline:
        time.sleep(0.02)
    assert b.alive(), "the box died"
    recorded = check_wav(wav_path)
    assert len(recorded) == want, (
        f"recording has {len(recorded) // 2} samples, sent {want // 2} "
        f"(a tail of {want % FLUSH_BYTES} bytes is written only when the file is closed)"
    )
    assert wav_path.stat().st_size == wav_layout(wav_path)[1] + want
    offset, snr = match_sent(recorded, sent_lin)
    assert offset == 0 and snr > MIN_SNR_DB, f"offset {offset}, SNR {snr:.1f} dB"
