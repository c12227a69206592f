/* SPDX-License-Identifier: Apache-2.0
 * A C face for Google Benchmark: the benchmark bodies are plain C calling the real
 * module code; shim.cc is the only C++ (registration, State, main).
 *
 * A body is `void fn(struct wb_state *st)`:
 *
 *	setup (untimed)
 *	while (wb_keep_running(st))
 *		one iteration: a burst of work (a C call per iteration costs ~2 ns, so an
 *		iteration should be a burst, never a single few-ns operation)
 *	wb_set_items(st, ...); checks (untimed)
 *
 * Google Benchmark calls a body several times with growing iteration counts; a body
 * whose setup is expensive keeps it across calls (see micro.h, the cached contexts).
 * A check that fails calls wb_fail: the benchmark is reported as an error and the
 * program exits 1 once every benchmark has run (the smoke test relies on that).
 */
#ifndef WEIR_BENCH_SHIM_H
#define WEIR_BENCH_SHIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct wb_state;                 /* benchmark::State */
struct wb_bench;                 /* benchmark::internal::Benchmark */

typedef void (*wb_fn)(struct wb_state *st);

/* ---- registration (from wb_register_all) ---- */

/* Register fn under name; returns the handle the options below take. */
struct wb_bench *wb_register(const char *name, wb_fn fn);
/* One argument row (read back with wb_range(st, i)); one benchmark per row. */
void wb_args(struct wb_bench *b, const int64_t *args, int nargs);
/* Names of the argument positions, printed as name:value in the benchmark name. */
void wb_arg_names(struct wb_bench *b, const char *const *names, int n);
/* Minimum measured time and warm-up (seconds; 0 = the --benchmark_min_time default). */
void wb_min_time(struct wb_bench *b, double seconds);
void wb_min_warmup(struct wb_bench *b, double seconds);
/* Run exactly n iterations (one call, no ramp-up; instead of a minimum time). */
void wb_iterations_fixed(struct wb_bench *b, int64_t n);
/* Report times in ns (0), us (1) or ms (2). */
void wb_unit(struct wb_bench *b, int unit);
/* Measure wall-clock time (benchmarks with another thread doing half the work). */
void wb_real_time(struct wb_bench *b);

/* Defined by the C side: registers every benchmark (called once, before the run). */
void wb_register_all(void);
/* Defined by the C side: called once after the run, to tear down cached contexts
 * (whose checks may still fail the run through wb_fail_run). */
void wb_finish_all(void);

/* ---- inside a body ---- */

/* True while another iteration is wanted; the timer runs from the first call. */
int wb_keep_running(struct wb_state *st);
/* Argument i of this benchmark's row. */
int64_t wb_range(const struct wb_state *st, int i);
/* Iterations run so far in this call. */
int64_t wb_iterations(const struct wb_state *st);
/* Totals over this call (not per iteration): shown as items/s, bytes/s. */
void wb_set_items(struct wb_state *st, int64_t items);
void wb_set_bytes(struct wb_state *st, int64_t bytes);
/* A user counter, printed as is. */
void wb_counter(struct wb_state *st, const char *name, double v);
/* A user counter divided by the measured time (a rate: "packets/s"). */
void wb_counter_rate(struct wb_state *st, const char *name, double v);
/* Stop / restart the timer around untimed work inside the loop (costs ~0.3 us). */
void wb_pause(struct wb_state *st);
void wb_resume(struct wb_state *st);
void wb_label(struct wb_state *st, const char *label);
/* This benchmark cannot run here (missing CPUs, memory): reported, not a failure.
 * Call before the loop, or leave it at once (the loop then ends). */
void wb_skip(struct wb_state *st, const char *why);
/* A check failed: reported as an error, and the program exits 1 at the end. */
void wb_fail(struct wb_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same outside a body (a teardown check). */
void wb_fail_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif
#endif
