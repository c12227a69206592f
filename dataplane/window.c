/* SPDX-License-Identifier: Apache-2.0
 * Event-time window operator (see window.h and ../shared/semantics.md). */
#include "window.h"
#include "ckdelta.h"
#include "expr.h"
#include "over.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

enum { SLOT_FIRED = 1, SLOT_DIRTY = 2, SLOT_LIVE = 4,
       SLOT_PERSIST = 8,    /* written to a delta under its current (key, start) */
       SLOT_TIMER = 16,     /* session: a fire timer is in the heap, at or before its end */
       SLOT_SHOWN = 32 };   /* HAVING: the last result emitted passed it (a later failing one retracts) */
#define SLOT_CKPT_FLAGS (SLOT_FIRED | SLOT_DIRTY | SLOT_SHOWN)

/* Aggregate programs: the (fn, type) pairs are resolved once at create time. */
enum aggcode {
	A_COUNT, A_SUM_I, A_SUM_U, A_SUM_F, A_MIN_I, A_MIN_U, A_MIN_F,
	A_MAX_I, A_MAX_U, A_MAX_F, A_FIRST, A_LAST,
	A_DISTINCT, A_DISTINCT_F,   /* the state word points to a struct dset */
};

struct aggop {
	uint8_t code;
	uint8_t field;
	uint8_t word;               /* first state word; FIRST/LAST use word+1 for time */
	uint8_t out;                /* index among the query's aggregates (null_mask bit) */
};

struct slot {
	uint64_t key;
	int64_t start;
	int64_t end;                /* tumbling/hopping: start+size; session: last+gap */
	uint32_t next;              /* end-bucket / purge list, or the key's session list */
	uint32_t gen;               /* bumped on free: validates session heap entries */
	uint32_t revision;          /* firings so far */
	uint32_t ovf;               /* aggregates whose integer sum overflowed */
	uint32_t flags;
	uint32_t dep;               /* checkpoint interval it changed in (0: unchanged) */
	uint64_t count;
	uint64_t w[];
};
_Static_assert(sizeof(struct slot) == 56, "slot header layout");

struct hent {                       /* open addressing, linear probing */
	uint32_t slot;              /* NIL = empty */
	uint32_t tag;               /* high bits of the hash */
};

struct bucket {                     /* all windows with one end, or fired ones to purge */
	int64_t time;
	uint32_t head;
};

struct hentry {                     /* session timer heap */
	int64_t time;
	uint32_t slot;
	uint32_t gen_kind;          /* gen << 1 | kind (0 fire, 1 purge) */
};

struct fire_ent {
	int64_t time;
	uint64_t key;
	uint32_t slot;
	uint32_t gen_kind;          /* sessions: as in the heap entry */
};

struct weir_op {
	uint8_t kind;               /* enum weir_win */
	uint16_t qidx;
	int64_t size, slide, lateness;
	int64_t wm;
	int naggs;
	struct aggop agg[WEIR_MAX_AGGS];
	int nprog;                  /* the aggregates that keep state words (not count) */
	struct aggop prog[WEIR_MAX_AGGS];
	int ndist;                  /* COUNT(DISTINCT): their state words (set pointers) */
	uint8_t dist_word[WEIR_MAX_DISTINCT];
	uint64_t dbytes;            /* bytes held by distinct sets */
	uint32_t nwords;
	size_t stride;              /* bytes per slot */

	/* slots */
	uint8_t *slots;
	uint32_t nslots, capslots;
	uint32_t free_head;
	uint64_t live;

	/* table */
	struct hent *tab;
	uint32_t mask;
	uint32_t used;

	/* tumbling/hopping timers */
	struct vec ends;            /* struct bucket, sorted by time */
	struct vec purge;           /* struct bucket, sorted by purge time (end + lateness) */
	struct vec dirty;           /* uint32_t slot indices, fired windows updated late */

	/* session timers */
	struct vec heap;            /* struct hentry, min-heap on time */

	/* firing in canonical order (by end, then key; weir_op_set_canonical): the order
	 * of a window's slots and of equal timers in the heap depend on history (arrival
	 * order, a restore), the results then do not (an HA pair compares its streams) */
	bool canonical;
	struct vec fire, fire_tmp;  /* struct fire_ent */
	uint32_t radix[8][256];     /* digit counts of the keys being sorted */

	/* tumbling fast path: the window of the previous record */
	int64_t cur_start;

	/* checkpoints (ckdelta.h): the slots changed since the barrier, the keys deleted,
	 * the delta being written */
	struct ck_delta ck;

	/* latency stamps (WEIR_OP_LATENCY): a hidden state word after the aggregates'
	 * (w[nwords], not checkpointed) keeps the largest arrival stamp of the window's
	 * records (source field `lat_field`); fire_stamp is the stamp of the watermark
	 * being applied (0: a firing no watermark caused) */
	bool latency;
	uint64_t fire_stamp;

	/* SQL: the query's WHERE and computed aggregate inputs run per record into rows of
	 * xw words (the source's fields, the computed ones, the latency stamp); HAVING per
	 * result.  update: EMIT ON UPDATE (every batch's changed windows fire) */
	const struct weir_query_cfg *q;
	int key_slot;               /* v[key_slot] holds the record's own key (re-keyed copies), -1: ev.key */
	struct weir_over *ov;       /* OVER and SELECT queries: the per-event operator (over.c) */
	bool xform;
	bool having;
	bool update;
	unsigned nf, xw;
	uint64_t *xrows;            /* 64 rows */

	/* filter: records for which any comparison is false are not applied */
	int nfilt;
	struct weir_filter_cfg filt[WEIR_MAX_FILTERS];
	uint8_t filt_type[WEIR_MAX_FILTERS];

	weir_emit_fn emit;
	void *ctx;
	struct weir_op_stats st;
	uint64_t res_buf[(sizeof(struct weir_result) + 8 * (WEIR_MAX_AGGS + 2)) / 8];
};

/* ---- small helpers ------------------------------------------------------------ */

static inline struct slot *
S(const struct weir_op *op, uint32_t i)
{
	return (struct slot *)(op->slots + (size_t)i * op->stride);
}

static inline uint64_t
mix(uint64_t key, int64_t start)
{
	uint64_t h = key ^ ((uint64_t)start * UINT64_C(0x9e3779b97f4a7c15));
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

static inline int64_t
floor_to(int64_t t, int64_t unit)
{
	int64_t r = t % unit;
	return t - (r < 0 ? r + unit : r);
}

static inline double u2d(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static inline uint64_t d2u(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

/* ---- COUNT(DISTINCT): exact sets, then HyperLogLog ----------------------------------- */

#define HLL_M (1u << WEIR_HLL_P)

/* A window's distinct values: exact (hll = 0, n values in v) up to WEIR_DISTINCT_EXACT,
 * then a HyperLogLog sketch (hll = 1, HLL_M one-byte registers in place of v).  Held
 * by pointer in the window's state word; freed with the window. */
struct dset {
	uint32_t n;
	uint32_t hll;
	uint64_t v[];
};

static inline uint64_t
dhash(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static inline uint64_t
dnorm(uint64_t v, bool f64)
{
	if (f64) {
		double d;
		memcpy(&d, &v, 8);
		if (d == 0)
			return 0;               /* -0.0 is 0.0 */
		if (d != d)
			return UINT64_C(0x7ff8000000000000);   /* one NaN */
	}
	return v;
}

static struct dset *
dset_new(void)
{
	struct dset *d = malloc(sizeof(*d) + 8 * WEIR_DISTINCT_EXACT);

	if (d)
		d->n = d->hll = 0;
	return d;
}

static inline void
hll_add(uint8_t *reg, uint64_t h)
{
	uint32_t i = (uint32_t)(h >> (64 - WEIR_HLL_P));
	uint64_t w = h << WEIR_HLL_P;
	uint8_t rank = (uint8_t)(w ? __builtin_clzll(w) + 1 : 64 - WEIR_HLL_P + 1);

	if (rank > reg[i])
		reg[i] = rank;
}

/* exact -> sketch; false: out of memory (the set stays as it was) */
static bool
dset_grow(struct dset **pd)
{
	struct dset *d = *pd, *h = malloc(sizeof(*h) + HLL_M);

	if (!h)
		return false;
	h->hll = 1;
	h->n = 0;
	memset(h->v, 0, HLL_M);
	for (uint32_t i = 0; i < d->n; i++)
		hll_add((uint8_t *)h->v, dhash(d->v[i]));
	free(d);
	*pd = h;
	return true;
}

static inline bool
dset_add(struct dset **pd, uint64_t v)
{
	struct dset *d = *pd;

	if (d->hll) {
		hll_add((uint8_t *)d->v, dhash(v));
		return true;
	}
	for (uint32_t i = 0; i < d->n; i++)
		if (d->v[i] == v)
			return true;
	if (d->n == WEIR_DISTINCT_EXACT) {
		if (!dset_grow(pd))
			return false;
		hll_add((uint8_t *)(*pd)->v, dhash(v));
		return true;
	}
	d->v[d->n++] = v;
	return true;
}

static bool
dset_union(struct dset **pa, const struct dset *b)
{
	if (b->hll) {
		if (!(*pa)->hll && !dset_grow(pa))
			return false;
		uint8_t *r = (uint8_t *)(*pa)->v;
		const uint8_t *x = (const uint8_t *)b->v;
		for (uint32_t i = 0; i < HLL_M; i++)
			if (x[i] > r[i])
				r[i] = x[i];
		return true;
	}
	for (uint32_t i = 0; i < b->n; i++)
		if (!dset_add(pa, b->v[i]))
			return false;
	return true;
}

static uint64_t
dset_count(const struct dset *d)
{
	if (!d->hll)
		return d->n;
	const uint8_t *r = (const uint8_t *)d->v;
	double sum = 0, m = HLL_M;
	uint32_t zeros = 0;
	for (uint32_t i = 0; i < HLL_M; i++) {
		sum += ldexp(1.0, -r[i]);
		zeros += !r[i];
	}
	double est = 0.7213 / (1 + 1.079 / m) * m * m / sum;
	if (est <= 2.5 * m && zeros)
		est = m * log(m / zeros);       /* small range: linear counting */
	return (uint64_t)(est + 0.5);
}

static inline struct dset *
DS(uint64_t w)
{
	return (struct dset *)(uintptr_t)w;
}

static inline uint64_t
dset_bytes(const struct dset *d)
{
	return !d ? 0 : sizeof(*d) + (d->hll ? HLL_M : 8 * WEIR_DISTINCT_EXACT);
}

/* ---- aggregates ------------------------------------------------------------------ */

static inline void
agg_init(struct weir_op *op, struct slot *s, const struct weir_ev *e)
{
	s->count = 1;
	s->ovf = 0;
	for (int a = 0; a < op->nprog; a++) {
		const struct aggop *g = &op->prog[a];
		s->w[g->word] = e->v[g->field];
		if (g->code == A_FIRST || g->code == A_LAST)
			s->w[g->word + 1] = (uint64_t)e->t;
		if (g->code == A_DISTINCT || g->code == A_DISTINCT_F) {
			struct dset *d = dset_new();
			if (!d || !dset_add(&d, dnorm(e->v[g->field], g->code == A_DISTINCT_F)))
				s->ovf |= 1u << g->out;         /* out of memory: the count is NULL */
			s->w[g->word] = (uint64_t)(uintptr_t)d;
			op->dbytes += dset_bytes(d);
		}
	}
}

/* Free the distinct sets of window s (it goes, or its words are overwritten). */
static void
agg_release(struct weir_op *op, struct slot *s)
{
	for (int k = 0; k < op->ndist; k++) {
		op->dbytes -= dset_bytes(DS(s->w[op->dist_word[k]]));
		free(DS(s->w[op->dist_word[k]]));
		s->w[op->dist_word[k]] = 0;
	}
}

static inline __attribute__((always_inline)) void
agg_update(struct weir_op *op, struct slot *s, const struct weir_ev *e)
{
	s->count++;
	for (int a = 0; a < op->nprog; a++) {
		const struct aggop *g = &op->prog[a];
		uint64_t *w = &s->w[g->word], v = e->v[g->field];
		int64_t si;
		uint64_t su;

		switch (g->code) {
		case A_COUNT:
			break;
		case A_SUM_I:
			if (__builtin_add_overflow((int64_t)*w, (int64_t)v, &si))
				s->ovf |= 1u << g->out;
			*w = (uint64_t)si;
			break;
		case A_SUM_U:
			if (__builtin_add_overflow(*w, v, &su))
				s->ovf |= 1u << g->out;
			*w = su;
			break;
		case A_SUM_F:
			*w = d2u(u2d(*w) + u2d(v));
			break;
		case A_MIN_I: if ((int64_t)v < (int64_t)*w) *w = v; break;
		case A_MIN_U: if (v < *w) *w = v; break;
		case A_MIN_F: if (u2d(v) < u2d(*w)) *w = v; break;
		case A_MAX_I: if ((int64_t)v > (int64_t)*w) *w = v; break;
		case A_MAX_U: if (v > *w) *w = v; break;
		case A_MAX_F: if (u2d(v) > u2d(*w)) *w = v; break;
		case A_FIRST:            /* smallest time; ties keep the first arrived */
			if (e->t < (int64_t)w[1]) { w[0] = v; w[1] = (uint64_t)e->t; }
			break;
		case A_LAST:             /* largest time; ties take the last arrived */
			if (e->t >= (int64_t)w[1]) { w[0] = v; w[1] = (uint64_t)e->t; }
			break;
		case A_DISTINCT:
		case A_DISTINCT_F: {
			struct dset *d = DS(*w);
			bool was = d && d->hll;
			if (d && !dset_add(&d, dnorm(v, g->code == A_DISTINCT_F)))
				s->ovf |= 1u << g->out;
			if (d && d->hll != was)
				op->dbytes += dset_bytes(d) - (sizeof(*d) + 8 * WEIR_DISTINCT_EXACT);
			*w = (uint64_t)(uintptr_t)d;
			break;
		}
		}
	}
}

/* Fold session b into a (b ended before or after a; their times do not overlap). */
static void
agg_merge(struct weir_op *op, struct slot *a_, const struct slot *b)
{
	a_->count += b->count;
	a_->ovf |= b->ovf;
	for (int a = 0; a < op->nprog; a++) {
		const struct aggop *g = &op->prog[a];
		uint64_t *w = &a_->w[g->word];
		const uint64_t *x = &b->w[g->word];
		int64_t si;
		uint64_t su;

		switch (g->code) {
		case A_COUNT:
			break;
		case A_SUM_I:
			if (__builtin_add_overflow((int64_t)*w, (int64_t)*x, &si))
				a_->ovf |= 1u << g->out;
			*w = (uint64_t)si;
			break;
		case A_SUM_U:
			if (__builtin_add_overflow(*w, *x, &su))
				a_->ovf |= 1u << g->out;
			*w = su;
			break;
		case A_SUM_F: *w = d2u(u2d(*w) + u2d(*x)); break;
		case A_MIN_I: if ((int64_t)*x < (int64_t)*w) *w = *x; break;
		case A_MIN_U: if (*x < *w) *w = *x; break;
		case A_MIN_F: if (u2d(*x) < u2d(*w)) *w = *x; break;
		case A_MAX_I: if ((int64_t)*x > (int64_t)*w) *w = *x; break;
		case A_MAX_U: if (*x > *w) *w = *x; break;
		case A_MAX_F: if (u2d(*x) > u2d(*w)) *w = *x; break;
		case A_FIRST: if ((int64_t)x[1] < (int64_t)w[1]) { w[0] = x[0]; w[1] = x[1]; } break;
		case A_LAST:  if ((int64_t)x[1] > (int64_t)w[1]) { w[0] = x[0]; w[1] = x[1]; } break;
		case A_DISTINCT:
		case A_DISTINCT_F: {
			struct dset *d = DS(*w);
			uint64_t before = dset_bytes(d);
			if (d && DS(*x) && !dset_union(&d, DS(*x)))
				a_->ovf |= 1u << g->out;
			op->dbytes += dset_bytes(d) - before;
			*w = (uint64_t)(uintptr_t)d;
			break;
		}
		}
	}
}

/* ---- checkpoint deltas ------------------------------------------------------------- */

#define VAL_FIXED 30u

static inline void
le32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* A distinct set in a delta: u8 kind (0 exact, 1 sketch, 2 none: NULL) | u16 LE values |
 * the values (8 bytes each) or the HLL_M registers */
static unsigned
dset_size(const struct dset *d)
{
	return 3 + (!d ? 0 : d->hll ? HLL_M : 8 * d->n);
}

static uint8_t *
dset_write(uint8_t *p, const struct dset *d)
{
	uint16_t n = d && !d->hll ? (uint16_t)d->n : 0;

	p[0] = !d ? 2 : d->hll ? 1 : 0;
	memcpy(p + 1, &n, 2);
	if (d)
		memcpy(p + 3, d->v, dset_size(d) - 3);
	return p + dset_size(d);
}

/* Read one set at p (end: the value's end); NULL for a NULL set.  *ok false: malformed. */
static struct dset *
dset_read(const uint8_t **pp, const uint8_t *end, bool *ok)
{
	const uint8_t *p = *pp;
	uint16_t n;
	struct dset *d;

	if (end - p < 3 || p[0] > 2) {
		*ok = false;
		return NULL;
	}
	memcpy(&n, p + 1, 2);
	size_t len = p[0] == 2 ? 0 : p[0] == 1 ? HLL_M : 8u * n;
	if (n > WEIR_DISTINCT_EXACT || (size_t)(end - p - 3) < len) {
		*ok = false;
		return NULL;
	}
	*pp = p + 3 + len;
	if (p[0] == 2)
		return NULL;
	d = malloc(sizeof(*d) + (p[0] ? HLL_M : 8 * WEIR_DISTINCT_EXACT));
	if (!d) {
		*ok = false;
		return NULL;
	}
	d->hll = p[0];
	d->n = p[0] ? 0 : n;
	memcpy(d->v, p + 3, len);
	return d;
}

/* Write slot si as it stands: one PUT. */
static uint32_t
ck_put(void *ctx, uint32_t si)
{
	struct weir_op *op = ctx;
	struct slot *s = S(op, si);
	unsigned extra = 0;
	for (int k = 0; k < op->ndist; k++)
		extra += dset_size(DS(s->w[op->dist_word[k]]));
	uint8_t *p = sp_rec_put(op->ck.w, SP_REC_PUT, CK_KEY_LEN, VAL_FIXED + 8 * op->nwords + extra);
	uint32_t fl = s->flags & SLOT_CKPT_FLAGS;
	uint16_t nw = (uint16_t)op->nwords;

	ck_state_key(p, op->qidx, s->key, s->start);
	p += CK_KEY_LEN;
	memcpy(p, &s->end, 8);
	le32(p + 8, s->revision);
	le32(p + 12, s->ovf);
	le32(p + 16, fl);
	memcpy(p + 20, &s->count, 8);
	memcpy(p + 28, &nw, 2);
	memcpy(p + 30, s->w, 8 * op->nwords);          /* (set pointers: meaningless, restored below) */
	p += 30 + 8 * op->nwords;
	for (int k = 0; k < op->ndist; k++)
		p = dset_write(p, DS(s->w[op->dist_word[k]]));
	s->flags |= SLOT_PERSIST;
	return 1;
}

static uint32_t *
ck_unit(void *ctx, uint32_t si, bool *live)
{
	struct slot *s = S(ctx, si);

	*live = s->flags & SLOT_LIVE;
	return &s->dep;
}

static const struct ck_ops ck_ops = { ck_unit, ck_put, false };

static __attribute__((noinline)) void
ck_touch_slow(struct weir_op *op, uint32_t si)
{
	ck_cow(&op->ck, op->qidx, si, &ck_ops, op);
}

/* Slot si is about to change (or go). */
static inline __attribute__((always_inline)) void
ck_touch(struct weir_op *op, uint32_t si)
{
	if (S(op, si)->dep != op->ck.cur)
		ck_touch_slow(op, si);
}

static inline uint32_t
slot_index(const struct weir_op *op, const struct slot *s)
{
	return (uint32_t)(((const uint8_t *)s - op->slots) / op->stride);
}

/* The persisted key of slot si goes away (freed, or a session's start moved). */
static void
ck_forget(struct weir_op *op, struct slot *s)
{
	if (s->flags & SLOT_PERSIST) {
		ck_forgotten(&op->ck, s->key, s->start);
		s->flags &= ~(uint32_t)SLOT_PERSIST;
	}
}

static void
emit(struct weir_op *op, struct slot *s)
{
	struct weir_result *r = (struct weir_result *)op->res_buf;

	ck_touch(op, slot_index(op, s));
	s->flags = (s->flags | SLOT_FIRED) & ~(uint32_t)SLOT_DIRTY;
	r->query = op->qidx;
	r->naggs = (uint16_t)op->naggs;
	r->revision = s->revision++;
	r->null_mask = s->ovf;
	r->pad = 0;
	r->key = s->key;
	r->start = s->start;
	r->end = s->end;
	r->count = s->count;
	for (int a = 0; a < op->naggs; a++) {
		uint8_t c = op->agg[a].code;
		uint64_t w = c == A_COUNT ? s->count : s->w[op->agg[a].word];
		if (c == A_DISTINCT || c == A_DISTINCT_F)
			w = DS(w) ? dset_count(DS(w)) : 0;
		r->val[a] = w;
	}
	if (op->latency) {              /* after the aggregates: not part of the result proper */
		r->val[op->naggs] = s->w[op->nwords];
		r->val[op->naggs + 1] = op->fire_stamp;
	}
	if (op->having) {
		if (!weir_result_having(op->q, r)) {
			op->st.rejected++;
			if (!(s->flags & SLOT_SHOWN)) {
				s->revision--;  /* nothing went out: the next one keeps the number */
				return;
			}
			s->flags &= ~(uint32_t)SLOT_SHOWN;
			r->revision |= WEIR_REV_RETRACT;
		} else {
			s->flags |= SLOT_SHOWN;
		}
	}
	op->st.results++;
	if (s->ovf)
		op->st.sum_overflow++;
	op->emit(op->ctx, r);
}

/* Has a result of window s gone out (and not been retracted)? */
static inline bool
shown(const struct weir_op *op, const struct slot *s)
{
	return s->flags & (op->having ? SLOT_SHOWN : SLOT_FIRED);
}

/* EMIT ON UPDATE, sessions: session s's row (key, start) is gone -- its start moved back,
 * or it merged into an earlier one -- after a result of it went out: a retraction of that
 * row, so an upsert consumer does not keep it.  (With firings on the watermark only, a
 * session that fired can neither move its start nor be merged away: semantics.md.) */
static void
emit_retract(struct weir_op *op, struct slot *s)
{
	struct weir_result *r = (struct weir_result *)op->res_buf;

	ck_touch(op, slot_index(op, s));
	r->query = op->qidx;
	r->naggs = (uint16_t)op->naggs;
	r->revision = s->revision++ | WEIR_REV_RETRACT;
	r->null_mask = 0;
	r->pad = 0;
	r->key = s->key;
	r->start = s->start;
	r->end = s->end;
	r->count = s->count;
	memset(r->val, 0, 8u * (unsigned)op->naggs);    /* (a retraction carries no values) */
	if (op->latency) {
		r->val[op->naggs] = s->w[op->nwords];
		r->val[op->naggs + 1] = 0;
	}
	s->flags &= ~(uint32_t)(SLOT_SHOWN | SLOT_FIRED);
	op->st.results++;
	op->emit(op->ctx, r);
}

/* ---- slots and table ------------------------------------------------------------ */

static uint32_t
slot_alloc(struct weir_op *op)
{
	uint32_t i;

	if (op->free_head != NIL) {
		i = op->free_head;
		op->free_head = S(op, i)->next;
	} else {
		if (op->nslots == op->capslots) {
			uint32_t cap = op->capslots ? 2 * op->capslots : 1024;
			uint8_t *p;
			if (cap > UINT32_MAX / 2 - 1)
				return NIL;
			p = realloc(op->slots, (size_t)cap * op->stride);
			if (!p)
				return NIL;
			op->slots = p;
			op->capslots = cap;
		}
		i = op->nslots++;
		S(op, i)->gen = 0;
	}
	S(op, i)->flags = SLOT_LIVE;
	S(op, i)->revision = 0;
	S(op, i)->next = NIL;
	S(op, i)->dep = op->ck.cur;     /* new since the barrier: never part of its delta */
	if (op->ck.track)               /* (without checkpoints the list would only grow) */
		ck_changed(&op->ck, i);
	op->live++;
	return i;
}

static void
slot_free(struct weir_op *op, uint32_t i)
{
	struct slot *s = S(op, i);

	ck_touch(op, i);
	ck_forget(op, s);
	agg_release(op, s);
	s->flags = 0;
	s->dep = 0;
	s->gen++;
	s->next = op->free_head;
	op->free_head = i;
	op->live--;
}

/* Position of (key,start) in the table, or of the empty entry where it would go.
 * Sessions are found by key alone (the entry names the key's first session). */
static inline __attribute__((always_inline)) uint32_t
tab_find_kind(const struct weir_op *op, uint64_t key, int64_t start, uint64_t h, bool session)
{
	uint32_t i = (uint32_t)h & op->mask, tag = (uint32_t)(h >> 32);

	for (;; i = (i + 1) & op->mask) {
		const struct hent *e = &op->tab[i];
		if (e->slot == NIL)
			return i;
		if (e->tag == tag) {
			const struct slot *s = S(op, e->slot);
			if (s->key == key && (session || s->start == start))
				return i;
		}
	}
}

static uint32_t
tab_find(const struct weir_op *op, uint64_t key, int64_t start, uint64_t h)
{
	return tab_find_kind(op, key, start, h, op->kind == WEIR_WIN_SESSION);
}

static int
tab_grow(struct weir_op *op)
{
	uint32_t ncap = (op->mask + 1) * 2, omask = op->mask;
	struct hent *old = op->tab, *nt;

	nt = malloc((size_t)ncap * sizeof(*nt));
	if (!nt)
		return -1;
	memset(nt, 0xff, (size_t)ncap * sizeof(*nt));
	op->tab = nt;
	op->mask = ncap - 1;
	for (uint32_t i = 0; i <= omask; i++) {
		if (old[i].slot == NIL)
			continue;
		const struct slot *s = S(op, old[i].slot);
		uint64_t h = mix(s->key, op->kind == WEIR_WIN_SESSION ? 0 : s->start);
		uint32_t j = (uint32_t)h & op->mask;
		while (nt[j].slot != NIL)
			j = (j + 1) & op->mask;
		nt[j] = old[i];
	}
	free(old);
	return 0;
}

/* Remove entry at position i (backward-shift deletion keeps probe chains intact). */
static void
tab_del(struct weir_op *op, uint32_t i)
{
	uint32_t j = i;

	for (;;) {
		j = (j + 1) & op->mask;
		if (op->tab[j].slot == NIL)
			break;
		const struct slot *s = S(op, op->tab[j].slot);
		uint32_t home = (uint32_t)mix(s->key, op->kind == WEIR_WIN_SESSION ? 0 : s->start) & op->mask;
		/* move j back to i if its home is not in (i, j] cyclically */
		if (((j - home) & op->mask) >= ((j - i) & op->mask)) {
			op->tab[i] = op->tab[j];
			i = j;
		}
	}
	op->tab[i].slot = NIL;
	op->used--;
}

static void
tab_del_slot(struct weir_op *op, uint32_t si)
{
	const struct slot *s = S(op, si);
	uint64_t h = mix(s->key, op->kind == WEIR_WIN_SESSION ? 0 : s->start);

	tab_del(op, tab_find(op, s->key, s->start, h));
}

/* ---- tumbling / hopping ------------------------------------------------------------ */

/* Add slot si to the list for `time` in a sorted bucket array (end times, or purge
 * times).  New windows almost always have the latest or a recent time: search from
 * the back. */
static int
bucket_add(struct weir_op *op, struct vec *v, int64_t time, uint32_t si)
{
	struct bucket *b = v->a;
	uint32_t n = v->n, i = n;

	while (i > 0 && b[i - 1].time > time)
		i--;
	if (i > 0 && b[i - 1].time == time) {
		S(op, si)->next = b[i - 1].head;
		b[i - 1].head = si;
		return 0;
	}
	struct bucket nb = { time, si };
	S(op, si)->next = NIL;
	if (vec_push(v, &nb, sizeof(nb)))
		return -1;
	b = v->a;
	memmove(&b[i + 1], &b[i], (size_t)(n - i) * sizeof(*b));
	b[i] = nb;
	return 0;
}

/* Move a whole list (already linked through next) into the purge buckets. */
static void
purge_add_list(struct weir_op *op, int64_t time, uint32_t head)
{
	for (uint32_t si = head, nx; si != NIL; si = nx) {
		nx = S(op, si)->next;
		bucket_add(op, &op->purge, time, si);
	}
}

static inline __attribute__((always_inline)) void
apply_window(struct weir_op *op, const struct weir_ev *e, int64_t start, uint64_t h)
{
	uint32_t pos = tab_find_kind(op, e->key, start, h, false);
	struct slot *s;

	if (op->tab[pos].slot != NIL) {
		s = S(op, op->tab[pos].slot);
		ck_touch(op, op->tab[pos].slot);
		agg_update(op, s, e);
		if ((s->flags & (SLOT_FIRED | SLOT_DIRTY)) == SLOT_FIRED || (op->update && !(s->flags & SLOT_DIRTY))) {
			uint32_t si = op->tab[pos].slot;
			s->flags |= SLOT_DIRTY;
			vec_push(&op->dirty, &si, sizeof(si));
		}
		return;
	}
	/* a table that could not grow must keep one empty entry (probes end there) */
	uint32_t si = op->used < op->mask ? slot_alloc(op) : NIL;
	if (si == NIL) {
		op->st.alloc_failed++;  /* out of memory: the record is lost for this window */
		return;
	}
	s = S(op, si);
	s->key = e->key;
	s->start = start;
	s->end = start + op->size;
	agg_init(op, s, e);
	op->tab[pos] = (struct hent){ si, (uint32_t)(h >> 32) };
	if (op->wm >= s->end) {
		/* Created complete by a record within the allowed lateness: it fires at the
		 * end of this batch (revision 0) and waits only for its purge. */
		s->flags |= SLOT_DIRTY;
		vec_push(&op->dirty, &si, sizeof(si));
		bucket_add(op, &op->purge, s->end + op->lateness, si);
	} else if (bucket_add(op, &op->ends, s->end, si)) {
		slot_free(op, si);
		op->tab[pos].slot = NIL;
		return;
	} else if (op->update) {        /* EMIT ON UPDATE: fires at the end of this batch */
		s->flags |= SLOT_DIRTY;
		vec_push(&op->dirty, &si, sizeof(si));
	}
	if (++op->used * 10 > (op->mask + 1) * 7)
		tab_grow(op);
}

static void
burst_tumbling(struct weir_op *op, const struct weir_ev *ev, unsigned n)
{
	uint64_t h[64];
	int64_t st[64];

	while (n) {
		unsigned m = n < 64 ? n : 64;
		/* pass 1: window and hash of every record, prefetch its table line */
		for (unsigned i = 0; i < m; i++) {
			int64_t t = ev[i].t;
			if ((uint64_t)t - (uint64_t)op->cur_start >= (uint64_t)op->size)
				op->cur_start = floor_to(t, op->size);
			st[i] = op->cur_start;
			h[i] = mix(ev[i].key, st[i]);
			__builtin_prefetch(&op->tab[(uint32_t)h[i] & op->mask]);
		}
		/* pass 2: the table lines have arrived: prefetch the slots they point to */
		for (unsigned i = 0; i < m; i++) {
			uint32_t si = op->tab[(uint32_t)h[i] & op->mask].slot;
			if (si != NIL)
				__builtin_prefetch(S(op, si), 1);
		}
		/* pass 3: judge and apply */
		for (unsigned i = 0; i < m; i++) {
			if (op->wm >= st[i] + op->size + op->lateness) {
				op->st.late_dropped++;
				continue;
			}
			apply_window(op, &ev[i], st[i], h[i]);
		}
		ev += m;
		n -= m;
	}
}

static void
burst_hopping(struct weir_op *op, const struct weir_ev *ev, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const struct weir_ev *e = &ev[i];
		int64_t last = floor_to(e->t, op->slide);
		int64_t first = last - op->size + op->slide;
		bool late = false;

		for (int64_t s = first; s <= last; s += op->slide) {
			if (op->wm >= s + op->size + op->lateness) {
				late = true;
				continue;
			}
			apply_window(op, e, s, mix(e->key, s));
		}
		op->st.late_dropped += late;
	}
}

/* ---- sessions ----------------------------------------------------------------------- */

static void
heap_push(struct weir_op *op, int64_t time, uint32_t si, int kind)
{
	struct hentry x = { time, si, S(op, si)->gen << 1 | (uint32_t)kind }, *hp;
	uint32_t i;

	if (vec_push(&op->heap, &x, sizeof(x)))
		return;
	hp = op->heap.a;
	for (i = op->heap.n - 1; i > 0; ) {
		uint32_t p = (i - 1) / 2;
		if (hp[p].time <= x.time)
			break;
		hp[i] = hp[p];
		i = p;
	}
	hp[i] = x;
}

static struct hentry
heap_pop(struct weir_op *op)
{
	struct hentry *hp = op->heap.a, top = hp[0], x = hp[--op->heap.n];
	uint32_t i = 0, n = op->heap.n;

	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && hp[c + 1].time < hp[c].time)
			c++;
		if (x.time <= hp[c].time)
			break;
		hp[i] = hp[c];
		i = c;
	}
	if (n)
		hp[i] = x;
	return top;
}

/* Unlink session si from its key's list (head at table position pos). */
static void
session_unlink(struct weir_op *op, uint32_t pos, uint32_t si)
{
	uint32_t *link = &op->tab[pos].slot;

	while (*link != si)
		link = &S(op, *link)->next;
	*link = S(op, si)->next;
}

/* A new session [t, t+gap) holding record e, not yet linked anywhere. */
static uint32_t
session_new(struct weir_op *op, const struct weir_ev *e)
{
	uint32_t si = slot_alloc(op);
	struct slot *s;

	if (si == NIL) {
		op->st.alloc_failed++;
		return NIL;
	}
	s = S(op, si);
	s->key = e->key;
	s->start = e->t;
	s->end = e->t + op->size;
	agg_init(op, s, e);
	s->flags |= SLOT_DIRTY | SLOT_TIMER;
	heap_push(op, s->end, si, 0);
	if (op->update)
		vec_push(&op->dirty, &si, sizeof(si));
	return si;
}

static void
session_event(struct weir_op *op, const struct weir_ev *e)
{
	int64_t gap = op->size, t = e->t;
	uint64_t h = mix(e->key, 0);
	uint32_t pos, si, target = NIL, *link;
	struct slot *s;

	if (op->wm >= t + gap) {
		op->st.late_dropped++;
		return;
	}
	pos = tab_find(op, e->key, 0, h);
	if (op->tab[pos].slot == NIL) {
		if (op->used >= op->mask) {     /* the table could not grow: keep one entry empty */
			op->st.alloc_failed++;
			return;
		}
		si = session_new(op, e);
		if (si == NIL)
			return;
		op->tab[pos] = (struct hent){ si, (uint32_t)(h >> 32) };
		if (++op->used * 10 > (op->mask + 1) * 7)
			tab_grow(op);
		return;
	}
	/* Walk the key's sessions (sorted by start, disjoint): merge every one that
	 * overlaps [t, t+gap) into the first overlapping one (the only one that may
	 * have fired, so a fired session keeps its start and revision). */
	link = &op->tab[pos].slot;
	while (*link != NIL) {
		uint32_t cur = *link;
		s = S(op, cur);
		if (s->start >= t + gap)
			break;
		if (t < s->end) {
			if (target == NIL) {
				target = cur;
			} else {
				struct slot *tg = S(op, target);
				if (shown(op, s))
					emit_retract(op, s);
				ck_touch(op, target);
				agg_merge(op, tg, s);
				if (s->end > tg->end)
					tg->end = s->end;
				*link = s->next;
				slot_free(op, cur);
				continue;
			}
		}
		link = &s->next;
	}
	if (target == NIL) {
		si = session_new(op, e);
		if (si == NIL)
			return;
		/* insert sorted by start */
		link = &op->tab[pos].slot;
		while (*link != NIL && S(op, *link)->start < t)
			link = &S(op, *link)->next;
		S(op, si)->next = *link;
		*link = si;
		return;
	}
	s = S(op, target);
	ck_touch(op, target);
	agg_update(op, s, e);
	if (t < s->start) {
		if (shown(op, s))
			emit_retract(op, s);    /* (before its start moves: the row it retracts) */
		ck_forget(op, s);       /* its key (key, start) changes */
		s->start = t;
	}
	if (t + gap > s->end)
		s->end = t + gap;
	if (op->update && !(s->flags & SLOT_DIRTY))
		vec_push(&op->dirty, &target, sizeof(target));
	s->flags |= SLOT_DIRTY;
	/* one fire timer per session: one already pending (at or before the end) moves
	 * to the end when it comes due (session_pop) rather than a push per record */
	if (!(s->flags & SLOT_TIMER)) {
		s->flags |= SLOT_TIMER;
		heap_push(op, s->end, target, 0);
	}
}

static int
fire_cmp(const void *a, const void *b)
{
	const struct fire_ent *x = a, *y = b;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	if ((x->gen_kind & 1) != (y->gen_kind & 1))     /* firings before frees */
		return (x->gen_kind & 1) ? 1 : -1;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static int
key_cmp(const void *a, const void *b)
{
	const struct fire_ent *x = a, *y = b;
	return x->key < y->key ? -1 : x->key > y->key;
}

/* op->fire by key (one window end: the keys are distinct).  An LSD radix sort on the
 * bytes that differ; insertion sort for a few; qsort if the buffer cannot grow. */
static void
sort_by_key(struct weir_op *op)
{
	struct fire_ent *a = op->fire.a, *src, *dst;
	uint32_t n = op->fire.n;

	if (n < 32) {
		for (uint32_t i = 1; i < n; i++) {
			struct fire_ent x = a[i];
			uint32_t j = i;
			for (; j > 0 && a[j - 1].key > x.key; j--)
				a[j] = a[j - 1];
			a[j] = x;
		}
		return;
	}
	if (op->fire_tmp.cap < n) {
		void *t = realloc(op->fire_tmp.a, (size_t)n * sizeof(*a));
		if (!t) {
			qsort(a, n, sizeof(*a), key_cmp);
			return;
		}
		op->fire_tmp.a = t;
		op->fire_tmp.cap = n;
	}
	memset(op->radix, 0, sizeof(op->radix));
	for (uint32_t i = 0; i < n; i++) {
		uint64_t k = a[i].key;
		for (int d = 0; d < 8; d++)
			op->radix[d][(k >> (8 * d)) & 255]++;
	}
	src = a;
	dst = op->fire_tmp.a;
	for (int d = 0; d < 8; d++) {
		uint32_t *c = op->radix[d], sum = 0;
		if (c[(src[0].key >> (8 * d)) & 255] == n)
			continue;               /* every key has this byte: nothing to do */
		for (int b = 0; b < 256; b++) {
			uint32_t x = c[b];
			c[b] = sum;
			sum += x;
		}
		for (uint32_t i = 0; i < n; i++)
			dst[c[(src[i].key >> (8 * d)) & 255]++] = src[i];
		struct fire_ent *t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, (size_t)n * sizeof(*a));
}

static void session_timer(struct weir_op *op, struct hentry x);

/* Every due timer, in rounds: all that are due, sorted (time, firings first, key),
 * then handled; a firing may set a purge timer that is due as well (next round).
 * (Out of memory for the sort: handled in heap order, nothing lost.) */
/* The next timer due at the watermark, or false.  A session's one fire timer may
 * have been set before records extended it: it moves to the new end, now if that is
 * due too (so a firing round sees every session due in it at its own end, whatever
 * the timers' history: canonical order), else back into the heap. */
static bool
session_pop(struct weir_op *op, struct hentry *out)
{
	while (op->heap.n && ((struct hentry *)op->heap.a)[0].time <= op->wm) {
		struct hentry h = heap_pop(op);
		const struct slot *s = S(op, h.slot);

		if ((h.gen_kind & 1) == 0 && (s->flags & SLOT_LIVE) && s->gen == h.gen_kind >> 1 &&
		    s->end != h.time) {
			if (s->end > op->wm) {
				heap_push(op, s->end, h.slot, 0);
				continue;
			}
			h.time = s->end;
		}
		*out = h;
		return true;
	}
	return false;
}

static void
session_fire(struct weir_op *op)
{
	struct hentry h;

	if (!op->canonical) {
		while (session_pop(op, &h))
			session_timer(op, h);
		return;
	}
	while (op->heap.n && ((struct hentry *)op->heap.a)[0].time <= op->wm) {
		op->fire.n = 0;
		while (session_pop(op, &h)) {
			struct fire_ent f = { h.time, S(op, h.slot)->key, h.slot, h.gen_kind };
			if (vec_push(&op->fire, &f, sizeof(f))) {
				session_timer(op, h);
				break;
			}
		}
		struct fire_ent *fe = op->fire.a;
		if (op->fire.n > 1)
			qsort(fe, op->fire.n, sizeof(*fe), fire_cmp);
		for (uint32_t i = 0; i < op->fire.n; i++)
			session_timer(op, (struct hentry){ fe[i].time, fe[i].slot, fe[i].gen_kind });
	}
}

static void
session_timer(struct weir_op *op, struct hentry x)
{
	struct slot *s = S(op, x.slot);

	if (!(s->flags & SLOT_LIVE) || s->gen != x.gen_kind >> 1)
		return;                                 /* freed (merged) since */
	if ((x.gen_kind & 1) == 0) {
		s->flags &= ~(uint32_t)SLOT_TIMER;
		if (s->end != x.time)
			return;                         /* (cannot happen: session_pop) */
		if (s->flags & SLOT_DIRTY)      /* (EMIT ON UPDATE: it went out at its batch's end) */
			emit(op, s);
		heap_push(op, s->end + op->size, x.slot, 1);
	} else if (s->end + op->size == x.time) {
		/* No record can merge any more (one would be late): free it. */
		uint64_t h = mix(s->key, 0);
		uint32_t pos = tab_find(op, s->key, 0, h);
		session_unlink(op, pos, x.slot);
		if (op->tab[pos].slot == NIL)
			tab_del(op, pos);               /* the key has no session left */
		slot_free(op, x.slot);
	}
}

/* ---- public ------------------------------------------------------------------------ */

void
weir_op_set_key_slot(struct weir_op *op, int slot)
{
	op->key_slot = slot;
}

int
weir_op_set_headroom(struct weir_op *op, size_t bytes)
{
	return op->ov && op->kind == WEIR_WIN_OVER ? weir_over_set_headroom(op->ov, bytes) : 0;
}

void
weir_op_set_canonical(struct weir_op *op, bool on)
{
	op->canonical = on;
}

static bool
over_having(void *ctx, const struct weir_result *r)
{
	return weir_result_having(ctx, r);
}

struct weir_op *
weir_op_create(const struct weir_query_cfg *q, uint16_t qidx, const struct weir_source_cfg *src,
	       weir_emit_fn emitfn, void *ctx)
{
	return weir_op_create_ex(q, qidx, src, emitfn, ctx, 0);
}

struct weir_op *
weir_op_create_ex(const struct weir_query_cfg *q, uint16_t qidx, const struct weir_source_cfg *src,
		  weir_emit_fn emitfn, void *ctx, unsigned flags)
{
	static const uint8_t codes[][3] = {      /* [fn][type] for sum/min/max */
		[WEIR_AGG_SUM] = { A_SUM_I, A_SUM_U, A_SUM_F },
		[WEIR_AGG_AVG] = { A_SUM_I, A_SUM_U, A_SUM_F },
		[WEIR_AGG_MIN] = { A_MIN_I, A_MIN_U, A_MIN_F },
		[WEIR_AGG_MAX] = { A_MAX_I, A_MAX_U, A_MAX_F },
	};
	struct weir_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->kind = q->window;
	op->qidx = qidx;
	op->size = q->size;
	op->slide = q->slide;
	op->lateness = q->lateness;
	op->wm = WEIR_WM_MIN;
	op->naggs = q->naggs;
	op->cur_start = INT64_MIN / 2;
	ck_init(&op->ck, !(flags & WEIR_OP_NO_CKPT));
	/* (OVER and SELECT aggregates are over.c's: CUR has no window program) */
	for (int a = 0; a < q->naggs && q->window != WEIR_WIN_OVER && q->window != WEIR_WIN_SELECT; a++) {
		const struct weir_agg_cfg *g = &q->aggs[a];
		struct aggop *o = &op->agg[a];
		o->field = (uint8_t)(g->field < 0 ? 0 : g->field);
		o->word = (uint8_t)op->nwords;
		switch (g->fn) {
		case WEIR_AGG_COUNT: o->code = A_COUNT; break;
		case WEIR_AGG_FIRST: o->code = A_FIRST; op->nwords += 2; break;
		case WEIR_AGG_LAST:  o->code = A_LAST;  op->nwords += 2; break;
		case WEIR_AGG_DISTINCT:
			if (op->ndist == WEIR_MAX_DISTINCT) {   /* (the config refuses more) */
				free(op);
				return NULL;
			}
			o->code = g->type == WEIR_F_F64 ? A_DISTINCT_F : A_DISTINCT;
			op->dist_word[op->ndist++] = o->word;
			op->nwords += 1;
			break;
		default:             o->code = codes[g->fn][g->type]; op->nwords += 1; break;
		}
		o->out = (uint8_t)a;
		if (o->code != A_COUNT)
			op->prog[op->nprog++] = *o;
	}
	op->stride = sizeof(struct slot) + 8 * op->nwords;
	op->q = q;
	op->key_slot = -1;
	op->nf = (unsigned)src->nfields;
	op->update = q->emit == WEIR_EMIT_UPDATE;
	op->having = q->having.len > 0;
	op->xform = q->where.len || q->nderived;
	if (flags & WEIR_OP_LATENCY) {
		/* the arrival stamp rides as a hidden value field after the source's (and
		 * after the computed inputs in the rows the SQL programs fill) */
		op->latency = true;
		op->prog[op->nprog++] = (struct aggop){ A_MAX_U, (uint8_t)(src->nfields + q->nderived),
							(uint8_t)op->nwords, 0 };
		op->stride += 8;
	}
	op->xw = (unsigned)(src->nfields + q->nderived) + op->latency;
	if (op->xform && !(op->xrows = malloc(64 * sizeof(uint64_t) * op->xw))) {
		free(op);
		return NULL;
	}
	if (q->window == WEIR_WIN_OVER || q->window == WEIR_WIN_SELECT) {
		/* per event: over.c keeps the state; this op runs WHERE and the computed
		 * inputs in front of it and forwards the rest */
		op->ov = weir_over_create(q, qidx, src, emitfn, ctx, flags);
		if (!op->ov) {
			free(op->xrows);
			free(op);
			return NULL;
		}
		/* HAVING: over.c runs the program itself, on the event before the result
		 * (the callback only if it cannot take the program) */
		if (q->having.len && weir_over_set_having_prog(op->ov, q))
			weir_over_set_having(op->ov, over_having, (void *)q);
		return op;
	}
	op->nfilt = q->nfilter;
	for (int i = 0; i < q->nfilter; i++) {
		op->filt[i] = q->filter[i];
		op->filt_type[i] = src->field_type[q->filter[i].field];
	}
	op->free_head = NIL;
	op->mask = 1023;
	op->tab = malloc(1024 * sizeof(*op->tab));
	if (!op->tab) {
		free(op->xrows);
		free(op);
		return NULL;
	}
	memset(op->tab, 0xff, 1024 * sizeof(*op->tab));
	op->emit = emitfn;
	op->ctx = ctx;
	return op;
}

void
weir_op_destroy(struct weir_op *op)
{
	if (!op)
		return;
	if (op->ov) {
		weir_over_destroy(op->ov);
		free(op->xrows);
		free(op);
		return;
	}
	for (uint32_t i = 0; op->ndist && i < op->nslots; i++)
		if (S(op, i)->flags & SLOT_LIVE)
			agg_release(op, S(op, i));
	free(op->slots);
	free(op->tab);
	free(op->ends.a);
	free(op->purge.a);
	free(op->dirty.a);
	free(op->heap.a);
	free(op->fire.a);
	free(op->fire_tmp.a);
	free(op->xrows);
	ck_free(&op->ck);
	free(op);
}

static inline bool
filter_pass(const struct weir_op *op, const struct weir_ev *e)
{
	for (int i = 0; i < op->nfilt; i++) {
		const struct weir_filter_cfg *f = &op->filt[i];
		uint64_t v = e->v[f->field], c = f->value;
		int cmp;

		switch (op->filt_type[i]) {
		case WEIR_F_I64:
			cmp = ((int64_t)v > (int64_t)c) - ((int64_t)v < (int64_t)c);
			break;
		case WEIR_F_U64:
			cmp = (v > c) - (v < c);
			break;
		default:
			if (u2d(v) != u2d(v))   /* NaN: only != holds */
				cmp = 2;
			else
				cmp = (u2d(v) > u2d(c)) - (u2d(v) < u2d(c));
			break;
		}
		if (!weir_cmp_holds(f->op, cmp))
			return false;
	}
	return true;
}

static void burst_dispatch(struct weir_op *op, const struct weir_ev *ev, unsigned n);

/* SQL: WHERE, then the computed inputs, per record, into op->xrows */
static void
burst_xform(struct weir_op *op, const struct weir_ev *ev, unsigned n)
{
	const struct weir_query_cfg *q = op->q;
	struct weir_ev pass[64];

	while (n) {
		unsigned m = n < 64 ? n : 64, k = 0;
		for (unsigned i = 0; i < m; i++) {
			struct weir_xin in = { .slot = ev[i].v, .time = ev[i].t,
					       .key = op->key_slot >= 0 ? ev[i].v[op->key_slot] : ev[i].key };
			uint64_t *row = op->xrows + (size_t)k * op->xw;
			int d;

			if (!weir_expr_holds(q->code, &q->where, &in))
				continue;
			for (d = 0; d < q->nderived; d++)
				if (!weir_expr_eval(q->code, &q->derived[d], &in, &row[op->nf + d]))
					break;          /* a NULL input (e.g. / 0): the record is filtered */
			if (d < q->nderived)
				continue;
			memcpy(row, ev[i].v, op->nf * sizeof(uint64_t));
			if (op->latency)
				row[op->nf + q->nderived] = ev[i].v[op->nf];
			pass[k++] = (struct weir_ev){ ev[i].t, ev[i].key, row };
		}
		op->st.filtered += m - k;
		if (k)
			burst_dispatch(op, pass, k);
		ev += m;
		n -= m;
	}
}

void
weir_op_burst(struct weir_op *op, const struct weir_ev *ev, unsigned n)
{
	struct weir_ev pass[64];

	if (op->xform) {
		burst_xform(op, ev, n);
		return;
	}
	if (!op->nfilt) {
		burst_dispatch(op, ev, n);
		return;
	}
	while (n) {
		unsigned m = n < 64 ? n : 64, k = 0;
		for (unsigned i = 0; i < m; i++)
			if (filter_pass(op, &ev[i]))
				pass[k++] = ev[i];
		op->st.filtered += m - k;
		if (k)
			burst_dispatch(op, pass, k);
		ev += m;
		n -= m;
	}
}

void
weir_op_set_fire_stamp(struct weir_op *op, uint64_t stamp)
{
	op->fire_stamp = stamp;
}

static void
burst_dispatch(struct weir_op *op, const struct weir_ev *ev, unsigned n)
{
	if (op->ov) {
		weir_over_burst(op->ov, ev, n);
		return;
	}
	switch (op->kind) {
	case WEIR_WIN_TUMBLING:
		burst_tumbling(op, ev, n);
		break;
	case WEIR_WIN_HOPPING:
		burst_hopping(op, ev, n);
		break;
	default:
		for (unsigned i = 0; i < n; i++)
			session_event(op, &ev[i]);
		break;
	}
}

void
weir_op_batch_end(struct weir_op *op)
{
	uint32_t *d = op->dirty.a;
	uint64_t stamp = op->fire_stamp;

	if (op->ov)
		return;                 /* per event: nothing waits for the batch's end */
	op->fire_stamp = 0;             /* late updates: no watermark fired them */
	for (uint32_t i = 0; i < op->dirty.n; i++) {
		struct slot *s = S(op, d[i]);
		if (s->flags & SLOT_DIRTY)
			emit(op, s);
	}
	op->dirty.n = 0;
	op->fire_stamp = stamp;
}

void
weir_op_advance(struct weir_op *op, int64_t wm)
{
	if (op->ov) {
		weir_over_advance(op->ov, wm);
		return;
	}
	if (wm <= op->wm)
		return;
	weir_op_batch_end(op);
	op->wm = wm;
	if (op->kind == WEIR_WIN_SESSION) {
		session_fire(op);
		return;
	}
	/* fire every window whose end the watermark has reached (canonical: by key within
	 * an end) */
	while (op->ends.n && ((struct bucket *)op->ends.a)[0].time <= wm) {
		struct bucket b = ((struct bucket *)op->ends.a)[0];

		op->ends.n--;
		memmove(op->ends.a, (struct bucket *)op->ends.a + 1, (size_t)op->ends.n * sizeof(b));
		if (op->update)                 /* every change went out at its batch's end */
			goto fired;
		if (!op->canonical) {
			for (uint32_t si = b.head; si != NIL; si = S(op, si)->next)
				emit(op, S(op, si));
			goto fired;
		}
		op->fire.n = 0;
		for (uint32_t si = b.head; si != NIL; si = S(op, si)->next) {
			struct fire_ent f = { b.time, S(op, si)->key, si, 0 };
			if (vec_push(&op->fire, &f, sizeof(f))) {       /* out of memory: unsorted */
				for (; si != NIL; si = S(op, si)->next)
					emit(op, S(op, si));
				break;
			}
		}
		sort_by_key(op);
		struct fire_ent *fe = op->fire.a;
		for (uint32_t i = 0; i < op->fire.n; i++)
			emit(op, S(op, fe[i].slot));
fired:
		if (op->lateness == 0) {
			for (uint32_t si = b.head, nx; si != NIL; si = nx) {
				nx = S(op, si)->next;
				tab_del_slot(op, si);
				slot_free(op, si);
			}
		} else {
			purge_add_list(op, b.time + op->lateness, b.head);
		}
	}
	/* free windows past their allowed lateness */
	uint32_t np = 0;
	while (np < op->purge.n && ((struct bucket *)op->purge.a)[np].time <= wm) {
		struct bucket b = ((struct bucket *)op->purge.a)[np++];
		for (uint32_t si = b.head, nx; si != NIL; si = nx) {
			nx = S(op, si)->next;
			tab_del_slot(op, si);
			slot_free(op, si);
		}
	}
	if (np) {
		op->purge.n -= np;
		memmove(op->purge.a, (struct bucket *)op->purge.a + np, (size_t)op->purge.n * sizeof(struct bucket));
	}
}

int64_t
weir_op_watermark(const struct weir_op *op)
{
	return op->ov ? weir_over_watermark(op->ov) : op->wm;
}

void
weir_op_get_stats(const struct weir_op *op, struct weir_op_stats *st)
{
	if (op->ov) {
		weir_over_get_stats(op->ov, st);
		st->filtered += op->st.filtered;        /* (WHERE runs here) */
		return;
	}
	*st = op->st;
	st->open_windows = op->live;
	st->state_bytes = (uint64_t)op->capslots * op->stride + (uint64_t)(op->mask + 1) * sizeof(struct hent) +
			  (uint64_t)op->heap.cap * sizeof(struct hentry) + op->dbytes;
}

/* ---- checkpoints and restore ------------------------------------------------------------ */

void
weir_op_ckpt_begin(struct weir_op *op, struct sp_writer *w, bool full)
{
	if (op->ov) {
		weir_over_ckpt_begin(op->ov, w, full);
		return;
	}
	if (op->ck.w)                   /* the previous delta is not out yet: finish it */
		while (!weir_op_ckpt_step(op, UINT32_MAX))
			;
	ck_begin(&op->ck, w, full, op->nslots, op->qidx, op->wm);
}

/* (tombstones do not count against the budget: up to budget of them, then as many
 * windows) */
bool
weir_op_ckpt_step(struct weir_op *op, uint32_t budget)
{
	if (op->ov)
		return weir_over_ckpt_step(op->ov, budget);
	return ck_step(&op->ck, op->qidx, budget, &ck_ops, op);
}

int
weir_op_restore(struct weir_op *op, const uint8_t *k, unsigned klen, const uint8_t *v, unsigned vlen)
{
	uint16_t q, nw;
	uint64_t key;
	uint32_t si, fl;
	struct slot *s;

	if (op->ov)
		return weir_over_restore(op->ov, k, klen, v, vlen);
	if (weir_state_key(k, klen, &q, &key) || q != op->qidx || vlen < VAL_FIXED + 8 * op->nwords ||
	    (!op->ndist && vlen != VAL_FIXED + 8 * op->nwords))
		return -1;
	/* the distinct sets first: a malformed record is refused before it changes anything */
	struct dset *sets[WEIR_MAX_DISTINCT] = { 0 };
	const uint8_t *sp = v + VAL_FIXED + 8 * op->nwords;
	bool ok = true;
	for (int d = 0; d < op->ndist && ok; d++)
		sets[d] = dset_read(&sp, v + vlen, &ok);   /* (NULL: its aggregate's ovf bit is set) */
	if (!ok || sp != v + vlen) {
		for (int d = 0; d < op->ndist; d++)
			free(sets[d]);
		return -1;
	}
	memcpy(&nw, v + 28, 2);
	if (nw != op->nwords)
		goto refuse;
	int64_t start = ck_state_sub(k);
	bool session = op->kind == WEIR_WIN_SESSION;
	uint64_t h = mix(key, session ? 0 : start);
	uint32_t pos = tab_find(op, key, start, h);
	if (!session && op->tab[pos].slot != NIL)
		goto refuse;                    /* the same window twice */
	if (op->used >= op->mask || (si = slot_alloc(op)) == NIL)
		goto refuse;
	s = S(op, si);
	s->key = key;
	s->start = start;
	memcpy(&s->end, v, 8);
	memcpy(&s->revision, v + 8, 4);
	memcpy(&s->ovf, v + 12, 4);
	memcpy(&fl, v + 16, 4);
	memcpy(&s->count, v + 20, 8);
	memcpy(s->w, v + 30, 8 * op->nwords);
	for (int d = 0; d < op->ndist; d++) {
		s->w[op->dist_word[d]] = (uint64_t)(uintptr_t)sets[d];
		op->dbytes += dset_bytes(sets[d]);
	}

	if (op->latency)
		s->w[op->nwords] = 0;   /* arrival stamps are not checkpointed */
	s->flags = SLOT_LIVE | (fl & SLOT_CKPT_FLAGS);
	if (!session) {
		op->tab[pos] = (struct hent){ si, (uint32_t)(h >> 32) };
		if (s->flags & SLOT_FIRED)
			bucket_add(op, &op->purge, s->end + op->lateness, si);
		else
			bucket_add(op, &op->ends, s->end, si);
	} else {
		if (op->tab[pos].slot == NIL) {
			op->tab[pos] = (struct hent){ si, (uint32_t)(h >> 32) };
		} else {                        /* into the key's list, sorted by start */
			uint32_t *link = &op->tab[pos].slot;
			while (*link != NIL && S(op, *link)->start < start)
				link = &S(op, *link)->next;
			if (*link != NIL && S(op, *link)->start == start) {
				slot_free(op, si);
				return -1;
			}
			s->next = *link;
			*link = si;
			goto timers;            /* the table entry exists already */
		}
	}
	if (++op->used * 10 > (op->mask + 1) * 7)
		tab_grow(op);
	if (!session)
		return 0;
timers:
	if (s->flags & SLOT_DIRTY) {
		s->flags |= SLOT_TIMER;
		heap_push(op, s->end, si, 0);
	} else {
		heap_push(op, s->end + op->size, si, 1);
	}
	return 0;
refuse:
	for (int d = 0; d < op->ndist; d++)
		free(sets[d]);
	return -1;
}

void
weir_op_restore_wm(struct weir_op *op, int64_t wm)
{
	if (op->ov) {
		weir_over_restore_wm(op->ov, wm);
		return;
	}
	if (wm > op->wm)
		op->wm = wm;
}
