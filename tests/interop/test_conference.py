"""Conference rooms end to end: sipp participants, each sending its own tone; everyone must
hear every other tone and not their own, without clipping; the room is full at
max_participants (486)."""

from __future__ import annotations

import math
import select
import socket
import struct
import time

import pytest

from . import _audio, _rtp
from ._calls import call_length_ms, media_of, rtp_socket
from ._phone import power as goertzel_power
from ._sipp import scenario_variant

pytestmark = pytest.mark.interop

TONES = [450, 700, 1100, 1600]  # Hz, one per participant, well apart from each other
LEVEL = 6000  # amplitude per tone: four together stay far below clipping
SECONDS = 3.0
FRAME = 160


def tone_frames(freq: int, seconds: float) -> list[bytes]:
    n = int(seconds * _audio.RATE)
    lin = b"".join(
        struct.pack("<h", int(LEVEL * math.sin(2 * math.pi * freq * i / _audio.RATE)))
        for i in range(n)
    )
    return _audio.frames(_audio.to_ulaw(lin), FRAME)


def run_room(
    socks: list[socket.socket], dests: list[tuple[str, int]], seconds: float
) -> list[bytes]:
    """Send each participant's tone every 20 ms; return the PCM each one received."""
    frames = [tone_frames(f, seconds) for f in TONES[: len(socks)]]
    received: list[list[bytes]] = [[] for _ in socks]
    start = time.monotonic()
    ssrcs = [0x1000 + i for i in range(len(socks))]
    for k in range(len(frames[0])):
        for i, sock in enumerate(socks):
            packet = _rtp.pack_rtp(_rtp.PT_PCMU, k, k * FRAME, ssrcs[i], frames[i][k], k == 0)
            sock.sendto(packet, dests[i])
        deadline = start + (k + 1) * 0.02
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(socks, [], [], left)
            for sock in ready:
                data = sock.recv(2048)
                pkt = _rtp.unpack_rtp(data)
                if pkt is not None and pkt.pt == _rtp.PT_PCMU:
                    received[socks.index(sock)].append(pkt.payload)
    return [_audio.from_ulaw(b"".join(r)) for r in received]


def test_everyone_hears_the_others_and_not_themselves(box, start_sipp):
    b = box(
        {
            "apps": {"echo": "apps.echo", "conference": "apps.conference"},
            "routing": [{"user": "room1", "app": "conference"}],
            "app_config": {"conference": {"max_participants": 4}},
        }
    )
    socks = [rtp_socket() for _ in TONES]
    try:
        sipps = [
            start_sipp(
                "uac_echo_call",
                b.target,
                ["-d", str(call_length_ms(SECONDS + 1))],
                keys={"rtp_port": s.getsockname()[1]},
                service="room1",
            )
            for s in socks
        ]
        dests = [media_of(s).dest for s in sipps]
        for s in sipps:
            s.wait_log(r"ACKED ")
        heard = run_room(socks, dests, SECONDS)
        for s in sipps:
            assert s.wait().returncode == 0, s.describe()
    finally:
        for s in socks:
            s.close()
    # Skip the first half second (joins, join sounds), judge the steady mix.
    for i, pcm in enumerate(heard):
        steady = pcm[8000:]
        assert len(steady) > 16000, f"participant {i} heard only {len(pcm) // 2} samples"
        powers = {f: goertzel_power(steady, f) for f in TONES}
        own = powers[TONES[i]]
        others = [powers[f] for j, f in enumerate(TONES) if j != i]
        ratio_db = 10 * math.log10(min(others) / max(own, 1e-9))
        assert ratio_db > 20, f"participant {i}: own tone only {ratio_db:.1f} dB below others"
        peak = max(abs(x) for x in struct.unpack(f"<{len(steady) // 2}h", steady))
        assert peak < 32000, f"participant {i}: mix clipped (peak {peak})"


def test_room_full_gives_486(box, start_sipp, run_sipp, tmp_path):
    b = box(
        {
            "apps": {"echo": "apps.echo", "conference": "apps.conference"},
            "routing": [{"user": "room2", "app": "conference"}],
            "app_config": {"conference": {"max_participants": 1}},
        }
    )
    with rtp_socket() as first_rtp, rtp_socket() as second_rtp:
        first = start_sipp(
            "uac_echo_call",
            b.target,
            ["-d", str(call_length_ms(1.0))],
            keys={"rtp_port": first_rtp.getsockname()[1]},
            service="room2",
        )
        first.wait_log(r"ACKED ")
        busy = scenario_variant("uac_invite_404", tmp_path, {'response="404"': 'response="486"'})
        run_sipp(busy, b.target, service="room2", keys={"rtp_port": second_rtp.getsockname()[1]})
        assert first.wait().returncode == 0, first.describe()
    assert "conference room2: full" in b.log()
