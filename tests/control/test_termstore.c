/* SPDX-License-Identifier: Apache-2.0
 * The durable term: what was put is what a restart reads, a torn or rotten newest
 * slot falls back to the one before, and a file with no good slot is an error
 * (a node must not forget a term it voted in). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "termstore.h"

static char dir[64];

static int
setup(void **st)
{
	(void)st;
	snprintf(dir, sizeof(dir), "/tmp/weir-termstore-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **st)
{
	char cmd[128];
	(void)st;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void
reopen(uint64_t want_term, const char *want_name)
{
	struct termstore ts;
	uint64_t term;
	char name[WHA_NODE_MAX], why[256];

	assert_int_equal(termstore_open(&ts, dir, "term", &term, name, why, sizeof(why)), 0);
	assert_int_equal(term, want_term);
	assert_string_equal(name, want_name);
	termstore_close(&ts);
}

static void
flip(off_t off)
{
	char path[128];
	uint8_t b;
	snprintf(path, sizeof(path), "%s/term", dir);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void
test_roundtrip_and_rot(void **st)
{
	struct termstore ts;
	uint64_t term;
	char name[WHA_NODE_MAX], why[256];
	(void)st;

	assert_int_equal(termstore_open(&ts, dir, "term", &term, name, why, sizeof(why)), 0);
	assert_int_equal(term, 0);
	assert_string_equal(name, "");
	for (uint64_t t = 1; t <= 7; t++)
		assert_int_equal(termstore_put(&ts, t, t & 1 ? "node-a" : "b"), 0);
	termstore_close(&ts);
	reopen(7, "node-a");
	/* generation 7 went to slot 1 (offset 64): rot a byte of it, the term field even */
	flip(64 + 17);
	reopen(6, "b");
	/* and the older slot too: nothing trustworthy is left */
	flip(0 + 30);
	assert_int_equal(termstore_open(&ts, dir, "term", &term, name, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "both slots are corrupt"));
	termstore_close(&ts);
}

static void
test_short_file(void **st)
{
	struct termstore ts;
	uint64_t term;
	char name[WHA_NODE_MAX], why[256], path[128];
	(void)st;

	snprintf(path, sizeof(path), "%s/term", dir);
	FILE *f = fopen(path, "w");
	fputs("not a term file", f);
	fclose(f);
	assert_int_equal(termstore_open(&ts, dir, "term", &term, name, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "short file"));
	termstore_close(&ts);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip_and_rot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
