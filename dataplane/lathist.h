/* SPDX-License-Identifier: Apache-2.0
 * Log-linear latency histogram (HdrHistogram's layout, small): values below 2^SUB
 * have a bucket each; above, every power of two is cut into 2^SUB equal buckets, so a
 * bucket's width is at most 1/2^SUB (3.1 %) of the values in it.  Fixed memory, no
 * allocation, one owner thread; percentiles are read off the bucket counts and given
 * as the upper bound of the bucket holding them (never below the true value).
 */
#ifndef WEIR_LATHIST_H
#define WEIR_LATHIST_H

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEIR_LH_SUB     5                       /* 32 buckets per power of two */
#define WEIR_LH_OCTAVES (64 - WEIR_LH_SUB)
#define WEIR_LH_BUCKETS ((WEIR_LH_OCTAVES + 1) << WEIR_LH_SUB)

struct weir_lathist {
	uint64_t count, sum, min, max;
	uint64_t b[WEIR_LH_BUCKETS];
};

static inline void
weir_lh_init(struct weir_lathist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static inline unsigned
weir_lh_index(uint64_t v)
{
	if (v < (UINT64_C(1) << WEIR_LH_SUB))
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);          /* >= SUB */
	unsigned oct = msb - WEIR_LH_SUB + 1;                        /* 1 .. */
	return oct << WEIR_LH_SUB | (unsigned)((v >> (msb - WEIR_LH_SUB)) & ((1u << WEIR_LH_SUB) - 1));
}

/* The values of bucket i: [lo, hi]. */
static inline void
weir_lh_bounds(unsigned i, uint64_t *lo, uint64_t *hi)
{
	unsigned oct = i >> WEIR_LH_SUB, sub = i & ((1u << WEIR_LH_SUB) - 1);

	if (oct == 0) {
		*lo = *hi = sub;
		return;
	}
	unsigned shift = oct - 1;               /* bucket width 2^shift */
	*lo = ((UINT64_C(1) << WEIR_LH_SUB) | sub) << shift;
	*hi = *lo + ((UINT64_C(1) << shift) - 1);
}

static inline void
weir_lh_add(struct weir_lathist *h, uint64_t v)
{
	h->b[weir_lh_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

/* The value at quantile q (0..1]: the upper bound of the bucket where the
 * ceil(q * count)-th smallest value lies, clamped to the exact max.  0 if empty. */
static inline uint64_t
weir_lh_quantile(const struct weir_lathist *h, double q)
{
	uint64_t rank, seen = 0, lo, hi;

	if (!h->count)
		return 0;
	rank = (uint64_t)(q * (double)h->count + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (unsigned i = 0; i < WEIR_LH_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			weir_lh_bounds(i, &lo, &hi);
			return hi < h->max ? hi : h->max;
		}
	}
	return h->max;
}

#ifdef __cplusplus
}
#endif
#endif
