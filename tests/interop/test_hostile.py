"""Hostile input: garbage, truncated and oversized packets to the SIP port (UDP and TCP) and
to an active call's RTP/RTCP ports, and sipvicious scans. Afterwards the box must still
answer OPTIONS with 200 (UDP and TCP), must not have logged a traceback, and the call's
echo must still be clean.

Everything is seeded, bounded in count and time.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from . import _rtp, _sip
from ._calls import echo_problems, signal_payloads
from ._net import host_port
from .test_overload import proc_status_kb, sequence_gaps, start_echo_calls

pytestmark = pytest.mark.interop

SEED = 6
RANDOM_DATAGRAMS = 300
SIGNAL_SECONDS = 3.0
DRAIN_SECONDS = 1.5
SCAN_TIMEOUT = 30.0
RSS_MARGIN_KB = 10 * 1024


def _invite(target: str, local: str = "127.0.0.1:9") -> bytes:
    sdp = (
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        b"m=audio 9 RTP/AVP 0\r\n"
    )
    return _sip.build_request("INVITE", f"sip:nobody@{target}", local=local, body=sdp)


def sip_garbage(target: str, rng: random.Random) -> list[bytes]:
    """Truncated, oversized and random messages for the SIP port."""
    invite = _invite(target)
    head = invite.split(b"\r\n\r\n")[0]
    out = [
        b"",
        b"\x00",
        b"\r\n",
        b"\r\n\r\n",
        b"A" * 65000,
        invite[: len(invite) // 2],
        invite[:1],
        head + b"\r\n",  # headers without the blank line
        invite.replace(b"Content-Length: ", b"Content-Length: 9999999"),
        invite.replace(b"Content-Length: ", b"Content-Length: -"),
        invite.replace(b"SIP/2.0\r\n", b"SIP/9.9\r\n", 1),
        head + b"\r\nX-Long: " + b"x" * 60000 + b"\r\n\r\n",
        head + b"\r\n" + b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKv\r\n" * 1500 + b"\r\n",
        b"INVITE " + b"sip:" * 5000 + b" SIP/2.0\r\n\r\n",
        b"SIP/2.0 200 OK\r\nCSeq: 1 BYE\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKq\r\n\r\n",
        bytes(rng.randrange(256) for _ in range(1500)),
    ]
    for _ in range(RANDOM_DATAGRAMS):
        kind = rng.randrange(3)
        if kind == 0:  # noise of any length
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 1400))))
        elif kind == 1:  # a real INVITE with a few bytes flipped
            data = bytearray(invite)
            for _ in range(rng.randrange(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            out.append(bytes(data))
        else:  # a real INVITE cut anywhere
            out.append(invite[: rng.randrange(len(invite))])
    return out


def rtp_garbage(rng: random.Random) -> list[bytes]:
    """Packets for an RTP/RTCP port that must not disturb the call's own stream.

    None of them is a well-formed RTP packet (a valid one from a new source is, by
    design, followed: symmetric RTP), so the echo must not move or break.
    """
    out = [
        b"",
        b"\x80",
        b"\x80\x00\x00",
        b"\x80" * 11,  # one short of a header
        b"\x8f" + bytes(11),  # 15 CSRCs announced, none present
        b"\x90" + bytes(11) + b"\xbe\xde\xff\xff",  # extension longer than the packet
        b"\xa0" + bytes(11) + b"\xff",  # padding longer than the packet
        b"\x00" * 65000,
        b"\x40" * 172,  # version 1
    ]
    for _ in range(RANDOM_DATAGRAMS):
        first = rng.choice([0x00, 0x40, 0xC0, rng.randrange(256) & 0x3F])
        length = rng.randrange(1, 400)
        out.append(bytes([first, *(rng.randrange(256) for _ in range(length))]))
    return out


def send_udp(packets: list[bytes], dest: tuple[str, int]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for n, data in enumerate(packets):
            try:
                sock.sendto(data, dest)
            except ConnectionRefusedError:  # an ICMP error from an earlier datagram
                sock.sendto(data, dest)
            if n % 50 == 49:
                time.sleep(0.01)  # keep the socket buffer from dropping most of it


def send_tcp(packets: list[bytes], dest: tuple[str, int]) -> None:
    """Each payload on its own connection, closed after a short read of any answer."""
    for data in packets:
        with socket.create_connection(dest, timeout=0.3) as sock:
            try:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
                sock.recv(65536)
            except (TimeoutError, ConnectionError):
                pass  # the box may close or stay silent: both are fine


def options_over_tcp(host: str, port: int, timeout: float = 3.0) -> _sip.Message | None:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        local = host_port(*sock.getsockname()[:2])
        req = _sip.build_request(
            "OPTIONS", f"sip:ping@{host_port(host, port)}", local=local, transport="TCP"
        )
        sock.sendall(req)
        data = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in data and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    try:
        return _sip.parse(data)
    except ValueError:
        return None


def assert_box_healthy(b) -> None:
    assert b.alive(), f"the box died (exit code {b.proc.returncode})"
    ping = _sip.options_ping(b.host, b.port, timeout=2.0)
    assert ping is not None and ping.status == 200, f"OPTIONS over UDP: {ping and ping.start_line}"
    tcp = options_over_tcp(b.host, b.port)
    assert tcp is not None and tcp.status == 200, f"OPTIONS over TCP: {tcp and tcp.start_line}"
    assert "Traceback" not in b.log(), "the box logged a traceback (see its stderr below)"


def test_garbage_to_sip_and_rtp_ports_leaves_box_and_call_intact(box, start_sipp):
    b = box()
    rng = random.Random(SEED)
    [(sipp, sock, media)] = start_echo_calls(b, start_sipp, 1, SIGNAL_SECONDS + 4)
    try:
        rss_before = proc_status_kb(b.proc.pid)
        sip_packets = sip_garbage(b.target, rng)
        send_udp(sip_packets, (b.host, b.port))
        tcp_packets = sip_packets[:16] + rng.sample(sip_packets[16:], 30)
        send_tcp(tcp_packets, (b.host, b.port))
        rtp_packets = rtp_garbage(rng)
        send_udp(rtp_packets, media)
        send_udp(rtp_packets, (media[0], media[1] + 1))  # RTCP
        assert_box_healthy(b)
        # "Afterwards": the box reads a bounded number of packets per stream and tick, so
        # the garbage queued on the RTP socket takes up to a second to drain.
        time.sleep(DRAIN_SECONDS)
        rec = _rtp.stream(sock, media, signal_payloads(SIGNAL_SECONDS))
    finally:
        sock.close()
    assert sipp.wait().returncode == 0, sipp.describe()
    report = _rtp.analyse_echo(rec)
    print(report.summary())
    problems = echo_problems(report)
    assert not problems, f"{report.summary()}\n" + "\n".join(problems)
    assert sequence_gaps(rec) == 0
    rss_after = proc_status_kb(b.proc.pid)
    print(f"RSS {rss_before} -> {rss_after} kB")
    assert rss_after - rss_before <= RSS_MARGIN_KB
    assert_box_healthy(b)


def _tool(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def _scan(cmd: list[str], home: Path) -> subprocess.CompletedProcess:
    # sipvicious keeps session files under $HOME/.sipvicious: keep them in the test's folder.
    env = dict(os.environ, HOME=str(home))
    try:
        return subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SCAN_TIMEOUT,
            cwd=home,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        # A scan that does not finish is the scanner's business; the box is judged after.
        return subprocess.CompletedProcess(cmd, -9, str(exc.stdout), str(exc.stderr))


def test_sipvicious_scans_do_not_hurt_the_box(box, tmp_path):
    # Debian's sipvicious names them svmap/svwar; the PyPI one sipvicious_svmap/_svwar.
    svmap = _tool("svmap", "sipvicious_svmap")
    svwar = _tool("svwar", "sipvicious_svwar")
    if svmap is None or svwar is None:
        pytest.skip("sipvicious (svmap/svwar) is not on PATH: apt-get install sipvicious")
    b = box({"routing": [{"user": "100", "app": "echo"}, {"user": "echo", "app": "echo"}]})
    rss_before = proc_status_kb(b.proc.pid)
    # svmap: finds SIP devices (OPTIONS by default, here INVITE too).
    scans = [
        [svmap, "-p", str(b.port), b.host],
        [svmap, "-p", str(b.port), "-m", "INVITE", b.host],
        # svwar: guesses extensions 100..110 with INVITE; 100 routes to echo.
        [svwar, "-m", "INVITE", "-e100-110", "-p", str(b.port), b.host],
        [svwar, "-m", "OPTIONS", "-e100-110", "-p", str(b.port), b.host],
    ]
    outputs = []
    for cmd in scans:
        result = _scan(cmd, tmp_path)
        outputs.append(f"$ {' '.join(cmd)} -> {result.returncode}\n{result.stdout}{result.stderr}")
    print("\n".join(outputs))
    assert "sems_lite" in outputs[0], "svmap did not find the box:\n" + outputs[0]
    assert_box_healthy(b)
    rss_after = proc_status_kb(b.proc.pid)
    assert rss_after - rss_before <= RSS_MARGIN_KB, f"RSS {rss_before} -> {rss_after} kB"
