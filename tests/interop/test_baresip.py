"""baresip as a real phone: it calls the echo app, plays a WAV file into the call
(aufile), records what it sends and hears (sndfile), and hangs up when the file ends.

No sound card: the player is an aubridge device nobody reads from. The call must be
set up (200 OK), carry RTP both ways (the recorded echo is the sent audio) and be torn
down cleanly (BYE answered with 200).
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from . import _audio
from ._box import tail
from ._net import free_port, free_port_block
from .conftest import require_tool

pytestmark = pytest.mark.interop

MODULES = Path("/usr/lib/baresip/modules")
SIGNAL_SECONDS = 3.0
RUN_SECONDS = 12  # baresip -t: a hard stop well after the call should have ended


def _write_config(folder: Path, wav: Path, sip_port: int, rtp_low: int, rec_dir: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    modules = ["g711.so", "aufile.so", "aubridge.so", "sndfile.so"]
    missing = [m for m in modules if not (MODULES / m).is_file()]
    if missing:
        pytest.skip(f"baresip modules missing in {MODULES}: {missing}")
    lines = [
        "poll_method\tepoll",
        f"sip_listen\t127.0.0.1:{sip_port}",
        "net_interface\t127.0.0.1",  # keep SIP and SDP on loopback
        "sip_trans_def\tudp",
        f"audio_source\taufile,{wav}",
        "audio_player\taubridge,nowhere",
        "audio_alert\taubridge,nowhere",
        "ausrc_srate\t8000",
        "auplay_srate\t8000",
        "ausrc_channels\t1",
        "auplay_channels\t1",
        f"rtp_ports\t{rtp_low}-{rtp_low + 9}",
        "jitter_buffer_delay\t1-5",
        f"module_path\t{MODULES}",
        *(f"module\t{m}" for m in modules),
        "module_app\taccount.so",
        "module_app\tmenu.so",
        f"snd_path\t{rec_dir}",
    ]
    (folder / "config").write_text("\n".join(lines) + "\n")
    (folder / "accounts").write_text("<sip:tester@127.0.0.1>;regint=0\n")


def _sip_trace(output: str) -> list[tuple[str, str]]:
    """(direction 'out'/'in', first line) for each message in baresip's -s trace."""
    trace = []
    rx = re.compile(r"^(?:UDP|TCP) (\S+) -> (\S+)\r?\n([^\r\n]+)", re.M)
    local = None
    for m in rx.finditer(output):
        src, _dst, first = m.groups()
        if local is None:
            local = src  # baresip sends first (the INVITE)
        trace.append(("out" if src == local else "in", first.strip()))
    return trace


def _cseq_methods(output: str) -> list[str]:
    return re.findall(r"^CSeq:\s*\d+\s+(\S+)", output, re.M)


def test_baresip_calls_echo(box, procs, tmp_path):
    require_tool("baresip")
    b = box()
    folder = tmp_path / "baresip"
    rec_dir = tmp_path / "rec"
    rec_dir.mkdir()
    wav = tmp_path / "signal.wav"
    _audio.write_wav(wav, _audio.make_signal(SIGNAL_SECONDS, seed=7))
    _write_config(folder, wav, free_port(), free_port_block(10), rec_dir)
    out_path = tmp_path / "baresip.out"
    cmd = [
        "baresip",
        "-f", str(folder),
        "-s",  # SIP trace on stdout
        "-e", f"/dial {b.uri('echo')}",
        "-t", str(RUN_SECONDS),
    ]  # fmt: skip
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    procs.append(proc)
    deadline = time.monotonic() + RUN_SECONDS + 10
    output = ""
    while time.monotonic() < deadline:
        output = out_path.read_text(errors="replace")
        if "terminated" in output or proc.poll() is not None:
            break
        time.sleep(0.1)
    time.sleep(0.5)  # let the 200 to the BYE land in the trace
    proc.terminate()
    proc.wait(10)
    output = out_path.read_text(errors="replace")
    context = f"--- baresip output ---\n{tail(output, 200)}"

    assert "Call established" in output, f"call not established\n{context}"
    trace = _sip_trace(output)
    firsts = [f"{d} {line}" for d, line in trace]
    assert any(f.startswith("out INVITE ") for f in firsts), context
    assert "in SIP/2.0 200 OK" in firsts, f"no 200 OK from the box: {firsts}"
    assert any(f.startswith("out BYE ") for f in firsts), f"baresip sent no BYE: {firsts}"
    # The last response in the trace answers baresip's BYE.
    methods = _cseq_methods(output)
    assert methods and methods[-1] == "BYE" and firsts[-1] == "in SIP/2.0 200 OK", (
        f"BYE not answered with 200: {firsts} / CSeq methods {methods}"
    )
    assert re.search(r"terminated \(duration: \d+", output), context

    # Both recordings: what baresip sent (enc) and what it heard back (dec).
    enc_files = sorted(rec_dir.glob("*-enc.wav"))
    dec_files = sorted(rec_dir.glob("*-dec.wav"))
    assert enc_files and dec_files, f"sndfile wrote no recordings in {rec_dir}\n{context}"
    sent, _, _ = _audio.read_wav(enc_files[-1])
    heard, rate, channels = _audio.read_wav(dec_files[-1])
    assert (rate, channels) == (8000, 1), f"recording is {rate} Hz x{channels}"
    assert _audio.rms(heard) > 1000, "baresip heard (near) silence: no echo RTP"
    _assert_echo_matches(_audio.ulaw_roundtrip(sent), heard)


def _assert_echo_matches(sent: bytes, heard: bytes) -> None:
    """Half-second chunks of what baresip heard must each be found in what it sent.

    baresip's jitter buffer may shift the stream by a frame now and then, so chunks are
    aligned one by one; most must match almost exactly.
    """
    chunk = _audio.RATE // 2 * _audio.WIDTH
    good = total = 0
    scores = []
    for start in range(0, len(heard) - chunk + 1, chunk):
        piece = heard[start : start + chunk]
        if _audio.rms(piece) < 1000:  # before the echo arrived / after the end
            continue
        total += 1
        off = _audio.findfit(sent, piece)
        corr, snr = _audio.compare(sent[off * 2 : off * 2 + chunk], piece)
        scores.append(f"{corr:.3f}/{snr:.0f}dB")
        if corr > 0.99 or snr > 30:
            good += 1
    print(f"echo chunks (correlation/SNR): {scores}")
    assert total >= 4, f"only {total} loud half-seconds in the recording (want >= 4)"
    assert good >= 0.75 * total, f"echo does not match what was sent: {scores}"
