"""The UA's counters for /metrics: requests by method, responses by code, calls by result."""

from __future__ import annotations

from collections.abc import Callable

from tests.unit.test_overload import BASE, Agent
from tests.unit.test_ua import PEER, SDP, request, to_tag_of


def test_requests_responses_and_call_results_are_counted(ua_from: Callable[[str], Agent]) -> None:
    agent, net, _loop = ua_from(BASE)
    agent.receive(request("OPTIONS", branch="z9hG4bK-o"), PEER)
    agent.receive(request("FROB", branch="z9hG4bK-x"), PEER)  # not a method we know
    agent.receive(request("INVITE", branch="z9hG4bK-i", body=SDP), PEER)
    to_tag = to_tag_of(net.responses()[-1])  # the INVITE's 200
    agent.receive(request("ACK", branch="z9hG4bK-a", to_tag=to_tag), PEER)
    agent.receive(request("BYE", branch="z9hG4bK-b", cseq=2, to_tag=to_tag), PEER)

    counted = {method: n for method, n in agent.request_counts.items() if n}
    assert counted == {"OPTIONS": 1, "INVITE": 1, "ACK": 1, "BYE": 1, "other": 1}
    assert "FROB" not in agent.request_counts  # network-made names do not become labels
    sent = [r.status for r in net.responses()]
    assert dict(agent.response_counts) == {code: sent.count(code) for code in set(sent)}
    assert agent.response_counts[501] == 1
    assert dict(agent.call_results) == {("echo", 200): 1}
