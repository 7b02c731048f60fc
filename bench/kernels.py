"""Nanoseconds per 160-sample frame (20 ms at 8 kHz) for each media kernel,
the C extension next to the pure-Python/audioop fallback.

    python bench/kernels.py [--mix N]

Not a test: numbers depend on the machine. Run it on the target board to size a box.
"""

from __future__ import annotations

import argparse
import random
import time
from array import array
from collections.abc import Callable

from sems_lite import _fallback, native

FRAME = 160


def per_call_ns(fn: Callable[[], object], budget_s: float = 0.2) -> float:
    """Median of 5 timed batches, each sized to take about budget_s / 5."""
    fn()
    n, start = 1, time.perf_counter()
    while time.perf_counter() - start < budget_s / 20:
        fn()
        n += 1
    results = []
    for _ in range(5):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        results.append((time.perf_counter_ns() - t0) / n)
    return sorted(results)[2]


def cases(k, mix_n: int) -> dict[str, Callable[[], object]]:
    rnd = random.Random(1)
    pcm = array("h", (rnd.randint(-20000, 20000) for _ in range(FRAME))).tobytes()
    wide = pcm + pcm
    law = k.ulaw_encode(pcm)
    frames = [array("h", (rnd.randint(-20000, 20000) for _ in range(FRAME))).tobytes()] * mix_n
    up, down = k.Resampler(True), k.Resampler(False)
    tone = k.ToneGenerator(697, 1209, -10)
    dtmf = k.DtmfDetector()
    return {
        "ulaw_encode": lambda: k.ulaw_encode(pcm),
        "ulaw_decode": lambda: k.ulaw_decode(law),
        "alaw_encode": lambda: k.alaw_encode(pcm),
        "alaw_decode": lambda: k.alaw_decode(law),
        "gain": lambda: k.gain(pcm, 3000),
        "add": lambda: k.add(pcm, pcm),
        f"mix x{mix_n}": lambda: k.mix(frames),
        "resample 8k->16k": lambda: up.process(pcm),
        "resample 16k->8k (320 in)": lambda: down.process(wide),
        "tone (2 sines)": lambda: tone.read(FRAME),
        "dtmf feed": lambda: dtmf.feed(pcm),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", type=int, default=5, help="participants in the mix case")
    args = parser.parse_args()
    impls = {"fallback": _fallback}
    kernels = native.native_kernels()
    if kernels is not None:
        impls["native"] = kernels
    print(f"sems_lite.native.IMPLEMENTATION = {native.IMPLEMENTATION}; ns per {FRAME}-sample frame")
    table = {name: cases(k, args.mix) for name, k in impls.items()}
    header = f"{'kernel':28}" + "".join(f"{name:>12}" for name in impls)
    print(header + ("     speed-up" if kernels is not None else ""))
    for case in table["fallback"]:
        ns = {name: per_call_ns(table[name][case]) for name in impls}
        row = f"{case:28}" + "".join(f"{ns[name]:12.0f}" for name in impls)
        if kernels is not None:
            row += f"{ns['fallback'] / ns['native']:12.1f}x"
        print(row)
    if kernels is None:
        print("(C extension not built: only the fallback was measured)")


if __name__ == "__main__":
    main()
