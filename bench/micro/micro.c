/* SPDX-License-Identifier: Apache-2.0
 * Micro-benchmark suite: registration order, teardown, and the shared helpers. */
#include "micro.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void
wb_register_all(void)
{
	micro_ring_register();
	micro_decode_register();
	micro_window_register();
	micro_fire_register();
	micro_sink_register();
	micro_ckpt_register();
	micro_itch_register();
	micro_line_register();
}

void
wb_finish_all(void)
{
	micro_window_finish();
}

struct wb_bench *
wb_family(const char *name, wb_fn fn, const int64_t *rows, int nrows, int nargs, const char *const *names)
{
	struct wb_bench *b = wb_register(name, fn);

	for (int i = 0; i < nrows; i++)
		wb_args(b, rows + (size_t)i * (size_t)nargs, nargs);
	if (names)
		wb_arg_names(b, names, nargs);
	return b;
}

/* ---- Zipf ---------------------------------------------------------------------------- */

struct wb_zipf {
	uint64_t n;
	double *cdf;                /* cdf[k] = P(rank <= k); cdf[n-1] = 1 */
	uint32_t *guide;            /* guide[j] = first k with cdf[k] >= j / n */
};

struct wb_zipf *
wb_zipf_new(uint64_t n, double s)
{
	struct wb_zipf *z = calloc(1, sizeof(*z));
	double sum = 0;

	if (!z || n == 0 || n > UINT32_MAX)
		goto fail;
	z->n = n;
	z->cdf = malloc(n * sizeof(*z->cdf));
	z->guide = malloc(n * sizeof(*z->guide));
	if (!z->cdf || !z->guide)
		goto fail;
	for (uint64_t k = 0; k < n; k++) {
		sum += pow((double)(k + 1), -s);
		z->cdf[k] = sum;
	}
	for (uint64_t k = 0; k < n; k++)
		z->cdf[k] /= sum;
	z->cdf[n - 1] = 1.0;
	for (uint64_t j = 0, k = 0; j < n; j++) {
		double u = (double)j / (double)n;
		while (z->cdf[k] < u)
			k++;
		z->guide[j] = (uint32_t)k;
	}
	return z;
fail:
	wb_zipf_free(z);
	return NULL;
}

uint64_t
wb_zipf_draw(const struct wb_zipf *z, uint64_t *rng)
{
	double u = (double)(wb_rnd(rng) >> 11) * 0x1p-53;       /* [0, 1) */
	uint64_t j = (uint64_t)(u * (double)z->n);
	uint64_t k = z->guide[j < z->n ? j : z->n - 1];  /* u * n may round up to n */

	while (z->cdf[k] < u)
		k++;
	return k;
}

void
wb_zipf_free(struct wb_zipf *z)
{
	if (!z)
		return;
	free(z->cdf);
	free(z->guide);
	free(z);
}

/* ---- config, CPUs, memory ------------------------------------------------------------- */

bool
wb_config(const char *text, struct weir_config *cfg)
{
	return weir_config_load_string("micro-bench.ini", text, cfg, stderr) == 0;
}

int
wb_pin(int cpu, struct wb_cpuset *saved)
{
	cpu_set_t set;
	int rc;

	if (saved) {
		CPU_ZERO(&set);
		rc = pthread_getaffinity_np(pthread_self(), sizeof(set), &set);
		if (rc)
			return -rc;
		_Static_assert(sizeof(saved->bits) <= sizeof(set), "cpu set size");
		memcpy(saved->bits, &set, sizeof(saved->bits));
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	return -rc;
}

void
wb_unpin(const struct wb_cpuset *saved)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	memcpy(&set, saved->bits, sizeof(saved->bits));
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int
wb_cpus_allowed(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	return CPU_COUNT(&set);
}

void *
wb_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, bytes, MADV_HUGEPAGE);       /* best effort: fewer TLB misses in big streams */
	return p;
}

void
wb_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}
