/* SPDX-License-Identifier: Apache-2.0
 * Unit tests: the log-linear latency histogram against exact order statistics, and
 * key maps (the join table) against a plain array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "keymap.h"
#include "lathist.h"

static uint64_t rs = 88172645463325252ull;

static uint64_t
rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Every bucket's bounds contain exactly the values that index to it. */
static void
buckets_tile(void **st)
{
	uint64_t prev_hi = 0;

	(void)st;
	for (unsigned i = 0; i < WEIR_LH_BUCKETS; i++) {
		uint64_t lo, hi;
		weir_lh_bounds(i, &lo, &hi);
		if (i)
			assert_int_equal(lo, prev_hi + 1);      /* no gap, no overlap */
		assert_int_equal(weir_lh_index(lo), i);
		assert_int_equal(weir_lh_index(hi), i);
		assert_true(hi - lo <= (lo >> WEIR_LH_SUB)); /* width at most 1/32 of its values */
		prev_hi = hi;
		if (hi == UINT64_MAX)
			break;
	}
	assert_int_equal(prev_hi, UINT64_MAX);
}

/* Quantiles: never below the exact value, at most one bucket width above it. */
static void
quantiles_vs_exact(void **st)
{
	enum { N = 100000 };
	static uint64_t v[N];
	static const double qs[] = { 0.001, 0.5, 0.9, 0.99, 0.999, 1.0 };
	struct weir_lathist *h = malloc(sizeof(*h));
	uint64_t sum = 0;

	(void)st;
	assert_non_null(h);
	weir_lh_init(h);
	for (int i = 0; i < N; i++) {
		v[i] = rnd() >> (rnd() % 60);       /* spread over many powers of two */
		weir_lh_add(h, v[i]);
		sum += v[i];
	}
	qsort(v, N, sizeof(v[0]), cmp_u64);
	assert_int_equal(h->count, N);
	assert_int_equal(h->min, v[0]);
	assert_int_equal(h->max, v[N - 1]);
	assert_int_equal(h->sum, sum);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		size_t rank = (size_t)(qs[i] * N + 0.999999);
		uint64_t exact = v[rank - 1], got = weir_lh_quantile(h, qs[i]);
		assert_true(got >= exact);
		assert_true(got - exact <= (exact >> WEIR_LH_SUB));
	}
	/* small values are exact */
	weir_lh_init(h);
	for (uint64_t x = 0; x < 32; x++)
		weir_lh_add(h, x);
	assert_int_equal(weir_lh_quantile(h, 0.5), 15);
	assert_int_equal(weir_lh_quantile(h, 1.0), 31);
	weir_lh_init(h);
	assert_int_equal(weir_lh_quantile(h, 0.99), 0);
	free(h);
}

/* A random map of 200 k keys (0 among them) through a file, against the array it came from. */
static void
keymap_lookup(void **st)
{
	enum { N = 200000 };
	char path[] = "/tmp/weir-test-keymap-XXXXXX";
	int fd = mkstemp(path);
	static uint64_t from[N], to[N];
	struct weir_keymap *m = NULL;
	FILE *f;
	uint64_t out;

	(void)st;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f, "# from,to\n");
	for (int i = 0; i < N; i++) {
		from[i] = i == 0 ? 0 : ((uint64_t)i << 32) | (rnd() & 0xffffffff);
		to[i] = rnd();
		fprintf(f, i % 2 ? "%llu,%llu\n" : "0x%llx , 0x%llx\n", (unsigned long long)from[i],
			(unsigned long long)to[i]);
	}
	fclose(f);
	assert_int_equal(weir_keymap_load(path, &m, stderr), 0);
	assert_int_equal(m->n, N);
	for (int i = 0; i < N; i++) {
		assert_true(weir_keymap_get(m, from[i], &out));
		assert_int_equal(out, to[i]);
	}
	for (int i = 0; i < 100000; i++) {
		uint64_t k = ((uint64_t)(N + i) << 32) | (rnd() & 0xffffffff);   /* never loaded */
		assert_false(weir_keymap_get(m, k, &out));
	}
	weir_keymap_free(m);
	unlink(path);
	FILE *devnull = fopen("/dev/null", "w");
	assert_int_equal(weir_keymap_load("/nonexistent/map.csv", &m, devnull), -1);
	fclose(devnull);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buckets_tile), cmocka_unit_test(quantiles_vs_exact), cmocka_unit_test(keymap_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
