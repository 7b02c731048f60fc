/* Sample arithmetic on int16 frames: gain, saturating add, N-way conference mix.
 *
 * Everything is summed in 32 bits and saturated once at the end, so a loud sum clips
 * instead of wrapping around to the opposite sign (a wrap is a full-scale click).
 */
#include <string.h>

#include "sems_kernels.h"

/* Samples mixed per pass: the 32-bit sums of one chunk live on the stack. */
#define SK_MIX_CHUNK 160

void sk_gain(const int16_t *in, int16_t *out, size_t n, int32_t gain_q12)
{
    size_t i;
    /* |in * gain_q12| <= 32768 * 65535 < 2^31: one 32-bit multiply per sample. */
    for (i = 0; i < n; i++)
        out[i] = sk_sat16(sk_asr32((int32_t)in[i] * gain_q12, 12));
}

void sk_add(const int16_t *a, const int16_t *b, int16_t *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        out[i] = sk_sat16((int32_t)a[i] + b[i]);
}

void sk_mix(const int16_t *frames, size_t nframes, size_t n, int16_t *total, int16_t *minus)
{
    int32_t sum[SK_MIX_CHUNK];
    size_t start, i, k, m;

    for (start = 0; start < n; start += m) {
        m = n - start < SK_MIX_CHUNK ? n - start : SK_MIX_CHUNK;
        memset(sum, 0, m * sizeof sum[0]);
        /* frame by frame: contiguous reads the compiler can vectorise */
        for (k = 0; k < nframes; k++) {
            const int16_t *f = frames + k * n + start;
            for (i = 0; i < m; i++)
                sum[i] += f[i];
        }
        for (i = 0; i < m; i++)
            total[start + i] = sk_sat16(sum[i]);
        if (minus == NULL)
            continue;
        for (k = 0; k < nframes; k++) {
            const int16_t *f = frames + k * n + start;
            int16_t *o = minus + k * n + start;
            for (i = 0; i < m; i++)
                o[i] = sk_sat16(sum[i] - f[i]);
        }
    }
}
