/* Batched RTP send: the per-packet work of a prompt being played (header, sendto) for
 * every stream in one call per tick, so no Python runs per packet.
 *
 * Python arms a slot when a stream's source can promise whole frames of stored, already
 * encoded audio; the slot sends one per tick until they run out (or Python disarms it),
 * then Python takes the stream back for the frame that needs deciding (a file's padded
 * tail, the next playlist item). Sequence, timestamps and counters continue seamlessly.
 */
#define _POSIX_C_SOURCE 200112L

#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "sems_kernels.h"

/* Network order without htons: musl has it as a libc function, not a macro. */
static uint16_t be16(uint16_t v)
{
    uint8_t b[2];
    uint16_t out;
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
    memcpy(&out, b, 2);
    return out;
}

int sk_fill_sockaddr(uint32_t addr[8], uint32_t *addrlen, int32_t family, const uint8_t *ip,
                     uint16_t port, uint32_t scope_id)
{
    memset(addr, 0, 8 * sizeof addr[0]);
    if (family == 4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)(void *)addr;
        sin->sin_family = AF_INET;
        sin->sin_port = be16(port);
        memcpy(&sin->sin_addr, ip, 4);
        *addrlen = (uint32_t)sizeof *sin;
        return 0;
    }
    if (family == 6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)addr;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = be16(port);
        memcpy(&sin6->sin6_addr, ip, 16);
        sin6->sin6_scope_id = scope_id;
        *addrlen = (uint32_t)sizeof *sin6;
        return 0;
    }
    *addrlen = 0;
    return -1;
}

int sk_rtp_set_peer(sk_rtp_slot *slot, int32_t family, const uint8_t *ip, uint16_t port,
                    uint32_t scope_id)
{
    return sk_fill_sockaddr(slot->addr, &slot->addrlen, family, ip, port, scope_id);
}

size_t sk_rtp_tick(sk_rtp_slot *slots, size_t n, uint32_t tick, uint32_t *spent,
                   size_t max_spent)
{
    uint8_t packet[12 + SK_RTP_MAX_PAYLOAD];
    size_t i, nspent = 0;
    for (i = 0; i < n; i++) {
        sk_rtp_slot *s = &slots[i];
        uint32_t ts;
        if (!s->armed)
            continue;
        if (!s->frames_left || s->payload_len > SK_RTP_MAX_PAYLOAD || !s->addrlen) {
            s->armed = 0;
            if (nspent < max_spent)
                spent[nspent++] = (uint32_t)i;
            continue;
        }
        ts = s->ts_base + tick * s->samples; /* unsigned: wraps mod 2^32 as RTP wants */
        packet[0] = 0x80;
        packet[1] = s->b1;
        packet[2] = (uint8_t)(s->seq >> 8);
        packet[3] = (uint8_t)s->seq;
        sk_put32(packet + 4, ts);
        sk_put32(packet + 8, s->ssrc);
        memcpy(packet + 12, s->data, s->payload_len);
        if (sendto(s->fd, packet, 12 + s->payload_len, 0,
                   (const struct sockaddr *)(const void *)s->addr, (socklen_t)s->addrlen) >= 0)
            s->packets_ok++;
        else
            s->send_errors++; /* as in Python: the frame is gone, the stream goes on */
        s->seq = (uint16_t)(s->seq + 1);
        s->last_ts = ts;
        s->data += s->payload_len;
        s->frames_left--;
        s->frames_done++;
    }
    return nspent;
}
