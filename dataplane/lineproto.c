/* SPDX-License-Identifier: Apache-2.0
 * InfluxDB line protocol parser and line -> event mapping (lineproto.h).
 *
 * One pass over the bytes: byte classes from a 256-entry table, escapes and UTF-8
 * handled where a scan loop stops.  Numbers follow Go's strconv (the reference parses
 * with it): ParseInt/ParseUint base 10 for int, uint and time, ParseFloat for floats.
 */
#include "lineproto.h"

#include <errno.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL          /* header-only: no link dependency, inlined for short keys */
#include <xxhash.h>

const char *const weir_lp_bad_name[WEIR_LP_BAD_MAX] = {
#define X(n, d) #n,
	WEIR_LP_BAD_REASONS(X)
#undef X
};
const char *const weir_lp_bad_desc[WEIR_LP_BAD_MAX] = {
#define X(n, d) d,
	WEIR_LP_BAD_REASONS(X)
#undef X
};

const int64_t weir_lp_prec_ns[4] = { 1, 1000, 1000000, 1000000000 };

int
weir_lp_parse_prec(const char *s)
{
	if (!strcmp(s, "ns"))
		return WEIR_LP_NS;
	if (!strcmp(s, "us") || !strcmp(s, "\xc2\xb5s"))
		return WEIR_LP_US;
	if (!strcmp(s, "ms"))
		return WEIR_LP_MS;
	if (!strcmp(s, "s"))
		return WEIR_LP_S;
	return -1;
}

/* ---- byte classes ------------------------------------------------------------------- */

enum {
	C_MEAS = 0x01,   /* measurement byte: printable ASCII but space , \ */
	C_KEY  = 0x02,   /* tag key, tag value, field key: printable ASCII but space , = \ */
	C_FVAL = 0x04,   /* number or bool value: anything but , space CR LF */
	C_STR  = 0x08,   /* string value: ASCII but " \ */
	C_TIME = 0x10,   /* timestamp: - 0-9 */
	C_CMT  = 0x20,   /* comment: printable ASCII, space, bytes >= 0x80 */
	C_ESCM = 0x40,   /* escaped in a measurement: space , */
	C_ESCK = 0x80,   /* escaped in keys and tag values: space , = */
};
/* Bytes >= 0x80 are in no token class: the scan stops there and checks UTF-8. */

#define PRINT(c) ((c) > 0x20 && (c) < 0x7f)
#define CL(c)                                                                        \
	((PRINT(c) && (c) != ',' && (c) != '\\' ? C_MEAS : 0) |                       \
	 (PRINT(c) && (c) != ',' && (c) != '=' && (c) != '\\' ? C_KEY : 0) |          \
	 ((c) != ',' && (c) != ' ' && (c) != '\r' && (c) != '\n' ? C_FVAL : 0) |      \
	 ((c) < 0x80 && (c) != '"' && (c) != '\\' ? C_STR : 0) |                      \
	 ((c) == '-' || ((c) >= '0' && (c) <= '9') ? C_TIME : 0) |                    \
	 (((c) >= 0x20 && (c) < 0x7f) || (c) >= 0x80 ? C_CMT : 0) |                   \
	 ((c) == ' ' || (c) == ',' ? C_ESCM : 0) |                                    \
	 ((c) == ' ' || (c) == ',' || (c) == '=' ? C_ESCK : 0))
#define R4(b)  CL(b), CL((b) + 1), CL((b) + 2), CL((b) + 3)
#define R16(b) R4(b), R4((b) + 4), R4((b) + 8), R4((b) + 12)
static const uint8_t cls[256] = {
	R16(0x00), R16(0x10), R16(0x20), R16(0x30), R16(0x40), R16(0x50), R16(0x60), R16(0x70),
	R16(0x80), R16(0x90), R16(0xa0), R16(0xb0), R16(0xc0), R16(0xd0), R16(0xe0), R16(0xf0),
};

/* String escapes: \\ \" \n \r \t; the byte they stand for, 0 for none. */
static inline uint8_t
str_unesc(uint8_t c)
{
	switch (c) {
	case '\\': return '\\';
	case '"':  return '"';
	case 'n':  return '\n';
	case 'r':  return '\r';
	case 't':  return '\t';
	default:   return 0;
	}
}

/* Length of the UTF-8 sequence at p (lead byte >= 0x80), 0 if it is not a valid one
 * (overlong, surrogate, beyond U+10FFFF, truncated): Go's utf8.Valid. */
static unsigned
utf8_len(const uint8_t *p, const uint8_t *end)
{
	unsigned c = p[0], n;
	uint8_t lo = 0x80, hi = 0xbf;

	if (c < 0xc2)
		return 0;
	if (c < 0xe0) {
		n = 2;
	} else if (c < 0xf0) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c < 0xf5) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (unsigned i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

enum { F_ESC = 1, F_BADUTF8 = 2 };

/* Scan a measurement or key from p: bytes of class ok, a backslash (with the byte
 * after it when that one is in class escc: an escape), UTF-8 sequences.  Returns
 * where it stops; F_ESC / F_BADUTF8 in *fl. */
static inline const uint8_t *
scan_tok(const uint8_t *p, const uint8_t *end, unsigned ok, unsigned escc, unsigned *fl)
{
	for (;;) {
		while (p < end && (cls[*p] & ok))
			p++;
		if (p == end)
			return p;
		if (*p == '\\') {
			/* a backslash escaping nothing stays, and the next byte is read as usual */
			if (p + 1 < end && (cls[p[1]] & escc)) {
				p += 2;
				*fl |= F_ESC;
			} else {
				p++;
			}
			continue;
		}
		if (*p < 0x80)
			return p;
		unsigned n = utf8_len(p, end);
		if (!n) {
			*fl |= F_BADUTF8;
			n = 1;
		}
		p += n;
	}
}

/* Scan a string value from p (after the opening quote) to its closing quote, or end. */
static inline const uint8_t *
scan_str(const uint8_t *p, const uint8_t *end, unsigned *fl)
{
	for (;;) {
		while (p < end && (cls[*p] & C_STR))
			p++;
		if (p == end || *p == '"')
			return p;
		if (*p == '\\') {
			if (p + 1 < end && str_unesc(p[1])) {
				p += 2;
				*fl |= F_ESC;
			} else {
				p++;
			}
			continue;
		}
		unsigned n = utf8_len(p, end);
		if (!n) {
			*fl |= F_BADUTF8;
			n = 1;
		}
		p += n;
	}
}

static inline const uint8_t *
take(const uint8_t *p, const uint8_t *end, unsigned ok)
{
	while (p < end && (cls[*p] & ok))
		p++;
	return p;
}

static inline const uint8_t *
skip_spaces(const uint8_t *p, const uint8_t *end)
{
	while (p < end && *p == ' ')
		p++;
	return p;
}

/* At a line end (end of input, LF, CR LF, CR at the end of input): consume it. */
static inline bool
take_eol(const uint8_t **pp, const uint8_t *end)
{
	const uint8_t *p = *pp;

	if (p == end)
		return true;
	if (*p == '\n') {
		*pp = p + 1;
		return true;
	}
	if (*p == '\r' && (p + 1 == end || p[1] == '\n')) {
		*pp = p + 1 == end ? p + 1 : p + 2;
		return true;
	}
	return false;
}

static inline void
mktok(struct weir_lp_tok *t, const uint8_t *s, const uint8_t *e, unsigned fl, uint8_t esc)
{
	t->p = (const char *)s;
	t->len = (uint32_t)(e - s);
	t->esc = fl & F_ESC ? esc : WEIR_LP_ESC_NONE;
}

/* memcmp for the short names of a line, inline: 8 bytes at a time, never past n. */
static inline int
cmp_bytes(const void *pa, const void *pb, size_t n)
{
	const uint8_t *a = pa, *b = pb;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t x, y;
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		if (x != y) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			x = __builtin_bswap64(x);
			y = __builtin_bswap64(y);
#endif
			return x < y ? -1 : 1;
		}
	}
	for (; i < n; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

/* ---- tokens ------------------------------------------------------------------------- */

/* The unescaped byte at raw offset *i of t (advancing *i), or -1 at the end. */
static inline int
unesc_next(const struct weir_lp_tok *t, uint32_t *i)
{
	const uint8_t *p = (const uint8_t *)t->p;
	uint8_t c;

	if (*i >= t->len)
		return -1;
	c = p[(*i)++];
	if (c != '\\' || t->esc == WEIR_LP_ESC_NONE || *i >= t->len)
		return c;
	uint8_t n = p[*i];
	switch (t->esc) {
	case WEIR_LP_ESC_MEAS:
		if (cls[n] & C_ESCM)
			return (*i)++, n;
		return c;
	case WEIR_LP_ESC_KEY:
		if (cls[n] & C_ESCK)
			return (*i)++, n;
		return c;
	default:
		if (str_unesc(n))
			return (*i)++, str_unesc(n);
		return c;
	}
}

size_t
weir_lp_unescape(const struct weir_lp_tok *t, char *buf, size_t cap)
{
	size_t n = 0;
	uint32_t i = 0;
	int c;

	if (t->esc == WEIR_LP_ESC_NONE) {
		if (cap && t->len)
			memcpy(buf, t->p, t->len < cap ? t->len : cap);
		return t->len;
	}
	while ((c = unesc_next(t, &i)) >= 0) {
		if (n < cap)
			buf[n] = (char)c;
		n++;
	}
	return n;
}

int
weir_lp_tok_cmp(const struct weir_lp_tok *a, const struct weir_lp_tok *b)
{
	if (a->esc == WEIR_LP_ESC_NONE && b->esc == WEIR_LP_ESC_NONE) {
		int r = cmp_bytes(a->p, b->p, a->len < b->len ? a->len : b->len);
		return r ? r : (a->len > b->len) - (a->len < b->len);
	}
	uint32_t i = 0, j = 0;
	for (;;) {
		int x = unesc_next(a, &i), y = unesc_next(b, &j);
		if (x != y || x < 0)
			return x - y;
	}
}

bool
weir_lp_tok_eq(const struct weir_lp_tok *t, const char *s, size_t n)
{
	if (t->esc == WEIR_LP_ESC_NONE)
		return t->len == n && !cmp_bytes(t->p, s, n);
	if (t->len < n)              /* escapes only shorten */
		return false;
	uint32_t i = 0;
	size_t k = 0;
	for (int c; (c = unesc_next(t, &i)) >= 0; k++)
		if (k == n || (uint8_t)s[k] != c)
			return false;
	return k == n;
}

/* The key: XXH3-64 of the canonical bytes, gathered in a stack buffer (streamed
 * through an XXH3 state only when a line's key is longer than the buffer). */
struct keybuf {
	size_t n;
	bool stream;
	uint8_t b[256];
	XXH3_state_t st;
};

static void
key_spill(struct keybuf *k)
{
	if (!k->stream) {
		XXH3_64bits_reset(&k->st);
		k->stream = true;
	}
	XXH3_64bits_update(&k->st, k->b, k->n);
	k->n = 0;
}

static inline void
key_byte(struct keybuf *k, uint8_t c)
{
	if (k->n == sizeof(k->b))
		key_spill(k);
	k->b[k->n++] = c;
}

static inline void
key_tok(struct keybuf *k, const struct weir_lp_tok *t, uint8_t sep)
{
	if (t->esc == WEIR_LP_ESC_NONE && k->n + t->len + 8 < sizeof(k->b)) {
		/* inline copy of a short name: 8 bytes at a time, never past its end */
		const char *p = t->p;
		uint8_t *o = k->b + k->n;
		uint32_t i = 0;
		for (; i + 8 <= t->len; i += 8)
			memcpy(o + i, p + i, 8);
		for (; i < t->len; i++)
			o[i] = (uint8_t)p[i];
		k->n += t->len;
		k->b[k->n++] = sep;
		return;
	}
	uint32_t i = 0;
	for (int c; (c = unesc_next(t, &i)) >= 0;)
		key_byte(k, (uint8_t)c);
	key_byte(k, sep);
}

static inline uint64_t
key_done(struct keybuf *k)
{
	if (!k->stream)
		return XXH3_64bits(k->b, k->n);
	XXH3_64bits_update(&k->st, k->b, k->n);
	return XXH3_64bits_digest(&k->st);
}

uint64_t
weir_lp_key_hash(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

/* Eight ASCII digits at p (p + 8 readable) as their value: true and *v, or false.
 * SWAR: every byte in 0x30..0x39, then digit pairs, quads and the eight combined
 * by three multiplications (4 cycles, against ~30 for a digit at a time). */
static inline bool
eight_digits(const uint8_t *p, uint64_t *v)
{
	uint64_t x;

	memcpy(&x, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	x = __builtin_bswap64(x);                     /* the first digit in the low byte */
#endif
	if (((x & UINT64_C(0xf0f0f0f0f0f0f0f0)) |
	     (((x + UINT64_C(0x0606060606060606)) & UINT64_C(0xf0f0f0f0f0f0f0f0)) >> 4)) !=
	    UINT64_C(0x3333333333333333))
		return false;
	x -= UINT64_C(0x3030303030303030);
	x = x * 10 + (x >> 8);                        /* even bytes: 2-digit values */
	x = ((x & UINT64_C(0x000000ff000000ff)) * (100 + (UINT64_C(1000000) << 32)) +
	     ((x >> 16) & UINT64_C(0x000000ff000000ff)) * (1 + (UINT64_C(10000) << 32))) >> 32;
	*v = x;
	return true;
}

/* ---- numbers (Go strconv semantics) ------------------------------------------------- */

enum { NUM_OK = 0, NUM_SYNTAX, NUM_RANGE };

/* ParseUint(s, 10, 64): decimal digits only, no sign. */
static inline int
parse_u64(const uint8_t *s, const uint8_t *e, uint64_t *out)
{
	uint64_t u = 0;

	if (s == e)
		return NUM_SYNTAX;
	for (; s < e; s++) {
		unsigned d = (unsigned)*s - '0';
		if (d > 9)
			return NUM_SYNTAX;
		if (__builtin_mul_overflow(u, 10, &u) || __builtin_add_overflow(u, d, &u))
			return NUM_RANGE;    /* as Go: range reported before later bad bytes */
	}
	*out = u;
	return NUM_OK;
}

/* ParseInt(s, 10, 64): [+-] digits. */
static inline int
parse_i64(const uint8_t *s, const uint8_t *e, int64_t *out)
{
	bool neg = false;
	uint64_t u;
	int r;

	if (s == e)
		return NUM_SYNTAX;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	r = parse_u64(s, e, &u);
	if (r != NUM_OK)
		return r;
	if (neg ? u > (UINT64_C(1) << 63) : u >= (UINT64_C(1) << 63))
		return NUM_RANGE;
	*out = neg ? (int64_t)(0 - u) : (int64_t)u;   /* 0 - 2^63 wraps to INT64_MIN */
	return NUM_OK;
}

/* Go's underscoreOK: '_' only between digits, or between the base prefix and a digit. */
static bool
underscore_ok(const uint8_t *s, const uint8_t *e)
{
	char saw = '^';
	bool hex = false;

	if (s < e && (*s == '-' || *s == '+'))
		s++;
	if (e - s >= 2 && s[0] == '0' && ((s[1] | 0x20) == 'b' || (s[1] | 0x20) == 'o' ||
					  (s[1] | 0x20) == 'x')) {
		hex = (s[1] | 0x20) == 'x';
		s += 2;
		saw = '0';
	}
	for (; s < e; s++) {
		if ((*s >= '0' && *s <= '9') || (hex && (*s | 0x20) >= 'a' && (*s | 0x20) <= 'f')) {
			saw = '0';
			continue;
		}
		if (*s == '_') {
			if (saw != '0')
				return false;
			saw = '_';
			continue;
		}
		if (saw == '_')
			return false;
		saw = '!';
	}
	return saw != '_';
}

static const double pow10tab[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

#if LDBL_MANT_DIG == 64 && defined(__x86_64__)
#define X87 1
static const long double pow10l[28] = {
	1e0L, 1e1L, 1e2L, 1e3L, 1e4L, 1e5L, 1e6L, 1e7L, 1e8L, 1e9L, 1e10L, 1e11L, 1e12L, 1e13L,
	1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L,
	1e26L, 1e27L,   /* 5^27 < 2^64: all exact in the x87 format */
};
#endif

/* m x 10^x (m exact, not 0) correctly rounded, without big numbers: true and *out,
 * or false when neither fast path decides.
 * - m < 2^53, |x| <= 22: both exact doubles, one rounding (Clinger).
 * - x87 (64-bit mantissa): m and 10^|x| (|x| <= 27) exact, one rounding to 64 bits,
 *   then to 53: right unless the 11 dropped bits are within one unit of the halfway
 *   point (0x3ff..0x401), where the first rounding may have crossed it.  The result is
 *   a normal double (1e-27 <= v < 1e47), so 53 bits is the whole story.
 * 17-digit values (telegraf's floats) take the second: ~10 ns, not strtod's ~150. */
static inline bool
fast_f64(uint64_t m, int64_t x, double *out)
{
	if (m >> 53 == 0 && x >= -22 && x <= 22) {
		*out = x < 0 ? (double)m / pow10tab[-x] : (double)m * pow10tab[x];
		return true;
	}
#ifdef X87
	if (x >= -27 && x <= 27) {
		long double l = (long double)m;
		uint64_t bits;
		l = x < 0 ? l / pow10l[-x] : l * pow10l[x];
		memcpy(&bits, &l, 8);                     /* the 64-bit mantissa */
		if ((bits & 0x7ff) - 0x3ff > 2) {
			*out = (double)l;
			return true;
		}
	}
#endif
	return false;
}

#define SLOW_DIGITS 800      /* significant digits kept (>= 768 decide any rounding) */

/* ParseFloat(s, 64) of a whole token: 0 and *out, NUM_SYNTAX, or NUM_RANGE (±inf).
 *
 * The common form, [-]digits[.digits] of at most 19 digits, in one loop.  Else as Go's
 * readFloat: sign, 0x prefix, mantissa digits (the first 19, or 16 hex, in m; trunc
 * if a non-zero one was dropped), '.', '_', exponent (capped as Go does, at the
 * first value >= 10000).  Then the fast paths, else strtod on a normalized copy
 * "0.DIGITSe<dp>" / "0xDIGITSp<exp>" of at most SLOW_DIGITS digits (a '1' appended
 * for dropped non-zero digits), which correctly rounds the same value. */
static int
parse_f64(const uint8_t *s, const uint8_t *e, double *out)
{
	const uint8_t *p = s, *digits;
	bool neg = false, hex = false, sawdot = false, sawdig = false, trunc = false, under = false;
	uint64_t m = 0;
	int64_t nd = 0, dp = 0;         /* 64 bits: a token may be 4 GiB of digits */
	int ndm = 0, maxm = 19, base = 10;
	double f;

	if (p < e && (*p == '+' || *p == '-'))
		neg = *p++ == '-';
	{
		const uint8_t *q = p, *f0;
		unsigned d;
		while (q < e && (d = (unsigned)*q - '0') < 10)
			m = m * 10 + d, q++;
		nd = q - p;
		f0 = q;
		if (q < e && *q == '.') {
			f0 = ++q;
			while (q < e && (d = (unsigned)*q - '0') < 10)
				m = m * 10 + d, q++;
			nd += q - f0;
		}
		if (q == e && nd > 0 && nd <= 19) {
			if (m == 0 || fast_f64(m, -(q - f0), &f)) {
				f = m == 0 ? 0.0 : f;
				*out = neg ? -f : f;
				return NUM_OK;
			}
		}
		m = 0;
		nd = 0;
	}
	if (e - p > 2 && p[0] == '0' && (p[1] | 0x20) == 'x') {
		hex = true;
		maxm = 16;
		base = 16;
		p += 2;
	}
	digits = p;
	for (; p < e; p++) {
		unsigned c = *p, d;
		if (c == '_') {
			under = true;
			continue;
		}
		if (c == '.') {
			if (sawdot)
				break;
			sawdot = true;
			dp = nd;
			continue;
		}
		if (c - '0' < 10)
			d = c - '0';
		else if (hex && (c | 0x20) - 'a' < 6)
			d = (c | 0x20) - 'a' + 10;
		else
			break;
		sawdig = true;
		if (d == 0 && nd == 0) {         /* leading zeros */
			dp--;
			continue;
		}
		nd++;
		if (ndm < maxm) {
			m = m * (uint64_t)base + d;
			ndm++;
		} else if (d) {
			trunc = true;
		}
	}
	if (!sawdig)
		return NUM_SYNTAX;
	if (!sawdot)
		dp = nd;
	if (hex)
		dp *= 4;
	const uint8_t *mend = p;
	if (p < e && (*p | 0x20) == (hex ? 'p' : 'e')) {
		int esign = 1, x = 0;
		if (++p >= e)
			return NUM_SYNTAX;
		if (*p == '+' || *p == '-')
			esign = *p++ == '-' ? -1 : 1;
		if (p >= e || (unsigned)*p - '0' > 9)
			return NUM_SYNTAX;
		for (; p < e && (((unsigned)*p - '0' < 10) || *p == '_'); p++) {
			if (*p == '_') {
				under = true;
				continue;
			}
			if (x < 10000)
				x = x * 10 + (*p - '0');
		}
		dp += x * esign;
	} else if (hex) {
		return NUM_SYNTAX;               /* a hex float needs its p exponent */
	}
	if (p != e || (under && !underscore_ok(s, e)))
		return NUM_SYNTAX;

	if (m == 0) {                            /* no significant digit */
		f = 0.0;
		goto done;
	}
	if (!hex && !trunc) {
		int64_t x = dp - ndm;
		if (x > 22 && x <= 22 + 15 && m >> 53 == 0) {
			/* a few zeros into the integer while it stays exact (Go's atof64exact):
			 * an integer product <= 1e15 < 2^53 was computed exactly */
			double g = (double)m * pow10tab[x - 22];
			if (g <= 1e15) {
				f = g * 1e22;
				goto done;
			}
		}
		if (fast_f64(m, x, &f))
			goto done;
	}

	/* the slow path: a bounded normalized copy for strtod */
	char buf[SLOW_DIGITS + 32];
	int k = 0, kept = 0;
	int64_t xp;
	bool lead = true, dropped = false;
	buf[k++] = '0';
	buf[k++] = hex ? 'x' : '.';
	for (const uint8_t *q = digits; q < mend; q++) {
		if (*q == '_' || *q == '.')
			continue;
		if (lead && *q == '0')
			continue;
		lead = false;
		if (kept < SLOW_DIGITS) {
			buf[k++] = (char)*q;
			kept++;
		} else if (*q != '0') {
			dropped = true;
		}
	}
	if (dropped) {
		buf[k++] = '1';
		kept++;
	}
	/* decimal: 0.D x 10^dp.  hex: D x 2^(dp - 4 * digits kept), dp in bits */
	xp = hex ? dp - 4 * kept : dp;
	buf[k++] = hex ? 'p' : 'e';
	if (xp < 0) {
		buf[k++] = '-';
		xp = -xp;
	}
	{
		char tmp[24];
		int t = 0;
		do
			tmp[t++] = (char)('0' + xp % 10);
		while (xp /= 10);
		while (t)
			buf[k++] = tmp[--t];
	}
	buf[k] = '\0';
	f = strtod(buf, NULL);
done:
	if (__builtin_isinf(f))
		return NUM_RANGE;
	*out = neg ? -f : f;
	return NUM_OK;
}

/* ---- the parser --------------------------------------------------------------------- */

/* S_ERR: the rest of the bad line is skipped; S_ERR_HERE: the next entry may start
 * at ps->p (an error found after the line's end was consumed, as the reference). */
enum { S_MEAS = 0, S_TAGS, S_FIELDS, S_TIME, S_END, S_ERR, S_ERR_HERE };

void
weir_lp_init(struct weir_lp_parser *ps, const void *buf, size_t len)
{
	static const uint8_t none;

	ps->p = buf ? buf : &none;
	ps->end = ps->p + (!buf ? 0 : len > UINT32_MAX ? UINT32_MAX : len);
	ps->entry = ps->err_at = ps->p;
	ps->sect = S_END;
	ps->err = WEIR_LP_BAD_MAX;
}

/* The entry is bad: reason r, found at at (the bad line is skipped from there). */
static int
fail(struct weir_lp_parser *ps, const uint8_t *at, int r)
{
	ps->p = ps->err_at = at;
	ps->err = (uint8_t)r;
	ps->sect = S_ERR;
	return -1;
}

/* After a measurement or a tag value: a comma must lead to another tag. */
static inline int
tag_comma(struct weir_lp_parser *ps)
{
	const uint8_t *p = ps->p;

	ps->sect = S_TAGS;
	if (p < ps->end && *p == ',') {
		p++;
		if (p == ps->end || *p == ' ' || *p == '\r' || *p == '\n')
			return fail(ps, p, WEIR_BAD_lp_syntax);
		ps->p = p;
	}
	return 0;
}

static inline int
do_meas(struct weir_lp_parser *ps, struct weir_lp_tok *name)
{
	const uint8_t *s = ps->p, *e;
	unsigned fl = 0;

	e = scan_tok(s, ps->end, C_MEAS, C_ESCM, &fl);
	if (fl & F_BADUTF8)
		return fail(ps, e, WEIR_BAD_lp_bad_utf8);
	/* '#' here: a comment line with a control byte in it */
	if (e == s || *s == '#')
		return fail(ps, e, WEIR_BAD_lp_syntax);
	mktok(name, s, e, fl, WEIR_LP_ESC_MEAS);
	ps->p = e;
	return tag_comma(ps);
}

static inline int
do_tag(struct weir_lp_parser *ps, struct weir_lp_tok *key, struct weir_lp_tok *val)
{
	const uint8_t *p = ps->p, *end = ps->end, *ke, *ve;
	unsigned kf = 0, vf = 0;

	if (p < end && *p == ' ') {
		ps->p = skip_spaces(p, end);
		ps->sect = S_FIELDS;
		return 0;
	}
	ke = scan_tok(p, end, C_KEY, C_ESCK, &kf);
	if (kf & F_BADUTF8)
		return fail(ps, ke, WEIR_BAD_lp_bad_utf8);
	if (ke == p || ke == end || *ke != '=')
		return fail(ps, ke, WEIR_BAD_lp_syntax);
	ve = scan_tok(ke + 1, end, C_KEY, C_ESCK, &vf);
	if (vf & F_BADUTF8)
		return fail(ps, ve, WEIR_BAD_lp_bad_utf8);
	if (ve == ke + 1)
		return fail(ps, ve, WEIR_BAD_lp_syntax);
	mktok(key, p, ke, kf, WEIR_LP_ESC_KEY);
	mktok(val, ke + 1, ve, vf, WEIR_LP_ESC_KEY);
	ps->p = ve;
	if (ve == end) {
		ps->sect = S_FIELDS;         /* the field section then finds no key */
		return 1;
	}
	return tag_comma(ps) < 0 ? -1 : 1;
}

static inline int
parse_bool(const uint8_t *s, size_t n, bool *b)
{
	static const char *const t[] = { "t", "T", "true", "True", "TRUE" };
	static const char *const f[] = { "f", "F", "false", "False", "FALSE" };

	for (int i = 0; i < 5; i++) {
		if (strlen(t[i]) == n && !memcmp(s, t[i], n))
			return *b = true, 0;
		if (strlen(f[i]) == n && !memcmp(s, f[i], n))
			return *b = false, 0;
	}
	return -1;
}

/* A number token [s, e): its last byte picks int ('i'), uint ('u') or float. */
static inline int
parse_number(const uint8_t *s, const uint8_t *e, struct weir_lp_value *v)
{
	int r;

	switch (e[-1]) {
	case 'i':
		v->type = WEIR_LP_INT;
		r = parse_i64(s, e - 1, &v->v.i);
		break;
	case 'u':
		v->type = WEIR_LP_UINT;
		r = parse_u64(s, e - 1, &v->v.u);
		break;
	default:
		v->type = WEIR_LP_FLOAT;
		r = parse_f64(s, e, &v->v.f);
		break;
	}
	return r == NUM_OK ? WEIR_LP_BAD_MAX : r == NUM_RANGE ? WEIR_BAD_lp_value_range
							 : WEIR_BAD_lp_bad_value;
}

static inline int
do_field(struct weir_lp_parser *ps, struct weir_lp_tok *key, struct weir_lp_value *v)
{
	const uint8_t *p = ps->p, *end = ps->end, *ke, *s, *e;
	unsigned kf = 0, sf = 0;
	int r;

	ke = scan_tok(p, end, C_KEY, C_ESCK, &kf);
	if (kf & F_BADUTF8)
		return fail(ps, ke, WEIR_BAD_lp_bad_utf8);
	if (ke == p || ke == end || *ke != '=' || ke + 1 == end)
		return fail(ps, ke, WEIR_BAD_lp_syntax);
	mktok(key, p, ke, kf, WEIR_LP_ESC_KEY);
	s = ke + 1;
	switch (*s) {
	case '"':
		e = scan_str(s + 1, end, &sf);
		if (e == end)
			return fail(ps, e, WEIR_BAD_lp_syntax);       /* no closing quote */
		if (sf & F_BADUTF8)
			return fail(ps, e, WEIR_BAD_lp_bad_utf8);
		v->type = WEIR_LP_STRING;
		mktok(&v->s, s + 1, e, sf, WEIR_LP_ESC_STR);
		p = e + 1;
		break;
	case '-': case '.': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9': {
		/* the common forms in one pass, then a delimiter: [-]digits[.digits] (a
		 * float of <= 19 digits), [-]digits "i" (<= 18 digits), digits "u" (<= 19);
		 * anything else through parse_number */
		const uint8_t *q = s, *d0, *f0;
		uint64_t m = 0;
		unsigned d;
		bool ng = *q == '-', dot = false;
		int nd;
		q += ng;
		d0 = q;
		while (q < end && (d = (unsigned)*q - '0') < 10)
			m = m * 10 + d, q++;
		f0 = q;
		if (q < end && *q == '.') {
			dot = true;
			f0 = ++q;
			while (q < end && (d = (unsigned)*q - '0') < 10)
				m = m * 10 + d, q++;
			nd = (int)(q - d0) - 1;
		} else {
			nd = (int)(q - d0);
		}
		if (nd > 0 && nd <= 19 && (q == end || !(cls[*q] & C_FVAL))) {
			double x;
			if (m == 0 || fast_f64(m, -(int)(q - f0), &x)) {
				x = m == 0 ? 0.0 : x;
				v->type = WEIR_LP_FLOAT;
				v->v.f = ng ? -x : x;
				p = q;
				break;
			}
		} else if (!dot && nd > 0 && q < end && (*q == 'i' || (*q == 'u' && !ng)) &&
			   nd <= (*q == 'i' ? 18 : 19) && (q + 1 == end || !(cls[q[1]] & C_FVAL))) {
			v->type = *q == 'i' ? WEIR_LP_INT : WEIR_LP_UINT;
			v->v.u = ng ? 0 - m : m;
			p = q + 1;
			break;
		}
		e = take(s, end, C_FVAL);
		r = parse_number(s, e, v);
		if (r != WEIR_LP_BAD_MAX)
			return fail(ps, e, r);
		p = e;
		break;
	}
	case 't': case 'T': case 'f': case 'F':
		e = take(s, end, C_FVAL);
		if (parse_bool(s, (size_t)(e - s), &v->v.b))
			return fail(ps, e, WEIR_BAD_lp_bad_value);
		v->type = WEIR_LP_BOOL;
		p = e;
		break;
	case ' ': case ',':
		return fail(ps, s, WEIR_BAD_lp_syntax);               /* no value */
	default:
		e = take(s, end, C_FVAL);
		return fail(ps, e, e == s ? WEIR_BAD_lp_syntax : WEIR_BAD_lp_bad_value);
	}
	if (v->type != WEIR_LP_STRING)
		v->s.p = NULL, v->s.len = 0, v->s.esc = 0;
	/* what follows a value: the end, a comma and the next field, or blanks */
	if (p == end) {
		ps->p = p;
		ps->sect = S_END;
		return 1;
	}
	if (*p == ',') {
		ps->p = p + 1;
		return 1;
	}
	if (*p != ' ' && *p != '\r' && *p != '\n')
		return fail(ps, p, WEIR_BAD_lp_syntax);
	p = skip_spaces(p, end);
	ps->sect = take_eol(&p, end) ? S_END : S_TIME;
	ps->p = p;
	return 1;
}

static inline int
do_time(struct weir_lp_parser *ps, enum weir_lp_prec prec, int64_t *ns)
{
	const uint8_t *s = ps->p, *end = ps->end, *e, *p;
	int64_t t;

	/* the common case in one loop: [-] up to 19 digits, then no other time byte */
	const uint8_t *q = s;
	uint64_t u = 0;
	unsigned d;
	bool neg = q < end && *q == '-', fast;
	q += neg;
	const uint8_t *d0 = q;
	uint64_t v8;
	while (q - d0 <= 11 && end - q >= 8 && eight_digits(q, &v8))   /* ns times: 19 digits */
		u = u * 100000000 + v8, q += 8;
	while (q < end && q - d0 < 19 && (d = (unsigned)*q - '0') < 10)
		u = u * 10 + d, q++;
	fast = q > d0 && (q == end || !(cls[*q] & C_TIME));
	e = fast ? q : take(s, end, C_TIME);
	p = e;
	if (p < end && ((*p != ' ' && *p != '\r' && *p != '\n') ||
			(p = skip_spaces(p, end), !take_eol(&p, end)))) {
		if (e != s)
			return fail(ps, p, WEIR_BAD_lp_syntax);
		/* no timestamp, then junk: the reference drops the junk up to a CR or LF
		 * and reads on from there (a lone CR then starts a bad entry) */
		fail(ps, p, WEIR_BAD_lp_syntax);
		while (ps->p < end && *ps->p != '\r' && *ps->p != '\n')
			ps->p++;
		ps->sect = S_ERR_HERE;
		return -1;
	}
	if (e != s) {
		/* fails at s: the bad line is skipped from there, so to the same line end */
		int r = NUM_RANGE;
		if (!fast)
			r = parse_i64(s, e, &t);
		else if (neg ? u <= UINT64_C(1) << 63 : u < UINT64_C(1) << 63)
			r = NUM_OK, t = neg ? (int64_t)(0 - u) : (int64_t)u;
		if (r != NUM_OK)
			return fail(ps, s, r == NUM_RANGE ? WEIR_BAD_lp_bad_time : WEIR_BAD_lp_syntax);
		if (__builtin_mul_overflow(t, weir_lp_prec_ns[prec & 3], &t))
			return fail(ps, s, WEIR_BAD_lp_bad_time);
	}
	ps->p = p;
	ps->sect = S_END;
	if (e == s)
		return 0;
	*ns = t;
	return 1;
}

/* Read (and check) the sections before `want`.  0, or -1. */
static int
skip_to(struct weir_lp_parser *ps, int want)
{
	struct weir_lp_tok a, b;
	struct weir_lp_value v;
	int64_t t;
	int r;

	while (ps->sect < want) {
		switch (ps->sect) {
		case S_MEAS:
			if (do_meas(ps, &a) < 0)
				return -1;
			break;
		case S_TAGS:
			while ((r = do_tag(ps, &a, &b)) > 0)
				;
			if (r < 0)
				return -1;
			break;
		case S_FIELDS:
			while (ps->sect == S_FIELDS && (r = do_field(ps, &a, &v)) > 0)
				;
			if (ps->sect >= S_ERR)
				return -1;
			break;
		case S_TIME:
			if (do_time(ps, WEIR_LP_NS, &t) < 0)
				return -1;
			break;
		}
	}
	return ps->sect >= S_ERR ? -1 : 0;
}

bool
weir_lp_next(struct weir_lp_parser *ps)
{
	const uint8_t *p, *end = ps->end;

	if (ps->sect < S_END)
		skip_to(ps, S_END);
	p = ps->p;
	if (ps->sect == S_ERR) {
		/* the reference's recovery: drop the rest of the line */
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		p = nl ? nl + 1 : end;
	}
	/* blank lines, comments */
	for (;;) {
		const uint8_t *l = p = skip_spaces(p, end);
		if (p == end)
			break;
		if (*p == '#') {
			p = take(p, end, C_CMT);
			if (!take_eol(&p, end)) {
				p = l;               /* a control byte: the entry fails on it */
				break;
			}
		} else if (*p == '\n' || *p == '\r') {
			if (!take_eol(&p, end))
				break;               /* a lone CR: the entry fails on it */
		} else {
			break;
		}
	}
	ps->p = ps->entry = p;
	ps->err = WEIR_LP_BAD_MAX;
	ps->sect = p == end ? S_END : S_MEAS;
	return p != end;
}

int
weir_lp_measurement(struct weir_lp_parser *ps, struct weir_lp_tok *name)
{
	if (ps->sect != S_MEAS)
		return -1;
	return do_meas(ps, name);
}

int
weir_lp_tag(struct weir_lp_parser *ps, struct weir_lp_tok *key, struct weir_lp_tok *val)
{
	if (ps->sect < S_TAGS && skip_to(ps, S_TAGS) < 0)
		return -1;
	if (ps->sect >= S_ERR)
		return -1;
	if (ps->sect != S_TAGS)
		return 0;
	return do_tag(ps, key, val);
}

int
weir_lp_field(struct weir_lp_parser *ps, struct weir_lp_tok *key, struct weir_lp_value *val)
{
	if (ps->sect < S_FIELDS && skip_to(ps, S_FIELDS) < 0)
		return -1;
	if (ps->sect >= S_ERR)
		return -1;
	if (ps->sect != S_FIELDS)
		return 0;
	return do_field(ps, key, val);
}

int
weir_lp_time(struct weir_lp_parser *ps, enum weir_lp_prec prec, int64_t *ns)
{
	if (ps->sect < S_TIME && skip_to(ps, S_TIME) < 0)
		return -1;
	if (ps->sect >= S_ERR)
		return -1;
	if (ps->sect != S_TIME)
		return 0;
	return do_time(ps, prec, ns);
}

int
weir_lp_finish(struct weir_lp_parser *ps)
{
	return skip_to(ps, S_END);
}

int64_t
weir_lp_default_time(int64_t now, enum weir_lp_prec prec)
{
	int64_t u = weir_lp_prec_ns[prec & 3], q = now / u, t;

	if (now % u < 0)
		q--;                          /* floor, as Go's Time.Truncate */
	if (__builtin_mul_overflow(q, u, &t))
		t = (q + 1) * u;              /* only below INT64_MIN + 1 s */
	return t;
}

int
weir_lp_validate(const void *buf, size_t len, enum weir_lp_prec prec, const char **err_at)
{
	struct weir_lp_parser ps;
	struct weir_lp_tok name, k, v, k2, v2;
	struct weir_lp_value val;
	int64_t t;
	int r;

	weir_lp_init(&ps, buf, len);
	while (weir_lp_next(&ps)) {
		if (weir_lp_measurement(&ps, &name) < 0)
			goto bad;
		struct weir_lp_parser first = ps;      /* at the first tag */
		for (int n = 0; (r = weir_lp_tag(&ps, &k, &v)) > 0; n++) {
			struct weir_lp_parser q = first;
			for (int i = 0; i < n; i++) {
				weir_lp_tag(&q, &k2, &v2);
				if (!weir_lp_tok_cmp(&k, &k2)) {
					if (err_at)
						*err_at = k.p;
					return WEIR_BAD_lp_duplicate_tag;
				}
			}
		}
		if (r < 0)
			goto bad;
		while ((r = weir_lp_field(&ps, &k, &val)) > 0)
			;
		if (r < 0 || weir_lp_time(&ps, prec, &t) < 0)
			goto bad;
	}
	return WEIR_LP_BAD_MAX;
bad:
	if (err_at)
		*err_at = (const char *)ps.err_at;
	return ps.err;
}

/* ---- lines as weir events ----------------------------------------------------------- */

/* A name for the schema: one that a line can carry. */
static int
name_set(struct weir_lp_name *n, const char *s)
{
	size_t len = strlen(s);
	const uint8_t *p = (const uint8_t *)s, *end = p + len;

	if (len == 0 || len >= WEIR_NAME_MAX)
		return -EINVAL;
	while (p < end) {
		if (*p < 0x20 || *p == 0x7f)
			return -EINVAL;
		if (*p >= 0x80) {
			unsigned k = utf8_len(p, end);
			if (!k)
				return -EINVAL;
			p += k;
		} else {
			p++;
		}
	}
	n->len = (uint16_t)len;
	memcpy(n->s, s, len);
	n->s[len] = '\0';
	return 0;
}

static int
name_cmp(const struct weir_lp_name *a, const struct weir_lp_name *b)
{
	int r = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
	return r ? r : a->len - b->len;
}

void
weir_lp_schema_init(struct weir_lp_schema *s, enum weir_lp_prec prec)
{
	memset(s, 0, sizeof(*s));
	s->prec = (uint8_t)prec;
}

int
weir_lp_schema_measurement(struct weir_lp_schema *s, const char *name)
{
	struct weir_lp_name n;
	int r = name_set(&n, name);

	if (r)
		return r;
	if (n.s[0] == '#')
		return -EINVAL;
	s->measurement = n;
	return 0;
}

int
weir_lp_schema_key_tag(struct weir_lp_schema *s, const char *name)
{
	struct weir_lp_name n;
	int r = name_set(&n, name), i;

	if (r)
		return r;
	for (i = 0; i < s->ntags; i++)
		if (!name_cmp(&s->tag[i], &n))
			return -EEXIST;
	if (s->ntags == WEIR_LP_MAX_KEY_TAGS)
		return -ENOSPC;
	for (i = s->ntags; i > 0 && name_cmp(&s->tag[i - 1], &n) > 0; i--)
		s->tag[i] = s->tag[i - 1];
	s->tag[i] = n;
	s->ntags++;
	return 0;
}

int
weir_lp_schema_field(struct weir_lp_schema *s, const char *name, enum weir_ftype type)
{
	struct weir_lp_name n;
	int r = name_set(&n, name);

	if (r)
		return r;
	if (type != WEIR_F_I64 && type != WEIR_F_U64 && type != WEIR_F_F64)
		return -EINVAL;
	for (int i = 0; i < s->nfields; i++)
		if (!name_cmp(&s->field[i], &n))
			return -EEXIST;
	if (s->nfields == WEIR_MAX_FIELDS)
		return -ENOSPC;
	s->field[s->nfields] = n;
	s->field_type[s->nfields] = (uint8_t)type;
	return s->nfields++;
}

/* Index of the declared field named k, or -1.  Lines carry their fields in one
 * order, so the search starts after the last match (*guess). */
static inline int
field_index(const struct weir_lp_schema *s, const struct weir_lp_tok *k, unsigned *guess)
{
	char buf[WEIR_NAME_MAX];
	const char *name = k->p;
	size_t len = k->len;
	unsigned n = (unsigned)s->nfields, g = *guess;

	if (k->esc != WEIR_LP_ESC_NONE) {
		len = weir_lp_unescape(k, buf, sizeof(buf));
		if (len >= sizeof(buf))
			return -1;
		name = buf;
	}
	for (unsigned i = 0; i < n; i++) {
		if (s->field[g].len == len && !cmp_bytes(s->field[g].s, name, len)) {
			*guess = g + 1 == n ? 0 : g + 1;
			return (int)g;
		}
		g = g + 1 == n ? 0 : g + 1;
	}
	return -1;
}

/* A line's value in a declared field's type (weir's 8-byte form): 0, or -1. */
static inline int
to_field(uint8_t type, const struct weir_lp_value *v, uint64_t *out)
{
	double d;

	switch (type) {
	case WEIR_F_F64:
		if (v->type == WEIR_LP_FLOAT) {
			d = v->v.f;
		} else if (v->type == WEIR_LP_INT) {
			d = (double)v->v.i;           /* exact iff it converts back */
			if (!(d >= -0x1p63 && d < 0x1p63) || (int64_t)d != v->v.i)
				return -1;
		} else if (v->type == WEIR_LP_UINT) {
			d = (double)v->v.u;
			if (!(d < 0x1p64) || (uint64_t)d != v->v.u)
				return -1;
		} else {
			return -1;
		}
		memcpy(out, &d, 8);
		return 0;
	case WEIR_F_I64:
		if (v->type == WEIR_LP_INT || (v->type == WEIR_LP_UINT && v->v.u <= INT64_MAX)) {
			*out = v->v.u;
			return 0;
		}
		return -1;
	default:                                  /* WEIR_F_U64 */
		if (v->type == WEIR_LP_UINT || (v->type == WEIR_LP_INT && v->v.i >= 0)) {
			*out = v->v.u;
			return 0;
		}
		return -1;
	}
}

#define MIN_BAD(bad, r) ((bad) = (r) < (bad) ? (r) : (bad))

int
weir_lp_decode_line(const struct weir_lp_schema *s, struct weir_lp_parser *ps,
		    int64_t arrival_ns, struct weir_lp_event *ev)
{
	struct weir_lp_tok name, tk[WEIR_LP_MAX_TAGS], tv[WEIR_LP_MAX_TAGS], k, v;
	struct weir_lp_value val;
	int ntag = 0, bad = WEIR_LP_BAD_MAX, r;
	unsigned guess = 0;
	uint32_t seen = 0;
	int64_t t;
	struct keybuf kb;
	bool other;

	if (weir_lp_measurement(ps, &name) < 0)
		return ps->sect >= S_ERR ? ps->err : WEIR_BAD_lp_syntax;
	other = s->measurement.len && !weir_lp_tok_eq(&name, s->measurement.s, s->measurement.len);
	while (ps->sect == S_TAGS && do_tag(ps, &k, &v) > 0) {
		if (ntag < WEIR_LP_MAX_TAGS) {
			tk[ntag] = k;
			tv[ntag] = v;
			ntag++;
		} else {
			MIN_BAD(bad, WEIR_BAD_lp_too_many_tags);
		}
	}
	if (ps->sect >= S_ERR)
		return ps->err;
	while ((r = weir_lp_field(ps, &k, &val)) > 0) {
		int i;
		if (other || (i = field_index(s, &k, &guess)) < 0)
			continue;
		if (to_field(s->field_type[i], &val, &ev->v[i]) < 0)
			MIN_BAD(bad, WEIR_BAD_lp_field_type);
		seen |= UINT32_C(1) << i;
	}
	if (r < 0)
		return ps->err;
	r = weir_lp_time(ps, (enum weir_lp_prec)s->prec, &t);
	if (r < 0)
		return ps->err;
	if (other)
		return WEIR_BAD_lp_other_measurement;

	/* the tags in key order: insertion sort (telegraf sends them sorted already) */
	for (int i = 1; i < ntag; i++) {
		struct weir_lp_tok a = tk[i], b = tv[i];
		int j = i, c = 1;
		while (j > 0 && (c = weir_lp_tok_cmp(&tk[j - 1], &a)) > 0) {
			tk[j] = tk[j - 1];
			tv[j] = tv[j - 1];
			j--;
		}
		if (j > 0 && c == 0)
			MIN_BAD(bad, WEIR_BAD_lp_duplicate_tag);
		tk[j] = a;
		tv[j] = b;
	}
	kb.n = 0;
	kb.stream = false;
	key_tok(&kb, &name, 0);
	if (s->ntags == 0) {
		for (int i = 0; i < ntag; i++) {
			key_tok(&kb, &tk[i], 1);
			key_tok(&kb, &tv[i], 0);
		}
	} else {
		int i = 0;
		for (int j = 0; j < s->ntags; j++) {
			const struct weir_lp_name *n = &s->tag[j];
			struct weir_lp_tok nt = { n->s, n->len, WEIR_LP_ESC_NONE };
			int c = 1;
			while (i < ntag && (c = weir_lp_tok_cmp(&tk[i], &nt)) < 0)
				i++;
			if (i == ntag || c != 0) {
				MIN_BAD(bad, WEIR_BAD_lp_missing_tag);
				break;
			}
			key_tok(&kb, &tk[i], 1);
			key_tok(&kb, &tv[i], 0);
		}
	}
	if (seen != (UINT32_C(1) << s->nfields) - 1)
		MIN_BAD(bad, WEIR_BAD_lp_missing_field);
	if (r == 1) {
		/* |t| <= 2^62  <=>  t + 2^62 in [0, 2^63] as unsigned */
		if ((uint64_t)t + (UINT64_C(1) << 62) > (UINT64_C(1) << 63))
			MIN_BAD(bad, WEIR_BAD_lp_time_range);
		ev->time = t;
		ev->has_time = true;
	} else {
		ev->time = weir_lp_default_time(arrival_ns, (enum weir_lp_prec)s->prec);
		ev->has_time = false;
	}
	if (bad != WEIR_LP_BAD_MAX)
		return bad;
	ev->key = key_done(&kb);
	return WEIR_LP_BAD_MAX;
}
