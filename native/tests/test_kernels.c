/* Plain-C unit tests for the kernels: `make -C native check`. Exits non-zero on failure. */
#define _POSIX_C_SOURCE 200112L /* sockets, for the batched RTP send */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sems_kernels.h"

static int failures;

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            failures++;                                                   \
            fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
        }                                                                 \
    } while (0)

static uint32_t tone_inc(uint32_t freq, uint32_t rate)
{
    return (uint32_t)((((uint64_t)freq << 33) + rate) / (2u * rate));
}

/* ITU-T G.711 Tables 1a/2a: decoder outputs, scaled to 16 bits (A-law x8 from 13 bits,
 * mu-law x4 from 14 bits), and encoder codes for chosen inputs. */
static void test_g711_known_values(void)
{
    static const struct { uint8_t code; int16_t pcm; } ulaw[] = {
        {0xFF, 0}, {0x7F, 0}, {0xFE, 8}, {0x7E, -8}, {0xF0, 120}, {0xEF, 132},
        {0xBF, 1980}, {0x8F, 16764}, {0x80, 32124}, {0x00, -32124}, {0x9F, 8316},
    };
    static const struct { uint8_t code; int16_t pcm; } alaw[] = {
        {0xD5, 8}, {0x55, -8}, {0xD4, 24}, {0xC5, 264}, {0xF5, 528}, {0xA5, 16896},
        {0xAA, 32256}, {0x2A, -32256}, {0xDA, 248},
    };
    size_t i;
    for (i = 0; i < sizeof ulaw / sizeof ulaw[0]; i++) {
        int16_t out;
        sk_ulaw_decode(&ulaw[i].code, &out, 1);
        CHECK(out == ulaw[i].pcm, "ulaw %02X -> %d, want %d", ulaw[i].code, out, ulaw[i].pcm);
    }
    for (i = 0; i < sizeof alaw / sizeof alaw[0]; i++) {
        int16_t out;
        sk_alaw_decode(&alaw[i].code, &out, 1);
        CHECK(out == alaw[i].pcm, "alaw %02X -> %d, want %d", alaw[i].code, out, alaw[i].pcm);
    }
    {
        static const int16_t pcm[] = {0, -1, 32767, -32768, 8, 1000, -1000};
        static const uint8_t want_u[] = {0xFF, 0x7E, 0x80, 0x00, 0xFE, 0xCE, 0x4E};
        static const uint8_t want_a[] = {0xD5, 0x55, 0xAA, 0x2A, 0xD5, 0xFA, 0x7A};
        uint8_t u[7], a[7];
        sk_ulaw_encode(pcm, u, 7);
        sk_alaw_encode(pcm, a, 7);
        for (i = 0; i < 7; i++) {
            CHECK(u[i] == want_u[i], "ulaw(%d) = %02X, want %02X", pcm[i], u[i], want_u[i]);
            CHECK(a[i] == want_a[i], "alaw(%d) = %02X, want %02X", pcm[i], a[i], want_a[i]);
        }
    }
}

/* Decoding then encoding every code gives the code back (except mu-law's -0). */
static void test_g711_round_trip(void)
{
    int c;
    for (c = 0; c < 256; c++) {
        uint8_t code = (uint8_t)c, back;
        int16_t pcm;
        sk_ulaw_decode(&code, &pcm, 1);
        sk_ulaw_encode(&pcm, &back, 1);
        CHECK(back == code || (code == 0x7F && back == 0xFF), "ulaw %02X -> %d -> %02X", c, pcm,
              back);
        sk_alaw_decode(&code, &pcm, 1);
        sk_alaw_encode(&pcm, &back, 1);
        CHECK(back == code, "alaw %02X -> %d -> %02X", c, pcm, back);
    }
}

static void test_gain_and_add(void)
{
    static const int16_t in[] = {1000, -1000, 32767, -32768, 3, -3};
    int16_t out[6];
    sk_gain(in, out, 6, 4096);
    CHECK(memcmp(in, out, sizeof in) == 0, "unity gain changed the signal");
    sk_gain(in, out, 6, 2048);
    CHECK(out[0] == 500 && out[1] == -500 && out[4] == 1 && out[5] == -2, "half gain: %d %d %d %d",
          out[0], out[1], out[4], out[5]);
    sk_gain(in, out, 6, 4 * 4096);
    CHECK(out[0] == 4000 && out[2] == 32767 && out[3] == -32768, "x4 gain must saturate");
    sk_add(in, in, out, 6);
    CHECK(out[0] == 2000 && out[2] == 32767 && out[3] == -32768 && out[5] == -6, "add");
}

static void test_mix_saturates(void)
{
    /* three loud talkers: the 32-bit sums overflow int16 but must clip, never wrap */
    static const int16_t frames[3 * 4] = {
        30000, -30000, 100, 32767, /* A */
        30000, -30000, 200, 32767, /* B */
        -5000, 5000, 300, -32768,  /* C */
    };
    int16_t total[4], minus[3 * 4];
    sk_mix(frames, 3, 4, total, minus);
    CHECK(total[0] == 32767 && total[1] == -32768 && total[2] == 600 && total[3] == 32766,
          "total %d %d %d %d", total[0], total[1], total[2], total[3]);
    CHECK(minus[0] == 25000 && minus[4] == 25000 && minus[8] == 32767, "minus col 0: %d %d %d",
          minus[0], minus[4], minus[8]);
    CHECK(minus[1] == -25000 && minus[9] == -32768, "minus col 1: %d %d", minus[1], minus[9]);
    CHECK(minus[2] == 500 && minus[6] == 400 && minus[10] == 300, "minus col 2");
    CHECK(minus[3] == -1 && minus[11] == 32767, "minus col 3: %d %d", minus[3], minus[11]);
    sk_mix(frames, 3, 4, total, NULL); /* minus is optional */
    CHECK(total[2] == 600, "total without minus");
}

static int32_t peak(const int16_t *x, size_t n)
{
    int32_t m = 0;
    size_t i;
    for (i = 0; i < n; i++)
        if (abs(x[i]) > m)
            m = abs(x[i]);
    return m;
}

static void test_tone(void)
{
    sk_tone t;
    int16_t buf[800];
    size_t i, crossings = 0;
    sk_tone_init(&t, tone_inc(1000, 8000), 0, 16384);
    sk_tone_read(&t, buf, 400);
    sk_tone_read(&t, buf + 400, 400); /* phase carries over between reads */
    for (i = 1; i < 800; i++)
        crossings += (buf[i - 1] < 0) != (buf[i] < 0);
    CHECK(crossings >= 198 && crossings <= 202, "1 kHz over 100 ms: %zu zero crossings", crossings);
    CHECK(peak(buf, 800) >= 16370 && peak(buf, 800) <= 16384, "peak %d", peak(buf, 800));
    /* 1 kHz at 8 kHz repeats every 8 samples exactly */
    for (i = 8; i < 800; i++)
        CHECK(abs(buf[i] - buf[i - 8]) <= 1, "period at %zu", i);
}

static void test_resample(void)
{
    sk_resampler up, down;
    sk_tone t;
    int16_t in[160], mid[320], out[160], dc[160];
    size_t n, frame, i;
    int32_t p;

    /* DC gain is exactly 1 both ways once the history is full */
    for (i = 0; i < 160; i++)
        dc[i] = 10000;
    sk_resampler_init(&up, 1);
    sk_resampler_init(&down, 0);
    for (frame = 0; frame < 3; frame++) {
        n = sk_resample(&up, dc, 160, mid);
        CHECK(n == 320, "up gives %zu", n);
        n = sk_resample(&down, mid, 320, out);
        CHECK(n == 160, "down gives %zu", n);
    }
    CHECK(mid[0] == 10000 && mid[319] == 10000 && out[0] == 10000 && out[159] == 10000,
          "DC through: %d %d %d %d", mid[0], mid[319], out[0], out[159]);

    /* a 1 kHz tone survives both ways at nearly full level, frame after frame */
    sk_tone_init(&t, tone_inc(1000, 8000), 0, 20000);
    sk_resampler_init(&up, 1);
    sk_resampler_init(&down, 0);
    for (frame = 0; frame < 5; frame++) {
        sk_tone_read(&t, in, 160);
        sk_resample(&up, in, 160, mid);
        sk_resample(&down, mid, 320, out);
    }
    p = peak(mid, 320);
    CHECK(p > 19500 && p < 20500, "up peak %d", p);
    p = peak(out, 160);
    CHECK(p > 19500 && p < 20500, "round-trip peak %d", p);

    /* going down, 6 kHz (above the new Nyquist) is filtered out */
    sk_tone_init(&t, tone_inc(6000, 16000), 0, 20000);
    sk_resampler_init(&down, 0);
    for (frame = 0; frame < 3; frame++) {
        sk_tone_read(&t, mid, 320);
        sk_resample(&down, mid, 320, out);
    }
    p = peak(out, 160);
    CHECK(p < 200, "6 kHz leaks through at %d", p);

    /* odd-sized input: the phase carries, so 3 + 317 samples give 160 outputs */
    sk_resampler_init(&down, 0);
    n = sk_resample(&down, mid, 3, out);
    n += sk_resample(&down, mid + 3, 317, out + n);
    CHECK(n == 160, "odd split gives %zu", n);
}

static const char keys[] = "123A456B789C*0#D";
static const uint32_t rows[4] = {697, 770, 852, 941};
static const uint32_t cols[4] = {1209, 1336, 1477, 1633};

static void test_dtmf_digits(int32_t rate)
{
    static int16_t buf[16 * 3200];
    sk_dtmf det;
    sk_dtmf_event ev[64];
    size_t pos = 0, n, k;
    int key;
    int32_t ms = rate / 1000;

    /* each key 80 ms on, 60 ms off, each tone at -12 dBFS */
    for (key = 0; key < 16; key++) {
        sk_tone t;
        sk_tone_init(&t, tone_inc(rows[key / 4], (uint32_t)rate),
                     tone_inc(cols[key % 4], (uint32_t)rate), 8192);
        sk_tone_read(&t, buf + pos, (size_t)(80 * ms));
        pos += (size_t)(80 * ms);
        memset(buf + pos, 0, (size_t)(60 * ms) * sizeof buf[0]);
        pos += (size_t)(60 * ms);
    }
    CHECK(sk_dtmf_init(&det, rate) == 0, "init %d", rate);
    n = 0;
    for (k = 0; k < pos; k += 160) /* in 20 ms-ish frames, as the media tick feeds it */
        n += sk_dtmf_feed(&det, buf + k, pos - k < 160 ? pos - k : 160, ev + n, 64 - n);
    CHECK(n == 16, "rate %d: %zu keys detected", rate, n);
    for (k = 0; k < n && k < 16; k++) {
        int32_t dur = ev[k].samples / ms;
        CHECK(ev[k].digit == keys[k], "key %zu: got '%c'", k, ev[k].digit);
        CHECK(dur >= 70 && dur <= 90, "key %c lasted %d ms", ev[k].digit, dur);
    }
}

static void test_dtmf_rejects(void)
{
    static int16_t buf[8000];
    sk_dtmf det;
    sk_dtmf_event ev[16];
    uint32_t seed = 12345;
    size_t i, n;
    int h;

    /* silence */
    memset(buf, 0, sizeof buf);
    sk_dtmf_init(&det, 8000);
    n = sk_dtmf_feed(&det, buf, 8000, ev, 16);
    CHECK(n == 0, "silence gave %zu keys", n);

    /* speech-like: a vowel (harmonics of 125 Hz shaped by formants near 700 and 1200 Hz,
     * right on top of the DTMF groups) plus noise */
    memset(buf, 0, sizeof buf);
    for (h = 1; h * 125 < 3400; h++) {
        sk_tone t;
        int16_t part[8000];
        int32_t f = h * 125;
        int32_t amp = 1500 + (f > 550 && f < 900 ? 5000 : 0) + (f > 1050 && f < 1350 ? 3000 : 0);
        sk_tone_init(&t, tone_inc((uint32_t)f, 8000), 0, amp / 2);
        sk_tone_read(&t, part, 8000);
        for (i = 0; i < 8000; i++)
            buf[i] = sk_sat16(buf[i] + part[i]);
    }
    for (i = 0; i < 8000; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = sk_sat16(buf[i] + (int32_t)((seed >> 16) & 0x1FFF) - 0x1000);
    }
    sk_dtmf_init(&det, 8000);
    n = sk_dtmf_feed(&det, buf, 8000, ev, 16);
    CHECK(n == 0, "speech-like signal gave %zu keys (first '%c')", n, n ? ev[0].digit : '-');

    /* a 20 ms burst is too short to be a key press */
    {
        sk_tone t;
        memset(buf, 0, sizeof buf);
        sk_tone_init(&t, tone_inc(770, 8000), tone_inc(1336, 8000), 8192);
        sk_tone_read(&t, buf + 1000, 160);
        sk_dtmf_init(&det, 8000);
        n = sk_dtmf_feed(&det, buf, 8000, ev, 16);
        CHECK(n == 0, "20 ms burst gave %zu keys", n);
    }
    CHECK(sk_dtmf_init(&det, 44100) == -1, "44.1 kHz must be refused");
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Three frames armed, over loopback: headers in network order, sequence and timestamp
 * wrapping, then the slot reported spent; a disarmed slot sends nothing. */
static void test_rtp_tick(void)
{
    static const uint8_t data[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    static const uint8_t loopback[4] = {127, 0, 0, 1};
    struct sockaddr_in where;
    socklen_t len = sizeof where;
    sk_rtp_slot slots[2];
    uint32_t spent[2];
    uint8_t got[64];
    int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
    size_t i, nspent = 0;
    memset(&where, 0, sizeof where);
    where.sin_family = AF_INET;
    where.sin_addr.s_addr = htonl(0x7f000001);
    CHECK(rx >= 0 && tx >= 0, "sockets");
    CHECK(bind(rx, (struct sockaddr *)&where, sizeof where) == 0, "bind");
    CHECK(getsockname(rx, (struct sockaddr *)&where, &len) == 0, "getsockname");
    memset(slots, 0, sizeof slots);
    slots[0].data = data;
    slots[0].frames_left = 3;
    slots[0].payload_len = 4;
    slots[0].samples = 160;
    slots[0].ts_base = 0xFFFFFE00u;
    slots[0].ssrc = 0xCAFEBABEu;
    slots[0].seq = 0xFFFE;
    slots[0].b1 = 8;
    slots[0].fd = tx;
    slots[0].armed = 1;
    CHECK(sk_rtp_set_peer(&slots[0], 4, loopback, ntohs(where.sin_port), 0) == 0, "peer");
    CHECK(sk_rtp_set_peer(&slots[1], 5, loopback, 1, 0) == -1, "family 5 refused");
    slots[1] = slots[0];
    slots[1].armed = 0;
    for (i = 0; i < 4; i++)
        nspent += sk_rtp_tick(slots, 2, (uint32_t)(2 + i), spent, 2);
    CHECK(nspent == 1 && spent[0] == 0, "spent %zu", nspent);
    CHECK(!slots[0].armed && slots[0].frames_done == 3 && slots[0].packets_ok == 3,
          "armed %d done %u ok %u", slots[0].armed, slots[0].frames_done, slots[0].packets_ok);
    CHECK(slots[0].seq == 1 && slots[0].last_ts == 0xFFFFFE00u + 4u * 160u,
          "seq %u last_ts %08X", slots[0].seq, slots[0].last_ts);
    for (i = 0; i < 3; i++) {
        ssize_t n = recv(rx, got, sizeof got, MSG_DONTWAIT);
        CHECK(n == 16, "packet %zu: %zd octets", i, n);
        if (n != 16)
            break;
        CHECK(got[0] == 0x80 && got[1] == 8, "packet %zu: %02X %02X", i, got[0], got[1]);
        CHECK((got[2] << 8 | got[3]) == (int)((0xFFFE + i) & 0xFFFF), "packet %zu seq", i);
        CHECK(get32(got + 4) == 0xFFFFFE00u + (uint32_t)(2 + i) * 160, "packet %zu ts", i);
        CHECK(get32(got + 8) == 0xCAFEBABEu, "packet %zu ssrc", i);
        CHECK(memcmp(got + 12, data + 4 * i, 4) == 0, "packet %zu payload", i);
    }
    CHECK(recv(rx, got, sizeof got, MSG_DONTWAIT) < 0, "a fourth packet (disarmed slot?)");
    close(rx);
    close(tx);
}

static void rtp_packet(uint8_t *p, uint8_t b1, uint16_t seq, uint32_t ts, uint32_t ssrc)
{
    p[0] = 0x80;
    p[1] = b1;
    p[2] = (uint8_t)(seq >> 8);
    p[3] = (uint8_t)seq;
    sk_put32(p + 4, ts);
    sk_put32(p + 8, ssrc);
}

/* Echo over loopback: in-order packets are taken (statistics, a ring of `depth` frames,
 * one sent back per tick with our header), a stranger's packet is counted and dropped,
 * and an RFC 4733 event is held for Python, which disarms the slot before it sends. */
static void test_rtp_echo_tick(void)
{
    static const uint8_t loopback[4] = {127, 0, 0, 1};
    struct sockaddr_in box, caller;
    socklen_t len = sizeof box;
    static sk_rtp_echo slot; /* 3 KB: not on the stack */
    uint32_t held[1];
    uint8_t pkt[12 + 160], got[256];
    int box_fd = socket(AF_INET, SOCK_DGRAM, 0), caller_fd = socket(AF_INET, SOCK_DGRAM, 0);
    int stranger_fd = socket(AF_INET, SOCK_DGRAM, 0);
    uint16_t i;
    memset(&box, 0, sizeof box);
    box.sin_family = AF_INET;
    box.sin_addr.s_addr = htonl(0x7f000001);
    caller = box;
    CHECK(box_fd >= 0 && caller_fd >= 0 && stranger_fd >= 0, "sockets");
    CHECK(bind(box_fd, (struct sockaddr *)&box, sizeof box) == 0, "bind box");
    CHECK(getsockname(box_fd, (struct sockaddr *)&box, &len) == 0, "getsockname");
    len = sizeof caller;
    CHECK(bind(caller_fd, (struct sockaddr *)&caller, sizeof caller) == 0, "bind caller");
    CHECK(getsockname(caller_fd, (struct sockaddr *)&caller, &len) == 0, "getsockname");
    memset(&slot, 0, sizeof slot);
    CHECK(sk_rtp_echo_set_peer(&slot, 4, loopback, ntohs(caller.sin_port), 0) == 0, "peer");
    slot.fd = box_fd;
    slot.depth = 2;
    slot.payload_len = 160;
    slot.samples = 160;
    slot.units_per_8k = 1;
    slot.ts_base = 1000;
    slot.ssrc = 0x0B0Bu;
    slot.remote_ssrc = 0xCA11u;
    slot.seq = 7;
    slot.pt = 8;
    slot.max_ext = 65536 + 99; /* the caller's last packet was sequence 99 */
    slot.armed = 1;
    for (i = 0; i < 3; i++) { /* three in one tick: the oldest of them is dropped */
        rtp_packet(pkt, 8, (uint16_t)(100 + i), 160u * i, 0xCA11u);
        memset(pkt + 12, 'a' + i, 160);
        sendto(caller_fd, pkt, sizeof pkt, 0, (struct sockaddr *)&box, sizeof box);
    }
    sendto(stranger_fd, pkt, sizeof pkt, 0, (struct sockaddr *)&box, sizeof box);
    CHECK(sk_rtp_echo_tick(&slot, 1, 5, 2.0, 16000, held, 1) == 0, "nothing held");
    CHECK(slot.received == 3 && slot.foreign == 1 && slot.dropped == 1 && slot.queued == 1,
          "received %u foreign %u dropped %u queued %u", slot.received, slot.foreign,
          slot.dropped, slot.queued);
    CHECK(slot.max_ext == 65536 + 102 && slot.last_rx == 2.0 && slot.has_transit,
          "max_ext %lld", (long long)slot.max_ext);
    /* all three arrived at once, 160 units apart: J16 = 160, then 160 - 10 + 160 */
    CHECK(slot.jitter16 == 310, "jitter x 16: %llu", (unsigned long long)slot.jitter16);
    CHECK(recv(caller_fd, got, sizeof got, MSG_DONTWAIT) == 172, "one frame back");
    CHECK(got[0] == 0x80 && got[1] == (0x80 | 8), "marked, PCMA: %02X %02X", got[0], got[1]);
    CHECK((got[2] << 8 | got[3]) == 7 && get32(got + 4) == 1000 + 5 * 160, "seq, ts");
    CHECK(get32(got + 8) == 0x0B0Bu && got[12] == 'b', "ssrc, the second frame");
    CHECK(sk_rtp_echo_tick(&slot, 1, 6, 2.02, 16160, held, 1) == 0, "a quiet tick");
    CHECK(recv(caller_fd, got, sizeof got, MSG_DONTWAIT) == 172 && got[1] == 8 &&
              got[12] == 'c' && (got[2] << 8 | got[3]) == 8,
          "the third frame, unmarked");
    CHECK(slot.talking == 1 && slot.packets_ok == 2 && slot.last_ts == 1000 + 6 * 160,
          "talking %u ok %u", slot.talking, slot.packets_ok);
    rtp_packet(pkt, 101, 103, 480, 0xCA11u); /* a telephone-event */
    sendto(caller_fd, pkt, 16, 0, (struct sockaddr *)&box, sizeof box);
    CHECK(sk_rtp_echo_tick(&slot, 1, 7, 2.04, 16320, held, 1) == 1 && held[0] == 0, "held");
    CHECK(!slot.armed && slot.held_len == 16 && slot.held[1] == 101, "held %u", slot.held_len);
    CHECK(slot.received == 3 && slot.talking == 1, "the event is not counted by C");
    CHECK(recv(caller_fd, got, sizeof got, MSG_DONTWAIT) < 0, "nothing sent after a hold");
    close(box_fd);
    close(caller_fd);
    close(stranger_fd);
}

int main(void)
{
    test_g711_known_values();
    test_g711_round_trip();
    test_gain_and_add();
    test_mix_saturates();
    test_tone();
    test_resample();
    test_dtmf_digits(8000);
    test_dtmf_digits(16000);
    test_dtmf_rejects();
    test_rtp_tick();
    test_rtp_echo_tick();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("native kernels: all checks passed\n");
    return 0;
}
