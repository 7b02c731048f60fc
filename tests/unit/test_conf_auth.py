"""conf_auth without sockets: the auth server's answer (struct, array, conference URI),
and the app's flow with the XML-RPC call replaced by a recorder."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from apps.conf_auth import BadAnswer, ConfAuth, parse_grant, room_name
from apps.conference import Conference, Participant
from sems_lite.core.http_client import HttpError
from sems_lite.xmlrpc_call import XmlRpcFault
from tests.unit._fake_call import FakeCall


def test_parse_grant_struct_and_array():
    assert parse_grant({"result": "OK", "room": "5", "max_duration": 60}) == ("5", 60.0)
    assert parse_grant({"result": "ok", "room": 12}) == ("12", 0.0)
    assert parse_grant({"result": "OK", "room": "5", "max_duration": ""}) == ("5", 0.0)
    assert parse_grant(["OK", "sip:conf-7@10.0.0.1;transport=udp", 30]) == ("conf-7", 30.0)
    assert parse_grant({"result": "WRONG_PIN"}) is None
    assert parse_grant(["DENIED"]) is None


@pytest.mark.parametrize(
    "value",
    [
        True,
        "OK",
        {"room": "5"},
        {"result": 1, "room": "5"},
        {"result": "OK"},
        {"result": "OK", "room": ""},
        {"result": "OK", "room": "5", "max_duration": -1},
        {"result": "OK", "room": "5", "max_duration": "soon"},
        {"result": "OK", "room": "5", "max_duration": float("nan")},
        {"result": "OK", "room": "sip:10.0.0.1"},
        {"result": "OK", "room": "x" * 65},
        {"result": "OK", "room": "a\nb"},
        ["OK", "5", 1, "extra"],
    ],
)
def test_parse_grant_rejects_malformed_answers(value):
    with pytest.raises(BadAnswer):
        parse_grant(value)


def test_room_names():
    assert room_name("<sips:board%20room@example.org>") == "board room"
    assert room_name(" 42 ") == "42"
    assert room_name(7) == "7"


# --- the app ------------------------------------------------------------------------------


@pytest.fixture
def requests(monkeypatch) -> list[SimpleNamespace]:
    made: list[SimpleNamespace] = []

    def fake_call(loop, url, method, params, timeout, callback):
        made.append(
            SimpleNamespace(url=url, method=method, params=params, callback=callback, cancel=None)
        )
        return made[-1]

    monkeypatch.setattr("sems_lite.xmlrpc_call.xmlrpc_call", fake_call)
    return made


URL = "http://127.0.0.1:8000/RPC2"


def setup(**config) -> tuple[ConfAuth, Conference, FakeCall]:
    conference = Conference({"lonely_user_timeout": 0})
    apps: dict = {"conf": conference}
    app = ConfAuth({"auth_url": URL, "conference_app": "conf", **config})
    call = FakeCall(apps, user="carol")
    app.on_invite(call)
    return app, conference, call


def keys(app, call, digits: str) -> None:
    for d in digits:
        app.on_dtmf(call, d, 100)


def test_granted_joins_the_returned_room_with_a_time_limit(requests):
    app, conference, call = setup()
    assert call.answered and call.plays[-1][1]  # welcome + enter PIN, barge-in
    keys(app, call, "2468#")
    (r,) = requests
    assert (r.url, r.method, r.params) == (
        URL,
        "AuthorizeConference",
        ["sip:carol@example.org", "2468"],
    )
    r.callback({"result": "OK", "room": "sip:conf-3@10.0.0.1", "max_duration": 90}, None)
    assert call.handed_to == "conf"
    assert isinstance(call.sink, Participant)
    assert [p.call for p in conference.rooms["conf-3"].participants] == [call]
    ((delay, callback, args),) = call.timers
    assert delay == 90.0
    callback(*args)
    assert call.hung_up == "conference time limit reached"


def test_no_limit_without_max_duration(requests):
    app, conference, call = setup(auth_method="Auth")
    keys(app, call, "1*")
    assert requests[0].method == "Auth"
    requests[0].callback({"result": "OK", "room": "9"}, None)
    assert "9" in conference.rooms and call.timers == []


def test_refusals_errors_and_bad_answers_count_until_goodbye(requests):
    app, conference, call = setup()
    answers = [
        ({"result": "WRONG"}, None),
        (None, XmlRpcFault(1, "boom")),
    ]
    for value, error in answers:
        keys(app, call, "1#")
        requests[-1].callback(value, error)
        assert (len(call.plays[-1][0]), call.plays[-1][1]) == (
            6,
            True,
        )  # "wrong PIN" (1 beep) + "enter PIN" (2), with gaps
        assert call.hung_up is None
    keys(app, call, "1#")
    requests[-1].callback({"result": "OK"}, None)  # no room: malformed, a failure
    assert call.plays[-1][1] is False  # wrong PIN + goodbye, not to be cut short
    call.on_finished()
    assert call.hung_up == "wrong PIN"
    assert conference.rooms == {} and call.handed_to is None


def test_transport_error_is_a_failure_not_a_crash(requests):
    app, _, call = setup(max_attempts=1)
    keys(app, call, "5#")
    requests[0].callback(None, HttpError("timed out"))
    call.on_finished()
    assert call.hung_up == "wrong PIN"


@pytest.mark.parametrize("config", [{}, {"auth_url": "ftp://127.0.0.1/"}])
def test_config_errors(config):
    with pytest.raises((ValueError, HttpError)):
        ConfAuth(config)
