"""The `announcement` app end to end: the caller hears the whole prompt, then the box
hangs up (BYE) when the prompt ends.

- sipp does the SIP; the test owns the RTP port in the SDP, receives the prompt itself,
  and compares the BYE's arrival (sipp's timestamp) with the first RTP packet's.
- baresip is a real phone: it calls, records what it hears (sndfile) and is hung up on;
  the recording must be the prompt after a G.711 round trip (PCMU, PCMA, and PCMU with
  the box on its pure-Python kernels).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from . import _audio
from ._announce import (
    DEFAULT_WAV,
    announce_call,
    app_box_config,
    duration,
    match,
    prompt_problems,
    prompt_reference,
    stream_audio,
)
from ._box import REPO_ROOT, tail
from ._net import free_port, free_port_block
from .conftest import require_tool
from .test_baresip import _sip_trace, _write_config

pytestmark = pytest.mark.interop

BYE_TOLERANCE = 0.100  # s, |BYE - first RTP - prompt duration|
CALL_TIMEOUT = 20.0  # s, a hard bound for one announcement call


@pytest.mark.parametrize("law", ["PCMU", "PCMA"])
def test_bye_when_prompt_ends(box, start_sipp, law):
    """The BYE arrives one prompt length after the first RTP packet, and the RTP in
    between is the prompt."""
    b = box({**app_box_config("announcement", "announcement"), "codecs": [law, "telephone-event"]})
    rec, sipp = announce_call(b, start_sipp, "announcement", CALL_TIMEOUT)
    packets = rec.rtp()
    assert packets, f"no RTP from the box\n{sipp.describe()}"
    byes = sipp.log_times("BYE")
    assert len(byes) == 1, f"want one BYE logged by sipp, got {byes}\n{sipp.logs()}"
    prompt = duration(DEFAULT_WAV)
    first = packets[0].wall
    late = byes[0] - first - prompt
    print(f"BYE - first RTP - prompt = {late * 1000:+.1f} ms ({len(packets)} packets)")
    assert abs(late) <= BYE_TOLERANCE, (
        f"BYE {byes[0] - first:.3f} s after the first RTP packet; the prompt lasts "
        f"{prompt:.3f} s (off by {late * 1000:+.0f} ms, want within "
        f"{BYE_TOLERANCE * 1000:.0f} ms)"
    )
    assert all(a.wall <= byes[0] + 0.05 for a in packets), "RTP kept coming after the BYE"
    heard, got_law, _ = stream_audio(packets)
    assert got_law == law, f"box sent {got_law}, the config allows only {law}"
    reference = prompt_reference(DEFAULT_WAV, law)
    print(f"RTP vs prompt: {match(heard, reference).summary()}")
    problems = prompt_problems(heard, reference)
    assert not problems, "\n".join(problems)


# --- baresip ------------------------------------------------------------------------
BARESIP_SECONDS = 20  # baresip -t: a hard stop well after the prompt (~5 s) ends
SILENT_SOURCE_SECONDS = 12.0  # what baresip sends: longer than the prompt, so the box ends


def _baresip_announce(box_, procs, tmp_path: Path) -> tuple[str, Path]:
    """baresip dials `announcement`, hears the prompt, is hung up on; (output, dec.wav)."""
    folder = tmp_path / "baresip"
    rec_dir = tmp_path / "rec"
    rec_dir.mkdir()
    wav = tmp_path / "silence.wav"
    _audio.write_wav(wav, bytes(2 * int(SILENT_SOURCE_SECONDS * _audio.RATE)))
    _write_config(folder, wav, free_port(), free_port_block(10), rec_dir)
    out_path = tmp_path / "baresip.out"
    cmd = [
        "baresip",
        "-f", str(folder),
        "-s",  # SIP trace on stdout
        "-e", f"/dial {box_.uri('announcement')}",
        "-t", str(BARESIP_SECONDS),
    ]  # fmt: skip
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    procs.append(proc)
    deadline = time.monotonic() + BARESIP_SECONDS + 5
    while time.monotonic() < deadline:
        if "terminated" in out_path.read_text(errors="replace") or proc.poll() is not None:
            break
        time.sleep(0.1)
    time.sleep(0.5)  # let baresip's 200 to the BYE and the recording's end land
    proc.terminate()
    proc.wait(10)
    output = out_path.read_text(errors="replace")
    context = f"--- baresip output ---\n{tail(output, 200)}"
    assert "Call established" in output, f"call not established\n{context}"
    firsts = [f"{d} {line}" for d, line in _sip_trace(output)]
    assert any(f.startswith("in BYE ") for f in firsts), (
        f"the box sent no BYE at the prompt's end: {firsts}\n{context}"
    )
    assert not any(f.startswith("out BYE ") for f in firsts), f"baresip hung up first: {firsts}"
    dec_files = sorted(rec_dir.glob("*-dec.wav"))
    assert dec_files, f"sndfile wrote no recording of what baresip heard\n{context}"
    return output, dec_files[-1]


def _assert_heard_prompt(recording: Path, law: str) -> None:
    heard, rate, channels = _audio.read_wav(recording)
    assert (rate, channels) == (8000, 1), f"recording is {rate} Hz x{channels}"
    assert _audio.rms(heard) > 300, "baresip heard (near) silence: no prompt RTP"
    reference = prompt_reference(DEFAULT_WAV, law)
    m = match(heard, reference)
    print(f"baresip recording vs prompt ({law}): {m.summary()}")
    # The recording may hold jitter-buffer silence around the prompt: the prompt must fit
    # whole inside it (or nearly: the last frame may be cut), at > 30 dB.
    assert m.overlap >= m.reference - _audio.FRAME, (
        f"recording covers only {m.overlap} of {m.reference} prompt samples"
    )
    assert m.snr_db > 30, f"recording is not the prompt: {m.summary()}"


@pytest.mark.parametrize(
    ("law", "native"),
    [("PCMU", True), ("PCMA", True), ("PCMU", False)],
    ids=["pcmu", "pcma", "pcmu-fallback-kernels"],
)
def test_baresip_hears_announcement(box, procs, tmp_path, law, native):
    require_tool("baresip")
    env = None if native else {"SEMS_LITE_NATIVE": "0"}
    if env:
        # The box is started the same way; this proves the variable selects the fallback.
        version = subprocess.run(
            [sys.executable, "-m", "sems_lite", "--version"],
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        assert "fallback" in version, f"SEMS_LITE_NATIVE=0 did not select fallback: {version}"
    b = box(
        {**app_box_config("announcement", "announcement"), "codecs": [law, "telephone-event"]},
        env=env,
    )
    output, recording = _baresip_announce(b, procs, tmp_path)
    answer = re.findall(r"^m=audio \d+ RTP/AVP ([ 0-9]+)", output, re.M)
    want_pt = {"PCMU": "0", "PCMA": "8"}[law]
    assert answer and answer[-1].split()[0] == want_pt, f"box answered m= formats {answer}"
    _assert_heard_prompt(recording, law)
