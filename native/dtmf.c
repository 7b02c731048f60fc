/* DTMF detection: eight Goertzel filters over fixed blocks (105 samples at 8 kHz,
 * 13.1 ms, bins 76 Hz apart, so neighbouring DTMF frequencies barely leak).
 *
 * A block is a key when: both the strongest row and column tone clear an absolute
 * floor; twist is within 8 dB (row louder, "normal") or 4 dB (column louder,
 * "reverse"); each winner is 7.8 dB above the others of its group; and the two tones
 * carry 70% of the block's energy (rejects speech, noise and most partial blocks).
 * A key is accepted after 2 such blocks: every press of 40 ms or more is seen, bursts
 * under 18 ms never are (20 ms ones only at rare alignments). It survives one bad block
 * and is reported once, when it ends (2 bad blocks or another key), with its duration.
 */
#include <string.h>

#include "sems_kernels.h"

#define SK_DTMF_MIN_AMP 256   /* per-tone peak amplitude floor (about -42 dBFS) */
#define SK_DTMF_MIN_BLOCKS 2  /* blocks a key must last */
#define SK_DTMF_MAX_MISSES 2  /* bad blocks that end a key */

/* round(2 cos(2 pi f / rate) * 2^14) for 697 770 852 941 1209 1336 1477 1633 Hz. */
static const int32_t coef_8k[8] = {27980, 26956, 25701, 24219, 19073, 16325, 13085, 9315};
static const int32_t coef_16k[8] = {31548, 31281, 30951, 30556, 29144, 28361, 27409, 26258};
static const char keys[17] = "123A456B789C*0#D";

int sk_dtmf_init(sk_dtmf *st, int32_t rate)
{
    int64_t a;
    memset(st, 0, sizeof *st);
    if (rate == 8000) {
        memcpy(st->coef, coef_8k, sizeof st->coef);
        st->block = 105;
    } else if (rate == 16000) {
        memcpy(st->coef, coef_16k, sizeof st->coef);
        st->block = 210;
    } else {
        return -1;
    }
    /* a tone of peak A gives a Goertzel energy of about (A * block / 2)^2; allow 3 dB less */
    a = (int64_t)SK_DTMF_MIN_AMP * st->block;
    st->min_energy = (a * a) >> 3;
    st->digit = -1;
    return 0;
}

/* The key (0..15) this block's energies show, or -1. */
static int32_t classify(const sk_dtmf *st, const int64_t *e, int64_t total)
{
    int r = 0, c = 4, i;
    int64_t er, ec;
    for (i = 1; i < 4; i++)
        if (e[i] > e[r])
            r = i;
    for (i = 5; i < 8; i++)
        if (e[i] > e[c])
            c = i;
    er = e[r];
    ec = e[c];
    if (er < st->min_energy || ec < st->min_energy)
        return -1;
    if (er * 100 > ec * 631 || ec * 100 > er * 251) /* twist: 8 dB normal, 4 dB reverse */
        return -1;
    for (i = 0; i < 8; i++)
        if (i != r && i != c && e[i] * 6 > (i < 4 ? er : ec))
            return -1;
    /* a pure tone puts (block / 2) * sum(x^2) into its bin: demand 70% of that (a block
     * only partly covered by tone scores its coverage, so two such blocks need 18 ms) */
    if ((er + ec) * 20 < (int64_t)7 * st->block * total)
        return -1;
    return r * 4 + (c - 4);
}

/* Advance the key state by one block result; returns 1 if *ev was written. */
static size_t track(sk_dtmf *st, int32_t key, sk_dtmf_event *ev, size_t room)
{
    size_t written = 0;
    if (st->digit >= 0) {
        if (key == st->digit) {
            st->hits += st->misses + 1; /* a bridged bad block still counts as key time */
            st->misses = 0;
            return 0;
        }
        if (key < 0 && ++st->misses < SK_DTMF_MAX_MISSES)
            return 0;
        if (st->hits >= SK_DTMF_MIN_BLOCKS && room > 0) {
            ev->digit = keys[st->digit];
            /* the blocks at either edge are partly tone but rarely pass: half a block each */
            ev->samples = st->hits * st->block + st->block / 2;
            written = 1;
        }
    }
    st->digit = key;
    st->hits = key >= 0 ? 1 : 0;
    st->misses = 0;
    return written;
}

size_t sk_dtmf_feed(sk_dtmf *st, const int16_t *pcm, size_t n, sk_dtmf_event *ev, size_t max_ev)
{
    int32_t s1[8], s2[8];
    int64_t e[8];
    size_t i, nev = 0;
    int f;

    memcpy(s1, st->s1, sizeof s1);
    memcpy(s2, st->s2, sizeof s2);
    for (i = 0; i < n; i++) {
        int32_t x = pcm[i];
        for (f = 0; f < 8; f++) {
            /* |s| stays below sum|x| / sin(w) < 2^25 for a block: int32 holds it */
            int32_t s = x + (int32_t)sk_asr64((int64_t)st->coef[f] * s1[f], 14) - s2[f];
            s2[f] = s1[f];
            s1[f] = s;
        }
        st->energy += x * x;
        if (++st->count < st->block)
            continue;
        for (f = 0; f < 8; f++) {
            int64_t a = s1[f], b = s2[f];
            e[f] = a * a + b * b - sk_asr64(st->coef[f] * a, 14) * b;
            s1[f] = 0;
            s2[f] = 0;
        }
        nev += track(st, classify(st, e, st->energy), ev + nev, max_ev - nev);
        st->energy = 0;
        st->count = 0;
    }
    memcpy(st->s1, s1, sizeof s1);
    memcpy(st->s2, s2, sizeof s2);
    return nev;
}
