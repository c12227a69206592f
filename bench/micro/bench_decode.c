/* SPDX-License-Identifier: Apache-2.0
 * WEV/1 decoding per packet and per event: what an RX core does with a burst of 32
 * frames, minus DPDK (dataplane.c rx_main / rx_frame):
 *
 *   per frame:  prefetch the next, weir_decode_frame (Ethernet/IPv4/UDP), UDP port to
 *               source, weir_decode_wev (header checks and every record's time bound),
 *               the producer's sequence bookkeeping;
 *   per record: read time, key and both value fields, pick the worker by key hash,
 *               write the ring record into that worker's staging area, mark each
 *               worker's last record of the batch, track the largest event time;
 *   per burst:  hand the staged records over (here: the staging areas are reset; the
 *               ring itself is measured by ring_two_core).
 *
 * Frames are real Ethernet/IPv4/UDP/WEV frames (../shared/wire-format.md) of one source
 * (2 fields, record_size 32) to 2 workers, built once in a pool of 512 at 2 KiB strides
 * (as in mbufs) and cycled; when the pool wraps the producer's expected sequence
 * restarts (as a new producer's would) so no batch is a duplicate.
 * Items = events; "packets" is a rate counter.
 *
 * Check: one untimed pass over the pool with the same code folds a checksum of every
 * staged record (time, key, fields, worker) that must equal the one computed from the
 * generated values; the timed passes must count every event, no drop, no gap.
 */
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "micro.h"

#define NFRAMES     512
#define FRAME_STRIDE 2048
#define RX_BURST    32
#define NW          2
#define STAGE_RECS  512
#define NFIELDS     2
#define RECORD_SIZE (16 + 8 * NFIELDS)
#define REC_SIZE    48           /* ring record: 24-byte header + 2 fields, to 16 */
#define UDP_PORT    7000
#define SCHEMA      1
#define REC_F_END   1

struct ring_rec {                    /* dataplane.c struct weir_rec */
	int64_t t;
	uint64_t key;
	uint16_t kind, src, flags, rx;
	uint64_t v[];
};

struct stage {
	uint8_t buf[STAGE_RECS * REC_SIZE];
	uint32_t n;
	uint32_t batch_last;
};

struct rxb {
	int8_t port_src[65536];
	uint16_t schema_id[1], record_size[1];
	uint64_t expected;           /* the producer's next sequence, UINT64_MAX: none yet */
	int64_t maxt;
	struct stage st[NW];
	uint32_t touched[2 * NW + 2];
	uint32_t ntouched;
	uint64_t packets, events, bad, dups, gaps;
	uint64_t sum;                /* verify pass: checksum of staged records */
};

struct pool {
	uint8_t *f;                  /* NFRAMES x FRAME_STRIDE */
	uint32_t len[NFRAMES];
	unsigned batch;
	uint64_t sum;                /* checksum of the generated records */
	int64_t maxt;
};

static inline uint64_t
rec_hash(int64_t t, uint64_t key, uint64_t a, uint64_t b, unsigned w)
{
	uint64_t h = (uint64_t)t * 0x9e3779b97f4a7c15u ^ key;

	h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9u ^ a;
	h = (h ^ (h >> 31)) * 0x94d049bb133111ebu ^ b;
	return (h ^ (h >> 32)) + w;
}

static inline unsigned
worker_of(uint64_t key)
{
	uint32_t h = (uint32_t)((key * UINT64_C(0x9e3779b97f4a7c15)) >> 32);

	return (unsigned)(((uint64_t)h * NW) >> 32);
}

/* ---- building frames ---------------------------------------------------------------- */

static void
be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t
ip_csum(const uint8_t *p, unsigned n)
{
	uint32_t s = 0;

	for (unsigned i = 0; i < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* One frame carrying `batch` records from sequence seq; returns its length. */
static uint32_t
frame_build(uint8_t *f, unsigned batch, uint64_t seq, uint64_t *rng, struct pool *pl)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };
	uint32_t plen = WEV_HDR_LEN + batch * RECORD_SIZE;
	uint8_t *ip = f + 14, *udp = ip + 20, *w = udp + 8;
	struct wev_hdr h = { WEV_MAGIC, WEV_VERSION, 0, (uint16_t)batch, RECORD_SIZE, SCHEMA, 9, seq };

	memcpy(f, macs, 12);
	be16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	be16(ip + 2, (uint16_t)(20 + 8 + plen));
	be16(ip + 4, (uint16_t)seq);
	be16(ip + 6, 0x4000);                   /* DF */
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	be16(ip + 10, ip_csum(ip, 20));
	be16(udp, 40000);
	be16(udp + 2, UDP_PORT);
	be16(udp + 4, (uint16_t)(8 + plen));
	be16(udp + 6, 0);
	memcpy(w, &h, sizeof(h));
	for (unsigned i = 0; i < batch; i++) {
		uint8_t *r = w + WEV_HDR_LEN + i * RECORD_SIZE;
		int64_t t = INT64_C(1700000000000000000) + (int64_t)((seq + i) * 1000) +
			    (int64_t)(wb_rnd(rng) % 5000);  /* some disorder */
		uint64_t key = 1 + wb_rnd(rng) % 100000, a = wb_rnd(rng) % 100000, b = wb_rnd(rng);
		memcpy(r, &t, 8);
		memcpy(r + 8, &key, 8);
		memcpy(r + 16, &a, 8);
		memcpy(r + 24, &b, 8);
		pl->sum += rec_hash(t, key, a, b, worker_of(key));
		if (t > pl->maxt)
			pl->maxt = t;
	}
	return 14 + 20 + 8 + plen;
}

static int
pool_init(struct pool *pl, unsigned batch)
{
	uint64_t rng = 42 + batch, seq = 1000;

	memset(pl, 0, sizeof(*pl));
	pl->batch = batch;
	pl->maxt = INT64_MIN;
	pl->f = aligned_alloc(64, (size_t)NFRAMES * FRAME_STRIDE);
	if (!pl->f)
		return -1;
	for (unsigned i = 0; i < NFRAMES; i++, seq += batch)
		pl->len[i] = frame_build(pl->f + (size_t)i * FRAME_STRIDE, batch, seq, &rng, pl);
	return 0;
}

/* ---- the RX path ---------------------------------------------------------------------- */

static void
rxb_init(struct rxb *rx)
{
	memset(rx, 0, sizeof(*rx));
	memset(rx->port_src, -1, sizeof(rx->port_src));
	rx->port_src[UDP_PORT] = 0;
	rx->schema_id[0] = SCHEMA;
	rx->record_size[0] = RECORD_SIZE;
	rx->expected = UINT64_MAX;
	rx->maxt = INT64_MIN;
}

static inline __attribute__((always_inline)) void
stage_flush(struct rxb *rx, unsigned w, bool verify)
{
	struct stage *st = &rx->st[w];

	if (verify)
		for (uint32_t i = 0; i < st->n; i++) {
			const struct ring_rec *x = (const struct ring_rec *)(st->buf + i * REC_SIZE);
			rx->sum += rec_hash(x->t, x->key, x->v[0], x->v[1], w);
		}
	st->n = 0;
	st->batch_last = 0;
}

static inline __attribute__((always_inline)) struct ring_rec *
stage_slot(struct rxb *rx, unsigned w, bool verify)
{
	struct stage *st = &rx->st[w];

	if (st->n == STAGE_RECS)
		stage_flush(rx, w, verify);
	return (struct ring_rec *)(st->buf + st->n++ * REC_SIZE);
}

static inline __attribute__((always_inline)) void
rx_frame(struct rxb *rx, const uint8_t *f, uint32_t len, bool verify)
{
	struct weir_udp u;
	struct wev_hdr h;
	int s;

	rx->packets++;
	if (weir_decode_frame(f, len, &u) != WEIR_BAD_MAX)
		goto drop;
	s = rx->port_src[u.dst_port];
	if (s < 0)
		goto drop;
	if (weir_decode_wev(u.payload, u.len, rx->schema_id[s], rx->record_size[s], &h) != WEIR_BAD_MAX)
		goto drop;

	uint32_t first = 0, n = h.count;
	if (rx->expected == UINT64_MAX)
		rx->expected = h.sequence;
	if (h.sequence < rx->expected) {
		uint64_t dup = rx->expected - h.sequence;
		first = dup >= n ? n : (uint32_t)dup;
		rx->dups += first;
	} else if (h.sequence > rx->expected) {
		rx->gaps += h.sequence - rx->expected;
	}
	if (h.sequence + n > rx->expected)
		rx->expected = h.sequence + n;

	const uint8_t *r = u.payload + WEV_HDR_LEN + (size_t)first * RECORD_SIZE;
	int64_t maxt = rx->maxt;
	for (uint32_t i = first; i < n; i++, r += RECORD_SIZE) {
		int64_t t = (int64_t)weir_rd64le(r);
		uint64_t key = weir_rd64le(r + 8);
		unsigned w = worker_of(key);
		struct stage *st = &rx->st[w];
		struct ring_rec *x = stage_slot(rx, w, verify);

		x->t = t;
		x->key = key;
		x->kind = 0;
		x->src = (uint16_t)s;
		x->flags = 0;
		x->rx = 0;
		for (unsigned k = 0; k < NFIELDS; k++)
			x->v[k] = weir_rd64le(r + 16 + 8 * k);
		if (st->batch_last == 0)
			rx->touched[rx->ntouched++] = w;
		st->batch_last = st->n;
		if (t > maxt)
			maxt = t;
	}
	for (uint32_t i = 0; i < rx->ntouched; i++) {
		struct stage *st = &rx->st[rx->touched[i]];
		if (st->batch_last) {
			((struct ring_rec *)(st->buf + (st->batch_last - 1) * REC_SIZE))->flags |= REC_F_END;
			st->batch_last = 0;
		}
	}
	rx->ntouched = 0;
	rx->events += n - first;
	rx->maxt = maxt;
	return;
drop:
	rx->bad++;
}

/* Frames [i, i + RX_BURST) of the pool, then the hand-over. */
static inline __attribute__((always_inline)) void
rx_burst(struct rxb *rx, const struct pool *pl, unsigned i, bool verify)
{
	if (i == 0)
		rx->expected = UINT64_MAX;      /* the pool wrapped: a new producer */
	for (unsigned k = 0; k < RX_BURST; k++) {
		const uint8_t *f = pl->f + (size_t)(i + k) * FRAME_STRIDE;
		if (k + 1 < RX_BURST)
			__builtin_prefetch(f + FRAME_STRIDE);
		rx_frame(rx, f, pl->len[i + k], verify);
	}
	for (unsigned w = 0; w < NW; w++)
		if (rx->st[w].n)
			stage_flush(rx, w, verify);
}

_Static_assert(NFRAMES % RX_BURST == 0, "the pool is whole bursts");

static void
bm_decode(struct wb_state *st)
{
	unsigned batch = (unsigned)wb_range(st, 0), i = 0;
	struct pool pl;
	struct rxb *rx = malloc(sizeof(*rx));

	if (!rx || pool_init(&pl, batch)) {
		wb_fail(st, "decode: out of memory");
		free(rx);
		return;
	}
	rxb_init(rx);
	while (wb_keep_running(st)) {
		rx_burst(rx, &pl, i, false);
		i = (i + RX_BURST) % NFRAMES;
	}
	uint64_t it = (uint64_t)wb_iterations(st), want_ev = it * RX_BURST * batch;
	wb_set_items(st, (int64_t)rx->events);
	wb_counter_rate(st, "packets", (double)rx->packets);
	wb_set_bytes(st, (int64_t)(rx->packets * pl.len[0]));       /* frame bytes */
	if (rx->events != want_ev || rx->bad || rx->dups || rx->gaps)
		wb_fail(st, "decode batch %u: %llu events (expected %llu), %llu bad, %llu duplicate, %llu gaps",
			batch, (unsigned long long)rx->events, (unsigned long long)want_ev,
			(unsigned long long)rx->bad, (unsigned long long)rx->dups, (unsigned long long)rx->gaps);

	/* untimed: one pass of the pool with the checksum of what was staged */
	rxb_init(rx);
	for (i = 0; i < NFRAMES; i += RX_BURST)
		rx_burst(rx, &pl, i, true);
	if (rx->sum != pl.sum || rx->maxt != pl.maxt || rx->events != (uint64_t)NFRAMES * batch)
		wb_fail(st, "decode batch %u: staged checksum %016llx, expected %016llx (max time %lld/%lld, %llu events)",
			batch, (unsigned long long)rx->sum, (unsigned long long)pl.sum, (long long)rx->maxt,
			(long long)pl.maxt, (unsigned long long)rx->events);
	free(pl.f);
	free(rx);
}

void
micro_decode_register(void)
{
	static const int64_t batches[] = { 1, 8, 32, 44 };
	static const char *const names[] = { "batch" };

	wb_family("decode", bm_decode, batches, 4, 1, names);
}
