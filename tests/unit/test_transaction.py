"""RFC 3261 §17 transaction timers, driven by a fake clock."""

from __future__ import annotations

import itertools

import pytest

from sems_lite.sip.message import Request, parse_message
from sems_lite.sip.replies import make_response
from sems_lite.sip.transaction import (
    T1,
    T2,
    T4,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    State,
    invite_key_for_cancel,
    server_key,
)
from tests.unit.fakes import FakeClock


def request(method: str = "INVITE", branch: str = "z9hG4bK-abc", cseq_method: str = "") -> Request:
    data = (
        f"{method} sip:echo@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5061;branch={branch}\r\n"
        "From: <sip:a@127.0.0.1>;tag=from1\r\n"
        "To: <sip:echo@127.0.0.1>\r\n"
        "Call-ID: call-1@127.0.0.1\r\n"
        f"CSeq: 1 {cseq_method or method}\r\n"
        "Max-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


class Recorder:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, bytes]] = []
        self.terminated = 0
        self.ack_timeouts = 0

    def send(self, data: bytes) -> None:
        self.sent.append((self.clock.now, data))

    def done(self, _txn: object) -> None:
        self.terminated += 1

    def ack_timeout(self, _txn: object) -> None:
        self.ack_timeouts += 1

    def times(self) -> list[float]:
        return [round(t, 3) for t, _ in self.sent]


def invite_txn(reliable: bool = False) -> tuple[InviteServerTransaction, Recorder, FakeClock]:
    clock = FakeClock()
    rec = Recorder(clock)
    req = request()
    txn = InviteServerTransaction(
        server_key(req), req, rec.send, clock, reliable, rec.done, rec.ack_timeout
    )
    return txn, rec, clock


def test_invite_error_response_retransmitted_with_timer_g_until_ack() -> None:
    txn, rec, clock = invite_txn()
    txn.respond(make_response(txn.request, 486, to_tag="t"))
    clock.advance(3.0)
    # Sent at 0, then G doubles: 0.5, 1.5 (=0.5+1), 3.5 would be next.
    assert rec.times() == [0.0, 0.5, 1.5]
    txn.receive_request(request("ACK"))
    assert txn.state is State.CONFIRMED
    clock.advance(T4 + 0.1)
    assert txn.state is State.TERMINATED
    assert rec.terminated == 1
    assert len(rec.sent) == 3  # nothing more after the ACK
    assert rec.ack_timeouts == 0


def test_invite_timer_g_caps_at_t2_and_timer_h_gives_up() -> None:
    txn, rec, clock = invite_txn()
    txn.respond(make_response(txn.request, 404, to_tag="t"))
    clock.advance(64 * T1 + 0.01)
    gaps = [b - a for a, b in zip(rec.times(), rec.times()[1:], strict=False)]
    assert max(gaps) == pytest.approx(T2)
    assert gaps[:3] == pytest.approx([0.5, 1.0, 2.0])
    assert txn.state is State.TERMINATED
    assert rec.ack_timeouts == 1


def test_invite_retransmission_gets_the_last_response_again() -> None:
    txn, rec, _clock = invite_txn()
    txn.respond(make_response(txn.request, 100))
    txn.receive_request(request())
    assert [d for _, d in rec.sent] == [rec.sent[0][1]] * 2
    assert rec.sent[0][1].startswith(b"SIP/2.0 100 ")


def test_2xx_retransmitted_until_ack_then_absorbs_until_timer_l() -> None:
    txn, rec, clock = invite_txn(reliable=True)
    txn.respond(make_response(txn.request, 200, to_tag="t"))
    clock.advance(2.0)
    assert rec.times() == [0.0, 0.5, 1.5]  # also on TCP: 2xx is end to end
    txn.ack_2xx()
    clock.advance(10.0)
    assert len(rec.sent) == 3
    assert txn.state is State.ACCEPTED  # still absorbing INVITE retransmissions
    clock.advance(64 * T1)
    assert txn.state is State.TERMINATED
    assert rec.ack_timeouts == 0


def test_2xx_without_ack_reports_timeout() -> None:
    txn, rec, clock = invite_txn()
    txn.respond(make_response(txn.request, 200, to_tag="t"))
    clock.advance(64 * T1 + 0.01)
    assert rec.ack_timeouts == 1
    assert txn.state is State.TERMINATED


def test_non_invite_server_timer_j() -> None:
    clock = FakeClock()
    rec = Recorder(clock)
    req = request("OPTIONS")
    txn = NonInviteServerTransaction(server_key(req), req, rec.send, clock, False, rec.done)
    txn.respond(make_response(req, 200))
    txn.receive_request(req)
    assert len(rec.sent) == 2
    clock.advance(64 * T1 - 0.1)
    assert txn.state is State.COMPLETED
    clock.advance(0.2)
    assert txn.state is State.TERMINATED
    txn2 = NonInviteServerTransaction(server_key(req), req, rec.send, clock, True, rec.done)
    txn2.respond(make_response(req, 200))
    clock.advance(0.0)
    assert txn2.state is State.TERMINATED


def test_client_transaction_timer_e_and_f() -> None:
    clock = FakeClock()
    rec = Recorder(clock)
    answers: list[object] = []
    txn = NonInviteClientTransaction(
        request("BYE"), rec.send, clock, False, answers.append, rec.done
    )
    txn.start()
    clock.advance(64 * T1 + 0.01)
    times = rec.times()
    assert times[:5] == [0.0, 0.5, 1.5, 3.5, 7.5]
    assert all(b - a <= T2 + 1e-9 for a, b in itertools.pairwise(times))
    assert answers == [None]  # timer F: timeout reported once
    assert txn.state is State.TERMINATED


def test_client_transaction_final_response_stops_retransmissions() -> None:
    clock = FakeClock()
    rec = Recorder(clock)
    answers: list[object] = []
    bye = request("BYE")
    txn = NonInviteClientTransaction(bye, rec.send, clock, False, answers.append, rec.done)
    txn.start()
    clock.advance(0.6)
    ok = make_response(bye, 200)
    txn.receive_response(ok)
    clock.advance(30)
    assert len(rec.sent) == 2
    assert answers == [ok]
    assert txn.state is State.TERMINATED


def test_keys_match_ack_and_cancel_to_their_invite() -> None:
    invite = request()
    assert server_key(request("ACK")) == server_key(invite)
    assert invite_key_for_cancel(request("CANCEL")) == server_key(invite)
    assert server_key(request("CANCEL")) != server_key(invite)


def test_rfc2543_key_without_magic_cookie() -> None:
    old = request(branch="oldbranch1")
    assert server_key(old)[0] == "2543"
    assert server_key(request("ACK", branch="oldbranch1")) == server_key(old)
