/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target: MoldUDP64 parsing, block iteration, ITCH 5.0 decoding and the order
 * book over arbitrary bytes.  data[0] picks the book's capacity (1..64 orders, so adds
 * hit table_full); the rest is a MoldUDP64 datagram.  When it is not one, the same bytes
 * are read as a BinaryFILE stream (u16 length + message) so the book still sees them.
 * Checked: results inside the input, a parsed packet rebuilds byte for byte, decode
 * reasons in range, every event's top of book equal to weir_book_top of its locate (0
 * for S and R), and the book's invariants (orders, and the price levels against them:
 * weir_book_check) every 16 messages and after every input. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "itch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct weir_itch_dir dir;
static unsigned applied;

/* The event's bid ask spread bid_size ask_size against the book's top of its locate. */
static void
check_top(const struct weir_book *b, const struct weir_itch_event *ev)
{
	struct weir_book_top t = { { 0, 0, 0 }, { 0, 0, 0 } };
	double spread = 0;

	if (ev->v[WEIR_ITCH_F_type] != 'S' && ev->v[WEIR_ITCH_F_type] != 'R')
		weir_book_top(b, (uint16_t)ev->v[WEIR_ITCH_F_locate], &t);
	if (t.bid.orders && t.ask.orders)
		spread = ((double)t.ask.price - (double)t.bid.price) / 1e4;
	if (weir_itch_ev_f64(ev, WEIR_ITCH_F_bid) != t.bid.price / 1e4 ||
	    weir_itch_ev_f64(ev, WEIR_ITCH_F_ask) != t.ask.price / 1e4 ||
	    weir_itch_ev_f64(ev, WEIR_ITCH_F_spread) != spread ||
	    ev->v[WEIR_ITCH_F_bid_size] != t.bid.shares || ev->v[WEIR_ITCH_F_ask_size] != t.ask.shares ||
	    (t.bid.orders == 0) != (t.bid.shares == 0) || (t.ask.orders == 0) != (t.ask.shares == 0))
		__builtin_trap();
}

static void
one(struct weir_book *b, const uint8_t *p, uint32_t len)
{
	struct weir_itch_msg m;
	struct weir_itch_event ev;
	int rc = weir_itch_decode(p, len, &m);

	if (rc < 0 || rc > WEIR_ITCH_BAD_MAX)
		__builtin_trap();
	if (rc != WEIR_ITCH_BAD_MAX)
		return;
	if (len != weir_itch_msg_len[(uint8_t)m.type])
		__builtin_trap();
	rc = weir_itch_event(b, &dir, &m, &ev);
	if (rc != 0 && rc != -ENOENT && rc != -ENOSPC && rc != -EEXIST)
		__builtin_trap();
	if (ev.v[WEIR_ITCH_F_type] != (uint8_t)m.type || ev.v[WEIR_ITCH_F_locate] > UINT16_MAX)
		__builtin_trap();
	check_top(b, &ev);
	if (++applied % 16 == 0 && weir_book_check(b))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t rebuilt[65536];
	static const uint8_t *msgs[65535];
	static uint16_t lens[65535];
	struct weir_book_params bp;
	struct weir_book_stats s;
	struct weir_book *b;
	struct weir_mold m;
	const uint8_t *p;
	uint32_t len;
	int rc;

	if (size < 1 || size > 65536)
		return 0;
	bp.max_orders = 1 + data[0] % 64;
	p = data + 1;
	len = (uint32_t)(size - 1);
	b = weir_book_create(&bp);
	if (!b)
		__builtin_trap();
	rc = weir_mold_parse(p, len, &m);
	if (rc == WEIR_ITCH_BAD_MAX) {
		const uint8_t *blk = m.blocks;
		for (unsigned i = 0; i < m.nmsgs; i++, blk = weir_mold_next(blk)) {
			if (blk + 2 > p + len || blk + 2 + weir_mold_len(blk) > p + len)
				__builtin_trap();
			msgs[i] = blk + 2;
			lens[i] = weir_mold_len(blk);
			one(b, blk + 2, weir_mold_len(blk));
		}
		if (blk != p + len)
			__builtin_trap();
		/* what parsed rebuilds to the same bytes */
		if (weir_mold_build(rebuilt, sizeof(rebuilt), m.session, m.seq, msgs, lens, m.count) != (int)len ||
		    memcmp(rebuilt, p, len))
			__builtin_trap();
	} else {
		if (rc < 0 || rc > WEIR_ITCH_BAD_mold_trailing)
			__builtin_trap();
		for (uint32_t off = 0; len - off >= 2;) {
			uint32_t l = weir_itch_be16(p + off);
			if (l > len - off - 2)
				l = len - off - 2;         /* a cut message: decoded as far as it goes */
			one(b, p + off + 2, l);
			off += 2 + l;
		}
	}
	weir_book_get_stats(b, &s);
	if (weir_book_check(b) || s.live > bp.max_orders || s.memory_bytes != weir_book_memory(b) ||
	    s.levels > s.live || s.level_full)
		__builtin_trap();
	weir_book_destroy(b);
	return 0;
}
