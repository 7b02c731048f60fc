"""The announcement app picks its prompt from the caller's R-URI, so the caller controls
a file name: names that could leave the prompt folder must be refused (WARNING in the
log) and the DEFAULT prompt played instead — checked on the audio the caller hears.

Layout per test (all under tmp_path):
  prompts/                  announce_path
  prompts/hello.wav         600 Hz    (positive control: user `hello`)
  prompts/127.0.0.1/both.wav 1400 Hz  (domain folder wins ...)
  prompts/both.wav          2200 Hz   (... over the plain user file)
  prompts/evil.wav -> ../outside.wav  (symlink out of the folder)
  outside.wav               1000 Hz   (must never be played)
default_announce is the shipped etc/prompts/default.wav (~5.1 s of speech-like audio).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ._announce import (
    DEFAULT_WAV,
    MAX_WRONG_SNR_DB,
    announce_call,
    app_box_config,
    g711_roundtrip,
    match,
    prompt_problems,
    prompt_reference,
    stream_audio,
    tone,
)
from ._audio import write_wav

pytestmark = pytest.mark.interop

TONES = {  # file (relative to tmp_path) -> (Hz, seconds)
    "outside.wav": (1000, 1.5),
    "prompts/hello.wav": (600, 1.0),
    "prompts/127.0.0.1/both.wav": (1400, 1.2),
    "prompts/both.wav": (2200, 1.2),
}
WARNING_RX = re.compile(r"^.*\bWARNING\b.*\brefused\b.*$", re.M)


def _prompt_tree(root: Path) -> Path:
    """Write the prompt folder (see the module docstring); returns announce_path."""
    for rel, (freq, seconds) in TONES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, tone(freq, seconds))
    (root / "prompts" / "evil.wav").symlink_to(root / "outside.wav")
    return root / "prompts"


def _box_for(box, tmp_path: Path):
    prompts = _prompt_tree(tmp_path)
    # Every user reaches the announcement app; the echo rule stays as the one named route.
    config = app_box_config("announcement", "announce", announce_path=str(prompts))
    config["default_app"] = "announcement"
    return box(config)


def _heard(box_, start_sipp, user: str) -> tuple[bytes, str, object]:
    rec, sipp = announce_call(box_, start_sipp, user)
    # sipp must have sent the R-URI user exactly as given (no escaping of its own).
    assert f"INVITE sip:{user}@" in sipp.messages(), f"sipp did not send user {user!r}"
    packets = rec.rtp()
    assert packets, f"no RTP for user {user!r}\n{sipp.describe()}"
    heard, law, _ = stream_audio(packets)
    return heard, law, sipp


def _ref(tmp_path: Path, rel: str, law: str) -> bytes:
    return prompt_reference(tmp_path / rel, law)


REFUSED = [
    # (R-URI user as sent, a fragment the refusal warning names)
    ("../../etc/passwd", "etc/passwd"),
    ("%2e%2e%2fetc%2fpasswd", "etc/passwd"),
    ("a%00b", r"a\x00b"),
    # Would reach tmp_path/outside.wav if the name were used as a path.
    ("../outside", "outside"),
    ("%2e%2e%2foutside", "outside"),
    ("..%2Foutside", "outside"),
    # A plain name whose file is a symlink leaving the folder.
    ("evil", "evil"),
]


@pytest.mark.parametrize(("user", "named"), REFUSED, ids=[u for u, _ in REFUSED])
def test_unsafe_name_plays_default(box, start_sipp, tmp_path, user, named):
    b = _box_for(box, tmp_path)
    heard, law, _ = _heard(b, start_sipp, user)
    problems = prompt_problems(heard, prompt_reference(DEFAULT_WAV, law), "default prompt")
    assert not problems, f"user {user!r}: " + "\n".join(problems)
    outside = match(heard, _ref(tmp_path, "outside.wav", law))
    assert outside.snr_db < MAX_WRONG_SNR_DB, f"user {user!r} heard outside.wav: {outside}"
    warnings = WARNING_RX.findall(b.log())
    assert warnings, f"user {user!r}: no WARNING about a refused prompt in the box log"
    assert any(named in w for w in warnings), (
        f"user {user!r}: the refusal warnings do not name {named!r}: {warnings}"
    )


def test_user_prompt_is_played(box, start_sipp, tmp_path):
    """Positive control: prompts/hello.wav plays for user hello, without any refusal."""
    b = _box_for(box, tmp_path)
    heard, law, _ = _heard(b, start_sipp, "hello")
    problems = prompt_problems(heard, _ref(tmp_path, "prompts/hello.wav", law), "hello.wav")
    assert not problems, "\n".join(problems)
    default = match(heard, prompt_reference(DEFAULT_WAV, law))
    assert default.snr_db < MAX_WRONG_SNR_DB, f"user hello heard the default prompt: {default}"
    assert not WARNING_RX.findall(b.log()), "a safe name was refused"


def test_domain_prompt_wins_over_user_prompt(box, start_sipp, tmp_path):
    """<announce_path>/<domain>/<user>.wav before <announce_path>/<user>.wav."""
    b = _box_for(box, tmp_path)
    heard, law, _ = _heard(b, start_sipp, "both")
    problems = prompt_problems(heard, _ref(tmp_path, "prompts/127.0.0.1/both.wav", law))
    assert not problems, "domain prompt not played:\n" + "\n".join(problems)
    user_level = match(heard, g711_roundtrip(tone(2200, 1.2), law))
    assert user_level.snr_db < MAX_WRONG_SNR_DB, f"the user-level prompt played: {user_level}"
