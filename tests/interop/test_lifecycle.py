"""Reload and start-up checks: SIGHUP reloads the file (a broken one is refused), and a bad
config file stops the box before it starts. (SIGTERM with calls up: test_call_control.)"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import yaml

from ._box import REPO_ROOT, Box
from ._sip import UdpPeer, build_request, options_ping

pytestmark = pytest.mark.interop


def invite_status(box: Box, user: str) -> int:
    """Send an INVITE without SDP and return the final status (then clean up with CANCEL/BYE
    being unnecessary: a late-offer 200 is ACKed with an answer-less ACK and BYE'd)."""
    with UdpPeer(box.host) as peer:
        req = build_request("INVITE", box.uri(user), local=peer.local)
        peer.send(req, (box.host, box.port))
        finals = [m for m in peer.receive(3.0, until_final=True) if m.status >= 200]
        assert finals, f"no final response to INVITE {user}"
        final = finals[-1]
        if final.status == 200:
            # Confirm and end the call so the box is left clean.
            to = final.header("To")
            call_id = final.header("Call-ID")
            from_tag = req.split(b";tag=", 1)[1].split(b"\r\n", 1)[0].decode()
            for method, cseq in (("ACK", 1), ("BYE", 2)):
                peer.send(
                    build_request(
                        method,
                        box.uri(user),
                        local=peer.local,
                        to=to,
                        call_id=call_id,
                        from_tag=from_tag,
                        cseq=cseq,
                    ),
                    (box.host, box.port),
                )
            peer.receive(1.0, until_final=True)
        return final.status


def wait_for_log(box: Box, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in box.log():
            return
        time.sleep(0.05)
    raise AssertionError(f"box did not log {text!r} within {timeout} s")


def test_sighup_reloads_routing_and_keeps_old_config_on_error(box) -> None:
    b = box()
    assert invite_status(b, "other") == 404
    cfg_path = b.workdir / "sems_lite.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["routing"].append({"user": "other", "app": "echo"})
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    b.proc.send_signal(signal.SIGHUP)
    wait_for_log(b, "configuration reloaded")
    assert invite_status(b, "other") == 200

    # A broken file: the error is logged with file, line and key; the old config stays.
    cfg_path.write_text(cfg_path.read_text().replace("max_calls:", "max_cals:"))
    b.proc.send_signal(signal.SIGHUP)
    wait_for_log(b, "reload failed")
    assert "max_cals" in b.log() and "sems_lite.yaml:" in b.log()
    reply = options_ping(b.host, b.port)
    assert reply is not None and reply.status == 200
    assert invite_status(b, "other") == 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtp:\n  ports: '10000-9000'\n", ":2: rtp.ports:"),
        ("limits:\n  max_cals: 3\n", ":2: limits.max_cals: unknown key"),
        ("apps:\n  echo: apps.echo\nrouting:\n  - user: x\n    app: nope\n", ":5: routing[0].app"),
    ],
)
def test_bad_config_refused_at_start_with_file_line_and_key(tmp_path, text, expected) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    for args in (["run", "--config", str(path)], ["check-config", str(path)]):
        proc = subprocess.run(
            [sys.executable, "-m", "sems_lite", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert proc.returncode == 1
        assert str(path) + expected in proc.stderr, proc.stderr
