"""RFC 4475 torture messages, sent one by one over UDP to a running box.

Each message goes out byte-identical except for the top Via's sent-by (see _torture.py
for why). The expected outcome per message comes from the README table next to the
messages. Answers are read on the sending UDP socket and, in case the box honours a
TCP/TLS Via by connecting back, on a TCP listener bound to the same port. Valid INVITEs
are completed (ACK, and BYE for a 2xx) so no call is left behind; at the end the box
must still answer OPTIONS with 200.
"""

from __future__ import annotations

import select
import socket
import time

import pytest

from . import _sip
from ._box import tail
from ._torture import Case, load_cases, rewrite_top_via, torture_dir

pytestmark = pytest.mark.interop

DROP_WAIT = 1.0  # "no reply within 1 s"
FINAL_WAIT = 3.0  # time allowed for a final response
AFTER_FINAL = 0.2  # keep listening a moment for strays (a second answer)
SINGLE_WAIT = 1.0  # dblreq: the trailing message must stay unanswered this long


class TorturePeer:
    """UDP socket plus a TCP listener on the same loopback port."""

    def __init__(self) -> None:
        for _ in range(50):
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        else:
            raise RuntimeError("no port free for both UDP and TCP")
        self.tcp.listen(4)
        self.conns: list[socket.socket] = []
        self.buffers: dict[socket.socket, bytes] = {}
        self.local = f"127.0.0.1:{self.port}"

    def close(self) -> None:
        for s in [self.udp, self.tcp, *self.conns]:
            s.close()

    def collect(self, seconds: float, stop_at_final: bool) -> list[_sip.Message]:
        out: list[_sip.Message] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.udp, self.tcp, *self.conns], [], [], left)
            for sock in ready:
                out.extend(self._read(sock))
            if stop_at_final and any(m.is_response and m.status >= 200 for m in out):
                break
        return out

    def _read(self, sock: socket.socket) -> list[_sip.Message]:
        if sock is self.tcp:
            conn, _ = sock.accept()
            self.conns.append(conn)
            self.buffers[conn] = b""
            return []
        if sock is self.udp:
            try:
                data = sock.recv(65535)
            except ConnectionRefusedError:
                return []
            return [_parse(data)]
        chunk = sock.recv(65535)
        if not chunk:
            self.conns.remove(sock)
            sock.close()
            return []
        self.buffers[sock] += chunk
        return self._split_stream(sock)

    def _split_stream(self, sock: socket.socket) -> list[_sip.Message]:
        msgs = []
        buf = self.buffers[sock].lstrip(b"\r\n")
        while (end := buf.find(b"\r\n\r\n")) >= 0:
            head = _parse(buf[: end + 4])
            length = int(head.header("content-length") or 0)
            if len(buf) < end + 4 + length:
                break
            msgs.append(_parse(buf[: end + 4 + length]))
            buf = buf[end + 4 + length :].lstrip(b"\r\n")
        self.buffers[sock] = buf
        return msgs


def _parse(data: bytes) -> _sip.Message:
    try:
        return _sip.parse(data)
    except ValueError:
        return _sip.Message("<unparsable>", raw=data)


def _finals(msgs: list[_sip.Message]) -> list[_sip.Message]:
    """Distinct final responses (retransmissions of the same one counted once)."""
    seen: dict[tuple, _sip.Message] = {}
    for m in msgs:
        if m.is_response and m.start_line != "<unparsable>" and m.status >= 200:
            seen.setdefault((m.status, m.header("cseq"), m.header("via")), m)
    return list(seen.values())


def _ack_and_bye(peer: TorturePeer, box_addr: tuple, sent: bytes, final: _sip.Message) -> None:
    """Complete an INVITE the box answered: ACK (RFC 3261 §17.1.1.3 / §13.2.2.4), then BYE."""
    cseq_num = (final.header("cseq") or "1 INVITE").split()[0]
    via = final.header("via") or ""
    common = [
        f"From: {final.header('from')}",
        f"To: {final.header('to')}",
        f"Call-ID: {final.header('call-id')}",
        "Max-Forwards: 70",
    ]
    if final.status >= 300:
        ruri = sent.split(b"\r\n", 1)[0].split()[1].decode(errors="replace")
        ack = [f"ACK {ruri} SIP/2.0", f"Via: {via.split(',')[0]}", *common]
        peer.udp.sendto(_wire([*ack, f"CSeq: {cseq_num} ACK"]), box_addr)
        return
    target = _sip.uri_of(final.header("contact") or f"<sip:{box_addr[0]}:{box_addr[1]}>")
    for method, num in (("ACK", cseq_num), ("BYE", str(int(cseq_num) + 1))):
        branch = _sip.new_token("z9hG4bK")
        lines = [
            f"{method} {target} SIP/2.0",
            f"Via: SIP/2.0/UDP {peer.local};branch={branch};rport",
            *common,
            f"CSeq: {num} {method}",
        ]
        peer.udp.sendto(_wire(lines), box_addr)
    peer.collect(1.0, stop_at_final=True)  # the 200 to our BYE


def _wire(lines: list[str]) -> bytes:
    return ("\r\n".join([*lines, "Content-Length: 0"]) + "\r\n\r\n").encode()


def _run_case(case: Case, box_addr: tuple) -> tuple[str | None, list[_sip.Message], bytes]:
    peer = TorturePeer()
    try:
        data, rewritten = rewrite_top_via(case.data, peer.local)
        if rewritten == 0:
            return "found no top Via to point at our socket", [], data
        peer.udp.sendto(data, box_addr)
        exp = case.expectation
        if exp.kind == "drop":
            msgs = peer.collect(DROP_WAIT, stop_at_final=False)
        else:
            msgs = peer.collect(FINAL_WAIT, stop_at_final=True)
            msgs += peer.collect(SINGLE_WAIT if exp.single else AFTER_FINAL, False)
        finals = _finals(msgs)
        for f in finals:
            if f.method == "INVITE":  # leave no transaction or call behind
                _ack_and_bye(peer, box_addr, data, f)
        header_ok = bool(finals) and (exp.header is None or bool(finals[0].all(exp.header)))
        problem = exp.check([f.status for f in finals], header_ok)
        if exp.kind == "drop" and not problem and msgs:
            problem = f"want no answer, got {[m.start_line for m in msgs]}"
        return problem, msgs, data
    finally:
        peer.close()


def test_rfc4475_torture_messages(box):
    folder = torture_dir()
    if folder is None:
        pytest.skip(
            "RFC 4475 messages not found (../shared/testdata/rfc4475 or $SEMS_LITE_RFC4475)"
        )
    cases = load_cases(folder)
    assert len(cases) == 49, f"README lists {len(cases)} messages, RFC 4475 has 49"
    b = box()
    box_addr = (b.host, b.port)
    failures = []
    for case in cases:
        problem, msgs, _sent = _run_case(case, box_addr)
        # The results table (shown with `pytest -s`): file, expectation, what came back.
        answers = ", ".join(m.start_line for m in msgs) or "nothing (dropped)"
        print(f"RFC4475 | {case.name} | {case.expectation.text} | {answers}")
        if problem:
            got = ", ".join(m.start_line for m in msgs) or "nothing"
            failures.append(
                f"{case.name} ({case.section} {case.title}): {problem}\n"
                f"    expected: {case.expectation.text}; received: {got}"
            )
        assert b.alive(), f"box died on {case.name}\n{tail(b.log())}"
    ping = _sip.options_ping(b.host, b.port, timeout=2.0)
    assert ping is not None and ping.status == 200, "box no longer answers OPTIONS with 200"
    assert not failures, f"{len(failures)} of {len(cases)} messages mishandled:\n" + "\n".join(
        failures
    )
