"""The server profile's pure parts: which worker owns a message, and each worker's share
of the RTP range, the call limit and the control port."""

from __future__ import annotations

import random

import pytest

from sems_lite.config import parse_config
from sems_lite.workers import worker_config, worker_for


def message(call_id_line: str) -> bytes:
    return (
        "INVITE sip:echo@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n"
        f"{call_id_line}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_every_message_of_a_dialog_goes_to_one_worker() -> None:
    owner = worker_for(message("Call-ID: abc@host"), 4)
    # Compact form, case and spacing vary between the requests of one dialog.
    for line in ("i: abc@host", "call-id:abc@host", "CALL-ID :  abc@host  "):
        assert worker_for(message(line), 4) == owner


def test_a_message_without_call_id_goes_to_worker_0() -> None:
    assert worker_for(message("X-No: call id"), 4) == 0
    assert worker_for(b"garbage", 3) == 0


def test_random_call_ids_spread_evenly() -> None:
    rng = random.Random(7)
    counts = [0, 0, 0]
    for _ in range(3000):
        counts[worker_for(message(f"Call-ID: {rng.getrandbits(64):x}"), 3)] += 1
    assert all(900 <= c <= 1100 for c in counts), counts


CONFIG = """
rtp: {ports: "10000-10999"}
limits: {max_calls: 101}
control: {listen: "127.0.0.1:8090"}
"""


def test_worker_shares_do_not_overlap() -> None:
    config = parse_config(CONFIG, "x.yaml")
    shares = [worker_config(config, i, 3) for i in range(3)]
    ranges = [(c.rtp.port_low, c.rtp.port_high) for c in shares]
    assert ranges == [(10000, 10331), (10332, 10663), (10664, 10995)]
    assert all(low % 2 == 0 for low, _ in ranges)
    assert [c.limits.max_calls for c in shares] == [34, 34, 34]
    assert [c.control.port for c in shares] == [8090, 8091, 8092]


def test_a_range_too_small_for_the_workers_is_refused() -> None:
    config = parse_config('rtp: {ports: "10000-10003"}\n', "x.yaml")
    with pytest.raises(ValueError, match="too small for 3 workers"):
        worker_config(config, 0, 3)


def test_a_worker_keeps_its_share_across_a_reload(tmp_path) -> None:
    import socket

    from sems_lite.server import Server
    from sems_lite.workers import WorkerSockets

    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    inbox, other = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    config = worker_config(parse_config(CONFIG, str(path)), 1, 3)
    server = Server(config, workers=WorkerSockets(1, [], inbox, 3))
    try:
        path.write_text(CONFIG.replace("max_calls: 101", "max_calls: 12"))
        assert server.reload()
        assert server.config.limits.max_calls == 4
        assert (server.config.rtp.port_low, server.config.rtp.port_high) == (10332, 10663)
        assert server.config.control.port == 8091
    finally:
        server.loop.close()
        inbox.close()
        other.close()
