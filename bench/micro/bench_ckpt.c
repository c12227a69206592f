/* SPDX-License-Identifier: Apache-2.0
 * Snapshot delta encoding: a worker's side of a checkpoint.  N open keyed tumbling
 * count + sum windows are all changed (one event each, timer paused); the timed part
 * is weir_op_ckpt_begin then weir_op_ckpt_step with the dataplane's budget (256
 * windows per loop iteration) until the delta is complete, written through an
 * sp_writer (stateplane/delta.h) into 256 KiB chunks whose next() callback hands the
 * full chunk back as the empty one (no state plane: chunks are recycled).
 * Incremental (the changed windows) and full (every window, as for a resync).
 * Items = windows written; bytes = record bytes of the delta.
 *
 * Check: every delta has N PUTs and the watermark record (no DEL: nothing closed), of
 * the size the record layout gives; once per call (untimed) a delta is parsed back
 * with sp_rec_next: N PUTs whose state keys decode to the N keys.
 */
#include <stdlib.h>
#include <string.h>

#include "micro.h"
#include "window.h"

#define CHUNK_CAP  (256u << 10)
#define BUDGET     256          /* dataplane.c CKPT_BUDGET */
#define BURST      64
#define T0         INT64_C(1700000000000000000)
#define PUT_BYTES  (4 + 18 + 30 + 8)  /* header, state key, fixed value, one state word */

static const char ck_cfg[] =
	"[dataplane]\ndevices = x\n[source s]\nudp_port = 1\nfields = a:i64\n"
	"[query q]\nfrom = s\nwindow = tumbling 1s\naggregates = count, sum(a)\n";

struct ck_sink {
	struct sp_chunk *spare;
	uint64_t chunks;
	bool parse;                 /* verification: walk every chunk */
	uint64_t puts, dels, metas, keysum, malformed;
};

static void
chunk_parse(struct ck_sink *k, const struct sp_chunk *c)
{
	uint32_t off = 0;
	unsigned type, kl, vl;
	const uint8_t *key, *v;
	int r;

	while ((r = sp_rec_next(c, &off, &type, &key, &kl, &v, &vl)) == 1) {
		uint16_t q;
		uint64_t kk;
		if (type == SP_REC_PUT && weir_state_key(key, kl, &q, &kk) == 0 && q == 0) {
			k->puts++;
			k->keysum += kk;
		} else if (type == SP_REC_DEL) {
			k->dels++;
		} else if (type == SP_REC_META) {
			k->metas++;
		} else {
			k->malformed++;
		}
	}
	k->malformed += r != 0;
}

static struct sp_chunk *
next_chunk(void *ctx, struct sp_chunk *full)
{
	struct ck_sink *k = ctx;
	struct sp_chunk *c = k->spare;

	if (k->parse)
		chunk_parse(k, full);
	k->chunks++;
	k->spare = full;            /* recycled: the state plane would apply it, then return it */
	return c;
}

static struct sp_chunk *
chunk_new(void)
{
	struct sp_chunk *c = calloc(1, sizeof(*c) + CHUNK_CAP);

	if (c)
		c->cap = CHUNK_CAP;
	return c;
}

static void
bm_ckpt_delta(struct wb_state *st)
{
	uint64_t n = (uint64_t)wb_range(st, 0);
	bool full = wb_range(st, 1) != 0;
	struct weir_config cfg;
	struct weir_op *op = NULL;
	struct ck_sink sk = { 0 };
	struct sp_writer w = { 0 };
	struct weir_ev ev[BURST];
	uint64_t *keys = malloc(n * sizeof(*keys)), *vals = malloc(n * sizeof(*vals));
	uint64_t rng = 5 + n, want_keysum = 0, windows = 0, bytes = 0, bad = 0;
	uint64_t epoch = 1;

	w.c = chunk_new();
	sk.spare = chunk_new();
	w.next = next_chunk;
	w.ctx = &sk;
	if (!keys || !vals || !w.c || !sk.spare || !wb_config(ck_cfg, &cfg) ||
	    !(op = weir_op_create(&cfg.queries[0], 0, &cfg.sources[0], NULL, NULL))) {
		wb_fail(st, "ckpt_delta: setup failed");
		goto out;
	}
	for (uint64_t i = 0; i < n; i++) {
		keys[i] = 1 + ((i * UINT64_C(0x9e3779b97f4a7c15)) >> 12);
		vals[i] = wb_rnd(&rng) & 1023;
		want_keysum += keys[i];
	}
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = wb_rnd(&rng) % (i + 1), x = keys[i];
		keys[i] = keys[j];
		keys[j] = x;
	}
	for (int round = 0;; round++) {
		bool timed = round > 0;

		if (timed && !wb_keep_running(st))
			break;
		if (timed)
			wb_pause(st);
		/* every window changes (one event each, all in one window that never fires) */
		for (uint64_t i = 0; i < n; i += BURST) {
			unsigned b = n - i < BURST ? (unsigned)(n - i) : BURST;
			for (unsigned j = 0; j < b; j++)
				ev[j] = (struct weir_ev){ T0 + (int64_t)(i + j), keys[i + j], &vals[i + j] };
			weir_op_burst(op, ev, b);
		}
		weir_op_batch_end(op);
		w.c->epoch = epoch++;
		w.c->len = 0;
		w.c->seq = 0;
		w.c->flags = full ? SP_CH_FULL : 0;
		w.bytes = 0;
		w.records = 0;
		sk.parse = !timed;
		if (timed)
			wb_resume(st);
		weir_op_ckpt_begin(op, &w, full);
		while (!weir_op_ckpt_step(op, BUDGET))
			;
		if (!timed) {
			/* round 0 (untimed) is parsed back */
			chunk_parse(&sk, w.c);
			if (sk.puts != n || sk.metas != 1 || sk.dels || sk.malformed || sk.keysum != want_keysum)
				wb_fail(st, "ckpt_delta %llu: parsed %llu PUTs, %llu META, %llu DEL, %llu malformed, key sum %s",
					(unsigned long long)n, (unsigned long long)sk.puts,
					(unsigned long long)sk.metas, (unsigned long long)sk.dels,
					(unsigned long long)sk.malformed, sk.keysum == want_keysum ? "ok" : "WRONG");
			continue;
		}
		windows += w.records - 1;
		bytes += w.bytes;
		bad += w.records != n + 1 || w.bytes != n * PUT_BYTES + 4 + 2 + 8;
	}
	wb_set_items(st, (int64_t)windows);
	wb_set_bytes(st, (int64_t)bytes);
	wb_counter(st, "bytes_per_window", windows ? (double)bytes / (double)windows : 0);
	if (bad)
		wb_fail(st, "ckpt_delta %llu%s: %llu of %lld deltas not N PUTs + the watermark", (unsigned long long)n,
			full ? " full" : "", (unsigned long long)bad, (long long)wb_iterations(st));
out:
	weir_op_destroy(op);
	free(w.c);
	free(sk.spare);
	free(keys);
	free(vals);
}

void
micro_ckpt_register(void)
{
	static const int64_t rows[] = { 10000, 0, 100000, 0, 1000000, 0, 1000000, 1 };
	static const char *const names[] = { "windows", "full" };

	wb_unit(wb_family("ckpt_delta", bm_ckpt_delta, rows, 4, 2, names), 1);
}
