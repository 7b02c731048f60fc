"""Session timers (RFC 4028) and digest authentication per route, against sipp.

- A caller that negotiates a 90 s session and never refreshes gets a BYE from the box
  after 90 - 30 = 60 s (RFC 4028 §10), so a dead peer cannot hold a call for ever.
- A Session-Expires below Min-SE gets 422 with Min-SE.
- A route with `auth: true` challenges with 401; sipp's digest answer gets the call in; a
  wrong password does not, and the box log never shows the password or response hash.
"""

from __future__ import annotations

import re

from tests.interop._calls import rtp_socket
from tests.interop._sipp import scenario_variant

TIMER_HEADERS = "Subject: echo fidelity\n      Supported: timer\n      Session-Expires: {se}"


def timer_variant(tmp_path, se: str, bye_wait_ms: int) -> object:
    return scenario_variant(
        "uac_wait_bye",
        tmp_path,
        {
            "Subject: echo fidelity": TIMER_HEADERS.format(se=se),
            'timeout="15000"': f'timeout="{bye_wait_ms}"',
        },
    )


def test_silent_caller_gets_bye_when_its_session_expires(box, run_sipp, tmp_path):
    # dead_rtp_timeout off: only the session timer may end this call.
    b = box({"rtp": {"dead_rtp_timeout": 0}})
    path = timer_variant(tmp_path, "90;refresher=uac", 75000)
    with rtp_socket() as sock:
        result = run_sipp(path, b.target, timeout=90, keys={"rtp_port": sock.getsockname()[1]})
    trace = result.sipp.messages()
    assert re.search(r"Session-Expires: 90;refresher=uac", trace), trace[-3000:]
    (acked,) = result.sipp.log_times("ACKED")
    (bye,) = result.sipp.log_times("BYE")
    waited = bye - acked
    assert 58.0 <= waited <= 62.0, f"BYE came {waited:.1f} s after the ACK, want 60 s"
    assert "session expired" in b.log()


def test_too_short_session_gets_422_with_min_se(box, run_sipp, tmp_path):
    b = box()
    path = scenario_variant(
        "uac_invite_404.xml",
        tmp_path,
        {
            'response="404"': 'response="422"',
            "Max-Forwards: 70": (
                "Max-Forwards: 70\n      Supported: timer\n      Session-Expires: 30"
            ),
        },
    )
    result = run_sipp(path, b.target, service="echo", keys={"rtp_port": 40000})
    assert re.search(r"Min-SE: 90", result.sipp.messages())


AUTH = {
    "auth": {"realm": "box.test", "users": {"alice": "s3cret-pw"}, "algorithms": ["MD5"]},
    "routing": [
        {"user": "secure", "app": "echo", "auth": True},
        {"user": "echo", "app": "echo"},
    ],
}


def test_protected_route_lets_the_right_password_in(box, run_sipp):
    b = box(AUTH)
    result = run_sipp(
        "uac_auth_call.xml", b.target, ["-au", "alice", "-ap", "s3cret-pw"], service="secure"
    )
    assert "CHALLENGE realm=box.test" in result.sipp.logs()
    assert "authenticated as alice" in b.log()


def test_protected_route_refuses_a_wrong_password_and_logs_no_secret(box, run_sipp):
    b = box(AUTH)
    result = run_sipp(
        "uac_auth_call.xml",
        b.target,
        ["-au", "alice", "-ap", "wrong-pw"],
        service="secure",
        check=False,
    )
    assert result.returncode != 0  # the second INVITE got 401 again, not 200
    log = b.log()
    assert "credentials refused (wrong credentials)" in log
    responses = re.findall(r'response="([0-9a-f]+)"', result.sipp.messages())
    assert responses, "sipp sent no digest response"
    for secret in ("wrong-pw", "s3cret-pw", *responses):
        assert secret not in log
