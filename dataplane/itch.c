/* SPDX-License-Identifier: Apache-2.0
 * ITCH 5.0 / MoldUDP64 (see itch.h): names, builders, the order book, trading events. */
#include "itch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "config.h"

const char *const weir_itch_bad_name[WEIR_ITCH_BAD_MAX] = {
#define X(n, d) #n,
	WEIR_ITCH_REASONS(X)
#undef X
};
const char *const weir_itch_bad_desc[WEIR_ITCH_BAD_MAX] = {
#define X(n, d) d,
	WEIR_ITCH_REASONS(X)
#undef X
};
const char *const weir_itch_field_name[WEIR_ITCH_NFIELDS] = {
#define X(n, t, d) #n,
	WEIR_ITCH_FIELDS(X)
#undef X
};
const char *const weir_itch_field_desc[WEIR_ITCH_NFIELDS] = {
#define X(n, t, d) d,
	WEIR_ITCH_FIELDS(X)
#undef X
};
const uint8_t weir_itch_field_type[WEIR_ITCH_NFIELDS] = {
#define X(n, t, d) t,
	WEIR_ITCH_FIELDS(X)
#undef X
};
_Static_assert(WEIR_F_I64 == 0 && WEIR_F_U64 == 1 && WEIR_F_F64 == 2,
	       "WEIR_ITCH_FIELDS types are enum weir_ftype values");
_Static_assert(sizeof(double) == 8, "f64 fields");

/* ITCH 5.0 section 4: the fixed lengths of the types decoded here. */
const uint8_t weir_itch_msg_len[256] = {
	['S'] = 12, ['R'] = 39, ['A'] = 36, ['F'] = 40, ['E'] = 31, ['C'] = 36,
	['X'] = 23, ['D'] = 19, ['U'] = 35, ['P'] = 44, ['Q'] = 40,
};

/* ---- MoldUDP64 ----------------------------------------------------------------------- */

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put64(uint8_t *p, uint64_t v)
{
	v = __builtin_bswap64(v);
	memcpy(p, &v, 8);
}

int
weir_mold_build(uint8_t *out, uint32_t cap, const uint8_t session[WEIR_MOLD_SESSION], uint64_t seq,
		const uint8_t *const *msgs, const uint16_t *lens, uint16_t n)
{
	uint16_t nb = n == WEIR_MOLD_END ? 0 : n;
	uint64_t len = WEIR_MOLD_HDR_LEN;
	uint8_t *w;

	for (unsigned i = 0; i < nb; i++)
		len += 2 + (uint64_t)lens[i];
	if (len > UINT16_MAX)
		return -EMSGSIZE;
	if (len > cap)
		return -ENOSPC;
	memcpy(out, session, WEIR_MOLD_SESSION);
	put64(out + 10, seq);
	put16(out + 18, n);
	w = out + WEIR_MOLD_HDR_LEN;
	for (unsigned i = 0; i < nb; i++) {
		put16(w, lens[i]);
		if (lens[i])
			memcpy(w + 2, msgs[i], lens[i]);
		w += 2 + lens[i];
	}
	return (int)len;
}

uint32_t
weir_mold_request(uint8_t out[WEIR_MOLD_REQ_LEN], const uint8_t session[WEIR_MOLD_SESSION],
		  uint64_t seq, uint16_t count)
{
	memcpy(out, session, WEIR_MOLD_SESSION);
	put64(out + 10, seq);
	put16(out + 18, count);
	return WEIR_MOLD_REQ_LEN;
}

/* ---- symbols ------------------------------------------------------------------------- */

uint64_t
weir_itch_stock_key(const char *sym)
{
	uint8_t b[8];
	size_t n = strnlen(sym, 8);

	memset(b, ' ', 8);
	memcpy(b, sym, n);
	return weir_itch_stock(b);
}

void
weir_itch_symbol(uint64_t key, char out[9])
{
	int n = 8;

	put64((uint8_t *)out, key);
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

/* ---- order book ---------------------------------------------------------------------- */

struct slot {
	uint64_t ref;
	uint32_t price;
	uint32_t shares;
	uint32_t lvl;                   /* its level's node, 0: in none (side 0, no shares) */
	uint16_t locate;
	int8_t side;
	uint8_t used;
};
_Static_assert(sizeof(struct slot) == 24, "book slot layout");

/* A price level: a node of its (locate, side) AVL tree, ordered by price. */
struct level {
	uint64_t shares;                /* remaining shares of its orders (> 0) */
	uint32_t price;
	uint32_t norders;               /* its live orders (>= 1) */
	uint32_t l, r, p;               /* children and parent, 0: none; free: p = next free */
	uint16_t locate;
	int8_t side;
	uint8_t h;                      /* AVL height, 1 for a leaf (node 0, "none": 0) */
};
_Static_assert(sizeof(struct level) == 32, "level node layout");

/* Per locate: [0] bids (best = highest), [1] asks (best = lowest); 0 = no level. */
struct tob {
	uint32_t best[2];
	uint32_t root[2];
};

#define PAGE_BITS 6
#define PAGE_LOCS (1u << PAGE_BITS)             /* locates per page */
#define NPAGES    (65536u >> PAGE_BITS)         /* pages to cover every locate */

struct tob_page {
	struct tob t[PAGE_LOCS];
};
_Static_assert(sizeof(struct tob_page) == 1024, "header page layout");

struct weir_book {
	struct slot *s;
	uint64_t mask;                  /* slots - 1 (a power of two) */
	uint32_t shift;                 /* 64 - log2(slots): home slot = top bits of the hash */
	uint32_t max_orders;
	struct level *lv;               /* [0] "none" (h = 0), [1, max_orders] the pool */
	uint32_t lv_bump;               /* nodes [1, lv_bump) have been handed out */
	uint32_t lv_free;               /* freed nodes, linked by p */
	struct tob_page *pg;            /* [0] unused, [1, npg] the pages */
	uint16_t *pg_used;              /* per page: (locate, side) pairs with a level */
	uint16_t *pg_stack;             /* freed pages (all zero) */
	uint32_t npg, pg_bump, pg_nfree;
	uint16_t top[NPAGES];           /* locate >> PAGE_BITS -> its page, 0: none */
	struct weir_book_stats st;
};

#define BOOK_MAX_ORDERS (UINT32_C(1) << 30)

/* Fibonacci hashing: ITCH references rise by small steps; the multiply spreads them. */
static inline uint64_t
home(const struct weir_book *b, uint64_t ref)
{
	return (ref * UINT64_C(0x9e3779b97f4a7c15)) >> b->shift;
}

/* Slot of ref, or the empty slot ending its probe run (then !s[i].used). */
static inline uint64_t
probe(const struct weir_book *b, uint64_t ref)
{
	uint64_t i = home(b, ref);

	/* terminates: live <= max_orders < slots, so an empty slot exists */
	while (b->s[i].used && b->s[i].ref != ref)
		i = (i + 1) & b->mask;
	return i;
}

static inline void
to_order(const struct slot *s, struct weir_book_order *o)
{
	if (o) {
		o->ref = s->ref;
		o->price = s->price;
		o->shares = s->shares;
		o->locate = s->locate;
		o->side = s->side;
	}
}

/* Remove slot i by backward shift: each later entry of the run whose home is not in
 * (i, j] moves back into the hole, so every run stays gap-free (Knuth 6.4, Algorithm R).
 * A slot carries its level's index along: levels never point at slots. */
static inline void
remove_at(struct weir_book *b, uint64_t i)
{
	for (uint64_t j = (i + 1) & b->mask; b->s[j].used; j = (j + 1) & b->mask) {
		uint64_t k = home(b, b->s[j].ref);
		/* distance from home to j >= distance from the hole to j: may move back */
		if (((j - k) & b->mask) >= ((j - i) & b->mask)) {
			b->s[i] = b->s[j];
			i = j;
		}
	}
	b->s[i].used = 0;
	b->st.live--;
	b->st.removes++;
}

/* ---- price levels: AVL trees over the node pool ---- */

static inline const struct tob *
tob_get(const struct weir_book *b, uint16_t locate)
{
	uint16_t pg = b->top[locate >> PAGE_BITS];

	return pg ? &b->pg[pg].t[locate & (PAGE_LOCS - 1)] : NULL;
}

static inline void
fix_h(struct level *lv, uint32_t x)
{
	uint8_t hl = lv[lv[x].l].h, hr = lv[lv[x].r].h;

	lv[x].h = (uint8_t)(1 + (hl > hr ? hl : hr));
}

/* Put nw where old was under p (p = 0: as the root). */
static inline void
relink(struct level *lv, uint32_t *root, uint32_t p, uint32_t old, uint32_t nw)
{
	if (!p)
		*root = nw;
	else if (lv[p].l == old)
		lv[p].l = nw;
	else
		lv[p].r = nw;
	if (nw)
		lv[nw].p = p;
}

/* x's right child y takes x's place, x becomes y's left child. */
static uint32_t
rot_left(struct level *lv, uint32_t *root, uint32_t x)
{
	uint32_t y = lv[x].r, p = lv[x].p;

	lv[x].r = lv[y].l;
	if (lv[y].l)
		lv[lv[y].l].p = x;
	lv[y].l = x;
	lv[x].p = y;
	relink(lv, root, p, x, y);
	fix_h(lv, x);
	fix_h(lv, y);
	return y;
}

static uint32_t
rot_right(struct level *lv, uint32_t *root, uint32_t x)
{
	uint32_t y = lv[x].l, p = lv[x].p;

	lv[x].l = lv[y].r;
	if (lv[y].r)
		lv[lv[y].r].p = x;
	lv[y].r = x;
	lv[x].p = y;
	relink(lv, root, p, x, y);
	fix_h(lv, x);
	fix_h(lv, y);
	return y;
}

/* x's subtrees are AVL trees whose heights differ by at most 2: restore x's balance
 * (single or double rotation), fix heights.  Returns the subtree's root. */
static uint32_t
rebalance(struct level *lv, uint32_t *root, uint32_t x)
{
	int bf = (int)lv[lv[x].l].h - (int)lv[lv[x].r].h;

	if (bf > 1) {
		uint32_t l = lv[x].l;
		if (lv[lv[l].l].h < lv[lv[l].r].h)
			rot_left(lv, root, l);
		return rot_right(lv, root, x);
	}
	if (bf < -1) {
		uint32_t r = lv[x].r;
		if (lv[lv[r].r].h < lv[lv[r].l].h)
			rot_right(lv, root, r);
		return rot_left(lv, root, x);
	}
	fix_h(lv, x);
	return x;
}

/* After a change below x: rebalance upwards until a subtree's height is what it was
 * (then nothing above it changes).  O(log L), at most one rotation (or double) per level. */
static void
retrace(struct level *lv, uint32_t *root, uint32_t x)
{
	while (x) {
		uint8_t was = lv[x].h;
		x = rebalance(lv, root, x);
		if (lv[x].h == was)
			break;
		x = lv[x].p;
	}
}

/* Unlink node z from its tree (nodes never move: orders hold their indices). */
static void
avl_erase(struct level *lv, uint32_t *root, uint32_t z)
{
	uint32_t from;

	if (lv[z].l && lv[z].r) {
		/* z's successor y (leftmost of the right subtree, no left child) takes z's place */
		uint32_t y = lv[z].r;
		while (lv[y].l)
			y = lv[y].l;
		if (lv[y].p == z) {
			from = y;
		} else {
			from = lv[y].p;
			lv[from].l = lv[y].r;
			if (lv[y].r)
				lv[lv[y].r].p = from;
			lv[y].r = lv[z].r;
			lv[lv[z].r].p = y;
		}
		lv[y].l = lv[z].l;
		lv[lv[z].l].p = y;
		lv[y].h = lv[z].h;      /* the subtree's height before, for retrace */
		relink(lv, root, lv[z].p, z, y);
	} else {
		from = lv[z].p;
		relink(lv, root, from, z, lv[z].l ? lv[z].l : lv[z].r);
	}
	retrace(lv, root, from);
}

/* In-order neighbours: dir 0 the next lower price, 1 the next higher.  0: none. */
static inline uint32_t
avl_step(const struct level *lv, uint32_t x, int dir)
{
	uint32_t c = dir ? lv[x].r : lv[x].l;

	if (c) {
		while (dir ? lv[c].l : lv[c].r)
			c = dir ? lv[c].l : lv[c].r;
		return c;
	}
	while (lv[x].p && (dir ? lv[lv[x].p].r : lv[lv[x].p].l) == x)
		x = lv[x].p;
	return lv[x].p;
}

/* The level of (locate, side, price) with the order's shares joined: its node, or 0
 * when none could be had (pool or pages exhausted: impossible, see itch.h). */
static uint32_t
level_join(struct weir_book *b, uint16_t locate, int8_t side, uint32_t price, uint32_t shares)
{
	struct level *lv = b->lv;
	int k = side < 0;
	uint16_t *pgi = &b->top[locate >> PAGE_BITS];
	struct tob *t = NULL;
	uint32_t x, parent = 0;
	bool right = false;

	if (*pgi) {
		t = &b->pg[*pgi].t[locate & (PAGE_LOCS - 1)];
		x = t->best[k];
		if (x && lv[x].price == price)
			goto join;
		for (x = t->root[k]; x;) {
			if (price == lv[x].price)
				goto join;
			parent = x;
			right = price > lv[x].price;
			x = right ? lv[x].r : lv[x].l;
		}
	}
	/* a new level: a node, and the locate's page when it has none */
	if (!b->lv_free && b->lv_bump > b->max_orders) {
		b->st.level_full++;
		return 0;
	}
	if (!t) {
		uint16_t pg;
		if (b->pg_nfree)
			pg = b->pg_stack[--b->pg_nfree];        /* freed pages are all zero */
		else if (b->pg_bump <= b->npg) {
			pg = (uint16_t)b->pg_bump++;
			memset(&b->pg[pg], 0, sizeof(b->pg[pg]));
		} else {
			b->st.level_full++;
			return 0;
		}
		*pgi = pg;
		t = &b->pg[pg].t[locate & (PAGE_LOCS - 1)];
	}
	if (b->lv_free) {
		x = b->lv_free;
		b->lv_free = lv[x].p;
	} else {
		x = b->lv_bump++;
	}
	lv[x] = (struct level){ .price = price, .p = parent, .locate = locate, .side = side, .h = 1 };
	if (!parent) {
		t->root[k] = x;
		b->pg_used[*pgi]++;
	} else {
		if (right)
			lv[parent].r = x;
		else
			lv[parent].l = x;
		retrace(lv, &t->root[k], parent);
	}
	if (!t->best[k] || (k ? price < lv[t->best[k]].price : price > lv[t->best[k]].price))
		t->best[k] = x;
	if (++b->st.levels > b->st.level_high_water)
		b->st.level_high_water = b->st.levels;
join:
	lv[x].shares += shares;
	lv[x].norders++;
	return x;
}

/* shares leave level x; gone: with its order.  A level left without orders (then
 * without shares) is removed, the next one becoming the best when it was. */
static inline void
level_leave(struct weir_book *b, uint32_t x, uint32_t shares, bool gone)
{
	struct level *lv = b->lv;
	uint16_t locate = lv[x].locate, pg;
	int k = lv[x].side < 0;
	struct tob *t;

	lv[x].shares -= shares;
	if (!gone || --lv[x].norders)
		return;
	pg = b->top[locate >> PAGE_BITS];
	t = &b->pg[pg].t[locate & (PAGE_LOCS - 1)];
	if (t->best[k] == x)
		t->best[k] = avl_step(lv, x, k);        /* bids: next lower; asks: next higher */
	avl_erase(lv, &t->root[k], x);
	lv[x].p = b->lv_free;
	b->lv_free = x;
	b->st.levels--;
	if (!t->root[k] && --b->pg_used[pg] == 0) {
		b->top[locate >> PAGE_BITS] = 0;
		b->pg_stack[b->pg_nfree++] = pg;
	}
}

struct weir_book *
weir_book_create(const struct weir_book_params *p)
{
	struct weir_book *b;
	uint64_t need, slots = 8;
	uint32_t bits = 3;

	if (!p || p->max_orders == 0 || p->max_orders > BOOK_MAX_ORDERS) {
		errno = EINVAL;
		return NULL;
	}
	need = (uint64_t)p->max_orders + p->max_orders / 3 + 1;
	while (slots < need) {
		slots <<= 1;
		bits++;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->npg = p->max_orders < NPAGES ? p->max_orders : NPAGES;
	/* pool and pages stay untouched until used: nodes and pages are set when handed out */
	b->s = calloc(slots, sizeof(*b->s));
	b->lv = malloc(((size_t)p->max_orders + 1) * sizeof(*b->lv));
	b->pg = malloc(((size_t)b->npg + 1) * sizeof(*b->pg));
	b->pg_used = calloc((size_t)b->npg + 1, sizeof(*b->pg_used));
	b->pg_stack = malloc((size_t)b->npg * sizeof(*b->pg_stack));
	if (!b->s || !b->lv || !b->pg || !b->pg_used || !b->pg_stack) {
		weir_book_destroy(b);
		errno = ENOMEM;
		return NULL;
	}
	b->lv[0] = (struct level){ .h = 0 };
	b->lv_bump = 1;
	b->pg_bump = 1;
	b->mask = slots - 1;
	b->shift = 64 - bits;
	b->max_orders = p->max_orders;
	b->st.capacity = p->max_orders;
	b->st.memory_bytes = sizeof(*b) + slots * sizeof(*b->s) +
			     ((uint64_t)p->max_orders + 1) * sizeof(*b->lv) +
			     ((uint64_t)b->npg + 1) * (sizeof(*b->pg) + sizeof(*b->pg_used)) +
			     (uint64_t)b->npg * sizeof(*b->pg_stack);
	return b;
}

void
weir_book_destroy(struct weir_book *b)
{
	if (b) {
		free(b->s);
		free(b->lv);
		free(b->pg);
		free(b->pg_used);
		free(b->pg_stack);
		free(b);
	}
}

void
weir_book_clear(struct weir_book *b)
{
	struct weir_book_stats keep = b->st;

	memset(b->s, 0, (b->mask + 1) * sizeof(*b->s));
	memset(&b->st, 0, sizeof(b->st));
	b->st.capacity = keep.capacity;
	b->st.memory_bytes = keep.memory_bytes;
	/* nodes and pages are handed out afresh (and set then) */
	b->lv_bump = 1;
	b->lv_free = 0;
	memset(b->top, 0, sizeof(b->top));
	memset(b->pg_used, 0, ((size_t)b->npg + 1) * sizeof(*b->pg_used));
	b->pg_bump = 1;
	b->pg_nfree = 0;
}

void
weir_book_get_stats(const struct weir_book *b, struct weir_book_stats *s)
{
	*s = b->st;
}

size_t
weir_book_memory(const struct weir_book *b)
{
	return (size_t)b->st.memory_bytes;
}

int
weir_book_add(struct weir_book *b, uint64_t ref, uint16_t locate, int8_t side, uint32_t price,
	      uint32_t shares)
{
	uint64_t i = probe(b, ref);
	struct slot *s = &b->s[i];

	if (s->used) {
		b->st.dup_ref++;
		return -EEXIST;
	}
	if (b->st.live == b->max_orders) {
		b->st.table_full++;
		return -ENOSPC;
	}
	s->ref = ref;
	s->price = price;
	s->shares = shares;
	s->locate = locate;
	s->side = side;
	s->used = 1;
	s->lvl = side && shares ? level_join(b, locate, side, price, shares) : 0;
	b->st.adds++;
	if (++b->st.live > b->st.high_water)
		b->st.high_water = b->st.live;
	return 0;
}

/* Execute and cancel alike: take shares off the order (and its level), remove it at 0. */
static inline int
reduce(struct weir_book *b, uint64_t ref, uint32_t shares, struct weir_book_order *o)
{
	uint64_t i = probe(b, ref);
	struct slot *s = &b->s[i];

	if (!s->used) {
		b->st.unknown_ref++;
		return -ENOENT;
	}
	to_order(s, o);
	if (shares < s->shares) {
		s->shares -= shares;
		if (s->lvl)
			b->lv[s->lvl].shares -= shares;
		return 0;
	}
	if (shares > s->shares)
		b->st.overfill++;
	if (s->lvl)
		level_leave(b, s->lvl, s->shares, true);
	remove_at(b, i);
	return 0;
}

int
weir_book_execute(struct weir_book *b, uint64_t ref, uint32_t shares, struct weir_book_order *o)
{
	return reduce(b, ref, shares, o);
}

int
weir_book_cancel(struct weir_book *b, uint64_t ref, uint32_t shares, struct weir_book_order *o)
{
	return reduce(b, ref, shares, o);
}

int
weir_book_delete(struct weir_book *b, uint64_t ref, struct weir_book_order *o)
{
	uint64_t i = probe(b, ref);

	if (!b->s[i].used) {
		b->st.unknown_ref++;
		return -ENOENT;
	}
	to_order(&b->s[i], o);
	if (b->s[i].lvl)
		level_leave(b, b->s[i].lvl, b->s[i].shares, true);
	remove_at(b, i);
	return 0;
}

/* ITCH 5.0 4.6.5: the original order is removed; the new reference takes its side and
 * stock with the new price and shares. */
int
weir_book_replace(struct weir_book *b, uint64_t ref, uint64_t new_ref, uint16_t locate,
		  uint32_t price, uint32_t shares, struct weir_book_order *o)
{
	uint64_t i = probe(b, ref);
	int8_t side;

	if (b->s[i].used) {
		side = b->s[i].side;
		locate = b->s[i].locate;
		to_order(&b->s[i], o);
		if (b->s[i].lvl)
			level_leave(b, b->s[i].lvl, b->s[i].shares, true);
		remove_at(b, i);
		return weir_book_add(b, new_ref, locate, side, price, shares);
	}
	b->st.unknown_ref++;
	/* executions of new_ref still find its price; a failed add is counted there */
	weir_book_add(b, new_ref, locate, 0, price, shares);
	return -ENOENT;
}

int
weir_book_find(const struct weir_book *b, uint64_t ref, struct weir_book_order *o)
{
	uint64_t i = probe(b, ref);

	if (!b->s[i].used)
		return -ENOENT;
	to_order(&b->s[i], o);
	return 0;
}

static inline void
to_level(const struct level *l, struct weir_book_level *out)
{
	out->price = l->price;
	out->orders = l->norders;
	out->shares = l->shares;
}

int
weir_book_top(const struct weir_book *b, uint16_t locate, struct weir_book_top *t)
{
	const struct tob *h = tob_get(b, locate);
	int have = 0;

	memset(t, 0, sizeof(*t));
	if (!h)
		return 0;
	if (h->best[0]) {
		to_level(&b->lv[h->best[0]], &t->bid);
		have |= 1;
	}
	if (h->best[1]) {
		to_level(&b->lv[h->best[1]], &t->ask);
		have |= 2;
	}
	return have;
}

unsigned
weir_book_depth(const struct weir_book *b, uint16_t locate, int8_t side, struct weir_book_level *out,
		unsigned n)
{
	const struct tob *h = tob_get(b, locate);
	int k = side < 0;
	unsigned i = 0;

	if (!h || !side)
		return 0;
	for (uint32_t x = h->best[k]; x && i < n; x = avl_step(b->lv, x, k))
		to_level(&b->lv[x], &out[i++]);
	return i;
}

/* check: scratch per node */
struct chk {
	uint64_t *sum;                  /* shares of the orders naming the node */
	uint32_t *cnt;                  /* and their count */
	uint8_t *mark;                  /* 1 free, 2 in a tree */
	uint64_t intree;
};

/* The subtree at x (parent p) of (locate, k), prices in (lo, hi): its height, or -1. */
static int
check_tree(const struct weir_book *b, struct chk *c, uint32_t x, uint32_t p, uint16_t locate, int k,
	   int64_t lo, int64_t hi, int depth)
{
	const struct level *l;
	int hl, hr;

	if (!x)
		return 0;
	l = &b->lv[x];
	if (depth > 64 || x >= b->lv_bump || c->mark[x] || l->p != p || l->locate != locate ||
	    (k ? l->side != -1 : l->side != 1) || (int64_t)l->price <= lo || (int64_t)l->price >= hi ||
	    l->norders == 0 || l->norders != c->cnt[x] || l->shares != c->sum[x])
		return -1;
	c->mark[x] = 2;
	c->intree++;
	hl = check_tree(b, c, l->l, x, locate, k, lo, l->price, depth + 1);
	hr = check_tree(b, c, l->r, x, locate, k, l->price, hi, depth + 1);
	if (hl < 0 || hr < 0 || hl - hr > 1 || hr - hl > 1 || l->h != 1 + (hl > hr ? hl : hr))
		return -1;
	return l->h;
}

static int
check_levels(const struct weir_book *b, struct chk *c)
{
	uint64_t unleveled = 0, nfree = 0, inpages = 0;
	uint8_t *pmark;
	int rc = -EINVAL;

	for (uint64_t i = 0; i <= b->mask; i++) {
		const struct slot *s = &b->s[i];
		bool priced = s->used && s->side && s->shares;

		if (!s->used)
			continue;
		if (!s->lvl) {
			unleveled += priced;
			continue;
		}
		if (!priced || s->lvl >= b->lv_bump || b->lv[s->lvl].price != s->price ||
		    b->lv[s->lvl].locate != s->locate || b->lv[s->lvl].side != s->side)
			return -EINVAL;
		c->sum[s->lvl] += s->shares;
		c->cnt[s->lvl]++;
	}
	if (unleveled > b->st.level_full || b->lv[0].h || b->lv_bump > (uint64_t)b->max_orders + 1)
		return -EINVAL;
	for (uint32_t x = b->lv_free; x; x = b->lv[x].p) {
		if (x >= b->lv_bump || c->mark[x] || c->cnt[x])
			return -EINVAL;
		c->mark[x] = 1;
		nfree++;
	}
	if (b->pg_bump > b->npg + 1 || b->pg_nfree > b->npg)
		return -EINVAL;
	if (!(pmark = calloc((size_t)b->npg + 1, 1)))
		return -ENOMEM;
	for (uint32_t i = 0; i < b->pg_nfree; i++) {
		uint16_t pg = b->pg_stack[i];
		static const struct tob zero;
		if (!pg || pg >= b->pg_bump || pmark[pg] || b->pg_used[pg])
			goto out;
		for (unsigned j = 0; j < PAGE_LOCS; j++)
			if (memcmp(&b->pg[pg].t[j], &zero, sizeof(zero)))
				goto out;
		pmark[pg] = 1;
	}
	for (uint32_t pi = 0; pi < NPAGES; pi++) {
		uint16_t pg = b->top[pi];
		unsigned nonempty = 0;

		if (!pg)
			continue;
		if (pg >= b->pg_bump || pmark[pg])
			goto out;
		pmark[pg] = 2;
		inpages++;
		for (unsigned j = 0; j < PAGE_LOCS; j++) {
			const struct tob *t = &b->pg[pg].t[j];
			uint16_t locate = (uint16_t)(pi << PAGE_BITS | j);

			for (int k = 0; k < 2; k++) {
				uint32_t ext;
				if (!t->root[k]) {
					if (t->best[k])
						goto out;
					continue;
				}
				nonempty++;
				if (check_tree(b, c, t->root[k], 0, locate, k, -1, INT64_C(1) << 32, 0) < 0)
					goto out;
				/* the best: the highest bid, the lowest ask */
				for (ext = t->root[k]; k ? b->lv[ext].l : b->lv[ext].r;)
					ext = k ? b->lv[ext].l : b->lv[ext].r;
				if (t->best[k] != ext)
					goto out;
			}
		}
		if (!nonempty || nonempty != b->pg_used[pg])
			goto out;
	}
	/* no page, no node lost; every order's level is in a tree (free nodes have none) */
	if (inpages + b->pg_nfree != b->pg_bump - 1 || c->intree != b->st.levels ||
	    c->intree + nfree != b->lv_bump - 1 || b->st.levels > b->st.level_high_water)
		goto out;
	rc = 0;
out:
	free(pmark);
	return rc;
}

int
weir_book_check(const struct weir_book *b)
{
	uint64_t n = 0;
	struct chk c;
	int rc;

	for (uint64_t i = 0; i <= b->mask; i++) {
		if (!b->s[i].used)
			continue;
		n++;
		if (probe(b, b->s[i].ref) != i)    /* a gap before it, or the ref twice */
			return -EINVAL;
	}
	if (n != b->st.live || b->st.live != b->st.adds - b->st.removes || b->st.live > b->max_orders ||
	    b->st.high_water < b->st.live)
		return -EINVAL;
	c.sum = calloc(b->lv_bump, sizeof(*c.sum));
	c.cnt = calloc(b->lv_bump, sizeof(*c.cnt));
	c.mark = calloc(b->lv_bump, 1);
	c.intree = 0;
	rc = c.sum && c.cnt && c.mark ? check_levels(b, &c) : -ENOMEM;
	free(c.sum);
	free(c.cnt);
	free(c.mark);
	return rc;
}

/* ---- trading events ------------------------------------------------------------------ */

static inline int8_t
side_of(char c)
{
	return c == 'B' ? 1 : c == 'S' ? -1 : 0;
}

/* bid ask spread bid_size ask_size of the locate whose header is h (NULL: none). */
static inline void
top_of_book(const struct weir_book *b, const struct tob *h, struct weir_itch_event *ev)
{
	uint64_t bid_e4 = 0, ask_e4 = 0, bid_size = 0, ask_size = 0;
	double bid, ask, spread = 0;

	if (h) {
		if (h->best[0]) {
			bid_e4 = b->lv[h->best[0]].price;
			bid_size = b->lv[h->best[0]].shares;
		}
		if (h->best[1]) {
			ask_e4 = b->lv[h->best[1]].price;
			ask_size = b->lv[h->best[1]].shares;
		}
		if (h->best[0] && h->best[1])
			spread = (double)((int64_t)ask_e4 - (int64_t)bid_e4) / 1e4;
	}
	bid = (double)bid_e4 / 1e4;
	ask = (double)ask_e4 / 1e4;
	memcpy(&ev->v[WEIR_ITCH_F_bid], &bid, 8);
	memcpy(&ev->v[WEIR_ITCH_F_ask], &ask, 8);
	memcpy(&ev->v[WEIR_ITCH_F_spread], &spread, 8);
	ev->v[WEIR_ITCH_F_bid_size] = bid_size;
	ev->v[WEIR_ITCH_F_ask_size] = ask_size;
}

int
weir_itch_event(struct weir_book *b, struct weir_itch_dir *d, const struct weir_itch_msg *m,
		struct weir_itch_event *ev)
{
	struct weir_book_order o = { 0 };       /* the order in the book; zero if none */
	int64_t side = 0, px = 0;
	uint64_t shares = 0, ref = 0, match = 0, stock = 0, printable = 0, locate = m->locate;
	double price, notional;
	bool found = false;
	int rc = 0;

	switch (m->type) {
	case 'A':
	case 'F':
		side = side_of(m->add.side);
		px = m->add.price;
		shares = m->add.shares;
		ref = m->add.ref;
		stock = m->add.stock;
		if (b)
			rc = weir_book_add(b, ref, m->locate, (int8_t)side, m->add.price, m->add.shares);
		break;
	case 'E':
	case 'C':
		shares = m->exec.shares;
		ref = m->exec.ref;
		match = m->exec.match;
		printable = m->type == 'E' || m->exec.printable == 'Y';
		if (b)
			found = (rc = weir_book_execute(b, ref, m->exec.shares, &o)) == 0;
		px = m->type == 'C' ? m->exec.price : o.price;
		break;
	case 'X':
		shares = m->cancel.shares;
		ref = m->cancel.ref;
		if (b)
			found = (rc = weir_book_cancel(b, ref, m->cancel.shares, &o)) == 0;
		px = o.price;
		break;
	case 'D':
		ref = m->del.ref;
		if (b)
			found = (rc = weir_book_delete(b, ref, &o)) == 0;
		px = o.price;
		shares = o.shares;
		break;
	case 'U':
		shares = m->replace.shares;
		px = m->replace.price;
		ref = m->replace.new_ref;
		if (b)
			found = (rc = weir_book_replace(b, m->replace.ref, ref, m->locate, m->replace.price,
							m->replace.shares, &o)) != -ENOENT;
		break;
	case 'P':
		side = side_of(m->trade.side);
		px = m->trade.price;
		shares = m->trade.shares;
		ref = m->trade.ref;
		match = m->trade.match;
		stock = m->trade.stock;
		printable = 1;
		break;
	case 'Q':
		px = m->cross.price;
		shares = m->cross.shares;
		match = m->cross.match;
		stock = m->cross.stock;
		printable = 1;
		break;
	case 'R':
		stock = m->dir.stock;
		break;
	default:
		break;
	}
	if (found) {
		side = o.side;
		locate = o.locate;
	}
	if (d) {
		if (stock)
			d->stock[locate] = stock;
		else
			stock = d->stock[locate];
	}
	price = (double)px / 1e4;
	notional = (double)px * (double)shares / 1e4;
	ev->ts_ns = m->ts_ns;
	ev->v[WEIR_ITCH_F_type] = (uint8_t)m->type;
	ev->v[WEIR_ITCH_F_side] = (uint64_t)side;
	memcpy(&ev->v[WEIR_ITCH_F_price], &price, 8);
	ev->v[WEIR_ITCH_F_price_e4] = (uint64_t)px;
	ev->v[WEIR_ITCH_F_shares] = shares;
	memcpy(&ev->v[WEIR_ITCH_F_notional], &notional, 8);
	ev->v[WEIR_ITCH_F_order_ref] = ref;
	ev->v[WEIR_ITCH_F_match] = match;
	ev->v[WEIR_ITCH_F_locate] = locate;
	ev->v[WEIR_ITCH_F_stock] = stock;
	ev->v[WEIR_ITCH_F_printable] = printable;
	top_of_book(b, b && m->type != 'S' && m->type != 'R' ? tob_get(b, (uint16_t)locate) : NULL, ev);
	return rc;
}
