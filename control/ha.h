/* SPDX-License-Identifier: Apache-2.0
 * The HA role machine of one node: roles, terms, leases, elections, handover.
 * Pure logic: time comes in as an argument, messages in and out through ha_io, so
 * the same code runs in `weir control` and in a simulated network in the tests.
 *
 * Safety (never two nodes emitting): a node emits only as primary of a term it won
 * from a majority of {self, peer, witness}, and only while it holds a lease from the
 * peer or the witness.  A lease is the time the node SENT a message that the peer
 * (following it as primary) or the witness (holding its term) echoed, plus
 * heartbeat x dead_after less half a heartbeat.  The peer gives up following only
 * after dead_after heartbeats of silence measured from when it RECEIVED, and the
 * witness grants a new term only when the holder's lease has run out by the same
 * rule, so a lease always ends before anyone else can start emitting.
 */
#ifndef WEIR_HA_H
#define WEIR_HA_H

#include <stdbool.h>
#include <stdint.h>

#include "hamsg.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ha_to { HA_TO_PEER = 0, HA_TO_WITNESS = 1 };

/* The transition table: one function each, counted, logged and timestamped. */
#define HA_TRANSITIONS(X) \
	X(PROMOTE,       WHA_STANDBY, WHA_PRIMARY, "promote")        \
	X(DEMOTE,        WHA_PRIMARY, WHA_STANDBY, "demote")         \
	X(FENCE_PRIMARY, WHA_PRIMARY, WHA_FENCED,  "fence-primary")  \
	X(FENCE_STANDBY, WHA_STANDBY, WHA_FENCED,  "fence-standby")  \
	X(UNFENCE,       WHA_FENCED,  WHA_STANDBY, "unfence")
enum ha_tr {
#define X(id, from, to, name) HA_TR_##id,
	HA_TRANSITIONS(X)
#undef X
	HA_TR__N
};

#define HA_COUNTERS(X) \
	X(tx) X(rx) X(rx_stale_term) X(fingerprint_mismatch) X(elections) X(votes_granted) \
	X(votes_refused) X(handovers_started) X(handovers_done) X(handovers_aborted) \
	X(takeovers) X(persist_failed) X(switch_requests) X(stalls)
struct ha_counters {
#define X(n) uint64_t n;
	HA_COUNTERS(X)
#undef X
	uint64_t transitions[HA_TR__N];
};

struct ha_params {
	char node[WHA_NODE_MAX];
	int64_t priority;           /* higher: preferred primary (ties: smaller name) */
	uint64_t hb_ns;             /* heartbeat interval */
	unsigned dead_after;        /* heartbeats of silence that make a node dead */
	bool witness;               /* a witness is configured */
	bool failback_auto;
	uint64_t hold_down_ns;      /* auto failback: the preferred node stays a healthy standby this long */
	uint64_t fingerprint;
	unsigned nworkers;          /* result streams of the dataplane */
};

struct ha_io {
	void *ctx;
	/* send m (complete but for packing) */
	void (*send)(void *ctx, enum ha_to to, const struct wha_msg *m);
	/* make (term, voted_for) durable before returning; 0 or -1 */
	int (*persist)(void *ctx, uint64_t term, const char *voted_for);
	/* ask the dataplane to stop emitting at its next checkpoint barrier; the answer
	 * comes back through ha_handover_ready() */
	void (*handover)(void *ctx, uint64_t req);
	/* one log line (a transition or a notable event); now is the monotonic time */
	void (*log)(void *ctx, uint64_t now, const char *line);
};

struct ha;

/* term/voted_for: as last persisted.  boot: this incarnation (CLOCK_REALTIME ns). */
struct ha *ha_create(const struct ha_params *p, const struct ha_io *io, uint64_t term,
		     const char *voted_for, uint64_t boot, uint64_t now);
void ha_destroy(struct ha *h);

/* Every heartbeat: run the timers, send heartbeats. */
void ha_tick(struct ha *h, uint64_t now);
/* Run the timers only: call at ha_deadline() too, so that a silent peer is dead
 * exactly dead_after heartbeats after it was last heard, not at the next tick. */
void ha_timers(struct ha *h, uint64_t now);
/* The next instant (after now) at which a timer may fire, UINT64_MAX none. */
uint64_t ha_deadline(const struct ha *h, uint64_t now);
/* An authenticated message (MAC checked by the caller) from the peer or the witness. */
void ha_recv(struct ha *h, uint64_t now, enum ha_to from, const struct wha_msg *m);
/* The local dataplane's health and what it has written per worker stream.  exact:
 * emitted is final (the dataplane is gone and these are its last counters). */
void ha_dataplane(struct ha *h, uint64_t now, bool ok, const uint64_t *emitted, unsigned nw,
		  bool exact, uint64_t epoch);
/* The local dataplane's stream digests at `emitted` and how its streams compare with
 * the primary's (enum weir_sync). */
void ha_dataplane_sync(struct ha *h, const uint64_t *digest, unsigned nw, unsigned sync);
/* Ask the primary for a snapshot, shipped to our TCP port (req 0: stop asking). */
void ha_want_snapshot(struct ha *h, uint64_t req, uint16_t port);
const char *ha_sync_name(unsigned sync);
/* The dataplane stopped emitting for handover req (ok) or could not (!ok). */
void ha_handover_ready(struct ha *h, uint64_t now, uint64_t req, bool ok, const uint64_t *emitted,
		       unsigned nw);

enum ha_action { HA_ACT_FAILOVER = 0, HA_ACT_FAILBACK };
/* A planned switchover.  0 started (or forwarded to the primary), or -1 with why. */
int ha_action(struct ha *h, uint64_t now, enum ha_action a, char *why, size_t n);

/* What the local dataplane may do now. */
struct ha_gate {
	uint64_t term;
	uint64_t emit_until;        /* monotonic ns; 0: do not emit */
	uint64_t handover;          /* non-zero: stop at the next barrier and report (req) */
	const uint64_t *peer_emitted;   /* results the primary wrote per stream (skip them) */
	const uint64_t *peer_digest;    /* its stream digests there (0: unknown) */
	unsigned nw;
};
void ha_gate(const struct ha *h, uint64_t now, struct ha_gate *g);

struct ha_status {
	int role;
	uint64_t term, since;
	char voted_for[WHA_NODE_MAX];
	bool peer_alive, witness_alive, dp_ok;
	uint64_t peer_age, witness_age;          /* ns since last heard, UINT64_MAX never */
	char peer_node[WHA_NODE_MAX];
	int peer_role;
	uint64_t peer_term;
	bool peer_dp_ok;
	unsigned sync, peer_sync;                /* enum weir_sync (a primary: 1) */
	uint64_t witness_term;
	char witness_holder[WHA_NODE_MAX];
	uint64_t lease_left;                     /* primary: ns of lease left */
	uint64_t handover;                       /* in progress (req), 0 none */
	uint64_t max_stall;                      /* longest time this process went unscheduled */
	uint64_t peer_epoch;
	struct ha_counters c;
	uint64_t last_tr_at[HA_TR__N];           /* monotonic ns, 0 never */
};
void ha_get_status(const struct ha *h, uint64_t now, struct ha_status *s);
/* Config reload: the failback mode and hold_down. */
void ha_set_failback(struct ha *h, bool autofb, uint64_t hold_down_ns);
const char *ha_tr_name(enum ha_tr t);

#ifdef __cplusplus
}
#endif
#endif
