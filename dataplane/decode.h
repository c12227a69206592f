/* SPDX-License-Identifier: Apache-2.0
 * Frame and WEV/1 batch decoding (../shared/wire-format.md), straight from packet bytes.
 *
 * Pure functions over (pointer, length): no DPDK types, so the decoder is unit-tested
 * and fuzzed on plain buffers.  Every way a datagram can be wrong has one reason in
 * WEIR_BAD_REASONS; the first failing check, in the order listed, names the drop.
 */
#ifndef WEIR_DECODE_H
#define WEIR_DECODE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Drop reasons, in check order.  Names are stable: they are exported in stats. */
#define WEIR_BAD_REASONS(X)                                                        \
	X(frame_truncated,    "frame too short for the header being read")         \
	X(too_many_vlans,     "more than two VLAN tags")                           \
	X(not_ip,             "ethertype is neither IPv4 nor IPv6")                \
	X(bad_ip_header,      "IP version, header or total length inconsistent")  \
	X(ip_fragment,        "IPv4 fragment (not reassembled)")                   \
	X(not_udp,            "IP protocol is not UDP")                            \
	X(bad_udp_length,     "UDP length below 8 or beyond the IP payload")       \
	X(no_source,          "no source configured on this UDP port")             \
	X(wev_truncated,      "UDP payload shorter than the 24-byte WEV header")   \
	X(bad_magic,          "WEV magic is not 'WEV1'")                           \
	X(bad_version,        "WEV version is not 1")                              \
	X(bad_flags,          "unknown WEV flag bits set")                         \
	X(bad_schema,         "schema_id differs from the source's")               \
	X(bad_record_size,    "record_size differs from the source's schema")      \
	X(bad_length,         "payload length is not 24 + count * record_size")    \
	X(empty_batch,        "count 0 without EOS")                               \
	X(bad_time,           "an event_time beyond +-2^62 ns")                     \
	X(after_eos,          "batch from a producer that already sent EOS")       \
	X(too_many_producers, "producer table of this RX core is full")

enum weir_bad {
#define X(n, d) WEIR_BAD_##n,
	WEIR_BAD_REASONS(X)
#undef X
	WEIR_BAD_MAX
};

extern const char *const weir_bad_name[WEIR_BAD_MAX];
extern const char *const weir_bad_desc[WEIR_BAD_MAX];

#define WEV_MAGIC        UINT32_C(0x31564557)  /* "WEV1" little-endian */
#define WEV_VERSION      1
#define WEV_FLAG_EOS     0x01
#define WEV_HDR_LEN      24
#define WEV_MAX_PAYLOAD  9000

struct wev_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t flags;
	uint16_t count;
	uint16_t record_size;
	uint16_t schema_id;
	uint32_t source_id;
	uint64_t sequence;
} __attribute__((packed));
_Static_assert(sizeof(struct wev_hdr) == WEV_HDR_LEN, "WEV header is 24 bytes");

static inline uint16_t weir_rd16be(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint16_t weir_rd16le(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t weir_rd32le(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t weir_rd64le(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Result of frame decoding: where the UDP payload is and which port it went to. */
struct weir_udp {
	const uint8_t *payload;
	uint32_t len;
	uint16_t dst_port;
	uint16_t src_port;
	const uint8_t *src_ip;          /* the sender's address: 4 bytes (IPv4) or 16 (IPv6) */
	uint8_t ip_len;
};

/* Decode Ethernet (0-2 VLAN tags) / IPv4|IPv6 / UDP.  Returns WEIR_BAD_MAX on
 * success and fills *u, else the drop reason.  Only little-endian hosts. */
static inline int
weir_decode_frame(const uint8_t *f, uint32_t len, struct weir_udp *u)
{
	uint32_t off = 14, l4len;
	uint16_t et;
	const uint8_t *ip, *udp;

	if (len < 14)
		return WEIR_BAD_frame_truncated;
	et = weir_rd16be(f + 12);
	for (int tags = 0; et == 0x8100 || et == 0x88a8; tags++) {
		if (tags == 2)
			return WEIR_BAD_too_many_vlans;
		if (len < off + 4)
			return WEIR_BAD_frame_truncated;
		et = weir_rd16be(f + off + 2);
		off += 4;
	}
	ip = f + off;
	if (et == 0x0800) {
		uint32_t ihl, tot;
		if (len < off + 20)
			return WEIR_BAD_frame_truncated;
		ihl = (uint32_t)(ip[0] & 0x0f) * 4;
		tot = weir_rd16be(ip + 2);
		if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl || tot > len - off)
			return WEIR_BAD_bad_ip_header;
		if (weir_rd16be(ip + 6) & 0x3fff)        /* MF flag or fragment offset */
			return WEIR_BAD_ip_fragment;
		if (ip[9] != 17)
			return WEIR_BAD_not_udp;
		udp = ip + ihl;
		l4len = tot - ihl;
		u->src_ip = ip + 12;
		u->ip_len = 4;
	} else if (et == 0x86dd) {
		uint32_t plen;
		if (len < off + 40)
			return WEIR_BAD_frame_truncated;
		plen = weir_rd16be(ip + 4);
		if ((ip[0] >> 4) != 6 || plen > len - off - 40)
			return WEIR_BAD_bad_ip_header;
		if (ip[6] != 17)
			return WEIR_BAD_not_udp;
		udp = ip + 40;
		l4len = plen;
		u->src_ip = ip + 8;
		u->ip_len = 16;
	} else {
		return WEIR_BAD_not_ip;
	}
	if (l4len < 8)               /* no room for a UDP header inside the IP payload */
		return WEIR_BAD_bad_udp_length;
	{
		uint32_t ulen = weir_rd16be(udp + 4);
		if (ulen < 8 || ulen > l4len)
			return WEIR_BAD_bad_udp_length;
		u->dst_port = weir_rd16be(udp + 2);
		u->src_port = weir_rd16be(udp);
		u->payload = udp + 8;
		u->len = ulen - 8;
	}
	return WEIR_BAD_MAX;
}

/* Validate a WEV/1 batch against a source's schema.  Returns WEIR_BAD_MAX if the
 * batch is well formed (then *h is a copy of its header), else the reason. */
static inline int
weir_decode_wev(const uint8_t *p, uint32_t len, uint16_t schema_id, uint16_t record_size,
		struct wev_hdr *h)
{
	const uint8_t *r;

	if (len < WEV_HDR_LEN)
		return WEIR_BAD_wev_truncated;
	memcpy(h, p, sizeof(*h));
	if (h->magic != WEV_MAGIC)
		return WEIR_BAD_bad_magic;
	if (h->version != WEV_VERSION)
		return WEIR_BAD_bad_version;
	if (h->flags & ~WEV_FLAG_EOS)
		return WEIR_BAD_bad_flags;
	if (h->schema_id != schema_id)
		return WEIR_BAD_bad_schema;
	if (h->record_size != record_size)
		return WEIR_BAD_bad_record_size;
	if (len != WEV_HDR_LEN + (uint32_t)h->count * record_size)
		return WEIR_BAD_bad_length;
	if (h->count == 0 && !(h->flags & WEV_FLAG_EOS))
		return WEIR_BAD_empty_batch;
	r = p + WEV_HDR_LEN;
	for (unsigned i = 0; i < h->count; i++, r += record_size) {
		/* |t| <= 2^62  <=>  t + 2^62 in [0, 2^63] as unsigned */
		uint64_t t = weir_rd64le(r) + (UINT64_C(1) << 62);
		if (t > (UINT64_C(1) << 63))
			return WEIR_BAD_bad_time;
	}
	return WEIR_BAD_MAX;
}

#ifdef __cplusplus
}
#endif
#endif
