"""RFC 4028 session timers wired into the UA, on a fake clock: the 2xx carries the
negotiated interval, a refresh from the peer restarts it, a silent peer gets a BYE, the
box refreshes with UPDATE when it is the refresher, and too-small intervals get 422."""

from __future__ import annotations

import pytest

from sems_lite.sip.message import Response
from tests.unit.test_ua import PEER, SDP, FakeTransports, build_ua, request

BASE = """
sip: {listen: ["udp:127.0.0.1:5060"], session_timer: {session_expires: 600, min_se: 90}}
rtp: {ports: "34200-34299", dead_rtp_timeout: 0}
apps: {echo: apps.echo}
routing:
  - {user: echo, app: echo}
"""


@pytest.fixture
def ua(ua_from):
    return lambda extra="": ua_from(BASE + extra)


def ok_of(net: FakeTransports) -> Response:
    return next(r for r in net.responses() if r.status == 200 and r.cseq.method == "INVITE")


def call_up(agent, net: FakeTransports, *headers: str) -> str:
    agent.receive(request("INVITE", body=SDP, headers=headers), PEER)
    ok = ok_of(net)
    tag = ok.to_addr.tag
    agent.receive(request("ACK", to_tag=tag, branch="z9hG4bK-ack"), PEER)
    return tag


def sent(net: FakeTransports, method: str) -> list:
    """Requests the box sent, retransmissions (same CSeq) counted once."""
    seen = {}
    for req in net.requests(method):
        seen.setdefault(req.cseq.number, req)
    return list(seen.values())


def byes(net: FakeTransports) -> list:
    return sent(net, "BYE")


def test_caller_refreshes_and_a_silent_caller_gets_bye_before_expiry(ua) -> None:
    agent, net, loop = ua()
    call_up(agent, net, "Supported: timer", "Session-Expires: 120;refresher=uac")
    ok = ok_of(net)
    assert ok.headers.get("Session-Expires") == "120;refresher=uac"
    assert ok.headers.get("Require") == "timer"
    assert "timer" in (ok.headers.get("Supported") or "")
    # No refresh: BYE at 120 - min(32, 120/3) = 88 s, not before.
    loop.advance(87.0)
    assert not byes(net)
    loop.advance(2.0)
    assert len(byes(net)) == 1


def test_a_refresh_from_the_caller_restarts_the_interval(ua) -> None:
    agent, net, loop = ua()
    tag = call_up(agent, net, "Supported: timer", "Session-Expires: 120;refresher=uac")
    loop.advance(60.0)
    refresh = request(
        "UPDATE",
        to_tag=tag,
        cseq=2,
        branch="z9hG4bK-upd",
        headers=("Supported: timer", "Session-Expires: 120;refresher=uac"),
    )
    agent.receive(refresh, PEER)
    answer = [r for r in net.responses() if r.cseq.method == "UPDATE"][-1]
    assert answer.status == 200 and answer.headers.get("Session-Expires") == "120;refresher=uac"
    loop.advance(80.0)  # 140 s after the start, 80 s after the refresh: still up
    assert not byes(net) and len(agent.calls) == 1
    loop.advance(10.0)  # 90 s after the refresh: over 88 s
    assert len(byes(net)) == 1


def test_caller_without_timer_support_gets_a_box_refresher_with_update(ua) -> None:
    agent, net, loop = ua()
    call_up(agent, net)  # no Supported: timer -> the box refreshes (RFC 4028 Table 2)
    ok = ok_of(net)
    assert ok.headers.get("Session-Expires") == "600;refresher=uas"
    assert ok.headers.get("Require") is None
    loop.advance(299.0)
    assert not sent(net, "UPDATE")
    loop.advance(2.0)
    updates = sent(net, "UPDATE")
    assert len(updates) == 1
    assert updates[0].headers.get("Session-Expires") == "600;refresher=uac"
    # The peer answers 200: the call goes on, the next refresh comes 300 s later.
    reply = updates[0]
    answer = (
        f"SIP/2.0 200 OK\r\nVia: {reply.headers.get('Via')}\r\n"
        f"From: {reply.headers.get('From')}\r\nTo: {reply.headers.get('To')}\r\n"
        f"Call-ID: {reply.call_id}\r\nCSeq: {reply.headers.get('CSeq')}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    agent.receive(answer, PEER)
    loop.advance(299.0)
    assert len(sent(net, "UPDATE")) == 1 and not byes(net)
    loop.advance(2.0)
    assert len(sent(net, "UPDATE")) == 2


def test_an_unanswered_refresh_ends_the_call(ua) -> None:
    agent, net, loop = ua()
    call_up(agent, net)
    loop.advance(301.0)
    assert len(sent(net, "UPDATE")) == 1
    loop.advance(64 * 0.5 + 1)  # timer F of the UPDATE
    assert len(byes(net)) == 1


def test_too_small_session_expires_gets_422_with_min_se(ua) -> None:
    agent, net, _loop = ua()
    agent.receive(
        request("INVITE", body=SDP, headers=("Supported: timer", "Session-Expires: 30")), PEER
    )
    final = next(r for r in net.responses() if r.status >= 200)
    assert final.status == 422 and final.headers.get("Min-SE") == "90"
    assert not agent.calls


def test_require_timer_is_accepted_not_420(ua) -> None:
    agent, net, _loop = ua()
    agent.receive(
        request(
            "INVITE",
            body=SDP,
            headers=("Require: timer", "Supported: timer", "Session-Expires: 1800"),
        ),
        PEER,
    )
    assert ok_of(net).headers.get("Session-Expires") == "600;refresher=uac"


def test_disabled_timer_sends_no_headers_and_refuses_require_timer(tmp_path) -> None:
    text = BASE.replace(
        "session_timer: {session_expires: 600, min_se: 90}", "session_timer: {enabled: false}"
    )
    agent, net, loop = build_ua(text, str(tmp_path / "c.yaml"))
    call_up(agent, net)
    assert ok_of(net).headers.get("Session-Expires") is None
    loop.advance(4000.0)
    assert not sent(net, "UPDATE") and not byes(net)
    agent.receive(
        request("INVITE", call_id="c2", branch="z9hG4bK-2", body=SDP, headers=("Require: timer",)),
        PEER,
    )
    assert net.statuses()[-1] == 420
    for call in list(agent.calls.values()):
        call._finish("test over")
