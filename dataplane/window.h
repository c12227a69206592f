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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "delta.h"

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
/* revision's top bit: a retraction.  The window's new state fails the query's HAVING
 * while an earlier revision passed it: an upsert consumer deletes (query, key, start). */
#define WEIR_REV_RETRACT (UINT32_C(1) << 31)
#define WEIR_RESULT_SIZE(naggs) (sizeof(struct weir_result) + 8u * (unsigned)(naggs))

typedef void (*weir_emit_fn)(void *ctx, const struct weir_result *r);
/* A query's HAVING (or an OVER query's threshold): false leaves the result out. */
typedef bool (*weir_having_fn)(void *ctx, const struct weir_result *r);

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
	uint64_t filtered;           /* records the query's filter left out */
	uint64_t rejected;           /* results its HAVING left out */
};

struct weir_op;

/* Create the operator for query q (index qidx) over source s.  Results go to
 * emit(ctx, r); r is valid only during the call.  NULL on allocation failure. */
struct weir_op *weir_op_create(const struct weir_query_cfg *q, uint16_t qidx,
			       const struct weir_source_cfg *s, weir_emit_fn emit, void *ctx);
/* Flags for weir_op_create_ex. */
#define WEIR_OP_LATENCY 1u      /* latency stamps (below) */
#define WEIR_OP_NO_CKPT 2u      /* no checkpoint will be taken: changes are not tracked */
/* As weir_op_create, with flags.  WEIR_OP_LATENCY: every record carries one more value
 * field after the source's (v[src->nfields]), its arrival stamp; the operator keeps the
 * largest stamp of each window (not checkpointed) and every result carries two words
 * after its aggregates, val[naggs] = that stamp and val[naggs + 1] = the stamp given
 * with weir_op_set_fire_stamp for the watermark that fired it (0 for firings no
 * watermark caused: late updates).  WEIR_RESULT_SIZE(naggs) does not cover them. */
struct weir_op *weir_op_create_ex(const struct weir_query_cfg *q, uint16_t qidx,
				  const struct weir_source_cfg *s, weir_emit_fn emit, void *ctx, unsigned flags);
/* The stamp of the watermark about to be applied with weir_op_advance. */
void weir_op_set_fire_stamp(struct weir_op *op, uint64_t stamp);
void weir_op_destroy(struct weir_op *op);
/* Records reach the operator re-keyed (the RX core gave each copy the query's key):
 * v[slot] holds the record's own key, which `key` in WHERE and in computed inputs reads. */
void weir_op_set_key_slot(struct weir_op *op, int slot);
/* An OVER query's state: keep `bytes` of memory populated ahead of its growth
 * (weir_over_set_headroom); other queries: nothing.  0, or -1 with errno. */
int weir_op_set_headroom(struct weir_op *op, size_t bytes);
/* Results of one firing in canonical order (window end, then key) rather than in the
 * order the windows were made: the stream then depends only on the records, not on
 * how the state came to be (a restore).  For HA pairs, which compare their streams;
 * it costs a sort per firing. */
void weir_op_set_canonical(struct weir_op *op, bool on);

/* Apply n records (in arrival order). */
void weir_op_burst(struct weir_op *op, const struct weir_ev *ev, unsigned n);
/* End of a batch: complete windows changed by this batch fire (late updates). */
void weir_op_batch_end(struct weir_op *op);
/* Move the watermark to wm (ignored if not higher); fire and purge. */
void weir_op_advance(struct weir_op *op, int64_t wm);
int64_t weir_op_watermark(const struct weir_op *op);

/* Checkpoints.  At the aligned barrier of an epoch, weir_op_ckpt_begin makes the state
 * changed since the previous barrier (full: all of it) the op's part of the delta
 * written through w, and records the watermark.  The operator goes on at once: the
 * delta is written a bounded number of records per weir_op_ckpt_step call, and a
 * window about to change (or go) before its turn is written first (copy on write),
 * so the delta is exactly the state at the barrier.  A key deleted since the
 * previous barrier is written as a DEL, before any PUT. */
void weir_op_ckpt_begin(struct weir_op *op, struct sp_writer *w, bool full);
/* Write up to budget windows; true when the op's part of the delta is complete. */
bool weir_op_ckpt_step(struct weir_op *op, uint32_t budget);

/* Restore: the query index and key of a state record (for re-sharding), -1 if it
 * is not one; then one record into the op of that query (-1: does not fit this
 * query's layout, or a duplicate).  Restore records before any event, then the
 * watermark. */
int weir_state_key(const uint8_t *k, unsigned klen, uint16_t *q, uint64_t *key);
int weir_op_restore(struct weir_op *op, const uint8_t *k, unsigned klen, const uint8_t *v, unsigned vlen);
void weir_op_restore_wm(struct weir_op *op, int64_t wm);
void weir_op_get_stats(const struct weir_op *op, struct weir_op_stats *st);

#ifdef __cplusplus
}
#endif
#endif
