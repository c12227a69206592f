/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target: the SQL front end on arbitrary text.  A statement that compiles must
 * give programs that pass weir_expr_check, evaluate without a fault on any input words,
 * and explain; one that does not must name an offset inside the text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "expr.h"
#include "sql.h"
#include "window.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char CFG[] =
	"[dataplane]\ndevices = net_null0\n\n"
	"[source tx]\nudp_port = 7000\nfields = amount:i64, merchant:u64, price:f64, card:u64\nkey_name = acct\n\n"
	"[query q]\nfrom = tx\nwindow = tumbling 1s\naggregates = count\n";

static void
exercise(const struct weir_query_cfg *q, const struct weir_expr *e, unsigned nslots, const uint64_t *words)
{
	uint64_t out;
	struct weir_xin in = { .slot = words, .key = words[0], .time = (int64_t)words[1], .end = (int64_t)words[2],
			       .count = words[3], .null_slots = words[4] };

	if (!e->len)
		return;
	if (weir_expr_check(q->code, e, nslots) < 0)
		__builtin_trap();
	(void)weir_expr_eval(q->code, e, &in, &out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct weir_config *cfg;
	static FILE *devnull;
	struct weir_sql_err err;
	uint64_t words[WEIR_MAX_AGGS + WEIR_MAX_FIELDS + WEIR_MAX_DERIVED + 8];

	if (!cfg) {
		cfg = malloc(sizeof(*cfg));
		devnull = fopen("/dev/null", "w");
		if (!cfg || !devnull || weir_config_load_string("fuzz.ini", CFG, cfg, stderr))
			abort();
	}
	struct weir_query_cfg *q = &cfg->queries[0];
	size_t n = size < WEIR_SQL_MAX - 1 ? size : WEIR_SQL_MAX - 1;
	memcpy(q->sql_text, data, n);
	q->sql_text[n] = '\0';
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {     /* input words from the text */
		uint64_t w = 0x9e3779b97f4a7c15ull * (i + 1);
		for (size_t k = 0; k < 8 && i * 8 + k < size; k++)
			w ^= (uint64_t)data[i * 8 + k] << (8 * k);
		words[i] = w;
	}
	q->sql = true;
	q->lateness = 0;
	if (weir_sql_compile(cfg, q, &err)) {
		if (err.pos > strlen(q->sql_text) || !err.msg[0])
			__builtin_trap();
		return 0;
	}
	const struct weir_source_cfg *s = &cfg->sources[q->source];
	if (q->naggs < 1 || q->naggs > WEIR_MAX_AGGS || q->ncode > WEIR_QCODE_MAX || q->nout < 1)
		__builtin_trap();
	exercise(q, &q->where, (unsigned)s->nfields, words);
	for (int d = 0; d < q->nderived; d++)
		exercise(q, &q->derived[d], (unsigned)s->nfields, words);
	exercise(q, &q->having, (unsigned)q->naggs, words);
	for (int c = 0; c < q->nout; c++)
		exercise(q, &q->out[c].e, (unsigned)q->naggs, words);
	weir_explain(cfg, devnull);
	return 0;
}
