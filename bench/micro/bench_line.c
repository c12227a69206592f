/* SPDX-License-Identifier: Apache-2.0
 * InfluxDB line protocol decoding per line: what an RX core does with the UDP payload
 * of a line protocol source, minus DPDK and the ring hand-over (bench_decode.c and
 * ring_two_core measure those):
 *
 *   per datagram: weir_lp_init;
 *   per line:     weir_lp_next, weir_lp_decode_line (measurement check, tags sorted and
 *                 hashed into the key, three f64 fields parsed and placed, timestamp),
 *                 the event folded into a checksum (standing in for the ring record).
 *
 * Lines are the telegraf cpu example,
 *   cpu,host=server01,region=us-west usage_user=12.5,usage_system=3.25,usage_idle=84.25 1700000000000000000
 * with 100 hosts x 4 regions and, per row, short values (one or two decimals, as above)
 * or full ones (the 15-17 significant digits telegraf prints for a computed percentage,
 * about half beyond the exact double fast path: strtod's).  A pool of 256 datagrams of
 * `lines` lines each, built once, cycled; an iteration is a burst of 32 datagrams.
 * keytags:0 keys on every tag of the line, keytags:1 on the configured list
 * (host, region): the same key.  Items = lines; "datagrams" is a rate counter.
 *
 * Check: the timed passes must decode every line to an event, no drop; one untimed
 * pass over the pool folds (time, key, three values) of every event into a checksum
 * that must equal the one computed at generation from the generated values, with the
 * key computed here independently (xxHash's XXH3 over the layout lineproto.h documents) and
 * the values by the C library's strtod.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "lineproto.h"
#include "micro.h"

void micro_line_register(void);         /* micro.c */

#define NDGRAMS     256
#define DGRAM_MAX   9000
#define BURST       32
#define ARRIVAL     INT64_C(1700000000999999999)

struct pool {
	char *d;                     /* NDGRAMS x DGRAM_MAX */
	uint32_t len[NDGRAMS];
	unsigned lines;
	uint64_t bytes;              /* over the pool */
	uint64_t sum;                /* checksum of the generated events */
};

struct rx {
	struct weir_lp_schema schema;
	uint64_t events, bad, dgrams, untimed;
	uint64_t sum;
};

static inline uint64_t
ev_hash(int64_t t, uint64_t key, const uint64_t *v)
{
	uint64_t h = (uint64_t)t * 0x9e3779b97f4a7c15u ^ key;

	h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9u ^ v[0];
	h = (h ^ (h >> 31)) * 0x94d049bb133111ebu ^ v[1];
	h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9u ^ v[2];
	return h ^ (h >> 32);
}

/* A value as text and as the double it denotes. */
static void
value(uint64_t *rng, bool full, char *buf, size_t cap, uint64_t *bits)
{
	double d;

	if (full)                    /* a computed percentage, shortest round-trip form */
		d = (double)(wb_rnd(rng) % 1000000007) / 10000000.07;
	else
		d = (double)(wb_rnd(rng) % 10000) / (wb_rnd(rng) & 1 ? 100.0 : 4.0);
	if (full) {                  /* the shortest digits that read back the same */
		for (int p = 15; p <= 17; p++) {
			snprintf(buf, cap, "%.*g", p, d);
			if (strtod(buf, NULL) == d)
				break;
		}
	} else {
		snprintf(buf, cap, "%g", d);
	}
	d = strtod(buf, NULL);
	memcpy(bits, &d, 8);
}

static int
pool_init(struct pool *pl, unsigned lines, bool full)
{
	static const char *const regions[4] = { "us-west", "us-east", "eu-central", "ap-south" };
	uint64_t rng = 7 + lines + (full ? 100 : 0);
	int64_t t = INT64_C(1700000000000000000);

	memset(pl, 0, sizeof(*pl));
	pl->lines = lines;
	pl->d = malloc((size_t)NDGRAMS * DGRAM_MAX);
	if (!pl->d)
		return -1;
	for (unsigned i = 0; i < NDGRAMS; i++) {
		char *p = pl->d + (size_t)i * DGRAM_MAX;
		uint32_t n = 0;
		for (unsigned l = 0; l < lines; l++) {
			char host[16], v[3][32];
			uint64_t bits[3], key;
			const char *region = regions[wb_rnd(&rng) % 4];
			int w;
			snprintf(host, sizeof(host), "server%02u", (unsigned)(wb_rnd(&rng) % 100));
			for (int k = 0; k < 3; k++)
				value(&rng, full, v[k], sizeof(v[k]), &bits[k]);
			t += 1000 + (int64_t)(wb_rnd(&rng) % 1000);
			w = snprintf(p + n, DGRAM_MAX - n,
				     "cpu,host=%s,region=%s usage_user=%s,usage_system=%s,usage_idle=%s %lld\n",
				     host, region, v[0], v[1], v[2], (long long)t);
			if (w < 0 || n + (uint32_t)w >= DGRAM_MAX)
				return -1;
			n += (uint32_t)w;
			char kb[64];                        /* "cpu\0host\1...\0region\1...\0" */
			int kl = snprintf(kb, sizeof(kb), "cpu%chost%c%s%cregion%c%s%c", 0, 1, host, 0, 1,
					  region, 0);
			key = XXH3_64bits(kb, (size_t)kl);
			pl->sum += ev_hash(t, key, bits);
		}
		pl->len[i] = n;
		pl->bytes += n;
	}
	return 0;
}

static int
rx_init(struct rx *rx, bool keytags)
{
	memset(rx, 0, sizeof(*rx));
	weir_lp_schema_init(&rx->schema, WEIR_LP_NS);
	if (weir_lp_schema_measurement(&rx->schema, "cpu") ||
	    (keytags && (weir_lp_schema_key_tag(&rx->schema, "host") ||
			 weir_lp_schema_key_tag(&rx->schema, "region"))) ||
	    weir_lp_schema_field(&rx->schema, "usage_user", WEIR_F_F64) != 0 ||
	    weir_lp_schema_field(&rx->schema, "usage_system", WEIR_F_F64) != 1 ||
	    weir_lp_schema_field(&rx->schema, "usage_idle", WEIR_F_F64) != 2)
		return -1;
	return 0;
}

static inline __attribute__((always_inline)) void
rx_dgram(struct rx *rx, const char *p, uint32_t len)
{
	struct weir_lp_parser ps;
	struct weir_lp_event ev;

	rx->dgrams++;
	weir_lp_init(&ps, p, len);
	while (weir_lp_next(&ps)) {
		if (weir_lp_decode_line(&rx->schema, &ps, ARRIVAL, &ev) != WEIR_LP_BAD_MAX) {
			rx->bad++;
			continue;
		}
		rx->events++;
		rx->untimed += !ev.has_time;
		rx->sum += ev_hash(ev.time, ev.key, ev.v);
	}
}

static void
bm_line(struct wb_state *st)
{
	unsigned lines = (unsigned)wb_range(st, 0), i = 0;
	bool keytags = wb_range(st, 1) != 0, full = wb_range(st, 2) != 0;
	struct pool pl;
	struct rx rx;

	if (pool_init(&pl, lines, full) || rx_init(&rx, keytags)) {
		wb_fail(st, "line: setup failed");
		free(pl.d);
		return;
	}
	while (wb_keep_running(st)) {
		for (unsigned k = 0; k < BURST; k++) {
			unsigned d = i + k;
			if (k + 1 < BURST)
				__builtin_prefetch(pl.d + (size_t)(d + 1) * DGRAM_MAX);
			rx_dgram(&rx, pl.d + (size_t)d * DGRAM_MAX, pl.len[d]);
		}
		i = (i + BURST) % NDGRAMS;
	}
	WB_KEEP(rx.sum);
	uint64_t it = (uint64_t)wb_iterations(st), want = it * BURST * lines;
	wb_set_items(st, (int64_t)rx.events);
	wb_counter_rate(st, "datagrams", (double)rx.dgrams);
	wb_set_bytes(st, (int64_t)(pl.bytes / NDGRAMS * rx.dgrams));
	if (rx.events != want || rx.bad || rx.untimed)
		wb_fail(st, "line %u: %llu events (expected %llu), %llu dropped, %llu without time", lines,
			(unsigned long long)rx.events, (unsigned long long)want, (unsigned long long)rx.bad,
			(unsigned long long)rx.untimed);

	/* untimed: one pass of the pool against the generated checksum */
	rx.sum = rx.events = rx.bad = 0;
	for (unsigned d = 0; d < NDGRAMS; d++)
		rx_dgram(&rx, pl.d + (size_t)d * DGRAM_MAX, pl.len[d]);
	if (rx.sum != pl.sum || rx.events != (uint64_t)NDGRAMS * lines || rx.bad)
		wb_fail(st, "line %u: checksum %016llx, expected %016llx (%llu events, %llu dropped)", lines,
			(unsigned long long)rx.sum, (unsigned long long)pl.sum, (unsigned long long)rx.events,
			(unsigned long long)rx.bad);
	free(pl.d);
}

_Static_assert(NDGRAMS % BURST == 0, "the pool is whole bursts");

void
micro_line_register(void)
{
	static const int64_t rows[] = {
		1, 0, 0,
		8, 0, 0,
		8, 1, 0,
		32, 0, 0,
		32, 1, 0,
		8, 0, 1,
		32, 0, 1,
	};
	static const char *const names[] = { "lines", "keytags", "full" };

	wb_family("lineproto", bm_line, rows, (int)(sizeof(rows) / sizeof(rows[0]) / 3), 3, names);
}
