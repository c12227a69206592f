/* SPDX-License-Identifier: Apache-2.0
 * Watermarks and window firing.
 *
 *   window_fire  N keyed tumbling count + sum windows are open (one window end, N keys,
 *                filled in random key order with the timer paused); the timed part is
 *                the weir_op_advance that passes their end: N results emitted (to a
 *                counting callback) and N windows purged (table delete, slot freed).
 *                In arrival order, and in canonical order (weir_op_set_canonical: the
 *                radix sort by key, as under HA).  Items = results fired.  The windows
 *                were just written, so for N up to ~100 k they are still in cache.
 *   wm_combine   a worker's weir_wm_combine over the reports of R RX cores (1 in 8
 *                holds nothing); items = calls.
 *   wm_acc       an RX core's watermark over P producers: weir_wm_acc_init, _add per
 *                producer (some ended, some idle), _result; items = calls.
 *
 * Checks: window_fire: N results per firing, each key once (key sum), in ascending key
 * order in canonical mode, all from the window that fired; wm_*: the folded results
 * equal those of a plain reference loop over the same inputs.
 */
#include <stdlib.h>
#include <string.h>

#include "micro.h"
#include "watermark.h"
#include "window.h"

#define WIN_NS WB_NS_PER_S
#define T0     INT64_C(1700000000000000000)
#define BURST  64

static const char fire_cfg[] =
	"[dataplane]\ndevices = x\n[source s]\nudp_port = 1\nfields = a:i64\n"
	"[query q]\nfrom = s\nwindow = tumbling 1s\naggregates = count, sum(a)\n";

struct fctx {
	int64_t start;              /* the window that must be firing */
	uint64_t results, keysum, wrong, unordered, prev;
};

static void
emit_fire(void *ctx, const struct weir_result *r)
{
	struct fctx *f = ctx;

	f->results++;
	f->keysum += r->key;
	f->wrong += r->start != f->start || r->count != 1;
	f->unordered += r->key <= f->prev;
	f->prev = r->key;
}

static void
bm_window_fire(struct wb_state *st)
{
	uint64_t n = (uint64_t)wb_range(st, 0);
	bool canonical = wb_range(st, 1) != 0;
	struct weir_config cfg;
	struct fctx f = { 0 };
	struct weir_ev ev[BURST];
	uint64_t *keys = malloc(n * sizeof(*keys)), *vals = malloc(n * sizeof(*vals));
	uint64_t rng = 77 + n, want_keysum = 0, firings = 0;
	struct weir_op *op = NULL;
	int64_t win = 0;

	if (!keys || !vals || !wb_config(fire_cfg, &cfg) ||
	    !(op = weir_op_create_ex(&cfg.queries[0], 0, &cfg.sources[0], emit_fire, &f, WEIR_OP_NO_CKPT))) {
		wb_fail(st, "window_fire: setup failed");
		goto out;
	}
	weir_op_set_canonical(op, canonical);
	/* n distinct scattered keys, in random order */
	for (uint64_t i = 0; i < n; i++) {
		keys[i] = (i + 1) * UINT64_C(0x9e3779b97f4a7c15) >> 8;
		vals[i] = i & 1023;
		want_keysum += keys[i];
	}
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = wb_rnd(&rng) % (i + 1), x = keys[i];
		keys[i] = keys[j];
		keys[j] = x;
	}
	while (wb_keep_running(st)) {
		wb_pause(st);
		int64_t t0 = T0 + win * WIN_NS;
		for (uint64_t i = 0; i < n; i += BURST) {
			unsigned b = n - i < BURST ? (unsigned)(n - i) : BURST;
			for (unsigned j = 0; j < b; j++)
				ev[j] = (struct weir_ev){ t0 + (int64_t)(i + j), keys[i + j], &vals[i + j] };
			weir_op_burst(op, ev, b);
		}
		weir_op_batch_end(op);
		f.start = t0;
		f.prev = 0;
		win++;
		wb_resume(st);
		weir_op_advance(op, T0 + win * WIN_NS);
		firings++;
	}
	wb_set_items(st, (int64_t)f.results);
	if (f.results != firings * n || f.keysum != firings * want_keysum || f.wrong ||
	    (canonical && f.unordered))
		wb_fail(st, "window_fire %llu%s: %llu firings gave %llu results (expected %llu), key sum %s, "
			"%llu from the wrong window, %llu out of key order",
			(unsigned long long)n, canonical ? " canonical" : "", (unsigned long long)firings,
			(unsigned long long)f.results, (unsigned long long)(firings * n),
			f.keysum == firings * want_keysum ? "ok" : "WRONG", (unsigned long long)f.wrong,
			(unsigned long long)f.unordered);
out:
	weir_op_destroy(op);
	free(keys);
	free(vals);
}

/* ---- watermarks ------------------------------------------------------------------------ */

#define WM_ROWS 1024            /* distinct inputs per benchmark, cycled: one iteration */

struct wm_in {
	int64_t *wm;                /* WM_ROWS x n */
	uint8_t *flag;              /* combine: holds; acc: bit 0 ended, bit 1 idle */
	uint64_t fold;              /* reference result */
};

static inline uint64_t
fold(uint64_t acc, bool any, int64_t wm)
{
	return (acc * 31 + (any ? (uint64_t)wm : 0x5a5a)) ^ any;
}

static int
wm_in_new(struct wm_in *in, unsigned n, bool acc, uint64_t seed)
{
	in->wm = malloc((size_t)WM_ROWS * n * sizeof(*in->wm));
	in->flag = malloc((size_t)WM_ROWS * n);
	in->fold = 0;
	if (!in->wm || !in->flag)
		return -1;
	for (unsigned r = 0; r < WM_ROWS; r++) {
		int64_t m = INT64_MAX;
		bool any = false;
		unsigned active = 0, ended = 0;
		for (unsigned i = 0; i < n; i++) {
			size_t k = (size_t)r * n + i;
			uint64_t x = wb_rnd(&seed);
			in->wm[k] = T0 + (int64_t)(x % 1000000000);
			if (!acc) {
				in->flag[k] = (x >> 40) % 8 != 0;       /* 1 in 8 holds nothing */
				if (in->flag[k]) {
					any = true;
					m = in->wm[k] < m ? in->wm[k] : m;
				}
			} else {
				unsigned y = (unsigned)(x >> 40) % 16;
				in->flag[k] = y == 0 ? 1 : y == 1 ? 2 : 0;  /* ended, idle, active */
				ended += in->flag[k] == 1;
				if (in->flag[k] == 0) {
					active++;
					m = in->wm[k] < m ? in->wm[k] : m;
				}
			}
		}
		if (acc)
			any = active || ended;
		in->fold = fold(in->fold, any, m);
	}
	return 0;
}

static void
bm_wm_combine(struct wb_state *st)
{
	unsigned n = (unsigned)wb_range(st, 0);
	struct wm_in in;
	uint64_t acc = 0, rounds = 0;

	if (wm_in_new(&in, n, false, 1000 + n)) {
		wb_fail(st, "wm_combine: out of memory");
		goto out;
	}
	while (wb_keep_running(st)) {
		uint64_t a = 0;
		for (unsigned r = 0; r < WM_ROWS; r++) {
			int64_t wm = 0;
			bool any = weir_wm_combine(in.wm + (size_t)r * n, in.flag + (size_t)r * n, n, &wm);
			a = fold(a, any, wm);
		}
		WB_KEEP(a);
		acc += a;
		rounds++;
	}
	wb_set_items(st, (int64_t)(rounds * WM_ROWS));
	if (acc != rounds * in.fold)
		wb_fail(st, "wm_combine %u: results differ from the reference", n);
out:
	free(in.wm);
	free(in.flag);
}

static void
bm_wm_acc(struct wb_state *st)
{
	unsigned n = (unsigned)wb_range(st, 0);
	struct wm_in in;
	uint64_t acc = 0, rounds = 0;

	if (wm_in_new(&in, n, true, 2000 + n)) {
		wb_fail(st, "wm_acc: out of memory");
		goto out;
	}
	while (wb_keep_running(st)) {
		uint64_t a = 0;
		for (unsigned r = 0; r < WM_ROWS; r++) {
			const int64_t *w = in.wm + (size_t)r * n;
			const uint8_t *fl = in.flag + (size_t)r * n;
			struct weir_wm_acc x;
			int64_t wm = INT64_MAX;
			weir_wm_acc_init(&x);
			for (unsigned i = 0; i < n; i++)
				weir_wm_acc_add(&x, w[i], fl[i] & 1, fl[i] >> 1);
			bool any = weir_wm_acc_result(&x, &wm);
			a = fold(a, any, wm);
		}
		WB_KEEP(a);
		acc += a;
		rounds++;
	}
	wb_set_items(st, (int64_t)(rounds * WM_ROWS));
	if (acc != rounds * in.fold)
		wb_fail(st, "wm_acc %u: results differ from the reference", n);
out:
	free(in.wm);
	free(in.flag);
}

void
micro_fire_register(void)
{
	static const int64_t fire[] = { 10000, 0, 10000, 1, 100000, 0, 100000, 1, 1000000, 0, 1000000, 1 };
	static const char *const fire_names[] = { "windows", "canonical" };
	static const int64_t rx[] = { 1, 4, 16 };
	static const char *const rx_names[] = { "rx" };
	static const char *const prod_names[] = { "producers" };

	wb_unit(wb_family("window_fire", bm_window_fire, fire, 6, 2, fire_names), 1);
	wb_family("wm_combine", bm_wm_combine, rx, 3, 1, rx_names);
	wb_family("wm_acc", bm_wm_acc, rx, 3, 1, prod_names);
}
