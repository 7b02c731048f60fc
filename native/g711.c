/* G.711 mu-law and A-law (ITU-T G.711), bit-exact with CPython's audioop.
 *
 * Decoding is one lookup in a 256-entry table. The tables are written as the G.711
 * expansion formula applied to every code at compile time, so there is nothing to
 * initialise and no hand-typed numbers to get wrong. Encoding finds the segment
 * (the exponent) with a 128-entry bit-length table instead of a search loop.
 */
#include "sems_kernels.h"

/* Expand F over 0..255: F(0), F(1), ..., F(255). */
#define SK_T4(F, i) F(i), F((i) + 1), F((i) + 2), F((i) + 3)
#define SK_T16(F, i) SK_T4(F, i), SK_T4(F, (i) + 4), SK_T4(F, (i) + 8), SK_T4(F, (i) + 12)
#define SK_T64(F, i) SK_T16(F, i), SK_T16(F, (i) + 16), SK_T16(F, (i) + 32), SK_T16(F, (i) + 48)
#define SK_T256(F) SK_T64(F, 0), SK_T64(F, 64), SK_T64(F, 128), SK_T64(F, 192)

/* mu-law: codes are stored inverted; magnitude = ((2 * mantissa + 33) << exponent) - 33,
 * here in 16-bit scale (x4): ((mantissa << 3) + 0x84) << exponent, minus the bias 0x84. */
#define SK_U(u) ((u) ^ 0xFF)
#define SK_UMAG(u) ((((SK_U(u) & 0x0F) << 3) + 0x84) << ((SK_U(u) & 0x70) >> 4))
#define SK_ULAW(u) ((SK_U(u) & 0x80) ? 0x84 - SK_UMAG(u) : SK_UMAG(u) - 0x84)

/* A-law: even bits inverted (xor 0x55); segment 0 is linear, segment s >= 1 is
 * (mantissa + 16.5) << (s - 1), here in 16-bit scale (x16, half-step rounding added). */
#define SK_A(a) ((a) ^ 0x55)
#define SK_ASEG(a) ((SK_A(a) & 0x70) >> 4)
#define SK_ABASE(a) (((SK_A(a) & 0x0F) << 4) + (SK_ASEG(a) == 0 ? 8 : 0x108))
#define SK_AMAG(a) (SK_ASEG(a) > 1 ? SK_ABASE(a) << (SK_ASEG(a) - 1) : SK_ABASE(a))
#define SK_ALAW(a) ((SK_A(a) & 0x80) ? SK_AMAG(a) : -SK_AMAG(a))

static const int16_t ulaw_table[256] = {SK_T256(SK_ULAW)};
static const int16_t alaw_table[256] = {SK_T256(SK_ALAW)};

/* bitlen[v] = number of significant bits of v (0..7) for v < 128. */
#define SK_R2(v) v, v
#define SK_R4(v) SK_R2(v), SK_R2(v)
#define SK_R8(v) SK_R4(v), SK_R4(v)
#define SK_R16(v) SK_R8(v), SK_R8(v)
#define SK_R32(v) SK_R16(v), SK_R16(v)
#define SK_R64(v) SK_R32(v), SK_R32(v)
static const uint8_t bitlen[128] = {0, 1, SK_R2(2), SK_R4(3), SK_R8(4), SK_R16(5), SK_R32(6),
                                    SK_R64(7)};

static uint8_t ulaw_encode1(int16_t sample)
{
    /* audioop works on the top 14 bits, arithmetic shift (floor). */
    int32_t v = sk_asr32(sample, 2);
    uint8_t mask = 0xFF;
    int32_t seg;

    if (v < 0) {
        v = -v;
        mask = 0x7F;
    }
    v += 0x84 >> 2; /* bias, so that every segment starts on a power of two */
    if (v > 0x1FFF)
        v = 0x1FFF; /* clip: gives segment 7, mantissa 15, as G.711 does */
    seg = bitlen[v >> 6];
    return (uint8_t)((((unsigned)seg << 4) | ((unsigned)(v >> (seg + 1)) & 0x0F)) ^ mask);
}

static uint8_t alaw_encode1(int16_t sample)
{
    /* audioop works on the top 13 bits; negative values use one's complement magnitude. */
    int32_t v = sk_asr32(sample, 3);
    uint8_t mask = 0xD5;
    int32_t seg;

    if (v < 0) {
        v = -v - 1;
        mask = 0x55;
    }
    seg = bitlen[v >> 5];
    return (uint8_t)((((unsigned)seg << 4) | ((unsigned)(v >> (seg < 2 ? 1 : seg)) & 0x0F)) ^ mask);
}

void sk_ulaw_encode(const int16_t *pcm, uint8_t *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        out[i] = ulaw_encode1(pcm[i]);
}

void sk_ulaw_decode(const uint8_t *in, int16_t *pcm, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        pcm[i] = ulaw_table[in[i]];
}

void sk_alaw_encode(const int16_t *pcm, uint8_t *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        out[i] = alaw_encode1(pcm[i]);
}

void sk_alaw_decode(const uint8_t *in, int16_t *pcm, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        pcm[i] = alaw_table[in[i]];
}
