/* SPDX-License-Identifier: Apache-2.0
 * Test helpers shared by test_ckpt.c and test_over.c: a key-value model that checkpoint
 * deltas are applied to, chunk by chunk, and a writer whose chunks go straight into it.
 * Include after cmocka.h; define CHUNK_CAP first for chunks other than the largest
 * record's size. */
#ifndef WEIR_TEST_CKPT_CAPTURE_H
#define WEIR_TEST_CKPT_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "delta.h"

/* ---- a key-value model fed from delta chunks ------------------------------------------- */

struct kv { uint8_t k[SP_KEY_MAX]; unsigned kl; uint8_t *v; unsigned vl; };   /* v: malloc'd */
struct model { struct kv *e; unsigned n, cap; int64_t wm; };

static inline struct kv *
model_find(struct model *m, const uint8_t *k, unsigned kl)
{
	for (unsigned i = 0; i < m->n; i++)
		if (m->e[i].kl == kl && !memcmp(m->e[i].k, k, kl))
			return &m->e[i];
	return NULL;
}

static inline void
model_clear(struct model *m)
{
	for (unsigned i = 0; i < m->n; i++)
		free(m->e[i].v);
	m->n = 0;
}

static inline void
model_free(struct model *m)
{
	model_clear(m);
	free(m->e);
	memset(m, 0, sizeof(*m));
}

/* Apply one chunk: a full delta's first chunk replaces the content; DELs precede PUTs. */
static inline void
model_apply(struct model *m, const struct sp_chunk *c)
{
	uint32_t off = 0;
	unsigned type, kl, vl;
	const uint8_t *k, *v;
	int r, puts = 0;

	if (c->seq == 0 && (c->flags & SP_CH_FULL))
		model_clear(m);                 /* a full delta replaces the shard */
	while ((r = sp_rec_next(c, &off, &type, &k, &kl, &v, &vl)) == 1) {
		struct kv *x = model_find(m, k, kl);
		if (type == SP_REC_META) {
			memcpy(&m->wm, v, 8);
		} else if (type == SP_REC_DEL) {
			assert_int_equal(puts, 0);      /* DELs before PUTs */
			if (x) {
				free(x->v);
				*x = m->e[--m->n];
			}
		} else {
			assert_int_equal(type, SP_REC_PUT);
			assert_true(vl <= SP_VAL_MAX);
			puts++;
			if (!x) {
				if (m->n == m->cap) {
					m->cap = m->cap ? 2 * m->cap : 256;
					m->e = realloc(m->e, m->cap * sizeof(*m->e));
				}
				x = &m->e[m->n++];
				x->v = NULL;
			}
			memcpy(x->k, k, kl);
			x->kl = kl;
			x->v = realloc(x->v, vl ? vl : 1);
			memcpy(x->v, v, vl);
			x->vl = vl;
		}
	}
	assert_int_equal(r, 0);
}

static inline int
kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	int c = memcmp(x->k, y->k, x->kl < y->kl ? x->kl : y->kl);
	return c ? c : (int)x->kl - (int)y->kl;
}

/* The same records (sorted in place) and watermark. */
static inline void
model_equal(struct model *a, struct model *b)
{
	assert_int_equal(a->n, b->n);
	qsort(a->e, a->n, sizeof(*a->e), kv_cmp);
	qsort(b->e, b->n, sizeof(*b->e), kv_cmp);
	for (unsigned i = 0; i < a->n; i++) {
		assert_int_equal(a->e[i].kl, b->e[i].kl);
		assert_memory_equal(a->e[i].k, b->e[i].k, a->e[i].kl);
		assert_int_equal(a->e[i].vl, b->e[i].vl);
		assert_memory_equal(a->e[i].v, b->e[i].v, a->e[i].vl);
	}
	assert_int_equal(a->wm, b->wm);
}

/* ---- a writer whose chunks go straight into a model -------------------------------------- */

#ifndef CHUNK_CAP
#define CHUNK_CAP (SP_REC_HDR + SP_KEY_MAX + SP_VAL_MAX)   /* holds the largest record */
#endif

struct sink { struct model *m; unsigned chunks; };

static inline struct sp_chunk *
chunk_new(bool full)
{
	struct sp_chunk *c = calloc(1, sizeof(*c) + CHUNK_CAP);
	c->cap = CHUNK_CAP;
	c->flags = full ? SP_CH_FULL : 0;
	return c;
}

/* sp_writer.next: the full chunk goes into the sink's model. */
static inline struct sp_chunk *
next_chunk(void *ctx, struct sp_chunk *full)
{
	struct sink *s = ctx;
	model_apply(s->m, full);
	s->chunks++;
	free(full);
	return chunk_new(false);
}

/* ---- barriers of the operator under test ------------------------------------------------- */

/* Its checkpoint calls (window.h's or over.h's, through one-line adapters). */
struct ckpt_ops {
	void (*begin)(void *op, struct sp_writer *w, bool full);
	bool (*step)(void *op, uint32_t budget);
};

/* Full dump of op's state now into m (used on the twin). */
static inline void
dump_full(const struct ckpt_ops *o, void *op, struct model *m)
{
	struct sink s = { m, 0 };
	struct sp_writer w = { chunk_new(true), next_chunk, &s, 0, 0 };
	o->begin(op, &w, true);
	while (!o->step(op, UINT32_MAX))
		;
	model_apply(m, w.c);
	free(w.c);
}

/* The delta in w is complete: its last chunk into m, which must now equal expect. */
static inline void
delta_check(struct model *m, struct sp_writer *w, struct model *expect)
{
	model_apply(m, w->c);
	free(w->c);
	model_equal(m, expect);
}

/* A barrier: op's previous delta (*active) is finished and checked, expect becomes the
 * truth at this barrier (twin, fed the same input, dumped in full), and op's delta
 * (full or not) starts in w. */
static inline void
ckpt_barrier(const struct ckpt_ops *o, void *op, void *twin, bool full, struct sp_writer *w, int *active,
	     struct model *m, struct model *expect)
{
	if (*active) {
		while (!o->step(op, UINT32_MAX))
			;
		delta_check(m, w, expect);
	}
	model_free(expect);
	dump_full(o, twin, expect);
	w->c = chunk_new(full);
	o->begin(op, w, full);
	*active = 1;
}

#endif
