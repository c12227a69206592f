/* SPDX-License-Identifier: Apache-2.0
 * Unit tests: the watermark an RX core reports per source (producers seen, ended,
 * idle) and a worker's combination of the RX cores' reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "watermark.h"

static void
producer_watermark(void **st)
{
	(void)st;
	assert_int_equal(weir_wm_producer(1000, 50), 950);
	assert_int_equal(weir_wm_producer(5, 0), 5);
	assert_int_equal(weir_wm_producer(INT64_MIN + 10, 50), INT64_MIN);   /* saturates */
	assert_int_equal(weir_wm_producer(INT64_MIN + 50, 50), INT64_MIN);
}

static void
rx_report(void **st)
{
	struct weir_wm_acc a;
	int64_t wm = 12345;

	(void)st;
	weir_wm_acc_init(&a);                          /* nothing seen: holds nothing */
	assert_false(weir_wm_acc_result(&a, &wm));
	assert_int_equal(wm, 12345);

	weir_wm_acc_init(&a);                          /* minimum over live producers */
	weir_wm_acc_add(&a, 300, false, false);
	weir_wm_acc_add(&a, 100, false, false);
	weir_wm_acc_add(&a, 200, false, false);
	assert_true(weir_wm_acc_result(&a, &wm));
	assert_int_equal(wm, 100);

	weir_wm_acc_init(&a);                          /* an ended producer is +infinity */
	weir_wm_acc_add(&a, 100, true, false);
	weir_wm_acc_add(&a, 200, false, false);
	assert_true(weir_wm_acc_result(&a, &wm));
	assert_int_equal(wm, 200);

	weir_wm_acc_init(&a);                          /* all ended: +infinity */
	weir_wm_acc_add(&a, 100, true, false);
	weir_wm_acc_add(&a, INT64_MIN, true, false);   /* EOS before any record */
	assert_true(weir_wm_acc_result(&a, &wm));
	assert_int_equal(wm, INT64_MAX);

	weir_wm_acc_init(&a);                          /* an idle producer does not hold back */
	weir_wm_acc_add(&a, 100, false, true);
	weir_wm_acc_add(&a, 500, false, false);
	assert_true(weir_wm_acc_result(&a, &wm));
	assert_int_equal(wm, 500);

	weir_wm_acc_init(&a);                          /* all idle: holds nothing (no advance) */
	weir_wm_acc_add(&a, 100, false, true);
	weir_wm_acc_add(&a, 500, false, true);
	assert_false(weir_wm_acc_result(&a, &wm));

	weir_wm_acc_init(&a);                          /* idle and ended: +infinity */
	weir_wm_acc_add(&a, 100, false, true);
	weir_wm_acc_add(&a, 500, true, false);
	assert_true(weir_wm_acc_result(&a, &wm));
	assert_int_equal(wm, INT64_MAX);

	weir_wm_acc_init(&a);                          /* a producer seen with no record yet */
	weir_wm_acc_add(&a, INT64_MIN, false, false);
	weir_wm_acc_add(&a, 500, false, false);
	assert_true(weir_wm_acc_result(&a, &wm));
	assert_int_equal(wm, INT64_MIN);
}

static void
worker_combine(void **st)
{
	int64_t wm[3] = { 500, 100, 300 }, out = 7;
	uint8_t holds[3] = { 1, 0, 1 };

	(void)st;
	assert_true(weir_wm_combine(wm, holds, 3, &out));
	assert_int_equal(out, 300);                    /* RX 1 holds nothing: left out */
	holds[1] = 1;
	assert_true(weir_wm_combine(wm, holds, 3, &out));
	assert_int_equal(out, 100);
	uint8_t none[3] = { 0, 0, 0 };
	out = 7;
	assert_false(weir_wm_combine(wm, none, 3, &out));
	assert_int_equal(out, 7);
	int64_t ended[2] = { INT64_MAX, INT64_MAX };
	uint8_t both[2] = { 1, 1 };
	assert_true(weir_wm_combine(ended, both, 2, &out));
	assert_int_equal(out, INT64_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(producer_watermark), cmocka_unit_test(rx_report), cmocka_unit_test(worker_combine),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
