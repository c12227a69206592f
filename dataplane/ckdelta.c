/* SPDX-License-Identifier: Apache-2.0
 * Checkpoint deltas shared by window.c and over.c (see ckdelta.h). */
#include "ckdelta.h"
#include "window.h"

#include <stdio.h>

int
vec_grow(struct vec *v, size_t sz)
{
	uint32_t cap = v->cap ? 2 * v->cap : 64;
	void *a = realloc(v->a, (size_t)cap * sz);

	if (!a)
		return -1;
	v->a = a;
	v->cap = cap;
	return 0;
}

void
ck_free(struct ck_delta *d)
{
	for (int i = 0; i < 2; i++) {
		free(d->chg[i].a);
		free(d->tomb[i].a);
	}
}

void
ck_tombs(struct ck_delta *d, uint16_t q, uint32_t *budget)
{
	struct vec *t = &d->tomb[(d->cur - 1) & 1];

	while (d->tpos < t->n && *budget) {
		const struct ck_tomb *x = (const struct ck_tomb *)t->a + d->tpos++;
		uint8_t *p = sp_rec_put(d->w, SP_REC_DEL, CK_KEY_LEN, 0);
		ck_state_key(p, q, x->key, x->sub);
		(*budget)--;
	}
}

void
ck_begin(struct ck_delta *d, struct sp_writer *w, bool full, uint32_t nunits, uint16_t q, int64_t wm)
{
	char name[8];

	if (!d->track)                  /* created with WEIR_OP_NO_CKPT: a caller's bug */
		abort();
	d->cur++;
	d->w = w;
	d->full = full;
	d->pos = 0;
	d->tpos = 0;
	d->end = nunits;
	if (full) {                     /* the whole state replaces the shard: no deletes */
		d->chg[(d->cur - 1) & 1].n = 0;
		d->tomb[(d->cur - 1) & 1].n = 0;
	}
	/* the watermark at the barrier */
	snprintf(name, sizeof(name), "q%u", (unsigned)q);
	uint8_t *p = sp_rec_put(w, SP_REC_META, (unsigned)strlen(name), 8);
	memcpy(p, name, strlen(name));
	memcpy(p + strlen(name), &wm, 8);
}

/* The step's turn of unit i: written if it owes its state; the budget it takes. */
static uint32_t
ck_turn(struct ck_delta *d, uint32_t i, const struct ck_ops *ops, void *op, uint32_t budget)
{
	bool live;
	uint32_t *dep = ops->unit(op, i, &live), m;

	if (!ck_owed(d, i, *dep, live))
		return 0;
	m = ops->put(op, i);
	if (!d->full)
		*dep = 0;
	return m < budget ? m : budget;
}

bool
ck_step(struct ck_delta *d, uint16_t q, uint32_t budget, const struct ck_ops *ops, void *op)
{
	struct vec *chg = &d->chg[(d->cur - 1) & 1];
	uint32_t tbudget = budget;

	if (!d->w)
		return true;
	ck_tombs(d, q, ops->tombs_in_budget ? &budget : &tbudget);
	if (d->tpos < d->tomb[(d->cur - 1) & 1].n)
		return false;
	if (d->full) {
		for (; d->pos < d->end && budget; d->pos++)
			budget -= ck_turn(d, d->pos, ops, op, budget);
		if (d->pos < d->end)
			return false;
	} else {
		const uint32_t *ix = chg->a;
		for (; d->pos < chg->n && budget; d->pos++)
			budget -= ck_turn(d, ix[d->pos], ops, op, budget);
		if (d->pos < chg->n)
			return false;
	}
	chg->n = 0;
	d->tomb[(d->cur - 1) & 1].n = 0;
	d->w = NULL;
	return true;
}

int
weir_state_key(const uint8_t *k, unsigned klen, uint16_t *q, uint64_t *key)
{
	if (klen != CK_KEY_LEN)
		return -1;
	*q = (uint16_t)(k[0] << 8 | k[1]);
	*key = sp_rd_be64(k + 2);
	return 0;
}
