/* SPDX-License-Identifier: Apache-2.0
 * Unit tests: MoldUDP64 framing, ITCH 5.0 decoding, the order book and trading events,
 * on Nasdaq's public sample (BinaryFILE framing) and real MoldUDP64 captures.
 *
 *	test-itch SAMPLE_FILE CAPTURE_DIR      (meson passes ../shared/data/itch/...)
 * Exits 77 (skip) when the sample is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "itch.h"

#define MAXMSG 4096

/* The sample, split into messages (pointers into buf). */
static struct {
	uint8_t *buf;
	size_t len;
	unsigned n;
	const uint8_t *msg[MAXMSG];
	uint16_t mlen[MAXMSG];
} S;
static const char *capture_dir;

static const uint8_t SESSION[10] = { '0', '0', '0', '0', '0', '1', '0', '0', '5', '9' };

static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (b = malloc((size_t)n + 1)) != NULL && fread(b, 1, (size_t)n, f) == (size_t)n)
		*len = (size_t)n;
	else {
		free(b);
		b = NULL;
	}
	fclose(f);
	return b;
}

/* BinaryFILE: u16 BE length + message, repeated. */
static int
load_sample(const char *path)
{
	size_t off = 0;

	S.buf = slurp(path, &S.len);
	if (!S.buf)
		return -1;
	while (off + 2 <= S.len && S.n < MAXMSG) {
		uint16_t l = weir_itch_be16(S.buf + off);
		if (off + 2 + l > S.len)
			return -1;
		S.msg[S.n] = S.buf + off + 2;
		S.mlen[S.n++] = l;
		off += 2 + (size_t)l;
	}
	return off == S.len ? 0 : -1;
}

/* ---- message builders ---------------------------------------------------------------- */

static void be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void be32(uint8_t *p, uint32_t v) { be16(p, (uint16_t)(v >> 16)); be16(p + 2, (uint16_t)v); }
static void be64(uint8_t *p, uint64_t v) { be32(p, (uint32_t)(v >> 32)); be32(p + 4, (uint32_t)v); }

static uint32_t
hdr(uint8_t *p, char type, uint16_t locate, uint64_t ts)
{
	p[0] = (uint8_t)type;
	be16(p + 1, locate);
	be16(p + 3, 7);                                 /* tracking */
	be16(p + 5, (uint16_t)(ts >> 32));
	be32(p + 7, (uint32_t)ts);
	return 11;
}

static void
stock8(uint8_t *p, const char *s)
{
	memset(p, ' ', 8);
	memcpy(p, s, strlen(s));
}

static uint32_t
mk_add(uint8_t *p, char type, uint16_t loc, uint64_t ref, char side, uint32_t shares,
       const char *stock, uint32_t price)
{
	hdr(p, type, loc, 1000);
	be64(p + 11, ref);
	p[19] = (uint8_t)side;
	be32(p + 20, shares);
	stock8(p + 24, stock);
	be32(p + 32, price);
	if (type == 'F')
		memcpy(p + 36, "GSCO", 4);
	return type == 'F' ? 40 : 36;
}

static uint32_t
mk_exec(uint8_t *p, uint16_t loc, uint64_t ref, uint32_t shares, uint64_t match)
{
	hdr(p, 'E', loc, 2000);
	be64(p + 11, ref);
	be32(p + 19, shares);
	be64(p + 23, match);
	return 31;
}

static uint32_t
mk_execp(uint8_t *p, uint16_t loc, uint64_t ref, uint32_t shares, uint64_t match, char printable,
	 uint32_t price)
{
	mk_exec(p, loc, ref, shares, match);
	p[0] = 'C';
	p[31] = (uint8_t)printable;
	be32(p + 32, price);
	return 36;
}

static uint32_t
mk_cancel(uint8_t *p, uint16_t loc, uint64_t ref, uint32_t shares)
{
	hdr(p, 'X', loc, 3000);
	be64(p + 11, ref);
	be32(p + 19, shares);
	return 23;
}

static uint32_t
mk_delete(uint8_t *p, uint16_t loc, uint64_t ref)
{
	hdr(p, 'D', loc, 4000);
	be64(p + 11, ref);
	return 19;
}

static uint32_t
mk_replace(uint8_t *p, uint16_t loc, uint64_t ref, uint64_t new_ref, uint32_t shares, uint32_t price)
{
	hdr(p, 'U', loc, 5000);
	be64(p + 11, ref);
	be64(p + 19, new_ref);
	be32(p + 27, shares);
	be32(p + 31, price);
	return 35;
}

static uint32_t
mk_trade(uint8_t *p, uint16_t loc, char side, uint32_t shares, const char *stock, uint32_t price,
	 uint64_t match)
{
	hdr(p, 'P', loc, 6000);
	be64(p + 11, 0);
	p[19] = (uint8_t)side;
	be32(p + 20, shares);
	stock8(p + 24, stock);
	be32(p + 32, price);
	be64(p + 36, match);
	return 44;
}

static uint32_t
mk_cross(uint8_t *p, uint16_t loc, uint64_t shares, const char *stock, uint32_t price, uint64_t match)
{
	hdr(p, 'Q', loc, 7000);
	be64(p + 11, shares);
	stock8(p + 19, stock);
	be32(p + 27, price);
	be64(p + 31, match);
	p[39] = 'C';
	return 40;
}

static uint32_t
mk_dir(uint8_t *p, uint16_t loc, const char *stock)
{
	memset(p, 'N', 39);
	hdr(p, 'R', loc, 100);
	stock8(p + 11, stock);
	p[19] = 'Q';
	be32(p + 21, 100);
	be32(p + 34, 0);
	return 39;
}

static uint32_t
mk_sys(uint8_t *p, char code)
{
	hdr(p, 'S', 0, 50);
	p[11] = (uint8_t)code;
	return 12;
}

static int
decode(const uint8_t *p, uint32_t len, struct weir_itch_msg *m)
{
	memset(m, 0xa5, sizeof(*m));            /* nothing may be left unset */
	return weir_itch_decode(p, len, m);
}

static uint64_t evu(const struct weir_itch_event *e, int f) { return e->v[f]; }
static int64_t evi(const struct weir_itch_event *e, int f) { return weir_itch_ev_i64(e, f); }
static double evf(const struct weir_itch_event *e, int f) { return weir_itch_ev_f64(e, f); }

/* ---- the sample ---------------------------------------------------------------------- */

static void
sample_types(void **st)
{
	static const struct { char t; unsigned n; } want[] = {
		{ 'A', 367 }, { 'U', 225 }, { 'F', 193 }, { 'D', 167 }, { 'E', 28 }, { 'X', 6 },
		{ 'I', 4 }, { 'P', 4 }, { 'Q', 4 }, { 'S', 1 }, { 'C', 1 },
	};
	unsigned cnt[256] = { 0 }, decoded = 0, skipped = 0, sum = 0;
	uint64_t last_ts = 0;
	struct weir_itch_msg m;

	(void)st;
	assert_int_equal(S.n, 1000);
	for (unsigned i = 0; i < S.n; i++) {
		int rc = decode(S.msg[i], S.mlen[i], &m);
		cnt[S.msg[i][0]]++;
		assert_int_equal(m.type, (char)S.msg[i][0]);
		if (rc == WEIR_ITCH_BAD_msg_skipped) {
			skipped++;
			continue;
		}
		assert_int_equal(rc, WEIR_ITCH_BAD_MAX);
		decoded++;
		/* one feed's clock never goes back; the sample starts at 09:30 */
		assert_true(m.ts_ns >= last_ts && m.ts_ns >= UINT64_C(34200000000000));
		assert_true(m.ts_ns < UINT64_C(86400000000000));
		last_ts = m.ts_ns;
		if (m.type == 'A' || m.type == 'F') {
			assert_true(m.add.side == 'B' || m.add.side == 'S');
			assert_true(m.add.stock >> 56 >= 'A' && m.add.stock >> 56 <= 'Z');
			assert_true(m.type == 'A' ? m.add.mpid == 0 : m.add.mpid != 0);
		}
	}
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		assert_int_equal(cnt[(uint8_t)want[k].t], want[k].n);
		sum += want[k].n;
	}
	assert_int_equal(sum, 1000);                    /* no other type */
	assert_int_equal(skipped, cnt['I']);
	assert_int_equal(decoded, 996);
}

/* The vectors in ../shared/data/README.md (independent decoders agree). */
static void
sample_vectors(void **st)
{
	struct weir_itch_msg m;
	char sym[9];
	unsigned seen = 0;

	(void)st;
	for (unsigned i = 0; i < S.n; i++) {
		if (decode(S.msg[i], S.mlen[i], &m) != WEIR_ITCH_BAD_MAX)
			continue;
		if (m.type == 'D' && m.del.ref == 4851694) {
			assert_int_equal(m.locate, 3041);
			assert_int_equal(m.ts_ns, UINT64_C(34200000000230));
			seen |= 1;
		} else if (m.type == 'A' && m.add.ref == 9899132) {
			assert_int_equal(m.add.side, 'B');
			assert_int_equal(m.add.shares, 100);
			weir_itch_symbol(m.add.stock, sym);
			assert_string_equal(sym, "VIXM");
			assert_int_equal(m.add.stock, weir_itch_stock_key("VIXM"));
			assert_int_equal(m.add.price, 213300);
			seen |= 2;
		} else if (m.type == 'P' && m.trade.match == 53487) {
			assert_int_equal(m.trade.side, 'B');
			assert_int_equal(m.trade.shares, 84);
			weir_itch_symbol(m.trade.stock, sym);
			assert_string_equal(sym, "ROKU");
			assert_int_equal(m.trade.price, 1377000);
			seen |= 4;
		} else if (m.type == 'Q' && m.cross.match == 53497) {
			assert_int_equal(m.cross.shares, 6185);
			weir_itch_symbol(m.cross.stock, sym);
			assert_string_equal(sym, "HDS");
			assert_int_equal(m.cross.price, 404300);
			assert_int_equal(m.cross.cross_type, 'O');
			seen |= 8;
		}
	}
	assert_int_equal(seen, 15);
}

/* A naive reference book: a flat array searched linearly. */
struct nord {
	uint64_t ref;
	uint32_t price, shares;
	uint16_t locate;
	int8_t side;
	bool live;
};
struct naive {
	struct nord o[MAXMSG];
	unsigned n;
	uint64_t unknown, found;
};

static struct nord *
nfind(struct naive *nv, uint64_t ref)
{
	for (unsigned i = 0; i < nv->n; i++)
		if (nv->o[i].live && nv->o[i].ref == ref)
			return &nv->o[i];
	return NULL;
}

static void
nadd(struct naive *nv, uint64_t ref, uint16_t loc, int8_t side, uint32_t price, uint32_t shares)
{
	assert_null(nfind(nv, ref));
	assert_true(nv->n < MAXMSG);
	nv->o[nv->n++] = (struct nord){ ref, price, shares, loc, side, true };
}

/* ---- price levels, recomputed from the orders (the naive reference) ---- */

static struct weir_book *mkbook(uint32_t max);

struct nlev {
	uint16_t locate;
	int8_t side;
	uint32_t price;
	uint32_t orders;
	uint64_t shares;
};

static int
nlev_cmp(const void *a, const void *b)
{
	const struct nlev *x = a, *y = b;

	if (x->locate != y->locate)
		return x->locate < y->locate ? -1 : 1;
	if (x->side != y->side)
		return x->side > y->side ? -1 : 1;              /* bids first */
	if (x->price != y->price)                               /* best first */
		return (x->price < y->price) == (x->side < 0) ? -1 : 1;
	return 0;
}

/* The levels of the live orders o[0..n) that have a side and shares (of locate loc; -1:
 * all), by scanning them all: sorted by locate, bids then asks, best first. */
static unsigned
naive_levels(const struct nord *o, unsigned n, int loc, struct nlev *out)
{
	unsigned k = 0, m = 0;

	for (unsigned i = 0; i < n; i++)
		if (o[i].live && o[i].side && o[i].shares && (loc < 0 || o[i].locate == loc))
			out[k++] = (struct nlev){ o[i].locate, o[i].side, o[i].price, 1, o[i].shares };
	qsort(out, k, sizeof(*out), nlev_cmp);
	for (unsigned i = 0; i < k; i++) {
		if (m && out[m - 1].locate == out[i].locate && out[m - 1].side == out[i].side &&
		    out[m - 1].price == out[i].price) {
			out[m - 1].orders++;
			out[m - 1].shares += out[i].shares;
		} else {
			out[m++] = out[i];
		}
	}
	return m;
}

/* One side of a locate in the book (depth and top) against want[0..nw). */
static void
assert_side(const struct weir_book *b, uint16_t loc, int8_t side, const struct nlev *want, unsigned nw)
{
	static struct weir_book_level got[MAXMSG + 1];
	struct weir_book_top t;
	const struct weir_book_level *best;
	int have = weir_book_top(b, loc, &t);
	unsigned ng = weir_book_depth(b, loc, side, got, MAXMSG + 1);

	assert_int_equal(ng, nw);
	for (unsigned i = 0; i < nw; i++) {
		assert_int_equal(got[i].price, want[i].price);
		assert_int_equal(got[i].shares, want[i].shares);
		assert_int_equal(got[i].orders, want[i].orders);
	}
	best = side > 0 ? &t.bid : &t.ask;
	assert_int_equal(!!(have & (side > 0 ? 1 : 2)), nw > 0);
	assert_int_equal(best->price, nw ? want[0].price : 0);
	assert_int_equal(best->shares, nw ? want[0].shares : 0);
	assert_int_equal(best->orders, nw ? want[0].orders : 0);
	if (nw > 1)     /* a prefix */
		assert_int_equal(weir_book_depth(b, loc, side, got, 1), 1);
}

/* The book's levels equal those recomputed from the orders o[0..n): of locate loc, or
 * (loc -1) of every locate, and the book holds no other level. */
static void
assert_levels(const struct weir_book *b, const struct nord *o, unsigned n, int loc)
{
	static struct nlev want[MAXMSG];
	unsigned nw = naive_levels(o, n, loc, want), i = 0;
	struct weir_book_stats s;

	if (loc >= 0) {
		unsigned nb = 0;
		while (nb < nw && want[nb].side > 0)
			nb++;
		assert_side(b, (uint16_t)loc, 1, want, nb);
		assert_side(b, (uint16_t)loc, -1, want + nb, nw - nb);
		return;
	}
	while (i < nw) {
		unsigned j = i;
		while (j < nw && want[j].locate == want[i].locate && want[j].side == want[i].side)
			j++;
		assert_side(b, want[i].locate, want[i].side, want + i, j - i);
		i = j;
	}
	weir_book_get_stats(b, &s);
	assert_int_equal(s.levels, nw);
	assert_true(s.level_high_water >= s.levels);
	assert_int_equal(s.level_full, 0);
}

/* An event's top-of-book fields against the levels recomputed from o[0..n). */
static void
assert_event_top(const struct weir_itch_event *ev, const struct nord *o, unsigned n, bool book)
{
	static struct nlev want[MAXMSG];
	uint64_t type = ev->v[WEIR_ITCH_F_type];
	unsigned nw = 0;
	const struct nlev *bid = NULL, *ask = NULL;
	double spread;

	if (book && type != 'S' && type != 'R')
		nw = naive_levels(o, n, (int)ev->v[WEIR_ITCH_F_locate], want);
	for (unsigned i = 0; i < nw; i++) {
		if (want[i].side > 0 && !bid)
			bid = &want[i];
		if (want[i].side < 0 && !ask)
			ask = &want[i];
	}
	assert_true(weir_itch_ev_f64(ev, WEIR_ITCH_F_bid) == (bid ? bid->price / 1e4 : 0.0));
	assert_true(weir_itch_ev_f64(ev, WEIR_ITCH_F_ask) == (ask ? ask->price / 1e4 : 0.0));
	assert_int_equal(ev->v[WEIR_ITCH_F_bid_size], bid ? bid->shares : 0);
	assert_int_equal(ev->v[WEIR_ITCH_F_ask_size], ask ? ask->shares : 0);
	spread = weir_itch_ev_f64(ev, WEIR_ITCH_F_spread);
	if (bid && ask) {
		assert_true(spread == ((double)ask->price - (double)bid->price) / 1e4);
		assert_true(spread - (ask->price / 1e4 - bid->price / 1e4) < 1e-9 &&
			    (ask->price / 1e4 - bid->price / 1e4) - spread < 1e-9);
	} else {
		assert_true(spread == 0.0);
	}
}

/* Apply a decoded message to the naive book the way the book does; the order it found
 * (a copy, before the message), NULL when none. */
static bool
napply(struct naive *nv, const struct weir_itch_msg *m, struct nord *before)
{
	struct nord *o;

	switch (m->type) {
	case 'A':
	case 'F':
		if (!nfind(nv, m->add.ref))
			nadd(nv, m->add.ref, m->locate, m->add.side == 'B' ? 1 : m->add.side == 'S' ? -1 : 0,
			     m->add.price, m->add.shares);
		return false;
	case 'E':
	case 'C':
	case 'X': {
		uint32_t sh = m->type == 'X' ? m->cancel.shares : m->exec.shares;
		if (!(o = nfind(nv, m->type == 'X' ? m->cancel.ref : m->exec.ref)))
			return false;
		*before = *o;
		o->shares -= sh < o->shares ? sh : o->shares;
		o->live = o->shares > 0;
		return true;
	}
	case 'D':
		if (!(o = nfind(nv, m->del.ref)))
			return false;
		*before = *o;
		o->live = false;
		return true;
	case 'U':
		if ((o = nfind(nv, m->replace.ref)) != NULL) {
			*before = *o;
			o->live = false;
		}
		if (!nfind(nv, m->replace.new_ref))
			nadd(nv, m->replace.new_ref, o ? o->locate : m->locate, o ? o->side : 0,
			     m->replace.price, m->replace.shares);
		return o != NULL;
	default:
		return false;
	}
}

/* Replay the sample through weir_itch_event with a book, and through the naive book:
 * every E C X D U for an order added within the sample finds it, the unknown references
 * agree, and executed shares and notional per locate agree. */
static void
sample_book(void **st)
{
	static struct naive nv;
	static uint64_t ex_sh[65536], ex_px[65536], nv_sh[65536], nv_px[65536];
	struct weir_book_params bp = { .max_orders = 100000 };
	struct weir_book *b = weir_book_create(&bp);
	struct weir_itch_dir *d = calloc(1, sizeof(*d));
	struct weir_book_stats bs;
	struct weir_itch_event ev;
	struct weir_itch_msg m;
	uint64_t execs = 0;

	(void)st;
	assert_non_null(b);
	assert_non_null(d);
	memset(&nv, 0, sizeof(nv));
	memset(ex_sh, 0, sizeof(ex_sh));
	memset(ex_px, 0, sizeof(ex_px));
	memset(nv_sh, 0, sizeof(nv_sh));
	memset(nv_px, 0, sizeof(nv_px));
	for (unsigned i = 0; i < S.n; i++) {
		struct nord *o = NULL;
		int rc;

		if (decode(S.msg[i], S.mlen[i], &m) != WEIR_ITCH_BAD_MAX)
			continue;
		rc = weir_itch_event(b, d, &m, &ev);
		assert_int_equal(ev.ts_ns, m.ts_ns);
		assert_int_equal(evu(&ev, WEIR_ITCH_F_type), (uint8_t)m.type);
		switch (m.type) {
		case 'A':
		case 'F':
			assert_int_equal(rc, 0);
			nadd(&nv, m.add.ref, m.locate, m.add.side == 'B' ? 1 : -1, m.add.price, m.add.shares);
			break;
		case 'E':
		case 'C':
		case 'X':
		case 'D':
		case 'U': {
			uint64_t ref = m.type == 'U' ? m.replace.ref : m.type == 'X' ? m.cancel.ref :
				       m.type == 'D' ? m.del.ref : m.exec.ref;
			o = nfind(&nv, ref);
			if (!o) {
				nv.unknown++;
				assert_int_equal(rc, -ENOENT);
				assert_int_equal(evi(&ev, WEIR_ITCH_F_side), 0);
				assert_int_equal(evu(&ev, WEIR_ITCH_F_locate), m.locate);
			} else {
				nv.found++;
				assert_int_equal(rc, 0);
				assert_int_equal(evi(&ev, WEIR_ITCH_F_side), o->side);
				assert_int_equal(evu(&ev, WEIR_ITCH_F_locate), o->locate);
			}
			break;
		}
		default:
			break;
		}
		if (m.type == 'E' || m.type == 'C') {
			uint32_t px = m.type == 'C' ? m.exec.price : o ? o->price : 0;
			execs++;
			assert_int_equal(evu(&ev, WEIR_ITCH_F_shares), m.exec.shares);
			assert_int_equal(evi(&ev, WEIR_ITCH_F_price_e4), px);
			assert_true(evf(&ev, WEIR_ITCH_F_notional) == (double)px * m.exec.shares / 1e4);
			ex_sh[evu(&ev, WEIR_ITCH_F_locate)] += evu(&ev, WEIR_ITCH_F_shares);
			ex_px[evu(&ev, WEIR_ITCH_F_locate)] += (uint64_t)evi(&ev, WEIR_ITCH_F_price_e4) *
							       evu(&ev, WEIR_ITCH_F_shares);
			if (o) {
				uint32_t x = m.exec.shares < o->shares ? m.exec.shares : o->shares;
				nv_sh[o->locate] += m.exec.shares;
				nv_px[o->locate] += (uint64_t)px * m.exec.shares;
				o->shares -= x;
				o->live = o->shares > 0;
			} else {
				nv_sh[m.locate] += m.exec.shares;
				nv_px[m.locate] += (uint64_t)px * m.exec.shares;
			}
		} else if (m.type == 'X' && o) {
			assert_int_equal(evi(&ev, WEIR_ITCH_F_price_e4), o->price);
			o->shares -= m.cancel.shares < o->shares ? m.cancel.shares : o->shares;
			o->live = o->shares > 0;
		} else if (m.type == 'D' && o) {
			assert_int_equal(evu(&ev, WEIR_ITCH_F_shares), o->shares);
			assert_int_equal(evi(&ev, WEIR_ITCH_F_price_e4), o->price);
			o->live = false;
		} else if (m.type == 'U') {
			int8_t side = o ? o->side : 0;
			uint16_t loc = o ? o->locate : m.locate;
			if (o)
				o->live = false;
			nadd(&nv, m.replace.new_ref, loc, side, m.replace.price, m.replace.shares);
			assert_int_equal(evu(&ev, WEIR_ITCH_F_order_ref), m.replace.new_ref);
			assert_int_equal(evi(&ev, WEIR_ITCH_F_price_e4), m.replace.price);
		}
	}
	weir_book_get_stats(b, &bs);
	/* the sample starts at 09:30: most references are to older orders (an independent
	 * Python replay of the sample counts the same 33 found and 394 unknown) */
	assert_int_equal(nv.found, 33);
	assert_int_equal(nv.unknown, 394);
	assert_int_equal(bs.unknown_ref, nv.unknown);
	assert_int_equal(bs.table_full, 0);
	assert_int_equal(bs.dup_ref, 0);
	assert_int_equal(execs, 29);
	assert_memory_equal(ex_sh, nv_sh, sizeof(ex_sh));
	assert_memory_equal(ex_px, nv_px, sizeof(ex_px));
	{
		uint64_t live = 0;
		for (unsigned i = 0; i < nv.n; i++) {
			struct weir_book_order o;
			int rc = weir_book_find(b, nv.o[i].ref, &o);
			if (!nv.o[i].live) {
				assert_int_equal(rc, -ENOENT);
				continue;
			}
			live++;
			assert_int_equal(rc, 0);
			assert_int_equal(o.shares, nv.o[i].shares);
			assert_int_equal(o.price, nv.o[i].price);
			assert_int_equal(o.side, nv.o[i].side);
			assert_int_equal(o.locate, nv.o[i].locate);
		}
		assert_int_equal(bs.live, live);
	}
	assert_int_equal(weir_book_check(b), 0);
	print_message("sample book: %llu found, %llu unknown references, %llu live, high water %llu\n",
		      (unsigned long long)nv.found, (unsigned long long)nv.unknown,
		      (unsigned long long)bs.live, (unsigned long long)bs.high_water);
	weir_book_destroy(b);
	free(d);
}

/* The sample through weir_itch_event with a book: after every message, every price level
 * of every locate (and the event's top of book) equals the levels recomputed by scanning
 * the naive book's live orders, and weir_book_check passes. */
static void
sample_levels(void **st)
{
	static struct naive nv;
	struct weir_book *b = mkbook(2048);
	struct weir_itch_dir *d = calloc(1, sizeof(*d));
	struct weir_book_stats bs;
	struct weir_itch_event ev;
	struct weir_itch_msg m;
	unsigned two_sided = 0, best_moved = 0, events = 0;

	(void)st;
	assert_non_null(d);
	memset(&nv, 0, sizeof(nv));
	for (unsigned i = 0; i < S.n; i++) {
		struct weir_book_top before, after;
		struct nord o;
		uint16_t loc;

		if (decode(S.msg[i], S.mlen[i], &m) != WEIR_ITCH_BAD_MAX)
			continue;
		weir_book_top(b, m.locate, &before);
		weir_itch_event(b, d, &m, &ev);
		napply(&nv, &m, &o);
		events++;
		assert_event_top(&ev, nv.o, nv.n, true);
		assert_levels(b, nv.o, nv.n, -1);
		assert_int_equal(weir_book_check(b), 0);
		loc = (uint16_t)ev.v[WEIR_ITCH_F_locate];
		weir_book_top(b, loc, &after);
		two_sided += ev.v[WEIR_ITCH_F_bid_size] && ev.v[WEIR_ITCH_F_ask_size];
		/* a removal that emptied the best level and left another one */
		best_moved += (m.type == 'D' || m.type == 'E' || m.type == 'C' || m.type == 'X' ||
			       m.type == 'U') && loc == m.locate &&
			      ((before.bid.orders && after.bid.orders && before.bid.price > after.bid.price) ||
			       (before.ask.orders && after.ask.orders && before.ask.price < after.ask.price));
	}
	weir_book_get_stats(b, &bs);
	print_message("sample levels: %u events, %u two-sided, best moved back %u times, %llu levels "
		      "(high water %llu), %llu live orders\n", events, two_sided, best_moved,
		      (unsigned long long)bs.levels, (unsigned long long)bs.level_high_water,
		      (unsigned long long)bs.live);
	assert_int_equal(events, 996);
	assert_true(two_sided > 0 && best_moved > 0);
	/* with no book, or for S R, every top-of-book field is 0 */
	for (unsigned i = 0; i < S.n; i++) {
		if (decode(S.msg[i], S.mlen[i], &m) != WEIR_ITCH_BAD_MAX)
			continue;
		weir_itch_event(NULL, d, &m, &ev);
		assert_event_top(&ev, nv.o, nv.n, false);
	}
	weir_book_destroy(b);
	free(d);
}

/* The sample through MoldUDP64: built, parsed, iterated block by block. */
static void
sample_mold(void **st)
{
	static const unsigned per[] = { 1, 7, 38, 1000 };
	static uint8_t pkt[65536];

	(void)st;
	for (size_t k = 0; k < sizeof(per) / sizeof(per[0]); k++) {
		unsigned i = 0, npkts = 0;
		uint64_t seq = 1;

		while (i < S.n) {
			uint16_t n = (uint16_t)(S.n - i < per[k] ? S.n - i : per[k]);
			struct weir_mold m;
			const uint8_t *b;
			int len = weir_mold_build(pkt, sizeof(pkt), SESSION, seq, S.msg + i, S.mlen + i, n);

			assert_true(len > WEIR_MOLD_HDR_LEN);
			assert_int_equal(weir_mold_parse(pkt, (uint32_t)len, &m), WEIR_ITCH_BAD_MAX);
			assert_memory_equal(m.session, SESSION, 10);
			assert_int_equal(m.seq, seq);
			assert_int_equal(m.count, n);
			assert_int_equal(m.nmsgs, n);
			b = m.blocks;
			for (unsigned j = 0; j < m.nmsgs; j++, b = weir_mold_next(b)) {
				assert_int_equal(weir_mold_len(b), S.mlen[i + j]);
				assert_memory_equal(b + 2, S.msg[i + j], S.mlen[i + j]);
			}
			assert_ptr_equal(b, pkt + len);
			i += n;
			seq += n;
			npkts++;
		}
		assert_int_equal(seq, 1 + S.n);
		assert_int_equal(npkts, (S.n + per[k] - 1) / per[k]);
	}
	/* the builder's limits */
	assert_int_equal(weir_mold_build(pkt, 100, SESSION, 1, S.msg, S.mlen, 10), -ENOSPC);
	{
		static const uint8_t *msgs[2000];
		static uint16_t lens[2000];
		for (unsigned i = 0; i < 2000; i++) {
			msgs[i] = S.msg[i % S.n];
			lens[i] = S.mlen[i % S.n];
		}
		assert_int_equal(weir_mold_build(pkt, sizeof(pkt), SESSION, 1, msgs, lens, 2000), -EMSGSIZE);
	}
}

/* ---- real captures ------------------------------------------------------------------- */

struct cap_totals {
	unsigned files, packets, msgs, decoded, skipped, cnt[256];
	bool seen_add, seen_c;
};

/* Ethernet / optional 802.1Q / IPv4 / UDP of one captured frame: the UDP payload. */
static const uint8_t *
udp_payload(const uint8_t *f, uint32_t len, uint32_t *plen)
{
	uint32_t off = 14, ihl, ulen;
	uint16_t et;

	assert_true(len >= 14);
	et = weir_itch_be16(f + 12);
	if (et == 0x8100) {
		assert_true(len >= 18);
		et = weir_itch_be16(f + 16);
		off = 18;
	}
	assert_int_equal(et, 0x0800);
	assert_true(len >= off + 20);
	ihl = (uint32_t)(f[off] & 15) * 4;
	assert_int_equal(f[off] >> 4, 4);
	assert_int_equal(f[off + 9], 17);
	assert_true(len >= off + ihl + 8);
	ulen = weir_itch_be16(f + off + ihl + 4);
	assert_true(ulen >= 8 && off + ihl + ulen <= len);
	*plen = ulen - 8;
	return f + off + ihl + 8;
}

static void
one_capture(const char *path, struct cap_totals *t, struct weir_book *bk, struct weir_itch_dir *dir)
{
	size_t len, off = 24;
	uint8_t *d = slurp(path, &len);
	uint32_t magic;

	assert_non_null(d);
	assert_true(len >= 24);
	memcpy(&magic, d, 4);
	/* little-endian files: nanosecond 0xa1b23c4d (these) or microsecond 0xa1b2c3d4 */
	assert_true(magic == 0xa1b23c4d || magic == 0xa1b2c3d4);
	assert_int_equal(d[20], 1);                     /* LINKTYPE_ETHERNET */
	t->files++;
	while (off < len) {
		uint32_t caplen, origlen, plen;
		const uint8_t *p, *b;
		struct weir_mold m = { .nmsgs = 0 };

		assert_true(off + 16 <= len);
		memcpy(&caplen, d + off + 8, 4);
		memcpy(&origlen, d + off + 12, 4);
		assert_int_equal(caplen, origlen);      /* whole frames */
		off += 16;
		assert_true(off + caplen <= len);
		p = udp_payload(d + off, caplen, &plen);
		assert_int_equal(weir_mold_parse(p, plen, &m), WEIR_ITCH_BAD_MAX);
		assert_int_equal(m.nmsgs, m.count);      /* neither heartbeat nor end here */
		assert_true(m.count > 0);
		t->packets++;
		b = m.blocks;
		for (unsigned i = 0; i < m.nmsgs; i++, b = weir_mold_next(b)) {
			struct weir_itch_msg msg;
			struct weir_itch_event ev;
			int rc = decode(b + 2, weir_mold_len(b), &msg);

			t->msgs++;
			t->cnt[b[2]]++;
			if (rc == WEIR_ITCH_BAD_msg_skipped) {
				t->skipped++;
				continue;
			}
			assert_int_equal(rc, WEIR_ITCH_BAD_MAX);
			t->decoded++;
			weir_itch_event(bk, dir, &msg, &ev);
			if (msg.type == 'A' && msg.add.ref == 23508286) {
				/* decoded independently (Python struct) from the capture */
				assert_int_equal(msg.locate, 5528);
				assert_int_equal(msg.tracking, 0);
				assert_int_equal(msg.ts_ns, UINT64_C(34199999894278));
				assert_int_equal(msg.add.side, 'B');
				assert_int_equal(msg.add.shares, 1600);
				assert_int_equal(msg.add.stock, weir_itch_stock_key("IVOO"));
				assert_int_equal(msg.add.price, 873900);
				t->seen_add = true;
			} else if (msg.type == 'C' && msg.exec.ref == 19993566) {
				assert_int_equal(msg.locate, 5092);
				assert_int_equal(msg.tracking, 1);
				assert_int_equal(msg.ts_ns, UINT64_C(34200001163323));
				assert_int_equal(msg.exec.shares, 4926);
				assert_int_equal(msg.exec.match, 255581);
				assert_int_equal(msg.exec.printable, 'N');
				assert_int_equal(msg.exec.price, 224800);
				assert_int_equal(evu(&ev, WEIR_ITCH_F_printable), 0);
				t->seen_c = true;
			}
		}
		assert_ptr_equal(b, p + plen);
		off += caplen;
	}
	free(d);
}

static void
captures(void **st)
{
	static const struct { char t; unsigned n; } want[] = {
		{ 'A', 42 }, { 'F', 7 }, { 'Q', 5 }, { 'P', 5 }, { 'X', 5 }, { 'D', 7 }, { 'E', 6 },
		{ 'C', 5 }, { 'U', 6 }, { 'S', 1 },                         /* decoded: 89 */
		{ 'J', 5 }, { 'L', 6 }, { 'I', 6 }, { 'Y', 5 }, { 'H', 6 }, /* skipped: 28 */
	};
	struct cap_totals t = { 0 };
	struct weir_book_params bp = { .max_orders = 1000 };
	struct weir_book *bk = weir_book_create(&bp);
	struct weir_itch_dir *dir = calloc(1, sizeof(*dir));
	DIR *top = opendir(capture_dir);
	struct dirent *e;
	unsigned sum = 0;

	(void)st;
	if (!top)
		skip();
	assert_non_null(bk);
	assert_non_null(dir);
	while ((e = readdir(top)) != NULL) {
		char sub[4096];
		DIR *dd;
		struct dirent *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", capture_dir, e->d_name);
		if (!(dd = opendir(sub)))
			continue;
		while ((f = readdir(dd)) != NULL) {
			char path[8192];
			size_t n = strlen(f->d_name);
			if (n < 5 || strcmp(f->d_name + n - 5, ".pcap"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", sub, f->d_name);
			one_capture(path, &t, bk, dir);
		}
		closedir(dd);
	}
	closedir(top);
	print_message("captures: %u files, %u packets, %u messages (%u decoded, %u skipped)\n",
		      t.files, t.packets, t.msgs, t.decoded, t.skipped);
	assert_int_equal(t.files, 23);
	assert_int_equal(t.packets, 80);
	assert_int_equal(t.msgs, 117);
	assert_int_equal(t.decoded, 89);
	assert_int_equal(t.skipped, 28);
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		assert_int_equal(t.cnt[(uint8_t)want[k].t], want[k].n);
		sum += want[k].n;
	}
	assert_int_equal(sum, t.msgs);
	assert_true(t.seen_add && t.seen_c);
	assert_int_equal(weir_book_check(bk), 0);
	weir_book_destroy(bk);
	free(dir);
}

/* ---- MoldUDP64 edge cases ------------------------------------------------------------- */

static uint32_t
mold_hdr(uint8_t *p, uint64_t seq, uint16_t count)
{
	memcpy(p, SESSION, 10);
	be64(p + 10, seq);
	be16(p + 18, count);
	return WEIR_MOLD_HDR_LEN;
}

static void
mold_special(void **st)
{
	uint8_t p[64] = { 0 };
	struct weir_mold m;

	(void)st;
	mold_hdr(p, 77, WEIR_MOLD_HEARTBEAT);
	assert_int_equal(weir_mold_parse(p, 20, &m), WEIR_ITCH_BAD_MAX);
	assert_int_equal(m.count, 0);
	assert_int_equal(m.nmsgs, 0);
	assert_int_equal(m.seq, 77);
	assert_int_equal(weir_mold_parse(p, 21, &m), WEIR_ITCH_BAD_mold_trailing);
	mold_hdr(p, 78, WEIR_MOLD_END);
	assert_int_equal(weir_mold_parse(p, 20, &m), WEIR_ITCH_BAD_MAX);
	assert_int_equal(m.count, 0xFFFF);
	assert_int_equal(m.nmsgs, 0);
	assert_int_equal(m.seq, 78);
	assert_int_equal(weir_mold_parse(p, 22, &m), WEIR_ITCH_BAD_mold_trailing);
	assert_int_equal(weir_mold_parse(p, 19, &m), WEIR_ITCH_BAD_mold_truncated);
	assert_int_equal(weir_mold_parse(p, 0, &m), WEIR_ITCH_BAD_mold_truncated);
	/* the builder makes the same two */
	{
		uint8_t q[64];
		assert_int_equal(weir_mold_build(q, sizeof(q), SESSION, 78, NULL, NULL, WEIR_MOLD_END), 20);
		assert_memory_equal(q, p, 20);
		assert_int_equal(weir_mold_build(q, sizeof(q), SESSION, 77, NULL, NULL, 0), 20);
		mold_hdr(p, 77, 0);
		assert_memory_equal(q, p, 20);
		assert_int_equal(weir_mold_build(q, 19, SESSION, 77, NULL, NULL, 0), -ENOSPC);
	}
}

static void
mold_blocks(void **st)
{
	uint8_t p[256], msg[64];
	uint32_t n, l = mk_delete(msg, 1, 42);           /* 19 bytes */
	struct weir_itch_msg m;
	struct weir_mold mo;

	(void)st;
	/* two blocks, exact */
	n = mold_hdr(p, 5, 2);
	be16(p + n, (uint16_t)l); memcpy(p + n + 2, msg, l); n += 2 + l;
	be16(p + n, (uint16_t)l); memcpy(p + n + 2, msg, l); n += 2 + l;
	assert_int_equal(weir_mold_parse(p, n, &mo), WEIR_ITCH_BAD_MAX);
	assert_int_equal(mo.nmsgs, 2);
	/* the last block one byte short of its length: overruns the datagram */
	assert_int_equal(weir_mold_parse(p, n - 1, &mo), WEIR_ITCH_BAD_mold_overrun);
	/* only one byte of the second length prefix */
	assert_int_equal(weir_mold_parse(p, 20 + 2 + l + 1, &mo), WEIR_ITCH_BAD_mold_overrun);
	/* no room for the second block at all */
	assert_int_equal(weir_mold_parse(p, 20 + 2 + l, &mo), WEIR_ITCH_BAD_mold_overrun);
	/* count 3, two blocks */
	be16(p + 18, 3);
	assert_int_equal(weir_mold_parse(p, n, &mo), WEIR_ITCH_BAD_mold_overrun);
	/* count 1, two blocks: trailing */
	be16(p + 18, 1);
	assert_int_equal(weir_mold_parse(p, n, &mo), WEIR_ITCH_BAD_mold_trailing);
	/* a length prefix past the end */
	be16(p + 18, 2);
	be16(p + 20 + 2 + l, 0xffff);
	assert_int_equal(weir_mold_parse(p, n, &mo), WEIR_ITCH_BAD_mold_overrun);

	/* a message truncated by one byte inside a consistent frame: the frame parses, the
	 * block is msg_short, the block after it still decodes */
	n = mold_hdr(p, 5, 3);
	be16(p + n, (uint16_t)(l - 1)); memcpy(p + n + 2, msg, l - 1); n += 2 + l - 1;
	be16(p + n, 0); n += 2;                           /* and a zero-length block */
	be16(p + n, (uint16_t)l); memcpy(p + n + 2, msg, l); n += 2 + l;
	assert_int_equal(weir_mold_parse(p, n, &mo), WEIR_ITCH_BAD_MAX);
	{
		const uint8_t *b = mo.blocks;
		assert_int_equal(decode(b + 2, weir_mold_len(b), &m), WEIR_ITCH_BAD_msg_short);
		b = weir_mold_next(b);
		assert_int_equal(decode(b + 2, weir_mold_len(b), &m), WEIR_ITCH_BAD_msg_empty);
		b = weir_mold_next(b);
		assert_int_equal(decode(b + 2, weir_mold_len(b), &m), WEIR_ITCH_BAD_MAX);
		assert_int_equal(m.del.ref, 42);
		assert_ptr_equal(weir_mold_next(b), p + n);
	}
}

static void
mold_request(void **st)
{
	uint8_t q[WEIR_MOLD_REQ_LEN];
	static const uint8_t want[20] = { '0', '0', '0', '0', '0', '1', '0', '0', '5', '9',
					  0, 0, 0, 0, 0x01, 0x23, 0x45, 0x67, 0x00, 0x2a };

	(void)st;
	assert_int_equal(weir_mold_request(q, SESSION, 0x01234567, 42), 20);
	assert_memory_equal(q, want, 20);
}

/* ---- message lengths ------------------------------------------------------------------ */

static void
msg_lengths(void **st)
{
	static const struct { char t; uint32_t len; } types[] = {
		{ 'S', 12 }, { 'R', 39 }, { 'A', 36 }, { 'F', 40 }, { 'E', 31 }, { 'C', 36 },
		{ 'X', 23 }, { 'D', 19 }, { 'U', 35 }, { 'P', 44 }, { 'Q', 40 },
	};
	uint8_t p[128];
	struct weir_itch_msg m;
	unsigned ndecoded = 0;

	(void)st;
	for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
		memset(p, 0, sizeof(p));
		p[0] = (uint8_t)types[k].t;
		assert_int_equal(weir_itch_msg_len[(uint8_t)types[k].t], types[k].len);
		assert_int_equal(decode(p, types[k].len, &m), WEIR_ITCH_BAD_MAX);
		assert_int_equal(decode(p, types[k].len - 1, &m), WEIR_ITCH_BAD_msg_short);
		assert_int_equal(decode(p, types[k].len + 1, &m), WEIR_ITCH_BAD_msg_long);
		assert_int_equal(decode(p, 1, &m), WEIR_ITCH_BAD_msg_short);
	}
	for (unsigned t = 0; t < 256; t++)
		ndecoded += weir_itch_msg_len[t] != 0;
	assert_int_equal(ndecoded, 11);
	/* other types are skipped whatever their length */
	memset(p, 0, sizeof(p));
	for (const char *t = "HYLVWKJhBINO\x01Z"; *t; t++) {
		p[0] = (uint8_t)*t;
		assert_int_equal(decode(p, 1, &m), WEIR_ITCH_BAD_msg_skipped);
		assert_int_equal(decode(p, 100, &m), WEIR_ITCH_BAD_msg_skipped);
		assert_int_equal(m.type, *t);
	}
	assert_int_equal(decode(p, 0, &m), WEIR_ITCH_BAD_msg_empty);
	/* every sample message one byte short */
	for (unsigned i = 0; i < S.n; i++) {
		int want = S.msg[i][0] == 'I' ? WEIR_ITCH_BAD_msg_skipped : WEIR_ITCH_BAD_msg_short;
		assert_int_equal(decode(S.msg[i], S.mlen[i] - 1u, &m), want);
	}
}

static void
names(void **st)
{
	(void)st;
	for (int i = 0; i < WEIR_ITCH_BAD_MAX; i++) {
		assert_non_null(weir_itch_bad_name[i]);
		assert_true(strlen(weir_itch_bad_desc[i]) > 10);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(weir_itch_bad_name[i], weir_itch_bad_name[j]);
	}
	assert_string_equal(weir_itch_bad_name[WEIR_ITCH_BAD_mold_overrun], "mold_overrun");
	for (int i = 0; i < WEIR_ITCH_NFIELDS; i++) {
		assert_true(weir_itch_field_type[i] <= 2);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(weir_itch_field_name[i], weir_itch_field_name[j]);
	}
	assert_string_equal(weir_itch_field_name[WEIR_ITCH_F_notional], "notional");
	assert_int_equal(weir_itch_field_type[WEIR_ITCH_F_side], 0);
	assert_int_equal(weir_itch_field_type[WEIR_ITCH_F_price], 2);
	assert_int_equal(weir_itch_field_type[WEIR_ITCH_F_shares], 1);
}

/* ---- the book ------------------------------------------------------------------------- */

static struct weir_book *
mkbook(uint32_t max)
{
	struct weir_book_params bp = { .max_orders = max };
	struct weir_book *b = weir_book_create(&bp);

	assert_non_null(b);
	return b;
}

static void
book_full(void **st)
{
	struct weir_book *b = mkbook(4);
	struct weir_book_stats s;
	struct weir_book_order o;
	struct weir_book_params bad = { .max_orders = 0 };

	(void)st;
	errno = 0;
	assert_null(weir_book_create(&bad));
	assert_int_equal(errno, EINVAL);
	bad.max_orders = (1u << 30) + 1;
	assert_null(weir_book_create(&bad));
	assert_true(weir_book_memory(b) >= 8 * 24);
	for (uint64_t r = 1; r <= 4; r++)
		assert_int_equal(weir_book_add(b, r, 1, 1, 100 * (uint32_t)r, 10), 0);
	assert_int_equal(weir_book_add(b, 5, 1, 1, 500, 10), -ENOSPC);
	assert_int_equal(weir_book_add(b, 2, 1, -1, 1, 1), -EEXIST);       /* never overwritten */
	assert_int_equal(weir_book_find(b, 5, &o), -ENOENT);
	assert_int_equal(weir_book_execute(b, 5, 1, &o), -ENOENT);
	assert_int_equal(weir_book_find(b, 2, &o), 0);
	assert_int_equal(o.price, 200);
	assert_int_equal(o.side, 1);
	weir_book_get_stats(b, &s);
	assert_int_equal(s.live, 4);
	assert_int_equal(s.table_full, 1);
	assert_int_equal(s.dup_ref, 1);
	assert_int_equal(s.unknown_ref, 1);
	assert_int_equal(s.high_water, 4);
	assert_int_equal(s.capacity, 4);
	assert_int_equal(s.memory_bytes, weir_book_memory(b));
	assert_int_equal(weir_book_delete(b, 3, &o), 0);
	assert_int_equal(o.price, 300);
	assert_int_equal(weir_book_add(b, 5, 1, 1, 500, 10), 0);
	assert_int_equal(weir_book_check(b), 0);
	weir_book_clear(b);
	weir_book_get_stats(b, &s);
	assert_int_equal(s.live + s.adds + s.table_full + s.high_water, 0);
	assert_int_equal(s.capacity, 4);
	assert_int_equal(weir_book_find(b, 1, &o), -ENOENT);
	assert_int_equal(weir_book_check(b), 0);
	weir_book_destroy(b);
}

/* E C X D U for orders not in the book: counted, the events carry the message's fields. */
static void
book_unknown(void **st)
{
	struct weir_book *b = mkbook(16);
	struct weir_itch_dir *d = calloc(1, sizeof(*d));
	struct weir_itch_event ev;
	struct weir_itch_msg m;
	struct weir_book_stats s;
	struct weir_book_order o;
	uint8_t p[64];

	(void)st;
	assert_non_null(d);
	decode(p, mk_exec(p, 9, 1001, 300, 77), &m);
	assert_int_equal(weir_itch_event(b, d, &m, &ev), -ENOENT);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_shares), 300);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_match), 77);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_order_ref), 1001);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_locate), 9);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_printable), 1);
	assert_int_equal(evi(&ev, WEIR_ITCH_F_side), 0);
	assert_int_equal(evi(&ev, WEIR_ITCH_F_price_e4), 0);
	assert_true(evf(&ev, WEIR_ITCH_F_notional) == 0.0);
	decode(p, mk_execp(p, 9, 1002, 10, 78, 'Y', 123400), &m);
	assert_int_equal(weir_itch_event(b, d, &m, &ev), -ENOENT);
	assert_true(evf(&ev, WEIR_ITCH_F_price) == 12.34);
	assert_true(evf(&ev, WEIR_ITCH_F_notional) == 123.4);
	assert_int_equal(evi(&ev, WEIR_ITCH_F_side), 0);
	decode(p, mk_cancel(p, 9, 1003, 5), &m);
	assert_int_equal(weir_itch_event(b, d, &m, &ev), -ENOENT);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_shares), 5);
	decode(p, mk_delete(p, 9, 1004), &m);
	assert_int_equal(weir_itch_event(b, d, &m, &ev), -ENOENT);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_shares), 0);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_order_ref), 1004);
	/* U of an unknown order: the new one is still added (side unknown, the message's locate) */
	decode(p, mk_replace(p, 9, 1005, 1006, 40, 99000), &m);
	assert_int_equal(weir_itch_event(b, d, &m, &ev), -ENOENT);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_order_ref), 1006);
	assert_int_equal(weir_book_find(b, 1006, &o), 0);
	assert_int_equal(o.side, 0);
	assert_int_equal(o.locate, 9);
	assert_int_equal(o.price, 99000);
	assert_int_equal(o.shares, 40);
	weir_book_get_stats(b, &s);
	assert_int_equal(s.unknown_ref, 5);
	assert_int_equal(s.live, 1);
	/* no book at all: the same events, rc 0 */
	decode(p, mk_exec(p, 9, 1001, 300, 77), &m);
	assert_int_equal(weir_itch_event(NULL, NULL, &m, &ev), 0);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_shares), 300);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_stock), 0);
	weir_book_destroy(b);
	free(d);
}

/* U: the old reference goes, the new one keeps side and locate with the new price and
 * shares; executions of the new reference carry its price. */
static void
book_replace(void **st)
{
	struct weir_book *b = mkbook(16);
	struct weir_itch_dir *d = calloc(1, sizeof(*d));
	struct weir_itch_event ev;
	struct weir_itch_msg m;
	struct weir_book_order o;
	struct weir_book_stats s;
	uint8_t p[64];

	(void)st;
	assert_non_null(d);
	decode(p, mk_add(p, 'F', 7, 1, 'S', 100, "MSFT", 100000), &m);
	assert_int_equal(weir_itch_event(b, d, &m, &ev), 0);
	assert_int_equal(evi(&ev, WEIR_ITCH_F_side), -1);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_stock), weir_itch_stock_key("MSFT"));
	assert_true(evf(&ev, WEIR_ITCH_F_notional) == 1000.0);
	/* the header's locate differs: the order's is kept */
	decode(p, mk_replace(p, 8, 1, 2, 50, 105000), &m);
	assert_int_equal(weir_itch_event(b, d, &m, &ev), 0);
	assert_int_equal(evi(&ev, WEIR_ITCH_F_side), -1);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_locate), 7);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_order_ref), 2);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_shares), 50);
	assert_true(evf(&ev, WEIR_ITCH_F_price) == 10.5);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_stock), weir_itch_stock_key("MSFT"));  /* directory */
	assert_int_equal(weir_book_find(b, 1, &o), -ENOENT);
	assert_int_equal(weir_book_find(b, 2, &o), 0);
	assert_int_equal(o.side, -1);
	assert_int_equal(o.locate, 7);
	assert_int_equal(o.price, 105000);
	assert_int_equal(o.shares, 50);
	decode(p, mk_exec(p, 7, 2, 20, 900), &m);
	assert_int_equal(weir_itch_event(b, d, &m, &ev), 0);
	assert_true(evf(&ev, WEIR_ITCH_F_price) == 10.5);
	assert_true(evf(&ev, WEIR_ITCH_F_notional) == 210.0);
	assert_int_equal(evi(&ev, WEIR_ITCH_F_side), -1);
	assert_int_equal(weir_book_find(b, 2, &o), 0);
	assert_int_equal(o.shares, 30);
	/* replacing onto a live reference: the original goes, the new one is a duplicate */
	assert_int_equal(weir_book_add(b, 3, 7, 1, 1, 1), 0);
	assert_int_equal(weir_book_replace(b, 2, 3, 7, 5, 5, &o), -EEXIST);
	assert_int_equal(o.ref, 2);
	assert_int_equal(weir_book_find(b, 2, &o), -ENOENT);
	assert_int_equal(weir_book_find(b, 3, &o), 0);
	assert_int_equal(o.price, 1);
	weir_book_get_stats(b, &s);
	assert_int_equal(s.dup_ref, 1);
	assert_int_equal(s.live, 1);
	assert_int_equal(weir_book_check(b), 0);
	weir_book_destroy(b);
	free(d);
}

static void
book_exec_cancel(void **st)
{
	struct weir_book *b = mkbook(16);
	struct weir_itch_event ev;
	struct weir_itch_msg m;
	struct weir_book_order o;
	struct weir_book_stats s;
	uint8_t p[64];

	(void)st;
	decode(p, mk_add(p, 'A', 3, 10, 'B', 100, "AAPL", 2000000), &m);
	assert_int_equal(weir_itch_event(b, NULL, &m, &ev), 0);
	decode(p, mk_cancel(p, 3, 10, 30), &m);
	assert_int_equal(weir_itch_event(b, NULL, &m, &ev), 0);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_shares), 30);
	assert_int_equal(evi(&ev, WEIR_ITCH_F_side), 1);
	assert_int_equal(evi(&ev, WEIR_ITCH_F_price_e4), 2000000);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_printable), 0);
	decode(p, mk_execp(p, 3, 10, 20, 5, 'N', 1990000), &m);
	assert_int_equal(weir_itch_event(b, NULL, &m, &ev), 0);
	assert_int_equal(evi(&ev, WEIR_ITCH_F_price_e4), 1990000);   /* the execution price */
	assert_int_equal(evi(&ev, WEIR_ITCH_F_side), 1);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_printable), 0);        /* non-printable */
	assert_int_equal(weir_book_find(b, 10, &o), 0);
	assert_int_equal(o.shares, 50);
	assert_int_equal(o.price, 2000000);                          /* the order keeps its price */
	decode(p, mk_delete(p, 3, 10), &m);
	assert_int_equal(weir_itch_event(b, NULL, &m, &ev), 0);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_shares), 50);          /* remaining */
	assert_true(evf(&ev, WEIR_ITCH_F_notional) == 10000.0);
	assert_int_equal(weir_book_find(b, 10, &o), -ENOENT);
	/* execution to exactly 0 removes; beyond is overfill (removed too) */
	assert_int_equal(weir_book_add(b, 11, 3, -1, 100, 10), 0);
	assert_int_equal(weir_book_execute(b, 11, 10, &o), 0);
	assert_int_equal(o.shares, 10);                              /* before */
	assert_int_equal(weir_book_find(b, 11, &o), -ENOENT);
	assert_int_equal(weir_book_add(b, 12, 3, -1, 100, 10), 0);
	assert_int_equal(weir_book_cancel(b, 12, 11, NULL), 0);
	assert_int_equal(weir_book_find(b, 12, &o), -ENOENT);
	weir_book_get_stats(b, &s);
	assert_int_equal(s.overfill, 1);
	assert_int_equal(s.adds, 3);
	assert_int_equal(s.removes, 3);
	assert_int_equal(s.live, 0);
	assert_int_equal(s.high_water, 1);
	weir_book_destroy(b);
}

/* Random adds, executions, cancels, deletes and replaces on a small table with many
 * colliding references, against the naive book: the table stays consistent (backward
 * shift) and agrees with the reference after every operation.  Three locates, both
 * sides, six prices: several orders per level; the touched locate's levels equal the
 * naive book's after every operation, all of them every 97. */
static void
book_churn(void **st)
{
	enum { MAXO = 48, REFS = 200, OPS = 200000 };
	static struct nord nv[REFS];                 /* indexed by ref */
	struct weir_book *b = mkbook(MAXO);
	struct weir_book_stats s;
	uint64_t rng = 12345, live = 0, full = 0, unknown = 0;

	(void)st;
	memset(nv, 0, sizeof(nv));
	for (int it = 0; it < OPS; it++) {
		uint64_t r;
		rng = rng * 6364136223846793005u + 1442695040888963407u;
		r = rng >> 33;
		uint64_t ref = r % REFS, ref2 = (r >> 8) % REFS;
		uint32_t sh = 1 + (uint32_t)((r >> 16) % 20);
		uint32_t px = 10 * (1 + (uint32_t)((rng >> 13) % 6));
		uint16_t loc = (uint16_t)(ref % 3);
		int touched = nv[ref].live ? nv[ref].locate : loc;
		struct weir_book_order o;
		int rc;

		switch ((r >> 24) % 6) {
		case 0:
		case 1:
			rc = weir_book_add(b, ref, loc, ref & 1 ? 1 : -1, px, sh);
			if (nv[ref].live)
				assert_int_equal(rc, -EEXIST);
			else if (live == MAXO) {
				assert_int_equal(rc, -ENOSPC);
				full++;
			} else {
				assert_int_equal(rc, 0);
				nv[ref] = (struct nord){ ref, px, sh, loc, ref & 1 ? 1 : -1, true };
				live++;
			}
			break;
		case 2:
		case 3:
			rc = (r >> 30) & 1 ? weir_book_execute(b, ref, sh, &o) : weir_book_cancel(b, ref, sh, &o);
			if (!nv[ref].live) {
				assert_int_equal(rc, -ENOENT);
				unknown++;
				break;
			}
			assert_int_equal(rc, 0);
			assert_int_equal(o.shares, nv[ref].shares);
			nv[ref].shares -= sh < nv[ref].shares ? sh : nv[ref].shares;
			if (!nv[ref].shares) {
				nv[ref].live = false;
				live--;
			}
			break;
		case 4:
			rc = weir_book_delete(b, ref, &o);
			if (!nv[ref].live) {
				assert_int_equal(rc, -ENOENT);
				unknown++;
				break;
			}
			assert_int_equal(rc, 0);
			nv[ref].live = false;
			live--;
			break;
		default:
			rc = weir_book_replace(b, ref, ref2, 7, px, sh, &o);
			if (!nv[ref].live) {
				assert_int_equal(rc, -ENOENT);
				unknown++;
				if (!nv[ref2].live && live < MAXO) {
					nv[ref2] = (struct nord){ ref2, px, sh, 7, 0, true };
					live++;
				} else if (!nv[ref2].live)
					full++;
				break;
			}
			nv[ref].live = false;
			live--;
			if (nv[ref2].live) {
				assert_int_equal(rc, -EEXIST);
			} else {
				assert_int_equal(rc, 0);
				nv[ref2] = (struct nord){ ref2, px, sh, nv[ref].locate, nv[ref].side, true };
				live++;
			}
			break;
		}
		assert_levels(b, nv, REFS, touched);
		if (it % 97 == 0 || it == OPS - 1) {
			assert_int_equal(weir_book_check(b), 0);
			assert_levels(b, nv, REFS, -1);
			for (uint64_t k = 0; k < REFS; k++) {
				rc = weir_book_find(b, k, &o);
				assert_int_equal(rc, nv[k].live ? 0 : -ENOENT);
				if (nv[k].live) {
					assert_int_equal(o.shares, nv[k].shares);
					assert_int_equal(o.price, nv[k].price);
					assert_int_equal(o.side, nv[k].side);
					assert_int_equal(o.locate, nv[k].locate);
				}
			}
		}
	}
	weir_book_get_stats(b, &s);
	assert_int_equal(s.live, live);
	assert_int_equal(s.table_full, full);
	assert_int_equal(s.unknown_ref, unknown);
	assert_int_equal(s.high_water, MAXO);
	assert_true(full > 0);
	weir_book_destroy(b);
}

/* ---- price levels: specific cases ---- */

/* decode + weir_itch_event; its return */
static int
evmsg(struct weir_book *b, const uint8_t *p, uint32_t len, struct weir_itch_event *ev)
{
	struct weir_itch_msg m;

	assert_int_equal(decode(p, len, &m), WEIR_ITCH_BAD_MAX);
	return weir_itch_event(b, NULL, &m, ev);
}

/* The event's top of book: prices Price(4) (0 none), sizes, spread Price(4) (when both). */
static void
assert_evtop(const struct weir_itch_event *ev, uint32_t bid, uint64_t bid_size, uint32_t ask,
	     uint64_t ask_size)
{
	assert_true(evf(ev, WEIR_ITCH_F_bid) == bid / 1e4);
	assert_true(evf(ev, WEIR_ITCH_F_ask) == ask / 1e4);
	assert_int_equal(evu(ev, WEIR_ITCH_F_bid_size), bid_size);
	assert_int_equal(evu(ev, WEIR_ITCH_F_ask_size), ask_size);
	assert_true(evf(ev, WEIR_ITCH_F_spread) ==
		    (bid_size && ask_size ? ((double)ask - (double)bid) / 1e4 : 0.0));
}

/* One side's levels, best first: n pairs of (price, shares) after the count. */
static void
assert_depth(const struct weir_book *b, uint16_t loc, int8_t side, unsigned n, ...)
{
	struct weir_book_level got[16];
	va_list ap;

	assert_int_equal(weir_book_depth(b, loc, side, got, 16), n);
	va_start(ap, n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(got[i].price, va_arg(ap, unsigned));
		assert_int_equal(got[i].shares, va_arg(ap, unsigned));
	}
	va_end(ap);
	assert_int_equal(weir_book_check(b), 0);
}

/* Each way a best level empties moves the best to the next level; C at its own price
 * takes shares off the order's level; U to a better price; two stocks independent;
 * unknown side, zero shares, duplicates and a price 0 level; crossed book; clear. */
static void
levels_cases(void **st)
{
	struct weir_book *b = mkbook(64);
	struct weir_itch_event ev;
	struct weir_book_top t;
	struct weir_book_stats s;
	struct weir_book_order o;
	uint8_t p[64];

	(void)st;
	/* AAPL (locate 5): bids 100.00 x 100+50, 99.99 x 70, 99.98 x 10; asks 100.05 x 200, 100.10 x 20 */
	assert_int_equal(evmsg(b, p, mk_add(p, 'A', 5, 1, 'B', 100, "AAPL", 1000000), &ev), 0);
	assert_evtop(&ev, 1000000, 100, 0, 0);
	assert_int_equal(evmsg(b, p, mk_add(p, 'F', 5, 2, 'B', 50, "AAPL", 1000000), &ev), 0);
	assert_evtop(&ev, 1000000, 150, 0, 0);
	evmsg(b, p, mk_add(p, 'A', 5, 3, 'B', 70, "AAPL", 999900), &ev);
	evmsg(b, p, mk_add(p, 'A', 5, 4, 'B', 10, "AAPL", 999800), &ev);
	assert_evtop(&ev, 1000000, 150, 0, 0);
	evmsg(b, p, mk_add(p, 'A', 5, 5, 'S', 200, "AAPL", 1000500), &ev);
	assert_evtop(&ev, 1000000, 150, 1000500, 200);
	assert_true(evf(&ev, WEIR_ITCH_F_spread) == 0.05);
	evmsg(b, p, mk_add(p, 'A', 5, 6, 'S', 20, "AAPL", 1001000), &ev);
	assert_evtop(&ev, 1000000, 150, 1000500, 200);
	assert_depth(b, 5, 1, 3, 1000000, 150, 999900, 70, 999800, 10);
	assert_depth(b, 5, -1, 2, 1000500, 200, 1001000, 20);
	/* MSFT (locate 6): its own book */
	evmsg(b, p, mk_add(p, 'A', 6, 7, 'S', 30, "MSFT", 500000), &ev);
	assert_evtop(&ev, 0, 0, 500000, 30);
	evmsg(b, p, mk_add(p, 'A', 6, 8, 'B', 40, "MSFT", 499900), &ev);
	assert_evtop(&ev, 499900, 40, 500000, 30);
	assert_int_equal(weir_book_top(b, 5, &t), 3);
	assert_int_equal(t.bid.price, 1000000);
	assert_int_equal(t.bid.shares, 150);
	assert_int_equal(t.bid.orders, 2);
	assert_int_equal(t.ask.price, 1000500);
	assert_int_equal(t.ask.orders, 1);
	assert_int_equal(weir_book_top(b, 4, &t), 0);
	assert_int_equal(t.bid.orders + t.ask.orders, 0);

	/* E of all of order 1: the level keeps order 2 */
	assert_int_equal(evmsg(b, p, mk_exec(p, 5, 1, 100, 1), &ev), 0);
	assert_evtop(&ev, 1000000, 50, 1000500, 200);
	/* C at 100.03: 20 shares leave the order's level at 100.00; no level at 100.03 */
	assert_int_equal(evmsg(b, p, mk_execp(p, 5, 2, 20, 2, 'Y', 1000300), &ev), 0);
	assert_int_equal(evi(&ev, WEIR_ITCH_F_price_e4), 1000300);
	assert_evtop(&ev, 1000000, 30, 1000500, 200);
	assert_depth(b, 5, 1, 3, 1000000, 30, 999900, 70, 999800, 10);
	/* X of the rest of order 2: the best level empties, 99.99 is the best */
	assert_int_equal(evmsg(b, p, mk_cancel(p, 5, 2, 30), &ev), 0);
	assert_evtop(&ev, 999900, 70, 1000500, 200);
	/* E of more than order 3 has (overfill): removed, 99.98 is the best */
	assert_int_equal(evmsg(b, p, mk_exec(p, 5, 3, 100, 3), &ev), 0);
	assert_evtop(&ev, 999800, 10, 1000500, 200);
	weir_book_get_stats(b, &s);
	assert_int_equal(s.overfill, 1);
	/* X partial: only the cancelled shares leave */
	evmsg(b, p, mk_add(p, 'A', 5, 9, 'B', 25, "AAPL", 999800), &ev);
	assert_evtop(&ev, 999800, 35, 1000500, 200);
	assert_int_equal(evmsg(b, p, mk_cancel(p, 5, 9, 5), &ev), 0);
	assert_evtop(&ev, 999800, 30, 1000500, 200);
	/* D: order 4 leaves its level (20 remain), then order 9 empties it: no bid at all */
	assert_int_equal(evmsg(b, p, mk_delete(p, 5, 4), &ev), 0);
	assert_evtop(&ev, 999800, 20, 1000500, 200);
	assert_int_equal(evmsg(b, p, mk_delete(p, 5, 9), &ev), 0);
	assert_evtop(&ev, 0, 0, 1000500, 200);
	assert_depth(b, 5, 1, 0);
	/* U to a better price: 99.00 -> 100.01 (the old level goes, a new best) */
	evmsg(b, p, mk_add(p, 'A', 5, 10, 'B', 10, "AAPL", 990000), &ev);
	evmsg(b, p, mk_add(p, 'A', 5, 11, 'B', 10, "AAPL", 980000), &ev);
	assert_evtop(&ev, 990000, 10, 1000500, 200);
	assert_int_equal(evmsg(b, p, mk_replace(p, 5, 10, 12, 15, 1000100), &ev), 0);
	assert_evtop(&ev, 1000100, 15, 1000500, 200);
	assert_depth(b, 5, 1, 2, 1000100, 15, 980000, 10);
	/* U of the best to a worse price: the best moves to 98.00 */
	assert_int_equal(evmsg(b, p, mk_replace(p, 5, 12, 13, 5, 970000), &ev), 0);
	assert_evtop(&ev, 980000, 10, 1000500, 200);
	assert_depth(b, 5, 1, 2, 980000, 10, 970000, 5);
	/* the best ask empties: the next higher */
	assert_int_equal(evmsg(b, p, mk_exec(p, 5, 5, 200, 4), &ev), 0);
	assert_evtop(&ev, 980000, 10, 1001000, 20);
	/* a bid through the ask: crossed, spread negative */
	evmsg(b, p, mk_add(p, 'A', 5, 14, 'B', 10, "AAPL", 1002000), &ev);
	assert_evtop(&ev, 1002000, 10, 1001000, 20);
	assert_true(evf(&ev, WEIR_ITCH_F_spread) < 0);
	/* P and Q carry the stock's top of book too */
	evmsg(b, p, mk_trade(p, 5, 'B', 84, "AAPL", 1000000, 99), &ev);
	assert_evtop(&ev, 1002000, 10, 1001000, 20);
	evmsg(b, p, mk_cross(p, 6, 1000, "MSFT", 500000, 98), &ev);
	assert_evtop(&ev, 499900, 40, 500000, 30);
	/* MSFT untouched all along */
	assert_depth(b, 6, 1, 1, 499900, 40);
	assert_depth(b, 6, -1, 1, 500000, 30);
	/* an E on MSFT: AAPL's levels stay */
	assert_int_equal(evmsg(b, p, mk_exec(p, 6, 7, 30, 5), &ev), 0);
	assert_evtop(&ev, 499900, 40, 0, 0);
	/* a header locate other than the order's: the order's stock (the event's locate) */
	assert_int_equal(evmsg(b, p, mk_exec(p, 5, 8, 10, 6), &ev), 0);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_locate), 6);
	assert_evtop(&ev, 499900, 30, 0, 0);
	assert_int_equal(evmsg(b, p, mk_replace(p, 5, 8, 19, 40, 499800), &ev), 0);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_locate), 6);
	assert_evtop(&ev, 499800, 40, 0, 0);
	assert_int_equal(evmsg(b, p, mk_replace(p, 6, 19, 8, 40, 499900), &ev), 0);
	assert_evtop(&ev, 499900, 40, 0, 0);
	assert_depth(b, 5, -1, 1, 1001000, 20);

	/* U of an unknown original: the new order (side 0) is in no level, nor is what
	 * executes against it */
	assert_int_equal(evmsg(b, p, mk_replace(p, 5, 999, 15, 100, 1000000), &ev), -ENOENT);
	assert_evtop(&ev, 1002000, 10, 1001000, 20);
	assert_int_equal(evmsg(b, p, mk_exec(p, 5, 15, 40, 6), &ev), 0);
	assert_evtop(&ev, 1002000, 10, 1001000, 20);
	assert_depth(b, 5, 1, 3, 1002000, 10, 980000, 10, 970000, 5);
	/* an order of 0 shares is in no level; a duplicate add changes no level */
	assert_int_equal(weir_book_add(b, 16, 5, 1, 1000000, 0), 0);
	assert_int_equal(weir_book_add(b, 14, 5, 1, 1000000, 50), -EEXIST);
	assert_depth(b, 5, 1, 3, 1002000, 10, 980000, 10, 970000, 5);
	assert_int_equal(weir_book_delete(b, 16, &o), 0);
	/* U whose new reference is live: the original leaves its level, nothing joins */
	assert_int_equal(weir_book_replace(b, 14, 8, 5, 1, 1, &o), -EEXIST);
	assert_depth(b, 5, 1, 2, 980000, 10, 970000, 5);
	assert_depth(b, 6, 1, 1, 499900, 40);
	/* a level at price 0 is a level (orders tell it from none) */
	assert_int_equal(weir_book_add(b, 17, 9, 1, 0, 5), 0);
	assert_int_equal(weir_book_add(b, 18, 9, -1, 100, 7), 0);
	assert_int_equal(weir_book_top(b, 9, &t), 3);
	assert_int_equal(t.bid.price, 0);
	assert_int_equal(t.bid.orders, 1);
	evmsg(b, p, mk_trade(p, 9, 'S', 1, "ZERO", 100, 97), &ev);
	assert_evtop(&ev, 0, 5, 100, 7);
	assert_true(evf(&ev, WEIR_ITCH_F_spread) == 0.01);
	/* S and R: no top of book */
	evmsg(b, p, mk_dir(p, 5, "AAPL"), &ev);
	assert_evtop(&ev, 0, 0, 0, 0);
	evmsg(b, p, mk_sys(p, 'Q'), &ev);
	assert_evtop(&ev, 0, 0, 0, 0);
	weir_book_get_stats(b, &s);
	assert_int_equal(s.levels, 2 + 1 + 1 + 2);     /* AAPL bids, ask; MSFT bid; locate 9 */
	assert_true(s.level_high_water >= 7);
	assert_int_equal(s.level_full, 0);
	assert_int_equal(weir_book_check(b), 0);
	/* clear: no level anywhere, and the book works again */
	weir_book_clear(b);
	weir_book_get_stats(b, &s);
	assert_int_equal(s.levels + s.level_high_water, 0);
	assert_int_equal(weir_book_top(b, 5, &t), 0);
	assert_int_equal(weir_book_top(b, 9, &t), 0);
	assert_int_equal(weir_book_check(b), 0);
	evmsg(b, p, mk_add(p, 'A', 5, 1, 'S', 10, "AAPL", 1000000), &ev);
	assert_evtop(&ev, 0, 0, 1000000, 10);
	assert_depth(b, 5, -1, 1, 1000000, 10);
	weir_book_destroy(b);
}

/* Many levels per side (deep AVL trees): prices added in ascending and descending runs
 * (the worst case of an unbalanced tree), then emptied best first, worst first and at
 * random, then random churn over thousands of levels on several locates, against the
 * naive book; weir_book_check (balance, order, sums) throughout. */
static void
levels_deep(void **st)
{
	enum { MAXO = 3000, REFS = 4000, OPS = 60000 };
	static struct nord nv[REFS];
	struct weir_book *b = mkbook(MAXO);
	struct weir_book_stats s;
	uint64_t rng = 777;
	unsigned live = 0;

	(void)st;
	memset(nv, 0, sizeof(nv));
	/* 1000 bids ascending, 1000 asks descending on locate 1, one order per level */
	for (uint32_t i = 0; i < 1000; i++) {
		assert_int_equal(weir_book_add(b, i, 1, 1, 10000 + i, 1 + i), 0);
		nv[i] = (struct nord){ i, 10000 + i, 1 + i, 1, 1, true };
		assert_int_equal(weir_book_add(b, 1000 + i, 1, -1, 30000 - i, 1 + i), 0);
		nv[1000 + i] = (struct nord){ 1000 + i, 30000 - i, 1 + i, 1, -1, true };
		if (i % 50 == 0)
			assert_int_equal(weir_book_check(b), 0);
	}
	assert_levels(b, nv, REFS, -1);
	assert_int_equal(weir_book_check(b), 0);
	/* bids emptied best first (the newest), asks worst first */
	for (uint32_t i = 0; i < 500; i++) {
		struct weir_book_top t;
		assert_int_equal(weir_book_delete(b, 999 - i, NULL), 0);
		nv[999 - i].live = false;
		assert_int_equal(weir_book_execute(b, 1000 + i, 1 + i, NULL), 0);
		nv[1000 + i].live = false;
		weir_book_top(b, 1, &t);
		assert_int_equal(t.bid.price, 10000 + 999 - i - 1);
		assert_int_equal(t.ask.price, 30000 - 999);
		if (i % 50 == 0)
			assert_int_equal(weir_book_check(b), 0);
	}
	assert_levels(b, nv, REFS, -1);
	for (uint32_t i = 0; i < REFS; i++)
		live += nv[i].live;
	/* random churn: 4 locates, 600 prices, a U to any price */
	for (int it = 0; it < OPS; it++) {
		uint64_t r, ref, ref2;
		uint32_t sh, px;
		uint16_t loc;
		int rc;

		rng = rng * 6364136223846793005u + 1442695040888963407u;
		r = rng >> 32;
		ref = r % REFS;
		ref2 = (r >> 16) % REFS;
		rng = rng * 6364136223846793005u + 1442695040888963407u;
		r = rng >> 32;
		sh = 1 + (uint32_t)(r % 300);
		px = 20000 - 300 + (uint32_t)((r >> 9) % 600);
		loc = (uint16_t)(1 + (r >> 19) % 4);
		switch ((r >> 21) % 8) {
		case 0:
		case 1:
		case 2:
			rc = weir_book_add(b, ref, loc, ref & 1 ? 1 : -1, px, sh);
			if (nv[ref].live) {
				assert_int_equal(rc, -EEXIST);
			} else if (live == MAXO) {
				assert_int_equal(rc, -ENOSPC);
			} else {
				assert_int_equal(rc, 0);
				nv[ref] = (struct nord){ ref, px, sh, loc, ref & 1 ? 1 : -1, true };
				live++;
			}
			break;
		case 3:
		case 4:
			rc = weir_book_execute(b, ref, sh, NULL);
			assert_int_equal(rc, nv[ref].live ? 0 : -ENOENT);
			if (nv[ref].live) {
				nv[ref].shares -= sh < nv[ref].shares ? sh : nv[ref].shares;
				if (!nv[ref].shares) {
					nv[ref].live = false;
					live--;
				}
			}
			break;
		case 5:
			rc = weir_book_delete(b, ref, NULL);
			assert_int_equal(rc, nv[ref].live ? 0 : -ENOENT);
			if (nv[ref].live) {
				nv[ref].live = false;
				live--;
			}
			break;
		default:
			rc = weir_book_replace(b, ref, ref2, loc, px, sh, NULL);
			if (nv[ref].live) {
				nv[ref].live = false;
				live--;
				assert_int_equal(rc, nv[ref2].live ? -EEXIST : 0);
				if (!nv[ref2].live) {
					nv[ref2] = (struct nord){ ref2, px, sh, nv[ref].locate, nv[ref].side, true };
					live++;
				}
			} else {
				assert_int_equal(rc, -ENOENT);
				if (!nv[ref2].live && live < MAXO) {
					nv[ref2] = (struct nord){ ref2, px, sh, loc, 0, true };
					live++;
				}
			}
			break;
		}
		if (it % 2000 == 0 || it == OPS - 1) {
			assert_int_equal(weir_book_check(b), 0);
			assert_levels(b, nv, REFS, -1);
		} else if (it % 20 == 0) {
			assert_levels(b, nv, REFS, loc);
		}
	}
	weir_book_get_stats(b, &s);
	print_message("deep levels: %llu levels now, high water %llu, %llu live orders\n",
		      (unsigned long long)s.levels, (unsigned long long)s.level_high_water,
		      (unsigned long long)s.live);
	assert_true(s.level_high_water >= 1500);
	assert_int_equal(s.live, live);
	/* everything out at random: the book ends empty, every page returned */
	for (uint32_t i = 0; i < REFS; i++) {
		uint32_t k = i * 1237 % REFS;   /* a permutation (1237 is prime) */
		assert_int_equal(weir_book_delete(b, k, NULL), nv[k].live ? 0 : -ENOENT);
		nv[k].live = false;
		if (i % 400 == 0)
			assert_int_equal(weir_book_check(b), 0);
	}
	weir_book_get_stats(b, &s);
	assert_int_equal(s.live + s.levels, 0);
	assert_int_equal(weir_book_check(b), 0);
	weir_book_destroy(b);
}

/* S R P Q events and the directory. */
static void
events_other(void **st)
{
	struct weir_itch_dir *d = calloc(1, sizeof(*d));
	struct weir_itch_event ev;
	struct weir_itch_msg m;
	uint8_t p[64];
	char sym[9];

	(void)st;
	assert_non_null(d);
	assert_int_equal(decode(p, mk_sys(p, 'O'), &m), WEIR_ITCH_BAD_MAX);
	assert_int_equal(m.sys.event_code, 'O');
	assert_int_equal(m.tracking, 7);
	assert_int_equal(m.ts_ns, 50);
	assert_int_equal(weir_itch_event(NULL, d, &m, &ev), 0);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_type), 'S');
	assert_int_equal(decode(p, mk_dir(p, 42, "BRK A"), &m), WEIR_ITCH_BAD_MAX);
	assert_int_equal(m.dir.market_category, 'Q');
	assert_int_equal(m.dir.round_lot_size, 100);
	assert_int_equal(m.dir.inverse, 'N');
	assert_int_equal(weir_itch_event(NULL, d, &m, &ev), 0);
	assert_int_equal(d->stock[42], weir_itch_stock_key("BRK A"));
	weir_itch_symbol(d->stock[42], sym);
	assert_string_equal(sym, "BRK A");
	assert_int_equal(weir_itch_stock_key("ABCDEFGHIJ"), weir_itch_stock_key("ABCDEFGH"));
	assert_int_equal(weir_itch_stock_key("A"), UINT64_C(0x4120202020202020));
	/* an E on locate 42 gets the symbol from the directory */
	decode(p, mk_exec(p, 42, 1, 1, 1), &m);
	weir_itch_event(NULL, d, &m, &ev);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_stock), weir_itch_stock_key("BRK A"));
	decode(p, mk_trade(p, 5, 'B', 84, "ROKU", 1377000, 53487), &m);
	assert_int_equal(weir_itch_event(NULL, d, &m, &ev), 0);
	assert_int_equal(evi(&ev, WEIR_ITCH_F_side), 1);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_shares), 84);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_match), 53487);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_printable), 1);
	assert_true(evf(&ev, WEIR_ITCH_F_notional) == 1377000.0 * 84 / 1e4);
	assert_int_equal(d->stock[5], weir_itch_stock_key("ROKU"));
	decode(p, mk_cross(p, 6, UINT64_C(5000000000), "HDS", 404300, 53497), &m);
	assert_int_equal(m.cross.shares, UINT64_C(5000000000));      /* u64 shares */
	assert_int_equal(m.cross.cross_type, 'C');
	assert_int_equal(weir_itch_event(NULL, d, &m, &ev), 0);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_shares), UINT64_C(5000000000));
	assert_int_equal(evi(&ev, WEIR_ITCH_F_side), 0);
	assert_int_equal(evu(&ev, WEIR_ITCH_F_order_ref), 0);
	assert_true(evf(&ev, WEIR_ITCH_F_price) == 40.43);
	free(d);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names),
		cmocka_unit_test(sample_types),
		cmocka_unit_test(sample_vectors),
		cmocka_unit_test(sample_book),
		cmocka_unit_test(sample_levels),
		cmocka_unit_test(sample_mold),
		cmocka_unit_test(captures),
		cmocka_unit_test(mold_special),
		cmocka_unit_test(mold_blocks),
		cmocka_unit_test(mold_request),
		cmocka_unit_test(msg_lengths),
		cmocka_unit_test(book_full),
		cmocka_unit_test(book_unknown),
		cmocka_unit_test(book_replace),
		cmocka_unit_test(book_exec_cancel),
		cmocka_unit_test(book_churn),
		cmocka_unit_test(levels_cases),
		cmocka_unit_test(levels_deep),
		cmocka_unit_test(events_other),
	};
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: %s SAMPLE_FILE CAPTURE_DIR\n", argv[0]);
		return 2;
	}
	if (load_sample(argv[1])) {
		if (!S.buf) {
			printf("SKIP: cannot read the ITCH sample %s: %s\n", argv[1], strerror(errno));
			return 77;
		}
		fprintf(stderr, "%s: bad BinaryFILE framing\n", argv[1]);
		return 1;
	}
	capture_dir = argv[2];
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(S.buf);
	return rc;
}
