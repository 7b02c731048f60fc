"""One RTP stream on a MediaEngine driven tick by tick, with a peer socket on loopback
that records what arrives per tick: the harness of the batched send and echo tests,
which run the same script with and without the C batch and compare what the peer got."""

from __future__ import annotations

import socket

import pytest

from sems_lite.core.ports import RtpPortPool
from sems_lite.media.codecs import PCMU
from sems_lite.media.engine import MediaEngine
from sems_lite.rtp.stream import RtpStream
from sems_lite.sdp.offer_answer import NegotiatedStream

PERIOD = 0.02


class HandClock:
    """The loop as the engine sees it: time moved by the test, timers never fired."""

    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: object) -> HandClock:
        return self

    def cancel(self) -> None:
        pass


def drain(sock: socket.socket) -> list[bytes]:
    got = []
    while True:
        try:
            got.append(sock.recv(2048))
        except BlockingIOError:
            return got


class Run:
    """One stream on the engine, a peer socket that records what arrives per tick.

    `switch` names the environment variable that turns the C batch under test on or off
    (SEMS_LITE_TX_BATCH, SEMS_LITE_ECHO_BATCH); the other batch stays as it is."""

    def __init__(
        self,
        batch: bool,
        monkeypatch: pytest.MonkeyPatch,
        base_port: int,
        switch: str = "SEMS_LITE_TX_BATCH",
        jitter_frames: tuple[int, int] = (1, 10),
    ) -> None:
        monkeypatch.setenv(switch, "1" if batch else "0")
        self.peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.peer.bind(("127.0.0.1", 0))
        self.peer.setblocking(False)
        rtp, rtcp, port = RtpPortPool(base_port, base_port + 9).allocate("127.0.0.1") or (
            None,
            None,
            0,
        )
        assert rtp is not None and rtcp is not None
        self.port = port
        self.stream = RtpStream(rtp, rtcp, port, None, *jitter_frames)
        self.negotiated = NegotiatedStream(
            remote_address="127.0.0.1",
            remote_port=self.peer.getsockname()[1],
            payload_type=0,
            codec=PCMU.spec,
            telephone_event_pt=101,
            ptime=20,
            direction="sendrecv",
            rtcp_mux=False,
        )
        self.stream.configure(self.negotiated, 20)
        # The same packets both times: fix what is random per stream.
        self.stream.ssrc, self.stream.sequence, self.stream.ts_base = 0x5EED, 65530, 0xFFFFF000
        self.clock = HandClock()
        self.engine = MediaEngine(self.clock, 20)  # type: ignore[arg-type]
        self.engine.add(self.stream)
        self.batched = (
            self.engine._echo if switch == "SEMS_LITE_ECHO_BATCH" else self.engine._batch
        ) is not None
        self.got: list[tuple[int, bytes]] = []

    def tick(self, count: int = 1) -> None:
        for _ in range(count):
            tick = self.engine.tick_index
            self.clock.now = self.engine._start + tick * PERIOD
            self.engine._run()
            self.got.extend((tick, data) for data in drain(self.peer))

    def close(self) -> None:
        self.engine.remove(self.stream)
        self.stream.close()
        self.peer.close()
