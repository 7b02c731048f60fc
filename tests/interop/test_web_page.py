"""The conference web page in a real headless Chromium, driven over the DevTools protocol
(CDP on --remote-debugging-pipe: NUL-terminated JSON on fds 3 and 4, no extra package).

The page is served by the box. Through the page (typed text, mouse clicks) the test
creates a room, watches two sipp participants join (each sending its own tone from the
test's RTP socket), mutes one, and checks by spectrum that its tone stops reaching the
other while it still hears the room."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from sems_lite.ctl import rpc

from ._calls import rtp_socket
from ._net import free_port
from ._phone import (
    Phone,
    dial_in,
    power,
    pump,
    tone_frames,
    type_keys,
    wait_bye_scenario,
    webconf_config,
)

pytestmark = pytest.mark.interop

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-pipe",
]
TONE_A = 500  # Hz, the participant that gets muted
TONE_B = 1300
ROOM = "4711"


class CdpError(RuntimeError):
    pass


class Browser:
    """Chromium with a DevTools pipe: send a command, wait for its answer (bounded)."""

    def __init__(self, chromium: str, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # bash puts our pipe ends on fds 3 and 4 for Chromium (dash has no fds above 9).
        script = f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}'
        self.proc = subprocess.Popen(
            ["bash", "-c", script, chromium, *CHROMIUM_ARGS, f"--user-data-dir={profile}"],
            pass_fds=(to_chrome_r, from_chrome_w),
            stdout=subprocess.DEVNULL,
            stderr=open(profile.parent / "chromium.log", "wb"),  # noqa: SIM115
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.session: str | None = None

    def send(self, method: str, params: dict | None = None, timeout: float = 15.0) -> dict:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._next(deadline)
            if answer.get("id") == self._id:
                if "error" in answer:
                    raise CdpError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def _next(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_chrome], [], [], max(0.0, left))
            if not ready:
                raise CdpError("no answer from Chromium in time")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise CdpError(f"Chromium closed the pipe (exit {self.proc.poll()})")
            self._buf += chunk
        raw, _, self._buf = self._buf.partition(b"\0")
        return json.loads(raw)

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]
        self.send("Page.enable")
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete' && !!document.getElementById('create')")

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise CdpError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10.0, phones: list[Phone] = ()) -> Any:
        """Poll a page expression until truthy; keeps the phones talking meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"page never showed: {expression}")
            if phones:
                pump(list(phones), 0.1)
            else:
                time.sleep(0.1)

    def click(self, selector: str) -> None:
        """A real mouse click at the element's centre."""
        box = self.eval(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )

    def type(self, selector: str, text: str) -> None:
        self.click(selector)
        self.send("Input.insertText", {"text": text})

    def screenshot(self, path: Path) -> None:
        import base64

        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(CdpError, OSError):
                self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        os.close(self._to_chrome)
        os.close(self._from_chrome)


@pytest.fixture
def browser(tmp_path: Path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("`chromium` is not installed (Debian: apt-get install chromium)")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    b = Browser(chromium, profile)
    try:
        yield b
    finally:
        b.close()


def rows(state: str | None = None) -> str:
    sel = "#participants tbody tr" + (f"[data-state='{state}']" if state else "")
    return f"document.querySelectorAll({json.dumps(sel)}).length"


def test_page_creates_a_room_shows_joins_and_mutes(box, start_sipp, browser, tmp_path):
    port = free_port()
    b = box(webconf_config(port))
    url = f"http://127.0.0.1:{port}"
    browser.open(url + "/")
    browser.type("#room", ROOM)
    browser.type("#admin_pin", "9999")
    browser.click("#create-button")
    browser.wait_for(f"document.getElementById('current-room').textContent === '{ROOM}'")
    assert rpc(url, "conf.list", []) == [{"room": ROOM, "participants": 0, "has_pin": False}]

    scen = wait_bye_scenario(tmp_path, 60)
    with rtp_socket() as sock_a, rtp_socket() as sock_b:
        sipp_a, a = dial_in(start_sipp, b, sock_a, scen, 0xA, 90)
        a.audio = tone_frames(TONE_A)
        type_keys(a, f"{ROOM}##")
        browser.wait_for(f"{rows()} === 1", phones=[a])
        id_a = browser.eval("document.querySelector('#participants tbody tr').dataset.id")
        sipp_b, b_phone = dial_in(start_sipp, b, sock_b, scen, 0xB, 90)
        b_phone.audio = tone_frames(TONE_B)
        type_keys(b_phone, f"{ROOM}##", others=[a])
        browser.wait_for(f"{rows('speaking')} === 2", phones=[a, b_phone])
        pump([a, b_phone], 0.5)  # join beep and "entering" prompt pass

        t0 = time.monotonic()
        pump([a, b_phone], 1.5)
        before = b_phone.received(t0)
        browser.click(f"#participants tr[data-id='{id_a}'] button.mute")
        browser.wait_for(f"{rows('muted')} === 1", phones=[a, b_phone])
        assert browser.eval(f"document.querySelector(\"tr[data-id='{id_a}']\").dataset.state") == (
            "muted"
        )
        pump([a, b_phone], 0.3)  # what was in flight drains
        t1 = time.monotonic()
        pump([a, b_phone], 1.5)
        after = b_phone.received(t1)
        a_after = a.received(t1)
        browser.screenshot(tmp_path / "page.png")

        info = rpc(url, "conf.info", [ROOM])["participants"]
        assert {p["id"]: p["state"] for p in info}[id_a] == "muted"
        browser.click(f"#participants tr[data-id='{id_a}'] button.kick")
        browser.wait_for(f"{rows()} === 1", phones=[b_phone])
        rpc(url, "conf.delete", [ROOM])
        pump([b_phone], 0.3)
        results = [sipp_a.wait(10), sipp_b.wait(10)]

    for sipp, result in zip((sipp_a, sipp_b), results, strict=True):
        assert result.returncode == 0, sipp.describe()
        assert "BYE" in sipp.logs()
    heard_before, heard_after = power(before, TONE_A), power(after, TONE_A)
    assert len(after) > 16000, f"participant B heard only {len(after) // 2} samples"
    assert heard_before > 1000 * (heard_after + 1.0), (heard_before, heard_after)
    # Muted is listen-only: A still hears B.
    assert power(a_after, TONE_B) > 1000 * (power(a_after, TONE_A) + 1.0)
