/* SPDX-License-Identifier: Apache-2.0
 * Shared helpers of the micro-benchmark bodies (plain C; see shim.h for the harness). */
#ifndef WEIR_BENCH_MICRO_H
#define WEIR_BENCH_MICRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "shim.h"

#define WB_NS_PER_S INT64_C(1000000000)

/* Keep v alive (and computed) without a store the compiler could sink out of a loop. */
#define WB_KEEP(v) __asm__ volatile("" : : "r"(v) : "memory")

/* splitmix64: deterministic, seeded streams for generated inputs. */
static inline uint64_t
wb_rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Zipf(s) over ranks 0..n-1 (rank 0 the most frequent), by inverse CDF with a guide
 * table: O(1) expected per draw, so 10 M keys x tens of M draws stay a setup of
 * seconds.  NULL on allocation failure. */
struct wb_zipf;
struct wb_zipf *wb_zipf_new(uint64_t n, double s);
uint64_t wb_zipf_draw(const struct wb_zipf *z, uint64_t *rng);
void wb_zipf_free(struct wb_zipf *z);

/* Load an in-memory config (bench/fire_bench.c's way); false after printing why. */
bool wb_config(const char *text, struct weir_config *cfg);

/* Pin the calling thread to one CPU (0, or -errno); the previous mask is kept in
 * *saved (when not NULL) for wb_unpin. */
struct wb_cpuset { uint64_t bits[16]; };
int wb_pin(int cpu, struct wb_cpuset *saved);
void wb_unpin(const struct wb_cpuset *saved);
/* Number of CPUs this process may run on. */
int wb_cpus_allowed(void);

/* Huge allocations (window key streams, rings): page-aligned, zeroed on demand. */
void *wb_alloc(size_t bytes);
void wb_free(void *p, size_t bytes);

/* Registration and teardown per area (micro.c calls them in this order). */
void micro_ring_register(void);
void micro_decode_register(void);
void micro_window_register(void);
void micro_fire_register(void);
void micro_sink_register(void);
void micro_ckpt_register(void);
void micro_itch_register(void);
void micro_line_register(void);
void micro_window_finish(void);

/* Register fn once per row of args (nargs values each); names as in wb_arg_names. */
struct wb_bench *wb_family(const char *name, wb_fn fn, const int64_t *rows, int nrows, int nargs,
			   const char *const *names);

#endif
