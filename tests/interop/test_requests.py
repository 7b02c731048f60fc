"""Requests the box must answer without a call: OPTIONS, unknown and unsupported
methods, offers it cannot take, unknown users, and the call limit."""

from __future__ import annotations

import pytest

from ._calls import call_length_ms, media_of, rtp_socket
from ._sip import UdpPeer, build_request
from ._sipp import scenario_variant

pytestmark = pytest.mark.interop

CORE_METHODS = {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"}


def test_options_sipp(box, run_sipp):
    """sipp's OPTIONS gets 200 with Allow (core methods) and Accept: application/sdp."""
    b = box()
    result = run_sipp("uac_options", b.target)
    assert "OPTIONS_OK" in result.sipp.logs()


@pytest.mark.parametrize("transport_host", ["127.0.0.1", "::1"])
def test_options_headers(box, transport_host):
    """Our own parser reads the 200: Allow, Accept and Supported are all there."""
    b = box(host=transport_host, transports=["udp"]) if ":" in transport_host else box()
    with UdpPeer(transport_host) as peer:
        request = build_request(
            "OPTIONS", b.uri("echo"), local=peer.local, extra=["Accept: application/sdp"]
        )
        peer.send(request, (b.host, b.port))
        replies = peer.receive(2.0, until_final=True)
    finals = [m for m in replies if m.is_response and m.status >= 200]
    assert finals, f"no final response to OPTIONS: {[m.start_line for m in replies]}"
    ok = finals[0]
    assert ok.status == 200, ok.raw.decode(errors="replace")
    assert ok.tokens("allow") >= CORE_METHODS, f"Allow: {ok.all('allow')}"
    assert "APPLICATION/SDP" in ok.tokens("accept"), f"Accept: {ok.all('accept')}"
    assert ok.all("supported"), f"no Supported header:\n{ok.raw.decode(errors='replace')}"
    assert ok.header("cseq") == "1 OPTIONS"


@pytest.mark.parametrize("method", ["FOO", "XYZZY"])
def test_unknown_method_501(box, run_sipp, tmp_path, method):
    """A method nobody knows, outside a dialog: 501 with Allow."""
    b = box()
    run_sipp(scenario_variant("uac_request_501", tmp_path, {"FOO": method}), b.target)


@pytest.mark.parametrize("method", ["SUBSCRIBE", "REGISTER", "PUBLISH"])
def test_known_unsupported_method_405(box, run_sipp, tmp_path, method):
    """A known method the box does not offer: 405 with Allow."""
    b = box()
    run_sipp(scenario_variant("uac_request_405", tmp_path, {"SUBSCRIBE": method}), b.target)


def test_unknown_method_in_dialog_501(box, run_sipp):
    """FOO inside a call: 501 with Allow, and the call survives to a normal BYE."""
    b = box()
    with rtp_socket() as sock:
        run_sipp("uac_indialog_unknown", b.target, keys={"rtp_port": sock.getsockname()[1]})


def test_g729_only_offer_488(box, run_sipp):
    b = box()
    with rtp_socket() as sock:
        run_sipp("uac_invite_g729", b.target, keys={"rtp_port": sock.getsockname()[1]})


def test_unrouted_user_404(box, run_sipp):
    """No routing rule for the R-URI user and default_app null: 404."""
    b = box()
    with rtp_socket() as sock:
        run_sipp(
            "uac_invite_404",
            b.target,
            service="nobody",
            keys={"rtp_port": sock.getsockname()[1]},
        )


def test_max_calls_503_with_retry_after(box, start_sipp, run_sipp):
    """max_calls 1: while one call is up, a second INVITE gets 503 + Retry-After: 5;
    the first call is not disturbed, and after it ends a new call is accepted."""
    b = box({"limits": {"max_calls": 1, "retry_after": 5}})
    with rtp_socket() as first_rtp, rtp_socket() as second_rtp:
        first = start_sipp(
            "uac_echo_call",
            b.target,
            ["-d", str(call_length_ms(2.0))],
            keys={"rtp_port": first_rtp.getsockname()[1]},
        )
        media_of(first)
        first.wait_log(r"ACKED ")
        second = run_sipp(
            "uac_invite_503", b.target, keys={"rtp_port": second_rtp.getsockname()[1]}
        )
        first_result = first.wait()
    assert "RETRY_AFTER 5 " in second.sipp.logs(), second.sipp.logs()
    assert first_result.returncode == 0, f"first call broke\n{first.describe()}"
    # The slot is free again once the first call has ended.
    with rtp_socket() as third_rtp:
        run_sipp(
            "uac_echo_call", b.target, ["-d", "300"], keys={"rtp_port": third_rtp.getsockname()[1]}
        )
