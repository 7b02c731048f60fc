/* sems_kernels.h -- the one header of the sems_lite C kernels.
 *
 * Rules every kernel keeps:
 *  - C99, integer/fixed-point arithmetic only (router CPUs have no FPU);
 *  - no libc beyond <stdint.h>, <stddef.h>, <string.h>;
 *  - PCM is native-endian int16_t (the layout of audioop and array('h')); nothing
 *    reinterprets it as bytes, so the same code runs on big-endian MIPS;
 *  - no allocation: callers own every buffer and every state struct;
 *  - the same arithmetic is mirrored by sems_lite/_fallback.py, sample for sample.
 *
 * The text between the two "cffi-cdef" marker lines is read verbatim by
 * build_kernels.py as the cffi cdef, so it holds plain declarations only
 * (no macros, no includes, no inline functions).
 */
#ifndef SEMS_KERNELS_H
#define SEMS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* cffi-cdef-begin */

/* G.711 (ITU-T G.711; bit-exact with audioop.lin2ulaw/lin2alaw and back). */
void sk_ulaw_encode(const int16_t *pcm, uint8_t *out, size_t n);
void sk_ulaw_decode(const uint8_t *in, int16_t *pcm, size_t n);
void sk_alaw_encode(const int16_t *pcm, uint8_t *out, size_t n);
void sk_alaw_decode(const uint8_t *in, int16_t *pcm, size_t n);

/* out = sat16(floor(in * gain_q12 / 4096)); |gain_q12| <= 65535 (4096 = unity). */
void sk_gain(const int16_t *in, int16_t *out, size_t n, int32_t gain_q12);
/* out = sat16(a + b). */
void sk_add(const int16_t *a, const int16_t *b, int16_t *out, size_t n);
/* frames: nframes frames of n samples each, back to back (nframes <= 65536).
 * total = sat16(sum of all); minus[k] = sat16(sum of all - frame k), both from the
 * unsaturated 32-bit sum. minus may be NULL. */
void sk_mix(const int16_t *frames, size_t nframes, size_t n, int16_t *total, int16_t *minus);

/* 8 kHz <-> 16 kHz with a 23-tap integer half-band FIR. up != 0: n in, 2n out;
 * up == 0: n in, (n + 1 - phase) / 2 out (phase = parity of the inputs so far). The state carries the filter history, so
 * consecutive calls join without clicks. */
typedef struct {
    int16_t hist[22];
    int32_t up;
    int32_t phase;
} sk_resampler;
void sk_resampler_init(sk_resampler *st, int32_t up);
size_t sk_resample(sk_resampler *st, const int16_t *in, size_t n, int16_t *out);

/* One or two sines from 32-bit phase accumulators. inc = freq * 2^32 / rate
 * (0 = silent), amp = peak amplitude of each sine (0..32767). */
typedef struct {
    uint32_t phase1;
    uint32_t inc1;
    uint32_t phase2;
    uint32_t inc2;
    int32_t amp;
} sk_tone;
void sk_tone_init(sk_tone *st, uint32_t inc1, uint32_t inc2, int32_t amp);
void sk_tone_read(sk_tone *st, int16_t *out, size_t n);

/* Goertzel DTMF detector (8 or 16 kHz). A key is reported once, when released,
 * with its duration in samples (in steps of one block). */
typedef struct {
    char digit;
    int32_t samples;
} sk_dtmf_event;
typedef struct {
    int32_t coef[8];    /* 2cos(2 pi f / rate) in Q14: rows 697..941 Hz, columns 1209..1633 Hz */
    int32_t s1[8];      /* Goertzel state */
    int32_t s2[8];
    int64_t energy;     /* sum of x^2 over the current block */
    int64_t min_energy; /* per-tone Goertzel energy floor */
    int32_t block;      /* samples per Goertzel block (105 at 8 kHz) */
    int32_t count;      /* samples of the current block seen so far */
    int32_t digit;      /* key held (index into "123A456B789C*0#D"), -1 if none */
    int32_t hits;       /* blocks the held key has lasted */
    int32_t misses;     /* consecutive blocks without it */
} sk_dtmf;
/* Returns 0, or -1 for an unsupported rate. */
int sk_dtmf_init(sk_dtmf *st, int32_t rate);
/* Returns the number of events written to ev. At most n / (2 * block) + 1 events can
 * occur in one call; events beyond max_ev are dropped. */
size_t sk_dtmf_feed(sk_dtmf *st, const int16_t *pcm, size_t n, sk_dtmf_event *ev, size_t max_ev);

/* Batched RTP send (one call per media tick for every stream playing a stored prompt).
 * A slot sends one frame per tick straight out of an encoded buffer that Python owns and
 * keeps alive while the slot is armed: header built here, one sendto per packet. */
typedef struct {
    const uint8_t *data;   /* next frame's payload (G.711: one octet per sample) */
    uint32_t frames_left;  /* whole frames left in data */
    uint32_t frames_done;  /* frames taken since armed (sent or not): the source's advance */
    uint32_t packets_ok;   /* of those, sent */
    uint32_t send_errors;
    uint32_t payload_len;  /* octets per frame, <= SK_RTP_MAX_PAYLOAD (1200) */
    uint32_t samples;      /* RTP timestamp units per frame */
    uint32_t ts_base;      /* timestamp = ts_base + tick * samples */
    uint32_t ssrc;
    uint32_t last_ts;
    uint32_t addr[8];      /* the peer: a struct sockaddr_in or sockaddr_in6 */
    uint32_t addrlen;
    int32_t fd;
    uint16_t seq;          /* of the next packet */
    uint8_t b1;            /* marker and payload type of every packet */
    uint8_t armed;
} sk_rtp_slot;
/* Sets the peer: family 4 (ip: 4 octets) or 6 (ip: 16 octets). Returns 0, or -1. */
int sk_rtp_set_peer(sk_rtp_slot *slot, int32_t family, const uint8_t *ip, uint16_t port,
                    uint32_t scope_id);
/* Sends the next frame of every armed slot among slots[0..n). A slot found with no frame
 * left is disarmed and its index written to spent (up to max_spent); returns how many. */
size_t sk_rtp_tick(sk_rtp_slot *slots, size_t n, uint32_t tick, uint32_t *spent,
                   size_t max_spent);

/* Batched echo (one call per media tick for every echo call): each slot drains its RTP
 * socket, keeps the RFC 3550 reception statistics (A.1 sequence, A.8 jitter) and sends
 * the oldest frame it holds back to the peer with its own header, on the tick grid.
 * Only the plain case is done here: an audio packet of the expected size, payload type
 * and SSRC, in order. Anything else (RFC 4733 event, RTCP on the RTP port, new SSRC,
 * duplicate, reordered or jumped sequence, another frame size) is held for Python, which
 * then takes the stream back; packets not from the peer are counted and dropped. */
typedef struct {
    double last_rx;        /* arrival time of the last packet taken, seconds (copied only:
                            * no floating point here, soft-float routers lack it) */
    int64_t max_ext;       /* extended highest sequence number (jitter.py's numbering) */
    uint64_t jitter16;     /* A.8 interarrival jitter x 16, timestamp units (integer form) */
    uint32_t transit;      /* A.8: arrival - timestamp of the last packet, mod 2^32 */
    uint32_t has_transit;
    uint32_t received;     /* audio packets taken since armed */
    uint32_t foreign;      /* dropped since armed: not from the peer */
    uint32_t dropped;      /* frames dropped since armed: the queue was full */
    uint32_t packets_ok;   /* sent since armed */
    uint32_t send_errors;
    uint32_t held_len;     /* > 0: held[] is a packet for Python; the slot then stops */
    uint32_t payload_len;  /* octets per frame (G.711: one per sample) */
    uint32_t samples;      /* timestamp units per frame */
    uint32_t units_per_8k; /* clock rate / 8000 */
    uint32_t ts_base;      /* sent timestamp = ts_base + tick * samples */
    uint32_t ssrc;         /* ours */
    uint32_t remote_ssrc;  /* the peer's */
    uint32_t last_ts;
    uint32_t addr[8];      /* the peer: a struct sockaddr_in or sockaddr_in6 */
    uint32_t addrlen;
    int32_t fd;
    uint16_t seq;          /* of the next packet sent */
    uint8_t pt;            /* audio payload type, both ways */
    uint8_t talking;       /* the last tick sent a frame (else the next one is marked) */
    uint8_t depth;         /* frames held at most (<= SK_ECHO_MAX_FRAMES) */
    uint8_t head;          /* oldest frame in ring */
    uint8_t queued;        /* frames in ring */
    uint8_t armed;
    uint8_t ring[1280];    /* SK_ECHO_MAX_FRAMES frames of SK_ECHO_MAX_FRAME octets */
    uint8_t held[2048];    /* SK_ECHO_MAX_PACKET */
} sk_rtp_echo;
/* Sets the peer, as sk_rtp_set_peer. */
int sk_rtp_echo_set_peer(sk_rtp_echo *slot, int32_t family, const uint8_t *ip, uint16_t port,
                         uint32_t scope_id);
/* One tick of every armed slot among slots[0..n): receive (at most 16 packets each),
 * then send one frame. The packets' arrival time is `now` (seconds, kept as last_rx)
 * and `now_8k` (the same in 8 kHz units, mod 2^32, for the jitter). A slot that held a
 * packet for Python is disarmed without sending, and its index written to held (up to
 * max_held); returns how many. */
size_t sk_rtp_echo_tick(sk_rtp_echo *slots, size_t n, uint32_t tick, double now,
                        uint32_t now_8k, uint32_t *held, size_t max_held);

/* cffi-cdef-end */

#define SK_RTP_MAX_PAYLOAD 1200 /* sems_lite/rtp/stream.py says the same */
/* The batched echo's limits (sems_lite/rtp/echo_batch.py says the same; the cdef above
 * has the array sizes as numbers, checked in rtp_echo.c). */
#define SK_ECHO_MAX_FRAMES 4
#define SK_ECHO_MAX_FRAME 320   /* octets: G.711 at 8 kHz, up to 40 ms */
#define SK_ECHO_MAX_PACKET 2048 /* as Python's receive buffer */

/* Helpers shared by the kernel sources (not part of the cdef). */

static inline int16_t sk_sat16(int32_t v)
{
    return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
}

/* floor(v / 2^s): C99 leaves >> of a negative value implementation-defined. */
static inline int32_t sk_asr32(int32_t v, unsigned s)
{
    return v < 0 ? ~(~v >> s) : v >> s;
}

/* Fills a struct sockaddr_in (family 4) or sockaddr_in6 (6) in addr; -1: no such family.
 * (rtp_tx.c; shared by the batched send and the batched echo.) */
int sk_fill_sockaddr(uint32_t addr[8], uint32_t *addrlen, int32_t family, const uint8_t *ip,
                     uint16_t port, uint32_t scope_id);

static inline void sk_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline int64_t sk_asr64(int64_t v, unsigned s)
{
    return v < 0 ? ~(~v >> s) : v >> s;
}

#endif /* SEMS_KERNELS_H */
