/* SPDX-License-Identifier: Apache-2.0
 * Checkpoint deltas of an operator, shared by the window operator (window.c: its units
 * are slots, one PUT each) and the OVER operator (over.c: partitions, several PUTs each).
 *
 * Interval `cur`: a unit changed in it has dep == cur and its index in chg[cur & 1]; a
 * persisted key deleted in it is in tomb[cur & 1].  At a barrier (ck_begin) cur moves on
 * and the other pair becomes the delta being written out, a bounded number of records
 * per ck_step; a unit about to change before its turn is written first (copy on write:
 * ck_cow, from the operator's ck_touch), so the delta is exactly the state at the
 * barrier.  Tombstones (DEL) precede the delta's PUTs.  dep 0 means unchanged: intervals
 * start above it.
 *
 * State keys (18 bytes): u16 query | u64 key | i64 sub, big-endian, sub with its sign bit
 * flipped (signed order); sub is a window's start (window.c) or a record number (over.c).
 */
#ifndef WEIR_CKDELTA_H
#define WEIR_CKDELTA_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "delta.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vec {                        /* a growable array of fixed-size items */
	void *a;
	uint32_t n, cap;
};

/* Room for twice as many items of sz bytes (64 at first); -1 (v unchanged) if there is
 * no memory. */
int vec_grow(struct vec *v, size_t sz);

/* Append an item of sz bytes; -1 (v unchanged) if there is no memory. */
static inline int
vec_push(struct vec *v, const void *item, size_t sz)
{
	if (v->n == v->cap && vec_grow(v, sz))
		return -1;
	memcpy((uint8_t *)v->a + (size_t)v->n * sz, item, sz);
	v->n++;
	return 0;
}

#define CK_KEY_LEN 18u

static inline void
ck_state_key(uint8_t *p, uint16_t q, uint64_t key, int64_t sub)
{
	p[0] = (uint8_t)(q >> 8);
	p[1] = (uint8_t)q;
	sp_be64(p + 2, key);
	sp_be64(p + 10, (uint64_t)sub ^ (UINT64_C(1) << 63));     /* signed order */
}

/* The sub of a state key (weir_state_key reads the query and key). */
static inline int64_t
ck_state_sub(const uint8_t *k)
{
	return (int64_t)(sp_rd_be64(k + 10) ^ (UINT64_C(1) << 63));
}

struct ck_tomb {
	uint64_t key;
	int64_t sub;
};

struct ck_delta {
	uint32_t cur;               /* the interval being recorded */
	bool track;                 /* checkpoints will be taken (not WEIR_OP_NO_CKPT) */
	struct vec chg[2];          /* uint32_t unit indices */
	struct vec tomb[2];         /* struct ck_tomb */
	struct sp_writer *w;        /* non-NULL while a delta is being written */
	bool full;
	uint32_t pos;               /* next entry of chg / unit index (full) */
	uint32_t tpos;              /* next entry of tomb */
	uint32_t end;               /* full: units that existed at the barrier */
};

static inline void
ck_init(struct ck_delta *d, bool track)
{
	d->cur = 2;
	d->track = track;
}

void ck_free(struct ck_delta *d);

/* Unit i changed in interval cur (its dep is set to cur by the caller). */
static inline void
ck_changed(struct ck_delta *d, uint32_t i)
{
	vec_push(&d->chg[d->cur & 1], &i, sizeof(i));
}

/* A persisted key (key, sub) goes away in interval cur. */
static inline void
ck_forgotten(struct ck_delta *d, uint64_t key, int64_t sub)
{
	struct ck_tomb t = { key, sub };
	vec_push(&d->tomb[d->cur & 1], &t, sizeof(t));
}

/* What an operator's units are to its delta: one static const per operator. */
struct ck_ops {
	/* unit i's dep (the interval it last changed in; the delta sets it), and whether
	 * it holds state (*live) */
	uint32_t *(*unit)(void *op, uint32_t i, bool *live);
	/* write unit i as it stands (PUT records); returns the records written */
	uint32_t (*put)(void *op, uint32_t i);
	bool tombs_in_budget;       /* a step's tombstones count against its budget (else up to
				     * budget of them come first, then budget records) */
};

/* Does unit i (changed in interval dep, live or not) still owe its state at the barrier
 * to the delta being written? */
static inline bool
ck_owed(const struct ck_delta *d, uint32_t i, uint32_t dep, bool live)
{
	if (!d->w)
		return false;
	if (d->full)
		return i >= d->pos && i < d->end && dep != d->cur && live;
	return dep == d->cur - 1;
}

/* Write the delta's tombstones of query q while *budget lasts (each takes one). */
void ck_tombs(struct ck_delta *d, uint16_t q, uint32_t *budget);

/* Unit i of query q is about to change (or go) for the first time in interval cur (its
 * dep != cur): if the delta being written still owes its state at the barrier, that is
 * written first (copy on write, after the delta's remaining tombstones); then it belongs
 * to interval cur.  (inline: ops is a constant, its calls direct) */
static inline void
ck_cow(struct ck_delta *d, uint16_t q, uint32_t i, const struct ck_ops *ops, void *op)
{
	bool live;
	uint32_t *dep = ops->unit(op, i, &live);

	if (ck_owed(d, i, *dep, live)) {
		uint32_t all = UINT32_MAX;
		ck_tombs(d, q, &all);
		ops->put(op, i);
	}
	*dep = d->cur;
	ck_changed(d, i);
}

/* The barrier: units [0, nunits) exist; the delta (full: the whole state, no deletes)
 * goes to w, after a META record "q<q>" holding the watermark wm.  A previous delta
 * must be out (abort() without tracking: a caller's bug). */
void ck_begin(struct ck_delta *d, struct sp_writer *w, bool full, uint32_t nunits, uint16_t q, int64_t wm);

/* Write up to budget records of the delta (tombstones, then the units that owe their
 * state; a unit is written whole once started).  True when the delta is complete. */
bool ck_step(struct ck_delta *d, uint16_t q, uint32_t budget, const struct ck_ops *ops, void *op);

#ifdef __cplusplus
}
#endif
#endif
