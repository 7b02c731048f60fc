"""The control interface of a running box, over real HTTP: status, calls, hang-up, drain,
metrics in Prometheus text format, and the token."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from sems_lite.ctl import CtlError, rpc

from ._box import REPO_ROOT
from ._calls import media_of, rtp_socket
from ._net import free_port
from ._sip import options_ping

pytestmark = pytest.mark.interop


def control_box(box, token: str | None = None):
    port = free_port()
    b = box({"control": {"listen": f"127.0.0.1:{port}", "token": token}})
    return b, f"http://127.0.0.1:{port}"


def http_get(url: str, path: str, token: str | None = None) -> tuple[int, str]:
    host, port = url.removeprefix("http://").split(":")
    head = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall((head + "\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_text, _, body = data.partition(b"\r\n\r\n")
    return int(head_text.split()[1]), body.decode()


def test_status_calls_hangup_and_drain(box, start_sipp):
    b, url = control_box(box)
    status = rpc(url, "status")
    assert status["calls"] == 0 and status["draining"] is False
    assert status["kernels"] in ("native", "native-abi", "fallback")
    with rtp_socket() as sock:
        sipp = start_sipp("uac_wait_bye", b.target, keys={"rtp_port": sock.getsockname()[1]})
        media_of(sipp)
        sipp.wait_log(r"ACKED ")
        calls = rpc(url, "calls.list")
        assert len(calls) == 1 and calls[0]["app"] == "echo" and calls[0]["state"] == "confirmed"
        with pytest.raises(CtlError, match="no call"):
            rpc(url, "calls.hangup", ["nonexistent"])
        assert rpc(url, "calls.hangup", [calls[0]["id"]]) is True
        result = sipp.wait(10)
    assert result.returncode == 0, sipp.describe()
    assert "BYE" in sipp.logs()
    assert rpc(url, "calls.list") == []
    assert rpc(url, "server.set_limits", {"max_calls": 7}) == {"max_calls": 7}
    assert rpc(url, "status")["max_calls"] == 7
    # Draining: OPTIONS (a proxy's health check) and new INVITEs get 503.
    assert options_ping(b.host, b.port).status == 200
    assert rpc(url, "server.drain") is True
    reply = options_ping(b.host, b.port)
    assert reply is not None and reply.status == 503


def test_metrics_parse_as_prometheus_text(box, start_sipp):
    parser = pytest.importorskip("prometheus_client.parser")
    b, url = control_box(box)
    with rtp_socket() as sock:
        sipp = start_sipp("uac_wait_bye", b.target, keys={"rtp_port": sock.getsockname()[1]})
        media_of(sipp)
        sipp.wait_log(r"ACKED ")
        code, text = http_get(url, "/metrics")
        rpc(url, "calls.hangup", [rpc(url, "calls.list")[0]["id"]])
        sipp.wait(10)
    assert code == 200
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    active = {s.labels["app"]: s.value for s in families["sems_lite_calls_active"].samples}
    assert active["echo"] == 1
    requests = {
        s.labels["method"]: s.value
        for s in families["sems_lite_sip_requests"].samples
        if s.name.endswith("_total")
    }
    assert requests["INVITE"] >= 1 and requests["ACK"] >= 1
    kernels = families["sems_lite_kernels"].samples[0]
    assert kernels.labels["implementation"] in ("native", "native-abi", "fallback")


def test_token_is_required_when_configured(box):
    _b, url = control_box(box, token="s3cret-token")
    code, _ = http_get(url, "/metrics")
    assert code == 401
    with pytest.raises(CtlError, match="401"):
        rpc(url, "status")
    assert rpc(url, "status", token="s3cret-token")["calls"] == 0
    code, _ = http_get(url, "/metrics", token="s3cret-token")
    assert code == 200


def test_ctl_command_line(box):
    _b, url = control_box(box)
    out = subprocess.run(
        [sys.executable, "-m", "sems_lite", "ctl", "--url", url, "status"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 0, out.stderr
    assert "draining: false" in out.stdout
