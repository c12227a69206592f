/* SPDX-License-Identifier: Apache-2.0
 * The HA gate: what lets a hot standby's dataplane compute everything and emit
 * nothing, and take over from exactly the result after the primary's last one.
 *
 * Each worker's results form a stream numbered 1, 2, 3, ... (the numbering goes on
 * across restarts from the snapshot).  Two nodes running the same configuration on
 * the same input produce the same streams.  The gate writes a result only while the
 * control process's emit lease runs (a CLOCK_MONOTONIC deadline renewed every
 * heartbeat); otherwise it keeps it in a bounded per-worker shadow queue, from which
 * results the primary has reported as written are dropped.  On promotion the shadow
 * is written from the primary's position on.
 *
 * Channel with `weir control`: a SOCK_SEQPACKET socket (commands in, handover
 * answers out; EOF = the control process is gone: shut the gate, exit) and a shared
 * memory block (memfd) that the dataplane updates and control reads: liveness,
 * what was written per stream (published only after the sinks were flushed, so it
 * is exact even after kill -9), the last checkpoint.
 */
#ifndef WEIR_HAGATE_H
#define WEIR_HAGATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEIR_GATE_MAGIC   0x54414757u   /* "WGAT" */
#define WEIR_GATE_VERSION 2
#define WEIR_GATE_MAX_W   128

struct weir_gate_shm {
	uint32_t magic, version;
	uint32_t nw, pid;
	/* Held by the dataplane's sink loop thread for its whole life: a robust,
	 * process-shared mutex that the kernel releases the moment that thread dies,
	 * before the dying process's memory is torn down (10-30 ms for a DPDK process,
	 * which is when its pidfd and sockets would tell).  Control waits on it. */
	pthread_mutex_t alive;
	uint64_t alive_held;            /* 1 once the dataplane holds `alive` */
	uint64_t main_tick;             /* the sink loop's iterations: it is alive */
	uint64_t ready;                 /* 1 once every core runs */
	uint64_t epoch;                 /* newest published checkpoint */
	uint64_t term;                  /* the term of the last command */
	uint64_t gate_open;             /* 1 while results are written */
	uint64_t shadow_len;            /* results held, all streams */
	uint64_t shadow_dropped;        /* held results lost to a full shadow (a gap if
					 * nobody else wrote them) */
	uint64_t skipped;               /* results the primary had written: not ours to write */
	uint64_t exited;                /* 1: left on purpose */
	/* Are this node's streams the primary's?  Each stream carries a running digest
	 * (XXH3 over every result in order); the primary's digest at its written position
	 * comes with each command and is compared with ours at the same position. */
	uint64_t sync;                  /* enum weir_sync */
	uint64_t checks_ok;             /* digest comparisons that matched */
	uint64_t diverged;              /* ... that did not */
	uint64_t diverged_w, diverged_at;   /* the first mismatch: stream, position */
	/* resync: started with input journaled until a snapshot is adopted */
	uint64_t adopted;               /* epoch of the adopted snapshot (0: none) */
	uint64_t adopting;              /* 1 while the sink loop restores it (not a hang) */
	/* 1 from a result handed to the sinks until its position is published: a death
	 * meanwhile may have left results in the files beyond `emitted` (control then
	 * reads the files' tails) */
	uint64_t writing;
	uint64_t adopt_failed;          /* adopt commands that failed */
	uint64_t resync_gaps;           /* input lost between the snapshot and the journal */
	uint64_t journal_frames;        /* frames journaled */
	uint64_t journal_dropped;       /* ... lost to a full journal (oldest first) */
	/* emitted[] and digest[] change together under this sequence count (odd while
	 * they are written): a reader takes a pair only from an even, unchanged count */
	uint64_t pub_seq;
	uint64_t digest[WEIR_GATE_MAX_W];   /* digest at emitted[w] */
	uint64_t emitted[WEIR_GATE_MAX_W];  /* results written and flushed per stream */
	uint64_t produced[WEIR_GATE_MAX_W]; /* results computed per stream */
};

enum weir_gate_type { WEIR_GATE_SET = 1, WEIR_GATE_CHECKPOINT = 2, WEIR_GATE_HANDED = 3, WEIR_GATE_ADOPT = 4 };

enum weir_sync {
	WEIR_SYNC_UNKNOWN = 0,          /* nothing compared yet */
	WEIR_SYNC_OK = 1,               /* compared equal, never different */
	WEIR_SYNC_DIVERGED = 2,         /* a stream differs from the primary's */
	WEIR_SYNC_RESYNC = 3,           /* journaling input, waiting for a snapshot */
};

/* How `weir status`, the admin server and the control socket name an enum weir_sync. */
static inline const char *
weir_sync_name(unsigned st)
{
	static const char *const names[] = { "not yet compared", "in sync", "diverged", "resyncing" };
	return names[st & 3u];
}

/* WEIR_GATE_ADOPT: which snapshot a resyncing dataplane takes */
enum weir_adopt { WEIR_ADOPT_RECEIVED = 1, WEIR_ADOPT_OWN = 2 };

/* control -> dataplane */
struct weir_gate_cmd {
	uint32_t type;
	uint32_t nw;
	uint64_t term;
	uint64_t emit_until;            /* CLOCK_MONOTONIC ns; 0: do not write */
	uint64_t handover;              /* non-zero: stop at the next checkpoint barrier, answer */
	uint64_t adopt;                 /* WEIR_GATE_ADOPT: enum weir_adopt */
	uint64_t adopt_epoch;           /* ... RECEIVED: the snapshot under <state dir>/resync */
	uint64_t peer_emitted[WEIR_GATE_MAX_W];
	uint64_t peer_digest[WEIR_GATE_MAX_W];  /* the primary's digest there (0: unknown) */
};

/* dataplane -> control */
struct weir_gate_handed {
	uint32_t type;
	uint32_t ok;
	uint64_t handover;
	uint64_t epoch;                 /* the barrier's checkpoint (0: no state configured) */
	uint32_t nw, pad;
	uint64_t emitted[WEIR_GATE_MAX_W];
	uint64_t digest[WEIR_GATE_MAX_W];
};

#ifdef __cplusplus
}
#endif
#endif
