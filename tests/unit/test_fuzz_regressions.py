"""Inputs the fuzz targets (fuzz/) found, kept as regression tests; plus a short fuzz smoke.

Each crash the fuzzers report lands here with its bytes inline. A crash whose fix is still
pending is marked xfail(strict=True, raises=...): when the fix lands the test XPASSes,
which fails the suite until the mark is removed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from sems_lite.ua import UserAgent
from tests.unit.test_ua import CONFIG, PEER, FakeTransports, build_ua

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"


def _load(name: str) -> ModuleType:
    if str(FUZZ) not in sys.path:
        sys.path.insert(0, str(FUZZ))  # the targets import their sibling _harness
    spec = importlib.util.spec_from_file_location(f"_fuzz_{name}", FUZZ / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fuzz_sip = _load("fuzz_sip")
fuzz_rtp = _load("fuzz_rtp")
harness = sys.modules["_harness"]

# -- crashes found -------------------------------------------------------------------------

# A request without any Via header (here the Via line is mangled into "ViNEWMa"):
# UserAgent._on_request computed server_key() before check_request() could answer 400, and
# server_key indexed req.vias[0] -> IndexError out of UserAgent.receive: the loop contained
# it, but the request got no response at all. Found by atheris in fuzz_sip, 2 s in; fixed
# by server_key raising SipParseError and the UA answering statelessly.
NO_VIA_ATHERIS = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:j.user@example.com;tag=8731j122h328\r\n"
    b"Max-Forwards: 8\r\n"
    b"Call-ID: regaut01.0ha0isndaksdj\r\n"
    b"CSeq: 9338 REGISTER\r\n"
    b"ViNEWMa: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw\r\n"
    b"Authorization: NoOneKnowsThisScheme opaque-data=here\r\n"
    b"Content-Length:0\r\n\r\n"
)
# The same from the mutation loop (--smoke), and the smallest form of it.
NO_VIA_SMOKE = b"INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\r\nTo: \\ip:%75se%72@exa"
NO_VIA_MINIMAL = b"OPTIONS sip:echo@127.0.0.1 SIP/2.0\r\n\r\n"
NO_VIA = [NO_VIA_ATHERIS, NO_VIA_SMOKE, NO_VIA_MINIMAL]


@pytest.mark.parametrize("data", NO_VIA, ids=["atheris", "smoke", "minimal"])
def test_request_without_via_through_the_sip_target(data: bytes) -> None:
    fuzz_sip.test_one_input(data)


@pytest.fixture
def ua(tmp_path: Path) -> tuple[UserAgent, FakeTransports]:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    agent, transports, _loop = build_ua(CONFIG, str(path))
    return agent, transports


@pytest.mark.parametrize("data", NO_VIA, ids=["atheris", "smoke", "minimal"])
def test_request_without_via_gets_400_from_the_ua(
    ua: tuple[UserAgent, FakeTransports], data: bytes
) -> None:
    agent, transports = ua
    agent.receive(data, PEER)
    # No Via to route a response by: the UA answers to the datagram's source. (Raw bytes:
    # a 400 copying a request without Call-ID would not pass our own response parser.)
    assert [data[:12] for data, _ in transports.sent] == [b"SIP/2.0 400 "]
    assert transports.sent[0][1] == PEER


# -- the seed corpus and a short deterministic fuzz run -------------------------------------


@pytest.mark.parametrize("name", ["sip", "rtp"])
def test_seed_corpus_passes(name: str) -> None:
    target = fuzz_sip.test_one_input if name == "sip" else fuzz_rtp.test_one_input
    seeds = harness.load_corpus([FUZZ / "corpus" / name])
    assert len(seeds) >= (51 if name == "sip" else 9)
    for seed in seeds:
        target(seed)


@pytest.mark.parametrize("name", ["sip", "rtp"])
def test_short_mutation_run_finds_nothing(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness, "CRASH_DIR", tmp_path)
    target = fuzz_sip.test_one_input if name == "sip" else fuzz_rtp.test_one_input
    crashes = harness.smoke(target, name, [FUZZ / "corpus" / name], 2000, seed=7)
    assert crashes == 0
    assert not list(tmp_path.iterdir())


def test_smoke_loop_reports_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The harness itself: a target that fails on some input is caught and saved.
    monkeypatch.setattr(harness, "CRASH_DIR", tmp_path)

    def fragile(data: bytes) -> None:
        if b"\xff" in data:
            raise KeyError("boom")

    assert harness.smoke(fragile, "t", [FUZZ / "corpus" / "rtp"], 500, seed=1) == 1
    (saved,) = tmp_path.iterdir()
    assert b"\xff" in saved.read_bytes()


def test_mutations_are_deterministic() -> None:
    import random

    seeds = [b"INVITE sip:a@b SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n"]
    runs = [
        [harness.mutate(seeds[0], seeds, rng) for _ in range(50)]
        for rng in (random.Random(3), random.Random(3))
    ]
    assert runs[0] == runs[1]
    assert len(set(runs[0])) > 40


def test_fuzz_ignore_lets_only_the_named_crash_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    def target(data: bytes) -> None:
        if data == b"known":
            raise KeyError(data)
        if data == b"new":
            raise LookupError(data)

    try:
        target(b"known")
    except KeyError as exc:
        known = harness.crash_key(exc)
    monkeypatch.setenv("FUZZ_IGNORE", f"SomethingElse@x.py:1, {known}")
    guarded = harness.ignoring_known(target)
    guarded(b"known")
    with pytest.raises(LookupError):
        guarded(b"new")
