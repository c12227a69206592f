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
	uint16_t locate;
	int8_t side;
	uint8_t used;
};
_Static_assert(sizeof(struct slot) == 24, "book slot layout");

struct weir_book {
	struct slot *s;
	uint64_t mask;                  /* slots - 1 (a power of two) */
	uint32_t shift;                 /* 64 - log2(slots): home slot = top bits of the hash */
	uint32_t max_orders;
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
 * (i, j] moves back into the hole, so every run stays gap-free (Knuth 6.4, Algorithm R). */
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
	b->s = calloc(slots, sizeof(*b->s));
	if (!b->s) {
		free(b);
		errno = ENOMEM;
		return NULL;
	}
	b->mask = slots - 1;
	b->shift = 64 - bits;
	b->max_orders = p->max_orders;
	b->st.capacity = p->max_orders;
	b->st.memory_bytes = sizeof(*b) + slots * sizeof(*b->s);
	return b;
}

void
weir_book_destroy(struct weir_book *b)
{
	if (b) {
		free(b->s);
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
	b->st.adds++;
	if (++b->st.live > b->st.high_water)
		b->st.high_water = b->st.live;
	return 0;
}

/* Execute and cancel alike: take shares off the order, remove it at 0. */
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
		return 0;
	}
	if (shares > s->shares)
		b->st.overfill++;
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

int
weir_book_check(const struct weir_book *b)
{
	uint64_t n = 0;

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
	return 0;
}

/* ---- trading events ------------------------------------------------------------------ */

static inline int8_t
side_of(char c)
{
	return c == 'B' ? 1 : c == 'S' ? -1 : 0;
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
	return rc;
}
