"""Overload protection in the UA on a fake clock: the calls-per-second token bucket and the
cap on server transactions in flight, plus their config keys."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sems_lite.config import ConfigError, parse_config
from sems_lite.ua import LINGER_FACTOR, UserAgent
from tests.unit.test_ua import PEER, SDP, FakeLoop, FakeTransports, build_ua, request

BASE = """
sip: {listen: ["udp:127.0.0.1:5060"]}
rtp: {ports: "34100-34199", dead_rtp_timeout: 0}
apps: {echo: apps.echo}
routing:
  - {user: echo, app: echo}
app_config: {}
"""

Agent = tuple[UserAgent, FakeTransports, FakeLoop]


@pytest.fixture
def make_ua(ua_from) -> Callable[[str], Agent]:
    """Factory: a UA on a fake clock and transport with `limits` as given (YAML flow map)."""
    return lambda limits: ua_from(BASE + f"limits: {limits}\n")


def invite(n: int) -> bytes:
    return request("INVITE", call_id=f"flood-{n}", branch=f"z9hG4bK-f{n}", body=SDP)


def finals(net: FakeTransports) -> list[int]:
    """The first final response of each request, in order (retransmissions left out)."""
    seen: dict[tuple[str, str], int] = {}
    for resp in net.responses():
        key = (resp.call_id, resp.vias[0].branch or "")
        if resp.status >= 200 and key not in seen:
            seen[key] = resp.status
    return list(seen.values())


def test_cps_limit_sheds_invites_past_the_bucket_with_503_retry_after_1(make_ua) -> None:
    agent, net, _loop = make_ua("{max_calls: 50, cps_limit: 3}")
    for n in range(5):
        agent.receive(invite(n), PEER)
    assert finals(net) == [200, 200, 200, 503, 503]
    shed = [r for r in net.responses() if r.status == 503]
    assert all(r.headers.get("Retry-After") == "1" for r in shed)
    # Shed statelessly: a To tag, no 100 Trying, no transaction or call kept for it.
    assert all(r.to_addr.tag for r in shed)
    assert net.statuses().count(100) == 3
    assert len(agent.calls) == 3
    assert agent.response_counts[503] == 2


def test_cps_bucket_refills_at_the_configured_rate(make_ua) -> None:
    agent, net, loop = make_ua("{max_calls: 50, cps_limit: 2}")
    for n in range(3):
        agent.receive(invite(n), PEER)
    assert finals(net) == [200, 200, 503]
    loop.advance(0.49)  # less than one token back
    agent.receive(invite(3), PEER)
    assert finals(net)[-1] == 503
    loop.advance(0.02)  # now 0.5 s at 2/s: one token
    agent.receive(invite(4), PEER)
    agent.receive(invite(5), PEER)
    assert finals(net)[-2:] == [200, 503]
    # A long pause refills only up to one second's worth, not more.
    loop.advance(30.0)
    for n in range(6, 10):
        agent.receive(invite(n), PEER)
    assert finals(net)[-4:] == [200, 200, 503, 503]


def test_cps_limit_counts_only_new_invites(make_ua) -> None:
    agent, net, _loop = make_ua("{max_calls: 50, cps_limit: 1}")
    agent.receive(invite(0), PEER)
    # A retransmission of the admitted INVITE is absorbed by its transaction, not shed.
    agent.receive(invite(0), PEER)
    for n in range(3):
        opts = request("OPTIONS", call_id=f"o{n}", branch=f"z9hG4bK-o{n}")
        agent.receive(opts, PEER)
    assert finals(net) == [200, 200, 200, 200]
    ok = net.responses()[1]
    tag = ok.to_addr.tag
    # A re-INVITE inside the dialog is not a new call: it passes an empty bucket.
    agent.receive(request("ACK", call_id="flood-0", to_tag=tag, branch="z9hG4bK-a"), PEER)
    reinvite = request(
        "INVITE", call_id="flood-0", to_tag=tag, cseq=2, branch="z9hG4bK-r", body=SDP
    )
    agent.receive(reinvite, PEER)
    assert finals(net)[-1] == 200


def test_zero_cps_limit_means_unlimited(make_ua) -> None:
    agent, net, _loop = make_ua("{max_calls: 50, cps_limit: 0}")
    for n in range(20):
        agent.receive(invite(n), PEER)
    assert finals(net) == [200] * 20


def test_transaction_cap_sheds_new_requests_but_not_acks(tmp_path) -> None:
    # The echo answers after 5 s: its INVITEs stay in flight (no final answer) meanwhile.
    slow = BASE.replace("app_config: {}", "app_config: {echo: {answer_delay: 5}}")
    text = slow + "limits: {max_calls: 50, max_transactions: 4, retry_after: 9}\n"
    agent, net, loop = build_ua(text, str(tmp_path / "c.yaml"))
    for n in range(4):
        agent.receive(invite(n), PEER)
    assert len(agent.pending_txns) == 4
    agent.receive(invite(5), PEER)
    agent.receive(request("OPTIONS", call_id="o9", branch="z9hG4bK-o9"), PEER)
    assert finals(net) == [503, 503]
    assert net.statuses().count(100) == 4  # the shed INVITE got no 100 and no call
    assert len(agent.calls) == 4
    assert len(agent.server_txns) == 4  # the bound holds
    assert all(r.headers.get("Retry-After") == "9" for r in net.responses()[-2:])
    # An ACK is never answered, even at the cap.
    sent = len(net.sent)
    agent.receive(request("ACK", call_id="x", to_tag="t", branch="z9hG4bK-ack"), PEER)
    assert len(net.sent) == sent
    # Once the calls are answered, their transactions are no longer in flight.
    loop.advance(5.5)
    assert not agent.pending_txns
    agent.receive(invite(6), PEER)
    assert net.statuses().count(100) == 5
    for call in list(agent.calls.values()):
        call._finish("test over")


def test_answered_transactions_do_not_count_as_in_flight(make_ua) -> None:
    agent, net, _loop = make_ua("{max_calls: 50, max_transactions: 4}")
    for n in range(12):
        agent.receive(request("OPTIONS", call_id=f"o{n}", branch=f"z9hG4bK-o{n}"), PEER)
    # All twelve answered: they linger for retransmissions (timer J) but shed nothing.
    assert finals(net) == [200] * 12
    assert len(agent.server_txns) == 12 and not agent.pending_txns


def test_lingering_transactions_are_capped_oldest_first(make_ua) -> None:
    agent, net, _loop = make_ua("{max_calls: 50, max_transactions: 2}")
    cap = LINGER_FACTOR * 2
    for n in range(cap + 5):
        agent.receive(request("OPTIONS", call_id=f"o{n}", branch=f"z9hG4bK-o{n}"), PEER)
    assert len(agent.server_txns) == cap
    # The five oldest were ended early: a retransmission of one is a new request now.
    sent = len(net.sent)
    agent.receive(request("OPTIONS", call_id="o0", branch="z9hG4bK-o0"), PEER)
    agent.receive(request("OPTIONS", call_id=f"o{cap}", branch=f"z9hG4bK-o{cap}"), PEER)
    assert len(net.sent) == sent + 2  # o0 answered afresh; the newer one's 200 resent
    assert len(agent.server_txns) == cap


def test_flood_memory_is_bounded_by_the_transaction_cap(make_ua) -> None:
    agent, net, _loop = make_ua("{max_calls: 10, max_transactions: 50}")
    for n in range(2000):
        agent.receive(invite(n), PEER)
    # 10 calls are up (their 2xx await an ACK); the other INVITEs were answered 503 and
    # never ACKed: those linger up to the cap.
    assert len(agent.server_txns) == LINGER_FACTOR * 50 + 10
    assert len(agent.calls) == 10
    # Every INVITE got exactly one final response.
    assert len(finals(net)) == 2000


def test_a_2xx_awaiting_its_ack_is_never_ended_early(make_ua) -> None:
    agent, net, _loop = make_ua("{max_calls: 50, max_transactions: 1}")
    for n in range(3 * LINGER_FACTOR):
        agent.receive(invite(n), PEER)
    assert finals(net) == [200] * (3 * LINGER_FACTOR)
    # None was ACKed: every one of them still resends its 2xx and waits (timer L).
    assert len(agent.server_txns) == 3 * LINGER_FACTOR


def test_limits_config_defaults_and_values(tmp_path) -> None:
    path = str(tmp_path / "c.yaml")
    cfg = parse_config(BASE, path)
    assert (cfg.limits.cps_limit, cfg.limits.max_transactions) == (0.0, 2000)
    cfg = parse_config(BASE + "limits: {cps_limit: 2.5, max_transactions: 30}\n", path)
    assert (cfg.limits.cps_limit, cfg.limits.max_transactions) == (2.5, 30)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ("limits:\n  cps_limit: -1\n", "x.yaml:2: limits.cps_limit: -1 must be >= 0 (0: no limit)"),
        ("limits:\n  cps_limit: fast\n", "x.yaml:2: limits.cps_limit: expected a number"),
        ("limits:\n  max_transactions: 0\n", "x.yaml:2: limits.max_transactions: 0 must be > 0"),
        ("limits:\n  max_transactions: 1.5\n", "x.yaml:2: limits.max_transactions: "),
        ("limits:\n  cps_limt: 5\n", "x.yaml:2: limits.cps_limt: unknown key"),
    ],
)
def test_limits_config_errors_name_file_line_key(limits: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(limits, "x.yaml")
    assert str(info.value).startswith(message), str(info.value)


def test_fractional_cps_limit_admits_the_first_call_then_one_per_period(make_ua) -> None:
    agent, net, loop = make_ua("{max_calls: 50, cps_limit: 0.5}")
    agent.receive(invite(0), PEER)
    agent.receive(invite(1), PEER)
    assert finals(net) == [200, 503]
    loop.advance(1.9)
    agent.receive(invite(2), PEER)
    loop.advance(0.2)  # 2.1 s after the first: one token back
    agent.receive(invite(3), PEER)
    assert finals(net) == [200, 503, 503, 200]
