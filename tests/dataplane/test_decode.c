/* SPDX-License-Identifier: Apache-2.0
 * Unit tests: frame and WEV/1 decoding, one case per drop reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "decode.h"

struct pkt {
	uint8_t b[10000];
	uint32_t len;
	uint32_t ip;    /* offset of the IP header */
	uint32_t udp;   /* offset of the UDP header */
};

static void be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* A WEV batch of n records of `nf` fields from source 9, sequence 100. */
static uint32_t
wev(uint8_t *p, uint16_t n, int nf, uint8_t flags)
{
	uint16_t rs = (uint16_t)(16 + 8 * nf), schema = 1, cnt = n;
	uint32_t src = 9;
	uint64_t seq = 100;

	memcpy(p, "WEV1", 4);
	p[4] = 1;
	p[5] = flags;
	memcpy(p + 6, &cnt, 2);
	memcpy(p + 8, &rs, 2);
	memcpy(p + 10, &schema, 2);
	memcpy(p + 12, &src, 4);
	memcpy(p + 16, &seq, 8);
	for (uint16_t i = 0; i < n; i++) {
		int64_t t = INT64_C(1700000000000000000) + i;
		uint64_t k = 42 + i;
		memcpy(p + 24 + i * rs, &t, 8);
		memcpy(p + 32 + i * rs, &k, 8);
		for (int f = 0; f < nf; f++) {
			uint64_t v = (uint64_t)(1000 * i + f);
			memcpy(p + 40 + i * rs + 8 * f, &v, 8);
		}
	}
	return 24u + (uint32_t)n * rs;
}

static void
build(struct pkt *k, int vlans, int v6, const uint8_t *payload, uint32_t plen)
{
	uint32_t o = 12;

	memset(k, 0, sizeof(*k));
	for (int i = 0; i < vlans; i++, o += 4)
		be16(k->b + o, i == 0 && vlans == 2 ? 0x88a8 : 0x8100);
	be16(k->b + o, v6 ? 0x86dd : 0x0800);
	o += 2;
	k->ip = o;
	if (v6) {
		k->b[o] = 0x60;
		be16(k->b + o + 4, (uint16_t)(8 + plen));
		k->b[o + 6] = 17;
		o += 40;
	} else {
		k->b[o] = 0x45;
		be16(k->b + o + 2, (uint16_t)(28 + plen));
		k->b[o + 9] = 17;
		o += 20;
	}
	k->udp = o;
	be16(k->b + o + 2, 7000);
	be16(k->b + o + 4, (uint16_t)(8 + plen));
	memcpy(k->b + o + 8, payload, plen);
	k->len = o + 8 + plen;
}

static int
frame_rc(struct pkt *k, struct weir_udp *u)
{
	return weir_decode_frame(k->b, k->len, u);
}

static void
valid_frames(void **st)
{
	uint8_t p[2048];
	uint32_t n = wev(p, 3, 2, 0);
	struct pkt k;
	struct weir_udp u;

	(void)st;
	for (int v6 = 0; v6 < 2; v6++)
		for (int vl = 0; vl <= 2; vl++) {
			build(&k, vl, v6, p, n);
			assert_int_equal(frame_rc(&k, &u), WEIR_BAD_MAX);
			assert_int_equal(u.dst_port, 7000);
			assert_int_equal(u.len, n);
			assert_ptr_equal(u.payload, k.b + k.udp + 8);
			assert_memory_equal(u.payload, p, n);
		}
}

static void
frame_reasons(void **st)
{
	uint8_t p[256];
	uint32_t n = wev(p, 1, 2, 0);
	struct pkt k;
	struct weir_udp u;

	(void)st;
	build(&k, 0, 0, p, n);
	k.len = 13;
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_frame_truncated);
	build(&k, 0, 0, p, n);
	k.len = k.ip + 10;
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_frame_truncated);
	build(&k, 1, 0, p, n);
	k.len = 15;
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_frame_truncated);
	build(&k, 0, 1, p, n);
	k.len = k.ip + 39;
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_frame_truncated);
	/* three tags */
	build(&k, 2, 0, p, n);
	memmove(k.b + 16, k.b + 12, k.len - 12);
	be16(k.b + 12, 0x8100);
	k.len += 4;
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_too_many_vlans);
	build(&k, 0, 0, p, n);
	be16(k.b + 12, 0x0806);
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_not_ip);
	build(&k, 0, 0, p, n);
	k.b[k.ip] = 0x44;
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_bad_ip_header);
	build(&k, 0, 0, p, n);
	k.b[k.ip] = 0x65;
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_bad_ip_header);
	build(&k, 0, 0, p, n);
	be16(k.b + k.ip + 2, (uint16_t)(k.len - k.ip + 1));
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_bad_ip_header);
	build(&k, 0, 1, p, n);
	be16(k.b + k.ip + 4, (uint16_t)(k.len - k.ip - 40 + 1));
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_bad_ip_header);
	build(&k, 0, 0, p, n);
	be16(k.b + k.ip + 6, 0x2000);
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_ip_fragment);
	build(&k, 0, 0, p, n);
	be16(k.b + k.ip + 6, 0x0001);
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_ip_fragment);
	build(&k, 0, 0, p, n);
	be16(k.b + k.ip + 6, 0x4000);                  /* DF alone is fine */
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_MAX);
	build(&k, 0, 0, p, n);
	k.b[k.ip + 9] = 6;
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_not_udp);
	build(&k, 0, 1, p, n);
	k.b[k.ip + 6] = 0;                             /* hop-by-hop header: not supported */
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_not_udp);
	build(&k, 0, 0, p, n);
	be16(k.b + k.udp + 4, 7);
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_bad_udp_length);
	build(&k, 0, 0, p, n);
	be16(k.b + k.udp + 4, (uint16_t)(8 + n + 1));
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_bad_udp_length);
	build(&k, 0, 0, p, 0);
	be16(k.b + k.ip + 2, 20 + 4);                  /* IP payload too short for UDP */
	assert_int_equal(frame_rc(&k, &u), WEIR_BAD_bad_udp_length);
}

static int
wev_rc(uint8_t *p, uint32_t len)
{
	struct wev_hdr h;
	return weir_decode_wev(p, len, 1, 32, &h);
}

static void
wev_reasons(void **st)
{
	uint8_t p[4096];
	uint32_t n;
	int64_t t;

	(void)st;
	n = wev(p, 2, 2, 0);
	assert_int_equal(wev_rc(p, n), WEIR_BAD_MAX);
	assert_int_equal(wev_rc(p, 23), WEIR_BAD_wev_truncated);
	p[0] = 'X';
	assert_int_equal(wev_rc(p, n), WEIR_BAD_bad_magic);
	n = wev(p, 2, 2, 0);
	p[4] = 2;
	assert_int_equal(wev_rc(p, n), WEIR_BAD_bad_version);
	n = wev(p, 2, 2, 0);
	p[5] = 0x80;
	assert_int_equal(wev_rc(p, n), WEIR_BAD_bad_flags);
	n = wev(p, 2, 2, 0);
	p[10] = 2;
	assert_int_equal(wev_rc(p, n), WEIR_BAD_bad_schema);
	n = wev(p, 2, 3, 0);                        /* 40-byte records, source says 32 */
	assert_int_equal(wev_rc(p, n), WEIR_BAD_bad_record_size);
	n = wev(p, 2, 2, 0);
	assert_int_equal(wev_rc(p, n + 1), WEIR_BAD_bad_length);
	assert_int_equal(wev_rc(p, n - 1), WEIR_BAD_bad_length);
	n = wev(p, 0, 2, 0);
	assert_int_equal(wev_rc(p, n), WEIR_BAD_empty_batch);
	n = wev(p, 0, 2, WEV_FLAG_EOS);
	assert_int_equal(wev_rc(p, n), WEIR_BAD_MAX);
	n = wev(p, 3, 2, WEV_FLAG_EOS);
	assert_int_equal(wev_rc(p, n), WEIR_BAD_MAX);
	/* event time limits: +-2^62 accepted, one beyond rejected */
	int64_t lims[4] = { INT64_C(1) << 62, -(INT64_C(1) << 62), (INT64_C(1) << 62) + 1, -(INT64_C(1) << 62) - 1 };
	for (int i = 0; i < 4; i++) {
		n = wev(p, 3, 2, 0);
		t = lims[i];
		memcpy(p + 24 + 2 * 32, &t, 8);
		assert_int_equal(wev_rc(p, n), i < 2 ? WEIR_BAD_MAX : WEIR_BAD_bad_time);
	}
	t = INT64_MIN;
	memcpy(p + 24, &t, 8);
	assert_int_equal(wev_rc(p, n), WEIR_BAD_bad_time);
}

/* The example batch of wire-format.md, byte for byte. */
static void
spec_example(void **st)
{
	static const uint8_t hdr[24] = { 0x57, 0x45, 0x56, 0x31, 0x01, 0x00, 0x02, 0x00, 0x20, 0x00, 0x01, 0x00,
					 0x09, 0x00, 0x00, 0x00, 0x64, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t p[24 + 64] = { 0 };
	struct wev_hdr h;

	(void)st;
	memcpy(p, hdr, 24);
	assert_int_equal(weir_decode_wev(p, sizeof(p), 1, 32, &h), WEIR_BAD_MAX);
	assert_int_equal(h.magic, WEV_MAGIC);
	assert_int_equal(h.count, 2);
	assert_int_equal(h.record_size, 32);
	assert_int_equal(h.schema_id, 1);
	assert_int_equal(h.source_id, 9);
	assert_int_equal(h.sequence, 100);
}

static void
every_truncation(void **st)
{
	uint8_t p[2048];
	uint32_t n = wev(p, 5, 2, 0);
	struct pkt k;
	struct weir_udp u = { 0 };
	struct wev_hdr h;

	(void)st;
	for (int v6 = 0; v6 < 2; v6++) {
		build(&k, 2, v6, p, n);
		uint32_t full = k.len;
		for (uint32_t l = 0; l < full; l++) {
			int rc = weir_decode_frame(k.b, l, &u);
			assert_int_not_equal(rc, WEIR_BAD_MAX);   /* lengths in the headers no longer fit */
		}
		assert_int_equal(weir_decode_frame(k.b, full, &u), WEIR_BAD_MAX);
		for (uint32_t l = 0; l < n; l++)
			assert_int_not_equal(weir_decode_wev(u.payload, l, 1, 32, &h), WEIR_BAD_MAX);
	}
}

static void
reason_names(void **st)
{
	(void)st;
	for (int i = 0; i < WEIR_BAD_MAX; i++) {
		assert_non_null(weir_bad_name[i]);
		assert_true(strlen(weir_bad_name[i]) > 0);
		assert_true(strlen(weir_bad_desc[i]) > 0);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(weir_bad_name[i], weir_bad_name[j]);
	}
	assert_string_equal(weir_bad_name[WEIR_BAD_after_eos], "after_eos");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_frames), cmocka_unit_test(frame_reasons), cmocka_unit_test(wev_reasons),
		cmocka_unit_test(spec_example), cmocka_unit_test(every_truncation), cmocka_unit_test(reason_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
