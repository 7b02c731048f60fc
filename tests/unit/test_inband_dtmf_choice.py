"""In-band DTMF detection runs only for apps that take digits: it is a tenth of the
per-packet cost, and echo or announcements have no use for it."""

from __future__ import annotations

from tests.unit.test_ua import PEER, request

CONFIG = """
sip: {listen: ["udp:127.0.0.1:5060"]}
rtp: {ports: "34500-34599", dead_rtp_timeout: 0}
apps: {echo: apps.echo, collect: tests.interop.apps.dtmf_collect}
routing:
  - {user: echo, app: echo}
  - {user: collect, app: collect}
app_config: {collect: {out: /dev/null}}
"""
# No telephone-event: digits could only come as tones in the audio.
SDP_NO_TE = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\n"
)


def test_detector_only_for_apps_with_on_dtmf(ua_from) -> None:
    agent, _net, _loop = ua_from(CONFIG)
    agent.receive(request("INVITE", "echo", call_id="e", branch="z9hG4bK-e", body=SDP_NO_TE), PEER)
    agent.receive(
        request("INVITE", "collect", call_id="c", branch="z9hG4bK-c", body=SDP_NO_TE), PEER
    )
    by_app = {call.app_name: call for call in agent.calls.values()}
    assert by_app["echo"].stream.dtmf_detector is None
    assert by_app["collect"].stream.dtmf_detector is not None
    # Handing the echo call to an app that takes digits switches detection on.
    by_app["echo"].handover("collect")
    assert by_app["echo"].stream.dtmf_detector is not None
