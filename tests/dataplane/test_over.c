/* SPDX-License-Identifier: Apache-2.0
 * Unit tests: the OVER-window operator (over.h) against a naive reference.
 *
 * The reference keeps every applied event in arrival order and, for each new one,
 * scans all earlier applied events of its key: no buffers, no running sums.  Inputs
 * are seeded random streams: several keys, out-of-order and equal times, late events,
 * watermarks between batches (some lower: ignored), i64/u64/f64 fields and a derived
 * input, every aggregate, CUR, HAVING, sum overflow, NaN/inf, SELECT, lateness > 0.
 * f64 values are multiples of 1/8 of bounded size, so every sum is exact whatever the
 * order of addition: results are compared bit for bit (sums as numbers: -0 == +0).
 *
 * Allocation failures are injected with the linker's --wrap of malloc/calloc/realloc
 * (tests/dataplane/meson.build), armed only inside the alloc_failure test. */
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

#include "config.h"
#include "expr.h"
#include "over.h"
#include "window.h"

/* ---- allocation failure injection --------------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

static unsigned fail_every;         /* 0: off; else every fail_every-th allocation fails */
static unsigned fail_tick;
static uint64_t fails;

static int
alloc_fails(void)
{
	if (!fail_every || ++fail_tick % fail_every)
		return 0;
	fails++;
	return 1;
}

void *__wrap_malloc(size_t n) { return alloc_fails() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { return alloc_fails() ? NULL : __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { return alloc_fails() ? NULL : __real_realloc(p, n); }

/* ---- configuration ------------------------------------------------------------------------------ */

#define NF 3                        /* source fields: a:i64, u:u64, f:f64 */
#define NV 5                        /* + derived d:i64 (v[3]) + latency stamp (v[4]) */
enum { FA = 0, FU = 1, FF = 2, FD = 3 };

struct aspec { uint8_t fn; int8_t field; };

static struct weir_source_cfg src;
static struct weir_query_cfg qc;   /* (large: static) */

static uint8_t
ftype(int field)
{
	return field == FU ? WEIR_F_U64 : field == FF ? WEIR_F_F64 : WEIR_F_I64;
}

static void
setup(uint8_t kind, int64_t size, int64_t lateness, const struct aspec *a, int n)
{
	memset(&src, 0, sizeof(src));
	snprintf(src.name, sizeof(src.name), "s");
	src.nfields = NF;
	src.field_type[FA] = WEIR_F_I64;
	src.field_type[FU] = WEIR_F_U64;
	src.field_type[FF] = WEIR_F_F64;
	memset(&qc, 0, sizeof(qc));
	snprintf(qc.name, sizeof(qc.name), "q");
	qc.window = kind;
	qc.size = size;
	qc.slide = size;
	qc.lateness = lateness;
	qc.key_field = -1;
	qc.nderived = 1;
	qc.naggs = n;
	for (int i = 0; i < n; i++) {
		qc.aggs[i].fn = a[i].fn;
		qc.aggs[i].field = a[i].field;
		qc.aggs[i].type = a[i].field < 0 ? WEIR_F_I64 : ftype(a[i].field);
		snprintf(qc.aggs[i].name, sizeof(qc.aggs[i].name), "a%d", i);
	}
}

/* every aggregate on every field kind */
static const struct aspec all_aggs[] = {
	{ WEIR_AGG_COUNT, -1 },
	{ WEIR_AGG_SUM, FA }, { WEIR_AGG_SUM, FU }, { WEIR_AGG_SUM, FF }, { WEIR_AGG_SUM, FD },
	{ WEIR_AGG_AVG, FA }, { WEIR_AGG_AVG, FF },
	{ WEIR_AGG_MIN, FA }, { WEIR_AGG_MAX, FA }, { WEIR_AGG_MIN, FU }, { WEIR_AGG_MAX, FU },
	{ WEIR_AGG_MIN, FF }, { WEIR_AGG_MAX, FF }, { WEIR_AGG_MAX, FD },
	{ WEIR_AGG_FIRST, FA }, { WEIR_AGG_FIRST, FF }, { WEIR_AGG_FIRST, FD },
	{ WEIR_AGG_LAST, FU }, { WEIR_AGG_LAST, FF },
	{ WEIR_AGG_CUR, FA }, { WEIR_AGG_CUR, FF }, { WEIR_AGG_CUR, FD },
};
#define N_ALL ((int)(sizeof(all_aggs) / sizeof(all_aggs[0])))

static const struct aspec select_aggs[] = {
	{ WEIR_AGG_COUNT, -1 }, { WEIR_AGG_CUR, FA }, { WEIR_AGG_CUR, FU }, { WEIR_AGG_CUR, FF }, { WEIR_AGG_CUR, FD },
};

/* ---- results -------------------------------------------------------------------------------------- */

struct res {
	uint16_t query, naggs;
	uint32_t rev, nulls;
	uint64_t key;
	int64_t start, end;
	uint64_t count;
	uint64_t val[WEIR_MAX_AGGS + 2];
};

struct out {
	struct res *r;
	unsigned n, cap;
	bool latency;
};

static void
res_from(struct res *x, const struct weir_result *r, bool latency)
{
	memset(x, 0, sizeof(*x));
	x->query = r->query;
	x->naggs = r->naggs;
	x->rev = r->revision;
	x->nulls = r->null_mask;
	x->key = r->key;
	x->start = r->start;
	x->end = r->end;
	x->count = r->count;
	memcpy(x->val, r->val, 8u * (r->naggs + (latency ? 2u : 0u)));
}

static void
collect(void *ctx, const struct weir_result *r)
{
	struct out *o = ctx;
	if (o->n == o->cap) {
		unsigned saved = fail_every;    /* (the collector's own growth never fails) */
		fail_every = 0;
		o->cap = o->cap ? 2 * o->cap : 4096;
		o->r = realloc(o->r, o->cap * sizeof(*o->r));
		assert_non_null(o->r);
		fail_every = saved;
	}
	res_from(&o->r[o->n++], r, o->latency);
}

static bool
having_fn(void *ctx, const struct weir_result *r)
{
	(void)ctx;
	return (r->count + r->key) % 5 != 2;
}

/* ---- the naive reference ----------------------------------------------------------------------------- */

struct rev { int64_t t; uint64_t key; uint64_t v[NV]; };

struct ref {
	struct rev *e;              /* applied events, arrival order */
	unsigned n, cap;
	int64_t wm;
	uint64_t late, results, rejected, overflow;
	uint64_t behind;            /* SELECT: events behind the watermark (still emitted) */
};

static double u2d(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static uint64_t d2u(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

static bool
fless(double a, double b)           /* a < b, with -0 < +0 */
{
	if (a == b && a == 0)
		return signbit(a) && !signbit(b);
	return a < b;
}

/* The result of event e (already appended as the last applied event) over R(e). */
static void
ref_result(const struct ref *rf, const struct rev *e, const struct aspec *ag, int naggs, int64_t size,
	   bool select, struct res *x)
{
	static unsigned idx[8192];
	unsigned m = 0;

	memset(x, 0, sizeof(*x));
	x->naggs = (uint16_t)naggs;
	x->key = e->key;
	x->start = select ? e->t : e->t - size;
	x->end = e->t;
	if (select) {
		idx[m++] = rf->n - 1;
	} else {
		for (unsigned i = 0; i < rf->n; i++)
			if (rf->e[i].key == e->key && rf->e[i].t >= e->t - size && rf->e[i].t <= e->t)
				idx[m++] = i;
	}
	assert_true(m < 8192);
	x->count = m;
	for (int a = 0; a < naggs; a++) {
		int f = ag[a].field;
		uint8_t ty = f < 0 ? WEIR_F_I64 : ftype(f);
		const struct rev *r0 = &rf->e[idx[0]];
		switch (ag[a].fn) {
		case WEIR_AGG_COUNT:
			x->val[a] = m;
			break;
		case WEIR_AGG_SUM:
		case WEIR_AGG_AVG:
			if (ty == WEIR_F_F64) {
				double s = 0;
				for (unsigned i = 0; i < m; i++)
					s += u2d(rf->e[idx[i]].v[f]);
				x->val[a] = d2u(s);
			} else {
				__int128 s = 0;
				for (unsigned i = 0; i < m; i++)
					s += ty == WEIR_F_I64 ? (__int128)(int64_t)rf->e[idx[i]].v[f]
							      : (__int128)rf->e[idx[i]].v[f];
				bool ovf = ty == WEIR_F_I64 ? s < INT64_MIN || s > INT64_MAX
							    : s < 0 || s > (__int128)UINT64_MAX;
				if (ovf)
					x->nulls |= 1u << a;
				x->val[a] = (uint64_t)s;
			}
			break;
		case WEIR_AGG_MIN:
		case WEIR_AGG_MAX: {
			bool mx = ag[a].fn == WEIR_AGG_MAX, have = false;
			uint64_t best = r0->v[f];
			for (unsigned i = 0; i < m; i++) {
				uint64_t v = rf->e[idx[i]].v[f];
				bool better;
				if (ty == WEIR_F_F64) {
					if (isnan(u2d(v)))
						continue;
					better = mx ? fless(u2d(best), u2d(v)) : fless(u2d(v), u2d(best));
				} else if (ty == WEIR_F_I64) {
					better = mx ? (int64_t)v > (int64_t)best : (int64_t)v < (int64_t)best;
				} else {
					better = mx ? v > best : v < best;
				}
				if (!have || better)
					best = v;
				have = true;
			}
			x->val[a] = best;
			break;
		}
		case WEIR_AGG_FIRST: {
			const struct rev *b = r0;
			for (unsigned i = 1; i < m; i++)
				if (rf->e[idx[i]].t < b->t)
					b = &rf->e[idx[i]];
			x->val[a] = b->v[f];
			break;
		}
		case WEIR_AGG_LAST: {
			const struct rev *b = r0;
			for (unsigned i = 1; i < m; i++)
				if (rf->e[idx[i]].t >= b->t)
					b = &rf->e[idx[i]];
			x->val[a] = b->v[f];
			break;
		}
		default:                        /* CUR */
			x->val[a] = e->v[f];
			break;
		}
	}
}

/* One event into the reference: its expected result appended to want (unless late
 * or rejected). */
static void
ref_event(struct ref *rf, const struct rev *e, const struct aspec *ag, int naggs, int64_t size, int64_t lateness,
	  bool select, bool latency, weir_having_fn hv, struct out *want)
{
	struct res x;

	if (rf->wm != INT64_MIN && e->t < rf->wm - lateness) {
		if (select) {
			rf->behind++;   /* SELECT: never late, it gives its result all the same */
		} else {
			rf->late++;
			return;
		}
	}
	if (rf->n == rf->cap) {
		rf->cap = rf->cap ? 2 * rf->cap : 1024;
		rf->e = realloc(rf->e, rf->cap * sizeof(*rf->e));
	}
	rf->e[rf->n++] = *e;
	ref_result(rf, e, ag, naggs, size, select, &x);
	if (latency)
		x.val[naggs] = x.val[naggs + 1] = e->v[NV - 1];
	if (x.nulls)
		rf->overflow++;
	if (hv) {
		uint64_t buf[(sizeof(struct weir_result) + 8 * (WEIR_MAX_AGGS + 2)) / 8];
		struct weir_result *r = (struct weir_result *)buf;
		memset(buf, 0, sizeof(buf));
		r->naggs = (uint16_t)naggs;
		r->key = x.key;
		r->start = x.start;
		r->end = x.end;
		r->count = x.count;
		r->null_mask = x.nulls;
		memcpy(r->val, x.val, 8u * (unsigned)naggs);
		if (!hv(NULL, r)) {
			rf->rejected++;
			return;
		}
	}
	rf->results++;
	if (want->n == want->cap) {
		want->cap = want->cap ? 2 * want->cap : 4096;
		want->r = realloc(want->r, want->cap * sizeof(*want->r));
	}
	want->r[want->n++] = x;
}

static void
res_equal(const struct res *got, const struct res *want, const struct aspec *ag, int naggs, bool latency)
{
	assert_int_equal(got->key, want->key);
	assert_int_equal(got->start, want->start);
	assert_int_equal(got->end, want->end);
	assert_int_equal(got->count, want->count);
	assert_int_equal(got->rev, 0);
	assert_int_equal(got->naggs, naggs);
	assert_int_equal(got->nulls, want->nulls);
	for (int a = 0; a < naggs; a++) {
		bool fsum = (ag[a].fn == WEIR_AGG_SUM || ag[a].fn == WEIR_AGG_AVG) && ag[a].field == FF;
		bool fmm = (ag[a].fn == WEIR_AGG_MIN || ag[a].fn == WEIR_AGG_MAX) && ag[a].field == FF;
		double g = u2d(got->val[a]), w = u2d(want->val[a]);
		if ((fsum || fmm) && isnan(w)) {
			assert_true(isnan(g));
		} else if (fsum) {
			if (g != w)
				fail_msg("agg %d: f64 sum %.17g, reference %.17g", a, g, w);
		} else if (got->val[a] != want->val[a]) {
			fail_msg("agg %d (fn %d field %d): %#llx, reference %#llx (key %llu end %lld count %llu)", a,
				 ag[a].fn, ag[a].field, (unsigned long long)got->val[a],
				 (unsigned long long)want->val[a], (unsigned long long)got->key, (long long)got->end,
				 (unsigned long long)got->count);
		}
	}
	if (latency) {
		assert_int_equal(got->val[naggs], want->val[naggs]);
		assert_int_equal(got->val[naggs + 1], want->val[naggs + 1]);
	}
}

/* ---- random input -------------------------------------------------------------------------------------- */

static uint64_t rng;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct params {
	uint8_t kind;
	int64_t size, lateness;
	unsigned nkeys, nev;
	int64_t gap;                /* largest step of the stream's clock */
	int64_t disorder;           /* events lag the clock by up to this */
	int64_t quantum;            /* times are multiples of it (ties) */
	int64_t wm_delay;           /* watermark = clock - delay (about) */
	bool extremes;              /* integers near their limits: sums overflow */
	bool specials;              /* NaN, +-inf, -0 among the f64 values */
	bool having;
	bool latency;
	size_t headroom;            /* weir_over_set_headroom: large blocks from an arena */
};

static int64_t
floor_q(int64_t t, int64_t q)
{
	int64_t r = t % q;
	return t - (r < 0 ? r + q : r);
}

static void
gen_event(const struct params *pp, int64_t *now, uint64_t stamp, struct rev *e)
{
	*now += (int64_t)(rnd() % (uint64_t)(pp->gap + 1));
	e->t = floor_q(*now - (int64_t)(rnd() % (uint64_t)(pp->disorder + 1)), pp->quantum);
	unsigned k = (unsigned)(rnd() % pp->nkeys);
	e->key = k % 2 ? k : (uint64_t)k * UINT64_C(0x9e3779b97f4a7c15);   /* small and any */
	int64_t a = (int64_t)(rnd() % 2001) - 1000;
	uint64_t u = rnd() % 1000;
	double f = (double)((int64_t)(rnd() % 16001) - 8000) / 8;
	if (pp->extremes) {
		unsigned r = (unsigned)(rnd() % 10);
		if (r == 0)
			a = INT64_MAX - (int64_t)(rnd() % 3);
		else if (r == 1)
			a = INT64_MIN + (int64_t)(rnd() % 3);
		if (rnd() % 8 == 0)
			u = UINT64_MAX - rnd() % 3;
	}
	if (pp->specials) {
		switch (rnd() % 25) {
		case 0: f = NAN; break;
		case 1: f = INFINITY; break;
		case 2: f = -INFINITY; break;
		case 3: f = -0.0; break;
		case 4: f = 0.0; break;
		default: break;
		}
	}
	e->v[FA] = (uint64_t)a;
	e->v[FU] = u;
	e->v[FF] = d2u(f);
	e->v[FD] = (uint64_t)a * 3 + 7;     /* the derived input (the caller computes it) */
	e->v[NV - 1] = stamp;
}

/* Feed a random stream to a fresh operator and to the reference, comparing after
 * every batch. */
static void
run_random(const struct params *pp, const struct aspec *ag, int naggs, unsigned seed)
{
	struct out got = { .latency = pp->latency }, want = { 0 };
	struct ref rf = { .wm = INT64_MIN };
	struct weir_op_stats st;
	int64_t now = -7 * pp->size - 12345;
	unsigned done = 0, checked = 0;
	struct rev evs[64];
	struct weir_ev ev[64];

	rng = 0x9e3779b97f4a7c15u * (seed + 1);
	setup(pp->kind, pp->size, pp->lateness, ag, naggs);
	unsigned flags = (pp->latency ? WEIR_OP_LATENCY : 0) | (seed % 2 ? WEIR_OP_NO_CKPT : 0);
	struct weir_over *ov = weir_over_create(&qc, 3, &src, collect, &got, flags);
	assert_non_null(ov);
	uint64_t ready0 = 0;
	if (pp->headroom) {
		assert_int_equal(weir_over_set_headroom(ov, pp->headroom), 0);
		ready0 = weir_over_headroom_ready(ov);
		assert_true(ready0 >= pp->headroom);
	}
	if (pp->having)
		weir_over_set_having(ov, having_fn, NULL);
	while (done < pp->nev) {
		unsigned n = 1 + (unsigned)(rnd() % 48);        /* across the operator's 32 */
		if (n > pp->nev - done)
			n = pp->nev - done;
		for (unsigned i = 0; i < n; i++) {
			gen_event(pp, &now, done + i + 1, &evs[i]);
			ev[i] = (struct weir_ev){ evs[i].t, evs[i].key, evs[i].v };
			ref_event(&rf, &evs[i], ag, naggs, pp->size, pp->lateness, pp->kind == WEIR_WIN_SELECT,
				  pp->latency, pp->having ? having_fn : NULL, &want);
		}
		weir_over_burst(ov, ev, n);
		done += n;
		assert_int_equal(got.n, want.n);
		for (; checked < got.n; checked++)
			res_equal(&got.r[checked], &want.r[checked], ag, naggs, pp->latency);
		if (rnd() % 3) {
			int64_t wm = now - pp->wm_delay - (int64_t)(rnd() % (uint64_t)(pp->wm_delay + 1));
			if (rnd() % 8 == 0)
				wm -= 10 * pp->size;    /* lower than before: ignored */
			weir_over_advance(ov, wm);
			if (wm > rf.wm)
				rf.wm = wm;
			assert_int_equal(weir_over_watermark(ov), rf.wm);
		}
	}
	weir_over_get_stats(ov, &st);
	assert_int_equal(st.late_dropped, rf.late);
	assert_int_equal(st.results, rf.results);
	assert_int_equal(st.rejected, rf.rejected);
	assert_int_equal(st.sum_overflow, rf.overflow);
	assert_int_equal(st.alloc_failed, 0);
	assert_int_equal(st.filtered, 0);
	if (pp->disorder > pp->wm_delay + pp->lateness)   /* (the inputs had events behind the watermark) */
		assert_true(pp->kind == WEIR_WIN_SELECT ? rf.behind > 0 && rf.late == 0 : rf.late > 0);
	if (pp->having)
		assert_true(rf.rejected > 0);
	if (pp->extremes && pp->kind == WEIR_WIN_OVER)
		assert_true(rf.overflow > 0);
	if (pp->headroom)       /* (no service thread here: what was taken stays taken) */
		assert_true(weir_over_headroom_ready(ov) < ready0);
	/* the end of input frees every partition */
	weir_over_advance(ov, INT64_MAX);
	weir_over_get_stats(ov, &st);
	assert_int_equal(st.open_windows, 0);
	weir_over_destroy(ov);
	free(got.r);
	free(want.r);
	free(rf.e);
}

static const struct params base = {
	.kind = WEIR_WIN_OVER, .size = 1000, .lateness = 0, .nkeys = 5, .nev = 3000, .gap = 40,
	.disorder = 600, .quantum = 25, .wm_delay = 300,
};

/* state_headroom: the operator's large blocks (key table, partition blocks, chunks) come
 * from a populated arena, are given back to it and taken again; the results stay the
 * reference's */
static void
over_arena(void **st)
{
	(void)st;
	for (unsigned s = 0; s < 2; s++) {
		struct params p = base;
		p.nkeys = 3000;
		p.nev = 40000;
		p.size = s ? 1000000 : 3000;    /* everything kept / partitions evicted and reused */
		p.headroom = (size_t)4 << 20;
		run_random(&p, all_aggs, N_ALL, 90 + s);
	}
}

/* every aggregate, out-of-order and equal times, late events, latency stamps */
static void
over_aggregates(void **st)
{
	(void)st;
	for (unsigned s = 0; s < 6; s++) {
		struct params p = base;
		p.latency = s % 2 == 0;
		p.quantum = s < 3 ? 25 : 1;
		run_random(&p, all_aggs, N_ALL, s);
	}
}

/* allowed lateness: events behind the watermark but within it still count */
static void
over_lateness(void **st)
{
	(void)st;
	for (unsigned s = 0; s < 6; s++) {
		struct params p = base;
		p.lateness = s < 3 ? 700 : 2500;
		p.wm_delay = 100;
		run_random(&p, all_aggs, N_ALL, 10 + s);
	}
}

/* HAVING leaves some results out; stats count them */
static void
over_having(void **st)
{
	(void)st;
	for (unsigned s = 0; s < 4; s++) {
		struct params p = base;
		p.having = true;
		p.latency = s % 2;
		run_random(&p, all_aggs, N_ALL, 20 + s);
	}
}

/* integer sums that leave 64 bits (null, counted), NaN, infinities and -0 */
static void
over_overflow_specials(void **st)
{
	(void)st;
	for (unsigned s = 0; s < 6; s++) {
		struct params p = base;
		p.extremes = true;
		p.specials = true;
		p.having = s % 2;
		run_random(&p, all_aggs, N_ALL, 30 + s);
	}
}

/* few keys, long ranges: hundreds of entries per partition (buffer growth, sliding,
 * out-of-order events deep inside the range: both ways of computing their sums) */
static void
over_long_ranges(void **st)
{
	(void)st;
	for (unsigned s = 0; s < 4; s++) {
		struct params p = base;
		p.nkeys = s < 2 ? 1 : 2;
		p.size = 20000;
		p.gap = 20;
		p.disorder = s % 2 ? 3000 : 100;
		p.wm_delay = 4000;
		p.quantum = 5;
		p.nev = 4000;
		p.specials = s == 3;
		run_random(&p, all_aggs, N_ALL, 40 + s);
	}
	/* count and sums only (the fraud rule's shape), in order but for ties */
	static const struct aspec fraud[] = { { WEIR_AGG_COUNT, -1 }, { WEIR_AGG_SUM, FF }, { WEIR_AGG_AVG, FA } };
	struct params p = base;
	p.nkeys = 3;
	p.disorder = 0;
	p.size = 5000;
	run_random(&p, fraud, 3, 48);
	/* size 0: only equal times */
	p = base;
	p.size = 0;
	p.quantum = 50;
	run_random(&p, all_aggs, N_ALL, 49);
}

/* SELECT: one result per event (none is late), no state */
static void
select_kind(void **st)
{
	(void)st;
	for (unsigned s = 0; s < 4; s++) {
		struct params p = base;
		p.kind = WEIR_WIN_SELECT;
		p.lateness = s < 2 ? 0 : 400;
		p.having = s % 2;
		p.latency = s % 2 == 0;
		p.extremes = p.specials = true;
		run_random(&p, select_aggs, 5, 50 + s);
	}
	struct weir_op_stats os;
	struct out got = { 0 };
	setup(WEIR_WIN_SELECT, 0, 0, select_aggs, 5);
	struct weir_over *ov = weir_over_create(&qc, 0, &src, collect, &got, 0);
	uint64_t v[NV] = { 1, 2, 3, 4, 5 };
	struct weir_ev e = { 100, 9, v };
	weir_over_burst(ov, &e, 1);
	weir_over_get_stats(ov, &os);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.r[0].start, 100);
	assert_int_equal(got.r[0].end, 100);
	assert_int_equal(got.r[0].count, 1);
	assert_int_equal(got.r[0].val[0], 1);
	assert_int_equal(got.r[0].val[4], 4);
	assert_int_equal(os.open_windows, 0);
	weir_over_destroy(ov);
	free(got.r);
}

/* ---- HAVING programs (weir_over_set_having_prog) ---------------------------------------------------- */

/* The operator runs HAVING itself, split at its top-level ANDs, the operands on CUR
 * values, key, times and count before the result is built, simple comparisons in
 * place.  It must decide exactly as weir_result_having on the built result: random
 * programs (well formed, any types: both read the same bits) on random streams, the
 * operator with the program against a twin with weir_result_having as its function. */
static bool
having_ref(void *ctx, const struct weir_result *r)
{
	return weir_result_having(ctx, r);
}

static const int64_t kpool_i[] = { 0, 1, 2, 3, -1, 5, 40, 100, -100, 500, -500, 999, 1000, -1000,
				   INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1 };

/* A constant for a comparison of type ty: a small or extreme one, or one near the
 * stream's current values (its times, its keys). */
static uint64_t
hv_const(uint8_t ty, int64_t now)
{
	static const double fpool[] = { 0.0, -0.0, 1.0, -1.0, 0.5, 125.0, -125.0, 999.875, 1e300, -1e300 };
	switch (rnd() % 5) {
	case 0:
		return (uint64_t)(now - (int64_t)(rnd() % 3000));
	case 1:
		return rnd() % 7;                       /* small keys */
	default:
		if (ty == WEIR_F_F64) {
			unsigned i = (unsigned)(rnd() % 13);
			return i < 10 ? d2u(fpool[i]) : i == 10 ? d2u(NAN) : i == 11 ? d2u(INFINITY) : d2u(-INFINITY);
		}
		if (ty == WEIR_F_U64 && rnd() % 4 == 0)
			return UINT64_MAX - rnd() % 2;
		return (uint64_t)kpool_i[rnd() % (sizeof(kpool_i) / sizeof(kpool_i[0]))];
	}
}

static unsigned hv_n;                       /* instructions written to qc.code */

static void
hv_put(uint8_t op, uint8_t type, uint16_t arg, uint64_t k)
{
	assert_true(hv_n < WEIR_QCODE_MAX);
	qc.code[hv_n++] = (struct weir_insn){ op, type, arg, 0, k };
}

static void
hv_load(int naggs, int64_t now)
{
	static const uint8_t leaves[] = { WEIR_X_SLOT, WEIR_X_SLOT, WEIR_X_SLOT, WEIR_X_KEY, WEIR_X_TIME,
					  WEIR_X_END, WEIR_X_COUNT, WEIR_X_CONST, WEIR_X_CONST };
	uint8_t op = rnd() % 40 ? leaves[rnd() % sizeof(leaves)] : WEIR_X_NUL;
	uint8_t ty = (uint8_t)(rnd() % 3);
	hv_put(op, ty, op == WEIR_X_SLOT ? (uint16_t)(rnd() % (uint64_t)naggs) : 0,
	       op == WEIR_X_CONST ? hv_const(ty, now) : 0);
}

/* Any well-formed expression (up to depth d). */
static void
hv_expr(int d, int naggs, int64_t now)
{
	static const uint8_t un[] = { WEIR_X_I2F, WEIR_X_U2F, WEIR_X_U2I, WEIR_X_I2U, WEIR_X_F2I, WEIR_X_NEG,
				      WEIR_X_ABS, WEIR_X_NOT, WEIR_X_ISNULL };
	static const uint8_t bin[] = { WEIR_X_ADD, WEIR_X_SUB, WEIR_X_MUL, WEIR_X_DIV, WEIR_X_MOD, WEIR_X_EQ,
				       WEIR_X_NE, WEIR_X_LT, WEIR_X_LE, WEIR_X_GT, WEIR_X_GE, WEIR_X_AND, WEIR_X_OR };
	unsigned r = (unsigned)(rnd() % 4);
	if (d == 0 || r == 0) {
		hv_load(naggs, now);
	} else if (r == 1) {
		hv_expr(d - 1, naggs, now);
		hv_put(un[rnd() % sizeof(un)], (uint8_t)(rnd() % 3), 0, 0);
	} else {
		uint8_t op = bin[rnd() % sizeof(bin)], ty = (uint8_t)(rnd() % 3);
		hv_expr(d - 1, naggs, now);
		hv_expr(d - 1, naggs, now);
		hv_put(op, ty, op >= WEIR_X_EQ && op <= WEIR_X_GE ? ty : 0, 0);
	}
}

/* A conjunct: mostly operand CMP constant (either side), else any expression. */
static void
hv_conj(int naggs, int64_t now)
{
	if (rnd() % 4 == 0) {
		hv_expr(3, naggs, now);
		return;
	}
	uint8_t op = (uint8_t)(WEIR_X_EQ + rnd() % 6), ty = (uint8_t)(rnd() % 3);
	bool left = rnd() % 3 == 0;
	if (left)
		hv_put(WEIR_X_CONST, ty, 0, hv_const(ty, now));
	hv_load(naggs, now);
	if (!left)
		hv_put(WEIR_X_CONST, ty, 0, hv_const(ty, now));
	hv_put(op, WEIR_F_I64, ty, 0);
}

/* A tree of ANDs over n conjuncts (operands split at random: both sides nest). */
static void
hv_and(int n, int naggs, int64_t now)
{
	if (n == 1) {
		hv_conj(naggs, now);
		return;
	}
	int l = 1 + (int)(rnd() % (uint64_t)(n - 1));
	hv_and(l, naggs, now);
	hv_and(n - l, naggs, now);
	hv_put(WEIR_X_AND, WEIR_F_I64, 0, 0);
}

static void
having_programs(void **st)
{
	static const struct aspec ag[] = {
		{ WEIR_AGG_CUR, FA }, { WEIR_AGG_COUNT, -1 }, { WEIR_AGG_SUM, FA }, { WEIR_AGG_SUM, FU },
		{ WEIR_AGG_AVG, FA }, { WEIR_AGG_AVG, FF }, { WEIR_AGG_CUR, FF }, { WEIR_AGG_LAST, FU },
		{ WEIR_AGG_MIN, FD }, { WEIR_AGG_FIRST, FF }, { WEIR_AGG_SUM, FF }, { WEIR_AGG_CUR, FD },
	};
	/* the fraud rule's shape: one i64 sum (its own fast paths) */
	static const struct aspec ag1[] = { { WEIR_AGG_CUR, FA }, { WEIR_AGG_COUNT, -1 }, { WEIR_AGG_SUM, FA } };
	uint64_t passed = 0, rejected = 0, overflow = 0;

	(void)st;
	for (unsigned s = 0; s < 300; s++) {
		struct params p = base;
		struct out o1 = { .latency = s % 3 == 0 }, o2 = { .latency = s % 3 == 0 };
		struct rev evs[48];
		struct weir_ev ev[48];
		int64_t now = -7 * p.size - 12345;

		const struct aspec *g = s % 3 == 1 ? ag1 : ag;
		int naggs = s % 3 == 1 ? 3 : (int)(sizeof(ag) / sizeof(ag[0]));
		rng = 0x51ed270b27f1ce3bu * (s + 1);
		p.kind = s % 5 == 4 ? WEIR_WIN_SELECT : WEIR_WIN_OVER;
		p.extremes = s % 2;             /* sums that overflow: NULL slots */
		p.specials = s % 4 < 2;         /* NaN, infinities, -0 */
		p.nkeys = 3;
		setup(p.kind, p.size, p.lateness, g, naggs);
		hv_n = 0;
		if (s % 10 == 9)
			hv_expr(4, naggs, now);         /* no AND on top */
		else
			hv_and(1 + (int)(rnd() % 5), naggs, now);
		qc.having = (struct weir_expr){ 0, (uint16_t)hv_n, WEIR_F_I64, true };
		qc.ncode = (int)hv_n;
		assert_true(weir_expr_check(qc.code, &qc.having, (unsigned)naggs) >= 0);

		unsigned flags = o1.latency ? WEIR_OP_LATENCY : 0;
		struct weir_over *a = weir_over_create(&qc, 3, &src, collect, &o1, flags);
		struct weir_over *b = weir_over_create(&qc, 3, &src, collect, &o2, flags);
		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(weir_over_set_having_prog(a, &qc), 0);
		weir_over_set_having(b, having_ref, &qc);
		for (unsigned done = 0; done < 600; ) {
			unsigned n = 1 + (unsigned)(rnd() % 48);
			for (unsigned i = 0; i < n; i++) {
				gen_event(&p, &now, done + i + 1, &evs[i]);
				ev[i] = (struct weir_ev){ evs[i].t, evs[i].key, evs[i].v };
			}
			weir_over_burst(a, ev, n);
			weir_over_burst(b, ev, n);
			done += n;
			if (rnd() % 3) {
				int64_t wm = now - p.wm_delay;
				weir_over_advance(a, wm);
				weir_over_advance(b, wm);
			}
		}
		struct weir_op_stats sa, sb;
		weir_over_get_stats(a, &sa);
		weir_over_get_stats(b, &sb);
		assert_int_equal(sa.results, sb.results);
		assert_int_equal(sa.rejected, sb.rejected);
		assert_int_equal(sa.sum_overflow, sb.sum_overflow);
		assert_int_equal(sa.late_dropped, sb.late_dropped);
		assert_int_equal(o1.n, o2.n);
		for (unsigned i = 0; i < o1.n; i++)
			assert_memory_equal(&o1.r[i], &o2.r[i], sizeof(o1.r[i]));
		passed += sa.results;
		rejected += sa.rejected;
		overflow += sa.sum_overflow;
		weir_over_destroy(a);
		weir_over_destroy(b);
		free(o1.r);
		free(o2.r);
	}
	/* (the programs both pass and reject results) */
	assert_true(passed > 10000);
	assert_true(rejected > 10000);
	assert_true(overflow > 1000);

	/* a malformed program is refused (the caller then falls back to a function) */
	setup(WEIR_WIN_OVER, 100, 0, ag, (int)(sizeof(ag) / sizeof(ag[0])));
	qc.code[0] = (struct weir_insn){ WEIR_X_SLOT, 0, 0, 0, 0 };
	qc.code[1] = (struct weir_insn){ WEIR_X_AND, 0, 0, 0, 0 };
	qc.having = (struct weir_expr){ 0, 2, WEIR_F_I64, true };
	struct out o = { 0 };
	struct weir_over *ov = weir_over_create(&qc, 3, &src, collect, &o, 0);
	assert_int_equal(weir_over_set_having_prog(ov, &qc), -1);
	weir_over_destroy(ov);
}

/* ---- hand-computed boundaries (and the reference agrees) ------------------------------------------- */

static void
boundaries(void **st)
{
	static const struct aspec ag[] = {
		{ WEIR_AGG_COUNT, -1 }, { WEIR_AGG_SUM, FA }, { WEIR_AGG_FIRST, FA }, { WEIR_AGG_LAST, FA },
		{ WEIR_AGG_MIN, FA }, { WEIR_AGG_CUR, FA },
	};
	/* t, a, watermark before it; expected count, sum, first, last, min */
	static const struct { int64_t t, a, wm; int64_t count, sum, first, last, min; } c[] = {
		{ 100, 1, INT64_MIN, 1, 1, 1, 1, 1 },
		{ 110, 2, INT64_MIN, 2, 3, 1, 2, 1 },      /* 110 - 10 = 100: the lower end is in */
		{ 111, 4, INT64_MIN, 2, 6, 2, 4, 2 },      /* 100 is out now */
		{ 105, 8, INT64_MIN, 2, 9, 1, 8, 1 },      /* out of order: 110, 111 came first but are later */
		{ 110, 16, INT64_MIN, 4, 27, 1, 16, 1 },   /* equal time: the earlier 110 is in; last: e */
		{ 100, 32, INT64_MIN, 2, 33, 1, 32, 1 },   /* equal to the oldest: first is the first arrived */
		{ 104, 64, 105, -1, 0, 0, 0, 0 },          /* t < wm - lateness: late */
		{ 105, 128, 105, 4, 1 + 8 + 32 + 128, 1, 128, 1 },   /* t == wm - lateness: not late */
		{ 200, 256, 300, -1, 0, 0, 0, 0 },         /* late */
		{ 300, 512, 300, 1, 512, 512, 512, 512 },  /* the old entries are gone (evicted) */
		{ 290, 1024, 300, -1, 0, 0, 0, 0 },
	};
	struct out got = { 0 }, want = { 0 };
	struct ref rf = { .wm = INT64_MIN };
	uint64_t v[16][NV];

	(void)st;
	setup(WEIR_WIN_OVER, 10, 0, ag, 6);
	struct weir_over *ov = weir_over_create(&qc, 0, &src, collect, &got, 0);
	assert_non_null(ov);
	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct rev e = { c[i].t, 7, { (uint64_t)c[i].a, 0, 0, 0, 0 } };
		memcpy(v[i], e.v, sizeof(e.v));
		struct weir_ev ev = { c[i].t, 7, v[i] };
		weir_over_advance(ov, c[i].wm);
		if (c[i].wm > rf.wm)
			rf.wm = c[i].wm;
		unsigned before = got.n;
		weir_over_burst(ov, &ev, 1);
		ref_event(&rf, &e, ag, 6, 10, 0, false, false, NULL, &want);
		if (c[i].count < 0) {
			assert_int_equal(got.n, before);
			continue;
		}
		assert_int_equal(got.n, before + 1);
		const struct res *r = &got.r[before];
		assert_int_equal(r->count, c[i].count);
		assert_int_equal((int64_t)r->val[1], c[i].sum);
		assert_int_equal((int64_t)r->val[2], c[i].first);
		assert_int_equal((int64_t)r->val[3], c[i].last);
		assert_int_equal((int64_t)r->val[4], c[i].min);
		assert_int_equal((int64_t)r->val[5], c[i].a);
		assert_int_equal(r->start, c[i].t - 10);
		assert_int_equal(r->end, c[i].t);
		res_equal(r, &want.r[want.n - 1], ag, 6, false);
	}
	/* an oldest entry exactly at the eviction bound stays; one below it goes */
	struct weir_op_stats os;
	weir_over_get_stats(ov, &os);
	assert_int_equal(os.open_windows, 1);
	weir_over_advance(ov, 310);                /* bound 310 - 0 - 10 = 300 = newest: kept */
	weir_over_get_stats(ov, &os);
	assert_int_equal(os.open_windows, 1);
	weir_over_advance(ov, 311);
	weir_over_get_stats(ov, &os);
	assert_int_equal(os.open_windows, 0);
	assert_int_equal(os.late_dropped, 3);
	weir_over_destroy(ov);
	/* the same when the purge heap knows an older time of the partition (290) than its
	 * newest (300): at bound 300 it stays, and an event exactly at the late bound (310)
	 * still sees the entry at 300 */
	got.n = 0;
	ov = weir_over_create(&qc, 0, &src, collect, &got, 0);
	static const int64_t t2[] = { 290, 300 };
	for (int i = 0; i < 2; i++) {
		struct weir_ev ev = { t2[i], 7, v[i] };
		weir_over_burst(ov, &ev, 1);
	}
	weir_over_advance(ov, 310);
	weir_over_get_stats(ov, &os);
	assert_int_equal(os.open_windows, 1);
	struct weir_ev ev = { 310, 7, v[2] };
	weir_over_burst(ov, &ev, 1);
	assert_int_equal(got.n, 3);
	assert_int_equal(got.r[2].count, 2);
	assert_int_equal((int64_t)got.r[2].val[1], c[1].a + c[2].a);
	weir_over_destroy(ov);
	free(got.r);
	free(want.r);
	free(rf.e);
}

/* f64 sums near DBL_MAX: the running sum overflows; results are then plain additions
 * (here in arrival order: times in order) until the huge values leave the range, after
 * which the running sum is exact again.  (No range here holds small values that a huge
 * one absorbs and then cancels out: there plain addition loses them and the operator,
 * compensated, does not -- [1, -3, 1.5e308, -1.5e308] sums to -2, plainly to 0.) */
static void
f64_running_overflow(void **st)
{
	static const struct aspec ag[] = { { WEIR_AGG_COUNT, -1 }, { WEIR_AGG_SUM, FF }, { WEIR_AGG_AVG, FF } };
	static const double f[] = { 1e308, 1e308, -1e308, -1e308, 2.5, 4, 0.5, 0.25, 8, 1, -3, 5, 6, 7,
				    1.5e308, 1.5e308, 1.5e308, 6, 7, 8, 9, 10, 11, 12 };
	struct out got = { 0 }, want = { 0 };
	struct ref rf = { .wm = INT64_MIN };

	(void)st;
	setup(WEIR_WIN_OVER, 100, 0, ag, 3);
	struct weir_over *ov = weir_over_create(&qc, 0, &src, collect, &got, 0);
	for (unsigned i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		struct rev e = { (int64_t)i * 30, 1, { 0, 0, d2u(f[i]), 0, 0 } };
		struct weir_ev ev = { e.t, e.key, e.v };
		weir_over_burst(ov, &ev, 1);
		ref_event(&rf, &e, ag, 3, 100, 0, false, false, NULL, &want);
		assert_int_equal(got.n, want.n);
		res_equal(&got.r[got.n - 1], &want.r[want.n - 1], ag, 3, false);
	}
	assert_true(isinf(u2d(got.r[1].val[1])) && u2d(got.r[1].val[1]) > 0);
	assert_true(isinf(u2d(got.r[5].val[1])) && u2d(got.r[5].val[1]) < 0);
	assert_true(u2d(got.r[7].val[1]) == 7.25);
	assert_true(u2d(got.r[got.n - 1].val[1]) == 9 + 10 + 11 + 12);
	weir_over_destroy(ov);
	free(got.r);
	free(want.r);
	free(rf.e);
}

/* Integer sums exactly at their type's limits are values; one beyond is null (the
 * exact sum of the range decides, not the order: back within the limit, a value again) */
static void
sum_limits(void **st)
{
	static const struct aspec ag[] = { { WEIR_AGG_SUM, FA }, { WEIR_AGG_SUM, FU }, { WEIR_AGG_AVG, FA } };
	static const struct { int64_t a; uint64_t u; uint32_t nulls; } c[] = {
		{ INT64_MAX - 5, UINT64_MAX - 3, 0 },
		{ 5, 3, 0 },                    /* INT64_MAX, UINT64_MAX exactly */
		{ 1, 1, 7 },                    /* one beyond: null */
		{ -1, 0, 2 },                   /* i64 back at INT64_MAX; u64 still beyond */
		{ INT64_MIN + 1, 0, 2 },        /* i64 sum 0 (INT64_MAX + INT64_MIN + 1) */
	};
	struct out got = { 0 }, want = { 0 };
	struct ref rf = { .wm = INT64_MIN };
	struct weir_op_stats os;

	(void)st;
	setup(WEIR_WIN_OVER, 1000, 0, ag, 3);
	struct weir_over *ov = weir_over_create(&qc, 0, &src, collect, &got, 0);
	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct rev e = { (int64_t)i, 1, { (uint64_t)c[i].a, c[i].u, 0, 0, 0 } };
		struct weir_ev ev = { e.t, e.key, e.v };
		weir_over_burst(ov, &ev, 1);
		ref_event(&rf, &e, ag, 3, 1000, 0, false, false, NULL, &want);
		assert_int_equal(got.n, i + 1);
		assert_int_equal(got.r[i].nulls, c[i].nulls);
		res_equal(&got.r[i], &want.r[i], ag, 3, false);
	}
	assert_int_equal((int64_t)got.r[1].val[0], INT64_MAX);
	assert_int_equal(got.r[1].val[1], UINT64_MAX);
	assert_int_equal((int64_t)got.r[3].val[0], INT64_MAX);
	assert_int_equal((int64_t)got.r[4].val[0], 0);
	/* and INT64_MIN exactly, from the other side */
	setup(WEIR_WIN_OVER, 1000, 0, ag, 1);
	weir_over_destroy(ov);
	got.n = 0;
	ov = weir_over_create(&qc, 0, &src, collect, &got, 0);
	static const int64_t neg[] = { INT64_MIN + 2, -2, -1 };
	for (unsigned i = 0; i < 3; i++) {
		uint64_t v[NV] = { (uint64_t)neg[i], 0, 0, 0, 0 };
		struct weir_ev ev = { 10 + (int64_t)i, 2, v };
		weir_over_burst(ov, &ev, 1);
	}
	assert_int_equal(got.r[1].nulls, 0);
	assert_int_equal((int64_t)got.r[1].val[0], INT64_MIN);
	assert_int_equal(got.r[2].nulls, 1);
	weir_over_get_stats(ov, &os);
	assert_int_equal(os.sum_overflow, 1);
	weir_over_destroy(ov);
	free(got.r);
	free(want.r);
	free(rf.e);
}

/* ---- eviction ---------------------------------------------------------------------------------------- */

static void
eviction(void **st)
{
	static const struct aspec ag[] = { { WEIR_AGG_COUNT, -1 }, { WEIR_AGG_SUM, FA }, { WEIR_AGG_MAX, FF } };
	struct out got = { 0 };
	struct weir_op_stats s0, s1, s2;
	uint64_t v[NV] = { 5, 0, 0, 0, 0 };

	(void)st;
	setup(WEIR_WIN_OVER, 1000, 200, ag, 3);
	struct weir_over *ov = weir_over_create(&qc, 0, &src, collect, &got, 0);
	weir_over_get_stats(ov, &s0);
	/* 2000 keys x 40 entries at t in [0, 400) */
	for (int j = 0; j < 40; j++) {
		struct weir_ev ev[64];
		for (uint64_t k = 0; k < 2000; k += 50) {
			for (int i = 0; i < 50; i++)
				ev[i] = (struct weir_ev){ j * 10, k + (uint64_t)i, v };
			weir_over_burst(ov, ev, 50);
		}
	}
	weir_over_get_stats(ov, &s1);
	assert_int_equal(s1.open_windows, 2000);
	assert_true(s1.state_bytes > s0.state_bytes + 2000u * 40 * 24);
	/* bound = wm - 200 - 1000: 1589 keeps them all (newest 390 >= 389) */
	weir_over_advance(ov, 1589);
	weir_over_get_stats(ov, &s2);
	assert_int_equal(s2.open_windows, 2000);
	weir_over_advance(ov, 1591);
	weir_over_get_stats(ov, &s2);
	assert_int_equal(s2.open_windows, 0);
	assert_true(s2.state_bytes + 2000u * 40 * 24 / 2 < s1.state_bytes);
	assert_int_equal(got.n, 80000);
	for (unsigned i = 0; i < got.n; i++) {            /* every result: all earlier entries of its key */
		int j = (int)(got.r[i].end / 10);
		assert_int_equal(got.r[i].count, (uint64_t)j + 1);
		assert_int_equal(got.r[i].val[1], 5u * ((uint64_t)j + 1));
	}
	weir_over_destroy(ov);

	/* one key, a long in-order stream with the watermark close behind: the partition
	 * is trimmed as it goes, its state does not grow with the stream */
	got.n = 0;
	ov = weir_over_create(&qc, 0, &src, collect, &got, 0);
	uint64_t peak1 = 0, peak2 = 0;
	for (int64_t t = 0; t < 200000; t += 50) {
		struct weir_ev ev[50];
		for (int i = 0; i < 50; i++)
			ev[i] = (struct weir_ev){ t + i, 1, v };
		weir_over_burst(ov, ev, 50);
		weir_over_advance(ov, t + 40);
		weir_over_get_stats(ov, &s2);
		uint64_t *pk = t < 100000 ? &peak1 : &peak2;
		if (s2.state_bytes > *pk)
			*pk = s2.state_bytes;
		if (got.n > 100000)
			got.n = 0;
	}
	/* ~1250 entries live (size + lateness + a batch): at most a 4096-entry buffer,
	 * one partition array and the buffers kept for reuse */
	assert_true(peak2 <= peak1);
	assert_true(peak2 < 1024u * (64 + 32) + 1024u * 8 + 4096u * 24 + (256u << 10));
	assert_int_equal(s2.open_windows, 1);
	for (unsigned i = 0; i < got.n; i++)
		assert_int_equal(got.r[i].count, 1001);
	weir_over_destroy(ov);
	free(got.r);
}

/* ---- checkpoints ------------------------------------------------------------------------------------- */

#include "ckpt_capture.h"

static void ops_begin(void *ov, struct sp_writer *w, bool full) { weir_over_ckpt_begin(ov, w, full); }
static bool ops_step(void *ov, uint32_t budget) { return weir_over_ckpt_step(ov, budget); }
static const struct ckpt_ops ops = { ops_begin, ops_step };

/* Restore from the model's records in a shuffled order; check weir_state_key. */
static void
restore_into(struct weir_over *ov, const struct model *m)
{
	unsigned *ord = malloc((m->n + 1) * sizeof(*ord));
	for (unsigned i = 0; i < m->n; i++)
		ord[i] = i;
	for (unsigned i = m->n; i > 1; i--) {
		unsigned j = (unsigned)(rnd() % i), x = ord[i - 1];
		ord[i - 1] = ord[j];
		ord[j] = x;
	}
	for (unsigned i = 0; i < m->n; i++) {
		const struct kv *x = &m->e[ord[i]];
		uint16_t q;
		uint64_t key;
		assert_int_equal(weir_state_key(x->k, x->kl, &q, &key), 0);
		assert_int_equal(q, 3);
		assert_int_equal(weir_over_restore(ov, x->k, x->kl, x->v, x->vl), 0);
	}
	for (unsigned i = 0; i < m->n; i++) {   /* a record 0 twice does not fit */
		static const uint8_t rec0[8] = { 0x80 };
		if (!memcmp(m->e[i].k + 10, rec0, 8)) {
			assert_int_equal(weir_over_restore(ov, m->e[i].k, m->e[i].kl, m->e[i].v, m->e[i].vl), -1);
			break;
		}
	}
	weir_over_restore_wm(ov, m->wm);
	free(ord);
}

struct step { int kind; struct rev e; };      /* 0 event, 2 watermark (e.t), 3 barrier */

static void
play(struct weir_over *ov, const struct step *x)
{
	if (x->kind == 0) {
		struct weir_ev e = { x->e.t, x->e.key, x->e.v };
		weir_over_burst(ov, &e, 1);
	} else if (x->kind == 2) {
		weir_over_advance(ov, x->e.t);
	}
}

/* Property 1: the deltas, applied in order, give at every barrier exactly what a twin
 * fed the same input dumps in full there.  Property 2: an operator restored from them
 * at a barrier, given the rest of the input, emits exactly what the original emits
 * after that barrier (the same sequence: results come per event, in arrival order). */
static void
ckpt_run(const struct params *pp, unsigned seed, int full_mode)
{
	static const struct aspec ag[] = {
		{ WEIR_AGG_COUNT, -1 }, { WEIR_AGG_SUM, FA }, { WEIR_AGG_SUM, FF }, { WEIR_AGG_AVG, FU },
		{ WEIR_AGG_MAX, FF }, { WEIR_AGG_FIRST, FA }, { WEIR_AGG_MIN, FD }, { WEIR_AGG_CUR, FU },
	};
	struct out o1 = { 0 }, o2 = { 0 }, o3 = { 0 };
	struct model m = { 0 }, expect = { 0 };
	struct sink snk = { &m, 0 };
	struct sp_writer w = { NULL, next_chunk, &snk, 0, 0 };
	int active = 0, barriers = 0, checked_restore = 0;
	unsigned restore_from = 0, bar_o1 = 0, len = 0, multi = 0;
	int64_t now = 0;

	rng = 0x9e3779b97f4a7c15u * (seed + 1);
	setup(WEIR_WIN_OVER, pp->size, pp->lateness, ag, 8);
	struct step *sc = calloc(pp->nev * 2 + 2, sizeof(*sc));
	for (unsigned i = 0; i < pp->nev; i++) {
		unsigned r = (unsigned)(rnd() % 100);
		/* dense and sparse phases: in sparse ones most keys go quiet (their partitions
		 * are freed, then made again) and the others shrink by several records */
		struct params ph = *pp;
		if ((i / 1000) % 2) {
			ph.gap = pp->gap * 20;
			ph.nkeys = (pp->nkeys + 3) / 4;
		}
		if (r < 85) {
			sc[len].kind = 0;
			gen_event(&ph, &now, i, &sc[len].e);
			len++;
		} else if (r < 97) {
			sc[len].kind = 2;
			sc[len].e.t = now - pp->wm_delay;
			len++;
		} else {
			sc[len++].kind = 3;
		}
	}
	struct weir_over *ov = weir_over_create(&qc, 3, &src, collect, &o1, 0);
	struct weir_over *twin = weir_over_create(&qc, 3, &src, collect, &o2, 0);
	struct weir_over *rest = NULL;
	assert_non_null(ov);
	weir_over_set_having(ov, having_fn, NULL);
	weir_over_set_having(twin, having_fn, NULL);

	for (unsigned i = 0; i < len; i++) {
		if (sc[i].kind == 3) {
			/* full_mode 0: all incremental; 1: the first full (as the dataplane), then
			 * one in four */
			bool full = full_mode && (barriers == 0 || rnd() % 4 == 0);
			ckpt_barrier(&ops, ov, twin, full, &w, &active, &m, &expect);
			for (unsigned j = 0; j < expect.n; j++)
				multi += expect.e[j].k[17] > 1;      /* partitions of several records */
			bar_o1 = o1.n;
			barriers++;
			continue;
		}
		play(ov, &sc[i]);
		play(twin, &sc[i]);
		if (rest)
			play(rest, &sc[i]);
		if (active && weir_over_ckpt_step(ov, (uint32_t)(rnd() % 4))) {
			delta_check(&m, &w, &expect);
			active = 0;
			if (!rest && barriers >= 3 && i > len / 2) {   /* (partitions are large by then) */
				rest = weir_over_create(&qc, 3, &src, collect, &o3, 0);
				weir_over_set_having(rest, having_fn, NULL);
				restore_into(rest, &m);
				restore_from = bar_o1;
				unsigned j = i;         /* the events since that barrier, replayed */
				while (sc[j].kind != 3)
					j--;
				o3.n = 0;
				for (unsigned q = j + 1; q <= i; q++)
					play(rest, &sc[q]);
				checked_restore = 1;
			}
		}
	}
	assert_true(barriers >= 3);
	assert_true(checked_restore);
	if (pp->nkeys <= 3)
		assert_true(multi > 0);
	/* checkpointing changes no result */
	assert_int_equal(o1.n, o2.n);
	assert_memory_equal(o1.r, o2.r, o1.n * sizeof(*o1.r));
	/* the restored op emits exactly what the original emitted after the barrier */
	assert_true(o3.n > 0);
	assert_int_equal(o3.n, o1.n - restore_from);
	assert_memory_equal(o3.r, o1.r + restore_from, o3.n * sizeof(*o3.r));
	struct weir_op_stats s1, s3;
	weir_over_get_stats(ov, &s1);
	weir_over_get_stats(rest, &s3);
	assert_int_equal(s1.open_windows, s3.open_windows);
	if (active)
		free(w.c);
	weir_over_destroy(ov);
	weir_over_destroy(twin);
	weir_over_destroy(rest);
	free(sc);
	model_free(&m);
	model_free(&expect);
	free(o1.r);
	free(o2.r);
	free(o3.r);
}

/* Ranges long enough that the 3-key partitions span several records (of at most
 * SP_VAL_MAX bytes: ~25 entries at 1 KiB) */
#define SCALE ((int64_t)(SP_VAL_MAX / 1024u))

static void
ckpt_incremental(void **st)
{
	(void)st;
	for (unsigned s = 0; s < 6; s++) {
		struct params p = base;
		p.nkeys = s < 3 ? 3 : 40;
		p.size = 2000 * SCALE;
		p.gap = 10;
		p.disorder = 500;
		p.wm_delay = 300;
		p.lateness = s % 2 ? 200 : 0;
		p.specials = s == 5;
		p.nev = 5000;
		ckpt_run(&p, 60 + s, 0);
	}
}

static void
ckpt_full(void **st)
{
	(void)st;
	for (unsigned s = 0; s < 6; s++) {
		struct params p = base;
		p.nkeys = s < 3 ? 2 : 25;
		p.size = 3000 * SCALE;
		p.gap = 10;
		p.disorder = 800;
		p.wm_delay = 500;
		p.lateness = s % 2 ? 300 : 0;
		p.nev = 5000;
		ckpt_run(&p, 70 + s, 1);
	}
}

static void
restore_rejects(void **st)
{
	struct out o = { 0 };
	uint8_t k[18] = { 0 }, v[64] = { 0 };

	(void)st;
	setup(WEIR_WIN_OVER, 100, 0, all_aggs, N_ALL);
	struct weir_over *ov = weir_over_create(&qc, 3, &src, collect, &o, 0);
	k[1] = 3;
	k[10] = 0x80;                           /* record 0 */
	assert_int_equal(weir_over_restore(ov, k, 18, v, 10), -1);        /* wrong size */
	assert_int_equal(weir_over_restore(ov, k, 17, v, 10), -1);        /* not a state key */
	k[1] = 4;
	assert_int_equal(weir_over_restore(ov, k, 18, v, 10), -1);        /* another query */
	k[1] = 3;
	k[17] = 1;                              /* an entry record of a size no entry has */
	assert_int_equal(weir_over_restore(ov, k, 18, v, 7), -1);
	/* entries without their record 0: dropped when the restore completes */
	uint32_t esz = 8u * (1 + 4);            /* t + a, u, f, d */
	assert_int_equal(weir_over_restore(ov, k, 18, v, 4 + esz), 0);
	weir_over_restore_wm(ov, 0);
	struct weir_op_stats os;
	weir_over_get_stats(ov, &os);
	assert_int_equal(os.open_windows, 0);
	weir_over_destroy(ov);
	free(o.r);
}

/* ---- bad configurations and allocation failure --------------------------------------------------- */

static void
bad_config(void **st)
{
	struct out o = { 0 };
	(void)st;
	setup(WEIR_WIN_TUMBLING, 100, 0, all_aggs, N_ALL);
	errno = 0;
	assert_null(weir_over_create(&qc, 0, &src, collect, &o, 0));
	assert_int_equal(errno, EINVAL);
	static const struct aspec beyond[] = { { WEIR_AGG_SUM, 4 } };   /* v[4]: past the derived inputs */
	setup(WEIR_WIN_OVER, 100, 0, beyond, 1);
	assert_null(weir_over_create(&qc, 0, &src, collect, &o, 0));
	assert_int_equal(errno, EINVAL);
}

/* Every k-th allocation fails: no crash, no leak (ASan), alloc_failed counts the events
 * not applied, and every result is still right for the events that were applied. */
static void
alloc_failure(void **st)
{
	static const struct aspec ag[] = {
		{ WEIR_AGG_COUNT, -1 }, { WEIR_AGG_SUM, FA }, { WEIR_AGG_SUM, FF }, { WEIR_AGG_MIN, FU },
		{ WEIR_AGG_FIRST, FD }, { WEIR_AGG_CUR, FA },
	};
	struct params p = base;
	struct out got = { 0 }, want = { 0 };
	struct weir_op_stats os;
	int64_t now = 0;

	(void)st;
	setup(WEIR_WIN_OVER, 500, 0, ag, 6);
	fail_every = 1;
	errno = 0;
	assert_null(weir_over_create(&qc, 0, &src, collect, &got, 0));
	assert_int_equal(errno, ENOMEM);
	fail_every = 2;
	fail_tick = 0;
	assert_null(weir_over_create(&qc, 0, &src, collect, &got, 0));  /* the table fails */
	fail_every = 0;
	got.cap = 1 << 16;                      /* the collector does not allocate when armed */
	got.r = malloc(got.cap * sizeof(*got.r));
	for (unsigned k = 3; k <= 7; k += 2) {
		struct ref rf = { .wm = INT64_MIN };
		struct weir_over *ov = weir_over_create(&qc, 0, &src, collect, &got, 0);
		assert_non_null(ov);
		rng = 1234 + k;
		p.nkeys = 1500;                 /* new partitions, table and heap growth */
		p.gap = 2;
		got.n = want.n = 0;
		for (unsigned i = 0; i < 12000; i++) {
			struct rev e;
			gen_event(&p, &now, i, &e);
			if (i % 2)
				e.key = e.key % 4;      /* a few long partitions: buffer growth */
			struct weir_ev ev = { e.t, e.key, e.v };
			unsigned before = got.n;
			struct weir_op_stats o0;
			weir_over_get_stats(ov, &o0);
			fail_every = i < 9000 ? k : 0;
			weir_over_burst(ov, &ev, 1);
			fail_every = 0;
			weir_over_get_stats(ov, &os);
			/* applied iff it gave a result (no HAVING): the reference takes those only */
			if (got.n > before) {
				ref_event(&rf, &e, ag, 6, 500, 0, false, false, NULL, &want);
				assert_int_equal(want.n, got.n);
				res_equal(&got.r[got.n - 1], &want.r[want.n - 1], ag, 6, false);
			} else if (rf.wm != INT64_MIN && e.t < rf.wm) {
				assert_int_equal(os.late_dropped, o0.late_dropped + 1);
			} else {
				assert_int_equal(os.alloc_failed, o0.alloc_failed + 1);
			}
			if (got.n == got.cap) {
				got.n = want.n = 0;
			}
			if (i % 64 == 63) {
				fail_every = i < 9000 ? k : 0;
				weir_over_advance(ov, now - 300);
				fail_every = 0;
				rf.wm = now - 300;
			}
		}
		weir_over_get_stats(ov, &os);
		assert_true(os.alloc_failed > 0);
		assert_int_equal(os.results + os.alloc_failed + os.late_dropped, 12000);
		weir_over_advance(ov, INT64_MAX);
		weir_over_get_stats(ov, &os);
		assert_int_equal(os.open_windows, 0);
		weir_over_destroy(ov);
		free(rf.e);
	}
	assert_true(fails > 0);
	free(got.r);
	free(want.r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(boundaries),
		cmocka_unit_test(over_aggregates),
		cmocka_unit_test(over_lateness),
		cmocka_unit_test(over_having),
		cmocka_unit_test(having_programs),
		cmocka_unit_test(over_overflow_specials),
		cmocka_unit_test(over_long_ranges),
		cmocka_unit_test(over_arena),
		cmocka_unit_test(select_kind),
		cmocka_unit_test(f64_running_overflow),
		cmocka_unit_test(sum_limits),
		cmocka_unit_test(eviction),
		cmocka_unit_test(ckpt_incremental),
		cmocka_unit_test(ckpt_full),
		cmocka_unit_test(restore_rejects),
		cmocka_unit_test(bad_config),
		cmocka_unit_test(alloc_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
