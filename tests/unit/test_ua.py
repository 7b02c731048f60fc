"""The user agent core without the network: requests in, responses out, on a fake clock.

The UA gets a fake transport that records what it sends; RTP ports come from a real pool
on loopback (the media plane is not exercised here, only signalling).
"""

from __future__ import annotations

from typing import Any

import pytest

from sems_lite.apps import AppTable, Router
from sems_lite.config import parse_config
from sems_lite.core.ports import RtpPortPool
from sems_lite.core.transport import Peer
from sems_lite.media.engine import MediaEngine
from sems_lite.sip.message import Response, parse_message
from sems_lite.sip.transaction import T1
from sems_lite.ua import UserAgent
from tests.unit.fakes import FakeClock

CONFIG = """
sip: {listen: ["udp:127.0.0.1:5060"]}
rtp: {ports: "34000-34099", dead_rtp_timeout: 5}
limits: {max_calls: 2, retry_after: 7}
apps: {echo: apps.echo}
routing:
  - {user: echo, app: echo}
  - {user: ring, app: echo}
app_config: {}
"""

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
)
PEER = Peer("udp", "127.0.0.1", 5061, 0)


class FakeLoop(FakeClock):
    def add_reader(self, *_args: Any) -> None:
        return None

    def remove(self, *_args: Any) -> None:
        return None


class FakeTransports:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Peer]] = []
        self.listeners = [("udp", "127.0.0.1", 5060, None)]

    def send(self, data: bytes, peer: Peer) -> bool:
        self.sent.append((data, peer))
        return True

    def listener_for(self, transport: str, host: str) -> int | None:
        return 0

    def responses(self) -> list[Response]:
        out = [parse_message(d) for d, _ in self.sent]
        return [m for m in out if isinstance(m, Response)]

    def statuses(self) -> list[int]:
        return [r.status for r in self.responses()]

    def requests(self, method: str) -> list[Any]:
        return [
            m
            for m in (parse_message(d) for d, _ in self.sent)
            if not isinstance(m, Response) and m.method == method
        ]


def build_ua(text: str, path: str) -> tuple[UserAgent, FakeTransports, FakeLoop]:
    """A UA on a fake clock and transport, configured from YAML `text` (its RTP range)."""
    config = parse_config(text, path)
    loop = FakeLoop()
    transports = FakeTransports()
    agent = UserAgent(
        loop,  # type: ignore[arg-type]
        config,
        transports,  # type: ignore[arg-type]
        MediaEngine(loop, 20),  # type: ignore[arg-type]
        RtpPortPool(config.rtp.port_low, config.rtp.port_high),
        Router(config),
        AppTable(config),
    )
    return agent, transports, loop


@pytest.fixture
def ua(tmp_path) -> tuple[UserAgent, FakeTransports, FakeLoop]:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    agent, transports, loop = build_ua(CONFIG, str(path))
    yield agent, transports, loop
    for call in list(agent.calls.values()):
        call._finish("test over")


def request(
    method: str,
    user: str = "echo",
    *,
    call_id: str = "c1",
    cseq: int = 1,
    branch: str = "z9hG4bK-1",
    to_tag: str | None = None,
    body: bytes = b"",
    cseq_method: str | None = None,
    headers: tuple[str, ...] = (),
) -> bytes:
    to = f"<sip:{user}@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} sip:{user}@127.0.0.1 SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:5061;branch={branch}",
        "From: <sip:a@127.0.0.1>;tag=f1",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method or method}",
        "Contact: <sip:a@127.0.0.1:5061>",
        "Max-Forwards: 70",
        *headers,
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def to_tag_of(resp: Response) -> str:
    tag = resp.to_addr.tag
    assert tag
    return tag


def test_invite_gets_100_then_200_with_sdp_and_retransmits_until_ack(ua) -> None:
    agent, net, loop = ua
    agent.receive(request("INVITE", body=SDP), PEER)
    assert net.statuses() == [100, 200]
    ok = net.responses()[1]
    assert b"m=audio" in ok.body and ok.headers.get("Contact")
    loop.advance(1.0)
    assert net.statuses().count(200) == 2  # retransmitted at T1
    agent.receive(request("ACK", to_tag=to_tag_of(ok), branch="z9hG4bK-2"), PEER)
    loop.advance(10.0)
    assert net.statuses().count(200) == 2  # no more after the ACK
    assert len(agent.calls) == 1


def test_invite_retransmission_is_absorbed_not_a_new_call(ua) -> None:
    agent, net, _loop = ua
    agent.receive(request("INVITE", body=SDP), PEER)
    agent.receive(request("INVITE", body=SDP), PEER)
    assert len(agent.calls) == 1
    # RFC 6026: after the 2xx the INVITE transaction absorbs retransmissions; the 2xx is
    # resent on its own timer, not per retransmitted INVITE.
    assert net.statuses() == [100, 200]


def test_missing_ack_ends_the_call_with_bye(ua) -> None:
    agent, net, loop = ua
    agent.receive(request("INVITE", body=SDP), PEER)
    loop.advance(64 * T1 + 0.1)
    byes = net.requests("BYE")
    assert len(byes) == 1
    assert byes[0].call_id == "c1"


def test_cancel_before_answer_gives_487_and_200(ua, tmp_path) -> None:
    agent, net, _loop = ua
    agent.apps.instance("echo").answer_delay = 5.0  # type: ignore[attr-defined]
    agent.receive(request("INVITE", "ring", body=SDP), PEER)
    assert net.statuses() == [100, 180]
    agent.receive(request("CANCEL", "ring"), PEER)
    statuses = net.statuses()
    assert sorted(statuses[2:]) == [200, 487]
    cancel_ok = [r for r in net.responses() if r.cseq.method == "CANCEL"]
    assert [r.status for r in cancel_ok] == [200]
    assert not agent.calls


def test_cancel_without_invite_is_481(ua) -> None:
    agent, net, _loop = ua
    agent.receive(request("CANCEL", branch="z9hG4bK-none"), PEER)
    assert net.statuses() == [481]


def test_reinvite_hold_and_491_while_pending(ua) -> None:
    agent, net, _loop = ua
    agent.receive(request("INVITE", body=SDP), PEER)
    tag = to_tag_of(net.responses()[1])
    agent.receive(request("ACK", to_tag=tag, branch="z9hG4bK-a"), PEER)
    hold = SDP + b"a=sendonly\r\n"
    agent.receive(request("INVITE", to_tag=tag, cseq=2, branch="z9hG4bK-r", body=hold), PEER)
    answer = net.responses()[-1]
    assert answer.status == 200 and b"a=recvonly" in answer.body
    call = next(iter(agent.calls.values()))
    assert call.held
    # A second re-INVITE before the first is ACKed: 491.
    agent.receive(request("INVITE", to_tag=tag, cseq=3, branch="z9hG4bK-s", body=SDP), PEER)
    assert net.responses()[-1].status == 491


def test_out_of_order_cseq_in_dialog_is_500(ua) -> None:
    agent, net, _loop = ua
    agent.receive(request("INVITE", cseq=5, body=SDP), PEER)
    tag = to_tag_of(net.responses()[1])
    agent.receive(request("ACK", to_tag=tag, cseq=5, branch="z9hG4bK-a"), PEER)
    agent.receive(request("OPTIONS", to_tag=tag, cseq=4, branch="z9hG4bK-o"), PEER)
    assert net.responses()[-1].status == 500


def test_call_limit_gives_503_with_retry_after(ua) -> None:
    agent, net, _loop = ua
    for n in range(3):
        agent.receive(request("INVITE", call_id=f"c{n}", branch=f"z9hG4bK-{n}", body=SDP), PEER)
    last = net.responses()[-1]
    assert last.status == 503
    assert last.headers.get("Retry-After") == "7"


def test_no_route_is_404_and_no_common_codec_488(ua) -> None:
    agent, net, _loop = ua
    agent.receive(request("INVITE", "nobody", body=SDP), PEER)
    assert net.statuses()[-1] == 404
    g729 = SDP.replace(b"0 101", b"18")
    agent.receive(request("INVITE", call_id="c2", branch="z9hG4bK-9", body=g729), PEER)
    assert net.statuses()[-1] == 488
    assert not agent.calls


def test_bye_in_dialog_and_outside(ua) -> None:
    agent, net, _loop = ua
    agent.receive(request("BYE", branch="z9hG4bK-b"), PEER)
    assert net.statuses() == [481]
    agent.receive(request("INVITE", body=SDP), PEER)
    tag = to_tag_of(net.responses()[-1])
    agent.receive(request("BYE", to_tag=tag, cseq=2, branch="z9hG4bK-c"), PEER)
    assert net.statuses()[-1] == 200
    assert not agent.calls


def test_info_dtmf_relay_reaches_the_app(ua) -> None:
    agent, net, _loop = ua
    agent.receive(request("INVITE", body=SDP), PEER)
    tag = to_tag_of(net.responses()[-1])
    call = next(iter(agent.calls.values()))
    digits: list[tuple[str, int]] = []
    call.app = type("Probe", (), {"on_dtmf": lambda self, c, d, ms: digits.append((d, ms))})()
    info = request("INFO", to_tag=tag, cseq=2, branch="z9hG4bK-i", body=b"")
    info = info.replace(
        b"Content-Length: 0\r\n\r\n",
        b"Content-Type: application/dtmf-relay\r\nContent-Length: 24\r\n\r\n"
        b"Signal=5\r\nDuration=160\r\n",
    )
    agent.receive(info, PEER)
    assert net.statuses()[-1] == 200
    assert digits == [("5", 160)]


def test_dead_rtp_timeout_sends_bye_but_not_on_hold(ua) -> None:
    agent, net, loop = ua
    agent.receive(request("INVITE", body=SDP), PEER)
    tag = to_tag_of(net.responses()[-1])
    agent.receive(request("ACK", to_tag=tag, branch="z9hG4bK-a"), PEER)
    loop.advance(6.2)
    assert {b.call_id for b in net.requests("BYE")} == {"c1"}
    # A held call is left alone.
    agent.receive(request("INVITE", call_id="h", branch="z9hG4bK-h", body=SDP), PEER)
    tag2 = to_tag_of(net.responses()[-1])
    agent.receive(request("ACK", call_id="h", to_tag=tag2, branch="z9hG4bK-ha"), PEER)
    hold = SDP + b"a=inactive\r\n"
    agent.receive(
        request("INVITE", call_id="h", to_tag=tag2, cseq=2, branch="z9hG4bK-hr", body=hold), PEER
    )
    agent.receive(request("ACK", call_id="h", to_tag=tag2, cseq=2, branch="z9hG4bK-hb"), PEER)
    loop.advance(20)
    assert {b.call_id for b in net.requests("BYE")} == {"c1"}


def test_unparsable_request_gets_400_and_garbage_is_dropped(ua) -> None:
    agent, net, _loop = ua
    bad = request("OPTIONS").replace(b"CSeq: 1 OPTIONS", b"CSeq: x OPTIONS")
    agent.receive(bad, PEER)
    assert len(net.sent) == 1 and net.sent[0][0].startswith(b"SIP/2.0 400 ")
    agent.receive(b"\x00\xffnot sip at all", PEER)
    assert len(net.sent) == 1


def test_reinvite_codec_change_reconfigures_the_stream(ua) -> None:
    agent, net, _loop = ua
    agent.receive(request("INVITE", body=SDP), PEER)
    tag = to_tag_of(net.responses()[-1])
    agent.receive(request("ACK", to_tag=tag, branch="z9hG4bK-a"), PEER)
    call = next(iter(agent.calls.values()))
    assert call.stream.codec is not None and call.stream.codec.spec.name == "PCMU"
    pcma = SDP.replace(b"0 101", b"8 101")
    agent.receive(request("INVITE", to_tag=tag, cseq=2, branch="z9hG4bK-r", body=pcma), PEER)
    answer = net.responses()[-1]
    assert answer.status == 200 and b"m=audio" in answer.body
    assert b" RTP/AVP 8" in answer.body
    assert call.stream.codec.spec.name == "PCMA" and call.stream.payload_type == 8


def test_memory_is_handed_back_once_the_last_call_and_its_transactions_are_gone(
    ua, monkeypatch
) -> None:
    from sems_lite import memory

    released: list[float] = []
    agent, net, loop = ua
    monkeypatch.setattr(memory, "release", lambda: released.append(loop.now) or True)
    agent.receive(request("INVITE", body=SDP), PEER)
    tag = to_tag_of(net.responses()[-1])
    agent.receive(request("ACK", to_tag=tag, branch="z9hG4bK-a"), PEER)
    agent.receive(request("BYE", to_tag=tag, cseq=2, branch="z9hG4bK-c"), PEER)
    assert not agent.calls
    ended = loop.now
    loop.advance(5.0)
    assert released == []  # the BYE's transaction still lingers for retransmissions
    loop.advance(60.0)
    assert len(released) == 1
    assert released[0] - ended >= 32.0  # after timer J (64 * T1)
    assert not agent.server_txns and not agent.client_txns
