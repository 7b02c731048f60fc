"""Shared driver for the fuzz targets: atheris when present, a mutation loop otherwise.

Usage from a target (see fuzz_sip.py):
    python fuzz/fuzz_X.py [libFuzzer flags] [corpus dirs]   coverage-guided, needs atheris
    python fuzz/fuzz_X.py --smoke N [--seed S] [corpus dirs] N mutated inputs, no atheris

Without atheris (no wheel for the platform, e.g. a musl router), the libFuzzer form falls
back to the mutation loop, bounded by -max_total_time. The loop is deterministic for a
given seed, so a crash it reports can be replayed; each crashing input is also written to
fuzz/crashes/.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
CRASH_DIR = HERE / "crashes"
WORK_DIR = HERE / "work"  # where libFuzzer adds the inputs it finds: keeps corpus/ clean
HANG_SECONDS = 5  # one input taking longer than this is reported as a hang
_INTERESTING_BYTES = b"\x00\x01\x7f\x80\xff\r\n \t:;,=\"'<>@\\/%"
_INTERESTING_NUMBERS = (b"0", b"-1", b"65535", b"65536", b"4294967296", b"9" * 30, b"1e9")

Target = Callable[[bytes], None]


def _atheris():  # -> module | None
    try:
        import atheris  # type: ignore[import-not-found]
    except ImportError:
        return None
    return atheris


def instrumented(module_name: str) -> contextlib.AbstractContextManager[object]:
    """Instrument the imports in the block when running coverage-guided, else do nothing."""
    atheris = _atheris()
    if module_name != "__main__" or atheris is None or "--smoke" in sys.argv:
        return contextlib.nullcontext()
    return atheris.instrument_imports()


def load_corpus(dirs: list[Path]) -> list[bytes]:
    seeds = []
    for folder in dirs:
        for path in sorted(folder.iterdir()) if folder.is_dir() else [folder]:
            if path.is_file() and not path.name.startswith("."):
                seeds.append(path.read_bytes())
    return seeds or [b""]


def mutate(data: bytes, seeds: list[bytes], rng: random.Random) -> bytes:
    """One to four random edits: the usual byte-level mutations plus a few for text."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(9)
        pos = rng.randrange(len(buf) + 1)
        if choice == 0 and buf:  # flip a bit
            pos = min(pos, len(buf) - 1)
            buf[pos] ^= 1 << rng.randrange(8)
        elif choice == 1 and buf:  # set an interesting byte
            buf[min(pos, len(buf) - 1)] = rng.choice(_INTERESTING_BYTES)
        elif choice == 2:  # delete a range
            del buf[pos : pos + rng.randint(1, 16)]
        elif choice == 3 and buf:  # duplicate a range (can grow headers, lists...)
            chunk = buf[pos : pos + rng.randint(1, 64)]
            buf[pos:pos] = chunk * rng.randint(1, 8)
        elif choice == 4:  # insert random bytes
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif choice == 5:  # truncate
            del buf[pos:]
        elif choice == 6:  # splice with another seed
            other = rng.choice(seeds)
            cut = rng.randrange(len(other) + 1)
            buf = buf[:pos] + bytearray(other[cut:])
        elif choice == 7:  # replace a number
            digits = [i for i, b in enumerate(buf) if 48 <= b <= 57]
            if digits:
                start = rng.choice(digits)
                end = start
                while end < len(buf) and 48 <= buf[end] <= 57:
                    end += 1
                buf[start:end] = rng.choice(_INTERESTING_NUMBERS)
        else:  # swap two bytes far apart
            if len(buf) > 1:
                a, b = rng.randrange(len(buf)), rng.randrange(len(buf))
                buf[a], buf[b] = buf[b], buf[a]
    return bytes(buf)


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def alarm(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"input took more than {seconds} s (hang)")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def crash_key(exc: BaseException) -> str:
    """'Type@file:line' of the innermost frame: how crashes are told apart and ignored."""
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}@{Path(frame.filename).name}:{frame.lineno}"


def ignoring_known(target: Target) -> Target:
    """Let crashes listed in FUZZ_IGNORE (comma-separated keys) pass, to find the next one.

    For a crash already reported and waiting for its fix; never for good.
    """
    known = {k.strip() for k in os.environ.get("FUZZ_IGNORE", "").split(",") if k.strip()}
    if not known:
        return target

    def guarded(data: bytes) -> None:
        try:
            target(data)
        except Exception as exc:
            if crash_key(exc) not in known:
                raise

    return guarded


def _save(name: str, data: bytes) -> Path:
    CRASH_DIR.mkdir(exist_ok=True)
    path = CRASH_DIR / f"{name}-{hashlib.sha1(data).hexdigest()[:12]}"
    path.write_bytes(data)
    return path


def smoke(
    target: Target,
    name: str,
    corpus: list[Path],
    iterations: int,
    seed: int = 0,
    max_seconds: float | None = None,
) -> int:
    """Run seeds then mutated inputs through `target`; returns the number of crashes."""
    seeds = load_corpus(corpus)
    rng = random.Random(seed)
    crashes: dict[str, bytes] = {}
    started = time.monotonic()
    slowest = (0.0, b"")
    done = 0
    for i in range(len(seeds) + iterations):
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            break
        data = seeds[i] if i < len(seeds) else mutate(rng.choice(seeds), seeds, rng)
        t0 = time.perf_counter()
        try:
            with _deadline(HANG_SECONDS):
                target(data)
        except Exception as exc:  # the target lets through only real crashes
            key = crash_key(exc)
            if key not in crashes:
                crashes[key] = data
                path = _save(name, data)
                print(f"\n=== crash {key}\ninput {path}: {data[:200]!r}", file=sys.stderr)
                traceback.print_exc()
        spent = time.perf_counter() - t0
        if spent > slowest[0]:
            slowest = (spent, data)
        done += 1
    elapsed = time.monotonic() - started
    print(
        f"{name}: {done} inputs in {elapsed:.1f} s, {len(crashes)} distinct crash(es), "
        f"slowest input {slowest[0] * 1000:.1f} ms ({len(slowest[1])} bytes)",
        file=sys.stderr,
    )
    return len(crashes)


def main(target: Target, name: str, default_corpus: Path) -> None:
    """Command line: `--smoke N [--seed S] [dirs]`, or libFuzzer flags and dirs for atheris."""
    target = ignoring_known(target)
    args = sys.argv[1:]
    if "--smoke" in args:
        at = args.index("--smoke")
        iterations = int(args[at + 1])
        del args[at : at + 2]
        seed = 0
        if "--seed" in args:
            at = args.index("--seed")
            seed = int(args[at + 1])
            del args[at : at + 2]
        dirs = [Path(a) for a in args if not a.startswith("-")] or [default_corpus]
        sys.exit(1 if smoke(target, name, dirs, iterations, seed) else 0)
    atheris = _atheris()
    if atheris is None:
        limit = next(
            (float(a.split("=", 1)[1]) for a in args if a.startswith("-max_total_time=")), 60.0
        )
        dirs = [Path(a) for a in args if not a.startswith("-")] or [default_corpus]
        print("atheris not installed: running the mutation loop instead", file=sys.stderr)
        sys.exit(1 if smoke(target, name, dirs, 10**9, 0, max_seconds=limit) else 0)
    argv = [sys.argv[0], *args]
    if not any(a.startswith("-artifact_prefix=") for a in args):
        CRASH_DIR.mkdir(exist_ok=True)
        argv.insert(1, f"-artifact_prefix={CRASH_DIR}/{name}-")
    dirs = [a for a in args if not a.startswith("-")]
    if dirs and Path(dirs[0]).resolve().is_relative_to(HERE / "corpus"):
        # libFuzzer writes new inputs into the first folder: make that a scratch one.
        work = WORK_DIR / name
        work.mkdir(parents=True, exist_ok=True)
        argv.insert(argv.index(dirs[0]), str(work))
    atheris.Setup(argv, target)
    atheris.Fuzz()
