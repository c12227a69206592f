/* SPDX-License-Identifier: Apache-2.0
 * The witness: the third vote of an HA pair.  It grants each term to at most one
 * node, and a new term only once the holder's lease has run out (or the holder gave
 * it up), so that with the pair's link cut exactly one node stays primary.
 * Pure logic here; `weir witness` wraps it in a UDP server.
 */
#ifndef WEIR_WITNESS_H
#define WEIR_WITNESS_H

#include <stdint.h>

#include "hamsg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WIT_MAX_NODES 8

#define WIT_COUNTERS(X) X(rx) X(granted) X(refused) X(adopted) X(released) X(persist_failed) \
	X(unknown_node)
struct wit_counters {
#define X(n) uint64_t n;
	WIT_COUNTERS(X)
#undef X
};

struct wit {
	uint64_t term;                  /* durable */
	char holder[WHA_NODE_MAX];      /* durable: who holds `term` */
	uint64_t lease_until;           /* the holder's lease, witness clock */
	uint64_t boot, seq;
	struct {
		char node[WHA_NODE_MAX];
		struct wha_replay rp;
		uint64_t rx;
	} nodes[WIT_MAX_NODES];
	struct wit_counters c;
	int (*persist)(void *ctx, uint64_t term, const char *holder);
	void *ctx;
	void (*log)(void *ctx, const char *line);
};

/* Handle an authenticated message m at time now; fill the answer.  Returns 1 to send
 * `out`, 0 to stay silent (replayed). */
int wit_handle(struct wit *w, uint64_t now, const struct wha_msg *m, struct wha_msg *out);

#ifdef __cplusplus
}
#endif
#endif
