/* SPDX-License-Identifier: Apache-2.0
 * What firing costs next to ingesting: one keyed tumbling count/sum operator, K keys,
 * E events per window, W windows.  Meant for callgrind, whose per-function inclusive
 * instruction counts are stable on a noisy machine:
 *
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out build/bench/fire-bench 100000 10 5 [canonical]
 *   callgrind_annotate --inclusive=yes cg.out | grep -E 'weir_op_(burst|advance)|sort_by_key'
 *
 * weir_op_burst is the per-event path, weir_op_advance the firing ("canonical": with
 * the sort that puts each window's results in key order, as under HA).  Prints the
 * results and a checksum of them in order. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "window.h"

static uint64_t results, sum;

static void
emit(void *ctx, const struct weir_result *r)
{
	(void)ctx;
	results++;
	sum = sum * 31 + r->key + r->count;
}

int
main(int argc, char **argv)
{
	unsigned keys = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 100000;
	unsigned per_key = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 10;
	unsigned windows = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 5;
	bool canonical = argc > 4 && !strcmp(argv[4], "canonical");
	static const char text[] = "[dataplane]\ndevices = x\n[source s]\nudp_port = 1\nfields = a:i64\n"
				   "[query q]\nfrom = s\nwindow = tumbling 1s\naggregates = count, sum(a)\n";
	struct weir_config cfg;
	enum { BURST = 64 };
	struct weir_ev ev[BURST];
	uint64_t v[BURST];
	uint64_t x = 88172645463325252ull;

	if (!keys || !per_key || weir_config_load_string("bench.ini", text, &cfg, stderr))
		return 2;
	struct weir_op *op = weir_op_create(&cfg.queries[0], 0, &cfg.sources[0], emit, NULL);
	if (!op)
		return 1;
	weir_op_set_canonical(op, canonical);
	for (unsigned wi = 0; wi < windows; wi++) {
		int64_t base = (int64_t)(1000 + wi) * 1000000000;
		uint64_t n = (uint64_t)keys * per_key;
		for (uint64_t i = 0; i < n; i += BURST) {
			unsigned b = n - i < BURST ? (unsigned)(n - i) : BURST;
			for (unsigned j = 0; j < b; j++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;           /* keys in random order: as they arrive */
				v[j] = x & 1023;
				ev[j] = (struct weir_ev){ base + (int64_t)((i + j) % 1000000000), x % keys, &v[j] };
			}
			weir_op_burst(op, ev, b);
		}
		weir_op_batch_end(op);
		weir_op_advance(op, base + 1000000000);
	}
	printf("%u keys x %u events x %u windows: %" PRIu64 " results, checksum %016" PRIx64 "\n", keys, per_key,
	       windows, results, sum);
	weir_op_destroy(op);
	return 0;
}
