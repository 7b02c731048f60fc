"""Dial-out without the network: the INVITE client transaction (RFC 3261 §17.1.1 with
RFC 6026), the UAC dialog, ACK, CANCEL and the answer's SDP, on a fake clock."""

from __future__ import annotations

import pytest

from sems_lite.call import CallState
from sems_lite.sip.message import Request, parse_message
from sems_lite.ua import DialError
from tests.unit.test_ua import PEER

BASE = """
sip: {listen: ["udp:127.0.0.1:5060"]}
rtp: {ports: "34400-34499", dead_rtp_timeout: 0}
limits: {max_calls: 2}
apps: {echo: apps.echo}
routing:
  - {user: echo, app: echo}
"""
TARGET = "sip:bob@127.0.0.1:5061"
ANSWER = (
    b"v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


class Outcome:
    def __init__(self) -> None:
        self.answered: list = []
        self.failed: list[int] = []

    def on_answered(self, call) -> None:
        self.answered.append(call)

    def on_failed(self, call, status: int) -> None:
        self.failed.append(status)


@pytest.fixture
def dialer(ua_from):
    agent, net, loop = ua_from(BASE)
    outcome = Outcome()

    def dial(target: str = TARGET, **kw):
        return agent.dial(
            target, "echo", on_answered=outcome.on_answered, on_failed=outcome.on_failed, **kw
        )

    return agent, net, loop, outcome, dial


def sent_requests(net, method: str) -> list[Request]:
    """What the box sent, a transaction's retransmissions (same bytes) counted once."""
    seen: dict[bytes, Request] = {}
    for req in net.requests(method):
        seen.setdefault(req.serialize(), req)
    return list(seen.values())


def reply(
    req: Request, status: int, *, body: bytes = b"", tag: str = "callee", extra: str = ""
) -> bytes:
    reason = {180: "Ringing", 200: "OK", 486: "Busy Here", 487: "Request Terminated"}
    lines = [
        f"SIP/2.0 {status} {reason.get(status, 'X')}",
        *(f"Via: {v}" for v in req.headers.get_all("Via")),
        f"From: {req.headers.get('From')}",
        f"To: {req.headers.get('To')}" + (f";tag={tag}" if status > 100 else ""),
        f"Call-ID: {req.call_id}",
        f"CSeq: {req.headers.get('CSeq')}",
        "Contact: <sip:bob@127.0.0.1:5062>",
    ]
    if extra:
        lines.append(extra)
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_invite_carries_an_offer_and_the_2xx_is_acked_to_the_contact(dialer) -> None:
    agent, net, _loop, outcome, dial = dialer
    call = dial()
    (invite,) = sent_requests(net, "INVITE")
    assert str(invite.uri) == TARGET and invite.from_addr.tag and not invite.to_addr.tag
    assert b"m=audio" in invite.body and invite.content_type == "application/sdp"
    agent.receive(reply(invite, 180), PEER)
    assert call.state is CallState.DIALING and not outcome.answered
    agent.receive(reply(invite, 200, body=ANSWER, extra="Record-Route: <sip:10.0.0.9;lr>"), PEER)
    assert outcome.answered == [call] and call.state is CallState.CONFIRMED
    assert call.negotiated is not None and call.negotiated.codec.name == "PCMU"
    (ack,) = sent_requests(net, "ACK")
    assert str(ack.uri) == "sip:bob@127.0.0.1:5062"  # the Contact of the 2xx
    assert ack.cseq.number == 1 and ack.to_addr.tag == "callee"
    assert ack.headers.get("Route") == "<sip:10.0.0.9;lr>"
    assert ack.vias[0].branch != invite.vias[0].branch  # a 2xx ACK is its own transaction
    # A retransmitted 2xx gets the same ACK again.
    agent.receive(reply(invite, 200, body=ANSWER), PEER)
    assert len(net.requests("ACK")) == 2
    assert len(outcome.answered) == 1


def test_the_callee_hangs_up_with_bye(dialer) -> None:
    agent, net, _loop, _outcome, dial = dialer
    call = dial()
    (invite,) = sent_requests(net, "INVITE")
    agent.receive(reply(invite, 200, body=ANSWER), PEER)
    bye = (
        "BYE sip:sems@127.0.0.1:5060 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-bye\r\n"
        f"From: {invite.headers.get('To')};tag=callee\r\n"
        f"To: {invite.headers.get('From')}\r\n"
        f"Call-ID: {invite.call_id}\r\nCSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    agent.receive(bye, PEER)
    assert call.ended and not agent.calls
    assert net.statuses()[-1] == 200


def test_our_hangup_after_the_answer_sends_bye_in_the_dialog(dialer) -> None:
    agent, net, _loop, _outcome, dial = dialer
    call = dial()
    (invite,) = sent_requests(net, "INVITE")
    agent.receive(reply(invite, 200, body=ANSWER), PEER)
    call.hangup("done")
    (bye,) = sent_requests(net, "BYE")
    assert str(bye.uri) == "sip:bob@127.0.0.1:5062" and bye.cseq.number == 2
    assert bye.to_addr.tag == "callee" and bye.from_addr.tag == invite.from_addr.tag


def test_a_busy_callee_gets_an_ack_on_the_invite_branch_and_the_call_fails(dialer) -> None:
    agent, net, _loop, outcome, dial = dialer
    call = dial()
    (invite,) = sent_requests(net, "INVITE")
    agent.receive(reply(invite, 486), PEER)
    assert outcome.failed == [486] and call.ended and not agent.calls
    (ack,) = sent_requests(net, "ACK")
    assert ack.vias[0].branch == invite.vias[0].branch and ack.to_addr.tag == "callee"
    agent.receive(reply(invite, 486), PEER)  # retransmitted final: ACK again
    assert len(net.requests("ACK")) == 2
    assert agent.ports.in_use == 0


def test_no_answer_retransmits_then_fails_with_408_after_timer_b(dialer) -> None:
    _agent, net, loop, outcome, dial = dialer
    dial()
    loop.advance(0.6)
    assert len(net.requests("INVITE")) == 2  # timer A: at 0.5 s, then 1.5, 3.5, 7.5, 15.5, 31.5
    loop.advance(32.0)
    assert outcome.failed == [408]
    assert len(net.requests("INVITE")) == 7
    loop.advance(10.0)
    assert len(net.requests("INVITE")) == 7  # nothing after timer B


def test_hangup_while_ringing_sends_cancel_and_ends_on_487(dialer) -> None:
    agent, net, _loop, outcome, dial = dialer
    call = dial()
    (invite,) = sent_requests(net, "INVITE")
    agent.receive(reply(invite, 180), PEER)
    call.hangup("changed my mind")
    (cancel,) = sent_requests(net, "CANCEL")
    assert cancel.vias[0].branch == invite.vias[0].branch
    assert cancel.cseq.number == 1 and cancel.cseq.method == "CANCEL"
    assert str(cancel.uri) == str(invite.uri)
    agent.receive(reply(invite, 487), PEER)
    assert outcome.failed == [487] and call.ended


def test_cancel_waits_for_a_provisional_response(dialer) -> None:
    agent, net, _loop, _outcome, dial = dialer
    call = dial()
    (invite,) = sent_requests(net, "INVITE")
    call.hangup("too soon")
    assert not sent_requests(net, "CANCEL")  # RFC 3261 §9.1: not before a 1xx
    agent.receive(reply(invite, 180), PEER)
    assert len(sent_requests(net, "CANCEL")) == 1


def test_a_2xx_racing_the_cancel_is_acked_then_ended_with_bye(dialer) -> None:
    agent, net, _loop, outcome, dial = dialer
    call = dial()
    (invite,) = sent_requests(net, "INVITE")
    agent.receive(reply(invite, 180), PEER)
    call.hangup("bye")
    agent.receive(reply(invite, 200, body=ANSWER), PEER)
    assert len(sent_requests(net, "ACK")) == 1 and len(sent_requests(net, "BYE")) == 1
    assert not outcome.answered


def test_ring_timeout_cancels(dialer) -> None:
    agent, net, loop, outcome, dial = dialer
    dial(ring_timeout=5.0)
    (invite,) = sent_requests(net, "INVITE")
    agent.receive(reply(invite, 180), PEER)
    loop.advance(5.5)
    assert len(sent_requests(net, "CANCEL")) == 1
    agent.receive(reply(invite, 487), PEER)
    assert outcome.failed == [487]


def test_an_answer_without_sdp_ends_the_call(dialer) -> None:
    agent, net, _loop, outcome, dial = dialer
    call = dial()
    (invite,) = sent_requests(net, "INVITE")
    agent.receive(reply(invite, 200), PEER)
    assert not outcome.answered
    assert len(sent_requests(net, "ACK")) == 1 and len(sent_requests(net, "BYE")) == 1
    assert call.state is CallState.ENDING


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("tel:+123", "not a sip: URI"),
        ("sip:bob@127.0.0.1;transport=sctp", "no sctp listener"),
        ("nonsense", "bad target"),
    ],
)
def test_bad_targets_raise_dial_error(dialer, target: str, message: str) -> None:
    agent, _net, _loop, _outcome, dial = dialer
    with pytest.raises(DialError, match=message):
        dial(target)
    assert not agent.calls


def test_the_call_limit_applies_to_dial_out(dialer) -> None:
    _agent, _net, _loop, _outcome, dial = dialer
    dial()
    dial("sip:carol@127.0.0.1:5061")
    with pytest.raises(DialError, match="call limit"):
        dial("sip:dave@127.0.0.1:5061")


def test_parse_of_what_we_send_is_clean(dialer) -> None:
    _agent, net, _loop, _outcome, dial = dialer
    dial()
    data, _peer = net.sent[0]
    assert isinstance(parse_message(data), Request)
