/* SPDX-License-Identifier: Apache-2.0
 * Unit tests: result formatting (JSON Lines, semantics.md "Keys, aggregates, results"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "sink.h"

static struct weir_config cfg;
static uint64_t rbuf[64];

static struct weir_result *
res(void)
{
	struct weir_result *r = (struct weir_result *)rbuf;
	memset(rbuf, 0, sizeof(rbuf));
	r->naggs = (uint16_t)cfg.queries[0].naggs;
	return r;
}

static uint64_t d2u(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

static void
formats(void **st)
{
	char buf[1024];
	struct weir_result *r;

	(void)st;
	assert_int_equal(weir_config_load_string("s.ini",
		"[dataplane]\ndevices = x\n[source s]\nudp_port = 1\nfields = a:i64, u:u64, f:f64\n"
		"[query spend]\nfrom = s\nwindow = tumbling 1s\n"
		"aggregates = count, sum(a), min(a), max(u), avg(a), first(f), last(f), avg(f), sum(u)\n",
		&cfg, stderr), 0);
	r = res();
	r->key = 42;
	r->start = INT64_C(1700000000000000000);
	r->end = INT64_C(1700000001000000000);
	r->revision = 3;
	r->count = 3;
	uint64_t v[9] = { 3, (uint64_t)INT64_MIN, (uint64_t)-5, UINT64_MAX, 1200, d2u(0.1), d2u(2.0), d2u(1.5),
			  7 };
	memcpy(r->val, v, sizeof(v));
	size_t n = weir_result_format(&cfg, r, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_string_equal(buf,
		"{\"query\":\"spend\",\"key\":42,\"window_start\":1700000000000000000,"
		"\"window_end\":1700000001000000000,\"revision\":3,\"count\":3,"
		"\"sum_a\":-9223372036854775808,\"min_a\":-5,\"max_u\":18446744073709551615,"
		"\"avg_a\":400.0,\"first_f\":0.1,\"last_f\":2.0,\"avg_f\":0.5,\"sum_u\":7}");
	/* nulls for overflowed sums, shortest round-trip doubles */
	r->null_mask = 1u << 1 | 1u << 4;
	r->count = 3;
	r->val[5] = d2u(1.0 / 3);
	weir_result_format(&cfg, r, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"sum_a\":null"));
	assert_non_null(strstr(buf, "\"avg_a\":null"));
	assert_non_null(strstr(buf, "\"first_f\":0.3333333333333333"));
	/* snprintf-like: the full length is returned, the buffer stays terminated */
	char small[20];
	size_t full = weir_result_format(&cfg, r, small, sizeof(small));
	assert_true(full > sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, "{\"query\":\"spend\",\"k", 19);
}

/* Appending to a file whose writer was killed mid-write: the torn last line goes
 * (whole lines stay; a file of one torn line is emptied; a clean file is kept). */
static void
append_cuts_torn_line(void **st)
{
	static const struct { const char *before, *after; } cases[] = {
		{ "{\"a\":1}\n{\"a\":2}\n{\"a\":", "{\"a\":1}\n{\"a\":2}\n" },
		{ "{\"a\":1}\n", "{\"a\":1}\n" },
		{ "{\"torn", "" },
		{ "", "" },
	};
	char path[64], text[512], got[256];
	(void)st;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		snprintf(path, sizeof(path), "/tmp/weir-sink-XXXXXX");
		int fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, cases[c].before, strlen(cases[c].before)), (ssize_t)strlen(cases[c].before));
		close(fd);
		snprintf(text, sizeof(text), "[dataplane]\ndevices = x\n[source s]\nudp_port = 1\nfields = a:i64\n"
			 "[query q]\nfrom = s\nwindow = tumbling 1s\naggregates = count\nsink = file:%s\n", path);
		assert_int_equal(weir_config_load_string("s.ini", text, &cfg, stderr), 0);
		struct weir_sinks *sk = weir_sinks_open(&cfg, true, stderr);
		assert_non_null(sk);
		weir_sinks_close(sk);
		FILE *f = fopen(path, "r");
		size_t n = fread(got, 1, sizeof(got) - 1, f);
		fclose(f);
		got[n] = 0;
		assert_string_equal(got, cases[c].after);
		unlink(path);
	}
}

/* After a death mid-write: the highest seq per worker among whole tagged lines at the
 * end of a file; a torn last line does not count, a line cut by the window's start
 * does not either; positions are only raised. */
static void
file_positions(void **st)
{
	char path[64];
	(void)st;
	snprintf(path, sizeof(path), "/tmp/weir-pos-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text =
		"{\"query\":\"q\",\"key\":1,\"count\":3,\"term\":2,\"worker\":0,\"seq\":7}\n"
		"{\"query\":\"q\",\"key\":2,\"count\":3,\"term\":2,\"worker\":1,\"seq\":40}\n"
		"{\"query\":\"q\",\"key\":3,\"count\":3}\n"
		"{\"query\":\"q\",\"key\":4,\"count\":3,\"term\":2,\"worker\":0,\"seq\":8}\n"
		"{\"query\":\"q\",\"key\":5,\"count\":3,\"term\":2,\"worker\":9,\"seq\":99}\n"
		"{\"query\":\"q\",\"key\":6,\"count\":3,\"term\":2,\"worker\":0,\"seq\":9";  /* torn */
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	uint64_t seq[2] = { 5, 41 };
	assert_int_equal(weir_sink_file_positions(path, seq, 2, 1 << 20), 1);
	assert_int_equal(seq[0], 8);            /* not 9: torn */
	assert_int_equal(seq[1], 41);           /* never lowered; worker 9 is out of range */
	/* a window that starts inside the line of worker 0's seq 8 (and the torn one) */
	uint64_t s2[2] = { 0, 0 };
	size_t tail = strlen(strrchr(text, '\n')) + 20;
	assert_int_equal(weir_sink_file_positions(path, s2, 2, tail), 0);
	assert_int_equal(s2[0], 0);
	uint64_t s3[2] = { 0, 0 };              /* the whole file by a larger window */
	assert_int_equal(weir_sink_file_positions(path, s3, 2, 4096), 2);
	assert_int_equal(s3[0], 8);
	assert_int_equal(s3[1], 40);
	unlink(path);
	assert_int_equal(weir_sink_file_positions(path, s3, 2, 4096), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(formats), cmocka_unit_test(append_cuts_torn_line),
					    cmocka_unit_test(file_positions) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
