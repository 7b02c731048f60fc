"""ABI mode: the plain shared object of `make cross`, opened with ffi.dlopen through the
header's cdef, agrees with the fallback sample for sample; and sems_lite.native picks the
extension, then that object, then the fallback.

The object is the host board's build/<board>/libsems_kernels.so, built here with zig
through boards/cross.mk, or with the host `cc` when zig is not installed."""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from array import array
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sems_lite import _fallback, native

ROOT = Path(__file__).resolve().parents[2]
NATIVE_DIR = ROOT / "native"


def _host_board() -> str | None:
    spec = importlib.util.spec_from_file_location("boards_board", ROOT / "boards/board.py")
    board = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(board)
    for name in board.names():
        if board.load(name)["UNAME_M"] == platform.machine():
            return name
    return None


def _build_with_zig(board: str) -> Path | None:
    if importlib.util.find_spec("ziglang") is None or shutil.which("make") is None:
        return None
    cmd = ["make", "-s", "-f", str(ROOT / "boards/cross.mk"), f"BOARD={board}", "so"]
    subprocess.run([*cmd, f"PY={sys.executable}"], check=True, capture_output=True)
    return ROOT / "build" / board / "libsems_kernels.so"


def _build_with_cc(out: Path) -> Path | None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    so = out / "libsems_kernels.so"
    sources = sorted(str(p) for p in NATIVE_DIR.glob("*.c"))
    # the same link as boards/cross.mk with CC=: no libc NEEDED, compiler runtime kept
    cmd = [cc, "-std=c99", "-Os", "-fPIC", "-shared", f"-I{NATIVE_DIR}", "-o", str(so)]
    subprocess.run([*cmd, *sources, "-nostdlib", "-lgcc"], check=True, capture_output=True)
    return so


@pytest.fixture(scope="module")
def so_path(tmp_path_factory) -> Path:
    board = _host_board()
    path = _build_with_zig(board) if board else None
    if path is None:
        path = _build_with_cc(tmp_path_factory.mktemp("kernels"))
    if path is None:
        pytest.skip("no zig and no C compiler to build libsems_kernels.so")
    return path


@pytest.fixture(scope="module")
def abi(so_path):
    return native.abi_kernels(str(so_path), str(NATIVE_DIR / "sems_kernels.h"))


int16 = st.integers(-32768, 32767)
loud = st.one_of(int16, st.sampled_from([32767, -32768, 30000, -30000]))


def frame(n: int | None = None, elements=int16):
    size = {"min_size": n, "max_size": n} if n is not None else {"max_size": 400}
    return st.lists(elements, **size).map(lambda v: array("h", v).tobytes())


# --- every kernel against the fallback ---------------------------------------------------


def test_object_has_no_libc_dependency_and_exports_every_kernel(so_path, abi):
    assert abi.path == str(so_path)
    if shutil.which("readelf"):
        dyn = subprocess.run(["readelf", "-d", str(so_path)], capture_output=True, text=True)
        assert "(NEEDED)" not in dyn.stdout


@given(frame())
def test_g711_encode_same(abi, pcm):
    assert abi.ulaw_encode(pcm) == _fallback.ulaw_encode(pcm)
    assert abi.alaw_encode(pcm) == _fallback.alaw_encode(pcm)


@given(st.binary(max_size=400))
def test_g711_decode_same(abi, data):
    assert abi.ulaw_decode(data) == _fallback.ulaw_decode(data)
    assert abi.alaw_decode(data) == _fallback.alaw_decode(data)


@given(frame(), st.integers(-0xFFFF, 0xFFFF))
def test_gain_same(abi, pcm, g):
    assert abi.gain(pcm, g) == _fallback.gain(pcm, g)


@given(st.integers(0, 200).flatmap(lambda n: st.tuples(frame(n, loud), frame(n, loud))))
def test_add_same(abi, ab):
    assert abi.add(*ab) == _fallback.add(*ab)


@given(st.integers(0, 170).flatmap(lambda n: st.lists(frame(n, loud), min_size=1, max_size=12)))
def test_mix_same(abi, frames):
    assert abi.mix(frames) == _fallback.mix(frames)


@given(st.booleans(), st.lists(frame(), max_size=5))
def test_resampler_same(abi, up, chunks):
    a, b = abi.Resampler(up), _fallback.Resampler(up)
    for c in chunks:
        assert a.process(c) == b.process(c)


@given(
    st.integers(0, 4000),
    st.integers(0, 4000),
    st.integers(-60, 3),
    st.lists(st.integers(0, 500), max_size=4),
)
def test_tone_same(abi, f1, f2, level, reads):
    a, b = abi.ToneGenerator(f1, f2, level), _fallback.ToneGenerator(f1, f2, level)
    for n in reads:
        assert a.read(n) == b.read(n)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("0123456789ABCD*#"), st.integers(0, 120)), max_size=6),
    st.lists(frame(), max_size=3),
    st.integers(1, 400),
    st.sampled_from([8000, 16000]),
)
def test_dtmf_same(abi, keys, noise, piece, rate):
    rows, cols = (697, 770, 852, 941), (1209, 1336, 1477, 1633)
    per_ms = rate // 1000
    signal = b""
    for key, ms in keys:
        i = "123A456B789C*0#D".index(key)
        signal += _fallback.ToneGenerator(rows[i // 4], cols[i % 4], -15, rate).read(per_ms * ms)
        signal += bytes(2 * per_ms * (120 - ms))
    signal += b"".join(noise)
    a, b = abi.DtmfDetector(rate), _fallback.DtmfDetector(rate)
    for i in range(0, len(signal), 2 * piece):
        assert a.feed(signal[i : i + 2 * piece]) == b.feed(signal[i : i + 2 * piece])


def test_dtmf_finds_a_key_through_abi(abi):
    # the comparison above would also pass if both sides found nothing
    tone = _fallback.ToneGenerator(852, 1477, -10).read(8 * 100) + bytes(8 * 100)
    events = abi.DtmfDetector().feed(tone)
    assert events == _fallback.DtmfDetector().feed(tone)
    assert [key for key, _ in events] == ["9"] and abs(events[0][1] - 100) < 14  # one block


def test_errors_match_the_fallback(abi):
    for k in (abi, _fallback):
        with pytest.raises(ValueError, match="16-bit"):
            k.ulaw_encode(b"\x00")
        with pytest.raises(ValueError, match="gain_q12"):
            k.gain(b"\0\0", 0x10000)
        with pytest.raises(ValueError, match="8000 or 16000"):
            k.DtmfDetector(11025)


# --- loading ------------------------------------------------------------------------------


def test_header_beside_the_object_comes_first(tmp_path):
    so = tmp_path / "libsems_kernels.so"
    assert native.header_candidates(str(so))[0] == str(tmp_path / "sems_kernels.h")
    assert native.header_candidates(str(so))[-1] == str(NATIVE_DIR / "sems_kernels.h")


def test_object_older_than_the_header_is_refused(so_path, tmp_path):
    header = (NATIVE_DIR / "sems_kernels.h").read_text()
    newer = header.replace(
        "/* cffi-cdef-end */", "void sk_not_built_yet(void);\n/* cffi-cdef-end */"
    )
    (tmp_path / "sems_kernels.h").write_text(newer)
    with pytest.raises(AttributeError, match="sk_not_built_yet"):
        native.abi_kernels(str(so_path), str(tmp_path / "sems_kernels.h"))


def test_not_a_shared_object_is_refused(tmp_path):
    bogus = tmp_path / "libsems_kernels.so"
    bogus.write_bytes(b"not an ELF file")
    with pytest.raises(OSError):
        native.abi_kernels(str(bogus), str(NATIVE_DIR / "sems_kernels.h"))


def _no_extension():
    return None


def test_select_order(so_path, tmp_path):
    ext = native._bind  # any non-None stands for a built extension
    env = {"SEMS_LITE_KERNELS": str(so_path)}
    assert native._select(env, str(tmp_path), lambda: ext)[0] == "native"
    name, k = native._select(env, str(tmp_path), _no_extension)
    assert name == "native-abi" and k.path == str(so_path)
    assert native._select({**env, "SEMS_LITE_NATIVE": "0"}, str(tmp_path), _no_extension) == (
        "fallback",
        None,
    )
    # nothing named, nothing in the package: the fallback, silently
    assert native._select({}, str(tmp_path), _no_extension) == ("fallback", None)


def test_object_next_to_the_package_is_found(so_path, tmp_path):
    shutil.copy(so_path, tmp_path / "libsems_kernels.so")
    name, k = native._select({}, str(tmp_path), _no_extension)
    assert name == "native-abi" and k.path == str(tmp_path / "libsems_kernels.so")
    assert k.ulaw_decode(b"\xff\x00") == _fallback.ulaw_decode(b"\xff\x00")


def test_a_named_object_that_fails_warns_and_falls_back(tmp_path):
    env = {"SEMS_LITE_KERNELS": str(tmp_path / "missing.so")}
    with pytest.warns(RuntimeWarning, match="missing.so not used"):
        assert native._select(env, str(tmp_path), _no_extension) == ("fallback", None)


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SEMS_LITE_")}
    return subprocess.run(
        [sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True
    )


# Python without audioop (OpenWRT on 3.14) and without the extension: None in
# sys.modules makes an import fail
NO_AUDIOOP = "import sys; sys.modules['audioop'] = None; sys.modules['sems_lite._native'] = None\n"


def test_import_without_audioop_runs_on_the_object(so_path):
    code = NO_AUDIOOP + (
        "from sems_lite import native\n"
        "print(native.IMPLEMENTATION, native.KERNELS_PATH)\n"
        "print(native.ulaw_encode(b'\\0\\0'), sys.modules['audioop'])\n"
    )
    out = _run(code, SEMS_LITE_KERNELS=str(so_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == f"native-abi {so_path}"
    assert out.stdout.split("\n")[1] == "b'\\xff' None"


def test_without_audioop_and_kernels_the_fallback_says_what_is_missing():
    code = NO_AUDIOOP + (
        "from sems_lite import native\n"
        "print(native.IMPLEMENTATION)\n"
        "native.ulaw_encode(b'\\0\\0')\n"
    )
    out = _run(code, SEMS_LITE_NATIVE="0")
    assert out.stdout.strip() == "fallback"
    assert "ImportError: the pure-Python media fallback needs audioop" in out.stderr
