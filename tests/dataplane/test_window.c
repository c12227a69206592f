/* SPDX-License-Identifier: Apache-2.0
 * Unit tests: the window operator, on hand-computed cases from semantics.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "window.h"

#define S_ INT64_C(1000000000)

struct got {
	int n;
	struct { uint64_t key; int64_t start, end; uint32_t rev, nulls; uint64_t count, val[16]; } r[1024];
};

static void
collect(void *ctx, const struct weir_result *r)
{
	struct got *g = ctx;
	assert_true(g->n < 1024);
	g->r[g->n].key = r->key;
	g->r[g->n].start = r->start;
	g->r[g->n].end = r->end;
	g->r[g->n].rev = r->revision;
	g->r[g->n].nulls = r->null_mask;
	g->r[g->n].count = r->count;
	memcpy(g->r[g->n].val, r->val, 8u * r->naggs);
	g->n++;
}

static struct weir_config cfg;

static struct weir_op *
make(const char *window, const char *lateness, const char *aggs, struct got *g)
{
	char text[1024];
	snprintf(text, sizeof(text),
		 "[dataplane]\ndevices = x\n[source s]\nudp_port = 1\nfields = a:i64, u:u64, f:f64\n"
		 "[query q]\nfrom = s\nwindow = %s\nallowed_lateness = %s\naggregates = %s\n", window, lateness, aggs);
	assert_int_equal(weir_config_load_string("t.ini", text, &cfg, stderr), 0);
	memset(g, 0, sizeof(*g));
	struct weir_op *op = weir_op_create(&cfg.queries[0], 0, &cfg.sources[0], collect, g);
	assert_non_null(op);
	return op;
}

/* One batch: records (t, key, a) then batch end, then the watermark. */
static void
batch(struct weir_op *op, const int64_t *t, const uint64_t *key, const int64_t *a, int n, int64_t wm)
{
	static uint64_t vals[64][3];
	struct weir_ev ev[64];
	for (int i = 0; i < n; i++) {
		double f = (double)a[i] / 4;
		vals[i][0] = (uint64_t)a[i];
		vals[i][1] = (uint64_t)(a[i] < 0 ? -a[i] : a[i]);
		memcpy(&vals[i][2], &f, 8);
		ev[i] = (struct weir_ev){ t[i], key[i], vals[i] };
	}
	weir_op_burst(op, ev, (unsigned)n);
	weir_op_batch_end(op);
	weir_op_advance(op, wm);
}

static void
tumbling_fires_on_watermark(void **st)
{
	struct got g;
	struct weir_op *op = make("tumbling 1s", "0", "count, sum(a)", &g);
	int64_t t[3] = { 10 * S_ + 1, 10 * S_ + 999999999, 11 * S_ };
	uint64_t k[3] = { 7, 7, 7 };
	int64_t a[3] = { 5, 6, 100 };

	(void)st;
	batch(op, t, k, a, 3, 11 * S_ - 1);       /* wm just below the end: nothing fires */
	assert_int_equal(g.n, 0);
	weir_op_advance(op, 11 * S_);              /* wm >= end: [10s, 11s) fires */
	assert_int_equal(g.n, 1);
	assert_int_equal(g.r[0].start, 10 * S_);
	assert_int_equal(g.r[0].end, 11 * S_);
	assert_int_equal(g.r[0].count, 2);
	assert_int_equal(g.r[0].val[0], 2);
	assert_int_equal((int64_t)g.r[0].val[1], 11);
	assert_int_equal(g.r[0].rev, 0);
	/* a record for the fired window is late (lateness 0): counted, not applied */
	int64_t t2[1] = { 10 * S_ + 5 };
	batch(op, t2, k, a, 1, 11 * S_);
	struct weir_op_stats s;
	weir_op_get_stats(op, &s);
	assert_int_equal(s.late_dropped, 1);
	assert_int_equal(g.n, 1);
	weir_op_advance(op, INT64_MAX);            /* end of input fires the rest */
	assert_int_equal(g.n, 2);
	assert_int_equal(g.r[1].start, 11 * S_);
	weir_op_get_stats(op, &s);
	assert_int_equal(s.open_windows, 0);
	weir_op_destroy(op);
}

static void
lateness_revisions(void **st)
{
	struct got g;
	struct weir_op *op = make("tumbling 1s", "2s", "count, max(a)", &g);
	int64_t t[1] = { 5 * S_ };
	uint64_t k[1] = { 1 };
	int64_t a[1] = { 3 };

	(void)st;
	batch(op, t, k, a, 1, 6 * S_);             /* fires rev 0 */
	assert_int_equal(g.n, 1);
	int64_t a2[1] = { 9 };
	batch(op, t, k, a2, 1, 7 * S_);            /* late but within 2s: rev 1 at batch end */
	assert_int_equal(g.n, 2);
	assert_int_equal(g.r[1].rev, 1);
	assert_int_equal(g.r[1].count, 2);
	assert_int_equal((int64_t)g.r[1].val[1], 9);
	/* two late records in one batch: one firing */
	int64_t t3[2] = { 5 * S_ + 1, 5 * S_ + 2 };
	uint64_t k3[2] = { 1, 1 };
	int64_t a3[2] = { 1, 1 };
	batch(op, t3, k3, a3, 2, 7 * S_);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.r[2].rev, 2);
	assert_int_equal(g.r[2].count, 4);
	weir_op_advance(op, 8 * S_);               /* wm >= end + L: state freed */
	struct weir_op_stats s;
	weir_op_get_stats(op, &s);
	assert_int_equal(s.open_windows, 0);
	batch(op, t, k, a, 1, 8 * S_);             /* now late beyond lateness */
	weir_op_get_stats(op, &s);
	assert_int_equal(s.late_dropped, 1);
	assert_int_equal(g.n, 3);
	weir_op_destroy(op);
}

static void
lateness_new_window_fires_at_batch_end(void **st)
{
	struct got g;
	struct weir_op *op = make("tumbling 1s", "2s", "count", &g);
	int64_t t[1] = { 10 * S_ };
	uint64_t k[1] = { 1 };
	int64_t a[1] = { 0 };

	(void)st;
	batch(op, t, k, a, 1, 10 * S_ + 500000000);
	int64_t t2[1] = { 9 * S_ + 7 };            /* window [9s,10s) is complete already */
	batch(op, t2, k, a, 1, 10 * S_ + 500000000);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.r[0].start, 9 * S_);
	assert_int_equal(g.r[0].rev, 0);
	assert_int_equal(g.r[0].count, 1);
	weir_op_destroy(op);
}

static void
hopping_membership(void **st)
{
	struct got g;
	struct weir_op *op = make("hopping 3s 1s", "0", "count", &g);
	int64_t t[1] = { 10 * S_ + 5 };
	uint64_t k[1] = { 4 };
	int64_t a[1] = { 0 };

	(void)st;
	batch(op, t, k, a, 1, INT64_MIN);
	weir_op_advance(op, INT64_MAX);
	assert_int_equal(g.n, 3);                  /* [8,11) [9,12) [10,13) */
	int64_t starts = 0;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(g.r[i].end - g.r[i].start, 3 * S_);
		assert_true(g.r[i].start <= t[0] && t[0] < g.r[i].end);
		starts += g.r[i].start;
	}
	assert_int_equal(starts, 27 * S_);
	weir_op_destroy(op);
	/* late for some of its windows only: counted once, applied to the others */
	op = make("hopping 3s 1s", "0", "count", &g);
	weir_op_advance(op, 12 * S_);
	batch(op, t, k, a, 1, 12 * S_);
	struct weir_op_stats s;
	weir_op_get_stats(op, &s);
	assert_int_equal(s.late_dropped, 1);
	weir_op_advance(op, INT64_MAX);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.r[0].start, 10 * S_);
	weir_op_destroy(op);
}

static void
sessions(void **st)
{
	struct got g;
	struct weir_op *op = make("session 10s", "0", "count, first(a), last(a)", &g);
	uint64_t k[3] = { 1, 1, 1 };

	(void)st;
	int64_t t1[2] = { 100 * S_, 125 * S_ }, a1[2] = { 1, 2 };
	batch(op, t1, k, a1, 2, 90 * S_);          /* two sessions: [100,110) [125,135) */
	int64_t t2[1] = { 109 * S_ }, a2[1] = { 3 };
	batch(op, t2, k, a2, 1, 90 * S_);          /* extends the first to [100,119) */
	int64_t t3[1] = { 117 * S_ }, a3[1] = { 4 };
	batch(op, t3, k, a3, 1, 90 * S_);          /* bridges both: [100,135) */
	weir_op_advance(op, 134 * S_);
	assert_int_equal(g.n, 0);
	weir_op_advance(op, 135 * S_);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.r[0].start, 100 * S_);
	assert_int_equal(g.r[0].end, 135 * S_);
	assert_int_equal(g.r[0].count, 4);
	assert_int_equal((int64_t)g.r[0].val[1], 1);    /* first: t=100 */
	assert_int_equal((int64_t)g.r[0].val[2], 2);    /* last: t=125 */
	/* a record merging into the fired session (not late: 130+10 > 135) re-fires it
	 * with the same start, revision 1, once the watermark passes its new end */
	int64_t t4[1] = { 130 * S_ }, a4[1] = { 5 };
	batch(op, t4, k, a4, 1, 135 * S_);
	assert_int_equal(g.n, 1);
	weir_op_advance(op, 140 * S_);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.r[1].start, 100 * S_);
	assert_int_equal(g.r[1].end, 140 * S_);
	assert_int_equal(g.r[1].rev, 1);
	assert_int_equal(g.r[1].count, 5);
	/* late: wm >= t + gap */
	int64_t t5[1] = { 130 * S_ };
	batch(op, t5, k, a4, 1, 140 * S_);
	struct weir_op_stats s;
	weir_op_get_stats(op, &s);
	assert_int_equal(s.late_dropped, 1);
	weir_op_advance(op, INT64_MAX);
	weir_op_get_stats(op, &s);
	assert_int_equal(s.open_windows, 0);
	weir_op_destroy(op);
}

static void
aggregates(void **st)
{
	struct got g;
	struct weir_op *op = make("tumbling 1s", "0",
		"count, sum(a), min(a), max(a), avg(a), first(a), last(a), sum(f), min(u)", &g);
	/* ties: first keeps the first arrived, last takes the last arrived */
	int64_t t[5] = { 3 * S_ + 5, 3 * S_ + 1, 3 * S_ + 9, 3 * S_ + 1, 3 * S_ + 9 };
	uint64_t k[5] = { 2, 2, 2, 2, 2 };
	int64_t a[5] = { -7, 40, 1, 41, 2 };

	(void)st;
	batch(op, t, k, a, 5, INT64_MAX);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.r[0].count, 5);
	assert_int_equal((int64_t)g.r[0].val[1], 77);
	assert_int_equal((int64_t)g.r[0].val[2], -7);
	assert_int_equal((int64_t)g.r[0].val[3], 41);
	assert_int_equal((int64_t)g.r[0].val[4], 77);   /* avg carries the sum */
	assert_int_equal((int64_t)g.r[0].val[5], 40);   /* first: t+1, first arrived */
	assert_int_equal((int64_t)g.r[0].val[6], 2);    /* last: t+9, last arrived */
	double f;
	memcpy(&f, &g.r[0].val[7], 8);
	assert_true(f == 77.0 / 4);
	assert_int_equal(g.r[0].val[8], 1);
	assert_int_equal(g.r[0].nulls, 0);
	weir_op_destroy(op);
}

static void
sum_overflow(void **st)
{
	struct got g;
	struct weir_op *op = make("tumbling 1s", "0", "count, sum(a), max(a)", &g);
	int64_t t[2] = { 1, 2 };
	uint64_t k[2] = { 1, 1 };
	int64_t a[2] = { INT64_MAX, 1 };

	(void)st;
	batch(op, t, k, a, 2, INT64_MAX);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.r[0].nulls, 1u << 1);
	assert_int_equal((int64_t)g.r[0].val[2], INT64_MAX);
	struct weir_op_stats s;
	weir_op_get_stats(op, &s);
	assert_int_equal(s.sum_overflow, 1);
	weir_op_destroy(op);
}

static void
negative_times(void **st)
{
	struct got g;
	struct weir_op *op = make("tumbling 1s", "0", "count", &g);
	int64_t t[2] = { -1, -S_ };
	uint64_t k[2] = { 1, 1 };
	int64_t a[2] = { 0, 0 };

	(void)st;
	batch(op, t, k, a, 2, INT64_MAX);
	assert_int_equal(g.n, 1);                  /* both in [-1s, 0) */
	assert_int_equal(g.r[0].start, -S_);
	assert_int_equal(g.r[0].end, 0);
	assert_int_equal(g.r[0].count, 2);
	weir_op_destroy(op);
}

static void
many_keys_grow_and_free(void **st)
{
	struct got g;
	struct weir_op *op = make("tumbling 1s", "0", "count", &g);
	static uint64_t vals[3] = { 0 };
	struct weir_op_stats s;
	uint64_t fired = 0;

	(void)st;
	for (uint64_t key = 0; key < 50000; key++) {
		struct weir_ev e = { (int64_t)(key % 3) * S_, key, vals };
		weir_op_burst(op, &e, 1);
	}
	weir_op_get_stats(op, &s);
	assert_int_equal(s.open_windows, 50000);
	g.n = 0;
	/* the collector holds 256: count through stats instead */
	weir_op_destroy(op);
	op = make("tumbling 1s", "0", "count", &g);
	for (uint64_t key = 0; key < 200; key++) {
		struct weir_ev e = { 0, key, vals };
		weir_op_burst(op, &e, 1);
		weir_op_burst(op, &e, 1);
	}
	weir_op_advance(op, INT64_MAX);
	for (int i = 0; i < g.n; i++)
		fired += g.r[i].count;
	assert_int_equal(g.n, 200 > 256 ? 256 : 200);
	assert_int_equal(fired, 400);
	weir_op_get_stats(op, &s);
	assert_int_equal(s.open_windows, 0);
	weir_op_destroy(op);
}

/* Results of one firing come out by (end, key), whatever order the keys arrived in:
 * two operators fed the same records in different orders emit the same sequence
 * (tumbling, hopping and sessions; an HA pair compares its streams). */
static void
canonical_firing_order(void **st)
{
	static const char *const wins[] = { "tumbling 1s", "hopping 2s 1s", "session 1s" };
	(void)st;
	for (int wi = 0; wi < 3; wi++) {
		struct got g1, g2;
		struct weir_op *o1 = make(wins[wi], "0", "count, sum(a)", &g1);
		struct weir_op *o2 = make(wins[wi], "0", "count, sum(a)", &g2);
		weir_op_set_canonical(o1, true);
		weir_op_set_canonical(o2, true);
		enum { N = 300 };               /* (many keys per window: the radix sort) */
		int64_t t[N], a[N];
		uint64_t k[N], k2[N];
		int64_t t2[N], a2[N];
		uint64_t x = 12345;
		for (int i = 0; i < N; i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			k[i] = i % 3 ? (x >> 33) % 100000 : x ^ (x >> 29);     /* small and any */
			t[i] = 10 * S_ + (int64_t)(i % 4) * 100000000;   /* one or two windows */
			a[i] = i;
		}
		for (int i = 0; i < N; i++) {             /* the same records, reversed */
			k2[i] = k[N - 1 - i];
			t2[i] = t[N - 1 - i];
			a2[i] = a[N - 1 - i];
		}
		for (int i = 0; i < N; i += 50) {         /* (batch() takes 64 at most) */
			batch(o1, t + i, k + i, a + i, 50, 0);
			batch(o2, t2 + i, k2 + i, a2 + i, 50, 0);
		}
		weir_op_advance(o1, INT64_MAX);
		weir_op_advance(o2, INT64_MAX);
		assert_true(g1.n > 1);
		assert_int_equal(g1.n, g2.n);
		for (int i = 0; i < g1.n; i++) {
			assert_int_equal(g1.r[i].key, g2.r[i].key);
			assert_int_equal(g1.r[i].end, g2.r[i].end);
			assert_int_equal(g1.r[i].count, g2.r[i].count);
			assert_int_equal(g1.r[i].val[1], g2.r[i].val[1]);
			if (i)
				assert_true(g1.r[i - 1].end < g1.r[i].end ||
					    (g1.r[i - 1].end == g1.r[i].end && g1.r[i - 1].key < g1.r[i].key));
		}
		weir_op_destroy(o1);
		weir_op_destroy(o2);
	}
}

/* Filter and latency stamps: only records passing every comparison count; each
 * result carries its window's largest arrival stamp and the stamp of the watermark
 * that fired it (0 for a late update fired at a batch end). */
static struct { int n; uint64_t key, count, sum, arr, fire; int64_t start; } stamped[64];
static int nstamped;

static void
collect_stamps(void *ctx, const struct weir_result *r)
{
	(void)ctx;
	assert_true(nstamped < 64);
	stamped[nstamped].key = r->key;
	stamped[nstamped].start = r->start;
	stamped[nstamped].count = r->count;
	stamped[nstamped].sum = r->val[1];
	stamped[nstamped].arr = r->val[r->naggs];
	stamped[nstamped].fire = r->val[r->naggs + 1];
	nstamped++;
}

static void
filter_and_stamps(void **st)
{
	static const char text[] =
		"[dataplane]\ndevices = x\n[source s]\nudp_port = 1\nfields = a:i64, u:u64, f:f64\n"
		"[query q]\nfrom = s\nwindow = tumbling 1s\nallowed_lateness = 1s\naggregates = count, sum(a)\n"
		"filter = a > -3 and f < 10\n";
	/* t, key, a, f, arrival stamp */
	static const struct { int64_t t; uint64_t key; int64_t a; double f; uint64_t arr; } in[] = {
		{ 100, 1, 5, 1.0, 1000 },  { 200, 1, -3, 1.0, 1001 },   /* a > -3 fails */
		{ 300, 1, 7, 10.0, 1002 }, { 400, 1, 2, 9.5, 1003 },    /* f < 10 fails, passes */
		{ 500, 2, -2, -1e9, 1004 }, { 600, 2, 4, 0.0 / 0.0, 1005 },  /* NaN < 10 fails */
	};
	uint64_t v[6][4];
	struct weir_ev ev[6];
	struct weir_op_stats os;

	(void)st;
	assert_int_equal(weir_config_load_string("t.ini", text, &cfg, stderr), 0);
	nstamped = 0;
	struct weir_op *op = weir_op_create_ex(&cfg.queries[0], 0, &cfg.sources[0], collect_stamps, NULL,
					       WEIR_OP_LATENCY);
	assert_non_null(op);
	for (int i = 0; i < 6; i++) {
		v[i][0] = (uint64_t)in[i].a;
		v[i][1] = 0;
		memcpy(&v[i][2], &in[i].f, 8);
		v[i][3] = in[i].arr;            /* the hidden field after the source's three */
		ev[i] = (struct weir_ev){ in[i].t, in[i].key, v[i] };
	}
	weir_op_burst(op, ev, 6);
	weir_op_batch_end(op);
	weir_op_set_fire_stamp(op, 7777);
	weir_op_advance(op, S_);
	assert_int_equal(nstamped, 2);
	for (int i = 0; i < 2; i++) {
		if (stamped[i].key == 1) {
			assert_int_equal(stamped[i].count, 2);
			assert_int_equal((int64_t)stamped[i].sum, 7);
			assert_int_equal(stamped[i].arr, 1003);
		} else {
			assert_int_equal(stamped[i].key, 2);
			assert_int_equal(stamped[i].count, 1);
			assert_int_equal((int64_t)stamped[i].sum, -2);
			assert_int_equal(stamped[i].arr, 1004);
		}
		assert_int_equal(stamped[i].fire, 7777);
	}
	weir_op_get_stats(op, &os);
	assert_int_equal(os.filtered, 3);
	/* a late update within the allowed lateness fires at the batch end: no watermark stamp */
	v[0][3] = 2000;
	weir_op_set_fire_stamp(op, 8888);
	weir_op_burst(op, ev, 1);
	weir_op_batch_end(op);
	assert_int_equal(nstamped, 3);
	assert_int_equal(stamped[2].key, 1);
	assert_int_equal(stamped[2].count, 3);
	assert_int_equal(stamped[2].arr, 2000);
	assert_int_equal(stamped[2].fire, 0);
	weir_op_destroy(op);
	/* without the flag the same query has no hidden word: results are as before */
	nstamped = 0;
	op = weir_op_create(&cfg.queries[0], 0, &cfg.sources[0], collect_stamps, NULL);
	weir_op_burst(op, ev, 6);
	weir_op_advance(op, S_);
	assert_int_equal(nstamped, 2);
	weir_op_get_stats(op, &os);
	assert_int_equal(os.filtered, 3);
	weir_op_destroy(op);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tumbling_fires_on_watermark), cmocka_unit_test(lateness_revisions),
		cmocka_unit_test(lateness_new_window_fires_at_batch_end), cmocka_unit_test(hopping_membership),
		cmocka_unit_test(sessions), cmocka_unit_test(aggregates), cmocka_unit_test(sum_overflow),
		cmocka_unit_test(negative_times), cmocka_unit_test(many_keys_grow_and_free),
		cmocka_unit_test(canonical_firing_order), cmocka_unit_test(filter_and_stamps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
