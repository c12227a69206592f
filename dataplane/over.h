/* SPDX-License-Identifier: Apache-2.0
 * OVER-window operator: one result per event, at once (no watermark wait).
 * One instance per (worker shard, query) for queries with window OVER or SELECT;
 * single-threaded like the window operator (window.h), whose result, stats,
 * checkpoint and restore conventions it shares.
 *
 * OVER (q->window == WEIR_WIN_OVER) is
 *     AGG(f) OVER (PARTITION BY key ORDER BY event_time
 *                  RANGE BETWEEN INTERVAL q->size PRECEDING AND CURRENT ROW)
 * evaluated per event in ARRIVAL order:
 *   - weir_over_burst() takes the events of one batch in arrival order, already
 *     filtered by the query's WHERE.  v[] holds the source's value fields
 *     v[0 .. nfields) and after them the query's derived inputs v[nfields + i]; an
 *     aggregate's field indexes v[] directly.  ev.key is the partition key.
 *   - An event e is late if e.t < wm - q->lateness (wm as it stands when e is
 *     applied): counted in late_dropped, not kept, no result.
 *   - Otherwise e joins its partition's buffer and its result is computed over
 *         R(e) = { x in the buffer : e.t - q->size <= x.t <= e.t }
 *     where the buffer holds the partition's non-late events that arrived before e,
 *     and e.  An earlier arrival with a larger t is not in R(e); one with an equal t is.
 *   - Aggregates over R(e): count; sum (integers: the exact sum, null -- null_mask
 *     bit a, sum_overflow counted once per result -- when it leaves the field's 64-bit
 *     type, the word then holds its low 64 bits; f64: see below); min, max (f64: NaN
 *     values are skipped unless all are NaN, -0 < +0); avg (the word holds the sum,
 *     the sink divides by count); first (the value at the smallest t, ties: the first
 *     arrived); last (largest t, ties: the last arrived -- always e itself); CUR: e's
 *     own value of the field.  count's field is -1.
 *   - f64 sums are running compensated sums (added on arrival, taken off as the range
 *     moves on; the rounding error of every step is kept): the exact sum, rounded.  NaN
 *     and infinities give what IEEE addition gives.  Plain addition differs in the last
 *     bits (semantics.md allows that), or more where it absorbs small values that a
 *     huge one later cancels.  Should the running value overflow (values near DBL_MAX),
 *     the range is added up afresh, and if that overflows too the result is the plain
 *     sum in time order (inf), until the huge values have left the range.
 *   - The result: revision 0, key e.key, start = e.t - q->size, end = e.t,
 *     count = |R(e)|.  A HAVING function (weir_over_set_having) or program
 *     (weir_over_set_having_prog) that does not hold drops it (counted in rejected);
 *     otherwise it goes to emit (counted in results).
 *     sum_overflow counts results computed with an overflowed sum, emitted or not.
 *   - WEIR_OP_LATENCY: every event carries one more word after the derived inputs,
 *     v[nfields + nderived], its arrival stamp; every result carries it twice after
 *     its aggregates, val[naggs] and val[naggs + 1] (its event caused it, not a
 *     watermark).  WEIR_RESULT_SIZE(naggs) does not cover them.
 * SELECT (q->window == WEIR_WIN_SELECT): no state, so no event is late: every event gives one result
 * with count 1 and start = end = e.t (its aggregates are CUR; any other is taken over
 * the event alone).
 *
 * State: the partition's events are kept in event-time order (ties in arrival order),
 * so R(e) is one run of the buffer.  count and sums are running values over the range
 * of the partition's newest event, kept on append and as the range moves on: an
 * in-order event costs O(1) amortised for them; an out-of-order one scans the shorter
 * of R(e) or the difference to the running range; min and max scan R(e).
 * An entry with t < wm - lateness - size is in no future range: entries are dropped
 * when their partition is next touched, and a partition whose newest entry is below
 * that bound is freed when the watermark passes it (a heap ordered by newest time).
 * Memory: partitions sit in blocks that never move (growth adds a block as large as
 * those before it), each with room for a few entries (128 bytes or more: a partition
 * fills whole 64-byte lines); larger buffers double, taken from chunks by buddy
 * allocation (a buffer left behind merges with its free neighbour to serve the next
 * growth; no malloc per growth), the largest from malloc and per-size free lists.
 * Blocks, chunks and the key table from 2 MiB on are mapped apart with huge pages
 * advised (madvise; the kernel's THP setting decides).
 * Times are within +-WEIR_TIME_LIMIT and size, lateness within WEIR_DUR_MAX.
 *
 * Call protocol, per batch of one source instance: weir_over_burst(), then
 * weir_over_advance(wm) if the watermark moved.  There is no batch end: nothing waits.
 */
#ifndef WEIR_OVER_H
#define WEIR_OVER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "delta.h"
#include "window.h"

#ifdef __cplusplus
extern "C" {
#endif

struct weir_over;

/* The operator for query q (index qidx, window OVER or SELECT) over source s.  Results
 * go to emit(ctx, r); r is valid only during the call.  flags: WEIR_OP_LATENCY,
 * WEIR_OP_NO_CKPT (window.h).  NULL with errno EINVAL if q is not an OVER/SELECT query
 * the operator can run (an aggregate's field outside v[]), ENOMEM on allocation failure. */
struct weir_over *weir_over_create(const struct weir_query_cfg *q, uint16_t qidx,
				   const struct weir_source_cfg *s, weir_emit_fn emit, void *ctx,
				   unsigned flags);
/* fn(ctx, r) decides whether result r is emitted (NULL: every result is). */
void weir_over_set_having(struct weir_over *ov, weir_having_fn fn, void *ctx);
/* Result r is emitted only if q's HAVING program holds for it, exactly as
 * weir_result_having(q, r) (expr.h) decides (q: the query ov was created for; it must
 * outlive ov).  The operator splits the program at its top-level ANDs and tries the
 * operands that read only the event (its CUR values, key, times) and the count before
 * it builds the result: a result they reject is never built.  Replaces an earlier
 * program, not fn (both must then hold).  -1 if q's program is malformed or q has
 * other aggregates than ov. */
int weir_over_set_having_prog(struct weir_over *ov, const struct weir_query_cfg *q);
void weir_over_destroy(struct weir_over *ov);

/* Keep `bytes` of memory populated ahead of the state's growth (see arena.h): the
 * first now, the rest by the arena service thread as the state takes it.  Call
 * before traffic; 0 (none) is the default.  0, or -1 with errno. */
int weir_over_set_headroom(struct weir_over *ov, size_t bytes);
/* Populated bytes not yet handed out. */
uint64_t weir_over_headroom_ready(const struct weir_over *ov);

/* Apply n events (arrival order); each non-late one gives its result before the call
 * returns.  An event whose state cannot grow is not applied (alloc_failed). */
void weir_over_burst(struct weir_over *ov, const struct weir_ev *ev, unsigned n);
/* Move the watermark to wm (ignored if not higher): later events are judged against
 * it; partitions it leaves without a usable entry are freed. */
void weir_over_advance(struct weir_over *ov, int64_t wm);
int64_t weir_over_watermark(const struct weir_over *ov);
/* open_windows: live partitions; state_bytes: bytes held for them (and buffers kept
 * for reuse); filtered is always 0 (the caller applies WHERE). */
void weir_over_get_stats(const struct weir_over *ov, struct weir_op_stats *st);

/* Checkpoints, as weir_op_ckpt_begin / weir_op_ckpt_step (window.h): at the barrier the
 * partitions changed since the previous one (full: all) become the op's part of the
 * delta, with DELs first and a META record "q<idx>" holding the watermark; the delta is
 * then written a bounded amount per step, copy on write for a partition that changes
 * before its turn.  A partition is several PUT records under the window operator's
 * 18-byte key (query, key, start) with start = the record's number: 0 holds its
 * running aggregates, 1.. its entries (up to SP_VAL_MAX bytes each); weir_state_key()
 * reads their (query, key).  ckpt_step returns true when the op's part is written; it
 * writes records while budget lasts, a started partition always whole. */
void weir_over_ckpt_begin(struct weir_over *ov, struct sp_writer *w, bool full);
bool weir_over_ckpt_step(struct weir_over *ov, uint32_t budget);

/* Restore one record of this op's query (0, or -1: not of this query or layout, or a
 * duplicate), in any order, before any event; then weir_over_restore_wm, which
 * completes the partitions (one whose records do not add up is dropped). */
int weir_over_restore(struct weir_over *ov, const uint8_t *k, unsigned klen, const uint8_t *v, unsigned vlen);
void weir_over_restore_wm(struct weir_over *ov, int64_t wm);

#ifdef __cplusplus
}
#endif
#endif
