"""CPU per stream per media tick, in-process: the RTP path without SIP or sipp around it.

    python bench/tick_cost.py [--streams 200] [--ticks 500] [--profile]

Three workloads on loopback sockets:
- announcement: the caller sends nothing; each stream plays a WAV prompt through a
  playlist, as the announcement app does (PCM, encoded per frame);
- precoded: the same with a .pcmu prompt sent as stored (precoded_announce);
- echo: a peer socket sends one PCMU packet per stream per tick, the stream echoes it.
With the C kernels, the announcement and precoded streams lease their frames to the
batched send (one C call per tick for all of them); SEMS_LITE_TX_BATCH=0 in the
environment sends from Python instead, for comparison.
The media engine's tick is called directly (no timer, a hand-advanced clock), so the
figure is the Python and syscall cost alone. --profile adds the hottest functions
(cProfile, own time).
Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import socket
import struct
import tempfile
import time
import wave
from pathlib import Path

from sems_lite import native
from sems_lite.core.ports import RtpPortPool
from sems_lite.media.codecs import PCMU
from sems_lite.media.engine import MediaEngine
from sems_lite.media.player import FilePlayer, Playlist
from sems_lite.media.precoded import PrecodedPlayer
from sems_lite.rtp.stream import RtpStream
from sems_lite.sdp.offer_answer import NegotiatedStream

FRAME = 160
PERIOD = 0.02


class TickClock:
    """The loop as the engine sees it: a clock we advance by hand, timers never fired."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: object) -> TickClock:
        return self

    def cancel(self) -> None:
        pass


class EchoBuffer:
    """What the echo app does with a stream: the sink's frames come back as its source."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def write(self, pcm: bytes) -> None:
        if len(self.frames) < 8:
            self.frames.append(pcm)

    def read(self, nbytes: int) -> bytes | None:
        return self.frames.pop(0) if self.frames else None


def make_streams(count: int, workload: str, sink_addr: tuple, prompts: str) -> list[RtpStream]:
    pool = RtpPortPool(42000, 42000 + 2 * count + 10)
    streams = []
    for _ in range(count):
        rtp, rtcp, port = pool.allocate("127.0.0.1") or (None, None, 0)
        if rtp is None or rtcp is None:
            raise SystemExit("out of RTP ports in 42000-44000")
        echo = workload == "echo"
        stream = RtpStream(
            rtp, rtcp, port, jitter_min_frames=0 if echo else 1, jitter_max_frames=0 if echo else 10
        )
        stream.configure(
            NegotiatedStream(
                remote_address=sink_addr[0],
                remote_port=sink_addr[1],
                payload_type=0,
                codec=PCMU.spec,
                telephone_event_pt=None,
                ptime=20,
                direction="sendrecv",
                rtcp_mux=False,
            ),
            20,
        )
        stream.want_inband_dtmf(False)
        if echo:
            buffer = EchoBuffer()
            stream.sink = buffer
            stream.source = buffer
        elif workload == "precoded":
            stream.source = PrecodedPlayer(str(Path(prompts) / "prompt.pcmu"))
        else:
            stream.source = Playlist([FilePlayer(Path(prompts) / "prompt.wav")])
        streams.append(stream)
    return streams


def run(workload: str, count: int, ticks: int, profile: bool) -> dict:
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    with tempfile.TemporaryDirectory() as tmp:
        law = bytes(range(256)) * 400  # 12.8 s, longer than the run
        (Path(tmp) / "prompt.pcmu").write_bytes(law)
        with wave.open(str(Path(tmp) / "prompt.wav"), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(8000)
            wav.writeframes(native.ulaw_decode(law))
        streams = make_streams(count, workload, peer.getsockname(), tmp)
        for stream in streams:  # the players open their files on the first read
            stream.transmit(0)
    payload = native.ulaw_encode(bytes(2 * FRAME))
    ports = [("127.0.0.1", s.local_port) for s in streams]
    header = struct.Struct("!BBHII")
    clock = TickClock()
    engine = MediaEngine(clock, 20)  # type: ignore[arg-type]
    for stream in streams:
        engine.add(stream)
    profiler = cProfile.Profile() if profile else None
    cpu = 0.0
    for tick in range(ticks):
        if workload == "echo":
            for port in ports:  # the peers' packets, outside the measured time
                peer.sendto(header.pack(0x80, 0, tick, tick * FRAME, 0x1234) + payload, port)
        while True:  # the box's packets are not wanted; keep the peer's buffer empty
            try:
                peer.recv(2048, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
        clock.now = engine._start + tick * PERIOD  # every tick exactly on time
        if profiler:
            profiler.enable()
        t0 = time.process_time()
        engine._run()
        cpu += time.process_time() - t0
        if profiler:
            profiler.disable()
    sent = sum(s.packets_out for s in streams)
    for stream in streams:
        engine.remove(stream)
        stream.close()
    peer.close()
    result = {
        "workload": workload,
        "streams": count,
        "ticks": ticks,
        "native": native.IMPLEMENTATION,
        "us_per_stream_tick": round(cpu / (count * ticks) * 1e6, 2),
        # One core's share per channel at 50 ticks/s, comparable to the sipp bench.
        "pct_core_per_channel": round(cpu / (count * ticks) * 50 * 100, 4),
        "packets_out": sent,
    }
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
        result["profile"] = out.getvalue()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--ticks", type=int, default=500)
    parser.add_argument(
        "--workload", choices=("announcement", "precoded", "echo", "all"), default="all"
    )
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    workloads = ("announcement", "precoded", "echo") if args.workload == "all" else (args.workload,)
    for workload in workloads:
        result = run(workload, args.streams, args.ticks, args.profile)
        profile = result.pop("profile", None)
        print(json.dumps(result))
        if profile:
            print(profile)


if __name__ == "__main__":
    main()
