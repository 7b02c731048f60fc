"""Audio files: WAV headers, raw G.711/linear files, decoding to PCM, 8k<->16k rate change.

Rules this module keeps:
- Mono only, 8000 or 16000 Hz, three encodings: 16-bit linear (`pcm16`), µ-law, A-law.
  Anything else is a `WavError` (a `ValueError`) with a message a user can act on; a
  damaged file never raises anything else (an unreadable one raises `OSError`).
- Headers are walked chunk by chunk with seeks: a large LIST chunk is skipped, not read.
- Files left behind by a crashed writer are accepted: a data size of 0, 0xFFFFFFFF or
  beyond the end of the file means "up to the end of the file".
- PCM handed to the media engine is native-endian; WAV data is little-endian.
- Each conversion is one small function, so the native kernels can replace them.
"""

from __future__ import annotations

import os
import struct
import sys
from array import array
from dataclasses import dataclass
from typing import BinaryIO

from sems_lite import native

FORMATS = ("pcm16", "ulaw", "alaw")
RATES = (8000, 16000)

_FORMAT_OF_CODE = {1: "pcm16", 7: "ulaw", 6: "alaw"}
_CODE_OF_FORMAT = {name: code for code, name in _FORMAT_OF_CODE.items()}
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# The subformat GUID of WAVE_FORMAT_EXTENSIBLE is the format code followed by this tail.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_RAW_EXTENSIONS = {
    ".pcmu": "ulaw",
    ".ulaw": "ulaw",
    ".pcma": "alaw",
    ".alaw": "alaw",
    ".raw": "pcm16",
    ".sln": "pcm16",
}
_RAW_RATE = 8000
_MAX_CHUNKS = 64  # a crafted file cannot keep the header walk going for ever
_CHUNK = struct.Struct("<4sI")
_FMT = struct.Struct("<HHIIHH")
_BIG_ENDIAN = sys.byteorder == "big"

# Largest data chunk a header can describe (32-bit RIFF size, room for our header).
MAX_DATA_SIZE = 0xFFFFFFFF - 64


class WavError(ValueError):
    """The file is not an audio file this server can play."""


@dataclass(frozen=True, slots=True)
class WavInfo:
    format: str  # 'pcm16' | 'ulaw' | 'alaw'
    rate: int
    channels: int
    frames: int
    data_offset: int  # file offset of the first audio byte
    data_size: int  # audio bytes, whole frames only

    @property
    def width(self) -> int:
        """Bytes per frame in the file."""
        return 2 if self.format == "pcm16" else 1


# --- conversions: each one name, so a faster kernel can take its place ----------------

# G.711 and the 8k<->16k half-band resampler come from the media kernels (C when built,
# else their sample-exact Python twin). Resampler(up).process(pcm) keeps filter state
# between calls, so a file resampled chunk by chunk has no clicks at chunk borders.
ulaw_decode = native.ulaw_decode
alaw_decode = native.alaw_decode
ulaw_encode = native.ulaw_encode
alaw_encode = native.alaw_encode
Resampler = native.Resampler


def byteswap16(data: bytes) -> bytes:
    """Each 16-bit sample with its two bytes swapped (array does it in C; no audioop,
    which OpenWRT's Python does not have)."""
    swapped = array("h", data)
    swapped.byteswap()
    return swapped.tobytes()


def le16_to_native(data: bytes) -> bytes:
    return byteswap16(data) if _BIG_ENDIAN else data  # no copy on little-endian


def native_to_le16(pcm: bytes) -> bytes:
    return byteswap16(pcm) if _BIG_ENDIAN else pcm


DECODERS = {"pcm16": le16_to_native, "ulaw": ulaw_decode, "alaw": alaw_decode}
ENCODERS = {"pcm16": native_to_le16, "ulaw": ulaw_encode, "alaw": alaw_encode}


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """A whole buffer resampled; the result has exactly len * to_rate / from_rate bytes."""
    if from_rate == to_rate:
        return pcm
    if from_rate not in RATES or to_rate not in RATES:
        raise ValueError(f"cannot resample {from_rate} Hz -> {to_rate} Hz")
    out = Resampler(to_rate > from_rate).process(pcm)
    want = (len(pcm) // 2) * to_rate // from_rate * 2
    if len(out) < want:
        # An odd input going down leaves half a sample behind; repeat the last one.
        out += (out[-2:] if out else b"\0\0") * ((want - len(out)) // 2)
    return out[:want]


# --- reading --------------------------------------------------------------------------


def open_audio(path: str | os.PathLike[str]) -> tuple[BinaryIO, WavInfo]:
    """Open an audio file and parse its header; the file is left at the first audio byte.

    The caller owns the returned file. Raises OSError or WavError.
    """
    f = open(path, "rb")  # noqa: SIM115 -- handed to the caller
    try:
        size = os.fstat(f.fileno()).st_size
        name = os.fspath(path)
        raw = _RAW_EXTENSIONS.get(os.path.splitext(name)[1].lower())
        info = _parse_wav(f, size, name) if raw is None else _make_info(raw, _RAW_RATE, 0, size)
        f.seek(info.data_offset)
    except BaseException:
        f.close()
        raise
    return f, info


def read_info(path: str | os.PathLike[str]) -> WavInfo:
    """The format and data location of a WAV or raw (.pcmu/.ulaw/.pcma/.alaw/.raw/.sln) file."""
    f, info = open_audio(path)
    f.close()
    return info


def load_pcm(path: str | os.PathLike[str], rate: int) -> bytes:
    """The whole file as native-endian 16-bit mono PCM at `rate` (8000 or 16000)."""
    if rate not in RATES:
        raise ValueError(f"rate must be one of {RATES}, not {rate}")
    f, info = open_audio(path)
    with f:
        data = f.read(info.data_size)
    # The file may have shrunk since its header was read: keep whole frames only.
    data = data[: len(data) - len(data) % info.width]
    return resample(DECODERS[info.format](data), info.rate, rate)


def _make_info(fmt: str, rate: int, offset: int, size: int) -> WavInfo:
    width = 2 if fmt == "pcm16" else 1
    frames = size // width
    return WavInfo(fmt, rate, 1, frames, offset, frames * width)


def _parse_wav(f: BinaryIO, size: int, name: str) -> WavInfo:
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise WavError(f"{name}: not a RIFF/WAVE file")
    pos = 12
    fmt: tuple[str, int] | None = None
    for _ in range(_MAX_CHUNKS):
        f.seek(pos)
        header = f.read(8)
        if len(header) < 8:
            break
        chunk_id, chunk_size = _CHUNK.unpack(header)
        body = pos + 8
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(f.read(min(chunk_size, 40)), chunk_size, name)
        elif chunk_id == b"data":
            if fmt is None:
                raise WavError(f"{name}: data chunk before the fmt chunk")
            available = size - body
            if chunk_size in (0, 0xFFFFFFFF) or chunk_size > available:
                chunk_size = available  # left by a writer that crashed or never finished
            return _make_info(fmt[0], fmt[1], body, chunk_size)
        pos = body + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
    raise WavError(f"{name}: no data chunk")


def _parse_fmt(body: bytes, declared: int, name: str) -> tuple[str, int]:
    if declared < 16 or len(body) < 16:
        raise WavError(f"{name}: fmt chunk too short")
    code, channels, rate, _byte_rate, _align, bits = _FMT.unpack_from(body)
    if code == _WAVE_FORMAT_EXTENSIBLE:
        if len(body) < 40 or body[26:40] != _GUID_TAIL:
            raise WavError(f"{name}: WAVE_FORMAT_EXTENSIBLE with an unknown subformat")
        code = int.from_bytes(body[24:26], "little")
    fmt = _FORMAT_OF_CODE.get(code)
    if fmt is None:
        raise WavError(
            f"{name}: WAV format code {code} is not supported "
            "(use 16-bit PCM, µ-law or A-law, e.g. `sox in.wav -e signed -b 16 out.wav`)"
        )
    if channels != 1:
        raise WavError(
            f"{name}: {channels} channels; only mono files are supported "
            "(convert with e.g. `sox in.wav -c 1 out.wav`)"
        )
    need_bits = 16 if fmt == "pcm16" else 8
    if bits != need_bits:
        raise WavError(f"{name}: {bits}-bit {fmt} is not supported (need {need_bits}-bit)")
    if rate not in RATES:
        raise WavError(
            f"{name}: sample rate {rate} Hz is not supported (use 8000 or 16000 Hz, "
            "e.g. `sox in.wav -r 8000 out.wav`)"
        )
    return fmt, rate


# --- writing --------------------------------------------------------------------------


def header_size(fmt: str) -> int:
    """Bytes of the header `write_header` writes: the audio data starts there."""
    return 44 if fmt == "pcm16" else 58


def build_header(fmt: str, rate: int, data_size: int) -> bytes:
    """A complete WAV header for `data_size` bytes of mono audio.

    G.711 gets the 18-byte fmt chunk and the `fact` chunk the WAV rules ask of
    non-PCM formats. The RIFF size counts the pad byte an odd data chunk needs.
    """
    code = _CODE_OF_FORMAT.get(fmt)
    if code is None:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    if not 0 <= data_size <= MAX_DATA_SIZE:
        raise ValueError(f"data size {data_size} does not fit a WAV header")
    riff_size = header_size(fmt) - 8 + data_size + (data_size & 1)
    if fmt == "pcm16":
        fmt_chunk = _CHUNK.pack(b"fmt ", 16) + _FMT.pack(1, 1, rate, rate * 2, 2, 16)
        extra = b""
    else:
        fmt_chunk = _CHUNK.pack(b"fmt ", 18) + _FMT.pack(code, 1, rate, rate, 1, 8) + b"\0\0"
        extra = _CHUNK.pack(b"fact", 4) + struct.pack("<I", data_size)
    return b"".join(
        (
            _CHUNK.pack(b"RIFF", riff_size),
            b"WAVE",
            fmt_chunk,
            extra,
            _CHUNK.pack(b"data", data_size),
        )
    )


def write_header(f: BinaryIO, fmt: str, rate: int, data_size: int) -> None:
    """Write the header at the file's current position (normally 0)."""
    f.write(build_header(fmt, rate, data_size))
