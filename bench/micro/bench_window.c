/* SPDX-License-Identifier: Apache-2.0
 * Window-state update per event: one keyed tumbling count + sum operator
 * (dataplane/window.h) fed like a worker feeds it.
 *
 * Input: a key stream generated once (uniform over K keys, or Zipf s = 1.1 over K),
 * L events long (L = 4 Mi, or the power of two >= 3K: 32 Mi for 10 M keys), with values
 * 0..1023.  One pass of the stream is one 1 s tumbling window: event i of window w
 * has time w s + i * (1 s / L), so times only grow and nothing is late.
 *
 * One iteration = what a worker does with one ring burst of 64 events:
 *   build the 64 struct weir_ev (time, key, pointer to the value), weir_op_burst
 *   (hash + prefetch, table probe, aggregate update or window creation),
 *   weir_op_batch_end, weir_op_advance to the burst's last time (a watermark marker
 *   after each batch, as with watermark_delay 0: it fires nothing mid-window);
 *   and, once per window (every L/64 iterations), weir_op_advance to the window's end:
 *   every window of the pass fires (one result per distinct key, to a counting emit
 *   callback: no result ring) and is purged (table delete, slot freed).
 * So the time per event includes the firing, amortised: D results per L events.
 * Not included: popping the ring, the records' decode (see decode, ring_*).
 *
 * The operator and the stream are kept across Google Benchmark's calls of one
 * benchmark (setup is seconds for 10 M keys, and the state would otherwise start
 * empty every call), after an untimed first window (creation of every window, table
 * growth): the numbers are steady state, slots reused from the free list.  10 M keys
 * run a fixed 2 windows from a window boundary, so their firing is amortised exactly.
 * 10 M keys hold ~2.5 GB (slots, table, stream).
 *
 * Checks: every fired window's results: one per distinct key of the stream (counted
 * independently in setup), counts summing to L, sums to the stream's value sum, all
 * for the window that fired; at the end of every call the open windows must be the
 * distinct keys of the part of the current window seen so far; nothing late or lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "micro.h"
#include "window.h"

#define BURST  64
#define WIN_NS WB_NS_PER_S
#define T0     INT64_C(1700000000000000000)
#define BITS_BYTES(k) (((k) / 64 + 1) * 8)     /* a bit per key 0..k (keys are 1..K) */

static const char win_cfg[] =
	"[dataplane]\ndevices = x\n[source s]\nudp_port = 1\nfields = a:i64\n"
	"[query q]\nfrom = s\nwindow = tumbling 1s\naggregates = count, sum(a)\n";

struct wctx {
	uint64_t keys;
	int zipf;
	uint64_t len;               /* events per window: the whole stream */
	uint64_t *key, *val;        /* the stream */
	uint64_t distinct, vsum;    /* of the stream */
	uint64_t *bits;             /* a bit per key (verification) */
	struct weir_config cfg;
	struct weir_op *op;
	uint64_t pos;               /* events of the current window so far */
	int64_t win;                /* current window (index) */
	int64_t dt;
	/* results */
	int64_t fire_start;         /* start of the window the next results must be from */
	uint64_t results, rcount, rsum, wrong;
	uint64_t windows;           /* windows fired */
};

static struct wctx *cur;            /* the one live context (memory: one at a time) */

static void
emit_count(void *ctx, const struct weir_result *r)
{
	struct wctx *c = ctx;

	c->results++;
	c->rcount += r->count;
	c->rsum += r->val[1];
	c->wrong += r->start != c->fire_start;
}

static uint64_t
bits_count(struct wctx *c, uint64_t n)
{
	uint64_t d = 0;

	memset(c->bits, 0, BITS_BYTES(c->keys));
	for (uint64_t i = 0; i < n; i++) {
		uint64_t k = c->key[i], m = UINT64_C(1) << (k & 63);
		d += !(c->bits[k >> 6] & m);
		c->bits[k >> 6] |= m;
	}
	return d;
}

static void
wctx_free(struct wctx *c)
{
	if (!c)
		return;
	weir_op_destroy(c->op);
	wb_free(c->key, c->len * 8);
	wb_free(c->val, c->len * 8);
	free(c->bits);
	free(c);
}

static struct wctx *
wctx_new(uint64_t keys, int zipf)
{
	struct wctx *c = calloc(1, sizeof(*c));
	struct wb_zipf *z = NULL;
	uint64_t rng = 0x5eed0000 + keys * 2 + (uint64_t)zipf;

	if (!c)
		return NULL;
	c->keys = keys;
	c->zipf = zipf;
	c->len = UINT64_C(1) << 22;
	while (c->len < 3 * keys)
		c->len <<= 1;
	c->dt = WIN_NS / (int64_t)c->len;
	c->key = wb_alloc(c->len * 8);
	c->val = wb_alloc(c->len * 8);
	c->bits = malloc(BITS_BYTES(keys));
	if (!c->key || !c->val || !c->bits || !wb_config(win_cfg, &c->cfg))
		goto fail;
	if (zipf && !(z = wb_zipf_new(keys, 1.1)))
		goto fail;
	for (uint64_t i = 0; i < c->len; i++) {
		c->key[i] = 1 + (zipf ? wb_zipf_draw(z, &rng) : wb_rnd(&rng) % keys);
		c->val[i] = wb_rnd(&rng) & 1023;
		c->vsum += c->val[i];
	}
	wb_zipf_free(z);
	c->distinct = bits_count(c, c->len);
	/* as the dataplane makes it without [state]: no change tracking */
	c->op = weir_op_create_ex(&c->cfg.queries[0], 0, &c->cfg.sources[0], emit_count, c, WEIR_OP_NO_CKPT);
	if (!c->op)
		goto fail;
	c->fire_start = INT64_MIN;
	return c;
fail:
	wctx_free(c);
	return NULL;
}

/* Checks that hold at any point between iterations; 0 or -1 after wb_fail. */
static int
wctx_check(struct wb_state *st, struct wctx *c, const char *when)
{
	struct weir_op_stats s;
	uint64_t open = bits_count(c, c->pos);

	weir_op_get_stats(c->op, &s);
	if (c->results != c->windows * c->distinct || c->rcount != c->windows * c->len ||
	    c->rsum != c->windows * c->vsum || c->wrong || s.open_windows != open || s.late_dropped ||
	    s.alloc_failed) {
		char m[400];
		snprintf(m, sizeof(m),
			 "window_update keys %llu zipf %d (%s): %llu windows fired: %llu results (expected %llu), "
			 "count sum %llu (%llu), value sum %llu (%llu), %llu from the wrong window; open windows "
			 "%llu (expected %llu), %llu late, %llu lost",
			 (unsigned long long)c->keys, c->zipf, when, (unsigned long long)c->windows,
			 (unsigned long long)c->results, (unsigned long long)(c->windows * c->distinct),
			 (unsigned long long)c->rcount, (unsigned long long)(c->windows * c->len),
			 (unsigned long long)c->rsum, (unsigned long long)(c->windows * c->vsum),
			 (unsigned long long)c->wrong, (unsigned long long)s.open_windows,
			 (unsigned long long)open, (unsigned long long)s.late_dropped,
			 (unsigned long long)s.alloc_failed);
		if (st)
			wb_fail(st, "%s", m);
		else
			wb_fail_run("%s", m);
		return -1;
	}
	return 0;
}

/* Tear the live context down: fire what is open, which must be the current window's
 * distinct keys so far. */
static void
wctx_finish(struct wctx *c)
{
	uint64_t open = bits_count(c, c->pos), before = c->results;

	c->fire_start = T0 + c->win * WIN_NS;
	weir_op_advance(c->op, INT64_MAX);
	if (c->results - before != open)
		wb_fail_run("window_update keys %llu zipf %d: the last firing gave %llu results, expected %llu",
			    (unsigned long long)c->keys, c->zipf, (unsigned long long)(c->results - before),
			    (unsigned long long)open);
	wctx_free(c);
}

/* One ring burst of BURST events, as a worker applies it (see the head). */
static inline __attribute__((always_inline)) void
wstep(struct wctx *c, struct weir_ev *ev)
{
	const uint64_t *k = c->key + c->pos, *v = c->val + c->pos;
	int64_t t = T0 + c->win * WIN_NS + (int64_t)c->pos * c->dt;

	for (unsigned j = 0; j < BURST; j++)
		ev[j] = (struct weir_ev){ t + (int64_t)j * c->dt, k[j], &v[j] };
	weir_op_burst(c->op, ev, BURST);
	weir_op_batch_end(c->op);
	weir_op_advance(c->op, ev[BURST - 1].t);
	c->pos += BURST;
	if (c->pos == c->len) {                 /* the window is complete: it fires */
		c->fire_start = T0 + c->win * WIN_NS;
		c->win++;
		c->pos = 0;
		weir_op_advance(c->op, T0 + c->win * WIN_NS);
		c->windows++;
	}
}

static void
bm_window_update(struct wb_state *st)
{
	uint64_t keys = (uint64_t)wb_range(st, 0);
	int zipf = (int)wb_range(st, 1);
	struct weir_ev ev[BURST];
	struct wctx *c;

	if (!cur || cur->keys != keys || cur->zipf != zipf) {
		if (cur)
			wctx_finish(cur);
		cur = wctx_new(keys, zipf);
		if (!cur) {
			wb_skip(st, "out of memory for the key stream or the state");
			return;
		}
	}
	c = cur;
	if (wctx_check(st, c, "before"))
		return;
	/* untimed, once per context: the first window (creation of every window, table
	 * growth, the first firing); the first measured run starts at a window boundary */
	while (c->windows == 0)
		wstep(c, ev);
	uint64_t events0 = c->windows * c->len + c->pos;
	while (wb_keep_running(st))
		wstep(c, ev);
	uint64_t events = c->windows * c->len + c->pos - events0;
	struct weir_op_stats s;

	weir_op_get_stats(c->op, &s);
	wb_set_items(st, (int64_t)events);
	wb_counter(st, "distinct_per_window", (double)c->distinct);
	wb_counter(st, "state_MiB", (double)s.state_bytes / (1 << 20));
	wctx_check(st, c, "after");
}

void
micro_window_finish(void)
{
	if (cur)
		wctx_finish(cur);
	cur = NULL;
}

void
micro_window_register(void)
{
	static const int64_t small[] = { 1000, 0, 1000, 1, 100000, 0, 100000, 1 };
	static const int64_t big[] = { 10000000, 0, 10000000, 1 };
	static const char *const names[] = { "keys", "zipf" };

	wb_family("window_update", bm_window_update, small, 4, 2, names);
	/* 10 M keys: a window is 32 Mi events (~10 s uniform) after a first one of ~15 s
	 * (growth, rehashing) and several seconds of setup: exactly 2 windows are measured,
	 * so the firing is amortised exactly (one call, no ramp-up) */
	wb_iterations_fixed(wb_family("window_update", bm_window_update, big, 2, 2, names),
			    2 * (INT64_C(1) << 25) / BURST);
}
