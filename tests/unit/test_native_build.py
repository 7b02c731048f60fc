"""The native build plumbing: one cdef from the header, profiles, selection, fallback."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sems_lite import _fallback, native

ROOT = Path(__file__).resolve().parents[2]
NATIVE = native.native_kernels()
needs_native = pytest.mark.skipif(
    NATIVE is None,
    reason="C extension sems_lite._native not built (no C compiler at install time?)",
)


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("build_kernels", ROOT / "native/build_kernels.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cdef_comes_from_the_header_and_covers_every_wrapper(build):
    cdef = build.cdef_text()
    assert not [line for line in cdef.splitlines() if line.lstrip().startswith("#")]
    used = set(re.findall(r"lib\.(sk_\w+)", (ROOT / "sems_lite/native.py").read_text()))
    assert used and all(f"{name}(" in cdef for name in used)


def test_cdef_markers_are_required(build, tmp_path):
    header = tmp_path / "h.h"
    header.write_text("void f(void);\n")
    with pytest.raises(ValueError, match="markers"):
        build.cdef_text(str(header))


def test_compile_profiles(build, monkeypatch):
    assert "-Os" in build.compile_args("embedded")
    assert {"-O3", "-march=native"} <= set(build.compile_args("server"))
    monkeypatch.setenv("SEMS_LITE_PROFILE", "server")
    assert "-O3" in build.compile_args()
    monkeypatch.delenv("SEMS_LITE_PROFILE")
    assert "-Os" in build.compile_args()


def _implementation(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "SEMS_LITE_NATIVE"}
    if env_value is not None:
        env["SEMS_LITE_NATIVE"] = env_value
    code = (
        "from sems_lite import native; print(native.IMPLEMENTATION, native.ulaw_encode(b'\\0\\0'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_env_forces_the_fallback():
    assert _implementation("0") == "fallback b'\\xff'"


@needs_native
def test_native_is_chosen_when_built():
    assert _implementation(None) == "native b'\\xff'"
    assert _implementation("1") == "native b'\\xff'"


def test_fallback_api_is_complete():
    for name in native.__all__:
        if name not in ("IMPLEMENTATION", "fallback", "native_kernels"):
            assert hasattr(_fallback, name), name
            assert NATIVE is None or hasattr(NATIVE, name), name


def test_dtmf_tables_match_the_formula():
    for rate in (8000, 16000):
        assert _fallback.DTMF_COEF[rate] == _fallback.dtmf_coefficients_from_formula(rate)


@needs_native
def test_native_dtmf_state_matches_fallback_parameters():
    for rate in (8000, 16000):
        st = NATIVE.ffi.new("sk_dtmf *")
        assert NATIVE.lib.sk_dtmf_init(st, rate) == 0
        coef, block, min_energy = _fallback.dtmf_params(rate)
        assert tuple(st.coef) == coef and st.block == block and st.min_energy == min_energy


@needs_native
def test_same_cdef_works_in_abi_mode(build):
    # the compiled extension exports the kernels, so dlopen + the header's cdef can call them
    from cffi import FFI

    ffi = FFI()
    ffi.cdef(build.cdef_text())
    lib = ffi.dlopen(sys.modules["sems_lite._native"].__file__)
    out = ffi.new("int16_t[2]")
    lib.sk_alaw_decode(ffi.from_buffer("uint8_t[]", b"\xd5\xaa"), out, 2)
    assert list(out) == [8, 32256]


@pytest.mark.skipif(
    shutil.which("make") is None or shutil.which("cc") is None, reason="no make or cc"
)
def test_plain_c_unit_tests(tmp_path):
    result = subprocess.run(
        ["make", "-s", "-C", str(ROOT / "native"), "check", f"BUILD={tmp_path}"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "all checks passed" in result.stdout
