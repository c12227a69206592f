/* SPDX-License-Identifier: Apache-2.0
 * ITCH 5.0 over MoldUDP64 per message: what an RX core does with the UDP payload of a
 * MoldUDP64 datagram (frame headers: see decode/...), minus DPDK:
 *
 *   itch_decode/batch:N   weir_mold_parse (header, every block's bounds), then per block
 *                         weir_itch_decode, a count per type and a fold of the timestamp;
 *   itch_book/batch:N     the same, and per decoded message weir_itch_event: the order
 *                         book (add, execute, cancel, delete, replace by reference), its
 *                         price levels and the event's top of book (bid ask spread sizes),
 *                         and the stock directory, with a fold of executed shares.
 *
 * Input: the 1000 messages of Nasdaq's sample (../shared/data/itch, read at run time;
 * skipped when absent), then one D for every order the sample leaves in the book, so a
 * pass leaves the book empty and every pass sees the same book (the mix becomes 919 of
 * 1752 D: a whole trading day is about as D-heavy).  Packed N messages per MoldUDP64
 * packet, packets 64-byte aligned one after the other; one iteration = one pass.  The
 * sample's orders keep the book L1/L2-resident: a full day's book (millions of live
 * orders) adds a cache miss per E C X D U.  Items = messages (skipped types included).
 *
 * Checks (independent of the code measured): every pass counts the sample's known type
 * mix (../shared/data/README.md) plus the closing deletes, the timestamps fold to the sum
 * read straight from the bytes; the book sees 394 unknown references per pass (the
 * sample starts at 09:30; test_itch's naive book and a Python replay agree), adds
 * A + F + U per pass, never fills, and E + C executed shares equal the bytes' sum; the
 * book ends every pass without a price level (the sample holds 421 at its end), and
 * passes fold the same best-bid sizes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itch.h"
#include "micro.h"

#ifndef WEIR_ITCH_SAMPLE
#define WEIR_ITCH_SAMPLE "../shared/data/itch/12302019_SNIPPET.NASDAQ_ITCH50"
#endif

#define MAXMSG        2048
#define SAMPLE_N      1000
#define SAMPLE_UNKNOWN 394
#define BOOK_ORDERS   65536

/* The sample's types (../shared/data/README.md). */
static const struct { char t; unsigned n; } sample_mix[] = {
	{ 'A', 367 }, { 'U', 225 }, { 'F', 193 }, { 'D', 167 }, { 'E', 28 }, { 'X', 6 },
	{ 'I', 4 }, { 'P', 4 }, { 'Q', 4 }, { 'S', 1 }, { 'C', 1 },
};

struct pool {
	uint8_t *file;                  /* the sample, BinaryFILE framing */
	uint8_t closing[MAXMSG][19];    /* the D messages that empty the book */
	const uint8_t *msg[MAXMSG];
	uint16_t len[MAXMSG];
	unsigned n, nclosing;
	uint8_t *pk;                    /* packets, 64-byte aligned */
	uint32_t off[MAXMSG], plen[MAXMSG];
	unsigned npk;
	uint64_t ts_sum, exec_shares;   /* per pass, read from the bytes */
};

static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (b = malloc((size_t)n)) != NULL && fread(b, 1, (size_t)n, f) == (size_t)n)
		*len = (size_t)n;
	else {
		free(b);
		b = NULL;
	}
	fclose(f);
	return b;
}

static uint64_t
ts_of(const uint8_t *m)
{
	uint64_t t = 0;

	for (int i = 5; i < 11; i++)
		t = t << 8 | m[i];
	return t;
}

/* 0, 1 when the sample is missing, -1 on a setup failure. */
static int
pool_init(struct pool *pl, unsigned batch)
{
	static const uint8_t session[10] = { 'B', 'E', 'N', 'C', 'H', ' ', ' ', ' ', ' ', ' ' };
	struct weir_book_params bp = { .max_orders = BOOK_ORDERS };
	struct weir_book *b;
	struct weir_itch_msg m;
	struct weir_itch_event ev;
	size_t flen = 0, off = 0, cap;
	uint64_t seq = 1, last_ts = 0;

	memset(pl, 0, sizeof(*pl));
	pl->file = slurp(WEIR_ITCH_SAMPLE, &flen);
	if (!pl->file)
		return 1;
	while (off + 2 <= flen && pl->n < MAXMSG) {
		uint16_t l = weir_itch_be16(pl->file + off);
		if (l < 11 || off + 2 + l > flen)
			return -1;
		pl->msg[pl->n] = pl->file + off + 2;
		pl->len[pl->n++] = l;
		off += 2u + l;
	}
	if (pl->n != SAMPLE_N || off != flen)
		return -1;
	/* replay once; a D for every order still in the book (A F U's references, in order) */
	if (!(b = weir_book_create(&bp)))
		return -1;
	for (unsigned i = 0; i < SAMPLE_N; i++)
		if (weir_itch_decode(pl->msg[i], pl->len[i], &m) == WEIR_ITCH_BAD_MAX)
			weir_itch_event(b, NULL, &m, &ev);
	last_ts = ts_of(pl->msg[SAMPLE_N - 1]);
	for (unsigned i = 0; i < SAMPLE_N && pl->n < MAXMSG; i++) {
		const uint8_t *p = pl->msg[i];
		struct weir_book_order o;
		uint64_t ref = weir_itch_be64(p + (p[0] == 'U' ? 19 : 11));
		uint8_t *d = pl->closing[pl->nclosing];

		if ((p[0] != 'A' && p[0] != 'F' && p[0] != 'U') || weir_book_delete(b, ref, &o))
			continue;
		d[0] = 'D';
		d[1] = (uint8_t)(o.locate >> 8);
		d[2] = (uint8_t)o.locate;
		d[3] = d[4] = 0;
		for (int k = 0; k < 6; k++)
			d[5 + k] = (uint8_t)(last_ts >> (40 - 8 * k));
		for (int k = 0; k < 8; k++)
			d[11 + k] = (uint8_t)(ref >> (56 - 8 * k));
		pl->msg[pl->n] = d;
		pl->len[pl->n++] = 19;
		pl->nclosing++;
	}
	weir_book_destroy(b);
	for (unsigned i = 0; i < pl->n; i++) {
		if (pl->msg[i][0] != 'I')      /* the sample's one type not decoded */
			pl->ts_sum += ts_of(pl->msg[i]);
		if (pl->msg[i][0] == 'E' || pl->msg[i][0] == 'C')
			pl->exec_shares += weir_itch_be32(pl->msg[i] + 19);
	}
	/* the packets */
	cap = (size_t)pl->n * 64 + (size_t)pl->n / batch * 64 + 4096;
	for (unsigned i = 0; i < pl->n; i++)
		cap += 2u + pl->len[i];
	pl->pk = aligned_alloc(64, (cap + 63) & ~(size_t)63);
	if (!pl->pk)
		return -1;
	off = 0;
	for (unsigned i = 0; i < pl->n; pl->npk++) {
		unsigned k = pl->n - i < batch ? pl->n - i : batch;
		int len = weir_mold_build(pl->pk + off, (uint32_t)(cap - off), session, seq, pl->msg + i,
					  pl->len + i, (uint16_t)k);
		if (len < 0)
			return -1;
		pl->off[pl->npk] = (uint32_t)off;
		pl->plen[pl->npk] = (uint32_t)len;
		off = (off + (size_t)len + 63) & ~(size_t)63;
		i += k;
		seq += k;
	}
	return 0;
}

static void
pool_free(struct pool *pl)
{
	free(pl->file);
	free(pl->pk);
}

struct run {
	uint64_t cnt[256];
	uint64_t msgs, bad, ts_sum, exec_shares, bid_sizes;
};

/* One pass over the pool: parse, decode, (book). */
static inline __attribute__((always_inline)) void
pass(const struct pool *pl, struct run *r, struct weir_book *b, struct weir_itch_dir *d)
{
	for (unsigned k = 0; k < pl->npk; k++) {
		const uint8_t *p = pl->pk + pl->off[k];
		struct weir_mold mo;

		if (k + 1 < pl->npk)
			__builtin_prefetch(pl->pk + pl->off[k + 1]);
		if (weir_mold_parse(p, pl->plen[k], &mo) != WEIR_ITCH_BAD_MAX) {
			r->bad++;
			continue;
		}
		const uint8_t *blk = mo.blocks;
		for (unsigned i = 0; i < mo.nmsgs; i++, blk = weir_mold_next(blk)) {
			struct weir_itch_msg m;
			int rc = weir_itch_decode(blk + 2, weir_mold_len(blk), &m);

			r->cnt[(uint8_t)m.type]++;
			if (rc != WEIR_ITCH_BAD_MAX)
				continue;
			r->ts_sum += m.ts_ns;
			if (b) {
				struct weir_itch_event ev;
				weir_itch_event(b, d, &m, &ev);
				if (m.type == 'E' || m.type == 'C')
					r->exec_shares += ev.v[WEIR_ITCH_F_shares];
				r->bid_sizes += ev.v[WEIR_ITCH_F_bid_size];
			}
		}
		r->msgs += mo.nmsgs;
	}
}

static void
bm_itch(struct wb_state *st, bool book)
{
	unsigned batch = (unsigned)wb_range(st, 0);
	struct pool *pl = malloc(sizeof(*pl));
	struct weir_book_params bp = { .max_orders = BOOK_ORDERS };
	struct weir_book *b = NULL;
	struct weir_itch_dir *d = NULL;
	struct run r = { { 0 }, 0, 0, 0, 0, 0 };
	struct weir_book_stats bs;
	uint64_t passes;
	int rc = pl ? pool_init(pl, batch) : -1;

	if (rc == 1) {
		wb_skip(st, "the ITCH sample " WEIR_ITCH_SAMPLE " is missing");
		pool_free(pl);
		free(pl);
		return;
	}
	if (rc == 0 && book) {
		b = weir_book_create(&bp);
		d = calloc(1, sizeof(*d));
	}
	if (rc || (book && (!b || !d))) {
		wb_fail(st, "itch: setup failed (out of memory, or the sample is not 1000 BinaryFILE messages)");
		goto out;
	}
	while (wb_keep_running(st))
		pass(pl, &r, b, d);
	passes = (uint64_t)wb_iterations(st);
	wb_set_items(st, (int64_t)r.msgs);
	wb_counter_rate(st, "packets", (double)(passes * pl->npk));
	wb_counter(st, "msgs_per_packet", (double)pl->n / pl->npk);

	/* checks */
	for (size_t k = 0; k < sizeof(sample_mix) / sizeof(sample_mix[0]); k++) {
		uint64_t want = sample_mix[k].n + (sample_mix[k].t == 'D' ? pl->nclosing : 0);
		if (r.cnt[(uint8_t)sample_mix[k].t] != want * passes) {
			wb_fail(st, "itch batch %u: %llu '%c' messages in %llu passes, expected %llu per pass",
				batch, (unsigned long long)r.cnt[(uint8_t)sample_mix[k].t], sample_mix[k].t,
				(unsigned long long)passes, (unsigned long long)want);
			goto out;
		}
	}
	if (r.msgs != passes * pl->n || r.bad || r.ts_sum != passes * pl->ts_sum ||
	    pl->n != SAMPLE_N + pl->nclosing)
		wb_fail(st, "itch batch %u: %llu messages (expected %llu), %llu bad packets, timestamp fold %llx "
			"(expected %llx)", batch, (unsigned long long)r.msgs,
			(unsigned long long)(passes * pl->n), (unsigned long long)r.bad,
			(unsigned long long)r.ts_sum, (unsigned long long)(passes * pl->ts_sum));
	if (book) {
		uint64_t adds = 367 + 193 + 225;        /* A F U */
		weir_book_get_stats(b, &bs);
		if (bs.live || bs.unknown_ref != SAMPLE_UNKNOWN * passes || bs.adds != adds * passes ||
		    bs.table_full || bs.dup_ref || r.exec_shares != pl->exec_shares * passes ||
		    pl->nclosing == 0 || bs.levels || bs.level_high_water < 421 || bs.level_full ||
		    r.bid_sizes % passes)
			wb_fail(st, "itch_book batch %u: %llu passes: %llu live, %llu unknown (expected %llu per pass), "
				"%llu adds (%llu per pass), %llu full, %llu duplicate, executed shares %llu "
				"(expected %llu per pass), %llu levels left, level high water %llu, best-bid size fold %llu",
				batch, (unsigned long long)passes,
				(unsigned long long)bs.live, (unsigned long long)bs.unknown_ref,
				(unsigned long long)SAMPLE_UNKNOWN, (unsigned long long)bs.adds,
				(unsigned long long)adds, (unsigned long long)bs.table_full,
				(unsigned long long)bs.dup_ref, (unsigned long long)r.exec_shares,
				(unsigned long long)pl->exec_shares, (unsigned long long)bs.levels,
				(unsigned long long)bs.level_high_water, (unsigned long long)r.bid_sizes);
		wb_counter(st, "book_bytes", (double)bs.memory_bytes);
	}
out:
	weir_book_destroy(b);
	free(d);
	if (pl)
		pool_free(pl);
	free(pl);
}

static void bm_itch_decode(struct wb_state *st) { bm_itch(st, false); }
static void bm_itch_book(struct wb_state *st) { bm_itch(st, true); }

void
micro_itch_register(void)
{
	static const int64_t batches[] = { 1, 32 };
	static const char *const names[] = { "batch" };

	wb_family("itch_decode", bm_itch_decode, batches, 2, 1, names);
	wb_family("itch_book", bm_itch_book, batches, 2, 1, names);
}
