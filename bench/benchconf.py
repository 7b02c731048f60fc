"""The box's configuration for the sipp benchmarks, and the audio they need.

The config is etc/sems_lite.yaml with only what a load test must change: room for the
calls (max_calls, max_transactions), no call-rate limit, warnings only, no control
interface (it would compete for port 8090 with whatever else runs here), conference
rooms big enough, and the announcement app pointed at a generated 30 s prompt.
"""

from __future__ import annotations

import wave
from pathlib import Path

from common import CONFIG, REPO_ROOT

PROMPT_SECONDS = 30.0
# Raw G.711 mu-law, 8 kHz (the precoded default prompt, speech): what sipp streams.
STREAM_AUDIO = REPO_ROOT / "etc/prompts/default.pcmu"
SOURCE_WAV = REPO_ROOT / "etc/prompts/default.wav"
# Transactions linger up to 32 s after their answer (RFC 3261 Timer J): at 1000 calls/s
# that is ~64 000 in flight; the default 2000 would turn the call-rate test into 503s.
MAX_TRANSACTIONS = 200_000


def write_prompt(path: Path, seconds: float = PROMPT_SECONDS) -> Path:
    """A WAV of `seconds`: the default prompt repeated (real speech, same format)."""
    with wave.open(str(SOURCE_WAV), "rb") as src:
        params = src.getparams()
        frames = src.readframes(params.nframes)
    need = int(seconds * params.framerate) * params.sampwidth * params.nchannels
    data = (frames * (need // max(len(frames), 1) + 1))[:need]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(params.nchannels)
        out.setsampwidth(params.sampwidth)
        out.setframerate(params.framerate)
        out.writeframes(data)
    return path


def bench_settings(max_calls: int, room_size: int, prompt: Path) -> dict:
    """The changes applied to the default config (also recorded in each JSON line)."""
    return {
        "limits": {
            "max_calls": max_calls,
            "cps_limit": 0,
            "max_transactions": MAX_TRANSACTIONS,
        },
        "log_level": "warning",
        "control": {"listen": None},
        "app_config": {
            "announcement": {
                "announce_path": str(prompt.parent),
                "default_announce": str(prompt),
            },
            "conference": {"max_participants": max(room_size, 10)},
        },
    }


def _merge(base: dict, changes: dict) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def write_config(workdir: Path, max_calls: int, room_size: int = 10) -> Path:
    """etc/sems_lite.yaml with the bench settings, written into workdir (with the 30 s
    prompt beside it, in a folder of its own so no other prompt name can match)."""
    import yaml  # a box dependency; imported here so --help works without it

    prompts = workdir / "prompts"
    prompts.mkdir(parents=True, exist_ok=True)
    prompt = write_prompt(prompts / "bench30.wav")
    data = yaml.safe_load((REPO_ROOT / CONFIG).read_text()) or {}
    _merge(data, bench_settings(max_calls, room_size, prompt))
    path = workdir / "sems_lite.bench.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
