/* SPDX-License-Identifier: Apache-2.0
 * State deltas: what a worker hands to the state plane at a checkpoint.
 *
 * A delta is the state of one worker shard that changed since its previous checkpoint,
 * as a sequence of immutable chunks (fixed-capacity buffers) carrying records:
 *
 *   u8 type (SP_REC_*) | u8 key length | u16 value length (LE) | key | value
 *
 * DEL records of a delta always precede its PUT records, so a key deleted and
 * re-created in one interval ends up present.  The last chunk of a delta has
 * SP_CH_LAST; a delta with SP_CH_FULL replaces the shard's whole content (resync).
 * Pure C, no DPDK: the window operator writes through struct sp_writer, whose next()
 * callback hands a full chunk over and returns an empty one.
 */
#ifndef WEIR_SP_DELTA_H
#define WEIR_SP_DELTA_H

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { SP_REC_PUT = 1, SP_REC_DEL = 2, SP_REC_META = 3 };
enum { SP_CH_LAST = 1, SP_CH_FULL = 2 };

#define SP_REC_HDR 4u
#define SP_KEY_MAX 64u
#define SP_VAL_MAX 16384u

struct sp_chunk {
	uint64_t epoch;
	uint32_t len;               /* bytes used in data */
	uint32_t cap;               /* bytes of data */
	uint16_t worker;
	uint16_t flags;             /* SP_CH_* */
	uint32_t seq;               /* chunk number within its delta, from 0 */
	uint8_t data[];
};

struct sp_writer {
	struct sp_chunk *c;         /* current chunk, never NULL while a delta is open */
	/* Hand `full` over (it is not touched again) and return an empty chunk. */
	struct sp_chunk *(*next)(void *ctx, struct sp_chunk *full);
	void *ctx;
	uint64_t bytes;             /* record bytes written in this delta */
	uint64_t records;
};

/* Room for one record of klen+vlen bytes: returns where the key goes (the value
 * follows it).  klen <= SP_KEY_MAX, vlen <= SP_VAL_MAX, and chunks hold at least
 * one record of the largest size. */
static inline uint8_t *
sp_rec_put(struct sp_writer *w, unsigned type, unsigned klen, unsigned vlen)
{
	uint32_t need = SP_REC_HDR + klen + vlen;
	struct sp_chunk *c = w->c;

	if (c->cap - c->len < need) {
		/* c belongs to its consumer once handed over: take what carries on first */
		uint64_t epoch = c->epoch;
		uint16_t worker = c->worker, flags = c->flags & SP_CH_FULL;
		uint32_t seq = c->seq + 1;
		struct sp_chunk *n = w->next(w->ctx, c);
		n->epoch = epoch;
		n->worker = worker;
		n->flags = flags;
		n->seq = seq;
		n->len = 0;
		w->c = c = n;
	}
	uint8_t *p = c->data + c->len;
	p[0] = (uint8_t)type;
	p[1] = (uint8_t)klen;
	p[2] = (uint8_t)vlen;
	p[3] = (uint8_t)(vlen >> 8);
	c->len += need;
	w->bytes += need;
	w->records++;
	return p + SP_REC_HDR;
}

/* Walk the records of a chunk.  Returns 1 with the record's fields, 0 at the end,
 * -1 if the chunk is malformed (a record runs past its end). */
static inline int
sp_rec_next(const struct sp_chunk *c, uint32_t *off, unsigned *type,
	    const uint8_t **k, unsigned *klen, const uint8_t **v, unsigned *vlen)
{
	if (*off >= c->len)
		return 0;
	if (c->len - *off < SP_REC_HDR)
		return -1;
	const uint8_t *p = c->data + *off;
	*type = p[0];
	*klen = p[1];
	*vlen = (unsigned)p[2] | (unsigned)p[3] << 8;
	if (c->len - *off - SP_REC_HDR < *klen + *vlen)
		return -1;
	*k = p + SP_REC_HDR;
	*v = *k + *klen;
	*off += SP_REC_HDR + *klen + *vlen;
	return 1;
}

/* Big-endian helpers: keys sort by (query, key, window start). */
static inline void
sp_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t
sp_rd_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

#ifdef __cplusplus
}
#endif
#endif
