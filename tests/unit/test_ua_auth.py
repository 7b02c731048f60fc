"""Digest authentication per routing rule (RFC 7616), wired into the UA on a fake clock:
challenge, SHA-256 and MD5 answers, wrong passwords, replays, foreign URIs, and logs that
never show the credentials."""

from __future__ import annotations

import hashlib
import logging

import pytest

from sems_lite.config import ConfigError, parse_config
from sems_lite.sip.auth import digest_response, parse_auth_params
from tests.unit.test_ua import PEER, SDP, build_ua, request

BOB_HA1 = hashlib.md5(b"bob:box.example:hunter2").hexdigest()
BASE = f"""
sip: {{listen: ["udp:127.0.0.1:5060"]}}
rtp: {{ports: "34300-34399", dead_rtp_timeout: 0}}
apps: {{echo: apps.echo}}
auth:
  realm: box.example
  users: {{alice: "s3cret", bob: "ha1:{BOB_HA1}"}}
routing:
  - {{user: secure, app: echo, auth: true}}
  - {{user: echo, app: echo}}
"""


@pytest.fixture
def ua(tmp_path):
    agent, net, loop = build_ua(BASE, str(tmp_path / "c.yaml"))
    yield agent, net, loop
    for call in list(agent.calls.values()):
        call._finish("test over")


def challenges(net) -> list[dict[str, str]]:
    resp = net.responses()[-1]
    assert resp.status == 401
    return [parse_auth_params(v)[1] for v in resp.headers.get_all("WWW-Authenticate")]


def credentials(challenge: dict[str, str], user: str, password: str, uri: str, nc: int) -> str:
    algorithm = challenge["algorithm"]
    base = hashlib.sha256 if algorithm.startswith("SHA") else hashlib.md5
    ha1 = base(f"{user}:{challenge['realm']}:{password}".encode()).hexdigest()
    count = f"{nc:08x}"
    response = digest_response(
        algorithm, ha1, "INVITE", uri, challenge["nonce"], nc=count, cnonce="c0ffee", qop="auth"
    )
    return (
        f'Digest username="{user}", realm="{challenge["realm"]}", nonce="{challenge["nonce"]}", '
        f'uri="{uri}", response="{response}", algorithm={algorithm}, qop=auth, nc={count}, '
        f'cnonce="c0ffee", opaque="{challenge["opaque"]}"'
    )


def invite(n: int, *headers: str, user: str = "secure") -> bytes:
    return request(
        "INVITE", user, call_id=f"a{n}", branch=f"z9hG4bK-a{n}", body=SDP, headers=headers
    )


def test_a_protected_route_challenges_sha256_first_then_md5(ua) -> None:
    agent, net, _loop = ua
    agent.receive(invite(0), PEER)
    found = challenges(net)
    assert [c["algorithm"] for c in found] == ["SHA-256", "MD5"]
    assert all(c["realm"] == "box.example" and c["qop"] == "auth" for c in found)
    assert not agent.calls
    # Other routes need nothing.
    agent.receive(invite(1, user="echo"), PEER)
    assert net.statuses()[-1] == 200


@pytest.mark.parametrize("pick", [0, 1], ids=["SHA-256", "MD5"])
def test_right_credentials_are_let_in(ua, pick: int) -> None:
    agent, net, _loop = ua
    agent.receive(invite(0), PEER)
    challenge = challenges(net)[pick]
    auth = credentials(challenge, "alice", "s3cret", "sip:secure@127.0.0.1", 1)
    agent.receive(invite(1, f"Authorization: {auth}"), PEER)
    assert net.statuses()[-1] == 200 and len(agent.calls) == 1


def test_an_ha1_stored_user_is_let_in(ua) -> None:
    agent, net, _loop = ua
    agent.receive(invite(0), PEER)
    auth = credentials(challenges(net)[1], "bob", "hunter2", "sip:secure@127.0.0.1", 1)
    agent.receive(invite(1, f"Authorization: {auth}"), PEER)
    assert net.statuses()[-1] == 200


def test_wrong_password_replay_and_foreign_uri_are_refused(ua, caplog) -> None:
    agent, net, _loop = ua
    caplog.set_level(logging.INFO, logger="sems_lite.ua")
    agent.receive(invite(0), PEER)
    challenge = challenges(net)[0]
    wrong = credentials(challenge, "alice", "guess", "sip:secure@127.0.0.1", 1)
    agent.receive(invite(1, f"Authorization: {wrong}"), PEER)
    assert net.statuses()[-1] == 401
    elsewhere = credentials(challenge, "alice", "s3cret", "sip:secure@192.0.2.9", 2)
    agent.receive(invite(2, f"Authorization: {elsewhere}"), PEER)
    assert net.statuses()[-1] == 401
    good = credentials(challenge, "alice", "s3cret", "sip:secure@127.0.0.1", 3)
    agent.receive(invite(3, f"Authorization: {good}"), PEER)
    assert net.statuses()[-1] == 200
    agent.receive(invite(4, f"Authorization: {good}"), PEER)  # same nonce and nc again
    assert net.statuses()[-1] == 401
    assert len(agent.calls) == 1
    # The log names the user and the reason, never a response hash or password.
    text = caplog.text
    assert "wrong credentials" in text and 'username="alice"' in text
    for secret in ("s3cret", "guess", parse_auth_params(good)[1]["response"]):
        assert secret not in text


def test_stale_nonce_gets_stale_true(ua) -> None:
    agent, net, loop = ua
    agent.receive(invite(0), PEER)
    challenge = challenges(net)[0]
    loop.advance(301.0)  # past auth.nonce_ttl (300 s by default)
    auth = credentials(challenge, "alice", "s3cret", "sip:secure@127.0.0.1", 1)
    agent.receive(invite(1, f"Authorization: {auth}"), PEER)
    assert challenges(net)[0].get("stale") == "true"


def test_auth_rule_without_users_is_refused_with_file_line_key(tmp_path) -> None:
    text = (
        'sip: {listen: ["udp:127.0.0.1:5060"]}\n'
        "apps: {echo: apps.echo}\n"
        "routing:\n"
        "  - {user: secure, app: echo, auth: true}\n"
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, "x.yaml")
    assert str(err.value).startswith("x.yaml:4: routing[0].auth: needs users")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("auth: {algorithms: [SHA-1]}", "x.yaml:1: auth.algorithms[0]: 'SHA-1' is not one of"),
        ("auth: {nonce_ttl: 0}", "x.yaml:1: auth.nonce_ttl: must be > 0"),
        ('auth: {realm: "a\\"b"}', "x.yaml:1: auth.realm: must not contain quotes"),
        ("auth: {users: {alice: 5}}", "x.yaml:1: auth.users.alice: expected a string"),
        ("sip: {session_timer: {min_se: 30}}", "x.yaml:1: sip.session_timer.min_se: must be >= 90"),
        (
            "sip: {session_timer: {refresher: me}}",
            "x.yaml:1: sip.session_timer.refresher: must be 'uac' or 'uas'",
        ),
        (
            "sip: {session_timer: {session_expires: 100, min_se: 200}}",
            "x.yaml:1: sip.session_timer.min_se: must not exceed session_expires",
        ),
        ("sip: {session_timer: {enabled: 1}}", "x.yaml:1: sip.session_timer.enabled: expected"),
    ],
)
def test_bad_auth_and_timer_config_is_refused(section: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(section + "\n", "x.yaml")
    assert str(err.value).startswith(message), str(err.value)


def test_a_digest_uri_without_the_user_part_names_the_same_box(ua) -> None:
    # sipp puts sip:<host>:<port> in the digest uri; the box must accept that form.
    agent, net, _loop = ua
    agent.receive(invite(0), PEER)
    auth = credentials(challenges(net)[0], "alice", "s3cret", "sip:127.0.0.1", 1)
    agent.receive(invite(1, f"Authorization: {auth}"), PEER)
    assert net.statuses()[-1] == 200
