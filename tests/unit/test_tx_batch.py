"""The batched send (rtp/tx_batch.py, native/rtp_tx.c): a stream whose source leases its
stored frames sends, through one C call per tick, exactly the packets Python would send.

Every case runs the same stream twice over loopback, once with the batched send and once
without (SEMS_LITE_TX_BATCH=0), and compares what the peer received, octet for octet and
tick by tick; the changes that must take the stream back from C (new source, barge-in,
hold, DTMF, a learned peer address) happen in the middle of a lease.
"""

from __future__ import annotations

import socket
import wave
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from sems_lite import native
from sems_lite.media.player import FilePlayer, Playlist, PromptCache, TonePlayer
from sems_lite.media.precoded import PrecodedPlayer
from sems_lite.rtp.echo_batch import EchoBatch
from sems_lite.rtp.tx_batch import TxBatch
from tests.unit._engine_run import Run, drain

needs_c = pytest.mark.skipif(native.IMPLEMENTATION == "fallback", reason="C kernels not built")


def law_ramp(octets: int, start: int = 0) -> bytes:
    return bytes((start + i) % 256 for i in range(octets))


def round_trip(law: bytes) -> bytes:
    """What a WAV made from these octets encodes back to (0x7F and 0xFF are both 0)."""
    return native.ulaw_encode(native.ulaw_decode(law))


def write_wav(path: Path, law: bytes) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(native.ulaw_decode(law))
    return path


Script = Callable[[Run], None]


def leased(run: Run) -> None:
    """With the batched send, the stream's frames are in C's hands right now."""
    assert (run.stream._lease_slot is not None) == run.batched


def both_ways(monkeypatch: pytest.MonkeyPatch, script: Script, port: int) -> tuple[Run, Run]:
    runs = []
    for batched in (True, False):
        run = Run(batched, monkeypatch, port + (0 if batched else 10))
        try:
            script(run)
        finally:
            run.close()
        runs.append(run)
    with_c, python = runs
    assert with_c.batched and not python.batched
    assert with_c.got == python.got
    return with_c, python


@needs_c
def test_a_precoded_prompt_goes_out_as_python_would_send_it(monkeypatch, tmp_path) -> None:
    prompt = tmp_path / "p.pcmu"
    prompt.write_bytes(law_ramp(1000))  # 6.25 frames: the last is padded by Python
    ended: list[int] = []

    def script(run: Run) -> None:
        run.stream.source = PrecodedPlayer(
            str(prompt), on_finished=lambda: ended.append(run.engine.tick_index)
        )
        run.tick(10)

    with_c, _ = both_ways(monkeypatch, script, 36000)
    assert len(with_c.got) == 7
    assert [tick for tick, _ in with_c.got] == list(range(7))
    assert with_c.got[0][1][1] == 0x80  # marker on the first, sent from Python
    payload = b"".join(data[12:] for _, data in with_c.got)
    assert payload == law_ramp(1000) + b"\xff" * 120
    assert ended[0] == ended[1] == 7


@needs_c
def test_a_playlist_of_wav_prompts_goes_out_as_python_would_send_it(monkeypatch, tmp_path) -> None:
    first = write_wav(tmp_path / "a.wav", law_ramp(1200))  # 7.5 frames
    second = write_wav(tmp_path / "b.wav", law_ramp(480, 77))  # 3 frames
    log: list[str] = []

    def script(run: Run) -> None:
        cache = PromptCache()
        run.stream.source = Playlist(
            [FilePlayer(first, cache=cache), FilePlayer(second, cache=cache)],
            on_finished=lambda: log.append(f"done at {run.engine.tick_index}"),
        )
        run.tick(3)
        assert run.stream._lease_slot is not None or not run.batched
        assert run.stream.packets_out == 3  # live while C sends
        assert run.stream.octets_out == 480
        run.tick(12)
        assert run.stream.packets_out == 11

    with_c, _ = both_ways(monkeypatch, script, 36100)
    assert log == ["done at 11", "done at 11"]
    payload = b"".join(data[12:] for _, data in with_c.got)
    assert payload == round_trip(law_ramp(1200)) + b"\xff" * 80 + round_trip(law_ramp(480, 77))
    assert [int.from_bytes(d[2:4], "big") for _, d in with_c.got][:8] == [
        65530,
        65531,
        65532,
        65533,
        65534,
        65535,
        0,
        1,
    ]


@needs_c
def test_a_new_source_mid_lease_takes_over_at_once(monkeypatch, tmp_path) -> None:
    prompt = tmp_path / "p.pcmu"
    prompt.write_bytes(law_ramp(8000))
    players: list[PrecodedPlayer] = []

    def script(run: Run) -> None:
        player = PrecodedPlayer(str(prompt))
        players.append(player)
        run.stream.source = player
        run.tick(5)
        run.stream.source = TonePlayer(1000, 100)
        run.tick(3)
        # the old player carries on from the frame after the last one sent
        run.stream.source = player
        run.tick(2)

    with_c, _ = both_ways(monkeypatch, script, 36200)
    assert len(with_c.got) == 10
    assert with_c.got[-2][1][12:] == law_ramp(8000)[800:960]
    assert players[0]._pos == players[1]._pos == 7 * 160


@needs_c
def test_barge_in_hold_dtmf_and_a_learned_address_end_the_lease(monkeypatch, tmp_path) -> None:
    prompt = write_wav(tmp_path / "p.wav", law_ramp(16000))
    finished: list[int] = []

    def script(run: Run) -> None:
        playlist = Playlist([FilePlayer(prompt, cache=PromptCache())], barge_in=True)
        playlist.on_finished = lambda: finished.append(run.engine.tick_index)
        run.stream.source = playlist
        run.tick(4)
        leased(run)
        assert run.stream.send_dtmf("5", 60)  # events go out from Python, then audio again
        run.tick(10)
        leased(run)
        run.stream.configure(replace(run.negotiated, direction="recvonly"), 20)
        run.tick(3)  # held: nothing sent
        run.stream.configure(run.negotiated, 20)
        run.tick(3)
        leased(run)
        # the caller's RTP comes from another port: the stream follows it (symmetric RTP)
        mover = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        mover.bind(("127.0.0.1", 0))
        mover.setblocking(False)
        mover.sendto(bytes([0x80, 0, 0, 1]) + bytes(8) + b"\xff" * 160, ("127.0.0.1", run.port))
        try:
            run.tick(2)
            moved = drain(mover)
            assert len(moved) == 2
            run.got.extend((-1, data) for data in moved)
            leased(run)
            playlist.on_dtmf("1")  # barge-in: the prompt stops, nothing more is sent
            run.tick(3)
            assert drain(mover) == []
        finally:
            mover.close()

    with_c, _ = both_ways(monkeypatch, script, 36300)
    sent_ticks = [tick for tick, _ in with_c.got if tick >= 0]
    assert not {14, 15, 16} & set(sent_ticks)  # held
    assert {13, 17, 18, 19} <= set(sent_ticks)
    assert max(sent_ticks) == 19
    assert any(data[1] & 0x7F == 101 for _, data in with_c.got)  # the DTMF events
    assert finished == [22, 22]  # barged into after 22 ticks


@needs_c
def test_counters_and_sequence_come_back_when_the_lease_ends(monkeypatch, tmp_path) -> None:
    prompt = tmp_path / "p.pcmu"
    prompt.write_bytes(law_ramp(1600))
    run = Run(True, monkeypatch, 36400)
    try:
        run.stream.source = PrecodedPlayer(str(prompt))
        run.tick(6)
        assert run.stream._lease_slot is not None
        assert (run.stream.packets_out, run.stream.octets_out) == (6, 960)
        assert run.stream.last_ts == (0xFFFFF000 + 5 * 160) & 0xFFFFFFFF
        run.stream.end_lease()
        assert run.stream._lease_slot is None and run.engine._batch.in_use == 0
        assert run.stream.sequence == (65530 + 6) & 0xFFFF
        assert (run.stream.packets_out, run.stream.octets_out) == (6, 960)
        run.tick(1)  # Python sends the next frame, and leases the rest again
        assert run.got[-1][1][12:] == law_ramp(1600)[960:1120]
        assert run.stream._lease_slot is not None
    finally:
        run.close()


@pytest.mark.parametrize("table", [TxBatch, EchoBatch])
def test_no_batch_on_the_fallback_or_when_switched_off(monkeypatch, table) -> None:
    monkeypatch.setenv(table.SWITCH, "0")
    assert table.create() is None
    monkeypatch.delenv(table.SWITCH)
    monkeypatch.setattr(native, "IMPLEMENTATION", "fallback")
    assert table.create() is None


@needs_c
def test_slots_are_reused_and_the_array_grows(monkeypatch) -> None:
    monkeypatch.delenv("SEMS_LITE_TX_BATCH", raising=False)
    batch = TxBatch.create()
    assert batch is not None
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    peer = (4, socket.inet_aton("127.0.0.1"), sink.getsockname()[1], 0)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def one_frame(owner: object) -> int:
        return batch.arm(
            owner,
            fd=sender.fileno(),
            peer=peer,
            data=bytes(160),
            offset=0,
            frames=1,
            payload_len=160,
            samples=160,
            ts_base=0,
            ssrc=1,
            seq=0,
            b1=0,
        )

    try:
        slots = [one_frame(n) for n in range(100)]  # past the first 64: the array grows
        assert slots == list(range(100)) and batch.in_use == 100
        for index in slots[10:]:
            batch.release(index)
        assert batch.in_use == 10
        assert one_frame("again") == 10  # the lowest free slot
        assert batch.run(0) == []  # every armed slot had one frame: sent
        assert len(drain_blocking(sink, 11)) == 11
        assert sorted(map(str, batch.run(1))) == sorted(map(str, [*range(10), "again"]))
        assert batch.capacity == 128
        for index in [*range(11)]:
            batch.release(index)
        # Empty: back to the first size, counting from slot 0, and still sending.
        assert batch.in_use == 0 and batch.capacity == TxBatch.FIRST_CAPACITY
        assert one_frame("after") == 0
        assert batch.run(2) == []
        assert len(drain_blocking(sink, 1)) == 1
    finally:
        sink.close()
        sender.close()


def drain_blocking(sock: socket.socket, count: int) -> list[bytes]:
    sock.settimeout(1.0)
    return [sock.recv(2048) for _ in range(count)]
