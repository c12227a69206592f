/* SPDX-License-Identifier: Apache-2.0
 * The dataplane side of the HA gate (protocol and shared block: hagate.h).  Runs in
 * the sink loop on the main lcore, never on a polling core. */
#ifndef WEIR_GATE_H
#define WEIR_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hagate.h"
#include "sink.h"
#include "window.h"

struct weir_gate;

struct weir_gate_ops {
	void *ctx;
	void (*request_checkpoint)(void *ctx);  /* NULL: no state configured */
	uint64_t (*requested_epoch)(void *ctx);
	uint64_t (*published_epoch)(void *ctx);
	/* A resyncing dataplane takes a snapshot and replays its journal (0 ok).  It
	 * sets the streams' positions (weir_gate_set_seq) itself. */
	int (*adopt)(void *ctx, enum weir_adopt how, uint64_t epoch);
};

/* sock, shm: the descriptors `weir control` passed; nw result streams of res_size
 * bytes; shadow: results held per stream.  NULL with why set on error. */
struct weir_gate *weir_gate_create(int sock, int shm, unsigned nw, size_t res_size, unsigned shadow,
				   struct weir_sinks *sk, const struct weir_gate_ops *ops, char *why,
				   size_t n);
void weir_gate_destroy(struct weir_gate *g);
/* The streams go on from these numbers and digests (a restored snapshot's; dig NULL:
 * none recorded). */
void weir_gate_set_seq(struct weir_gate *g, const uint64_t *seq, const uint64_t *dig, unsigned nw);
/* Stream w's digest after its last result (for the snapshot's manifest). */
uint64_t weir_gate_digest(const struct weir_gate *g, unsigned w);
void weir_gate_set_sync(struct weir_gate *g, enum weir_sync st);
/* A resync adopted snapshot `epoch` (0: none, started empty). */
void weir_gate_adopted(struct weir_gate *g, uint64_t epoch);
/* The RX cores' resync counters (input missed after a restored snapshot: out of sync). */
void weir_gate_set_resync(struct weir_gate *g, uint64_t gaps, uint64_t frames, uint64_t dropped);
/* A stream's running digest: prev, then result r. */
uint64_t weir_result_digest(uint64_t prev, const struct weir_result *r);
/* The number of results stream w had produced at the barrier of the epoch being
 * made (for the snapshot's manifest). */
uint64_t weir_gate_seq(const struct weir_gate *g, unsigned w);
/* n results of worker w, in order. */
void weir_gate_results(struct weir_gate *g, unsigned w, const uint8_t *res, unsigned n);
/* Worker w passed the checkpoint barrier of epoch e. */
void weir_gate_barrier(struct weir_gate *g, unsigned w, uint64_t e);
/* Between sweeps: commands, the lease, writing out the shadow, the shared block.
 * Returns -1 once the control process is gone (the gate is shut: stop the run). */
int weir_gate_poll(struct weir_gate *g);
/* The run is over (end of input or a signal). */
void weir_gate_exit(struct weir_gate *g);

/* What the admin server shows, read from any thread. */
struct weir_gate_status {
	uint64_t term, gate_open, sync;         /* sync: enum weir_sync */
	uint64_t shadow_len, shadow_dropped, skipped, checks_ok, diverged, adopted;
	int64_t lease_left_ns;                  /* of the emit lease, 0 when it has run out */
	int64_t command_age_ns;                 /* since control's last lease command (-1: none yet) */
};
void weir_gate_status(const struct weir_gate *g, struct weir_gate_status *st);

#endif
