/* SPDX-License-Identifier: Apache-2.0
 * wevframe.h: the bytes around a WEV/1 batch (../shared/wire-format.md) — Ethernet, up to
 * three VLAN tags, IPv4 or IPv6, UDP, and the 24-byte WEV header — for the traffic tools
 * (weir-gen writes them to pcap captures, weir-load sends them over net_memif).
 *
 * Header bytes and checksums only; the records are the caller's.  Addresses are fixed:
 * 02:00:00:00:00:01 -> 02:00:00:00:00:02, 10.0.0.1 -> 10.0.0.2 (fd00::1 -> fd00::2).
 * Deliberately broken frames (for the decoder's drop counters) come from the same code
 * through enum wev_malform, so a valid frame and its malformed twin differ only where named.
 */
#ifndef WEIR_TOOLS_WEVFRAME_H
#define WEIR_TOOLS_WEVFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Ethernet 14 + 3 VLAN tags + IPv6 40 + UDP 8: a frame is at most this much longer than its payload. */
#define WEVF_MAX_OVERHEAD (14 + 3 * 4 + 40 + 8)

/* What wev_frame() breaks on purpose (WEV_MF_NONE: nothing). */
enum wev_malform {
	WEV_MF_NONE,
	WEV_MF_FRAME_TRUNC,   /* frame cut inside the IPv4 header */
	WEV_MF_VLAN3,         /* three VLAN tags */
	WEV_MF_NOT_IP,        /* ethertype ARP */
	WEV_MF_BAD_IP,        /* IPv4 IHL 4 */
	WEV_MF_FRAG,          /* IPv4 more-fragments bit */
	WEV_MF_NOT_UDP,       /* IP protocol TCP */
	WEV_MF_UDP_LEN,       /* UDP length 16 beyond the IP payload */
};

static inline void
wev_put16be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Internet checksum (RFC 1071) of n bytes, folded onto the partial sum `sum`. */
static inline uint16_t
wev_csum(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)(p[n - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The malformations that need an IPv4 header get one even when ipv6 is asked for. */
static inline bool
wev_frame_is_v6(bool ipv6, int how)
{
	return ipv6 && how != WEV_MF_BAD_IP && how != WEV_MF_FRAG && how != WEV_MF_FRAME_TRUNC;
}

/* Offset of the UDP payload in a frame that wev_frame() builds with these arguments. */
static inline size_t
wev_frame_hlen(int vlan, bool ipv6, int how)
{
	int vl = how == WEV_MF_VLAN3 ? 3 : vlan;
	return 14 + 4 * (size_t)vl + (wev_frame_is_v6(ipv6, how) ? 40 : 20) + 8;
}

/* Build in f an Ethernet frame carrying payload (plen bytes) as one UDP datagram from
 * sport to dport; vlan 0..2 tags (2: 802.1ad outer, 802.1Q inner).  payload may already
 * sit at f + wev_frame_hlen(vlan, ipv6, how) (then it is not copied).  f must hold
 * plen + WEVF_MAX_OVERHEAD bytes.  Returns the frame length.  The IPv4 header checksum is
 * set, the UDP checksum only over IPv6 (where it is mandatory; 0 = none over IPv4). */
static inline size_t
wev_frame(uint8_t *f, const uint8_t *payload, size_t plen, uint16_t sport, uint16_t dport, int vlan, bool ipv6,
	  int how)
{
	size_t o = 12, l4;
	int vl = how == WEV_MF_VLAN3 ? 3 : vlan;
	bool v6 = wev_frame_is_v6(ipv6, how);
	uint8_t *u;

	memcpy(f, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	for (int i = 0; i < vl; i++) {
		wev_put16be(f + o, (vl == 2 && i == 0) || (vl == 3 && i < 2) ? 0x88a8 : 0x8100);
		wev_put16be(f + o + 2, (uint16_t)(10 + i));
		o += 4;
	}
	if (!v6) {
		wev_put16be(f + o, how == WEV_MF_NOT_IP ? 0x0806 : 0x0800);
		o += 2;
		uint8_t *ip = f + o;
		memset(ip, 0, 20);
		ip[0] = how == WEV_MF_BAD_IP ? 0x44 : 0x45;
		wev_put16be(ip + 2, (uint16_t)(20 + 8 + plen));
		if (how == WEV_MF_FRAG)
			wev_put16be(ip + 6, 0x2000);
		ip[8] = 64;
		ip[9] = how == WEV_MF_NOT_UDP ? 6 : 17;
		memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
		wev_put16be(ip + 10, wev_csum(ip, 20, 0));
		u = ip + 20;
		o += 20;
	} else {
		wev_put16be(f + o, how == WEV_MF_NOT_IP ? 0x0806 : 0x86dd);
		o += 2;
		uint8_t *ip = f + o;
		memset(ip, 0, 40);
		ip[0] = 0x60;
		wev_put16be(ip + 4, (uint16_t)(8 + plen));
		ip[6] = how == WEV_MF_NOT_UDP ? 6 : 17;
		ip[7] = 64;
		ip[8] = 0xfd; ip[23] = 1;
		ip[24] = 0xfd; ip[39] = 2;
		u = ip + 40;
		o += 40;
	}
	wev_put16be(u, sport);
	wev_put16be(u + 2, dport);
	wev_put16be(u + 4, (uint16_t)(8 + plen + (how == WEV_MF_UDP_LEN ? 16 : 0)));
	wev_put16be(u + 6, 0);
	if (payload != u + 8)
		memcpy(u + 8, payload, plen);
	l4 = 8 + plen;
	if (v6) {
		uint32_t sum = 0;
		const uint8_t *ip = u - 40;
		for (int i = 8; i < 40; i += 2)   /* pseudo-header: addresses, next header, length */
			sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
		sum += 17 + (uint32_t)l4;
		uint16_t c = wev_csum(u, l4, sum);
		wev_put16be(u + 6, c ? c : 0xffff);
	}
	o += l4;
	if (how == WEV_MF_FRAME_TRUNC)
		o = (size_t)(u - f) - 10;     /* cut inside the IPv4 header */
	return o;
}

#ifdef __cplusplus
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "WEV integers are little-endian: host order here");
#else
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "WEV integers are little-endian: host order here");
#endif

/* Write the 24-byte WEV/1 header at p; returns 24, the offset of the first record. */
static inline size_t
wev_header(uint8_t *p, uint8_t flags, uint16_t count, uint16_t record_size, uint16_t schema, uint32_t source_id,
	   uint64_t seq)
{
	memcpy(p, "WEV1", 4);
	p[4] = 1;
	p[5] = flags;
	memcpy(p + 6, &count, 2);
	memcpy(p + 8, &record_size, 2);
	memcpy(p + 10, &schema, 2);
	memcpy(p + 12, &source_id, 4);
	memcpy(p + 16, &seq, 8);
	return 24;
}

#endif /* WEIR_TOOLS_WEVFRAME_H */
