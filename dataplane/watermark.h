/* SPDX-License-Identifier: Apache-2.0
 * Watermark bookkeeping (semantics.md "Event time and watermarks"), shared by the RX
 * cores, which compute the watermark they report per source from its producers, and
 * the workers, which combine the reports of every RX core.  Pure and inline.
 */
#ifndef WEIR_WATERMARK_H
#define WEIR_WATERMARK_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A producer's watermark: largest event time applied minus the delay, saturating. */
static inline int64_t
weir_wm_producer(int64_t maxt, int64_t delay)
{
	return maxt < INT64_MIN + delay ? INT64_MIN : maxt - delay;
}

/* Minimum over the producers of one source seen on one RX core. */
struct weir_wm_acc {
	int64_t min;                /* over active producers */
	uint32_t seen, ended, active;
};

static inline void
weir_wm_acc_init(struct weir_wm_acc *a)
{
	a->min = INT64_MAX;
	a->seen = a->ended = a->active = 0;
}

static inline void
weir_wm_acc_add(struct weir_wm_acc *a, int64_t wm, bool ended, bool idle)
{
	a->seen++;
	if (ended) {
		a->ended++;
	} else if (!idle) {
		a->active++;
		if (wm < a->min)
			a->min = wm;
	}
}

/* The RX core's report.  Returns false when it holds nothing back: no producer seen,
 * or every producer idle.  Otherwise *wm is the minimum over active producers, with
 * ended ones at +infinity (INT64_MAX) and idle ones left out. */
static inline bool
weir_wm_acc_result(const struct weir_wm_acc *a, int64_t *wm)
{
	if (a->seen == 0 || (a->active == 0 && a->ended == 0))
		return false;
	*wm = a->min;
	return true;
}

/* A worker's view of one source: the minimum over the n RX cores that hold a
 * watermark (holds[r]).  Returns false if none does (the watermark stays). */
static inline bool
weir_wm_combine(const int64_t *wm, const uint8_t *holds, unsigned n, int64_t *out)
{
	bool any = false;
	int64_t m = INT64_MAX;

	for (unsigned r = 0; r < n; r++) {
		if (!holds[r])
			continue;
		any = true;
		if (wm[r] < m)
			m = wm[r];
	}
	if (any)
		*out = m;
	return any;
}

#ifdef __cplusplus
}
#endif
#endif
