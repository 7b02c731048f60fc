"""RFC 4028 session timers as UAS (sems_lite.sip.session_timer)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sems_lite.sip.headers import Headers
from sems_lite.sip.session_timer import SessionTimer, parse_delta
from sems_lite.sip.validate import Rejection


def negotiate(*lines: tuple[str, str], **kw) -> SessionTimer:
    timer = SessionTimer.negotiate(Headers(lines), **kw)
    assert isinstance(timer, SessionTimer), timer
    return timer


TIMER = ("Supported", "timer")


# -- negotiation (RFC 4028 §9) -----------------------------------------------------------


def test_uac_without_timer_support_box_refreshes_without_require() -> None:
    timer = negotiate(("Supported", "100rel"))
    assert (timer.interval, timer.refresher) == (1800, "uas")
    assert timer.response_headers == [("Session-Expires", "1800;refresher=uas")]


def test_uac_without_support_but_proxy_inserted_session_expires() -> None:
    timer = negotiate(("Session-Expires", "600;refresher=uac"), ("Min-SE", "120"))
    # Table 2: a UAC that does not know the extension cannot be the refresher.
    assert (timer.interval, timer.refresher) == (600, "uas")
    assert ("Require", "timer") not in timer.response_headers


def test_uac_supports_timer_without_session_expires_we_insert_one() -> None:
    timer = negotiate(TIMER)
    assert (timer.interval, timer.refresher) == (1800, "uac")
    assert timer.response_headers == [
        ("Session-Expires", "1800;refresher=uac"),
        ("Require", "timer"),
    ]


def test_inserted_value_respects_their_min_se() -> None:
    timer = negotiate(TIMER, ("Min-SE", "3600"))
    assert timer.interval == 3600


def test_session_expires_below_min_se_is_422() -> None:
    rejection = SessionTimer.negotiate(Headers([TIMER, ("Session-Expires", "60")]))
    assert rejection == Rejection(422, "Session Interval Too Small", [("Min-SE", "90")])


def test_422_carries_our_configured_min_se() -> None:
    headers = Headers([TIMER, ("Session-Expires", "300")])
    rejection = SessionTimer.negotiate(headers, min_se=600, session_expires=1800)
    assert isinstance(rejection, Rejection) and rejection.status == 422
    assert rejection.headers == [("Min-SE", "600")]


def test_session_expires_equal_to_min_se_is_accepted() -> None:
    assert negotiate(TIMER, ("Session-Expires", "90")).interval == 90


@pytest.mark.parametrize("who", ["uac", "uas", "UAC"])
def test_refresher_named_in_request_is_kept(who: str) -> None:
    timer = negotiate(TIMER, ("Session-Expires", f"1200;refresher={who}"))
    assert timer.refresher == who.lower()
    assert timer.response_headers[0] == ("Session-Expires", f"1200;refresher={who.lower()}")
    assert ("Require", "timer") in timer.response_headers


@pytest.mark.parametrize("prefer", ["uac", "uas"])
def test_refresher_left_to_us_follows_preference(prefer: str) -> None:
    timer = negotiate(TIMER, ("Session-Expires", "1200"), prefer=prefer)
    assert timer.refresher == prefer


def test_compact_form_x_and_require_timer_count() -> None:
    timer = negotiate(("Require", "timer"), ("x", "1000;refresher=uas"))
    assert (timer.interval, timer.refresher) == (1000, "uas")
    assert ("Require", "timer") in timer.response_headers


def test_supported_as_list_and_compact_k() -> None:
    timer = negotiate(("k", "100rel, Timer"), ("Session-Expires", "1000;refresher=uac"))
    assert timer.refresher == "uac"


def test_large_request_is_lowered_to_our_value_but_not_below_their_min_se() -> None:
    assert negotiate(TIMER, ("Session-Expires", "7200")).interval == 1800
    both = negotiate(TIMER, ("Session-Expires", "7200"), ("Min-SE", "3600"))
    assert both.interval == 3600


def test_never_raised_above_what_they_asked() -> None:
    timer = negotiate(TIMER, ("Session-Expires", "300"), session_expires=1800, min_se=90)
    assert timer.interval == 300


@pytest.mark.parametrize(
    "lines",
    [
        [("Session-Expires", "abc")],
        [("Session-Expires", "-5")],
        [("Session-Expires", "100;=x")],
        [("Min-SE", "1.5")],
    ],
)
def test_malformed_headers_are_400(lines: list[tuple[str, str]]) -> None:
    rejection = SessionTimer.negotiate(Headers([TIMER, *lines]))
    assert isinstance(rejection, Rejection) and rejection.status == 400


def test_huge_values_are_clamped_not_converted() -> None:
    assert parse_delta("9" * 5000)[0] == 0xFFFFFFFF
    assert negotiate(TIMER, ("Session-Expires", "9" * 5000)).interval == 1800
    assert parse_delta("0001800 ;refresher=uac") == (1800, {"refresher": "uac"})


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        SessionTimer.negotiate(Headers(), min_se=30)
    with pytest.raises(ValueError):
        SessionTimer.negotiate(Headers(), session_expires=100, min_se=120)
    with pytest.raises(ValueError):
        SessionTimer.negotiate(Headers(), prefer="proxy")


# -- deadlines (RFC 4028 §10) ------------------------------------------------------------


def test_we_refresh_at_half_the_interval() -> None:
    timer = negotiate(TIMER, ("Session-Expires", "1800;refresher=uas"))
    assert timer.next_deadline(100.0) == (1000.0, "refresh")
    assert timer.next_deadline(500.0) == (1000.0, "refresh")  # armed once, at 100


def test_peer_refreshes_and_we_expire_32_s_early() -> None:
    timer = negotiate(TIMER, ("Session-Expires", "1800;refresher=uac"))
    assert timer.next_deadline(0.0) == (1768.0, "expire")


def test_short_interval_expires_a_third_early() -> None:
    timer = negotiate(TIMER, ("Session-Expires", "90;refresher=uac"))
    assert timer.next_deadline(0.0) == (60.0, "expire")


def test_refresh_from_peer_restarts_the_clock() -> None:
    timer = negotiate(TIMER, ("Session-Expires", "1800;refresher=uac"))
    timer.next_deadline(0.0)
    assert (
        timer.refreshed(Headers([TIMER, ("Session-Expires", "1800;refresher=uac")]), 900.0) is None
    )
    assert timer.next_deadline(900.0) == (2668.0, "expire")


def test_refresh_renegotiates_interval_and_refresher() -> None:
    timer = negotiate(TIMER, ("Session-Expires", "1800;refresher=uac"))
    timer.next_deadline(0.0)
    assert timer.refreshed(Headers([TIMER, ("x", "600;refresher=uas")]), 100.0) is None
    assert (timer.interval, timer.refresher) == (600, "uas")
    assert timer.response_headers == [
        ("Session-Expires", "600;refresher=uas"),
        ("Require", "timer"),
    ]
    assert timer.next_deadline(100.0) == (400.0, "refresh")


def test_refresh_without_timer_support_makes_us_the_refresher() -> None:
    timer = negotiate(TIMER, ("Session-Expires", "1800;refresher=uac"))
    timer.refreshed(Headers([("Supported", "replaces")]), 50.0)
    assert timer.refresher == "uas"
    assert timer.next_deadline(60.0) == (950.0, "refresh")


def test_refresh_with_too_small_interval_is_422_and_keeps_old_timer() -> None:
    timer = negotiate(TIMER, ("Session-Expires", "1800;refresher=uac"))
    timer.next_deadline(0.0)
    rejection = timer.refreshed(Headers([TIMER, ("Session-Expires", "30")]), 10.0)
    assert isinstance(rejection, Rejection) and rejection.status == 422
    assert timer.interval == 1800 and timer.next_deadline(10.0) == (1768.0, "expire")


def test_our_refresh_then_its_answer() -> None:
    timer = negotiate(TIMER, ("Session-Expires", "1800;refresher=uas"))
    when, what = timer.next_deadline(0.0)
    assert (when, what) == (900.0, "refresh")
    # In our own re-INVITE/UPDATE we are the UAC of the transaction.
    assert timer.request_headers() == [("Session-Expires", "1800;refresher=uac"), ("Min-SE", "90")]
    timer.refresh_sent(900.0)
    assert timer.next_deadline(901.0) == (1768.0, "expire")  # no answer yet: BYE in time
    answer = Headers([("Session-Expires", "1800;refresher=uac"), ("Require", "timer")])
    assert timer.refresh_answered(200, answer, 901.0) == "ok"
    assert timer.refresher == "uas"
    assert timer.next_deadline(901.0) == (1801.0, "refresh")


def test_peer_takes_over_refreshing_in_its_answer() -> None:
    timer = negotiate(TIMER, ("Session-Expires", "1800;refresher=uas"))
    timer.refresh_sent(900.0)
    answer = Headers([("Session-Expires", "1200;refresher=uas")])  # uas = the peer, here
    assert timer.refresh_answered(200, answer, 910.0) == "ok"
    assert (timer.interval, timer.refresher) == (1200, "uac")
    assert timer.next_deadline(910.0) == (910.0 + 1200 - 32, "expire")


def test_answer_without_session_expires_keeps_our_timer() -> None:
    timer = negotiate(("Supported", "100rel"))  # UAC knows nothing of timers
    timer.refresh_sent(900.0)
    assert timer.refresh_answered(200, Headers(), 905.0) == "ok"
    assert timer.next_deadline(905.0) == (1805.0, "refresh")


def test_422_to_our_refresh_raises_interval_and_retries() -> None:
    timer = negotiate(TIMER, ("Session-Expires", "600;refresher=uas"))
    timer.next_deadline(0.0)
    timer.refresh_sent(300.0)
    assert timer.refresh_answered(422, Headers([("Min-SE", "900")]), 301.0) == "retry"
    assert timer.request_headers()[0] == ("Session-Expires", "900;refresher=uac")
    # The interval in force is still 600 until the retry is answered.
    assert timer.interval == 600 and timer.next_deadline(301.0) == (568.0, "expire")
    timer.refresh_sent(301.0)
    assert (
        timer.refresh_answered(200, Headers([("Session-Expires", "900;refresher=uac")]), 302.0)
        == "ok"
    )
    assert timer.interval == 900 and timer.next_deadline(302.0) == (752.0, "refresh")


def test_422_that_would_not_help_does_not_loop() -> None:
    timer = negotiate(TIMER, ("Session-Expires", "600;refresher=uas"))
    timer.next_deadline(0.0)
    timer.refresh_sent(300.0)
    assert timer.refresh_answered(422, Headers([("Min-SE", "300")]), 301.0) == "wait"
    assert timer.refresh_answered(422, Headers(), 301.0) == "wait"
    assert timer.refresh_answered(422, Headers([("Min-SE", "999999")]), 301.0) == "wait"
    assert timer.next_deadline(301.0) == (568.0, "expire")


@pytest.mark.parametrize(("status", "action"), [(408, "bye"), (481, "bye"), (491, "wait")])
def test_failed_refresh(status: int, action: str) -> None:
    timer = negotiate(TIMER, ("Session-Expires", "1800;refresher=uas"))
    timer.next_deadline(0.0)
    timer.refresh_sent(900.0)
    assert timer.refresh_answered(status, Headers(), 905.0) == action
    assert timer.next_deadline(905.0) == (1768.0, "expire")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Session-Expires", "x", "Min-SE", "Supported", "Require"]),
            st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=30),
        ),
        max_size=5,
    )
)
def test_negotiate_answers_anything_with_a_timer_or_a_rejection(
    lines: list[tuple[str, str]],
) -> None:
    result = SessionTimer.negotiate(Headers(lines))
    if isinstance(result, Rejection):
        assert result.status in (400, 422)
    else:
        assert 90 <= result.interval <= 0xFFFFFFFF
        assert result.refresher in ("uac", "uas")
        when, _ = result.next_deadline(0.0)
        assert 0 < when < result.interval
