/* Tone generator: one or two sines from 32-bit phase accumulators.
 *
 * No table: sin() comes from an integer 5th-order polynomial on a quarter wave
 * (error below 2e-4 of full scale, harmonics under -70 dB), which the Python
 * fallback reproduces exactly with the same shifts.
 */
#include "sems_kernels.h"

/* sin(pi/2 * x) ~= x * (A - x^2 * (B - x^2 * C)), Q15; A - B + C = 1.0 exactly. */
#define SK_SIN_A 51437u
#define SK_SIN_B 20953u
#define SK_SIN_C 2284u

/* Magnitude of sin(2 pi phase / 2^32) in Q15 (0..32768); the sign is bit 31. */
static uint32_t sine_mag(uint32_t phase)
{
    uint32_t z = (phase >> 15) & 0x7FFFu; /* position inside the quarter wave */
    uint32_t x2, t;
    if (phase & 0x40000000u)
        z = 0x8000u - z; /* 2nd and 4th quarters run backwards */
    x2 = (z * z) >> 15;
    t = SK_SIN_B - ((x2 * SK_SIN_C) >> 15);
    t = SK_SIN_A - ((x2 * t) >> 15);
    return (z * t) >> 15;
}

static int32_t sine(uint32_t phase, int32_t amp)
{
    int32_t v = (int32_t)((sine_mag(phase) * (uint32_t)amp) >> 15);
    return (phase & 0x80000000u) ? -v : v;
}

void sk_tone_init(sk_tone *st, uint32_t inc1, uint32_t inc2, int32_t amp)
{
    st->phase1 = 0;
    st->phase2 = 0;
    st->inc1 = inc1;
    st->inc2 = inc2;
    st->amp = amp;
}

void sk_tone_read(sk_tone *st, int16_t *out, size_t n)
{
    uint32_t p1 = st->phase1, p2 = st->phase2;
    size_t i;
    for (i = 0; i < n; i++) {
        out[i] = sk_sat16(sine(p1, st->amp) + sine(p2, st->amp));
        p1 += st->inc1; /* unsigned: wraps modulo 2^32, which is one full turn */
        p2 += st->inc2;
    }
    st->phase1 = p1;
    st->phase2 = p2;
}
