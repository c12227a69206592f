/* SPDX-License-Identifier: Apache-2.0
 * Event-time window operator: one instance per (worker shard, query).
 *
 * Implements ../shared/semantics.md for tumbling, hopping and session windows, allowed
 * lateness, revisions and the aggregates.  Single-threaded: the worker lcore that owns
 * the shard is the only caller.  No allocation per event: state lives in slot arrays
 * and an open-addressing table that grow by doubling (amortised, off the common path).
 *
 * Call protocol, per batch of one source instance:
 *   weir_op_burst()  ... records of the batch, judged against the current watermark
 *   weir_op_batch_end()   fire windows that were complete and got late updates
 *   weir_op_advance(wm)   if the watermark moved: fire and purge
 */
#ifndef WEIR_WINDOW_H
#define WEIR_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEIR_WM_MIN INT64_MIN   /* -infinity: nothing is complete */
#define WEIR_WM_MAX INT64_MAX   /* +infinity: end of input */

/* One result as it leaves a worker: fixed header + one 64-bit word per aggregate
 * (sum/min/max/first/last: the value's bits; avg: the sum's bits; count: count). */
struct weir_result {
	uint16_t query;
	uint16_t naggs;
	uint32_t revision;
	uint32_t null_mask;          /* bit a: aggregate a is null (integer sum overflowed) */
	uint32_t pad;
	uint64_t key;
	int64_t start;
	int64_t end;
	uint64_t count;
	uint64_t val[];
};
#define WEIR_RESULT_SIZE(naggs) (sizeof(struct weir_result) + 8u * (unsigned)(naggs))

typedef void (*weir_emit_fn)(void *ctx, const struct weir_result *r);

/* A record as the operator sees it: time, key and the source's value fields. */
struct weir_ev {
	int64_t t;
	uint64_t key;
	const uint64_t *v;
};

struct weir_op_stats {
	uint64_t late_dropped;       /* records, once each */
	uint64_t results;            /* results emitted */
	uint64_t sum_overflow;       /* results with an integer sum that left 64 bits */
	uint64_t open_windows;       /* live window / session states */
	uint64_t state_bytes;        /* bytes held by slots and table */
	uint64_t alloc_failed;       /* records not applied: window state could not grow */
};

struct weir_op;

/* Create the operator for query q (index qidx) over source s.  Results go to
 * emit(ctx, r); r is valid only during the call.  NULL on allocation failure. */
struct weir_op *weir_op_create(const struct weir_query_cfg *q, uint16_t qidx,
			       const struct weir_source_cfg *s, weir_emit_fn emit, void *ctx);
void weir_op_destroy(struct weir_op *op);

/* Apply n records (in arrival order). */
void weir_op_burst(struct weir_op *op, const struct weir_ev *ev, unsigned n);
/* End of a batch: complete windows changed by this batch fire (late updates). */
void weir_op_batch_end(struct weir_op *op);
/* Move the watermark to wm (ignored if not higher); fire and purge. */
void weir_op_advance(struct weir_op *op, int64_t wm);
int64_t weir_op_watermark(const struct weir_op *op);
void weir_op_get_stats(const struct weir_op *op, struct weir_op_stats *st);

#ifdef __cplusplus
}
#endif
#endif
