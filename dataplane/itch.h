/* SPDX-License-Identifier: Apache-2.0
 * NASDAQ TotalView-ITCH 5.0 over MoldUDP64: packet framing, message decoding, a stock
 * directory, a bounded order book, and the flat "trading event" a query aggregates.
 *
 * Pure functions over (pointer, length) and plain structs: no DPDK types, so all of it
 * is unit-tested and fuzzed on plain buffers.  Specs: MoldUDP64 Protocol Specification
 * v1.00 (downstream packet, request packet); Nasdaq TotalView-ITCH 5.0 (sections 4.1-4.6;
 * all integers big-endian, Price(4) = u32 with 4 implied decimals, timestamps = u48 ns
 * since midnight, Alpha fields left-justified and space-padded).
 *
 * Per datagram:   weir_mold_parse -> for each block: weir_itch_decode -> weir_itch_event.
 * A malformed datagram is dropped whole (its messages cannot be located); a malformed
 * block costs that block only (the framing around it is intact, so the sequence numbers
 * of the others stay exact).  Every outcome other than "decoded" has one reason below.
 */
#ifndef WEIR_ITCH_H
#define WEIR_ITCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Drop and skip reasons.  Names are stable: they are exported in stats.  The mold_*
 * reasons drop a datagram (first failing check, in this order); the msg_* reasons
 * concern one message block.  msg_skipped is not an error: a type this decoder does not
 * decode (H Y L V W K J h B I N O ...), stepped over by its block's length prefix. */
#define WEIR_ITCH_REASONS(X)                                                             \
	X(mold_truncated, "datagram shorter than the 20-byte MoldUDP64 header")          \
	X(mold_overrun,   "a block's length prefix or bytes run past the datagram")      \
	X(mold_trailing,  "bytes after the last block, or after a heartbeat/end header") \
	X(msg_empty,      "zero-length message block (no ITCH type byte)")               \
	X(msg_short,      "decoded type, block shorter than its ITCH 5.0 length")        \
	X(msg_long,       "decoded type, block longer than its ITCH 5.0 length")         \
	X(msg_skipped,    "type not decoded here, stepped over (not an error)")

enum weir_itch_bad {
#define X(n, d) WEIR_ITCH_BAD_##n,
	WEIR_ITCH_REASONS(X)
#undef X
	WEIR_ITCH_BAD_MAX
};

extern const char *const weir_itch_bad_name[WEIR_ITCH_BAD_MAX];
extern const char *const weir_itch_bad_desc[WEIR_ITCH_BAD_MAX];

/* Big-endian loads (any alignment). */
static inline uint16_t weir_itch_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t weir_itch_be32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return __builtin_bswap32(v); }
static inline uint64_t weir_itch_be64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return __builtin_bswap64(v); }

/* ---- MoldUDP64 ----------------------------------------------------------------------- */

#define WEIR_MOLD_HDR_LEN   20          /* session[10], u64 sequence, u16 count */
#define WEIR_MOLD_REQ_LEN   20          /* request: session[10], u64 sequence, u16 count */
#define WEIR_MOLD_SESSION   10
#define WEIR_MOLD_HEARTBEAT 0           /* count: no blocks; sequence = the next expected */
#define WEIR_MOLD_END       0xFFFF      /* count: end of session, no blocks */

/* A parsed downstream packet.  Blocks stay in the datagram (zero copy). */
struct weir_mold {
	uint8_t session[WEIR_MOLD_SESSION]; /* as sent (ASCII on the wire; not checked) */
	uint16_t count;                     /* as sent: 0 heartbeat, 0xFFFF end of session */
	uint16_t nmsgs;                     /* message blocks: count, or 0 for end of session */
	uint64_t seq;                       /* sequence number of the first block */
	const uint8_t *blocks;              /* the first block (its u16 length prefix) */
};

/* Validate a downstream packet: the header, then that exactly `count` blocks (u16 BE
 * length + bytes) fill the rest of the datagram; heartbeat and end-of-session carry
 * nothing after the header.  Zero-length blocks pass here (weir_itch_decode says
 * msg_empty).  Returns WEIR_ITCH_BAD_MAX and fills *m, else the drop reason.  The
 * session is not checked (the anonymised captures carry zeros). */
static inline int
weir_mold_parse(const uint8_t *p, uint32_t len, struct weir_mold *m)
{
	uint32_t off = WEIR_MOLD_HDR_LEN;

	if (len < WEIR_MOLD_HDR_LEN)
		return WEIR_ITCH_BAD_mold_truncated;
	memcpy(m->session, p, WEIR_MOLD_SESSION);
	m->seq = weir_itch_be64(p + 10);
	m->count = weir_itch_be16(p + 18);
	m->nmsgs = m->count == WEIR_MOLD_END ? 0 : m->count;
	m->blocks = p + WEIR_MOLD_HDR_LEN;
	for (unsigned i = 0; i < m->nmsgs; i++) {
		if (len - off < 2)
			return WEIR_ITCH_BAD_mold_overrun;
		off += 2;
		if (len - off < weir_itch_be16(p + off - 2))
			return WEIR_ITCH_BAD_mold_overrun;
		off += weir_itch_be16(p + off - 2);
	}
	return off == len ? WEIR_ITCH_BAD_MAX : WEIR_ITCH_BAD_mold_trailing;
}

/* Iterating a parsed packet's blocks:
 *	const uint8_t *b = m.blocks;
 *	for (unsigned i = 0; i < m.nmsgs; i++, b = weir_mold_next(b))
 *		rc = weir_itch_decode(b + 2, weir_mold_len(b), &msg);    (sequence m.seq + i) */
static inline uint16_t weir_mold_len(const uint8_t *blk) { return weir_itch_be16(blk); }
static inline const uint8_t *weir_mold_next(const uint8_t *blk) { return blk + 2 + weir_itch_be16(blk); }

/* Build a downstream packet into out[cap]: n blocks msgs[i] of lens[i] bytes from
 * sequence seq.  n = 0 builds a heartbeat, n = WEIR_MOLD_END an end-of-session packet
 * (msgs, lens unused).  Returns its length, or -ENOSPC (beyond cap), -EMSGSIZE (beyond
 * the 65535 bytes of a UDP payload). */
int weir_mold_build(uint8_t *out, uint32_t cap, const uint8_t session[WEIR_MOLD_SESSION],
		    uint64_t seq, const uint8_t *const *msgs, const uint16_t *lens, uint16_t n);

/* Build the 20-byte retransmission request for `count` messages from sequence seq
 * (sent to the session's re-request server).  Returns WEIR_MOLD_REQ_LEN. */
uint32_t weir_mold_request(uint8_t out[WEIR_MOLD_REQ_LEN], const uint8_t session[WEIR_MOLD_SESSION],
			   uint64_t seq, uint16_t count);

/* ---- ITCH 5.0 messages --------------------------------------------------------------- */

/* An 8-byte Alpha stock symbol packed big-endian into a u64: "AAPL    " is
 * 0x4141504c20202020.  Unique, ordered like the symbols, and readable in hex. */
static inline uint64_t weir_itch_stock(const uint8_t *p) { return weir_itch_be64(p); }
/* The key of a symbol string (space-padded to 8; longer strings are cut). */
uint64_t weir_itch_stock_key(const char *sym);
/* The symbol of a key, trailing spaces removed, NUL-terminated. */
void weir_itch_symbol(uint64_t key, char out[9]);

/* Fixed length of each decoded type (S R A F E C X D U P Q), 0 for all others. */
extern const uint8_t weir_itch_msg_len[256];

/* Per-type payloads.  Prices are Price(4): dollars * 10000. */
struct weir_itch_sys     { char event_code; };                                         /* S */
struct weir_itch_stockdir {                                                             /* R */
	uint64_t stock;
	uint32_t round_lot_size;
	uint32_t etp_leverage;
	char market_category, financial_status, round_lots_only, issue_classification;
	char issue_subtype[2];
	char authenticity, short_sale_threshold, ipo_flag, luld_tier, etp_flag, inverse;
};
struct weir_itch_add {                                                                  /* A F */
	uint64_t ref;
	uint64_t stock;
	uint32_t shares;
	uint32_t price;
	uint32_t mpid;                  /* F: attribution, 4 Alpha packed big-endian; A: 0 */
	char side;                      /* 'B' or 'S' */
};
struct weir_itch_exec {                                                                 /* E C */
	uint64_t ref;
	uint64_t match;
	uint32_t shares;                /* executed */
	uint32_t price;                 /* C: execution price; E: 0 (the order's: book) */
	char printable;                 /* C: 'Y' or 'N'; E: 0 (always printable) */
};
struct weir_itch_cancel  { uint64_t ref; uint32_t shares; };                            /* X */
struct weir_itch_delete  { uint64_t ref; };                                             /* D */
struct weir_itch_replace { uint64_t ref, new_ref; uint32_t shares, price; };            /* U */
struct weir_itch_trade {                                                                /* P */
	uint64_t ref;                   /* of the non-displayed order (0 since 2014) */
	uint64_t match;
	uint64_t stock;
	uint32_t shares;
	uint32_t price;
	char side;
};
struct weir_itch_cross {                                                                /* Q */
	uint64_t shares;                /* u64 in ITCH 5.0 */
	uint64_t match;
	uint64_t stock;
	uint32_t price;
	char cross_type;                /* O C H I */
};

/* A decoded message: the common header and the payload of its type. */
struct weir_itch_msg {
	char type;
	uint16_t locate;
	uint16_t tracking;
	uint64_t ts_ns;                 /* ns since midnight (u48) */
	union {
		struct weir_itch_sys sys;
		struct weir_itch_stockdir dir;
		struct weir_itch_add add;
		struct weir_itch_exec exec;
		struct weir_itch_cancel cancel;
		struct weir_itch_delete del;
		struct weir_itch_replace replace;
		struct weir_itch_trade trade;
		struct weir_itch_cross cross;
	};
};

/* Decode one message block (the bytes after its length prefix) into *m.  Returns
 * WEIR_ITCH_BAD_MAX when decoded; else msg_empty, msg_skipped (m->type set), or
 * msg_short/msg_long: the block's length differs from the type's fixed length (the spec
 * fixes every length, so either way the block is not what it claims and is dropped).
 * Reads only p[0, len).  weir_mold_parse + this: 6.0 ns per message (Nasdaq's sample,
 * 32 per packet, release build, AMD EPYC; bench itch_decode/batch:32). */
static inline int
weir_itch_decode(const uint8_t *p, uint32_t len, struct weir_itch_msg *m)
{
	uint32_t want;
	uint64_t th;

	if (len == 0)
		return WEIR_ITCH_BAD_msg_empty;
	m->type = (char)p[0];
	want = weir_itch_msg_len[p[0]];
	if (want == 0)
		return WEIR_ITCH_BAD_msg_skipped;
	if (len != want)
		return len < want ? WEIR_ITCH_BAD_msg_short : WEIR_ITCH_BAD_msg_long;
	/* every decoded type is >= 12 bytes: bytes 3..10 are tracking (u16) + timestamp (u48) */
	th = weir_itch_be64(p + 3);
	m->locate = weir_itch_be16(p + 1);
	m->tracking = (uint16_t)(th >> 48);
	m->ts_ns = th & ((UINT64_C(1) << 48) - 1);
	switch (p[0]) {
	case 'S':
		m->sys.event_code = (char)p[11];
		break;
	case 'R':
		m->dir.stock = weir_itch_stock(p + 11);
		m->dir.market_category = (char)p[19];
		m->dir.financial_status = (char)p[20];
		m->dir.round_lot_size = weir_itch_be32(p + 21);
		m->dir.round_lots_only = (char)p[25];
		m->dir.issue_classification = (char)p[26];
		m->dir.issue_subtype[0] = (char)p[27];
		m->dir.issue_subtype[1] = (char)p[28];
		m->dir.authenticity = (char)p[29];
		m->dir.short_sale_threshold = (char)p[30];
		m->dir.ipo_flag = (char)p[31];
		m->dir.luld_tier = (char)p[32];
		m->dir.etp_flag = (char)p[33];
		m->dir.etp_leverage = weir_itch_be32(p + 34);
		m->dir.inverse = (char)p[38];
		break;
	case 'A':
	case 'F':
		m->add.ref = weir_itch_be64(p + 11);
		m->add.side = (char)p[19];
		m->add.shares = weir_itch_be32(p + 20);
		m->add.stock = weir_itch_stock(p + 24);
		m->add.price = weir_itch_be32(p + 32);
		m->add.mpid = p[0] == 'F' ? weir_itch_be32(p + 36) : 0;
		break;
	case 'E':
	case 'C':
		m->exec.ref = weir_itch_be64(p + 11);
		m->exec.shares = weir_itch_be32(p + 19);
		m->exec.match = weir_itch_be64(p + 23);
		m->exec.printable = p[0] == 'C' ? (char)p[31] : 0;
		m->exec.price = p[0] == 'C' ? weir_itch_be32(p + 32) : 0;
		break;
	case 'X':
		m->cancel.ref = weir_itch_be64(p + 11);
		m->cancel.shares = weir_itch_be32(p + 19);
		break;
	case 'D':
		m->del.ref = weir_itch_be64(p + 11);
		break;
	case 'U':
		m->replace.ref = weir_itch_be64(p + 11);
		m->replace.new_ref = weir_itch_be64(p + 19);
		m->replace.shares = weir_itch_be32(p + 27);
		m->replace.price = weir_itch_be32(p + 31);
		break;
	case 'P':
		m->trade.ref = weir_itch_be64(p + 11);
		m->trade.side = (char)p[19];
		m->trade.shares = weir_itch_be32(p + 20);
		m->trade.stock = weir_itch_stock(p + 24);
		m->trade.price = weir_itch_be32(p + 32);
		m->trade.match = weir_itch_be64(p + 36);
		break;
	case 'Q':
		m->cross.shares = weir_itch_be64(p + 11);
		m->cross.stock = weir_itch_stock(p + 19);
		m->cross.price = weir_itch_be32(p + 27);
		m->cross.match = weir_itch_be64(p + 31);
		m->cross.cross_type = (char)p[39];
		break;
	}
	return WEIR_ITCH_BAD_MAX;
}

/* ---- stock directory ----------------------------------------------------------------- */

/* locate -> symbol key (0: unknown), 512 KiB, zeroed by the caller (calloc).  Filled by
 * weir_itch_event from R messages, and from A F P Q, which carry locate and stock too (a
 * feed joined after the start of day never sees the R messages). */
struct weir_itch_dir {
	uint64_t stock[65536];
};

/* ---- order book ---------------------------------------------------------------------- */

/* Orders by reference number, all locates in one fixed-capacity open-addressing table
 * (linear probing, backward-shift deletion: no tombstones, probe lengths never degrade).
 * The slot array is the next power of two >= 4/3 max_orders (load <= 3/4, 24-byte slots),
 * allocated at create and never resized.  An add beyond max_orders is dropped and
 * counted, never overwrites.  Not thread-safe: one book per RX core (ITCH references
 * are unique per day across all stocks, so one book per feed).
 *
 * Price levels (exact top of book): per (locate, side), price -> the total remaining
 * shares and the count of the live orders at that price.  An order is in a level when
 * its side is known (+1/-1; a U of an unknown original adds side 0) and it has shares;
 * a level exists while it holds an order, so there are never more levels than
 * max_orders.  Every operation keeps them exact: the order's shares join its level on
 * add, executed/cancelled shares leave it (E and C alike at the ORDER's price, whatever
 * C's execution price), and a removed order (deleted, replaced, executed or cancelled to
 * 0, overfilled) takes what it had left; a level left with no order is removed.
 *   Layout: a pool of max_orders 32-byte level nodes allocated at create (never grown;
 * an order slot holds its level's index, so E C X D U reach it without a search).  Per
 * (locate, side) the levels form an AVL tree ordered by price, with the best (bids: the
 * highest, asks: the lowest) cached: a best lookup is O(1).  The per-locate headers sit
 * in pages of 64 locates, at most min(1024, max_orders) pages (a page is in use while
 * one of its locates has a level), so a small book stays small.
 *   Level work per operation on top of the order table's probe, L = the levels on that
 * locate's side, worst case (AVL height <= 1.44 log2 L, no amortisation): an add at
 * the best price O(1), at another O(log L) (a new level: + O(log L) rebalancing); E C X
 * that leave the order live O(1); an order removed O(1), O(log L) when it was its
 * level's last (unlink + rebalance; the next best is the old one's in-order neighbour,
 * O(1) in an AVL tree); top of book O(1); the best n levels O(n + log L).
 *   Memory: 24 B x (power of two >= 4/3 max_orders) + 32 B x (max_orders + 1) + 1 KiB x
 * min(1024, max_orders) + ~2 KiB: 2^20 orders 81 MiB (48 without levels), 65536 orders
 * 6.0 MiB.  Pool and pages are reserved, not touched, until used.  The level pool cannot
 * run out (should it ever: counted in level_full, and the order kept outside any level). */
struct weir_book;

struct weir_book_params {
	uint32_t max_orders;            /* live orders held at most: 1 .. 2^30 */
};

/* A live order as the book holds it. */
struct weir_book_order {
	uint64_t ref;
	uint32_t price;                 /* Price(4) */
	uint32_t shares;                /* remaining */
	uint16_t locate;
	int8_t side;                    /* +1 buy, -1 sell, 0 unknown */
};

struct weir_book_stats {
	uint64_t live;                  /* orders held now (= adds - removes) */
	uint64_t high_water;            /* most orders ever held at once */
	uint64_t adds;                  /* orders added: A, F, U's new order */
	uint64_t removes;               /* executed or cancelled to 0, deleted, replaced */
	uint64_t table_full;            /* adds dropped: max_orders live */
	uint64_t dup_ref;               /* adds dropped: the reference is live already */
	uint64_t unknown_ref;           /* E C X D U for a reference not in the book */
	uint64_t overfill;              /* E C X for more shares than remain (order removed) */
	uint64_t capacity;              /* max_orders */
	uint64_t memory_bytes;          /* the table, the level pool, the pages, the handle */
	uint64_t levels;                /* price levels held now (all locates, both sides) */
	uint64_t level_high_water;      /* most levels ever held at once */
	uint64_t level_full;            /* orders kept outside any level: pool exhausted (never) */
};

/* One price level. */
struct weir_book_level {
	uint32_t price;                 /* Price(4) */
	uint32_t orders;                /* live orders at the price (>= 1) */
	uint64_t shares;                /* their remaining shares (> 0) */
};

/* Top of book of one locate: bid = the highest buy level, ask = the lowest sell level.
 * An empty side is all 0 (orders 0 tells it from a level at price 0). */
struct weir_book_top {
	struct weir_book_level bid, ask;
};

/* NULL and errno EINVAL (max_orders out of range) or ENOMEM. */
struct weir_book *weir_book_create(const struct weir_book_params *p);
void weir_book_destroy(struct weir_book *b);
/* Remove every order and zero the counters (a new session). */
void weir_book_clear(struct weir_book *b);
void weir_book_get_stats(const struct weir_book *b, struct weir_book_stats *s);
size_t weir_book_memory(const struct weir_book *b);

/* The operations.  `o`, when not NULL, receives the order as it was before the
 * operation (for replace: the original order; untouched on -ENOENT).  Return 0, or:
 * add: -ENOSPC (max_orders live: dropped, table_full++), -EEXIST (dup_ref++, the live
 * order is kept); the others: -ENOENT (unknown_ref++).  execute/cancel take
 * min(shares, remaining) and remove the order at 0 (more than remained: overfill++).
 * replace removes the original and adds new_ref with its side and locate; an unknown
 * original still adds new_ref (side 0, `locate`), and returns -ENOENT; else the add's
 * result. */
int weir_book_add(struct weir_book *b, uint64_t ref, uint16_t locate, int8_t side,
		  uint32_t price, uint32_t shares);
int weir_book_execute(struct weir_book *b, uint64_t ref, uint32_t shares, struct weir_book_order *o);
int weir_book_cancel(struct weir_book *b, uint64_t ref, uint32_t shares, struct weir_book_order *o);
int weir_book_delete(struct weir_book *b, uint64_t ref, struct weir_book_order *o);
int weir_book_replace(struct weir_book *b, uint64_t ref, uint64_t new_ref, uint16_t locate,
		      uint32_t price, uint32_t shares, struct weir_book_order *o);
/* 0 and *o, or -ENOENT (not counted). */
int weir_book_find(const struct weir_book *b, uint64_t ref, struct weir_book_order *o);
/* Best bid and ask of a locate, O(1).  Returns which exist: bit 0 bid, bit 1 ask. */
int weir_book_top(const struct weir_book *b, uint16_t locate, struct weir_book_top *t);
/* The best n levels of one side (+1 bids, highest first; -1 asks, lowest first) into
 * out[0..n), O(n + log L).  Returns how many (fewer when the side has fewer). */
unsigned weir_book_depth(const struct weir_book *b, uint16_t locate, int8_t side,
			 struct weir_book_level *out, unsigned n);
/* Slow, for tests and fuzzing (allocates scratch): every order reachable from its home
 * slot without a gap, no reference twice, the count equal to live; every level in
 * exactly one (locate, side) tree, ordered, balanced, linked both ways, its shares and
 * order count the sums over the orders that name it (and every order with a side and
 * shares names the level of its locate, side and price), the cached best the tree's
 * extreme, the pages' accounts, no node or page lost.  0, -EINVAL, or -ENOMEM. */
int weir_book_check(const struct weir_book *b);

/* ---- trading events ------------------------------------------------------------------ */

/* The fields of a trading event, in record order, each 8 bytes of its type; a query
 * selects them by name.  Types: 0 i64, 1 u64, 2 f64 (the values of enum weir_ftype).
 *
 *                A F        E             C             X           D            U           P        Q
 *  side      message     order(book)   order(book)   order(book) order(book)  order(book)  message    0
 *  price_e4  message     order(book)   message       order(book) order(book)  new price    message  cross
 *  shares    order       executed      executed      cancelled   remaining    new shares   trade    cross
 *  order_ref ref         ref           ref           ref         ref          new ref      ref        0
 *  match       0         match         match           0           0            0          match    match
 *  printable   0           1           C's 'Y'         0           0            0            1        1
 *  bid ask spread bid_size ask_size: every type above, the top of book of the event's
 *            locate after the message is applied (book)
 * S and R carry type, locate and stock only.  For an order not in the book (-ENOENT)
 * the order(book) cells are 0, and so is notional where the price is; the rest is the
 * message's.  locate: the order's for an order in the book (equal to the message's on
 * a valid feed), else the message's.  The (book) cells are 0 without a book (NULL).
 * bid/ask: the best levels' prices in dollars, bid_size/ask_size their total shares,
 * 0 for an empty side; spread = (ask_e4 - bid_e4) / 10000 when both sides have a level,
 * else 0 (negative on a crossed book, as a feed joined late can show).  ts_ns is ns
 * since midnight (Eastern): the dataplane adds the session's date to make event_time. */
#define WEIR_ITCH_FIELDS(X)                                                              \
	X(type,      1, "message type, the ASCII letter ('E' = 69)")                        \
	X(side,      0, "+1 buy, -1 sell, 0 unknown or none")                              \
	X(price,     2, "dollars (price_e4 / 10000)")                                      \
	X(price_e4,  0, "Price(4): dollars * 10000")                                       \
	X(shares,    1, "order, executed, cancelled or remaining shares (table above)")    \
	X(notional,  2, "price * shares, dollars")                                         \
	X(order_ref, 1, "order reference number (U: the new one)")                         \
	X(match,     1, "match number of an execution, else 0")                            \
	X(locate,    1, "stock locate code")                                               \
	X(stock,     1, "symbol key (weir_itch_stock_key), 0 unknown")                     \
	X(printable, 1, "1: an execution that counts towards volume (E, C 'Y', P, Q)")     \
	X(bid,       2, "best bid of the stock after the message, dollars (0: none)")      \
	X(ask,       2, "best ask of the stock after the message, dollars (0: none)")      \
	X(spread,    2, "ask - bid, dollars, when both exist (else 0)")                    \
	X(bid_size,  1, "shares at the best bid (0: none)")                                \
	X(ask_size,  1, "shares at the best ask (0: none)")

enum weir_itch_field {
#define X(n, t, d) WEIR_ITCH_F_##n,
	WEIR_ITCH_FIELDS(X)
#undef X
	WEIR_ITCH_NFIELDS
};

extern const char *const weir_itch_field_name[WEIR_ITCH_NFIELDS];
extern const char *const weir_itch_field_desc[WEIR_ITCH_NFIELDS];
extern const uint8_t weir_itch_field_type[WEIR_ITCH_NFIELDS];

struct weir_itch_event {
	uint64_t ts_ns;                 /* the message's: ns since midnight */
	uint64_t v[WEIR_ITCH_NFIELDS];  /* bits of each field's type */
};

/* Apply a message weir_itch_decode decoded to the directory and the book (either may be
 * NULL: then stock, resp. the order-derived fields and the top of book, are 0) and fill
 * *ev.  Returns 0 or the book operation's -errno (the event is filled either way).
 * Parse + decode + this: 22-23 ns per message with the sample's L2-resident book (bench
 * itch_book/batch:32; 15 ns before the price levels: keeping them costs ~6 ns, the
 * event's top of book ~1); a book of millions of orders adds a cache miss per A F E C
 * X D U, and one for the level when its locate's header and node are cold. */
int weir_itch_event(struct weir_book *b, struct weir_itch_dir *d, const struct weir_itch_msg *m,
		    struct weir_itch_event *ev);

static inline int64_t weir_itch_ev_i64(const struct weir_itch_event *e, int f) { return (int64_t)e->v[f]; }
static inline double
weir_itch_ev_f64(const struct weir_itch_event *e, int f)
{
	double d;

	memcpy(&d, &e->v[f], 8);
	return d;
}

#ifdef __cplusplus
}
#endif
#endif
