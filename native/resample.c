/* 8 kHz <-> 16 kHz resampling with one 23-tap half-band low-pass FIR.
 *
 * Half-band: every other tap is zero and the centre tap is 1/2, so going up the even
 * outputs are copies of the input and only the odd ones need 6 multiplies; going down
 * only every second output is computed. Taps are Kaiser-windowed (beta 5) sinc in Q15,
 * rounded so the DC gain is exactly 1: -0.9 dB at 3.4 kHz, -44 dB at 5 kHz.
 * The last inputs are kept in the caller's state, so frames join without a click.
 */
#include <string.h>

#include "sems_kernels.h"

#define SK_TAPS 6     /* non-zero taps on each side of the centre */
#define SK_UP_HIST 11 /* 2 * SK_TAPS - 1 inputs of history going up */
#define SK_DN_HIST 22 /* 4 * SK_TAPS - 2 going down */
#define SK_CHUNK 256  /* inputs copied behind the history per pass */

/* Odd taps h[11 +- (2k + 1)] in Q15; they sum to 8192 per side. */
static const int32_t halfband[SK_TAPS] = {10283, -3022, 1395, -653, 268, -79};

void sk_resampler_init(sk_resampler *st, int32_t up)
{
    memset(st, 0, sizeof *st);
    st->up = up != 0;
}

/* w[0..11] = x[n-11..n] -> the sample half-way between x[n-6] and x[n-5], then x[n-5]. */
static size_t upsample(const int16_t *buf, size_t m, int16_t *out)
{
    size_t i;
    int k;
    for (i = 0; i < m; i++) {
        const int16_t *w = buf + i;
        int32_t acc = 1 << 13;
        for (k = 0; k < SK_TAPS; k++)
            acc += halfband[k] * ((int32_t)w[5 - k] + w[6 + k]);
        /* x2 gain for the inserted zeros: Q15 -> shift by 14 */
        out[2 * i] = sk_sat16(sk_asr32(acc, 14));
        out[2 * i + 1] = w[6];
    }
    return 2 * m;
}

/* w[0..22] = x[j-22..j]; an output for every even stream position j, centred on x[j-11]:
 * an up-then-down round trip lands back on the original samples. */
static size_t downsample(const int16_t *buf, size_t m, int32_t phase, int16_t *out)
{
    size_t i, produced = 0;
    int k;
    for (i = (size_t)(phase & 1); i < m; i += 2) {
        const int16_t *w = buf + i;
        int32_t acc = (1 << 14) + (int32_t)w[11] * (1 << 14); /* centre tap 1/2 */
        for (k = 0; k < SK_TAPS; k++)
            acc += halfband[k] * ((int32_t)w[10 - 2 * k] + w[12 + 2 * k]);
        out[produced++] = sk_sat16(sk_asr32(acc, 15));
    }
    return produced;
}

size_t sk_resample(sk_resampler *st, const int16_t *in, size_t n, int16_t *out)
{
    int16_t buf[SK_DN_HIST + SK_CHUNK];
    size_t hist = st->up ? SK_UP_HIST : SK_DN_HIST;
    size_t produced = 0;

    memcpy(buf, st->hist, hist * sizeof buf[0]);
    while (n > 0) {
        size_t m = n < SK_CHUNK ? n : SK_CHUNK;
        memcpy(buf + hist, in, m * sizeof buf[0]);
        if (st->up) {
            produced += upsample(buf, m, out + produced);
        } else {
            produced += downsample(buf, m, st->phase, out + produced);
            st->phase = (int32_t)(((size_t)st->phase + m) & 1u);
        }
        memmove(buf, buf + m, hist * sizeof buf[0]);
        in += m;
        n -= m;
    }
    memcpy(st->hist, buf, hist * sizeof buf[0]);
    return produced;
}
