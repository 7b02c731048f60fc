"""Damaged files: whatever the bytes, the parser answers with WavInfo or WavError."""

from __future__ import annotations

import os
import struct
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from sems_lite.media.wav import WavError, load_pcm, read_info

_FMT_PCM = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, 8000, 16000, 2, 16)


def _check(content: bytes, suffix: str = ".wav") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "f" + suffix)
        with open(path, "wb") as f:
            f.write(content)
        try:
            info = read_info(path)
        except WavError:
            return
        assert info.channels == 1
        assert 0 <= info.data_offset <= len(content)
        assert info.data_offset + info.data_size <= len(content)
        for rate in (8000, 16000):
            pcm = load_pcm(path, rate)
            assert len(pcm) == info.frames * 2 * rate // info.rate


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(content: bytes) -> None:
    _check(content)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_chunks_after_a_riff_header(tail: bytes) -> None:
    _check(b"RIFF\0\0\0\0WAVE" + tail)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([b"fmt ", b"data", b"LIST", b"fact"]),
            st.integers(0, 0xFFFFFFFF) | st.integers(0, 64),
            st.binary(max_size=48),
        ),
        max_size=5,
    )
)
def test_structured_chunks(chunks: list[tuple[bytes, int, bytes]]) -> None:
    body = b"".join(struct.pack("<4sI", cid, size) + data for cid, size, data in chunks)
    _check(b"RIFF\0\0\0\0WAVE" + body)
    _check(b"RIFF\0\0\0\0WAVE" + _FMT_PCM + body)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=64), st.sampled_from([".pcmu", ".alaw", ".raw"]))
def test_raw_files_of_any_length(content: bytes, suffix: str) -> None:
    _check(content, suffix)
