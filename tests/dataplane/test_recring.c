/* SPDX-License-Identifier: Apache-2.0
 * Unit tests: record rings carry whole records, in order, across two threads, with
 * markers interleaved, whatever the burst sizes and however full the ring gets. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <rte_ring.h>

#include "recring.h"

#define UNITS   3            /* 48-byte records: header + 3 value fields */
#define NREC    400000
#define RINGSZ  64

struct rec {
	uint64_t seq;
	uint32_t kind;           /* 0 event, 1 marker (every 17th) */
	uint32_t check;
	uint64_t v[4];
};
_Static_assert(sizeof(struct rec) == 16 * UNITS, "record is UNITS units");

static struct rte_ring *
ring_new(void)
{
	ssize_t sz = rte_ring_get_memsize_elem(16, rte_align32pow2(RINGSZ * UNITS + 1));   /* EXACT_SZ */
	struct rte_ring *r;

	assert_true(sz > 0);
	r = aligned_alloc(64, ((size_t)sz + 63) & ~(size_t)63);
	assert_non_null(r);
	assert_int_equal(rte_ring_init(r, "t", RINGSZ * UNITS, RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ), 0);
	return r;
}

static void
fill(struct rec *x, uint64_t seq)
{
	x->seq = seq;
	x->kind = seq % 17 == 0;
	for (int i = 0; i < 4; i++)
		x->v[i] = seq * 0x9e3779b97f4a7c15 + (uint64_t)i;
	x->check = (uint32_t)(x->v[3] >> 7);
}

static void *
producer(void *arg)
{
	struct rte_ring *r = arg;
	struct rec buf[37];
	uint64_t seq = 0;

	while (seq < NREC) {
		unsigned n = 1 + (unsigned)(seq % 37), done = 0;
		if (seq + n > NREC)
			n = (unsigned)(NREC - seq);
		for (unsigned i = 0; i < n; i++)
			fill(&buf[i], seq + i);
		while (done < n)
			done += weir_recring_push(r, buf + done, n - done, UNITS);
		seq += n;
	}
	return NULL;
}

static void
two_threads_in_order(void **st)
{
	struct rte_ring *r = ring_new();
	struct rec buf[50], want;
	pthread_t th;
	uint64_t seq = 0, markers = 0;
	unsigned burst = 1;

	(void)st;
	assert_int_equal(pthread_create(&th, NULL, producer, r), 0);
	while (seq < NREC) {
		unsigned n = weir_recring_pop(r, buf, burst, UNITS);
		assert_true(n <= burst);
		for (unsigned i = 0; i < n; i++, seq++) {
			fill(&want, seq);
			assert_memory_equal(&buf[i], &want, sizeof(want));
			markers += buf[i].kind;
		}
		burst = burst % 50 + 1;
		/* the ring never holds a partial record */
		assert_int_equal(rte_ring_count(r) % UNITS, 0);
	}
	pthread_join(th, NULL);
	assert_int_equal(markers, (NREC + 16) / 17);
	assert_int_equal(weir_recring_pop(r, buf, 50, UNITS), 0);
	free(r);
}

static void
full_ring_takes_whole_records(void **st)
{
	struct rte_ring *r = ring_new();
	struct rec in[RINGSZ + 5], out[RINGSZ + 5];

	(void)st;
	for (unsigned i = 0; i < RINGSZ + 5; i++)
		fill(&in[i], i);
	assert_int_equal(weir_recring_push(r, in, RINGSZ + 5, UNITS), RINGSZ);
	assert_int_equal(weir_recring_push(r, in, 1, UNITS), 0);
	assert_int_equal(weir_recring_pop(r, out, 2, UNITS), 2);
	assert_int_equal(weir_recring_push(r, in + RINGSZ, 5, UNITS), 2);
	assert_int_equal(weir_recring_pop(r, out + 2, RINGSZ + 5, UNITS), RINGSZ);
	assert_memory_equal(out, in, RINGSZ * sizeof(struct rec));
	assert_memory_equal(out + RINGSZ, in + RINGSZ, 2 * sizeof(struct rec));
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(two_threads_in_order), cmocka_unit_test(full_ring_takes_whole_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
