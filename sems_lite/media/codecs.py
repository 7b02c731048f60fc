"""Audio codec registry: name -> how to encode/decode native-endian 16-bit PCM.

The registry is data: SDP negotiation reads the `CodecSpec`s, the RTP stream reads the
encode/decode functions. G.711 comes from the kernels (`sems_lite.native`: C or its
identical fallback); L16 is network-order PCM (RFC 3551 §4.5.11). telephone-event is
listed so SDP can offer it, but it carries events, not audio. Later codecs (opus, G.722,
GSM...) register here when their library is found.
"""

from __future__ import annotations

import sys
import warnings
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sems_lite import native
from sems_lite.sdp.offer_answer import CodecSpec


@dataclass(frozen=True, slots=True)
class AudioCodec:
    spec: CodecSpec
    encode: Callable[[bytes], bytes]  # native-endian 16-bit PCM in, payload out
    decode: Callable[[bytes], bytes]  # payload in, native-endian 16-bit PCM out
    bytes_per_sample: int  # encoded octets per sample


def _swap16(data: bytes) -> bytes:
    samples = array("h")
    samples.frombytes(bytes(data[: len(data) & ~1]))
    samples.byteswap()
    return samples.tobytes()


def _identity(data: bytes) -> bytes:
    return bytes(data)


# L16 is big-endian on the wire; only little-endian hosts need the swap.
_to_network = _swap16 if sys.byteorder == "little" else _identity


def _g711() -> tuple[Callable[[bytes], bytes], ...]:
    """The cheapest identical G.711: audioop's (C, ~0.2-0.7 µs a frame) where it exists, as
    its call costs less than the cffi wrapper's (~1 µs); the C kernels where it does not
    (OpenWRT, Python 3.13+ without audioop-lts). Both give the same bytes
    (tests/unit/test_native_props.py); bench/kernels.py has the figures."""
    try:
        with warnings.catch_warnings():
            # Deprecated in 3.11-3.12, provided by audioop-lts from 3.13: both are fine here.
            warnings.simplefilter("ignore", DeprecationWarning)
            import audioop
    except ImportError:
        return native.ulaw_encode, native.ulaw_decode, native.alaw_encode, native.alaw_decode

    def ulaw_encode(pcm: bytes) -> bytes:
        return audioop.lin2ulaw(pcm, 2)

    def ulaw_decode(data: bytes) -> bytes:
        return audioop.ulaw2lin(data, 2)

    def alaw_encode(pcm: bytes) -> bytes:
        return audioop.lin2alaw(pcm, 2)

    def alaw_decode(data: bytes) -> bytes:
        return audioop.alaw2lin(data, 2)

    return ulaw_encode, ulaw_decode, alaw_encode, alaw_decode


_ULAW_ENC, _ULAW_DEC, _ALAW_ENC, _ALAW_DEC = _g711()
PCMU = AudioCodec(CodecSpec("PCMU", 8000, 0), _ULAW_ENC, _ULAW_DEC, 1)
PCMA = AudioCodec(CodecSpec("PCMA", 8000, 8), _ALAW_ENC, _ALAW_DEC, 1)
L16_8K = AudioCodec(CodecSpec("L16", 8000, None), _to_network, _to_network, 2)
L16_16K = AudioCodec(CodecSpec("L16", 16000, None), _to_network, _to_network, 2)
TELEPHONE_EVENT = CodecSpec("telephone-event", 8000, None, fmtp="0-16")
TELEPHONE_EVENT_16K = CodecSpec("telephone-event", 16000, None, fmtp="0-16")

# Config name -> what it adds to the capability list.
_BY_NAME: dict[str, list[CodecSpec]] = {
    "PCMU": [PCMU.spec],
    "PCMA": [PCMA.spec],
    "L16": [L16_16K.spec, L16_8K.spec],
    "telephone-event": [TELEPHONE_EVENT, TELEPHONE_EVENT_16K],
}
_AUDIO: dict[tuple[str, int], AudioCodec] = {
    (c.spec.name.upper(), c.spec.clock_rate): c for c in (PCMU, PCMA, L16_8K, L16_16K)
}
KNOWN_NAMES = tuple(_BY_NAME)


def codec_specs(names: Sequence[str]) -> list[CodecSpec]:
    """The SDP capability list for configured codec names, in configured order."""
    specs: list[CodecSpec] = []
    for name in names:
        if name not in _BY_NAME:
            raise KeyError(f"unknown codec {name!r} (known: {', '.join(KNOWN_NAMES)})")
        specs.extend(_BY_NAME[name])
    return specs


def audio_codec(spec: CodecSpec) -> AudioCodec:
    return _AUDIO[(spec.name.upper(), spec.clock_rate)]
