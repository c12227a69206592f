/* SPDX-License-Identifier: Apache-2.0
 * OVER-window operator (see over.h; results, stats and checkpoints as in window.h). */
#include "over.h"
#include "ckdelta.h"
#include "expr.h"
#include "arena.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NIL UINT32_MAX
#define MAX_COLS (WEIR_MAX_FIELDS + WEIR_MAX_DERIVED)   /* distinct value fields of a query */
#define NCLASS 26               /* buffer size classes: 4 << c entries */
#define CLS_INLINE 0xff         /* the entries are in the partition itself */
#define INLINE_BYTES 128        /* room for entries kept in a partition (a small one never allocates) */
#define BURST 64
#define PBLK_SHIFT 10           /* partitions live in blocks: 1024, 1024, 2048, 4096, ... */
#define NPBLK 23                /* (up to 2^32 partitions) */
#define BIG_ALIGN ((size_t)2 << 20)
#define ARENA_MIN ((size_t)64 << 10)

enum { P_LIVE = 1, P_RESTORE = 2, P_HDR = 4 };  /* RESTORE: records still arriving; HDR: its record 0 did */

/* Aggregate programs, resolved once at create time.  LAST is CUR: the newest entry
 * of R(e), last arrived among equal times, is e itself. */
enum aggcode { A_COUNT, A_SUM_I, A_SUM_U, A_SUM_F, A_MIN_I, A_MIN_U, A_MIN_F, A_MAX_I, A_MAX_U, A_MAX_F,
	       A_FIRST, A_CUR };

struct aggop {
	uint8_t code;
	uint8_t field;              /* index into v[] (CUR) */
	uint8_t col;                /* entry column (min/max/first) */
	uint8_t run;                /* running sum (sum/avg) */
};

struct runop {                      /* one running sum per distinct (field, type) */
	uint8_t type;               /* enum weir_ftype */
	uint8_t col;
};

/* A running sum over a run of entries: exact for integers (128 bits cannot overflow
 * for fewer than 2^63 entries); for f64 a compensated sum of the finite values (s + c
 * is the exact sum rounded, the error of every step kept in c) and counts of the
 * non-finite ones, so that taking values off again is exact too. */
struct runsum {
	union {
		__int128 i;
		struct { double s, c; } f;
	};
	uint32_t nnan, npinf, nninf, pad;
};
_Static_assert(sizeof(struct runsum) == 32, "running sum layout");

/* A partition: what an event reads first (48 bytes), its running sums right after (an
 * i64 sum ends the same 64-byte line: partitions are line aligned), then the rest
 * (struct pcold) and its inline entries. */
struct part {
	int64_t tmax;               /* newest time the partition has held (its purge time) */
	int64_t tlow;               /* at most the time of entry head (INT64_MAX: no entry) */
	uint8_t *buf;               /* entries [head, n) of cap, by (t, arrival) */
	uint32_t head, n, cap;
	uint32_t rlo;               /* [rlo, n): the entries within size of the newest one */
	uint32_t dep;               /* checkpoint interval it changed in (0: unchanged) */
	uint16_t flags;
	uint8_t cls;                /* size class of buf, or CLS_INLINE */
	uint8_t pad;
	struct runsum run[];
};
_Static_assert(sizeof(struct part) == 48, "partition header layout");

struct pcold {                      /* at cold_off in the partition */
	uint64_t key;
	uint32_t next;              /* free list; while restoring: the entry count record 0 gives */
	uint32_t pck;               /* its records the store holds once the pending deltas are in */
	uint32_t rcv;               /* while restoring: entries received */
	uint32_t chk;               /* buf's chunk (NO_CHUNK: malloc'd) */
	uint32_t self;              /* its index */
	uint32_t pad;
};

struct tent {                       /* open addressing, linear probing */
	uint64_t key;
	struct part *p;             /* NULL: empty */
};

struct hnode {                      /* purge heap: a partition by its newest time */
	int64_t time;
	uint32_t part;
	uint32_t pad;
};

/* HAVING, compiled (weir_over_set_having_prog): its top-level AND operands, each of
 * which must hold.  A conjunct that reads nothing but the event (its CUR values, key,
 * times) and the count is "pre": it is tried before the result is built, so a result it
 * rejects costs no more than the check.  "simple" ones (operand CMP constant) are
 * compared in place; the others run as programs. */
#define MAX_CONJ 16
enum { HS_SLOT, HS_KEY, HS_TIME, HS_END, HS_COUNT };

enum { HK_PROG, HK_INT, HK_F64 };

struct hconj {
	uint8_t kind;               /* HK_INT, HK_F64: operand CMP constant; HK_PROG: a program */
	uint8_t src;                /* HS_*, the operand */
	uint8_t slot;               /* HS_SLOT: aggregate index (pre: the CUR's field in v[]) */
	uint8_t cmp;                /* HK_F64: the comparison, the operand on the left */
	bool neg;                   /* HK_INT: holds iff ((x ^ flip) - lo <= span) != neg */
	uint64_t flip, lo, span;
	uint64_t k;                 /* HK_F64: the constant */
	struct weir_expr e;         /* the conjunct's program */
};

struct weir_over {
	uint8_t kind;               /* WEIR_WIN_OVER or WEIR_WIN_SELECT */
	uint16_t qidx;
	int64_t size, lateness;
	int64_t wm;
	int64_t late_below;         /* e is late iff e.t < late_below (wm - lateness) */
	int64_t evict_below;        /* entries below it are in no future range (wm - lateness - size) */
	int naggs;
	struct aggop agg[WEIR_MAX_AGGS];
	int nrun;
	struct runop run[WEIR_MAX_AGGS];
	bool irun;                  /* some running sum is an integer one */
	uint8_t run1;               /* the type of the only running sum; 0xff: none or several */
	int ncol;
	uint8_t col_field[MAX_COLS];
	uint32_t esz;               /* bytes per entry: t, then ncol values */
	uint32_t per_rec;           /* entries per checkpoint record */
	uint32_t layout;            /* checks a restored record against this query's layout */
	size_t stride;              /* bytes per partition (a multiple of 64) */
	size_t cold_off;            /* where its struct pcold is */
	size_t inl_off;             /* where its inline entries start */
	uint32_t inl_cap;           /* how many fit there (0: none) */
	bool latency;
	uint8_t lat_field;

	/* partitions: block 0 holds indices [0, 1024), block b > 0 [1024 << (b - 1),
	 * 1024 << b) (growth allocates one block, as large as those before it, never
	 * copies: no stall when the key space grows, and inline entries stay put) */
	uint8_t *pblk[NPBLK];       /* (64-byte aligned in what praw holds) */
	void *praw[NPBLK];
	uint32_t nblk;
	uint32_t nparts;
	uint32_t free_head;
	uint64_t live;

	/* key -> partition */
	struct tent *tab;
	void *tab_raw;
	uint32_t mask, used;

	struct vec heap;            /* struct hnode, min-heap on time */

	/* entry buffers (see buf_get): chunks with buddy free lists, and free lists of
	 * the malloc'd classes kept for reuse up to a bound */
	uint32_t unit;              /* bytes of class 0 */
	int kmax;                   /* the largest chunk order */
	int cmax;                   /* classes up to cmax come from chunks */
	struct fblk *freel[NCLASS];
	struct chunk *chk;
	uint32_t nchk, capchk, chk_free;
	uint32_t nchunk;            /* chunks held */
	uint32_t spare;             /* a free chunk kept (NO_CHUNK: none) */
	uint64_t chunk_bytes, chunk_used;
	uint8_t *pool[NCLASS];
	uint64_t pool_bytes, buf_bytes;
	struct weir_arena arena;    /* large blocks, populated ahead (weir_over_set_headroom) */

	/* checkpoints (ckdelta.h): the partitions changed since the barrier, the record
	 * keys deleted (sub: the record number), the delta being written */
	struct ck_delta ck;
	bool restoring;             /* records restored, weir_over_restore_wm not yet called */

	weir_emit_fn emit;
	void *ctx;
	weir_having_fn having;
	void *hctx;
	const struct weir_query_cfg *hq;    /* compiled HAVING: hq's program, as conjuncts */
	int npre, npost;
	bool pre_fast;              /* pre[0] compares a CUR value with an integer constant */
	int64_t tsize;              /* a result's start is e.t - tsize */
	struct hconj pre[MAX_CONJ], post[MAX_CONJ];
	struct weir_op_stats st;
	uint64_t res_buf[(sizeof(struct weir_result) + 8 * (WEIR_MAX_AGGS + 2)) / 8];
};

/* ---- small helpers ------------------------------------------------------------------ */

static inline unsigned
pblk_of(uint32_t i)
{
	uint32_t j = i >> PBLK_SHIFT;
	return j ? 32u - (unsigned)__builtin_clz(j) : 0;
}

static inline uint32_t
pblk_first(unsigned b)                  /* the first index of block b */
{
	return b ? (UINT32_C(1) << PBLK_SHIFT) << (b - 1) : 0;
}

static inline size_t
pblk_bytes(const struct weir_over *ov, unsigned b)
{
	return ((size_t)1 << PBLK_SHIFT << (b ? b - 1 : 0)) * ov->stride;
}

static inline struct part *
P(const struct weir_over *ov, uint32_t i)
{
	unsigned b = pblk_of(i);
	return (struct part *)(ov->pblk[b] + (size_t)(i - pblk_first(b)) * ov->stride);
}

/* bytes of memory, 64-byte aligned (*raw: what mem_free takes).  With an arena
 * (weir_over_set_headroom) from ARENA_MIN on from the arena, whose pages are populated
 * ahead; otherwise, or when it is full, from 2 MiB on mapped apart, 2 MiB aligned,
 * huge pages advised (a large state: fewer page faults and TLB misses).  NULL if there
 * is none. */
static uint8_t *
mem_alloc(struct weir_over *ov, size_t bytes, void **raw)
{
	uint8_t *b;

	if (bytes >= ARENA_MIN && (b = weir_arena_alloc(&ov->arena, bytes))) {
		*raw = b;
		return b;
	}
	if (bytes < BIG_ALIGN) {
		uint8_t *m = malloc(bytes + 63);
		*raw = m;
		return m ? (uint8_t *)(((uintptr_t)m + 63) & ~(uintptr_t)63) : NULL;
	}
	*raw = weir_map_huge(bytes, 0);
	return *raw;
}

static void
mem_free(struct weir_over *ov, void *raw, size_t bytes)
{
	if (raw && weir_arena_owns(&ov->arena, raw))
		weir_arena_free(&ov->arena, raw, bytes);
	else if (bytes < BIG_ALIGN)
		free(raw);
	else if (raw)
		munmap(raw, bytes);
}

static inline struct pcold *
PC(const struct weir_over *ov, const struct part *p)
{
	return (struct pcold *)((uint8_t *)p + ov->cold_off);
}

static inline uint64_t *
ENT(const struct weir_over *ov, const struct part *p, uint32_t i)
{
	return (uint64_t *)(p->buf + (size_t)i * ov->esz);
}

static inline int64_t
T(const struct weir_over *ov, const struct part *p, uint32_t i)
{
	return (int64_t)ENT(ov, p, i)[0];
}

static inline uint64_t
hash_key(uint64_t key)
{
	uint64_t h = key * UINT64_C(0x9e3779b97f4a7c15);
	h ^= h >> 32;
	h *= UINT64_C(0xd6e8feb86659fd93);
	h ^= h >> 32;
	return h;
}

static inline int64_t
sat_sub(int64_t a, int64_t b)       /* b >= 0 */
{
	int64_t r;
	return __builtin_sub_overflow(a, b, &r) ? INT64_MIN : r;
}

static inline double u2d(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static inline uint64_t d2u(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

#define EXP_MASK UINT64_C(0x7ff0000000000000)

static inline bool
is_nan(uint64_t x)
{
	return (x & ~(UINT64_C(1) << 63)) > EXP_MASK;
}

static inline bool
is_finite(uint64_t x)
{
	return (x & EXP_MASK) != EXP_MASK;
}

/* Non-NaN doubles in the order of their values, -0 below +0. */
static inline int64_t
f64_order(uint64_t x)
{
	int64_t k = (int64_t)x;
	return k < 0 ? k ^ INT64_MAX : k;
}

/* ---- running sums --------------------------------------------------------------------- */

static inline void
fsum_add(struct runsum *r, double x)
{
	double s = r->f.s + x, bp = s - r->f.s;         /* two-sum: s + err == old s + x exactly */
	r->f.c += (r->f.s - (s - bp)) + (x - bp);
	r->f.s = s;
}

/* Add (dir 1) or take off (dir -1) the f64 whose bits are x. */
static inline void
fsum_step(struct runsum *r, uint64_t x, int dir)
{
	if (__builtin_expect(!is_finite(x), 0)) {
		uint32_t *n = is_nan(x) ? &r->nnan : x >> 63 ? &r->nninf : &r->npinf;
		*n += (uint32_t)dir;
		return;
	}
	fsum_add(r, dir > 0 ? u2d(x) : -u2d(x));
}

static inline __attribute__((always_inline)) void
run_add(const struct weir_over *ov, struct runsum *rs, const uint64_t *ent)
{
	if (ov->run1 == WEIR_F_I64) {           /* the common case: one i64 sum */
		rs[0].i += (int64_t)ent[1 + ov->run[0].col];
		return;
	}
	for (int j = 0; j < ov->nrun; j++) {
		uint64_t x = ent[1 + ov->run[j].col];
		switch (ov->run[j].type) {
		case WEIR_F_I64: rs[j].i += (int64_t)x; break;
		case WEIR_F_U64: rs[j].i += x; break;
		default:         fsum_step(&rs[j], x, 1); break;
		}
	}
}

static inline __attribute__((always_inline)) void
run_sub(const struct weir_over *ov, struct runsum *rs, const uint64_t *ent)
{
	if (ov->run1 == WEIR_F_I64) {
		rs[0].i -= (int64_t)ent[1 + ov->run[0].col];
		return;
	}
	for (int j = 0; j < ov->nrun; j++) {
		uint64_t x = ent[1 + ov->run[j].col];
		switch (ov->run[j].type) {
		case WEIR_F_I64: rs[j].i -= (int64_t)x; break;
		case WEIR_F_U64: rs[j].i -= x; break;
		default:         fsum_step(&rs[j], x, -1); break;
		}
	}
}

/* ---- entry buffers ---------------------------------------------------------------------- */

/* A buffer of class c holds 4 << c entries: unit << c bytes.  Classes up to cmax come
 * from chunks by buddy allocation: a chunk of order k is unit << k bytes; a free block
 * of order o starts at a multiple of 1 << o units of its chunk and merges with its
 * free buddy when freed, so the blocks partitions leave as they grow serve the next
 * ones to grow, without a malloc or free per growth.  A new chunk is at least as large
 * as those held so far, up to about 2 MiB (mem_alloc).  A chunk that becomes free is returned, but for one kept
 * while other chunks are in use.  Larger buffers are malloc'd and kept for reuse on
 * per-class free lists up to a bound (pool_trim). */
#define CH_KMIN 6
#define NO_CHUNK UINT32_MAX

struct fblk {                       /* the first bytes of a free block */
	struct fblk *next, *prev;
	uint32_t chunk;
};

struct chunk {
	void *raw;                  /* (mem_alloc; NULL: this slot is unused) */
	uint8_t *base;              /* the blocks */
	uint8_t *ord;               /* per unit: 1 + order of the free block that starts there, else 0 */
	uint32_t next;              /* free slot list */
	uint8_t kord;
};

static inline size_t
cls_bytes(const struct weir_over *ov, unsigned c)
{
	return (size_t)ov->unit << c;
}

static inline size_t
chunk_size(const struct weir_over *ov, unsigned k)
{
	return ((size_t)ov->unit << k) + ((size_t)1 << k);     /* blocks and order map */
}

static inline void
fl_push(struct weir_over *ov, unsigned o, uint8_t *b, uint32_t ch)
{
	struct fblk *f = (struct fblk *)b;

	f->next = ov->freel[o];
	f->prev = NULL;
	f->chunk = ch;
	if (f->next)
		f->next->prev = f;
	ov->freel[o] = f;
	ov->chk[ch].ord[(size_t)(b - ov->chk[ch].base) / ov->unit] = (uint8_t)(o + 1);
}

static inline void
fl_del(struct weir_over *ov, unsigned o, struct fblk *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		ov->freel[o] = f->next;
	if (f->next)
		f->next->prev = f->prev;
	ov->chk[f->chunk].ord[(size_t)((uint8_t *)f - ov->chk[f->chunk].base) / ov->unit] = 0;
}

/* A new chunk of order k, all allocated to the caller (who frees what it does not
 * need); its index, or NO_CHUNK. */
static uint32_t
chunk_new(struct weir_over *ov, unsigned k)
{
	uint32_t i;
	size_t bytes = (size_t)ov->unit << k;

	if (ov->chk_free != NO_CHUNK) {
		i = ov->chk_free;
	} else {
		if (ov->nchk == ov->capchk) {
			uint32_t cap = ov->capchk ? 2 * ov->capchk : 16;
			struct chunk *a = realloc(ov->chk, cap * sizeof(*a));
			if (!a)
				return NO_CHUNK;
			ov->chk = a;
			ov->capchk = cap;
		}
		i = ov->nchk;
	}
	struct chunk *c = &ov->chk[i];
	void *raw = NULL;
	uint8_t *ord = calloc((size_t)1 << k, 1), *base = ord ? mem_alloc(ov, bytes, &raw) : NULL;
	if (!base) {
		free(ord);
		return NO_CHUNK;
	}
	if (i == ov->nchk)
		ov->nchk++;
	else
		ov->chk_free = c->next;
	c->raw = raw;
	c->base = base;
	c->ord = ord;
	c->next = NO_CHUNK;
	c->kord = (uint8_t)k;
	ov->chunk_bytes += chunk_size(ov, k);
	ov->nchunk++;
	return i;
}

static void
chunk_free(struct weir_over *ov, uint32_t i)
{
	struct chunk *c = &ov->chk[i];

	mem_free(ov, c->raw, (size_t)ov->unit << c->kord);
	free(c->ord);
	c->raw = NULL;
	c->next = ov->chk_free;
	ov->chk_free = i;
	ov->nchunk--;
	ov->chunk_bytes -= chunk_size(ov, c->kord);
}

/* A buffer of class c (*ch: its chunk, or NO_CHUNK), NULL if there is none. */
static uint8_t *
buf_get(struct weir_over *ov, unsigned c, uint32_t *ch)
{
	uint8_t *b;
	size_t sz = cls_bytes(ov, c);
	uint32_t k;
	unsigned o = c;

	if ((int)c > ov->cmax) {
		*ch = NO_CHUNK;
		if ((b = ov->pool[c])) {
			memcpy(&ov->pool[c], b, sizeof(b));
			ov->pool_bytes -= sz;
		} else if (!(b = malloc(sz))) {
			return NULL;
		}
		ov->buf_bytes += sz;
		return b;
	}
	while (o <= (unsigned)ov->kmax && !ov->freel[o])
		o++;
	if (o <= (unsigned)ov->kmax) {
		struct fblk *f = ov->freel[o];
		k = f->chunk;
		fl_del(ov, o, f);
		if (k == ov->spare)
			ov->spare = NO_CHUNK;   /* (the spare is the only free whole chunk) */
		b = (uint8_t *)f;
	} else {
		/* a new chunk, as large as those held (the state doubles), up to kmax */
		o = c > CH_KMIN ? c : CH_KMIN;
		while (o < (unsigned)ov->kmax && chunk_size(ov, o) < ov->chunk_bytes)
			o++;
		if ((k = chunk_new(ov, o)) == NO_CHUNK)
			return NULL;
		b = ov->chk[k].base;
	}
	while (o > c) {                 /* split: the upper halves go free */
		o--;
		fl_push(ov, o, b + ((size_t)ov->unit << o), k);
	}
	ov->buf_bytes += sz;
	ov->chunk_used += sz;
	*ch = k;
	return b;
}

/* Give back buffer b of class c from chunk ch. */
static void
buf_put(struct weir_over *ov, uint8_t *b, unsigned c, uint32_t ch)
{
	if (!b || c == CLS_INLINE)
		return;
	size_t sz = cls_bytes(ov, c);

	ov->buf_bytes -= sz;
	if (ch == NO_CHUNK) {
		memcpy(b, &ov->pool[c], sizeof(b));
		ov->pool[c] = b;
		ov->pool_bytes += sz;
		return;
	}
	struct chunk *k = &ov->chk[ch];
	size_t u = (size_t)(b - k->base) / ov->unit;
	unsigned o = c;

	ov->chunk_used -= sz;
	while (o < k->kord) {           /* merge with the free buddy */
		size_t bu = u ^ ((size_t)1 << o);
		if (k->ord[bu] != o + 1)
			break;
		fl_del(ov, o, (struct fblk *)(k->base + bu * ov->unit));
		u &= ~((size_t)1 << o);
		o++;
	}
	if (o == k->kord) {             /* the chunk is free */
		uint32_t sp = ov->spare;
		if (ov->nchunk - (sp != NO_CHUNK) == 1) {
			/* no other chunk in use: this one goes, and the spare */
			chunk_free(ov, ch);
			if (sp != NO_CHUNK) {
				fl_del(ov, ov->chk[sp].kord, (struct fblk *)ov->chk[sp].base);
				chunk_free(ov, sp);
			}
			ov->spare = NO_CHUNK;
			return;
		}
		if (sp != NO_CHUNK) {   /* one spare is enough: the larger stays */
			if (ov->chk[sp].kord >= k->kord) {
				chunk_free(ov, ch);
				return;
			}
			fl_del(ov, ov->chk[sp].kord, (struct fblk *)ov->chk[sp].base);
			chunk_free(ov, sp);
		}
		ov->spare = ch;
	}
	fl_push(ov, o, k->base + u * ov->unit, ch);
}

/* Keep at most a quarter of the live buffers' bytes (and 256 KiB) for reuse (the
 * malloc'd classes; a chunk's free blocks stay in it). */
static void
pool_trim(struct weir_over *ov)
{
	uint64_t bound = ov->buf_bytes / 4 + (256u << 10);

	for (int c = NCLASS - 1; c > ov->cmax && ov->pool_bytes > bound; c--) {
		while (ov->pool[c] && ov->pool_bytes > bound) {
			uint8_t *b = ov->pool[c];
			memcpy(&ov->pool[c], b, sizeof(b));
			ov->pool_bytes -= cls_bytes(ov, (unsigned)c);
			free(b);
		}
	}
}

/* Move p's entries to a buffer of class c (at least as large as the live ones need),
 * from index 0.  -1 if there is none. */
static int
buf_move(struct weir_over *ov, struct part *p, unsigned c)
{
	uint32_t ch;
	uint8_t *b = buf_get(ov, c, &ch);
	uint32_t live = p->n - p->head;

	if (!b)
		return -1;
	if (live)
		memcpy(b, p->buf + (size_t)p->head * ov->esz, (size_t)live * ov->esz);
	buf_put(ov, p->buf, p->cls, PC(ov, p)->chk);
	p->buf = b;
	PC(ov, p)->chk = ch;
	p->cls = (uint8_t)c;
	p->cap = 4u << c;
	p->rlo -= p->head;
	p->n = live;
	p->head = 0;
	return 0;
}

/* Room for one more entry at the end: slide the entries to the front if half the
 * buffer is free there, else double it. */
static int
buf_room(struct weir_over *ov, struct part *p)
{
	if (!p->buf)
		return buf_move(ov, p, 0);
	if (p->head >= p->cap / 2) {
		uint32_t live = p->n - p->head;
		memmove(p->buf, p->buf + (size_t)p->head * ov->esz, (size_t)live * ov->esz);
		p->rlo -= p->head;
		p->n = live;
		p->head = 0;
		return 0;
	}
	unsigned c = 0;
	if (p->cls != CLS_INLINE)
		c = p->cls + 1u;
	else
		while ((4u << c) <= p->cap)
			c++;
	if (c >= NCLASS)
		return -1;
	return buf_move(ov, p, c);
}

/* ---- checkpoint records ------------------------------------------------------------------- */

#define HDR_LEN 24u     /* record 0: u16 esz, u16 nrun, u32 entries, u32 rlo, u32 layout, i64 tmax,
			 * then the running sums; records 1..: u32 index of their first entry, entries */
#define ENT_HDR 4u

static inline uint32_t
nrec(const struct weir_over *ov, const struct part *p)
{
	return 1 + (p->n - p->head + ov->per_rec - 1) / ov->per_rec;
}

/* Write partition pi as it stands: record 0, then its entries; returns the records
 * written. */
static uint32_t
ck_put(void *ctx, uint32_t pi)
{
	struct weir_over *ov = ctx;
	struct part *p = P(ov, pi);
	uint32_t cnt = p->n - p->head, rlo = p->rlo - p->head, m = nrec(ov, p);
	uint16_t esz = (uint16_t)ov->esz, nrun = (uint16_t)ov->nrun;
	uint8_t *k = sp_rec_put(ov->ck.w, SP_REC_PUT, CK_KEY_LEN, HDR_LEN + 32u * (unsigned)ov->nrun), *v;

	ck_state_key(k, ov->qidx, PC(ov, p)->key, 0);
	v = k + CK_KEY_LEN;
	memcpy(v, &esz, 2);
	memcpy(v + 2, &nrun, 2);
	memcpy(v + 4, &cnt, 4);
	memcpy(v + 8, &rlo, 4);
	memcpy(v + 12, &ov->layout, 4);
	memcpy(v + 16, &p->tmax, 8);
	memcpy(v + HDR_LEN, p->run, 32u * (unsigned)ov->nrun);
	for (uint32_t r = 1; r < m; r++) {
		uint32_t from = (r - 1) * ov->per_rec, c = cnt - from < ov->per_rec ? cnt - from : ov->per_rec;
		k = sp_rec_put(ov->ck.w, SP_REC_PUT, CK_KEY_LEN, ENT_HDR + c * ov->esz);
		ck_state_key(k, ov->qidx, PC(ov, p)->key, r);
		memcpy(k + CK_KEY_LEN, &from, 4);
		memcpy(k + CK_KEY_LEN + ENT_HDR, ENT(ov, p, p->head + from), (size_t)c * ov->esz);
	}
	/* (p never has more records than the store holds for it: ck_shrunk) */
	PC(ov, p)->pck = m;
	return m;
}

static uint32_t *
ck_unit(void *ctx, uint32_t pi, bool *live)
{
	struct part *p = P(ctx, pi);

	*live = p->flags & P_LIVE;
	return &p->dep;
}

/* (a step's budget counts records, tombstones too) */
static const struct ck_ops ck_ops = { ck_unit, ck_put, true };

static __attribute__((noinline)) void
ck_touch_slow(struct weir_over *ov, uint32_t pi)
{
	ck_cow(&ov->ck, ov->qidx, pi, &ck_ops, ov);
}

/* Partition pi is about to change (or go). */
static inline __attribute__((always_inline)) void
ck_touch(struct weir_over *ov, uint32_t pi)
{
	if (P(ov, pi)->dep != ov->ck.cur)
		ck_touch_slow(ov, pi);
}

/* p now needs fewer records than the store holds for it: delete the rest. */
static void
ck_shrunk(struct weir_over *ov, struct part *p, uint32_t m)
{
	struct pcold *pc = PC(ov, p);

	while (pc->pck > m) {
		pc->pck--;
		ck_forgotten(&ov->ck, pc->key, (int64_t)pc->pck);
	}
}

/* ---- partitions and table ------------------------------------------------------------------ */

static uint32_t
part_alloc(struct weir_over *ov)
{
	uint32_t i;
	struct part *p;

	if (ov->free_head != NIL) {
		i = ov->free_head;
		ov->free_head = PC(ov, P(ov, i))->next;
	} else {
		if (ov->nparts == pblk_first(ov->nblk)) {
			if (ov->nblk == NPBLK - 1 || ov->nparts == NIL)
				return NIL;
			if (!(ov->pblk[ov->nblk] = mem_alloc(ov, pblk_bytes(ov, ov->nblk), &ov->praw[ov->nblk])))
				return NIL;
			ov->nblk++;
		}
		i = ov->nparts++;
	}
	p = P(ov, i);
	memset(p, 0, ov->inl_off);
	p->tlow = INT64_MAX;
	if (ov->inl_cap) {
		p->buf = (uint8_t *)p + ov->inl_off;
		p->cap = ov->inl_cap;
		p->cls = CLS_INLINE;
	}
	PC(ov, p)->chk = NO_CHUNK;
	PC(ov, p)->self = i;
	p->flags = P_LIVE;
	PC(ov, p)->next = NIL;
	p->dep = ov->ck.cur;            /* new since the barrier: never part of its delta */
	if (ov->ck.track)
		ck_changed(&ov->ck, i);
	ov->live++;
	return i;
}

static inline uint32_t
tab_find(const struct weir_over *ov, uint64_t key, uint64_t h)
{
	uint32_t i = (uint32_t)h & ov->mask;

	for (;; i = (i + 1) & ov->mask) {
		const struct tent *e = &ov->tab[i];
		if (!e->p || e->key == key)
			return i;
	}
}

/* A table of n entries, all empty (*raw: for mem_free). */
static struct tent *
tab_alloc(struct weir_over *ov, size_t n, void **raw)
{
	struct tent *t = (struct tent *)mem_alloc(ov, n * sizeof(*t), raw);

	if (t && (n * sizeof(*t) < BIG_ALIGN || weir_arena_owns(&ov->arena, t)))
		memset(t, 0, n * sizeof(*t));   /* (freshly mapped memory is zeros) */
	return t;
}

static void
tab_grow(struct weir_over *ov)
{
	uint32_t ncap = (ov->mask + 1) * 2, omask = ov->mask;
	void *oraw = ov->tab_raw, *nraw;
	struct tent *old = ov->tab, *nt = tab_alloc(ov, ncap, &nraw);

	if (!nt)
		return;                 /* stays fuller: still correct (one entry is kept empty) */
	ov->tab = nt;
	ov->tab_raw = nraw;
	ov->mask = ncap - 1;
	for (uint32_t i = 0; i <= omask; i++) {
		if (!old[i].p)
			continue;
		uint32_t j = (uint32_t)hash_key(old[i].key) & ov->mask;
		while (nt[j].p)
			j = (j + 1) & ov->mask;
		nt[j] = old[i];
	}
	mem_free(ov, oraw, (size_t)(omask + 1) * sizeof(*old));
}

/* Insert partition p at the empty position pos found for its key. */
static void
tab_put(struct weir_over *ov, uint32_t pos, struct part *p, uint64_t key)
{
	ov->tab[pos] = (struct tent){ key, p };
	if (++ov->used * 2 > ov->mask + 1)      /* (at most half full: short probes) */
		tab_grow(ov);
}

/* Remove the entry at i (backward-shift deletion keeps probe chains intact). */
static void
tab_del(struct weir_over *ov, uint32_t i)
{
	uint32_t j = i;

	for (;;) {
		j = (j + 1) & ov->mask;
		if (!ov->tab[j].p)
			break;
		uint32_t home = (uint32_t)hash_key(ov->tab[j].key) & ov->mask;
		if (((j - home) & ov->mask) >= ((j - i) & ov->mask)) {
			ov->tab[i] = ov->tab[j];
			i = j;
		}
	}
	ov->tab[i].p = NULL;
	ov->used--;
}

/* (inline: over_event's path for a new partition) */
static inline int
heap_push(struct weir_over *ov, int64_t time, uint32_t pi)
{
	struct hnode x = { time, pi, 0 }, *hp;
	uint32_t i;

	if (vec_push(&ov->heap, &x, sizeof(x)))
		return -1;
	hp = ov->heap.a;
	for (i = ov->heap.n - 1; i > 0; ) {
		uint32_t up = (i - 1) / 2;
		if (hp[up].time <= time)
			break;
		hp[i] = hp[up];
		i = up;
	}
	hp[i] = x;
	return 0;
}

/* Take the top off and put x in its place (the heap's last node when popping). */
static void
heap_sift(struct weir_over *ov, struct hnode x)
{
	struct hnode *hp = ov->heap.a;
	uint32_t i = 0, n = ov->heap.n;

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
}

/* Free partition pi (it is in the table unless it is being restored or was never
 * entered); its records in the store are deleted. */
static void
part_free(struct weir_over *ov, uint32_t pi, bool in_table)
{
	struct part *p = P(ov, pi);

	if (ov->ck.track) {
		ck_touch(ov, pi);
		ck_shrunk(ov, p, 0);
	}
	if (in_table)
		tab_del(ov, tab_find(ov, PC(ov, p)->key, hash_key(PC(ov, p)->key)));
	buf_put(ov, p->buf, p->cls, PC(ov, p)->chk);
	p->buf = NULL;
	p->flags = 0;
	p->dep = 0;
	PC(ov, p)->next = ov->free_head;
	ov->free_head = pi;
	ov->live--;
}

/* Drop entries that no future event's range can hold. */
static void
part_trim(struct weir_over *ov, struct part *p)
{
	uint32_t i = p->head;

	while (i < p->n && T(ov, p, i) < ov->evict_below) {
		if (i == p->rlo) {
			run_sub(ov, p->run, ENT(ov, p, i));
			p->rlo++;
		}
		i++;
	}
	p->head = i;
	if (p->rlo == p->n)             /* the running range is empty: exact zeros again */
		memset(p->run, 0, 32u * (unsigned)ov->nrun);
	if (i == p->n)
		p->head = p->n = p->rlo = 0;
	p->tlow = p->head < p->n ? T(ov, p, p->head) : INT64_MAX;
	if (ov->ck.track)
		ck_shrunk(ov, p, nrec(ov, p));
}

/* The running range of p moves on to start at from: its first entry, and any after it
 * below from, leave its sums. */
static __attribute__((noinline)) void
range_advance(const struct weir_over *ov, struct part *p, int64_t from)
{
	uint32_t i = p->rlo;

	do {
		run_sub(ov, p->run, ENT(ov, p, i));
		i++;
	} while (i < p->n && T(ov, p, i) < from);
	p->rlo = i;
	if (i == p->n)
		memset(p->run, 0, 32u * (unsigned)ov->nrun);
}

/* ---- results ---------------------------------------------------------------------------------- */

/* ---- HAVING ---------------------------------------------------------------------------------- */

/* Does operand value a pass simple conjunct c (as expr.c compares: NaN unordered)?
 * Integer comparisons are one unsigned range test on a ^ flip (the sign bit flipped
 * for i64: its order becomes the unsigned one). */
static inline bool
hc_cmp(const struct hconj *c, uint64_t a)
{
	if (__builtin_expect(c->kind == HK_INT, 1))
		return (((a ^ c->flip) - c->lo) <= c->span) != c->neg;
	double x = u2d(a), y = u2d(c->k);
	switch (c->cmp) {
	case WEIR_X_EQ: return x == y;
	case WEIR_X_NE: return !(x == y);
	case WEIR_X_LT: return x < y;
	case WEIR_X_LE: return x <= y;
	case WEIR_X_GT: return x > y;
	default:        return x >= y;
	}
}

/* The inputs of a pre conjunct's program: the CUR slots and the count (the others are
 * never read). */
static __attribute__((noinline)) bool
pre_prog(const struct weir_over *ov, const struct hconj *c, const struct weir_ev *e, uint64_t count)
{
	uint64_t slots[WEIR_MAX_AGGS];
	struct weir_xin in = { slots, e->key, e->t - ov->tsize, e->t, count, 0 };

	for (int a = 0; a < ov->naggs; a++)
		slots[a] = ov->agg[a].code == A_CUR ? e->v[ov->agg[a].field] : ov->agg[a].code == A_COUNT ? count : 0;
	return weir_expr_holds(ov->hq->code, &c->e, &in);
}

/* A pre conjunct other than an integer comparison of a CUR value. */
static __attribute__((noinline)) bool
pre_slow(const struct weir_over *ov, const struct hconj *c, const struct weir_ev *e, uint64_t count)
{
	uint64_t x;

	switch (c->kind == HK_PROG ? 0xff : c->src) {
	case HS_SLOT:  x = e->v[c->slot]; break;
	case HS_KEY:   x = e->key; break;
	case HS_TIME:  x = (uint64_t)(e->t - ov->tsize); break;
	case HS_END:   x = (uint64_t)e->t; break;
	case HS_COUNT: x = count; break;
	default:       return pre_prog(ov, c, e, count);
	}
	return hc_cmp(c, x);
}

/* Do pre conjuncts [i, npre) hold for event e, whose range holds count entries? */
static __attribute__((noinline)) bool
pre_rest(const struct weir_over *ov, const struct weir_ev *e, uint64_t count, int i)
{
	for (const struct hconj *c = ov->pre + i, *end = ov->pre + ov->npre; c < end; c++) {
		if (c->kind == HK_INT && c->src == HS_SLOT) {
			uint64_t x = e->v[c->slot] ^ c->flip;
			if (((x - c->lo) <= c->span) == c->neg)
				return false;
		} else if (!pre_slow(ov, c, e, count)) {
			return false;
		}
	}
	return true;
}

/* Do the pre conjuncts hold?  (pre_fast: the first is an integer comparison of a CUR
 * value, the common filter, tried in place.) */
static inline bool
pre_holds(const struct weir_over *ov, const struct weir_ev *e, uint64_t count)
{
	if (__builtin_expect(ov->pre_fast, 1)) {
		const struct hconj *c = &ov->pre[0];
		if ((((e->v[c->slot] ^ c->flip) - c->lo) <= c->span) == c->neg)
			return false;
		return ov->npre == 1 || pre_rest(ov, e, count, 1);
	}
	return pre_rest(ov, e, count, 0);
}

/* Do the other conjuncts hold for result r? */
static bool
post_holds(const struct weir_over *ov, const struct weir_result *r)
{
	uint64_t slots[WEIR_MAX_AGGS];
	struct weir_xin in;
	bool built = false;

	for (int i = 0; i < ov->npost; i++) {
		const struct hconj *c = &ov->post[i];
		uint64_t x;
		if (c->kind == HK_PROG) {
			if (!built)
				weir_result_xin(ov->hq, r, slots, &in);
			built = true;
			if (!weir_expr_holds(ov->hq->code, &c->e, &in))
				return false;
			continue;
		}
		switch (c->src) {
		case HS_SLOT:
			if (r->null_mask >> c->slot & 1)
				return false;   /* NULL: the comparison is NULL */
			x = r->val[c->slot];
			break;
		case HS_KEY:   x = r->key; break;
		case HS_TIME:  x = (uint64_t)r->start; break;
		case HS_END:   x = (uint64_t)r->end; break;
		default:       x = r->count; break;
		}
		if (!hc_cmp(c, x))
			return false;
	}
	return true;
}

/* The result a pre conjunct rejected, not built: only its stats.  Its null_mask would
 * have a bit iff an integer sum left its type (every integer running sum is some sum's
 * or avg's). */
static inline void
reject_early(struct weir_over *ov, const struct runsum *rs)
{
	if (ov->run1 == WEIR_F_I64 && rs) {
		if ((__int128)(int64_t)rs[0].i != rs[0].i)
			ov->st.sum_overflow++;
	} else if (ov->irun && rs) {
		for (int j = 0; j < ov->nrun; j++) {
			__int128 x = rs[j].i;
			if ((ov->run[j].type == WEIR_F_I64 && (__int128)(int64_t)x != x) ||
			    (ov->run[j].type == WEIR_F_U64 && (uint64_t)((unsigned __int128)x >> 64))) {
				ov->st.sum_overflow++;
				break;
			}
		}
	}
	ov->st.rejected++;
}

/* The first instruction of the operand that ends right before end (>= off): the
 * shortest well-formed program ending there (a shorter suffix of an operand underflows). */
static int
operand_start(const struct weir_insn *code, int off, int end)
{
	for (int j = end - 1; j >= off; j--) {
		struct weir_expr x = { (uint16_t)j, (uint16_t)(end - j), 0, false };
		if (weir_expr_check(code, &x, 64) >= 0)
			return j;
	}
	return -1;
}

/* Simple conjunct c: operand OP k (the operand on the left), compared as type. */
static void
conj_cmp(struct hconj *c, uint8_t op, uint8_t type, uint64_t k)
{
	if (type == WEIR_F_F64) {
		c->kind = HK_F64;
		c->cmp = op;
		c->k = k;
		return;
	}
	/* x OP k as an unsigned range [lo, lo + span] of x ^ flip, or its complement */
	uint64_t f = type == WEIR_F_I64 ? UINT64_C(1) << 63 : 0, kk = k ^ f, lo = 0, hi = UINT64_MAX;
	bool neg = false, none = false;
	switch (op) {
	case WEIR_X_EQ: lo = hi = kk; break;
	case WEIR_X_NE: lo = hi = kk; neg = true; break;
	case WEIR_X_LT: if (kk == 0) none = true; else hi = kk - 1; break;
	case WEIR_X_LE: hi = kk; break;
	case WEIR_X_GT: if (kk == UINT64_MAX) none = true; else lo = kk + 1; break;
	default:        lo = kk; break;
	}
	if (none) {                     /* never holds: the whole range, negated */
		lo = 0;
		hi = UINT64_MAX;
		neg = true;
	}
	c->kind = HK_INT;
	c->flip = f;
	c->lo = lo;
	c->span = hi - lo;
	c->neg = neg;
}

/* The conjunct code[off, off + len): into pre or post. */
static int
conj_add(struct weir_over *ov, const struct weir_query_cfg *q, int off, int len)
{
	static const uint8_t flip[] = { [WEIR_X_EQ] = WEIR_X_EQ, [WEIR_X_NE] = WEIR_X_NE, [WEIR_X_LT] = WEIR_X_GT,
					[WEIR_X_LE] = WEIR_X_GE, [WEIR_X_GT] = WEIR_X_LT, [WEIR_X_GE] = WEIR_X_LE };
	const struct weir_insn *x = q->code + off;
	struct hconj c = { .kind = HK_PROG, .e = { (uint16_t)off, (uint16_t)len, WEIR_F_I64, true } };
	bool pre = true;

	for (int i = 0; i < len; i++)
		if (x[i].op == WEIR_X_SLOT && ov->agg[x[i].arg].code != A_CUR && ov->agg[x[i].arg].code != A_COUNT)
			pre = false;    /* an aggregate the result must be built for */
	if (len == 3 && x[2].op >= WEIR_X_EQ && x[2].op <= WEIR_X_GE &&
	    (x[0].op == WEIR_X_CONST) != (x[1].op == WEIR_X_CONST)) {
		const struct weir_insn *ld = x[0].op == WEIR_X_CONST ? &x[1] : &x[0];
		bool simple = true;
		switch (ld->op) {
		case WEIR_X_SLOT:
			c.src = HS_SLOT;
			c.slot = (uint8_t)ld->arg;
			if (q->aggs[ld->arg].fn == WEIR_AGG_AVG)
				simple = false;         /* (its slot is the divided sum) */
			else if (pre && ov->agg[ld->arg].code == A_COUNT)
				c.src = HS_COUNT;
			else if (pre)
				c.slot = ov->agg[ld->arg].field;        /* pre: read e->v[] */
			break;
		case WEIR_X_KEY:   c.src = HS_KEY; break;
		case WEIR_X_TIME:  c.src = HS_TIME; break;
		case WEIR_X_END:   c.src = HS_END; break;
		case WEIR_X_COUNT: c.src = HS_COUNT; break;
		default:           simple = false; break;
		}
		if (simple)
			conj_cmp(&c, x[0].op == WEIR_X_CONST ? flip[x[2].op] : x[2].op, (uint8_t)x[2].arg,
				 (x[0].op == WEIR_X_CONST ? &x[0] : &x[1])->k);
	}
	if (pre ? ov->npre == MAX_CONJ : ov->npost == MAX_CONJ)
		return -1;
	if (pre)
		ov->pre[ov->npre++] = c;
	else
		ov->post[ov->npost++] = c;
	return 0;
}

/* Split code[off, off + len) at its top-level ANDs (a AND b holds iff both hold). */
static int
conj_split(struct weir_over *ov, const struct weir_query_cfg *q, int off, int len)
{
	if (len >= 3 && q->code[off + len - 1].op == WEIR_X_AND) {
		int rs = operand_start(q->code, off, off + len - 1);
		if (rs > off)
			return conj_split(ov, q, off, rs - off) || conj_split(ov, q, rs, off + len - 1 - rs) ? -1 : 0;
	}
	return conj_add(ov, q, off, len);
}

static void
emit_result(struct weir_over *ov, const struct weir_ev *e, struct weir_result *r)
{
	if (ov->latency)                /* after the aggregates: not part of the result proper */
		r->val[ov->naggs] = r->val[ov->naggs + 1] = e->v[ov->lat_field];
	if (r->null_mask)
		ov->st.sum_overflow++;
	if ((ov->npost && !post_holds(ov, r)) || (ov->having && !ov->having(ov->hctx, r))) {
		ov->st.rejected++;
		return;
	}
	ov->st.results++;
	ov->emit(ov->ctx, r);
}

/* Plain addition over entries [lo, hi] of column col: the f64 sum when the compensated
 * one has overflowed (values near DBL_MAX only). */
static double
fsum_plain(const struct weir_over *ov, const struct part *p, uint32_t lo, uint32_t hi, unsigned col)
{
	double s = 0;

	for (uint32_t i = lo; i <= hi; i++)
		s += u2d(ENT(ov, p, i)[1 + col]);
	return s;
}

/* Running f64 sum j of p has overflowed: add its range up afresh (it heals once the
 * huge values have left the range; until then every result scans). */
static __attribute__((noinline)) void
fsum_rebuild(const struct weir_over *ov, struct part *p, int j)
{
	struct runsum *r = &p->run[j];

	memset(r, 0, sizeof(*r));
	for (uint32_t i = p->rlo; i < p->n; i++)
		fsum_step(r, ENT(ov, p, i)[1 + ov->run[j].col], 1);
}

static uint64_t
scan_minmax(const struct weir_over *ov, const struct part *p, uint32_t lo, uint32_t hi, const struct aggop *g)
{
	uint64_t best = ENT(ov, p, lo)[1 + g->col];
	unsigned c = 1 + g->col;

	switch (g->code) {
	case A_MIN_I:
		for (uint32_t i = lo + 1; i <= hi; i++) {
			uint64_t x = ENT(ov, p, i)[c];
			if ((int64_t)x < (int64_t)best)
				best = x;
		}
		break;
	case A_MAX_I:
		for (uint32_t i = lo + 1; i <= hi; i++) {
			uint64_t x = ENT(ov, p, i)[c];
			if ((int64_t)x > (int64_t)best)
				best = x;
		}
		break;
	case A_MIN_U:
		for (uint32_t i = lo + 1; i <= hi; i++) {
			uint64_t x = ENT(ov, p, i)[c];
			if (x < best)
				best = x;
		}
		break;
	case A_MAX_U:
		for (uint32_t i = lo + 1; i <= hi; i++) {
			uint64_t x = ENT(ov, p, i)[c];
			if (x > best)
				best = x;
		}
		break;
	default: {                      /* f64: NaN skipped unless every value is one */
		bool max = g->code == A_MAX_F, have = !is_nan(best);
		for (uint32_t i = lo + 1; i <= hi; i++) {
			uint64_t x = ENT(ov, p, i)[c];
			if (is_nan(x))
				continue;
			if (!have || (max ? f64_order(x) > f64_order(best) : f64_order(x) < f64_order(best)))
				best = x;
			have = true;
		}
		break;
	}
	}
	return best;
}

/* An f64 sum with non-finite values, or whose running value overflowed. */
static __attribute__((noinline)) uint64_t
fsum_slow(const struct weir_over *ov, struct part *p, uint32_t lo, uint32_t hi, int j, const struct runsum *rs)
{
	const struct runsum *x = &rs[j];

	if (x->nnan || (x->npinf && x->nninf))
		return d2u(NAN);
	if (x->npinf)
		return d2u(INFINITY);
	if (x->nninf)
		return d2u(-INFINITY);
	if (rs == p->run) {
		fsum_rebuild(ov, p, j);
		if (is_finite(d2u(x->f.s)) && is_finite(d2u(x->f.c)))
			return d2u(x->f.s + x->f.c);
	}
	return d2u(fsum_plain(ov, p, lo, hi, ov->run[j].col));
}

/* The result of event e over entries [lo, hi] of p, whose sums are rs (p->run when
 * [lo, hi] is p's running range). */
static __attribute__((noinline)) void
over_result(struct weir_over *ov, const struct weir_ev *e, struct part *p, uint32_t lo, uint32_t hi,
	    const struct runsum *rs)
{
	struct weir_result *r = (struct weir_result *)ov->res_buf;
	uint64_t count = hi - lo + 1;

	r->null_mask = 0;
	r->key = e->key;
	r->start = e->t - ov->size;
	r->end = e->t;
	r->count = count;
	for (int a = 0; a < ov->naggs; a++) {
		const struct aggop *g = &ov->agg[a];
		const struct runsum *x;
		switch (g->code) {
		case A_COUNT:
			r->val[a] = count;
			break;
		case A_SUM_I:
			x = &rs[g->run];
			if (x->i < INT64_MIN || x->i > INT64_MAX)
				r->null_mask |= 1u << a;
			r->val[a] = (uint64_t)x->i;
			break;
		case A_SUM_U:
			x = &rs[g->run];
			if (x->i < 0 || x->i > (__int128)UINT64_MAX)
				r->null_mask |= 1u << a;
			r->val[a] = (uint64_t)x->i;
			break;
		case A_SUM_F:
			x = &rs[g->run];
			if (__builtin_expect(!(x->nnan | x->npinf | x->nninf) && is_finite(d2u(x->f.s)) &&
					     is_finite(d2u(x->f.c)), 1))
				r->val[a] = d2u(x->f.s + x->f.c);
			else
				r->val[a] = fsum_slow(ov, p, lo, hi, g->run, rs);
			break;
		case A_FIRST:
			r->val[a] = ENT(ov, p, lo)[1 + g->col];
			break;
		case A_CUR:
			r->val[a] = e->v[g->field];
			break;
		default:
			r->val[a] = scan_minmax(ov, p, lo, hi, g);
			break;
		}
	}
	emit_result(ov, e, r);
}

/* over_result, unless a pre conjunct of HAVING rejects it first. */
static inline __attribute__((always_inline)) void
over_out(struct weir_over *ov, const struct weir_ev *e, struct part *p, uint32_t lo, uint32_t hi,
	 const struct runsum *rs)
{
	if (ov->npre && !pre_holds(ov, e, hi - lo + 1))
		reject_early(ov, rs);
	else
		over_result(ov, e, p, lo, hi, rs);
}

/* SELECT: the event alone.  Nothing is ever late: there is no state an event could
 * come too late for (a late transaction above a threshold still alerts). */
static void
select_event(struct weir_over *ov, const struct weir_ev *e)
{
	struct weir_result *r = (struct weir_result *)ov->res_buf;

	if (ov->npre && !pre_holds(ov, e, 1)) {
		reject_early(ov, NULL);
		return;
	}
	r->null_mask = 0;
	r->key = e->key;
	r->start = r->end = e->t;
	r->count = 1;
	for (int a = 0; a < ov->naggs; a++)
		r->val[a] = ov->agg[a].code == A_COUNT ? 1 : e->v[ov->agg[a].field];
	emit_result(ov, e, r);
}

/* First index in [lo, hi) whose time is >= t (after: > t). */
static inline uint32_t
bsearch_t(const struct weir_over *ov, const struct part *p, uint32_t lo, uint32_t hi, int64_t t, bool after)
{
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int64_t x = T(ov, p, mid);
		if (x < t || (after && x == t))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Entries of p below the eviction bound may remain (p->tlow says so): drop them, or
 * learn the bound is exact. */
static __attribute__((noinline)) void
part_check(struct weir_over *ov, struct part *p)
{
	if (p->head < p->n && T(ov, p, p->head) < ov->evict_below)
		part_trim(ov, p);
	else
		p->tlow = p->head < p->n ? T(ov, p, p->head) : INT64_MAX;
}

static inline void
put_cols(const struct weir_over *ov, uint64_t *x, const struct weir_ev *e)
{
	if (ov->ncol == 1) {
		x[1] = e->v[ov->col_field[0]];
		return;
	}
	for (int c = 0; c < ov->ncol; c++)
		x[1 + c] = e->v[ov->col_field[c]];
}

/* Event e (its key's hash h; p: its partition if the caller knows it, else NULL). */
static void
over_event(struct weir_over *ov, const struct weir_ev *e, uint64_t h, struct part *p)
{
	uint32_t pos, pi;
	int64_t t = e->t, from = t - ov->size;

	if (t < ov->late_below) {
		ov->st.late_dropped++;
		return;
	}
	if (!p) {
		pos = tab_find(ov, e->key, h);
		p = ov->tab[pos].p;
	}
	if (!p) {
		/* a table that could not grow keeps one entry empty (probes end there) */
		if (ov->used >= ov->mask || (pi = part_alloc(ov)) == NIL)
			goto fail;
		if (heap_push(ov, t, pi)) {
			part_free(ov, pi, false);
			goto fail;
		}
		p = P(ov, pi);
		PC(ov, p)->key = e->key;
		p->tmax = INT64_MIN;    /* set by its first entry (none if that fails) */
		tab_put(ov, pos, p, e->key);
	} else {
		if (p->dep != ov->ck.cur)
			ck_touch_slow(ov, PC(ov, p)->self);
		if (p->tlow < ov->evict_below)
			part_check(ov, p);
	}
	if (p->n == p->cap && buf_room(ov, p))
		goto fail;
	if (t < p->tlow)
		p->tlow = t;

	uint64_t *x;
	if (t >= p->tmax) {
		/* in order (the common case): append; the running range moves on to e's */
		if (p->rlo == p->n)
			memset(p->run, 0, 32u * (unsigned)ov->nrun);    /* (exact zeros) */
		else if (p->tlow < from && T(ov, p, p->rlo) < from)
			range_advance(ov, p, from);
		x = ENT(ov, p, p->n++);
		x[0] = (uint64_t)t;
		put_cols(ov, x, e);
		run_add(ov, p->run, x);
		p->tmax = t;
		over_out(ov, e, p, p->rlo, p->n - 1, p->run);
		return;
	}
	/* out of order: e goes after every entry of time <= t; R(e) = [lo, at] */
	uint32_t at = bsearch_t(ov, p, p->head, p->n, t, true);
	bool in_run = t >= p->tmax - ov->size;   /* else at <= rlo */
	memmove(ENT(ov, p, at + 1), ENT(ov, p, at), (size_t)(p->n - at) * ov->esz);
	p->n++;
	x = ENT(ov, p, at);
	x[0] = (uint64_t)t;
	put_cols(ov, x, e);
	if (in_run)
		run_add(ov, p->run, x);
	else
		p->rlo++;
	uint32_t lo = bsearch_t(ov, p, p->head, at, from, false);
	struct runsum rs[WEIR_MAX_AGGS];
	if (ov->nrun) {
		/* sums: from the running ones minus what follows e, plus what precedes the
		 * running range (lo <= rlo), or over R(e) itself, whichever is shorter */
		if (in_run && (p->n - 1 - at) + (p->rlo - lo) < at - lo + 1) {
			memcpy(rs, p->run, 32u * (unsigned)ov->nrun);
			for (uint32_t i = at + 1; i < p->n; i++)
				run_sub(ov, rs, ENT(ov, p, i));
			for (uint32_t i = lo; i < p->rlo; i++)
				run_add(ov, rs, ENT(ov, p, i));
		} else {
			memset(rs, 0, 32u * (unsigned)ov->nrun);
			for (uint32_t i = lo; i <= at; i++)
				run_add(ov, rs, ENT(ov, p, i));
		}
	}
	over_out(ov, e, p, lo, at, rs);
	return;
fail:
	ov->st.alloc_failed++;          /* out of memory: the event is not applied */
}

/* ---- restore ------------------------------------------------------------------------------------ */

/* Partitions whose records have all arrived go live; others are dropped. */
static void
restore_finish(struct weir_over *ov)
{
	ov->restoring = false;
	for (uint32_t pi = 0; pi < ov->nparts; pi++) {
		struct part *p = P(ov, pi);
		if (!(p->flags & P_RESTORE))
			continue;
		/* (in order: t >= tmax appends, so tmax must be the newest entry's time) */
		struct pcold *pc = PC(ov, p);
		if (!(p->flags & P_HDR) || pc->rcv != pc->next || p->n != pc->next || p->rlo > p->n ||
		    (p->n && T(ov, p, p->n - 1) != p->tmax) || heap_push(ov, p->tmax, pi)) {
			part_free(ov, pi, true);
			continue;
		}
		p->flags = P_LIVE;
		p->tlow = p->n ? T(ov, p, 0) : INT64_MAX;
		pc->next = NIL;
		pc->rcv = 0;
	}
}

/* ---- public --------------------------------------------------------------------------------------- */

struct weir_over *
weir_over_create(const struct weir_query_cfg *q, uint16_t qidx, const struct weir_source_cfg *src,
		 weir_emit_fn emitfn, void *ctx, unsigned flags)
{
	static const uint8_t mins[] = { A_MIN_I, A_MIN_U, A_MIN_F }, maxs[] = { A_MAX_I, A_MAX_U, A_MAX_F };
	int nv = src->nfields + q->nderived;    /* v[] words an aggregate may read */
	int colof[MAX_COLS];
	struct weir_over *ov;

	if ((q->window != WEIR_WIN_OVER && q->window != WEIR_WIN_SELECT) || q->naggs < 0 ||
	    q->naggs > WEIR_MAX_AGGS || nv > MAX_COLS || q->size < 0 || q->lateness < 0) {
		errno = EINVAL;
		return NULL;
	}
	ov = calloc(1, sizeof(*ov));
	if (!ov) {
		errno = ENOMEM;
		return NULL;
	}
	ov->kind = q->window;
	ov->qidx = qidx;
	ov->size = q->size;
	ov->tsize = q->window == WEIR_WIN_SELECT ? 0 : q->size;
	ov->lateness = q->lateness;
	ov->wm = WEIR_WM_MIN;
	ov->late_below = ov->evict_below = INT64_MIN;
	ov->naggs = q->naggs;
	ck_init(&ov->ck, !(flags & WEIR_OP_NO_CKPT));
	for (int i = 0; i < MAX_COLS; i++)
		colof[i] = -1;
	uint32_t layout = 2166136261u;  /* FNV-1a over the entry and running-sum layout */
	for (int a = 0; a < q->naggs; a++) {
		const struct weir_agg_cfg *g = &q->aggs[a];
		struct aggop *o = &ov->agg[a];
		if (g->fn == WEIR_AGG_COUNT) {
			o->code = A_COUNT;
			continue;
		}
		if (g->field < 0 || g->field >= nv || g->type > WEIR_F_F64 || g->fn > WEIR_AGG_CUR)
			goto inval;
		o->field = (uint8_t)g->field;
		if (g->fn == WEIR_AGG_CUR || g->fn == WEIR_AGG_LAST) {
			o->code = A_CUR;
			continue;
		}
		if (colof[g->field] < 0) {
			colof[g->field] = ov->ncol;
			ov->col_field[ov->ncol++] = (uint8_t)g->field;
			layout = (layout ^ (uint32_t)g->field) * 16777619u;
		}
		o->col = (uint8_t)colof[g->field];
		switch (g->fn) {
		case WEIR_AGG_SUM:
		case WEIR_AGG_AVG: {
			int j = 0;
			while (j < ov->nrun && !(ov->run[j].col == o->col && ov->run[j].type == g->type))
				j++;
			if (j == ov->nrun) {
				ov->run[ov->nrun++] = (struct runop){ g->type, o->col };
				ov->irun |= g->type != WEIR_F_F64;
				layout = (layout ^ (0x100u | (uint32_t)g->type << 5 | o->col)) * 16777619u;
			}
			o->code = (uint8_t)(A_SUM_I + g->type);
			o->run = (uint8_t)j;
			break;
		}
		case WEIR_AGG_MIN:   o->code = mins[g->type]; break;
		case WEIR_AGG_MAX:   o->code = maxs[g->type]; break;
		default:             o->code = A_FIRST; break;
		}
	}
	ov->run1 = ov->nrun == 1 ? ov->run[0].type : 0xff;
	ov->esz = 8u * (1u + (unsigned)ov->ncol);
	ov->unit = 4u * ov->esz;
	ov->kmax = 15;                  /* 2 MiB for 16-byte entries; at most 8 MiB */
	while (ov->kmax > CH_KMIN + 2 && ((size_t)ov->unit << ov->kmax) > ((size_t)8 << 20))
		ov->kmax--;
	ov->cmax = ov->kmax - 2;
	ov->chk_free = ov->spare = NO_CHUNK;
	ov->per_rec = (SP_VAL_MAX - ENT_HDR) / ov->esz;
	ov->layout = layout;
	if (HDR_LEN + 32u * (unsigned)ov->nrun > SP_VAL_MAX)
		goto inval;
	ov->cold_off = sizeof(struct part) + 32u * (unsigned)ov->nrun;
	ov->inl_off = ov->cold_off + sizeof(struct pcold);
	ov->stride = (ov->inl_off + INLINE_BYTES + 63) & ~(size_t)63;   /* (line aligned) */
	ov->inl_cap = (uint32_t)((ov->stride - ov->inl_off) / ov->esz);
	if (ov->inl_cap < 2)
		ov->inl_cap = 0;
	if (flags & WEIR_OP_LATENCY) {
		/* the arrival stamp rides as a hidden word after the derived inputs */
		ov->latency = true;
		ov->lat_field = (uint8_t)nv;
	}
	ov->free_head = NIL;
	ov->mask = 1023;
	ov->tab = tab_alloc(ov, 1024, &ov->tab_raw);
	if (!ov->tab) {
		free(ov);
		errno = ENOMEM;
		return NULL;
	}
	struct weir_result *r = (struct weir_result *)ov->res_buf;
	r->query = qidx;
	r->naggs = (uint16_t)q->naggs;
	ov->emit = emitfn;
	ov->ctx = ctx;
	return ov;
inval:
	free(ov);
	errno = EINVAL;
	return NULL;
}

void
weir_over_set_having(struct weir_over *ov, weir_having_fn fn, void *ctx)
{
	ov->having = fn;
	ov->hctx = ctx;
}

int
weir_over_set_having_prog(struct weir_over *ov, const struct weir_query_cfg *q)
{
	ov->npre = ov->npost = 0;
	ov->pre_fast = false;
	ov->hq = NULL;
	if (!q->having.len)
		return 0;
	if (q->naggs != ov->naggs || weir_expr_check(q->code, &q->having, (unsigned)q->naggs) < 0)
		return -1;
	ov->hq = q;
	if (conj_split(ov, q, q->having.off, q->having.len)) {
		/* more conjuncts than kept: the whole program, after the result is built */
		ov->npre = 0;
		ov->post[0] = (struct hconj){ .kind = HK_PROG, .e = q->having };
		ov->npost = 1;
	}
	/* (any order: the conjuncts have no side effects) */
	for (int i = 0; i < ov->npre && !ov->pre_fast; i++) {
		if (ov->pre[i].kind == HK_INT && ov->pre[i].src == HS_SLOT) {
			struct hconj c = ov->pre[0];
			ov->pre[0] = ov->pre[i];
			ov->pre[i] = c;
			ov->pre_fast = true;
		}
	}
	return 0;
}

void
weir_over_destroy(struct weir_over *ov)
{
	if (!ov)
		return;
	for (uint32_t i = 0; i < ov->nparts; i++)
		if (P(ov, i)->flags && P(ov, i)->cls != CLS_INLINE && PC(ov, P(ov, i))->chk == NO_CHUNK)
			free(P(ov, i)->buf);
	for (uint32_t i = 0; i < ov->nchk; i++)
		if (ov->chk[i].raw)
			chunk_free(ov, i);
	free(ov->chk);
	for (int c = 0; c < NCLASS; c++) {
		while (ov->pool[c]) {
			uint8_t *b = ov->pool[c];
			memcpy(&ov->pool[c], b, sizeof(b));
			free(b);
		}
	}
	for (uint32_t b = 0; b < ov->nblk; b++)
		mem_free(ov, ov->praw[b], pblk_bytes(ov, b));
	mem_free(ov, ov->tab_raw, (size_t)(ov->mask + 1) * sizeof(*ov->tab));
	free(ov->heap.a);
	ck_free(&ov->ck);
	weir_arena_fini(&ov->arena);
	free(ov);
}

int
weir_over_set_headroom(struct weir_over *ov, size_t bytes)
{
	if (ov->arena.base || !bytes)
		return 0;
	return weir_arena_init(&ov->arena, 0, bytes);
}

uint64_t
weir_over_headroom_ready(const struct weir_over *ov)
{
	if (!ov->arena.base)
		return 0;
	size_t top = atomic_load_explicit(&ov->arena.top, memory_order_relaxed);
	size_t ready = atomic_load_explicit(&ov->arena.ready, memory_order_relaxed);
	return ready > top ? ready - top : 0;
}

void
weir_over_burst(struct weir_over *ov, const struct weir_ev *ev, unsigned n)
{
	uint64_t h[BURST];
	struct part *pp[BURST];

	if (__builtin_expect(ov->restoring, 0))
		restore_finish(ov);
	if (ov->kind == WEIR_WIN_SELECT) {
		for (unsigned i = 0; i < n; i++)
			select_event(ov, &ev[i]);
		return;
	}
	while (n) {
		unsigned m = n < BURST ? n : BURST;
		/* pass 1: hash every key, prefetch its table line */
		for (unsigned i = 0; i < m; i++) {
			h[i] = hash_key(ev[i].key);
			__builtin_prefetch(&ov->tab[(uint32_t)h[i] & ov->mask]);
		}
		/* pass 2: the table lines have arrived: a key at its home position (most
		 * are) has its partition, prefetched (it stays the key's for the burst:
		 * partitions go only as the watermark moves, and never move) */
		for (unsigned i = 0; i < m; i++) {
			const struct tent *t = &ov->tab[(uint32_t)h[i] & ov->mask];
			pp[i] = t->p && t->key == ev[i].key ? t->p : NULL;
			if (pp[i])
				__builtin_prefetch(pp[i], 1);
		}
		/* pass 3: the partitions have arrived: prefetch where their next entry goes */
		for (unsigned i = 0; i < m; i++)
			if (pp[i])
				__builtin_prefetch(pp[i]->buf + (size_t)pp[i]->n * ov->esz, 1);
		/* pass 4: apply.  The fraud rule (count, sum, CUR; HAVING on CUR and count,
		 * ~1 % pass) costs ~175 instructions per event, passes included (callgrind,
		 * 10 k keys, bench/sql_bench.py --callgrind), and 100-300 ns per event on a
		 * shared 2-vCPU VM with 100 k keys (three cache misses: table line,
		 * partition line, entry) */
		for (unsigned i = 0; i < m; i++)
			over_event(ov, &ev[i], h[i], pp[i]);
		ev += m;
		n -= m;
	}
}

void
weir_over_advance(struct weir_over *ov, int64_t wm)
{
	if (wm <= ov->wm)
		return;
	if (ov->restoring)
		restore_finish(ov);
	ov->wm = wm;
	ov->late_below = sat_sub(wm, ov->lateness);
	ov->evict_below = sat_sub(ov->late_below, ov->size);
	/* free the partitions whose newest entry is below the bound; one that got newer
	 * entries since its heap node was made goes back in at its newest time */
	while (ov->heap.n && ((struct hnode *)ov->heap.a)[0].time < ov->evict_below) {
		struct hnode *hp = ov->heap.a, top = hp[0];
		struct part *p = P(ov, top.part);
		if (p->tmax >= ov->evict_below) {
			heap_sift(ov, (struct hnode){ p->tmax, top.part, 0 });
			continue;
		}
		ov->heap.n--;
		heap_sift(ov, hp[ov->heap.n]);
		part_free(ov, top.part, true);
	}
	if (ov->pool_bytes > (256u << 10))
		pool_trim(ov);
}

int64_t
weir_over_watermark(const struct weir_over *ov)
{
	return ov->wm;
}

void
weir_over_get_stats(const struct weir_over *ov, struct weir_op_stats *st)
{
	*st = ov->st;
	st->open_windows = ov->live;
	st->state_bytes = (uint64_t)pblk_first(ov->nblk) * ov->stride + 64u * ov->nblk +
			  (uint64_t)(ov->mask + 1) * sizeof(struct tent) +
			  (uint64_t)ov->heap.cap * sizeof(struct hnode) + ov->buf_bytes + ov->pool_bytes +
			  (ov->chunk_bytes - ov->chunk_used) + (uint64_t)ov->capchk * sizeof(struct chunk);
}

/* ---- checkpoints ------------------------------------------------------------------------------------ */

void
weir_over_ckpt_begin(struct weir_over *ov, struct sp_writer *w, bool full)
{
	if (ov->ck.w)                   /* the previous delta is not out yet: finish it */
		while (!weir_over_ckpt_step(ov, UINT32_MAX))
			;
	if (ov->restoring)
		restore_finish(ov);
	ck_begin(&ov->ck, w, full, ov->nparts, ov->qidx, ov->wm);
}

/* (budget counts records, tombstones too; a partition is written whole once started) */
bool
weir_over_ckpt_step(struct weir_over *ov, uint32_t budget)
{
	return ck_step(&ov->ck, ov->qidx, budget, &ck_ops, ov);
}

int
weir_over_restore(struct weir_over *ov, const uint8_t *k, unsigned klen, const uint8_t *v, unsigned vlen)
{
	uint16_t q;
	uint64_t key, h;
	uint32_t pos, pi;
	struct part *p;

	if (ov->kind != WEIR_WIN_OVER || weir_state_key(k, klen, &q, &key) || q != ov->qidx)
		return -1;
	uint64_t rec = (uint64_t)ck_state_sub(k);
	if (rec > 1u << 26)
		return -1;
	if (rec == 0) {
		uint16_t esz, nrun;
		uint32_t layout;
		if (vlen != HDR_LEN + 32u * (unsigned)ov->nrun)
			return -1;
		memcpy(&esz, v, 2);
		memcpy(&nrun, v + 2, 2);
		memcpy(&layout, v + 12, 4);
		if (esz != ov->esz || nrun != ov->nrun || layout != ov->layout)
			return -1;
	} else if (vlen <= ENT_HDR || (vlen - ENT_HDR) % ov->esz) {
		return -1;
	}
	h = hash_key(key);
	pos = tab_find(ov, key, h);
	p = ov->tab[pos].p;
	if (!p) {
		if (ov->used >= ov->mask || (pi = part_alloc(ov)) == NIL)
			return -1;
		p = P(ov, pi);
		PC(ov, p)->key = key;
		p->flags |= P_RESTORE;
		tab_put(ov, pos, p, key);
		ov->restoring = true;
	}
	if (!(p->flags & P_RESTORE))
		return -1;                      /* events came first */
	if (rec == 0) {
		if (p->flags & P_HDR)
			return -1;              /* the same record twice */
		memcpy(&PC(ov, p)->next, v + 4, 4);
		memcpy(&p->rlo, v + 8, 4);
		memcpy(&p->tmax, v + 16, 8);
		memcpy(p->run, v + HDR_LEN, 32u * (unsigned)ov->nrun);
		p->flags |= P_HDR;
	} else {
		/* (the first entry's index: records of any size restore) */
		uint32_t at, cnt = (vlen - ENT_HDR) / ov->esz;
		memcpy(&at, v, 4);
		if (at >= 4u << (NCLASS - 1) || cnt > (4u << (NCLASS - 1)) - at)
			return -1;
		if (at + cnt > p->cap) {
			unsigned c = 0;
			while ((4u << c) < at + cnt)
				c++;
			uint32_t n = p->n;      /* the gaps of records yet to come move along */
			p->n = p->cap;
			if (buf_move(ov, p, c)) {
				p->n = n;
				return -1;
			}
			p->n = n;
		}
		memcpy(ENT(ov, p, at), v + ENT_HDR, (size_t)cnt * ov->esz);
		if (at + cnt > p->n)
			p->n = at + cnt;
		PC(ov, p)->rcv += cnt;
	}
	PC(ov, p)->pck++;
	return 0;
}

void
weir_over_restore_wm(struct weir_over *ov, int64_t wm)
{
	if (ov->restoring)
		restore_finish(ov);
	if (wm > ov->wm) {
		ov->wm = wm;
		ov->late_below = sat_sub(wm, ov->lateness);
		ov->evict_below = sat_sub(ov->late_below, ov->size);
	}
}
