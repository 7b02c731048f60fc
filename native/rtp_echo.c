/* Batched echo: the whole per-packet work of an echo call (receive, check, account,
 * send back) for every echo call in one call per tick, so no Python runs per packet.
 *
 * What Python's stream does per packet, for the plain case only: a packet from the
 * latched peer, RTP version 2, the negotiated payload type and the known SSRC, one frame
 * of the expected size, the next sequence number or a forward gap. Its statistics are
 * those of jitter.py (RFC 3550 A.1 extended sequence number, A.8 jitter), handed back
 * when Python takes the stream again. Any other packet is held for Python and ends the
 * slot's turn, so every rule of the Python path (DTMF events, RTCP-mux, new sources,
 * reordering, restarts) stays in one place.
 */
#define _POSIX_C_SOURCE 200112L

#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "sems_kernels.h"

/* The cdef's array sizes are numbers: they must be what the limits say. */
typedef char ring_size_matches[sizeof(((sk_rtp_echo *)0)->ring) ==
                                       SK_ECHO_MAX_FRAMES * SK_ECHO_MAX_FRAME
                                   ? 1
                                   : -1];
typedef char held_size_matches[sizeof(((sk_rtp_echo *)0)->held) == SK_ECHO_MAX_PACKET ? 1 : -1];

#define MAX_PACKETS_PER_TICK 16 /* as stream.py: bounds one stream's work per tick */
#define MAX_DROPOUT 3000        /* RFC 3550 A.1, as jitter.py */

int sk_rtp_echo_set_peer(sk_rtp_echo *slot, int32_t family, const uint8_t *ip, uint16_t port,
                         uint32_t scope_id)
{
    return sk_fill_sockaddr(slot->addr, &slot->addrlen, family, ip, port, scope_id);
}

/* Is `from` the latched peer? Address and port; the IPv6 scope and flow are not compared. */
static int from_peer(const sk_rtp_echo *s, const struct sockaddr_storage *from)
{
    const struct sockaddr *peer = (const struct sockaddr *)(const void *)s->addr;
    if (from->ss_family != peer->sa_family)
        return 0;
    if (peer->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)from;
        const struct sockaddr_in *b = (const struct sockaddr_in *)(const void *)s->addr;
        return a->sin_port == b->sin_port &&
               memcmp(&a->sin_addr, &b->sin_addr, sizeof a->sin_addr) == 0;
    }
    if (peer->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)from;
        const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)(const void *)s->addr;
        return a->sin6_port == b->sin6_port &&
               memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
    }
    return 0;
}

/* Where the payload starts, or -1 if the header is invalid (as packet.payload_offset);
 * *end gets where it ends (padding removed). */
static long payload_start(const uint8_t *p, long len, long *end)
{
    long start;
    if (len < 12 || p[0] >> 6 != 2)
        return -1;
    start = 12 + 4 * (p[0] & 0x0F);
    if (p[0] & 0x10) {
        if (len < start + 4)
            return -1;
        start += 4 + 4 * ((long)p[start + 2] << 8 | p[start + 3]);
    }
    *end = len;
    if (p[0] & 0x20)
        *end -= p[len - 1];
    return start > *end ? -1 : start;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RFC 3550 A.8 in the RFC's integer form, as JitterBuffer.put: everything modulo 2^32,
 * since the 32-bit timestamp may wrap between packets. */
static void account_jitter(sk_rtp_echo *s, uint32_t timestamp, uint32_t now_8k)
{
    uint32_t transit = now_8k * s->units_per_8k - timestamp;
    if (s->has_transit) {
        uint32_t diff = transit - s->transit;
        uint32_t d = diff < 0x80000000u ? diff : 0u - diff;
        s->jitter16 = s->jitter16 - ((s->jitter16 + 8) >> 4) + d;
    }
    s->transit = transit;
    s->has_transit = 1;
}

/* Drains the slot's socket; returns 0, or 1 if a packet was held for Python. */
static int receive(sk_rtp_echo *s, double now, uint32_t now_8k, uint8_t *buf)
{
    int count;
    for (count = 0; count < MAX_PACKETS_PER_TICK; count++) {
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof from;
        long len, start, end;
        uint32_t udelta;
        uint8_t *frame;
        ssize_t got = recvfrom(s->fd, buf, SK_ECHO_MAX_PACKET, MSG_DONTWAIT,
                               (struct sockaddr *)(void *)&from, &fromlen);
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 0;
            continue; /* ICMP port unreachable from an earlier send: keep going */
        }
        len = (long)got;
        if (len > 1 && buf[1] >= 192 && buf[1] <= 223) {
            /* RTCP on the RTP port (RFC 5761): Python's, if it is the peer's */
            if (from_peer(s, &from))
                goto hold;
            s->foreign++;
            continue;
        }
        start = payload_start(buf, len, &end);
        if (start < 0)
            continue; /* not RTP: dropped, as Python drops it */
        if (!from_peer(s, &from)) {
            s->foreign++; /* strict latching: never heard, never sent back */
            continue;
        }
        if ((buf[1] & 0x7F) != s->pt || get32(buf + 8) != s->remote_ssrc ||
            end - start != (long)s->payload_len)
            goto hold;
        udelta = ((uint32_t)buf[2] << 8 | buf[3]) - (uint32_t)(s->max_ext & 0xFFFF);
        udelta &= 0xFFFF;
        if (udelta == 0 || udelta >= MAX_DROPOUT)
            goto hold; /* duplicate, reordered or a jump: jitter.py decides */
        s->max_ext += udelta;
        s->received++;
        s->last_rx = now;
        account_jitter(s, get32(buf + 4), now_8k);
        if (s->queued == s->depth) { /* full: the oldest goes, the delay stays bounded */
            s->head = (uint8_t)((s->head + 1) % s->depth);
            s->queued--;
            s->dropped++;
        }
        frame = s->ring + (size_t)((s->head + s->queued) % s->depth) * SK_ECHO_MAX_FRAME;
        memcpy(frame, buf + start, s->payload_len);
        s->queued++;
        continue;
    hold:
        memcpy(s->held, buf, (size_t)len);
        s->held_len = (uint32_t)len;
        return 1;
    }
    return 0;
}

static void send_oldest(sk_rtp_echo *s, uint32_t tick)
{
    uint8_t packet[12 + SK_ECHO_MAX_FRAME];
    uint32_t ts;
    if (!s->queued) {
        s->talking = 0; /* the next frame starts a talk spurt: marked */
        return;
    }
    ts = s->ts_base + tick * s->samples; /* unsigned: wraps mod 2^32 as RTP wants */
    packet[0] = 0x80;
    packet[1] = (uint8_t)(s->pt | (s->talking ? 0 : 0x80));
    packet[2] = (uint8_t)(s->seq >> 8);
    packet[3] = (uint8_t)s->seq;
    sk_put32(packet + 4, ts);
    sk_put32(packet + 8, s->ssrc);
    memcpy(packet + 12, s->ring + (size_t)s->head * SK_ECHO_MAX_FRAME, s->payload_len);
    if (sendto(s->fd, packet, 12 + s->payload_len, 0,
               (const struct sockaddr *)(const void *)s->addr, (socklen_t)s->addrlen) >= 0)
        s->packets_ok++;
    else
        s->send_errors++; /* as in Python: the frame is gone, the stream goes on */
    s->head = (uint8_t)((s->head + 1) % s->depth);
    s->queued--;
    s->talking = 1;
    s->seq = (uint16_t)(s->seq + 1);
    s->last_ts = ts;
}

size_t sk_rtp_echo_tick(sk_rtp_echo *slots, size_t n, uint32_t tick, double now,
                        uint32_t now_8k, uint32_t *held, size_t max_held)
{
    uint8_t buf[SK_ECHO_MAX_PACKET];
    size_t i, nheld = 0;
    for (i = 0; i < n; i++) {
        sk_rtp_echo *s = &slots[i];
        if (!s->armed)
            continue;
        if (!s->addrlen || !s->depth || s->depth > SK_ECHO_MAX_FRAMES ||
            s->payload_len > SK_ECHO_MAX_FRAME || receive(s, now, now_8k, buf)) {
            s->armed = 0; /* Python's turn, before anything is sent this tick */
            if (nheld < max_held)
                held[nheld++] = (uint32_t)i;
            continue;
        }
        send_oldest(s, tick);
    }
    return nheld;
}
