"""Audio codec registry: name -> how to encode/decode linear 16-bit PCM.

G.711 uses audioop here (stdlib up to 3.12, the `audioop-lts` package from 3.13); the C
kernels of a later stage plug in behind the same functions. telephone-event is listed so
SDP can offer it, but it carries events, not audio (no encoder).
"""

from __future__ import annotations

import audioop
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sems_lite.sdp.offer_answer import CodecSpec


@dataclass(frozen=True, slots=True)
class AudioCodec:
    spec: CodecSpec
    encode: Callable[[bytes], bytes]  # native-endian 16-bit PCM in, encoded octets out
    decode: Callable[[bytes], bytes]
    bytes_per_sample: int  # encoded octets per sample (1 for G.711)


def _ulaw_encode(pcm: bytes) -> bytes:
    return audioop.lin2ulaw(pcm, 2)


def _ulaw_decode(data: bytes) -> bytes:
    return audioop.ulaw2lin(data, 2)


def _alaw_encode(pcm: bytes) -> bytes:
    return audioop.lin2alaw(pcm, 2)


def _alaw_decode(data: bytes) -> bytes:
    return audioop.alaw2lin(data, 2)


PCMU = AudioCodec(CodecSpec("PCMU", 8000, 0), _ulaw_encode, _ulaw_decode, 1)
PCMA = AudioCodec(CodecSpec("PCMA", 8000, 8), _alaw_encode, _alaw_decode, 1)
TELEPHONE_EVENT = CodecSpec("telephone-event", 8000, None, fmtp="0-16")

AUDIO_CODECS: dict[str, AudioCodec] = {"PCMU": PCMU, "PCMA": PCMA}
KNOWN_NAMES = ("PCMU", "PCMA", "telephone-event")


def codec_specs(names: Sequence[str]) -> list[CodecSpec]:
    """The SDP capability list for configured codec names, in configured order."""
    specs = []
    for name in names:
        if name == "telephone-event":
            specs.append(TELEPHONE_EVENT)
        elif name in AUDIO_CODECS:
            specs.append(AUDIO_CODECS[name].spec)
        else:
            raise KeyError(f"unknown codec {name!r} (known: {', '.join(KNOWN_NAMES)})")
    return specs


def audio_codec(spec: CodecSpec) -> AudioCodec:
    return AUDIO_CODECS[spec.name.upper()]
