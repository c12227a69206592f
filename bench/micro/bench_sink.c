/* SPDX-License-Identifier: Apache-2.0
 * Result serialization: weir_result_format (dataplane/sink.h), the JSON object the
 * sinks write for every result, for a query with 2 aggregates (count, sum of an i64)
 * and one with 6 (count, sum, min, avg of an i64, max of an f64, last of a u64).
 * 1024 distinct results are formatted in turn, 64 per iteration, into a line buffer.
 * Items = results; bytes = JSON bytes produced.
 *
 * Check (untimed, each call): every 2-aggregate line equals the one snprintf gives for
 * the same result; every 6-aggregate line has the right integer fields and its f64
 * fields read back (strtod) to the same doubles.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "micro.h"
#include "sink.h"

#define NRES  1024
#define PER_IT 64
#define LINE  1024

static const char sink_cfg[] =
	"[dataplane]\ndevices = x\n"
	"[source tx]\nudp_port = 7000\nfields = amount:i64, price:f64, merchant:u64\n"
	"[query spend]\nfrom = tx\nwindow = tumbling 1s\naggregates = count, sum(amount)\n"
	"[query detail]\nfrom = tx\nwindow = tumbling 1s\n"
	"aggregates = count, sum(amount), min(amount), max(price), avg(amount), last(merchant)\n";

struct res_set {
	uint8_t *buf;               /* NRES results of `size` bytes */
	size_t size;
};

static struct weir_result *
res_at(const struct res_set *s, unsigned i)
{
	return (struct weir_result *)(s->buf + (size_t)i * s->size);
}

static int
res_make(struct res_set *s, unsigned q, unsigned naggs)
{
	uint64_t rng = 99 + naggs;

	s->size = (WEIR_RESULT_SIZE(naggs) + 7) & ~(size_t)7;
	s->buf = calloc(NRES, s->size);
	if (!s->buf)
		return -1;
	for (unsigned i = 0; i < NRES; i++) {
		struct weir_result *r = res_at(s, i);
		uint64_t count = 1 + wb_rnd(&rng) % 500;
		int64_t sum = (int64_t)(wb_rnd(&rng) % 10000000) - 1000000;
		double price = (double)(wb_rnd(&rng) % 1000000) / 100.0;   /* cents: 1234.56 */

		r->query = (uint16_t)q;
		r->naggs = (uint16_t)naggs;
		r->revision = i % 7 == 0;
		r->key = 4000000000000000ull + wb_rnd(&rng) % 1000000000000ull;  /* card numbers */
		r->start = INT64_C(1700000000000000000) + (int64_t)i * 1000000000;
		r->end = r->start + 1000000000;
		r->count = count;
		r->val[0] = count;
		r->val[1] = (uint64_t)sum;
		if (naggs == 6) {
			r->val[2] = (uint64_t)(sum / (int64_t)count - 500);
			memcpy(&r->val[3], &price, 8);
			r->val[4] = (uint64_t)sum;
			r->val[5] = wb_rnd(&rng) % 100000;
		}
	}
	return 0;
}

static const char *
field(const char *line, const char *name)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", name);
	p = strstr(line, k);
	return p ? p + strlen(k) : NULL;
}

/* Number of results whose line is wrong. */
static unsigned
res_verify(const struct weir_config *cfg, const struct res_set *s, unsigned naggs)
{
	char line[LINE], want[LINE];
	unsigned bad = 0;

	for (unsigned i = 0; i < NRES; i++) {
		const struct weir_result *r = res_at(s, i);
		size_t n = weir_result_format(cfg, r, line, sizeof(line));
		int w = snprintf(want, sizeof(want),
				 "{\"query\":\"%s\",\"key\":%" PRIu64 ",\"window_start\":%" PRId64
				 ",\"window_end\":%" PRId64 ",\"revision\":%" PRIu32 ",\"count\":%" PRIu64
				 ",\"sum_amount\":%" PRId64,
				 naggs == 2 ? "spend" : "detail", r->key, r->start, r->end, r->revision,
				 r->val[0], (int64_t)r->val[1]);
		if (n >= sizeof(line) || strlen(line) != n || line[n - 1] != '}') {
			bad++;
			continue;
		}
		if (naggs == 2) {
			bad += strcmp(line, strcat(want, "}")) != 0;
			continue;
		}
		const char *mn = field(line, "min_amount"), *mx = field(line, "max_price"),
			   *av = field(line, "avg_amount"), *ls = field(line, "last_merchant");
		double price, avg = (double)(int64_t)r->val[4] / (double)r->count;
		memcpy(&price, &r->val[3], 8);
		bad += strncmp(line, want, (size_t)w) != 0 || !mn || !mx || !av || !ls ||
		       strtoll(mn, NULL, 10) != (int64_t)r->val[2] || strtod(mx, NULL) != price ||
		       strtod(av, NULL) != avg || strtoull(ls, NULL, 10) != r->val[5];
	}
	return bad;
}

static void
bm_result_format(struct wb_state *st)
{
	unsigned naggs = (unsigned)wb_range(st, 0), q = naggs == 2 ? 0 : 1, i = 0;
	struct weir_config cfg;
	struct res_set s = { 0 };
	char line[LINE];
	uint64_t bytes = 0, n = 0;

	if (!wb_config(sink_cfg, &cfg) || res_make(&s, q, naggs)) {
		wb_fail(st, "result_format: setup failed");
		free(s.buf);
		return;
	}
	while (wb_keep_running(st)) {
		for (unsigned k = 0; k < PER_IT; k++)
			bytes += weir_result_format(&cfg, res_at(&s, i + k), line, sizeof(line));
		WB_KEEP(line[0]);
		i = (i + PER_IT) % NRES;
		n += PER_IT;
	}
	wb_set_items(st, (int64_t)n);
	wb_set_bytes(st, (int64_t)bytes);
	wb_counter(st, "bytes_per_result", n ? (double)bytes / (double)n : 0);
	unsigned bad = res_verify(&cfg, &s, naggs);
	if (bad)
		wb_fail(st, "result_format %u aggregates: %u of %u lines wrong", naggs, bad, NRES);
	free(s.buf);
}

void
micro_sink_register(void)
{
	static const int64_t aggs[] = { 2, 6 };
	static const char *const names[] = { "aggs" };

	wb_family("result_format", bm_result_format, aggs, 2, 1, names);
}
