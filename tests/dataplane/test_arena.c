/* SPDX-License-Identifier: BSD-3-Clause */
/* weir_arena: blocks, reuse by size, exhaustion, and the pages populated ahead of use
 * (checked with mincore, independently of the arena's own bookkeeping). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "arena.h"

#define MIB ((size_t)1 << 20)
#define KIB ((size_t)1 << 10)

/* Resident pages of [p, p + len), by mincore. */
static size_t
resident(const void *p, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = (len + pg - 1) / pg, r = 0;
	unsigned char *v = malloc(n);

	assert_non_null(v);
	assert_int_equal(mincore((void *)p, len, v), 0);
	for (size_t i = 0; i < n; i++)
		r += v[i] & 1;
	free(v);
	return r * pg;
}

static void
blocks(void **state)
{
	(void)state;
	struct weir_arena a;

	assert_int_equal(weir_arena_init(&a, 8 * MIB, 0), 0);
	uint8_t *p = weir_arena_alloc(&a, 1);
	uint8_t *q = weir_arena_alloc(&a, 64 * KIB + 1);
	uint8_t *r = weir_arena_alloc(&a, 3 * MIB);
	assert_non_null(p);
	assert_non_null(q);
	assert_non_null(r);
	assert_true(weir_arena_owns(&a, p) && weir_arena_owns(&a, q) && weir_arena_owns(&a, r));
	assert_int_equal((uintptr_t)p % (64 * KIB), 0);
	assert_int_equal((uintptr_t)a.base % (2 * MIB), 0);
	/* rounded to 64 KiB, handed out in order, not overlapping */
	assert_ptr_equal(q, p + 64 * KIB);
	assert_ptr_equal(r, q + 128 * KIB);
	memset(p, 0xa1, 64 * KIB);
	memset(q, 0xb2, 128 * KIB);
	memset(r, 0xc3, 3 * MIB);
	assert_int_equal(p[64 * KIB - 1], 0xa1);
	assert_int_equal(q[0], 0xb2);
	assert_int_equal(q[128 * KIB - 1], 0xb2);
	assert_int_equal(r[0], 0xc3);
	int x;
	assert_false(weir_arena_owns(&a, &x));
	assert_false(weir_arena_owns(&a, a.base + a.cap));

	/* exhaustion: refused and counted, the next fitting request still served */
	assert_null(weir_arena_alloc(&a, 8 * MIB));
	assert_int_equal(a.refused, 1);
	size_t top = atomic_load(&a.top);
	uint8_t *s = weir_arena_alloc(&a, a.cap - top);
	assert_ptr_equal(s, a.base + top);
	assert_null(weir_arena_alloc(&a, 1));
	assert_int_equal(a.refused, 2);

	/* freed blocks come back for the same rounded size, last freed first */
	weir_arena_free(&a, q, 64 * KIB + 1);
	weir_arena_free(&a, p, 1);
	assert_ptr_equal(weir_arena_alloc(&a, 64 * KIB), p);
	assert_null(weir_arena_alloc(&a, 128 * KIB + 1));       /* (no such size free, range full) */
	assert_ptr_equal(weir_arena_alloc(&a, 100 * KIB), q);
	weir_arena_free(&a, r, 3 * MIB);
	assert_ptr_equal(weir_arena_alloc(&a, 3 * MIB - 5), r);
	weir_arena_fini(&a);
	assert_null(a.base);
	assert_false(weir_arena_owns(&a, r));
	assert_null(weir_arena_alloc(&a, 1));
	weir_arena_fini(&a);            /* (twice is harmless) */
}

static void
many_sizes(void **state)
{
	(void)state;
	struct weir_arena a;
	uint8_t *b[WEIR_ARENA_CLASSES + 2];

	assert_int_equal(weir_arena_init(&a, 64 * MIB, 0), 0);
	for (int i = 0; i < WEIR_ARENA_CLASSES + 2; i++) {
		b[i] = weir_arena_alloc(&a, (size_t)(i + 1) * 64 * KIB);
		assert_non_null(b[i]);
		memset(b[i], i + 1, (size_t)(i + 1) * 64 * KIB);
	}
	for (int i = 0; i < WEIR_ARENA_CLASSES + 2; i++)
		weir_arena_free(&a, b[i], (size_t)(i + 1) * 64 * KIB);
	/* the first WEIR_ARENA_CLASSES sizes are kept; the others' pages went back */
	for (int i = 0; i < WEIR_ARENA_CLASSES; i++)
		assert_ptr_equal(weir_arena_alloc(&a, (size_t)(i + 1) * 64 * KIB), b[i]);
	for (int i = WEIR_ARENA_CLASSES; i < WEIR_ARENA_CLASSES + 2; i++) {
		assert_int_equal(resident(b[i], (size_t)(i + 1) * 64 * KIB), 0);
		uint8_t *n = weir_arena_alloc(&a, (size_t)(i + 1) * 64 * KIB);
		assert_non_null(n);
		assert_true(n >= b[WEIR_ARENA_CLASSES + 1] + (size_t)(WEIR_ARENA_CLASSES + 2) * 64 * KIB);
	}
	weir_arena_fini(&a);
}

static void
headroom_at_init(void **state)
{
	(void)state;
	struct weir_arena a;

	assert_int_equal(weir_arena_init(&a, 256 * MIB, 5 * MIB), 0);
	assert_int_equal(a.headroom, 6 * MIB);          /* (whole huge pages) */
	assert_int_equal(resident(a.base, 6 * MIB), 6 * MIB);
	assert_int_equal(resident(a.base + 6 * MIB, 64 * MIB), 0);
	/* fresh memory reads as zeros, populated or not */
	for (size_t o = 0; o < 8 * MIB; o += 4096)
		assert_int_equal(a.base[o], 0);
	weir_arena_fini(&a);
}

static bool
wait_ready(struct weir_arena *a, size_t want)
{
	for (int i = 0; i < 1000; i++) {        /* at most 10 s */
		if (atomic_load(&a->ready) >= want)
			return true;
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	return false;
}

static void
service_keeps_ahead(void **state)
{
	(void)state;
	struct weir_arena a, b;

	if (!weir_arena_async_supported())
		skip();             /* (Linux < 5.14: no MADV_POPULATE_WRITE; Debian 12 has it) */
	assert_int_equal(weir_arena_init(&a, 512 * MIB, 8 * MIB), 0);
	assert_int_equal(weir_arena_service_start(10), 0);
	assert_int_equal(weir_arena_service_start(10), 0);      /* idempotent */
	assert_int_equal(weir_arena_init(&b, 128 * MIB, 4 * MIB), 0);   /* after the start */

	/* grow a past its headroom in steps, writing what it holds (as an owner does) */
	for (int step = 0; step < 4; step++) {
		size_t top = atomic_load(&a.top);
		uint8_t *p = weir_arena_alloc(&a, 6 * MIB);
		assert_ptr_equal(p, a.base + top);
		memset(p, 0x5a, 6 * MIB);
		assert_true(wait_ready(&a, top + 6 * MIB + 8 * MIB));
		/* the headroom past the blocks is resident before anybody touched it */
		assert_int_equal(resident(a.base + top + 6 * MIB, 8 * MIB), 8 * MIB);
		assert_int_equal(p[6 * MIB - 1], 0x5a);     /* populating wrote nothing */
	}
	assert_true(a.populated_async >= 24 * MIB);
	uint8_t *q = weir_arena_alloc(&b, 10 * MIB);
	assert_non_null(q);
	assert_true(wait_ready(&b, 14 * MIB));
	assert_int_equal(resident(b.base + 10 * MIB, 4 * MIB), 4 * MIB);
	/* nothing beyond the headroom: memory is populated only as the state grows */
	assert_true(wait_ready(&a, atomic_load(&a.top) + 8 * MIB));
	struct timespec ts = { 0, 50000000 };
	nanosleep(&ts, NULL);
	assert_int_equal(atomic_load(&a.ready), atomic_load(&a.top) + 8 * MIB);
	assert_int_equal(resident(a.base + atomic_load(&a.ready), 64 * MIB), 0);
	/* an arena ends while the service runs */
	weir_arena_fini(&b);
	assert_int_equal(atomic_load(&a.ready), atomic_load(&a.top) + 8 * MIB);
	weir_arena_service_stop();
	weir_arena_service_stop();      /* (twice is harmless) */
	weir_arena_fini(&a);
}

static void
headroom_capped(void **state)
{
	(void)state;
	struct weir_arena a;

	/* headroom past the range: the range, and the service stops at its end */
	assert_int_equal(weir_arena_init(&a, 4 * MIB, 64 * MIB), 0);
	assert_int_equal(a.headroom, 4 * MIB);
	assert_int_equal(resident(a.base, 4 * MIB), 4 * MIB);
	assert_int_equal(weir_arena_service_start(10), 0);
	assert_non_null(weir_arena_alloc(&a, 4 * MIB));
	struct timespec ts = { 0, 50000000 };
	nanosleep(&ts, NULL);
	assert_int_equal(atomic_load(&a.ready), 4 * MIB);
	weir_arena_service_stop();
	weir_arena_fini(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(blocks),
		cmocka_unit_test(many_sizes),
		cmocka_unit_test(headroom_at_init),
		cmocka_unit_test(service_keeps_ahead),
		cmocka_unit_test(headroom_capped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
