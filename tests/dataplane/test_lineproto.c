/* SPDX-License-Identifier: Apache-2.0
 * Unit tests: the line protocol parser and the line -> event mapping (lineproto.h).
 *
 *   test-lineproto                 the unit tests (cmocka)
 *   test-lineproto --corpus FILE   conformance with the reference's corpus (the
 *                                  line-protocol-corpus JSON); exit 77 without FILE
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <xxhash.h>

#include "lineproto.h"

/* ---- helpers ------------------------------------------------------------------------- */

#define NOW INT64_C(1700000000123456789)

struct out {
	int n;                       /* entries */
	int r[256];                  /* reason of each, WEIR_LP_BAD_MAX: an event */
	struct weir_lp_event ev[256];
};

/* Every entry of text under s. */
static void
decode(const struct weir_lp_schema *s, const char *text, size_t len, struct out *o)
{
	struct weir_lp_parser ps;

	memset(o, 0, sizeof(*o));
	weir_lp_init(&ps, text, len);
	while (weir_lp_next(&ps)) {
		assert_true(o->n < 256);
		o->r[o->n] = weir_lp_decode_line(s, &ps, NOW, &o->ev[o->n]);
		o->n++;
	}
}

/* Reason for a one-line text (also checks it is one entry). */
static int
one(const struct weir_lp_schema *s, const char *text, struct weir_lp_event *ev)
{
	static struct out o;

	decode(s, text, strlen(text), &o);
	if (o.n != 1) {
		fprintf(stderr, "%d entries in %s\n", o.n, text);
		fail();
	}
	if (ev)
		*ev = o.ev[0];
	return o.r[0];
}

static const char *
rname(int r)
{
	return r == WEIR_LP_BAD_MAX ? "ok" : weir_lp_bad_name[r];
}

#define assert_reason(s, text, want)                                                     \
	do {                                                                             \
		int r_ = one(s, text, NULL);                                             \
		if (r_ != (want)) {                                                      \
			fprintf(stderr, "%s: %s, expected %s\n", text, rname(r_), rname(want)); \
			fail();                                                          \
		}                                                                        \
	} while (0)

/* The schema of the telegraf cpu examples: f64 usage_user, usage_idle; key host, region. */
static void
cpu_schema(struct weir_lp_schema *s, bool keytags, enum weir_lp_prec prec)
{
	weir_lp_schema_init(s, prec);
	assert_int_equal(weir_lp_schema_measurement(s, "cpu"), 0);
	if (keytags) {
		assert_int_equal(weir_lp_schema_key_tag(s, "region"), 0);
		assert_int_equal(weir_lp_schema_key_tag(s, "host"), 0);
	}
	assert_int_equal(weir_lp_schema_field(s, "usage_user", WEIR_F_F64), 0);
	assert_int_equal(weir_lp_schema_field(s, "usage_idle", WEIR_F_F64), 1);
}

static double
f64(uint64_t bits)
{
	double d;

	memcpy(&d, &bits, 8);
	return d;
}

/* The documented key layout, computed independently (xxHash's own XXH3). */
static uint64_t
key_of(const char *meas, int n, const char *const *kv)
{
	char b[1024];
	size_t k = 0;

	k += (size_t)sprintf(b + k, "%s", meas) + 1;                 /* with its 0x00 */
	for (int i = 0; i < n; i++) {
		k += (size_t)sprintf(b + k, "%s\x01", kv[2 * i]);
		k += (size_t)sprintf(b + k, "%s", kv[2 * i + 1]) + 1;
	}
	return XXH3_64bits(b, k);
}

/* ---- generic parser ------------------------------------------------------------------- */

static char *
unesc(const struct weir_lp_tok *t)
{
	static char buf[8][256];
	static int k;
	char *b = buf[k++ & 7];
	size_t n = weir_lp_unescape(t, b, 255);

	assert_true(n <= t->len);
	b[n < 255 ? n : 255] = '\0';
	return b;
}

static void
basic_line(void **state)
{
	static const char text[] =
		"cpu,host=server01,region=us-west usage_user=12.5,n=-3i,u=7u,b=true,s=\"hi\" 1700000000000000000";
	struct weir_lp_parser ps;
	struct weir_lp_tok name, k, v;
	struct weir_lp_value val;
	int64_t t = 0;

	(void)state;
	weir_lp_init(&ps, text, strlen(text));
	assert_true(weir_lp_next(&ps));
	assert_int_equal(weir_lp_measurement(&ps, &name), 0);
	assert_string_equal(unesc(&name), "cpu");
	assert_int_equal(name.esc, WEIR_LP_ESC_NONE);
	assert_int_equal(weir_lp_tag(&ps, &k, &v), 1);
	assert_string_equal(unesc(&k), "host");
	assert_string_equal(unesc(&v), "server01");
	assert_int_equal(weir_lp_tag(&ps, &k, &v), 1);
	assert_string_equal(unesc(&v), "us-west");
	assert_int_equal(weir_lp_tag(&ps, &k, &v), 0);
	assert_int_equal(weir_lp_field(&ps, &k, &val), 1);
	assert_int_equal(val.type, WEIR_LP_FLOAT);
	assert_true(val.v.f == 12.5);
	assert_int_equal(weir_lp_field(&ps, &k, &val), 1);
	assert_int_equal(val.type, WEIR_LP_INT);
	assert_int_equal(val.v.i, -3);
	assert_int_equal(weir_lp_field(&ps, &k, &val), 1);
	assert_int_equal(val.type, WEIR_LP_UINT);
	assert_int_equal(val.v.u, 7);
	assert_int_equal(weir_lp_field(&ps, &k, &val), 1);
	assert_int_equal(val.type, WEIR_LP_BOOL);
	assert_true(val.v.b);
	assert_int_equal(weir_lp_field(&ps, &k, &val), 1);
	assert_int_equal(val.type, WEIR_LP_STRING);
	assert_string_equal(unesc(&val.s), "hi");
	assert_int_equal(weir_lp_field(&ps, &k, &val), 0);
	assert_int_equal(weir_lp_time(&ps, WEIR_LP_NS, &t), 1);
	assert_int_equal(t, INT64_C(1700000000000000000));
	assert_false(weir_lp_next(&ps));
	assert_false(weir_lp_next(&ps));

	/* skipping sections: the time straight away */
	weir_lp_init(&ps, text, strlen(text));
	assert_true(weir_lp_next(&ps));
	assert_int_equal(weir_lp_time(&ps, WEIR_LP_S, &t), -1);        /* 1.7e18 s overflows */
	assert_int_equal(ps.err, WEIR_BAD_lp_bad_time);
	weir_lp_init(&ps, text, strlen(text));
	assert_true(weir_lp_next(&ps));
	assert_int_equal(weir_lp_field(&ps, &k, &val), 1);
	assert_string_equal(unesc(&k), "usage_user");
	assert_false(weir_lp_next(&ps));
}

/* Parse text's one entry; returns 0 with the pieces, or the reason. */
struct ent {
	char name[256], tk[8][256], tv[8][256], fk[8][256], fs[8][256];
	struct weir_lp_value fv[8];
	int ntags, nfields, has_time;
	int64_t t;
};

static int
entry(const char *text, size_t len, struct ent *e)
{
	struct weir_lp_parser ps;
	struct weir_lp_tok name, k, v;
	int r;

	memset(e, 0, sizeof(*e));
	weir_lp_init(&ps, text, len);
	if (!weir_lp_next(&ps))
		return -1;
	if (weir_lp_measurement(&ps, &name) < 0)
		return ps.err;
	strcpy(e->name, unesc(&name));
	while ((r = weir_lp_tag(&ps, &k, &v)) > 0) {
		strcpy(e->tk[e->ntags], unesc(&k));
		strcpy(e->tv[e->ntags++], unesc(&v));
	}
	if (r < 0)
		return ps.err;
	while ((r = weir_lp_field(&ps, &k, &e->fv[e->nfields])) > 0) {
		strcpy(e->fk[e->nfields], unesc(&k));
		if (e->fv[e->nfields].type == WEIR_LP_STRING)
			strcpy(e->fs[e->nfields], unesc(&e->fv[e->nfields].s));
		e->nfields++;
	}
	if (r < 0)
		return ps.err;
	r = weir_lp_time(&ps, WEIR_LP_NS, &e->t);
	if (r < 0)
		return ps.err;
	e->has_time = r;
	assert_false(weir_lp_next(&ps));
	return 0;
}

#define ENT(lit, e) entry(lit, sizeof(lit) - 1, e)

static void
escaping(void **state)
{
	struct ent e;

	(void)state;
	assert_int_equal(ENT("c\\ p\\,u=x\\=,t\\ k\\=\\,=v\\ a\\,l\\= f\\,k\\=\\ =1 5", &e), 0);
	assert_string_equal(e.name, "c p,u=x\\=");      /* '=' is not escaped in a measurement */
	assert_string_equal(e.tk[0], "t k=,");
	assert_string_equal(e.tv[0], "v a,l=");
	assert_string_equal(e.fk[0], "f,k= ");
	assert_int_equal(e.t, 5);

	/* a backslash escaping nothing stays; "\\ " is a backslash and an escaped space */
	assert_int_equal(ENT("m,a=\\\\ b,c=d\\x f=1", &e), 0);
	assert_string_equal(e.tk[0], "a");
	assert_string_equal(e.tv[0], "\\ b");
	assert_string_equal(e.tv[1], "d\\x");
	assert_int_equal(ENT("m\\ f=1", &e), WEIR_BAD_lp_syntax);    /* "m\ f=1" is all name */

	/* strings: \" \\ \n \r \t, anything else stays; raw LF inside */
	assert_int_equal(ENT("m s=\"a\\\"b\\\\c\\nd\\te\\,f\\x\nz\"", &e), 0);
	assert_string_equal(e.fs[0], "a\"b\\c\nd\te\\,f\\x\nz");
	assert_int_equal(ENT("m s=\"\\\\\"", &e), 0);
	assert_string_equal(e.fs[0], "\\");
	assert_int_equal(ENT("m s=\"abc\\\"", &e), WEIR_BAD_lp_syntax);  /* unterminated */
	assert_int_equal(ENT("m s=\"\"", &e), 0);
	assert_string_equal(e.fs[0], "");

	/* UTF-8: valid sequences anywhere, invalid ones nowhere */
	assert_int_equal(ENT("m\xc3\xa9,t=\xe2\x82\xac f=\"\xf0\x9f\x98\x80\"", &e), 0);
	assert_string_equal(e.name, "m\xc3\xa9");
	assert_int_equal(ENT("m\xc3 f=1", &e), WEIR_BAD_lp_bad_utf8);
	assert_int_equal(ENT("m,t=\xed\xa0\x80 f=1", &e), WEIR_BAD_lp_bad_utf8);  /* surrogate */
	assert_int_equal(ENT("m f=\"\xc0\x80\"", &e), WEIR_BAD_lp_bad_utf8);      /* overlong */
	assert_int_equal(ENT("m \xf4\x90\x80\x80=1", &e), WEIR_BAD_lp_bad_utf8); /* > U+10FFFF */

	/* unescape into a short buffer: the full length, a truncated copy */
	struct weir_lp_tok t = { "a\\,b\\,c", 7, WEIR_LP_ESC_KEY };
	char b[3];
	assert_int_equal(weir_lp_unescape(&t, b, 3), 5);
	assert_memory_equal(b, "a,b", 3);
	assert_true(weir_lp_tok_eq(&t, "a,b,c", 5));
	assert_false(weir_lp_tok_eq(&t, "a,b,", 4));
	assert_false(weir_lp_tok_eq(&t, "a,b,cd", 6));
}

static void
numbers(void **state)
{
	static const struct { const char *v; int type; double f; int64_t i; int r; } c[] = {
		{ "1", WEIR_LP_FLOAT, 1, 0, 0 },
		{ "-1.5", WEIR_LP_FLOAT, -1.5, 0, 0 },
		{ ".5", WEIR_LP_FLOAT, 0.5, 0, 0 },
		{ "5.", WEIR_LP_FLOAT, 5, 0, 0 },
		{ "1e3", WEIR_LP_FLOAT, 1000, 0, 0 },
		{ "1E+3", WEIR_LP_FLOAT, 1000, 0, 0 },
		{ "2.5e-3", WEIR_LP_FLOAT, 2.5e-3, 0, 0 },
		{ "0.1", WEIR_LP_FLOAT, 0.1, 0, 0 },
		{ "0.30000000000000004", WEIR_LP_FLOAT, 0.30000000000000004, 0, 0 },
		{ "1.7976931348623157e308", WEIR_LP_FLOAT, 1.7976931348623157e308, 0, 0 },
		{ "4.9406564584124654e-324", WEIR_LP_FLOAT, 4.9406564584124654e-324, 0, 0 },
		{ "1e-400", WEIR_LP_FLOAT, 0, 0, 0 },                  /* underflow is fine */
		{ "123456789012345678901234567890", WEIR_LP_FLOAT, 123456789012345678901234567890.0, 0, 0 },
		{ "1_000.000_1", WEIR_LP_FLOAT, 1000.0001, 0, 0 },     /* Go's ParseFloat */
		{ "0x1.8p1", WEIR_LP_FLOAT, 3, 0, 0 },
		{ "-0X_1P-2", WEIR_LP_FLOAT, -0.25, 0, 0 },
		{ "1e309", 0, 0, 0, WEIR_BAD_lp_value_range },
		{ "0x1p1024", 0, 0, 0, WEIR_BAD_lp_value_range },
		{ "1_", 0, 0, 0, WEIR_BAD_lp_bad_value },
		{ "1__0", 0, 0, 0, WEIR_BAD_lp_bad_value },
		{ "1._5", 0, 0, 0, WEIR_BAD_lp_bad_value },
		{ "0x1.8", 0, 0, 0, WEIR_BAD_lp_bad_value },           /* hex needs p */
		{ "1.2.3", 0, 0, 0, WEIR_BAD_lp_bad_value },
		{ "1e", 0, 0, 0, WEIR_BAD_lp_bad_value },
		{ ".", 0, 0, 0, WEIR_BAD_lp_bad_value },
		{ "-", 0, 0, 0, WEIR_BAD_lp_bad_value },
		{ "-inf", 0, 0, 0, WEIR_BAD_lp_bad_value },
		{ "1x", 0, 0, 0, WEIR_BAD_lp_bad_value },
		{ "1\t", 0, 0, 0, WEIR_BAD_lp_bad_value },
		{ "-9223372036854775808i", WEIR_LP_INT, 0, INT64_MIN, 0 },
		{ "9223372036854775807i", WEIR_LP_INT, 0, INT64_MAX, 0 },
		{ "007i", WEIR_LP_INT, 0, 7, 0 },
		{ "-0i", WEIR_LP_INT, 0, 0, 0 },
		{ "9223372036854775808i", 0, 0, 0, WEIR_BAD_lp_value_range },
		{ "-9223372036854775809i", 0, 0, 0, WEIR_BAD_lp_value_range },
		{ "1_0i", 0, 0, 0, WEIR_BAD_lp_bad_value },
		{ "1.0i", 0, 0, 0, WEIR_BAD_lp_bad_value },
		{ "-i", 0, 0, 0, WEIR_BAD_lp_bad_value },
		{ "18446744073709551615u", WEIR_LP_UINT, 0, -1, 0 },
		{ "18446744073709551616u", 0, 0, 0, WEIR_BAD_lp_value_range },
		{ "-0u", 0, 0, 0, WEIR_BAD_lp_bad_value },
		{ "u", 0, 0, 0, WEIR_BAD_lp_bad_value },
		{ "t", WEIR_LP_BOOL, 1, 0, 0 }, { "TRUE", WEIR_LP_BOOL, 1, 0, 0 },
		{ "True", WEIR_LP_BOOL, 1, 0, 0 }, { "false", WEIR_LP_BOOL, 0, 0, 0 },
		{ "F", WEIR_LP_BOOL, 0, 0, 0 }, { "FALSE", WEIR_LP_BOOL, 0, 0, 0 },
		{ "tRUE", 0, 0, 0, WEIR_BAD_lp_bad_value }, { "yes", 0, 0, 0, WEIR_BAD_lp_bad_value },
	};
	char text[128];
	struct ent e;

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int n = snprintf(text, sizeof(text), "m f=%s 1", c[i].v), r = entry(text, (size_t)n, &e);
		if (r != c[i].r) {
			fprintf(stderr, "%s: %s, expected %s\n", c[i].v, rname(r ? r : WEIR_LP_BAD_MAX),
				rname(c[i].r ? c[i].r : WEIR_LP_BAD_MAX));
			fail();
		}
		if (r)
			continue;
		assert_int_equal(e.fv[0].type, c[i].type);
		if (c[i].type == WEIR_LP_FLOAT && memcmp(&e.fv[0].v.f, &c[i].f, 8)) {
			fprintf(stderr, "%s: %.17g, expected %.17g\n", c[i].v, e.fv[0].v.f, c[i].f);
			fail();
		}
		if (c[i].type == WEIR_LP_INT || c[i].type == WEIR_LP_UINT)
			assert_int_equal(e.fv[0].v.i, c[i].i);
		if (c[i].type == WEIR_LP_BOOL)
			assert_int_equal(e.fv[0].v.b, c[i].f != 0);
	}
	/* -0 keeps its sign; a 2000-digit mantissa still rounds correctly */
	assert_int_equal(ENT("m f=-0.0", &e), 0);
	assert_true(signbit(e.fv[0].v.f));
	static char big[2100];
	memcpy(big, "m f=0.", 6);
	memset(big + 6, '0', 1990);
	memcpy(big + 1996, "1e1991", 6);                 /* 0.000...1e1991 = 1 */
	assert_int_equal(entry(big, 2002, &e), 0);
	assert_true(e.fv[0].v.f == 1.0);
	memcpy(big, "m f=1.", 6);
	memset(big + 6, '0', 2000);
	big[2006] = '1';                                  /* 1 + 1e-2001: rounds to 1 */
	assert_int_equal(entry(big, 2007, &e), 0);
	assert_true(e.fv[0].v.f == 1.0);
	/* halfway between 1 and the next double, plus a tiny bit far out: rounds up */
	char half[900];
	int n = snprintf(half, sizeof(half), "m f=1.00000000000000011102230246251565404236316680908203125");
	memset(half + n, '0', 800);
	half[n + 800] = '1';
	assert_int_equal(entry(half, (size_t)n + 801, &e), 0);
	assert_true(e.fv[0].v.f == nextafter(1.0, 2.0));
	assert_int_equal(entry(half, (size_t)n, &e), 0);         /* exactly halfway: to even */
	assert_true(e.fv[0].v.f == 1.0);
}

/* The float fast paths against the C library's strtod (correctly rounded too), on
 * random decimals of 1-20 digits, the point anywhere, exponents up to +-40, and
 * values right next to a halfway point between two doubles. */
static void
floats_vs_strtod(void **state)
{
	uint64_t rng = 12345;
	char v[96], text[128];
	struct ent e;

	(void)state;
	for (int i = 0; i < 200000; i++) {
		int n = 0, nd;
		rng = rng * 6364136223846793005u + 1442695040888963407u;
		nd = 1 + (int)(rng >> 59) % 20;
		if (rng & 1)
			v[n++] = '-';
		if (i % 4 == 0) {
			/* the halfway point between two doubles (exact in long double) to
			 * 16-21 digits: the hardest cases for a fast path */
			double d = (double)(rng >> 11) * 0x1p-53 * 1e3, up = nextafter(d, 1e300);
			long double mid = (long double)d + ((long double)up - (long double)d) / 2;
			n += snprintf(v + n, sizeof(v) - (size_t)n, "%.*Lg", 16 + (int)((rng >> 24) % 6), mid);
		} else {
			int point = (int)((rng >> 32) % (uint64_t)(nd + 1));
			uint64_t r = rng;
			for (int k = 0; k < nd; k++) {
				if (k == point)
					v[n++] = '.';
				r = r * 6364136223846793005u + 1442695040888963407u;
				v[n++] = (char)('0' + (r >> 33) % 10);
			}
			if (rng & 2)
				n += snprintf(v + n, sizeof(v) - (size_t)n, "e%d", (int)((rng >> 40) % 81) - 40);
		}
		v[n] = '\0';
		int len = snprintf(text, sizeof(text), "m f=%s", v);
		assert_int_equal(entry(text, (size_t)len, &e), 0);
		double want = strtod(v, NULL);
		if (memcmp(&want, &e.fv[0].v.f, 8)) {
			fprintf(stderr, "%s: %.17g, strtod %.17g\n", v, e.fv[0].v.f, want);
			fail();
		}
	}
}

static void
structure(void **state)
{
	static const struct { const char *text; int r; } c[] = {
		{ "m f=1", 0 },
		{ "  m f=1  ", 0 },
		{ "m f=1 1 ", 0 },
		{ "m,a=b f=1", 0 },
		{ "m,a=b    f=1,g=2     -5", 0 },
		{ "m f=1\r", 0 },
		{ "m f=1 5\r", 0 },
		{ "m f=\"x\" 5", 0 },
		{ "m=x f=1", 0 },                 /* '=' is an ordinary measurement byte */
		{ "m", WEIR_BAD_lp_syntax },
		{ "m ", WEIR_BAD_lp_syntax },
		{ "m,", WEIR_BAD_lp_syntax },
		{ "m, a=b f=1", WEIR_BAD_lp_syntax },
		{ "m,a f=1", WEIR_BAD_lp_syntax },
		{ "m,a= f=1", WEIR_BAD_lp_syntax },
		{ "m,=b f=1", WEIR_BAD_lp_syntax },
		{ "m,a=b", WEIR_BAD_lp_syntax },
		{ "m,a=b,", WEIR_BAD_lp_syntax },
		{ "m,a=b=c f=1", WEIR_BAD_lp_syntax },
		{ "m\tf=1", WEIR_BAD_lp_syntax },
		{ ",m f=1", WEIR_BAD_lp_syntax },
		{ "m f", WEIR_BAD_lp_syntax },
		{ "m f=", WEIR_BAD_lp_syntax },
		{ "m f= 1", WEIR_BAD_lp_syntax },
		{ "m f=1,", WEIR_BAD_lp_syntax },
		{ "m f=1, g=2", WEIR_BAD_lp_syntax },
		{ "m =1", WEIR_BAD_lp_syntax },
		{ "m f=\"x\"y", WEIR_BAD_lp_syntax },
		{ "m f=1 5 6", WEIR_BAD_lp_syntax },
		{ "m f=1 5x", WEIR_BAD_lp_syntax },
		{ "m f=1 x", WEIR_BAD_lp_syntax },
		{ "m f=1 1-2", WEIR_BAD_lp_syntax },
		{ "m f=1 -", WEIR_BAD_lp_syntax },
		{ "m f=1 5\t", WEIR_BAD_lp_syntax },
		{ "m f=1\rx", WEIR_BAD_lp_syntax },
		{ "m f=1 9223372036854775808", WEIR_BAD_lp_bad_time },
		{ "m f=@", WEIR_BAD_lp_bad_value },
		{ "\r m f=1", WEIR_BAD_lp_syntax },
		{ "# tab\there", WEIR_BAD_lp_syntax },
		{ "#\x7f", WEIR_BAD_lp_syntax },
	};
	struct ent e;

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int r = entry(c[i].text, strlen(c[i].text), &e);
		if (r != c[i].r) {
			fprintf(stderr, "\"%s\": %s, expected %s\n", c[i].text, rname(r ? r : WEIR_LP_BAD_MAX),
				rname(c[i].r ? c[i].r : WEIR_LP_BAD_MAX));
			fail();
		}
	}
	assert_int_equal(ENT("m,a=b    f=1,g=2     -5", &e), 0);
	assert_int_equal(e.nfields, 2);
	assert_int_equal(e.t, -5);
	assert_int_equal(e.has_time, 1);
	assert_int_equal(ENT("m f=1 ", &e), 0);
	assert_int_equal(e.has_time, 0);
}

/* CRLF, comments, blank lines; a bad line costs only itself; recovery at the next LF */
static void
lines(void **state)
{
	static const char text[] =
		"# a comment\r\n"
		"\n"
		"   \r\n"
		"cpu,host=a usage_user=1,usage_idle=2 1\r\n"
		"  # another, indented\n"
		"cpu,host=b usage_user=x,usage_idle=2 2\n"             /* bad */
		"cpu,host=c usage_user=3,usage_idle=4\n"
		"mem,host=c used=5i 3\n"                                /* other measurement */
		"cpu,host=d usage_user=5,usage_idle=\"a\nb\" 4\n"       /* string over 2 lines */
		"cpu,host=e usage_user=6,usage_idle=6 5\r\n"
		"cpu,host=f usage_user=1.2.3,s=\"x\ny\" 6\n"            /* bad; the next LF is in the string */
		"cpu,host=g usage_user=7,usage_idle=7 7";
	struct weir_lp_schema s;
	struct out o;

	(void)state;
	cpu_schema(&s, false, WEIR_LP_NS);
	decode(&s, text, sizeof(text) - 1, &o);
	assert_int_equal(o.n, 9);
	static const int want[] = { WEIR_LP_BAD_MAX, WEIR_BAD_lp_bad_value, WEIR_LP_BAD_MAX,
				    WEIR_BAD_lp_other_measurement, WEIR_BAD_lp_field_type, WEIR_LP_BAD_MAX,
				    WEIR_BAD_lp_bad_value, WEIR_BAD_lp_syntax, WEIR_LP_BAD_MAX };
	for (int i = 0; i < 9; i++) {
		if (o.r[i] != want[i])
			fprintf(stderr, "entry %d: %s, expected %s\n", i, rname(o.r[i]), rname(want[i]));
		assert_int_equal(o.r[i], want[i]);
	}
	assert_int_equal(o.ev[0].time, 1);
	assert_true(o.ev[0].has_time);
	assert_false(o.ev[2].has_time);
	assert_int_equal(o.ev[2].time, NOW);
	assert_true(f64(o.ev[2].v[0]) == 3 && f64(o.ev[2].v[1]) == 4);
	assert_int_equal(o.ev[5].time, 5);
	assert_int_equal(o.ev[8].time, 7);
	/* the reference's recovery after junk where a timestamp should be: the junk up to
	 * a CR or LF goes, a lone CR starts a (bad) entry; after a bad timestamp the line
	 * goes (regressions found by differential fuzzing against the Go parser) */
	decode(&s, "cpu usage_user=1,usage_idle=2 x\rcpu usage_user=1,usage_idle=2\n", 62, &o);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.r[0], WEIR_BAD_lp_syntax);
	assert_int_equal(o.r[1], WEIR_BAD_lp_syntax);
	decode(&s, "cpu usage_user=1,usage_idle=2 5x\rcpu usage_user=1,usage_idle=2\n", 63, &o);
	assert_int_equal(o.n, 1);
	decode(&s, "cpu usage_user=1,usage_idle=2 x\r\ncpu usage_user=1,usage_idle=2\n", 63, &o);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.r[1], WEIR_LP_BAD_MAX);

	/* the datagram as a whole: the reference rejects it, at the first bad entry */
	const char *at = NULL;
	assert_int_equal(weir_lp_validate(text, sizeof(text) - 1, WEIR_LP_NS, &at), WEIR_BAD_lp_bad_value);
	assert_true(at > strstr(text, "usage_user=x") && at < strstr(text, "host=c"));
	assert_int_equal(weir_lp_validate("a f=1\n\nb f=2\n", 13, WEIR_LP_NS, NULL), WEIR_LP_BAD_MAX);
	assert_int_equal(weir_lp_validate("a,x=1,y=2,x=3 f=1", 17, WEIR_LP_NS, NULL), WEIR_BAD_lp_duplicate_tag);
	assert_int_equal(weir_lp_validate("", 0, WEIR_LP_NS, NULL), WEIR_LP_BAD_MAX);
	assert_int_equal(weir_lp_validate("a f=1 1000", 10, WEIR_LP_S, NULL), WEIR_LP_BAD_MAX);
	assert_int_equal(weir_lp_validate("a f=1 10000000000", 17, WEIR_LP_S, NULL), WEIR_BAD_lp_bad_time);
}

static void
key_hash(void **state)
{
	static const char *const ab[] = { "host", "a", "region", "r1" };
	static const char *const ab2[] = { "host", "a", "region", "r2" };
	static const char *const only_host[] = { "host", "a" };
	struct weir_lp_schema all, sel;
	struct weir_lp_event e1, e2;

	(void)state;
	cpu_schema(&all, false, WEIR_LP_NS);
	assert_int_equal(one(&all, "cpu,host=a,region=r1 usage_user=1,usage_idle=2", &e1), WEIR_LP_BAD_MAX);
	assert_int_equal(one(&all, "cpu,region=r1,host=a usage_idle=2,usage_user=1", &e2), WEIR_LP_BAD_MAX);
	assert_true(e1.key == e2.key);
	assert_true(e1.key == key_of("cpu", 2, ab));
	assert_true(e1.v[0] == e2.v[0] && e1.v[1] == e2.v[1]);
	assert_int_equal(one(&all, "cpu,host=a,region=r2 usage_user=1,usage_idle=2", &e2), WEIR_LP_BAD_MAX);
	assert_true(e2.key == key_of("cpu", 2, ab2) && e2.key != e1.key);
	/* escapes are undone before hashing */
	assert_int_equal(one(&all, "cpu,host=\\a,region=r1 usage_user=1,usage_idle=2", &e2), WEIR_LP_BAD_MAX);
	assert_true(e2.key != e1.key);                       /* "\a" stays "\a" */
	assert_int_equal(one(&all, "cpu,host\\ x=a usage_user=1,usage_idle=2", &e2), WEIR_LP_BAD_MAX);
	static const char *const hx[] = { "host x", "a" };
	assert_true(e2.key == key_of("cpu", 1, hx));
	assert_int_equal(one(&all, "cpu usage_user=1,usage_idle=2", &e2), WEIR_LP_BAD_MAX);
	assert_true(e2.key == key_of("cpu", 0, NULL));

	/* a tag list: only those tags, in sorted order, whatever else the line has */
	weir_lp_schema_init(&sel, WEIR_LP_NS);
	assert_int_equal(weir_lp_schema_key_tag(&sel, "host"), 0);
	assert_int_equal(weir_lp_schema_key_tag(&sel, "host"), -EEXIST);
	assert_int_equal(one(&sel, "cpu,region=r1,host=a,z=9 f=1", &e1), WEIR_LP_BAD_MAX);
	assert_int_equal(one(&sel, "cpu,host=a f=1", &e2), WEIR_LP_BAD_MAX);
	assert_true(e1.key == e2.key && e1.key == key_of("cpu", 1, only_host));
	assert_int_equal(weir_lp_schema_key_tag(&sel, "dc"), 0);
	assert_int_equal(one(&sel, "cpu,dc=x,region=r1,host=a f=1", &e1), WEIR_LP_BAD_MAX);
	static const char *const dh[] = { "dc", "x", "host", "a" };
	assert_true(e1.key == key_of("cpu", 2, dh));
	assert_int_equal(one(&sel, "cpu,region=r1,host=a f=1", &e1), WEIR_BAD_lp_missing_tag);
	assert_int_equal(one(&sel, "cpu,dc=x f=1", &e1), WEIR_BAD_lp_missing_tag);
	assert_int_equal(one(&sel, "cpu f=1", &e1), WEIR_BAD_lp_missing_tag);
	/* the measurement is part of the key */
	assert_int_equal(one(&sel, "mem,dc=x,host=a f=1", &e2), WEIR_LP_BAD_MAX);
	assert_int_equal(one(&sel, "cpu,dc=x,host=a f=1", &e1), WEIR_LP_BAD_MAX);
	assert_true(e1.key != e2.key);
}

static void
reasons(void **state)
{
	struct weir_lp_schema s, t;
	struct weir_lp_event e;
	char many[2048];
	int n;

	(void)state;
	cpu_schema(&s, true, WEIR_LP_NS);
	assert_reason(&s, "cpu,host=a,region=b usage_user=1,usage_idle=2 5", WEIR_LP_BAD_MAX);
	assert_reason(&s, "cpu,host=a,region=b usage_user=1,usage_idle=2 x", WEIR_BAD_lp_syntax);
	assert_reason(&s, "cpu,host=\xff,region=b usage_user=1,usage_idle=2", WEIR_BAD_lp_bad_utf8);
	assert_reason(&s, "cpu,host=a,region=b usage_user=1z,usage_idle=2", WEIR_BAD_lp_bad_value);
	assert_reason(&s, "cpu,host=a,region=b usage_user=1,usage_idle=1e999", WEIR_BAD_lp_value_range);
	assert_reason(&s, "cpu,host=a,region=b usage_user=1,usage_idle=2 99999999999999999999", WEIR_BAD_lp_bad_time);
	assert_reason(&s, "mem,host=a,region=b usage_user=1,usage_idle=2", WEIR_BAD_lp_other_measurement);
	/* grammar first: a bad line of another measurement is bad */
	assert_reason(&s, "mem,host=a usage_user=1,", WEIR_BAD_lp_syntax);
	assert_reason(&s, "cpu,host=a,region=b,host=c usage_user=1,usage_idle=2", WEIR_BAD_lp_duplicate_tag);
	n = snprintf(many, sizeof(many), "cpu,host=a,region=b");
	for (int i = 0; i < WEIR_LP_MAX_TAGS; i++)
		n += snprintf(many + n, sizeof(many) - (size_t)n, ",t%02d=v", i);
	snprintf(many + n, sizeof(many) - (size_t)n, " usage_user=1,usage_idle=2");
	assert_reason(&s, many, WEIR_BAD_lp_too_many_tags);
	assert_reason(&s, "cpu,host=a usage_user=1,usage_idle=2", WEIR_BAD_lp_missing_tag);
	assert_reason(&s, "cpu,host=a,region=b usage_user=1", WEIR_BAD_lp_missing_field);
	assert_reason(&s, "cpu,host=a,region=b usage_user=1,usage_idle=\"x\"", WEIR_BAD_lp_field_type);
	assert_reason(&s, "cpu,host=a,region=b usage_user=1,usage_idle=t", WEIR_BAD_lp_field_type);
	assert_reason(&s, "cpu,host=a,region=b usage_user=1,usage_idle=2 4611686018427387905", WEIR_BAD_lp_time_range);
	assert_reason(&s, "cpu,host=a,region=b usage_user=1,usage_idle=2 -4611686018427387905", WEIR_BAD_lp_time_range);
	assert_reason(&s, "cpu,host=a,region=b usage_user=1,usage_idle=2 4611686018427387904", WEIR_LP_BAD_MAX);
	/* order among schema reasons: as listed */
	assert_reason(&s, "cpu,host=a usage_user=\"x\"", WEIR_BAD_lp_missing_tag);
	assert_reason(&s, "cpu,host=a,region=b usage_user=\"x\"", WEIR_BAD_lp_missing_field);
	/* undeclared fields: ignored, but checked */
	assert_reason(&s, "cpu,host=a,region=b usage_user=1,x=\"s\",usage_idle=2,y=t", WEIR_LP_BAD_MAX);
	assert_reason(&s, "cpu,host=a,region=b usage_user=1,usage_idle=2,y=1e400", WEIR_BAD_lp_value_range);
	/* a repeated field: the last counts */
	assert_int_equal(one(&s, "cpu,host=a,region=b usage_user=1,usage_idle=2,usage_user=3", &e), WEIR_LP_BAD_MAX);
	assert_true(f64(e.v[0]) == 3);

	/* field types */
	weir_lp_schema_init(&t, WEIR_LP_NS);
	assert_int_equal(weir_lp_schema_field(&t, "i", WEIR_F_I64), 0);
	assert_int_equal(weir_lp_schema_field(&t, "u", WEIR_F_U64), 1);
	assert_int_equal(weir_lp_schema_field(&t, "f", WEIR_F_F64), 2);
	assert_int_equal(one(&t, "m i=-5i,u=5u,f=2.5", &e), WEIR_LP_BAD_MAX);
	assert_int_equal((int64_t)e.v[0], -5);
	assert_int_equal(e.v[1], 5);
	assert_true(f64(e.v[2]) == 2.5);
	assert_int_equal(one(&t, "m i=9223372036854775807u,u=9223372036854775807i,f=-9007199254740992i", &e),
			 WEIR_LP_BAD_MAX);
	assert_int_equal((int64_t)e.v[0], INT64_MAX);
	assert_int_equal(e.v[1], (uint64_t)INT64_MAX);
	assert_true(f64(e.v[2]) == -9007199254740992.0);
	assert_int_equal(one(&t, "m i=1i,u=1u,f=18446744073709549568u", &e), WEIR_LP_BAD_MAX);
	assert_true(f64(e.v[2]) == 18446744073709549568.0);
	assert_reason(&t, "m i=1,u=1u,f=1", WEIR_BAD_lp_field_type);            /* float into i64 */
	assert_reason(&t, "m i=1i,u=1,f=1", WEIR_BAD_lp_field_type);            /* float into u64 */
	assert_reason(&t, "m i=1i,u=-1i,f=1", WEIR_BAD_lp_field_type);          /* negative into u64 */
	assert_reason(&t, "m i=9223372036854775808u,u=1u,f=1", WEIR_BAD_lp_field_type);
	assert_reason(&t, "m i=1i,u=1u,f=9007199254740993i", WEIR_BAD_lp_field_type); /* not exact */
	assert_reason(&t, "m i=1i,u=1u,f=18446744073709551615u", WEIR_BAD_lp_field_type);
	assert_reason(&t, "m i=1i,u=1u,f=\"1\"", WEIR_BAD_lp_field_type);
	assert_reason(&t, "m i=t,u=1u,f=1", WEIR_BAD_lp_field_type);

	/* the schema builder */
	assert_int_equal(weir_lp_schema_field(&t, "i", WEIR_F_F64), -EEXIST);
	assert_int_equal(weir_lp_schema_field(&t, "", WEIR_F_F64), -EINVAL);
	assert_int_equal(weir_lp_schema_field(&t, "a\tb", WEIR_F_F64), -EINVAL);
	assert_int_equal(weir_lp_schema_field(&t, "\xff", WEIR_F_F64), -EINVAL);
	assert_int_equal(weir_lp_schema_field(&t, "x", (enum weir_ftype)7), -EINVAL);
	assert_int_equal(weir_lp_schema_measurement(&t, "#x"), -EINVAL);
	for (int i = 3; i < WEIR_MAX_FIELDS; i++) {
		char nm[8];
		snprintf(nm, sizeof(nm), "g%d", i);
		assert_int_equal(weir_lp_schema_field(&t, nm, WEIR_F_I64), i);
	}
	assert_int_equal(weir_lp_schema_field(&t, "full", WEIR_F_I64), -ENOSPC);
	/* a declared name with a comma or space matches the escaped key */
	weir_lp_schema_init(&t, WEIR_LP_NS);
	assert_int_equal(weir_lp_schema_measurement(&t, "my cpu"), 0);
	assert_int_equal(weir_lp_schema_field(&t, "a,b c=d", WEIR_F_I64), 0);
	assert_int_equal(one(&t, "my\\ cpu a\\,b\\ c\\=d=3i", &e), WEIR_LP_BAD_MAX);
	assert_int_equal(e.v[0], 3);
	assert_reason(&t, "my\\ cpu a=3i", WEIR_BAD_lp_missing_field);
	/* no field declared, any measurement: every good line is an event */
	weir_lp_schema_init(&t, WEIR_LP_NS);
	assert_reason(&t, "x s=\"a\"", WEIR_LP_BAD_MAX);

	/* names: unique, described */
	for (int i = 0; i < WEIR_LP_BAD_MAX; i++) {
		assert_non_null(weir_lp_bad_name[i]);
		assert_true(strlen(weir_lp_bad_desc[i]) > 10);
		assert_memory_equal(weir_lp_bad_name[i], "lp_", 3);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(weir_lp_bad_name[i], weir_lp_bad_name[j]);
	}
}

static void
precision(void **state)
{
	struct weir_lp_schema s;
	struct weir_lp_event e;

	(void)state;
	assert_int_equal(weir_lp_parse_prec("ns"), WEIR_LP_NS);
	assert_int_equal(weir_lp_parse_prec("us"), WEIR_LP_US);
	assert_int_equal(weir_lp_parse_prec("\xc2\xb5s"), WEIR_LP_US);
	assert_int_equal(weir_lp_parse_prec("ms"), WEIR_LP_MS);
	assert_int_equal(weir_lp_parse_prec("s"), WEIR_LP_S);
	assert_int_equal(weir_lp_parse_prec("m"), -1);

	static const struct { int prec; const char *t; int64_t ns; int r; } c[] = {
		{ WEIR_LP_S, "1700000000", INT64_C(1700000000000000000), WEIR_LP_BAD_MAX },
		{ WEIR_LP_MS, "1700000000123", INT64_C(1700000000123000000), WEIR_LP_BAD_MAX },
		{ WEIR_LP_US, "-1700000000123456", INT64_C(-1700000000123456000), WEIR_LP_BAD_MAX },
		{ WEIR_LP_NS, "-9223372036854775808", 0, WEIR_BAD_lp_time_range },
		{ WEIR_LP_S, "9223372037", 0, WEIR_BAD_lp_bad_time },          /* x 1e9 overflows */
		{ WEIR_LP_S, "-9223372037", 0, WEIR_BAD_lp_bad_time },
		{ WEIR_LP_S, "9223372036", 0, WEIR_BAD_lp_time_range },        /* fits int64, > 2^62 */
		{ WEIR_LP_S, "4611686018", INT64_C(4611686018000000000), WEIR_LP_BAD_MAX },
		{ WEIR_LP_MS, "9223372036855", 0, WEIR_BAD_lp_bad_time },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char text[96];
		weir_lp_schema_init(&s, (enum weir_lp_prec)c[i].prec);
		snprintf(text, sizeof(text), "m f=1 %s", c[i].t);
		int r = one(&s, text, &e);
		if (r != c[i].r)
			fprintf(stderr, "%s: %s, expected %s\n", text, rname(r), rname(c[i].r));
		assert_int_equal(r, c[i].r);
		if (r == WEIR_LP_BAD_MAX) {
			assert_int_equal(e.time, c[i].ns);
			assert_true(e.has_time);
		}
	}
	/* no timestamp: the arrival time, rounded down to the precision */
	weir_lp_schema_init(&s, WEIR_LP_MS);
	assert_int_equal(one(&s, "m f=1", &e), WEIR_LP_BAD_MAX);
	assert_false(e.has_time);
	assert_int_equal(e.time, INT64_C(1700000000123000000));
	assert_int_equal(weir_lp_default_time(-1, WEIR_LP_S), -INT64_C(1000000000));
	assert_int_equal(weir_lp_default_time(-1000000000, WEIR_LP_S), -INT64_C(1000000000));
	assert_int_equal(weir_lp_default_time(INT64_MIN, WEIR_LP_S), INT64_C(-9223372036000000000));
	assert_int_equal(weir_lp_default_time(INT64_MAX, WEIR_LP_NS), INT64_MAX);
}

/* A 9000-byte datagram of telegraf lines, one bad in the middle. */
static void
jumbo(void **state)
{
	static char text[9001];
	static struct out o;
	struct weir_lp_schema s;
	int n = 0, lines = 0;

	(void)state;
	cpu_schema(&s, true, WEIR_LP_NS);
	while (n < 9000 - 120) {
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "cpu,host=server%02d,region=us-west usage_user=%d.5,usage_system=3.25,"
			      "usage_idle=84.25 %lld\n", lines % 100, lines,
			      (long long)(INT64_C(1700000000000000000) + lines));
		lines++;
	}
	char *bad_line = strchr(text + 4000, '\n') + 1;
	strstr(bad_line, "usage_user=")[11] = 'X';        /* one bad value in the middle */
	memset(text + n, ' ', 9000 - (size_t)n);          /* pad with blanks */
	text[8999] = '\n';
	decode(&s, text, 9000, &o);
	assert_int_equal(o.n, lines);
	int bad = 0;
	for (int i = 0; i < o.n; i++) {
		if (o.r[i] != WEIR_LP_BAD_MAX) {
			bad++;
			continue;
		}
		assert_int_equal(o.ev[i].time, INT64_C(1700000000000000000) + i);
		assert_true(f64(o.ev[i].v[0]) == i + 0.5 && f64(o.ev[i].v[1]) == 84.25);
	}
	assert_int_equal(bad, 1);
}

/* ---- the reference corpus ------------------------------------------------------------ */

/* cJSON keeps numbers as doubles and strings as C strings; the corpus has int64 times
 * and strings with NUL bytes.  So the JSON text is scanned once for its literals, in
 * document order, and the tree's nodes point at them: a number's valuestring holds
 * its literal, a string's valueint indexes the decoded bytes. */
struct jstr {
	char *p;
	size_t len;
};
static struct jstr *jstrs;
static char **jnums;
static size_t njstr, njnum, capstr, capnum;

static int
hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
}

static size_t
put_utf8(char *o, uint32_t c)
{
	if (c < 0x80)
		return o[0] = (char)c, 1;
	if (c < 0x800)
		return o[0] = (char)(0xc0 | c >> 6), o[1] = (char)(0x80 | (c & 0x3f)), 2;
	if (c < 0x10000)
		return o[0] = (char)(0xe0 | c >> 12), o[1] = (char)(0x80 | ((c >> 6) & 0x3f)),
		       o[2] = (char)(0x80 | (c & 0x3f)), 3;
	return o[0] = (char)(0xf0 | c >> 18), o[1] = (char)(0x80 | ((c >> 12) & 0x3f)),
	       o[2] = (char)(0x80 | ((c >> 6) & 0x3f)), o[3] = (char)(0x80 | (c & 0x3f)), 4;
}

/* Decode the JSON string starting after the quote at t[i]; returns the index after
 * the closing quote. */
static size_t
json_string(const char *t, size_t n, size_t i, struct jstr *out)
{
	size_t k = 0, j = i;
	char *o;

	while (j < n && t[j] != '"')                     /* decoded is never longer */
		j += t[j] == '\\' ? 2 : 1;
	o = malloc(j - i + 1);

	while (i < n && t[i] != '"') {
		if (t[i] != '\\') {
			o[k++] = t[i++];
			continue;
		}
		char c = t[i + 1];
		i += 2;
		switch (c) {
		case 'b': o[k++] = '\b'; break;
		case 'f': o[k++] = '\f'; break;
		case 'n': o[k++] = '\n'; break;
		case 'r': o[k++] = '\r'; break;
		case 't': o[k++] = '\t'; break;
		case 'u': {
			uint32_t u = 0;
			for (int j = 0; j < 4; j++)
				u = u << 4 | (uint32_t)hexval(t[i + j]);
			i += 4;
			if (u >= 0xd800 && u < 0xdc00 && t[i] == '\\' && t[i + 1] == 'u') {
				uint32_t l = 0;
				for (int j = 0; j < 4; j++)
					l = l << 4 | (uint32_t)hexval(t[i + 2 + j]);
				if (l >= 0xdc00 && l < 0xe000) {
					u = 0x10000 + ((u - 0xd800) << 10) + (l - 0xdc00);
					i += 6;
				}
			}
			k += put_utf8(o + k, u);
			break;
		}
		default: o[k++] = c; break;
		}
	}
	o[k] = '\0';
	out->p = o;
	out->len = k;
	return i + 1;
}

static void
json_literals(const char *t, size_t n)
{
	for (size_t i = 0; i < n;) {
		if (t[i] == '"') {
			struct jstr s;
			size_t j = json_string(t, n, i + 1, &s), k = j;
			while (k < n && (t[k] == ' ' || t[k] == '\n' || t[k] == '\r' || t[k] == '\t'))
				k++;
			if (k < n && t[k] == ':') {          /* an object key */
				free(s.p);
			} else {
				if (njstr == capstr)
					jstrs = realloc(jstrs, (capstr = capstr * 2 + 64) * sizeof(*jstrs));
				jstrs[njstr++] = s;
			}
			i = j;
		} else if (t[i] == '-' || (t[i] >= '0' && t[i] <= '9')) {
			size_t j = i;
			while (j < n && strchr("0123456789+-.eE", t[j]))
				j++;
			if (njnum == capnum)
				jnums = realloc(jnums, (capnum = capnum * 2 + 64) * sizeof(*jnums));
			jnums[njnum++] = strndup(t + i, j - i);
			i = j;
		} else {
			i++;
		}
	}
}

static void
json_attach(cJSON *c, size_t *is, size_t *in)
{
	for (; c; c = c->next) {
		if (cJSON_IsNumber(c)) {
			if (*in < njnum)
				c->valuestring = strdup(jnums[*in]);
			(*in)++;
		} else if (cJSON_IsString(c)) {
			c->valueint = (int)(*is)++;
		}
		json_attach(c->child, is, in);
	}
}

static const struct jstr *
jstr_of(const cJSON *c)
{
	return cJSON_IsString(c) && (size_t)c->valueint < njstr ? &jstrs[c->valueint] : NULL;
}

static const char *
jnum_of(const cJSON *c)
{
	return cJSON_IsNumber(c) ? c->valuestring : NULL;
}

static size_t
base64(const char *s, size_t n, char *o)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *p = s[i] ? strchr(a, s[i]) : NULL;
		if (!p)
			continue;                            /* '=' padding */
		acc = acc << 6 | (uint32_t)(p - a);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[k++] = (char)(acc >> bits);
		}
	}
	return k;
}

/* One decoded metric, as the reference's corpus harness builds it. */
struct kv {
	char *k, *v;
	size_t kl, vl;
	struct weir_lp_value val;
};
struct metric {
	char *name;
	size_t nl;
	struct kv *tags, *fields;
	int ntags, nfields;
	int64_t time;
};

static char *
dup_unesc(const struct weir_lp_tok *t, size_t *len)
{
	char *b = malloc(t->len + 1);
	*len = weir_lp_unescape(t, b, t->len);
	return b;
}

static int
kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	int r = memcmp(x->k, y->k, x->kl < y->kl ? x->kl : y->kl);
	return r ? r : (x->kl > y->kl) - (x->kl < y->kl);
}

static void
metrics_free(struct metric *m, int n)
{
	for (int i = 0; i < n; i++) {
		free(m[i].name);
		for (int j = 0; j < m[i].ntags; j++)
			free(m[i].tags[j].k), free(m[i].tags[j].v);
		for (int j = 0; j < m[i].nfields; j++)
			free(m[i].fields[j].k), free(m[i].fields[j].v);
		free(m[i].tags);
		free(m[i].fields);
	}
	free(m);
}

/* Decode all of text as the reference harness does (any error, or a repeated tag key,
 * fails the whole); returns the metric count, or -1 with *why. */
static int
decode_all(const char *text, size_t len, enum weir_lp_prec prec, int64_t deftime,
	   struct metric **out, const char **why)
{
	struct weir_lp_parser ps;
	struct weir_lp_tok name, k, v;
	struct weir_lp_value val;
	struct metric *ms = NULL;
	int n = 0, r;

	weir_lp_init(&ps, text, len);
	while (weir_lp_next(&ps)) {
		struct metric *m;
		ms = realloc(ms, (size_t)(n + 1) * sizeof(*ms));
		m = &ms[n++];
		memset(m, 0, sizeof(*m));
		if (weir_lp_measurement(&ps, &name) < 0)
			goto bad;
		m->name = dup_unesc(&name, &m->nl);
		while ((r = weir_lp_tag(&ps, &k, &v)) > 0) {
			m->tags = realloc(m->tags, (size_t)(m->ntags + 1) * sizeof(*m->tags));
			struct kv *t = &m->tags[m->ntags++];
			t->k = dup_unesc(&k, &t->kl);
			t->v = dup_unesc(&v, &t->vl);
		}
		if (r < 0)
			goto bad;
		if (m->ntags > 1)
			qsort(m->tags, (size_t)m->ntags, sizeof(*m->tags), kv_cmp);
		for (int i = 1; i < m->ntags; i++)
			if (!kv_cmp(&m->tags[i - 1], &m->tags[i])) {
				*why = weir_lp_bad_name[WEIR_BAD_lp_duplicate_tag];
				metrics_free(ms, n);
				return -1;
			}
		while ((r = weir_lp_field(&ps, &k, &val)) > 0) {
			m->fields = realloc(m->fields, (size_t)(m->nfields + 1) * sizeof(*m->fields));
			struct kv *f = &m->fields[m->nfields++];
			f->k = dup_unesc(&k, &f->kl);
			f->val = val;
			f->v = val.type == WEIR_LP_STRING ? dup_unesc(&val.s, &f->vl) : NULL;
		}
		if (r < 0)
			goto bad;
		r = weir_lp_time(&ps, prec, &m->time);
		if (r < 0)
			goto bad;
		if (r == 0)
			m->time = weir_lp_default_time(deftime, prec);
	}
	*out = ms;
	return n;
bad:
	*why = weir_lp_bad_name[ps.err];
	metrics_free(ms, n);
	return -1;
}

static bool
jstr_eq(const cJSON *c, const char *p, size_t n)
{
	const struct jstr *s = jstr_of(c);
	return s && s->len == n && !memcmp(s->p, p, n);
}

/* Compare one decoded metric with the expected JSON object; NULL or what differs. */
static const char *
metric_diff(const struct metric *m, const cJSON *x, char *why, size_t wl)
{
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(x, "tags");
	const cJSON *fields = cJSON_GetObjectItemCaseSensitive(x, "fields");
	const char *tm = jnum_of(cJSON_GetObjectItemCaseSensitive(x, "time"));
	int i;

	if (!jstr_eq(cJSON_GetObjectItemCaseSensitive(x, "name"), m->name, m->nl))
		return "name";
	if (!tm || strtoll(tm, NULL, 10) != m->time) {
		snprintf(why, wl, "time %lld, expected %s", (long long)m->time, tm ? tm : "?");
		return why;
	}
	if (cJSON_GetArraySize(tags) != m->ntags)
		return "tag count";
	i = 0;
	for (const cJSON *t = tags ? tags->child : NULL; t; t = t->next, i++)
		if (!jstr_eq(cJSON_GetObjectItemCaseSensitive(t, "key"), m->tags[i].k, m->tags[i].kl) ||
		    !jstr_eq(cJSON_GetObjectItemCaseSensitive(t, "value"), m->tags[i].v, m->tags[i].vl))
			return "tag";
	if (cJSON_GetArraySize(fields) != m->nfields)
		return "field count";
	i = 0;
	for (const cJSON *f = fields ? fields->child : NULL; f; f = f->next, i++) {
		const struct kv *g = &m->fields[i];
		const cJSON *val = cJSON_GetObjectItemCaseSensitive(f, "value");
		const cJSON *y = val ? val->child : NULL;
		if (!jstr_eq(cJSON_GetObjectItemCaseSensitive(f, "key"), g->k, g->kl))
			return "field key";
		if (!y)
			return "field value missing in the corpus";
		static const char *const tn[] = { "float", "int", "uint", "bool", "string" };
		if (strcmp(y->string, tn[g->val.type])) {
			snprintf(why, wl, "field %d type %s, expected %s", i, tn[g->val.type], y->string);
			return why;
		}
		bool ok;
		switch (g->val.type) {
		case WEIR_LP_FLOAT: {
			/* ==, as the reference's Value.Equal: "-0." parses to -0 (Go's ParseFloat
			 * keeps the sign, so do we) while the corpus writes 0 */
			double d = strtod(jnum_of(y) ? jnum_of(y) : "nan", NULL);
			ok = d == g->val.v.f;
			if (!ok)
				snprintf(why, wl, "field %d %.17g, expected %s", i, g->val.v.f, jnum_of(y));
			break;
		}
		case WEIR_LP_INT:
			ok = jnum_of(y) && strtoll(jnum_of(y), NULL, 10) == g->val.v.i;
			break;
		case WEIR_LP_UINT:
			ok = jnum_of(y) && strtoull(jnum_of(y), NULL, 10) == g->val.v.u;
			break;
		case WEIR_LP_BOOL:
			ok = cJSON_IsBool(y) && cJSON_IsTrue(y) == g->val.v.b;
			break;
		default:
			ok = jstr_eq(y, g->v, g->vl);
			break;
		}
		if (!ok)
			return g->val.type == WEIR_LP_FLOAT ? why : "field value";
	}
	return NULL;
}

static void
print_text(const char *p, size_t n)
{
	fputc('"', stderr);
	for (size_t i = 0; i < n && i < 300; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fprintf(stderr, n > 300 ? "\"...\n" : "\"\n");
}

static int
corpus(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *json;
	long sz;
	cJSON *root, *dec;
	int cases = 0, acc = 0, rej = 0, bad = 0;
	size_t is = 0, in = 0;

	if (!f) {
		printf("skip: the line protocol corpus %s is not there (%s)\n", path, strerror(errno));
		return 77;
	}
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	rewind(f);
	json = malloc((size_t)sz + 1);
	if (fread(json, 1, (size_t)sz, f) != (size_t)sz) {
		fprintf(stderr, "%s: short read\n", path);
		return 1;
	}
	fclose(f);
	json[sz] = '\0';
	json_literals(json, (size_t)sz);
	root = cJSON_Parse(json);
	if (!root) {
		fprintf(stderr, "%s: not JSON\n", path);
		return 1;
	}
	json_attach(root, &is, &in);
	if (is != njstr || in != njnum) {
		fprintf(stderr, "%s: %zu/%zu strings, %zu/%zu numbers matched\n", path, is, njstr, in, njnum);
		return 1;
	}
	dec = cJSON_GetObjectItemCaseSensitive(root, "decode");
	for (const cJSON *c = dec ? dec->child : NULL; c; c = c->next) {
		const cJSON *inp = cJSON_GetObjectItemCaseSensitive(c, "input");
		const cJSON *outp = cJSON_GetObjectItemCaseSensitive(c, "output");
		const cJSON *text = cJSON_GetObjectItemCaseSensitive(inp, "text");
		const cJSON *res = cJSON_GetObjectItemCaseSensitive(outp, "result");
		const struct jstr *pr = jstr_of(cJSON_GetObjectItemCaseSensitive(inp, "precision"));
		const char *dt = jnum_of(cJSON_GetObjectItemCaseSensitive(inp, "defaultTime"));
		const struct jstr *ts;
		char *buf, why[160] = "";
		const char *whyp = NULL, *diff = NULL, *verr = NULL;
		size_t len;
		int prec, n;
		struct metric *ms = NULL;

		cases++;
		if (cJSON_IsObject(text))
			text = cJSON_GetObjectItemCaseSensitive(text, "binary");
		ts = jstr_of(text);
		if (!ts || !pr || !dt || !outp) {
			fprintf(stderr, "%s: case %s is not understood\n", path, c->string);
			return 1;
		}
		buf = malloc(ts->len + 1);
		if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(inp, "text"))) {
			memcpy(buf, ts->p, ts->len);
			len = ts->len;
		} else {
			len = base64(ts->p, ts->len, buf);
		}
		char pbuf[8];
		snprintf(pbuf, sizeof(pbuf), "%.*s", (int)pr->len - 1, pr->p + 1);   /* "1ns" -> "ns" */
		prec = weir_lp_parse_prec(pbuf);
		if (prec < 0 || pr->p[0] != '1') {
			fprintf(stderr, "%s: case %s: precision %.*s\n", path, c->string, (int)pr->len, pr->p);
			return 1;
		}
		n = decode_all(buf, len, (enum weir_lp_prec)prec, strtoll(dt, NULL, 10), &ms, &whyp);
		int v = weir_lp_validate(buf, len, (enum weir_lp_prec)prec, NULL);
		if ((v == WEIR_LP_BAD_MAX) != (n >= 0))
			verr = "weir_lp_validate disagrees with the decode";
		if (!res) {
			if (n >= 0)
				diff = "accepted, the reference rejects it";
			else
				rej++;
		} else if (n < 0) {
			snprintf(why, sizeof(why), "rejected (%s), the reference accepts it", whyp);
			diff = why;
		} else if (cJSON_GetArraySize(res) != n) {
			snprintf(why, sizeof(why), "%d metrics, expected %d", n, cJSON_GetArraySize(res));
			diff = why;
		} else {
			int i = 0;
			for (const cJSON *m = res->child; m && !diff; m = m->next, i++)
				diff = metric_diff(&ms[i], m, why, sizeof(why));
			if (!diff)
				acc++;
		}
		if (!diff && verr)
			diff = verr;
		if (diff) {
			if (bad++ < 20) {
				fprintf(stderr, "MISMATCH %s: %s; text ", c->string, diff);
				print_text(buf, len);
				if (cJSON_GetObjectItemCaseSensitive(outp, "error"))
					fprintf(stderr, "    reference: %s\n",
						jstr_of(cJSON_GetObjectItemCaseSensitive(outp, "error"))->p);
			}
		}
		if (n >= 0)
			metrics_free(ms, n);
		free(buf);
	}
	printf("line protocol corpus %s: %d cases: %d accepted agree, %d rejected agree, %d mismatches\n",
	       path, cases, acc, rej, bad);
	cJSON_Delete(root);
	for (size_t i = 0; i < njstr; i++)
		free(jstrs[i].p);
	for (size_t i = 0; i < njnum; i++)
		free(jnums[i]);
	free(jstrs);
	free(jnums);
	free(json);
	return bad || cases == 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(basic_line), cmocka_unit_test(escaping), cmocka_unit_test(numbers), cmocka_unit_test(floats_vs_strtod),
		cmocka_unit_test(structure), cmocka_unit_test(lines), cmocka_unit_test(key_hash),
		cmocka_unit_test(reasons), cmocka_unit_test(precision), cmocka_unit_test(jumbo),
	};

	if (argc == 3 && !strcmp(argv[1], "--corpus"))
		return corpus(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
