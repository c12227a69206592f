/* SPDX-License-Identifier: Apache-2.0
 * Unit tests: window-operator checkpoint deltas and restore.
 *
 * Property 1 (deltas are exact): an operator takes random events, watermark moves and
 * barriers, and keeps working while its delta is written a few records at a time.
 * Applying its deltas in order to a key-value model must give, at every barrier,
 * exactly the state a twin operator (same input) dumps in full at that barrier.
 * Property 2 (restore is exact): an operator restored from the model at a barrier,
 * given the rest of the input, emits exactly what the original emits after it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "window.h"

#define S_ INT64_C(1000000000)

#define CHUNK_CAP 512u      /* small: deltas span many chunks */
#include "ckpt_capture.h"

/* ---- results -------------------------------------------------------------------------------- */

struct res { uint64_t key; int64_t start, end; uint32_t rev; uint64_t count, v[4]; };
struct out { struct res *r; unsigned n, cap; };

static void
collect(void *ctx, const struct weir_result *r)
{
	struct out *o = ctx;
	if (o->n == o->cap) {
		o->cap = o->cap ? 2 * o->cap : 1024;
		o->r = realloc(o->r, o->cap * sizeof(*o->r));
	}
	struct res *x = &o->r[o->n++];
	memset(x, 0, sizeof(*x));
	x->key = r->key;
	x->start = r->start;
	x->end = r->end;
	x->rev = r->revision;
	x->count = r->count;
	memcpy(x->v, r->val, 8u * (r->naggs < 4 ? r->naggs : 4));
}

static int
res_cmp(const void *a, const void *b)
{
	const struct res *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->rev < y->rev ? -1 : x->rev > y->rev;
}

/* ---- the driver ----------------------------------------------------------------------------------- */

static struct weir_config cfg;
static uint64_t rng;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
load(const char *window, const char *lateness)
{
	char text[1024];
	snprintf(text, sizeof(text),
		 "[dataplane]\ndevices = x\n[source s]\nudp_port = 1\nfields = a:i64, f:f64\n"
		 "[query q]\nfrom = s\nwindow = %s\nallowed_lateness = %s\n"
		 "aggregates = count, sum(a), max(f), last(a)\n", window, lateness);
	assert_int_equal(weir_config_load_string("t.ini", text, &cfg, stderr), 0);
}

struct step { int kind; int64_t t; uint64_t key; uint64_t v[2]; };  /* 0 event, 1 batch end, 2 wm, 3 barrier */

static struct step *
script(unsigned n, unsigned keys, unsigned *len)
{
	struct step *s = calloc(n * 2, sizeof(*s));
	unsigned k = 0;
	int64_t now = 1000 * S_, wm = 0;

	for (unsigned i = 0; i < n; i++) {
		unsigned r = (unsigned)(rnd() % 100);
		if (r < 80) {
			now += (int64_t)(rnd() % (S_ / 20));
			int64_t t = now - (int64_t)(rnd() % (3 * S_));     /* disorder, some late */
			double f = (double)(rnd() % 1000) / 8;
			s[k] = (struct step){ 0, t, rnd() % keys, { rnd() % 100, 0 } };
			memcpy(&s[k].v[1], &f, 8);
			k++;
			if (rnd() % 4 == 0)
				s[k++] = (struct step){ .kind = 1 };
		} else if (r < 95) {
			s[k++] = (struct step){ .kind = 1 };
			wm = now - 2 * S_;
			s[k++] = (struct step){ .kind = 2, .t = wm };
		} else {
			s[k++] = (struct step){ .kind = 1 };
			s[k++] = (struct step){ .kind = 3 };
		}
	}
	s[k++] = (struct step){ .kind = 1 };
	*len = k;
	return s;
}

static void
play(struct weir_op *op, const struct step *x)
{
	if (x->kind == 0) {
		struct weir_ev e = { x->t, x->key, x->v };
		weir_op_burst(op, &e, 1);
	} else if (x->kind == 1) {
		weir_op_batch_end(op);
	} else if (x->kind == 2) {
		weir_op_advance(op, x->t);
	}
}

static void ops_begin(void *op, struct sp_writer *w, bool full) { weir_op_ckpt_begin(op, w, full); }
static bool ops_step(void *op, uint32_t budget) { return weir_op_ckpt_step(op, budget); }
static const struct ckpt_ops ops = { ops_begin, ops_step };

static void
restore_into(struct weir_op *op, const struct model *m)
{
	for (unsigned i = 0; i < m->n; i++)
		assert_int_equal(weir_op_restore(op, m->e[i].k, m->e[i].kl, m->e[i].v, m->e[i].vl), 0);
	weir_op_restore_wm(op, m->wm);
}

static void
run(const char *window, const char *lateness, unsigned seed, unsigned keys)
{
	unsigned len;
	struct out o1 = { 0 }, o2 = { 0 }, o3 = { 0 };
	struct model m = { 0 };
	struct sink snk = { &m, 0 };
	struct sp_writer w = { NULL, next_chunk, &snk, 0, 0 };
	int active = 0, barriers = 0, checked_restore = 0;

	rng = 0x9e3779b97f4a7c15u * (seed + 1);
	load(window, lateness);
	struct step *sc = script(4000, keys, &len);
	struct weir_op *op = weir_op_create(&cfg.queries[0], 0, &cfg.sources[0], collect, &o1);
	struct weir_op *twin = weir_op_create(&cfg.queries[0], 0, &cfg.sources[0], collect, &o2);
	struct weir_op *rest = NULL;
	struct model expect = { 0 };
	unsigned restore_from = 0, bar_o1 = 0;

	for (unsigned i = 0; i < len; i++) {
		if (sc[i].kind == 3) {
			ckpt_barrier(&ops, op, twin, false, &w, &active, &m, &expect);
			bar_o1 = o1.n;
			barriers++;
			continue;
		}
		play(op, &sc[i]);
		play(twin, &sc[i]);
		if (rest)
			play(rest, &sc[i]);
		if (active && weir_op_ckpt_step(op, (uint32_t)(rnd() % 3))) {
			delta_check(&m, &w, &expect);
			active = 0;
			/* once: restore an operator from the model at this barrier; from here on
			 * it must emit what the original emits */
			if (!rest && barriers >= 3) {
				rest = weir_op_create(&cfg.queries[0], 0, &cfg.sources[0], collect, &o3);
				restore_into(rest, &m);
				restore_from = bar_o1;
				/* the events since that barrier, replayed into the restored op */
				unsigned j = i;
				while (sc[j].kind != 3)
					j--;
				o3.n = 0;
				for (unsigned q = j + 1; q <= i; q++)
					play(rest, &sc[q]);
				checked_restore = 1;
			}
		}
	}
	weir_op_advance(op, INT64_MAX);
	weir_op_advance(twin, INT64_MAX);
	if (rest)
		weir_op_advance(rest, INT64_MAX);
	assert_true(barriers >= 3);
	assert_true(checked_restore);
	/* the original and its twin agree throughout (checkpointing changes no result) */
	assert_int_equal(o1.n, o2.n);
	assert_memory_equal(o1.r, o2.r, o1.n * sizeof(*o1.r));
	/* the restored op emitted exactly what the original emitted after the barrier
	 * (windows firing at one watermark may come in another order: compare sorted) */
	assert_true(o3.n > 0);
	assert_int_equal(o3.n, o1.n - restore_from);
	qsort(o3.r, o3.n, sizeof(*o3.r), res_cmp);
	qsort(o1.r + restore_from, o3.n, sizeof(*o3.r), res_cmp);
	assert_memory_equal(o3.r, o1.r + restore_from, o3.n * sizeof(*o3.r));
	if (active)
		free(w.c);
	weir_op_destroy(op);
	weir_op_destroy(twin);
	weir_op_destroy(rest);
	free(sc);
	model_free(&m);
	model_free(&expect);
	free(o1.r);
	free(o2.r);
	free(o3.r);
}

/* few keys: windows change again while their delta is still being written */
static void tumbling(void **st) { (void)st; for (unsigned s = 0; s < 6; s++) run("tumbling 1s", "0s", s, s < 3 ? 3 : 50); }
static void tumbling_late(void **st) { (void)st; for (unsigned s = 0; s < 6; s++) run("tumbling 1s", "2s", s, s < 3 ? 3 : 50); }
static void hopping(void **st) { (void)st; for (unsigned s = 0; s < 6; s++) run("hopping 2s 500ms", "1s", s, s < 3 ? 3 : 30); }
static void session(void **st) { (void)st; for (unsigned s = 0; s < 6; s++) run("session 300ms", "0s", s, s < 3 ? 3 : 20); }
static void many_keys(void **st) { (void)st; run("tumbling 1s", "1s", 99, 5000); }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tumbling),
		cmocka_unit_test(tumbling_late),
		cmocka_unit_test(hopping),
		cmocka_unit_test(session),
		cmocka_unit_test(many_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
