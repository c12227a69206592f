/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target: line protocol datagrams through the parser and the schema decode.
 * The first byte picks the schema (measurement, key tags, field types, precision);
 * the rest is the datagram.
 *
 * Three parsers walk it side by side: A decodes each entry into an event, B reads
 * every section through the generic calls (unescaping every token), C only asks for
 * the time (skipping the rest).  They must see the same entries, B and C the same
 * verdicts, A the same grammar verdict (a schema reason only on a well-formed line),
 * every token inside the datagram, every event within weir's bounds, the key as
 * recomputed from B's tags; and weir_lp_validate must agree with B. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lineproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)
#define MAXT 16384      /* tags on one line: more than any input holds */

static struct weir_lp_schema schemas[8];

static void
setup(void)
{
	static const uint8_t prec[8] = { WEIR_LP_NS, WEIR_LP_US, WEIR_LP_MS, WEIR_LP_S,
					 WEIR_LP_NS, WEIR_LP_MS, WEIR_LP_US, WEIR_LP_NS };

	for (int i = 0; i < 8; i++) {
		struct weir_lp_schema *s = &schemas[i];
		weir_lp_schema_init(s, (enum weir_lp_prec)prec[i]);
		switch (i & 3) {
		case 0:
			weir_lp_schema_measurement(s, "cpu");
			weir_lp_schema_key_tag(s, "host");
			weir_lp_schema_key_tag(s, "region");
			weir_lp_schema_field(s, "usage_user", WEIR_F_F64);
			weir_lp_schema_field(s, "usage_system", WEIR_F_F64);
			weir_lp_schema_field(s, "usage_idle", WEIR_F_F64);
			break;
		case 1:
			weir_lp_schema_field(s, "i", WEIR_F_I64);
			weir_lp_schema_field(s, "u", WEIR_F_U64);
			weir_lp_schema_field(s, "f", WEIR_F_F64);
			break;
		case 2:
			weir_lp_schema_measurement(s, "m");
			weir_lp_schema_field(s, "f", WEIR_F_F64);
			weir_lp_schema_field(s, "g", WEIR_F_I64);
			break;
		default:
			if (i == 3)
				weir_lp_schema_key_tag(s, "a");
			weir_lp_schema_field(s, "f", WEIR_F_U64);
			break;
		}
	}
}

static void
tok_ok(const struct weir_lp_tok *t, const uint8_t *buf, size_t len)
{
	char small[4], big[256];
	size_t n;

	CHECK((const uint8_t *)t->p >= buf && (const uint8_t *)t->p + t->len <= buf + len);
	CHECK(t->esc <= WEIR_LP_ESC_STR);
	n = weir_lp_unescape(t, small, sizeof(small));
	CHECK(n <= t->len && (t->esc != WEIR_LP_ESC_NONE || n == t->len));
	if (n <= sizeof(big)) {
		CHECK(weir_lp_unescape(t, big, sizeof(big)) == n);
		CHECK(weir_lp_tok_eq(t, big, n));
		CHECK(!memcmp(small, big, n < sizeof(small) ? n : sizeof(small)));
	}
}

/* The key from B's tags, as the header documents it (every tag of the line). */
static uint64_t
key_of(const struct weir_lp_tok *name, struct weir_lp_tok *k, struct weir_lp_tok *v, int n)
{
	static char b[65536];
	uint64_t h;
	size_t l;

	for (int i = 1; i < n; i++)                      /* insertion sort by key */
		for (int j = i; j > 0 && weir_lp_tok_cmp(&k[j - 1], &k[j]) > 0; j--) {
			struct weir_lp_tok x = k[j], y = v[j];
			k[j] = k[j - 1], v[j] = v[j - 1];
			k[j - 1] = x, v[j - 1] = y;
		}
	size_t o = 0;
	o = weir_lp_unescape(name, b, sizeof(b) - 1);
	if (o >= sizeof(b) - 1)
		return 0;                                 /* too long for this check: skip it */
	b[o++] = 0;
	for (int i = 0; i < n; i++) {
		l = weir_lp_unescape(&k[i], b + o, sizeof(b) - o);
		if (l >= sizeof(b) - o)
			return 0;
		o += l;
		b[o++] = 1;
		if (o >= sizeof(b))
			return 0;
		l = weir_lp_unescape(&v[i], b + o, sizeof(b) - o);
		if (l >= sizeof(b) - o)
			return 0;
		o += l;
		b[o++] = 0;
	}
	h = weir_lp_key_hash(b, o);
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	const struct weir_lp_schema *s;
	struct weir_lp_parser a, b, c;
	struct weir_lp_event ev;
	const uint8_t *buf, *prev;
	size_t len;
	bool all_ok = true;

	if (size < 1)
		return 0;
	if (!ready) {
		setup();
		ready = true;
	}
	s = &schemas[data[0] & 7];
	buf = data + 1;
	len = size - 1;
	weir_lp_init(&a, buf, len);
	weir_lp_init(&b, buf, len);
	weir_lp_init(&c, buf, len);
	prev = buf;
	while (weir_lp_next(&a)) {
		static struct weir_lp_tok tk[MAXT], tv[MAXT];
		struct weir_lp_tok name, k, v;
		struct weir_lp_value val;
		int64_t t = 0, tc = 0;
		int r, rb = WEIR_LP_BAD_MAX, rc = WEIR_LP_BAD_MAX, x, ntag = 0;
		bool dup = false, has_time = false;

		/* every entry starts further on, inside the datagram */
		CHECK(a.entry >= prev && a.entry < buf + len && a.p == a.entry);
		CHECK(weir_lp_next(&b) && b.entry == a.entry);
		CHECK(weir_lp_next(&c) && c.entry == a.entry);
		prev = a.entry + 1;

		r = weir_lp_decode_line(s, &a, INT64_C(1700000000123456789), &ev);
		CHECK(r >= 0 && r <= WEIR_LP_BAD_MAX);
		CHECK(a.p >= a.entry && a.p <= buf + len);

		if (weir_lp_measurement(&b, &name) < 0)
			goto b_done;
		tok_ok(&name, buf, len);
		while ((x = weir_lp_tag(&b, &k, &v)) > 0) {
			tok_ok(&k, buf, len);
			tok_ok(&v, buf, len);
			for (int i = 0; i < ntag && !dup; i++)
				dup |= !weir_lp_tok_cmp(&tk[i], &k);
			if (ntag == MAXT)
				return 0;          /* beyond what the checks keep */
			tk[ntag] = k, tv[ntag] = v;
			ntag++;
		}
		if (x < 0)
			goto b_done;
		while ((x = weir_lp_field(&b, &k, &val)) > 0) {
			tok_ok(&k, buf, len);
			CHECK(val.type <= WEIR_LP_STRING);
			if (val.type == WEIR_LP_STRING)
				tok_ok(&val.s, buf, len);
			if (val.type == WEIR_LP_FLOAT)
				CHECK(!__builtin_isinf(val.v.f) && !__builtin_isnan(val.v.f));
		}
		if (x < 0)
			goto b_done;
		x = weir_lp_time(&b, (enum weir_lp_prec)s->prec, &t);
		has_time = x > 0;
b_done:
		if (b.err != WEIR_LP_BAD_MAX)
			rb = b.err;
		CHECK(rb <= WEIR_LP_GRAMMAR_MAX || rb == WEIR_LP_BAD_MAX);
		CHECK(weir_lp_finish(&b) == (rb == WEIR_LP_BAD_MAX ? 0 : -1));

		/* C: the time alone */
		if (weir_lp_time(&c, (enum weir_lp_prec)s->prec, &tc) < 0)
			rc = c.err;
		CHECK(rc == rb);
		CHECK(rb != WEIR_LP_BAD_MAX || tc == t);

		/* A against B */
		if (r < WEIR_LP_GRAMMAR_MAX) {
			CHECK(r == rb);
		} else {
			CHECK(rb == WEIR_LP_BAD_MAX);
			CHECK(a.p == b.p);                        /* both at the entry's end */
			/* A sorts the first WEIR_LP_MAX_TAGS tags only */
			if (r != WEIR_BAD_lp_other_measurement && ntag <= WEIR_LP_MAX_TAGS)
				CHECK((r == WEIR_BAD_lp_duplicate_tag) == dup);
			if (r != WEIR_BAD_lp_other_measurement && ntag > WEIR_LP_MAX_TAGS)
				CHECK(r == WEIR_BAD_lp_duplicate_tag || r == WEIR_BAD_lp_too_many_tags);
		}
		if (r == WEIR_LP_BAD_MAX) {
			CHECK(ev.has_time == has_time);
			CHECK(!has_time || ev.time == t);
			CHECK(ev.time >= -(INT64_C(1) << 62) && ev.time <= (INT64_C(1) << 62));
			for (int i = 0; i < s->nfields; i++)
				if (s->field_type[i] == WEIR_F_F64) {
					double d;
					memcpy(&d, &ev.v[i], 8);
					CHECK(!__builtin_isinf(d) && !__builtin_isnan(d));
				}
			uint64_t kk = key_of(&name, tk, tv, ntag);
			if (s->ntags == 0 && kk)
				CHECK(ev.key == kk);
		}
		all_ok &= !dup && rb == WEIR_LP_BAD_MAX;
	}
	CHECK(!weir_lp_next(&b) && !weir_lp_next(&c));
	CHECK(a.p == buf + len);
	CHECK((weir_lp_validate(buf, len, (enum weir_lp_prec)s->prec, NULL) == WEIR_LP_BAD_MAX) == all_ok);
	return 0;
}
