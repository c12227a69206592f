/* SPDX-License-Identifier: Apache-2.0
 * weir dataplane (see dataplane.h, ../shared/design.md).
 *
 * lcore 0 (main): sinks, progress, end-of-input detection.  Never polls a port.
 * lcores 1..R:    RX: rte_eth_rx_burst -> decode -> per-worker staging -> SPSC rings.
 * lcores R+1..:   workers: ring bursts -> window operators -> results ring to main.
 * Rings are rte_ring "elem" rings carrying fixed-size records by value, single
 * producer / single consumer, so events, watermarks and end markers keep their order.
 */
#include "dataplane.h"
#include "admin.h"
#include "arena.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <sched.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <rte_common.h>
#include <rte_telemetry.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_hash_crc.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "decode.h"
#include "itch.h"
#include "lineproto.h"
#include "numa.h"
#include "recring.h"
#include "gate.h"
#include "sink.h"
#include "stateplane.h"
#include "watermark.h"
#include "window.h"
#include "keymap.h"
#include "lathist.h"

#define MAX_RX       64
#define MAX_WORKERS  128
#define RX_BURST     32
#define RING_BURST   256
#define STAGE_RECS   512       /* records staged per worker before a flush */
#define ARENA_NICE   10        /* the arena service: below the sink loop, as the admin server */
#define MAX_INST     4096      /* producers (udp port, source_id) per RX core */
#define RX_DESC      1024
#define RES_RING     (1u << 17) /* results per worker ring: absorbs a window end's burst */
#define RES_STAGE    64
#define LAT_PEND     4096      /* latency = on: results noted between sink flushes */

/* ---- records crossing the RX -> worker rings -------------------------------------- */

enum { REC_EVENT = 0, REC_WM, REC_FINAL, REC_STOP,
       REC_BARRIER };           /* checkpoint barrier: t = epoch */
enum { REC_F_END = 1,       /* last record of its batch for this worker */
       REC_F_UNSEEN = 2 };  /* WM: this RX holds no watermark for the source */
/* an event's key group (flags bits 8-15): the queries of its source keyed as it is */
#define REC_GROUP(flags) ((unsigned)(flags) >> 8)

struct weir_rec {
	int64_t t;                  /* event_time, or the watermark */
	uint64_t key;
	uint16_t kind;
	uint16_t src;               /* source index */
	uint16_t flags;
	uint16_t rx;                /* RX index (markers) */
	uint64_t v[];
};
_Static_assert(sizeof(struct weir_rec) == 24, "record header is 24 bytes");

/* ---- counters: written only by their own core, read relaxed by main ----------------- */

struct core_stats {
	uint64_t rx_packets;
	uint64_t rx_events;
	uint64_t bad[WEIR_BAD_MAX];
	uint64_t seq_duplicates;
	uint64_t seq_gaps;
	uint64_t replay_skipped;    /* events below the restored sequence: applied before the snapshot */
	uint64_t resync_gaps;       /* producers whose input after the restored snapshot was missed */
	uint64_t journal_frames;    /* HA resync: frames journaled */
	uint64_t journal_dropped;   /* ... dropped, oldest first, from a full journal */
	uint64_t ring_full;         /* times a worker ring was found full */
	uint64_t ring_dropped;      /* events dropped on a full ring (backpressure = drop) */
	uint64_t key_map_missed;    /* events whose key a source's key_map does not hold */
	uint64_t itch[WEIR_ITCH_BAD_MAX];   /* ITCH datagrams and messages dropped (msg_skipped: stepped over) */
	uint64_t itch_unknown_ref;  /* E C X D U for an order the book does not hold */
	uint64_t itch_rerequests;   /* retransmission requests sent */
	uint64_t itch_recovered;    /* messages that came by retransmission */
	uint64_t itch_recov_timeouts;   /* gaps given up after gap_timeout (or a full hold) */
	uint64_t book_live, book_high_water, book_table_full, book_memory;  /* RX: its order books */
	uint64_t book_levels, book_level_full;
	uint64_t line[WEIR_LP_BAD_MAX];     /* line-protocol lines dropped by reason */
	uint64_t line_no_time;      /* lines without a timestamp: arrival time */
	uint64_t events;            /* worker: records processed */
	uint64_t late_dropped;
	uint64_t results;
	uint64_t sum_overflow;
	uint64_t open_windows;
	uint64_t state_bytes;
	uint64_t ckpt_deltas;       /* worker: deltas handed over */
	uint64_t ckpt_pause_max;    /* worker: longest loop-iteration share spent on a checkpoint (TSC) */
	uint64_t busy_cycles;       /* TSC cycles in loop iterations that did work */
	uint64_t idle_cycles;       /* ... that found nothing */
	uint64_t blocked_cycles;    /* ... waiting for room downstream (a full ring: backpressure) */
} __rte_cache_aligned;

#define CNT_ADD(f, n) __atomic_store_n(&(f), (f) + (n), __ATOMIC_RELAXED)
#define CNT_SET(f, n) __atomic_store_n(&(f), (n), __ATOMIC_RELAXED)
#define CNT_GET(f)    __atomic_load_n(&(f), __ATOMIC_RELAXED)

/* ---- RX core ------------------------------------------------------------------------ */

enum { INST_LIVE = 0, INST_ENDED = 1 };

struct inst {
	uint32_t source_id;
	uint16_t src;
	uint8_t state;
	uint8_t idle;
	uint64_t expected;          /* next sequence */
	uint64_t restored_to;       /* the snapshot's next sequence (0: not restored) */
	int64_t maxt;               /* largest event_time applied */
	int64_t wm;                 /* maxt - delay (saturating), INT64_MIN before a record */
	uint64_t last_tsc;          /* arrival of its last batch (idle_timeout) */
	uint64_t book_next;         /* itch50: next message to apply to the book (UINT64_MAX: unset) */
};

struct rx_src {                     /* per source, on one RX core */
	uint32_t *inst;             /* indices of this source's instances */
	uint32_t ninst;
	int64_t wm;                 /* last watermark sent */
	uint8_t unseen;             /* last state sent: holds nothing back */
};

/* A producer's position as a checkpoint records it (and restore reads it back). */
struct ck_inst {
	uint32_t source_id;
	uint16_t src;
	uint8_t ended;
	uint8_t rx;
	uint64_t expected;
	int64_t maxt;
	int64_t wm;
};

struct rx_ck {                      /* this RX core's producers at one barrier */
	uint64_t epoch;             /* atomic: written after the entries */
	uint32_t n;
	struct ck_inst *e;          /* MAX_INST */
};

struct stage {
	uint8_t *buf;
	uint32_t n;
	uint32_t batch_last;        /* index+1 of the last record of the current batch, 0: none */
	bool touched;               /* in rx->touched for the current batch */
};

/* HA resync: the frames an RX core received before there was state to apply them to,
 * in a byte ring of [u32 length, u32 0][frame, padded to 8]; length 0 pads to the end.
 * Positions count bytes for ever; full: the oldest frames go (counted). */
/* A byte ring of whole frames: [u32 length, u32 0][the bytes, padded to 8]; a length of
 * 0 pads to the end of the buffer.  Positions count bytes for ever.  The HA resync
 * journal (oldest frames dropped when full) and the MoldUDP64 gap hold (refusing when
 * full) are such rings. */
struct frame_ring {
	uint8_t *buf;
	uint64_t cap, head, tail;
};

/* Append a frame: false (nothing written) when it does not fit now. */
static bool
fr_push(struct frame_ring *r, const uint8_t *p, uint32_t len)
{
	uint64_t need = 8 + RTE_ALIGN_CEIL(len, 8), rem = r->cap - r->tail % r->cap;
	uint64_t take = rem < need ? rem + need : need;  /* (pad to the end, go round) */
	uint32_t hdr[2] = { 0, 0 };

	if (r->tail + take - r->head > r->cap)
		return false;
	if (rem < need) {
		memcpy(r->buf + r->tail % r->cap, hdr, 8);
		r->tail += rem;
	}
	hdr[0] = len;
	memcpy(r->buf + r->tail % r->cap, hdr, 8);
	memcpy(r->buf + r->tail % r->cap + 8, p, len);
	r->tail += need;
	return true;
}

/* The oldest frame (*len bytes), or NULL when the ring is empty. */
static const uint8_t *
fr_peek(struct frame_ring *r, uint32_t *len)
{
	while (r->head < r->tail) {
		memcpy(len, r->buf + r->head % r->cap, 4);
		if (*len)
			return r->buf + r->head % r->cap + 8;
		r->head += r->cap - r->head % r->cap;   /* a pad */
	}
	return NULL;
}

/* Drop the oldest frame (of len bytes, as fr_peek said). */
static inline void
fr_pop(struct frame_ring *r, uint32_t len)
{
	r->head += 8 + RTE_ALIGN_CEIL(len, 8);
}

enum { RX_LIVE = 0, RX_JOURNAL = 1, RX_REPLAY = 2 };

/* MoldUDP64 gaps (itch50 with `rerequest`, or with several ports: A/B feeds): a gap in
 * a session's sequence asks the re-request server (if any) for the missing messages; the
 * session's later datagrams wait in a byte ring ([u32 length][payload], padded to 8)
 * until the gap is filled -- by the answers, or by the other feed's copies -- or
 * gap_timeout passed (then the gap counts in seq_gaps and they are applied).  So the
 * first copy of each sequence number is kept, whichever feed brings it. */
#define HOLD_BYTES   (4u << 20)
#define RECOV_BUF    65536

struct itch_recov {
	int fd;                     /* UDP socket connected to the server; -1: none */
	struct inst *in;            /* the session recovering, NULL none */
	uint8_t session[WEIR_MOLD_SESSION];
	uint64_t want_to;           /* the gap: [in->expected, want_to) */
	uint64_t given_up_to;       /* a gap given up: not asked for again */
	uint64_t deadline, next_req;    /* TSC */
	struct frame_ring hold;     /* HOLD_BYTES; buf NULL: gaps are not waited for */
	uint8_t *buf;               /* RECOV_BUF: an answer */
};

/* An itch50 source's state on one RX core: the stock directory and the order book. */
struct rx_itch {
	struct weir_itch_dir dir;
	struct weir_book *book;     /* NULL: order_book = 0 */
	struct itch_recov rc;
};

struct rx_ctx {
	unsigned idx;
	unsigned mode;                 /* RX_*: this core's (G.rxmode says where to go) */
	struct frame_ring j;           /* the HA resync journal */
	unsigned nq;
	struct { uint16_t port, queue; } q[WEIR_MAX_DEVICES * 16];
	struct stage st[MAX_WORKERS];
	uint32_t touched[2 * MAX_WORKERS + 2]; /* workers given records in this batch (again after a mid-batch flush) */
	uint32_t ntouched;
	struct inst inst[MAX_INST];
	uint32_t ninst;
	uint32_t htab[2 * MAX_INST];   /* (src, source_id) -> inst index + 1 */
	struct rx_src src[WEIR_MAX_SOURCES];
	uint32_t live;                 /* instances seen and not ended */
	_Atomic uint64_t pub;          /* published: live << 32 | quiet; read by main */
	uint64_t ck_epoch;             /* newest barrier injected */
	uint64_t now;                  /* TSC at this sweep's start: arrival stamp of what it reads */
	uint64_t next_idle;            /* TSC of the next idle_timeout check */
	struct worker_ctx *fused;      /* fused = on: the worker sharing this lcore */
	struct rx_itch *itch[WEIR_MAX_SOURCES];  /* itch50 sources */
	unsigned nrecov;               /* sessions recovering a gap (itch_recov) */
	uint64_t drained;              /* fused: cycles its worker ran inside this sweep */
	uint64_t blocked;              /* cycles this sweep waited on full rings */
	struct rx_ck ck[2];            /* by epoch parity: the state thread reads one while ... */
	uint64_t fan_rec[32];          /* a fanned-out source's record, filled before its copies go */
	uint8_t linear[WEV_MAX_PAYLOAD + 128] __rte_aligned(64);
	struct core_stats cs;
};

struct worker_ctx {
	unsigned idx;
	struct weir_op *op[WEIR_MAX_QUERIES];
	int64_t rxwm[WEIR_MAX_SOURCES][MAX_RX];     /* last report of each RX core per source */
	uint8_t rxholds[WEIR_MAX_SOURCES][MAX_RX];  /* ... and whether it holds a watermark */
	uint8_t *res;                  /* staged results */
	uint32_t nres;
	/* checkpoints: barrier alignment across the RX rings, then the delta */
	uint8_t *held[MAX_RX];         /* records popped from each ring, not yet processed */
	uint32_t hn[MAX_RX], ho[MAX_RX];
	uint8_t bar[MAX_RX];           /* ring delivered the barrier of bar_epoch: paused */
	uint64_t bar_epoch;            /* barrier being aligned, 0 none */
	struct sp_writer wr;           /* the delta being written */
	bool ck_active;
	int ck_q;                      /* query whose part is being written */
	/* the run's progress: RX rings ended (of which by REC_FINAL), loop turns */
	unsigned ended, final;
	uint8_t done_rx[MAX_RX];
	uint32_t iter;
	uint64_t blocked;              /* cycles waiting on the full result ring, this turn */
	struct core_stats cs;
	/* per query, published with the core's stats for readers off this core (admin) */
	struct q_pub {
		uint64_t late_dropped, results, sum_overflow, open_windows, alloc_failed, filtered, state_bytes;
		uint64_t rejected;      /* results the query's HAVING left out */
		int64_t wm;             /* the operator's watermark, INT64_MIN before one */
	} __rte_cache_aligned qp[WEIR_MAX_QUERIES];
};

/* Everything shared, set up before launch and read-only after (but the flags). */
static struct {
	const struct weir_config *cfg;
	unsigned nrx, nw;
	size_t rec_size, res_size;
	unsigned rec_units;            /* rec_size / 16: rings move 16-byte units (the fast copy path) */
	int8_t port_src[65536];        /* UDP port -> source index, -1 none */
	uint16_t qsrc_n[WEIR_MAX_SOURCES];
	uint16_t qsrc[WEIR_MAX_SOURCES][WEIR_MAX_QUERIES];  /* queries per source */
	/* key groups (weir_source_groups): a source whose queries are not all keyed by the
	 * record's key is fanned out, one copy per group, to the worker of that group's key */
	bool fan[WEIR_MAX_SOURCES];
	int key_slot;                  /* fanned-out copies: v[key_slot] = the record's own key */
	uint8_t ngroups[WEIR_MAX_SOURCES];
	int8_t gfield[WEIR_MAX_SOURCES][WEIR_MAX_QUERIES];   /* -1 the record's key, -2 none, else a field */
	uint8_t qgroup[WEIR_MAX_QUERIES];
	struct rte_ring *ring[MAX_RX][MAX_WORKERS];
	struct rte_ring *resring[MAX_WORKERS];
	struct rx_ctx *rx[MAX_RX];
	struct worker_ctx *wk[MAX_WORKERS];
	uint16_t port[WEIR_MAX_DEVICES];
	unsigned nports;
	uint64_t idle_sleep_ns;
	uint64_t idle_tsc[WEIR_MAX_SOURCES]; /* idle_timeout in TSC ticks, 0 off */
	struct sp *sp;                 /* the state plane, NULL without [state] */
	struct ck_inst *rst;           /* restored producers (lazy mode: looked up on first packet) */
	uint32_t nrst;
	bool rst_lazy;                 /* RX core count changed since the snapshot */
	_Atomic int stop;              /* 0 run, REC_FINAL or REC_STOP */
	struct weir_gate *gate;        /* HA: under `weir control` (NULL: write every result) */
	void (*emit)(struct weir_sinks *, unsigned, const uint8_t *, unsigned);  /* emit_all / emit_gated */
	uint64_t bar_seq[2][MAX_WORKERS];   /* HA: results per stream at the barrier of epoch e&1 */
	uint64_t rst_seq[MAX_WORKERS]; /* HA: the restored snapshot's stream positions */
	bool rst_seq_ok;
	uint64_t bar_dig[2][MAX_WORKERS];   /* HA: their digests at the barrier */
	uint64_t rst_dig[MAX_WORKERS];
	bool rst_dig_ok;
	_Atomic unsigned rxmode;       /* RX_*: journal until a snapshot is adopted, then replay */
	struct weir_keymap *keymap[WEIR_MAX_SOURCES];  /* a source's join table, or NULL */
	struct weir_lp_schema *lp[WEIR_MAX_SOURCES];   /* line sources: what a line must carry */
	uint64_t tsc0, ns0;            /* a TSC reading and the wall clock (ns) at it */
	bool has_fmt[3];               /* some source has this enum weir_format */
	/* latency = on: records carry their arrival stamp in v[nfields], results the
	 * stamps of their last record and of the watermark that fired them; the main
	 * lcore notes them when handed to the sinks and settles them after the flush */
	bool lat;
	double ns_per_tsc;
	uint64_t (*lat_pend)[2];
	uint32_t lat_npend;
	struct weir_lathist *lh_arrival, *lh_wm;
	struct weir_lathist *lh_ring;   /* arrival -> the result in the sink's ring (weir's own part) */
	bool workers_on;               /* worker lcores launched (resync: at adoption) */
	int sink_efd;                  /* eventfd: workers wake the sink loop (sink_doorbell) */
	_Atomic bool sink_sleeping;    /* ... which set this before it sleeps */
	bool fused;                    /* fused = on: RX core i and worker i share lcore 1 + i */
	_Atomic bool wk_go;            /* workers may run (their state is ready) */
	bool canonical;                /* HA: firings in canonical order (the pair compares streams) */
	char fp[64];                   /* the state fingerprint */
	double t0;                     /* now_s() when the cores started */
	uint64_t sink_errors;          /* published by the sink loop (CNT_SET) */
} G;

static volatile sig_atomic_t g_signal;

static void
on_signal(int sig)
{
	g_signal = sig;
}

/* A polling lcore's naps (idle_sleep) last what they say: the default timer slack of
 * 50 us would stretch a 20 us sleep to 70 and every hop of a result's path with it. */
static void
tight_timer_slack(void)
{
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
}

static inline void
idle_backoff(uint32_t *empty)
{
	if (++*empty < 64) {
		rte_pause();
	} else if (G.idle_sleep_ns) {
		struct timespec ts = { 0, (long)G.idle_sleep_ns };
		nanosleep(&ts, NULL);
	} else {
		rte_pause();
	}
}

/* Waiting on a full ring: spin briefly, then give the CPU away, since the consumer
 * may share it (more lcores than CPUs) and must run for the ring to drain. */
static inline void
wait_backoff(unsigned *spins)
{
	if (++*spins < 256)
		rte_pause();
	else
		sched_yield();
}

/* Wall-clock ns of a TSC reading (arrival times of lines without a timestamp). */
static inline int64_t
tsc_to_ns(uint64_t tsc)
{
	return (int64_t)G.ns0 + (int64_t)((double)(int64_t)(tsc - G.tsc0) * 1e9 / (double)rte_get_tsc_hz());
}

static inline unsigned
worker_of(uint64_t key)
{
	uint32_t h = (uint32_t)((key * UINT64_C(0x9e3779b97f4a7c15)) >> 32);
	return (unsigned)(((uint64_t)h * G.nw) >> 32);
}

static unsigned wk_turn(struct worker_ctx *wk);

/* The lcore of worker w: its own, or (fused) its RX core's. */
static inline unsigned
wk_lcore(unsigned w)
{
	return G.fused ? 1 + w : 1 + G.nrx + w;
}

/* Push staged records to worker w's ring.  Block policy: wait for room (the port is
 * not polled meanwhile).  Drop policy: drop the events that do not fit, keep markers. */
static void
rx_flush(struct rx_ctx *rx, unsigned w)
{
	struct stage *st = &rx->st[w];
	struct rte_ring *r = G.ring[rx->idx][w];
	uint32_t done = 0;
	bool counted = false;
	unsigned spins = 0;

	while (done < st->n) {
		done += weir_recring_push(r, st->buf + done * G.rec_size, st->n - done, G.rec_units);
		if (done == st->n)
			break;
		if (!counted) {
			CNT_ADD(rx->cs.ring_full, 1);
			counted = true;
		}
		if (G.cfg->backpressure == WEIR_BP_DROP && rx->mode == RX_LIVE) {
			/* keep only the markers of what is left (a journal replay waits instead:
			 * its input is in memory, and dropping it would diverge from the peer) */
			uint32_t k = done;
			for (uint32_t i = done; i < st->n; i++) {
				struct weir_rec *x = (struct weir_rec *)(st->buf + i * G.rec_size);
				if (x->kind == REC_EVENT) {
					CNT_ADD(rx->cs.ring_dropped, 1);
					continue;
				}
				if (k != i)
					memcpy(st->buf + k * G.rec_size, x, G.rec_size);
				k++;
			}
			st->n = k;
		}
		/* fused: the worker of this lcore may be the one that must drain */
		if (rx->fused && atomic_load_explicit(&G.wk_go, memory_order_acquire)) {
			uint64_t t0 = rte_rdtsc();
			if (wk_turn(rx->fused)) {
				rx->drained += rte_rdtsc() - t0;        /* not the RX side's */
				continue;
			}
		}
		uint64_t w0 = rte_rdtsc();
		wait_backoff(&spins);
		rx->blocked += rte_rdtsc() - w0;
	}
	st->n = 0;
	st->batch_last = 0;
}

static inline struct weir_rec *
stage_slot(struct rx_ctx *rx, unsigned w)
{
	struct stage *st = &rx->st[w];

	if (st->n == STAGE_RECS)
		rx_flush(rx, w);
	return (struct weir_rec *)(st->buf + st->n++ * G.rec_size);
}

static void
stage_marker(struct rx_ctx *rx, uint16_t kind, uint16_t src, int64_t t, uint16_t flags)
{
	for (unsigned w = 0; w < G.nw; w++) {
		struct weir_rec *m = stage_slot(rx, w);
		m->kind = kind;
		m->src = src;
		m->t = t;
		m->key = rx->now;       /* a watermark's stamp: when what moved it arrived */
		m->flags = flags;
		m->rx = (uint16_t)rx->idx;
	}
}

/* Recompute this RX core's watermark for source s and tell the workers if it moved. */
static void
rx_source_wm(struct rx_ctx *rx, uint16_t s)
{
	struct rx_src *rs = &rx->src[s];
	struct weir_wm_acc acc;
	int64_t wm = INT64_MAX;
	bool unseen;

	weir_wm_acc_init(&acc);
	for (uint32_t i = 0; i < rs->ninst; i++) {
		const struct inst *in = &rx->inst[rs->inst[i]];
		weir_wm_acc_add(&acc, in->wm, in->state == INST_ENDED, in->idle);
	}
	unseen = !weir_wm_acc_result(&acc, &wm);
	if (unseen == rs->unseen && (unseen || wm == rs->wm))
		return;
	CNT_SET(rs->unseen, unseen);   /* (read by the admin thread) */
	CNT_SET(rs->wm, wm);
	stage_marker(rx, REC_WM, s, wm, unseen ? REC_F_UNSEEN : 0);
}

/* A producer as the snapshot left it: the next sequence, its watermark, ended or not. */
static void
inst_restore(struct rx_ctx *rx, struct inst *in, const struct ck_inst *c)
{
	in->expected = c->expected;
	in->restored_to = c->expected;
	in->book_next = 0;          /* the book is not in the snapshot: rebuilt from a replay */
	in->maxt = c->maxt;
	in->wm = c->wm;
	in->last_tsc = rte_rdtsc();
	if (c->ended) {
		in->state = INST_ENDED;
		rx->live--;
	}
}

static struct inst *
inst_get(struct rx_ctx *rx, uint16_t s, uint32_t source_id, int *bad)
{
	uint32_t h = (uint32_t)((((uint64_t)s << 32 | source_id) * UINT64_C(0x9e3779b97f4a7c15)) >> 40);

	for (uint32_t i = h & (2 * MAX_INST - 1);; i = (i + 1) & (2 * MAX_INST - 1)) {
		uint32_t x = rx->htab[i];
		if (x == 0) {
			if (rx->ninst == MAX_INST) {
				*bad = WEIR_BAD_too_many_producers;
				return NULL;
			}
			struct inst *in = &rx->inst[rx->ninst];
			memset(in, 0, sizeof(*in));
			in->source_id = source_id;
			in->src = s;
			in->state = INST_LIVE;
			in->wm = INT64_MIN;
			in->maxt = INT64_MIN;
			in->expected = UINT64_MAX;   /* first batch sets it */
			in->book_next = UINT64_MAX;
			rx->htab[i] = ++rx->ninst;
			rx->src[s].inst[rx->src[s].ninst++] = rx->ninst - 1;
			if (G.cfg->sources[s].format != WEIR_FMT_LINE)
				rx->live++;     /* a line-protocol sender never ends: not waited for */
			if (G.rst_lazy)
				for (uint32_t j = 0; j < G.nrst; j++)
					if (G.rst[j].src == s && G.rst[j].source_id == source_id) {
						inst_restore(rx, in, &G.rst[j]);
						break;
					}
			return in;
		}
		struct inst *in = &rx->inst[x - 1];
		if (in->src == s && in->source_id == source_id)
			return in;
	}
}

/* The frame of m (at most the linear buffer's size: longer than any valid WEV frame,
 * it fails a length check), or NULL. */
static inline const uint8_t *
rx_bytes(struct rx_ctx *rx, struct rte_mbuf *m, uint32_t *len)
{
	*len = rte_pktmbuf_pkt_len(m);
	if (*len > sizeof(rx->linear))
		*len = sizeof(rx->linear);
	return rte_pktmbuf_read(m, 0, *len, rx->linear);
}

static void rx_frame(struct rx_ctx *rx, const uint8_t *f, uint32_t len);

static void
rx_packet(struct rx_ctx *rx, struct rte_mbuf *m)
{
	uint32_t len;
	const uint8_t *f = rx_bytes(rx, m, &len);

	CNT_ADD(rx->cs.rx_packets, 1);
	if (!f) {
		CNT_ADD(rx->cs.bad[WEIR_BAD_frame_truncated], 1);
		return;
	}
	rx_frame(rx, f, len);
}

/* ---- the resync journal ---- */

/* Journal a frame; when full, the oldest frames go (counted).  A frame over a quarter
 * of the journal is not kept. */
static void
jnl_push(struct rx_ctx *rx, const uint8_t *f, uint32_t len)
{
	struct frame_ring *j = &rx->j;
	uint32_t old;

	if (!len || 8 + RTE_ALIGN_CEIL(len, 8) > j->cap / 4)
		return;
	while (!fr_push(j, f, len)) {
		if (!fr_peek(j, &old)) {        /* only pads were left: it is empty now */
			if (!fr_push(j, f, len))
				return;         /* (cannot be: a frame is at most a quarter of it) */
			break;
		}
		fr_pop(j, old);
		CNT_ADD(rx->cs.journal_dropped, 1);
	}
	CNT_ADD(rx->cs.journal_frames, 1);
}

/* Apply up to max journaled frames; true once the journal is empty. */
static bool
jnl_replay(struct rx_ctx *rx, unsigned max)
{
	const uint8_t *f;
	uint32_t len;

	while (max-- && (f = fr_peek(&rx->j, &len))) {
		CNT_ADD(rx->cs.rx_packets, 1);
		rx_frame(rx, f, len);
		fr_pop(&rx->j, len);
	}
	return rx->j.head >= rx->j.tail;
}

/* FNV-1a 32 of n bytes onto h (producer ids of MoldUDP64 sessions and line senders). */
static inline uint32_t
fnv1a32(uint32_t h, const uint8_t *p, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x01000193u;
	return h;
}

/* A producer's sequence numbers: skip what was applied already, count what was
 * skipped over (below the restored snapshot's position: replay_skipped, else
 * seq_duplicates).  n items from seq; returns how many of them to skip. */
static inline uint32_t
rx_seq(struct rx_ctx *rx, struct inst *in, uint64_t seq, uint32_t n)
{
	uint32_t first = 0, rep32 = 0;

	if (in->expected == UINT64_MAX)
		in->expected = seq;
	if (seq < in->expected) {
		uint64_t dup = in->expected - seq;
		first = dup >= n ? n : (uint32_t)dup;
		/* below the restored position: replayed input the snapshot already holds */
		uint64_t rep = seq < in->restored_to ? in->restored_to - seq : 0;
		rep32 = rep > first ? first : (uint32_t)rep;
		CNT_ADD(rx->cs.replay_skipped, rep32);
		CNT_ADD(rx->cs.seq_duplicates, first - rep32);
	} else if (seq > in->expected) {
		CNT_ADD(rx->cs.seq_gaps, seq - in->expected);
		if (in->restored_to && in->expected == in->restored_to)
			CNT_ADD(rx->cs.resync_gaps, 1);  /* what came after the snapshot was missed */
	}
	if (seq + n > in->expected)
		in->expected = seq + n;
	return first;
}

/* A batch of a producer is about to be read: it is alive. */
static inline void
rx_alive(struct rx_ctx *rx, uint16_t s, struct inst *in, uint64_t now)
{
	in->last_tsc = now;
	if (in->idle) {
		in->idle = 0;
		rx_source_wm(rx, s);
	}
}

/* Stage one event for the worker of its key (after the source's key map).  Returns the
 * record, its value fields to be filled, or NULL: the key map has no such key. */
static inline __attribute__((always_inline)) struct weir_rec *
rx_push(struct rx_ctx *rx, uint16_t s, const struct weir_keymap *km, int64_t t, uint64_t key, unsigned nf,
	bool fan)
{
	if (km && !weir_keymap_get(km, key, &key)) {
		CNT_ADD(rx->cs.key_map_missed, 1);
		return NULL;
	}
	struct weir_rec *x;
	if (unlikely(fan)) {
		x = (struct weir_rec *)rx->fan_rec;    /* copies go out from rx_fan, once filled */
	} else {
		unsigned w = worker_of(key);
		struct stage *st = &rx->st[w];
		x = stage_slot(rx, w);
		if (!st->touched) {
			st->touched = true;
			rx->touched[rx->ntouched++] = w;
		}
		st->batch_last = st->n;
	}

	x->t = t;
	x->key = key;
	x->kind = REC_EVENT;
	x->src = s;
	x->flags = 0;
	x->rx = (uint16_t)rx->idx;
	if (G.lat)
		x->v[nf] = rx->now;
	return x;
}

/* A fanned-out source's record x (rx->fan_rec), its values filled: one copy per key
 * group, keyed by the group's key, to that key's worker. */
static __attribute__((noinline)) void
rx_fan(struct rx_ctx *rx, uint16_t s, const struct weir_rec *x)
{
	for (unsigned g = 0; g < G.ngroups[s]; g++) {
		int f = G.gfield[s][g];
		uint64_t key = f >= 0 ? x->v[f] : f == -1 ? x->key : 0;
		unsigned w = worker_of(key);
		struct stage *st = &rx->st[w];
		struct weir_rec *y = stage_slot(rx, w);

		memcpy(y, x, G.rec_size);
		y->v[G.key_slot] = x->key;
		y->key = key;
		y->flags = (uint16_t)(g << 8);
		if (!st->touched) {
			st->touched = true;
			rx->touched[rx->ntouched++] = w;
		}
		st->batch_last = st->n;
	}
}

/* End of a producer's batch: mark each worker's last record of it (the batch boundary),
 * then move the producer's watermark (and end it at EOS). */
static void
rx_batch_end(struct rx_ctx *rx, uint16_t s, struct inst *in, int64_t maxt, bool eos)
{
	bool moved = false;

	for (uint32_t i = 0; i < rx->ntouched; i++) {
		struct stage *st = &rx->st[rx->touched[i]];
		if (st->batch_last) {
			((struct weir_rec *)(st->buf + (st->batch_last - 1) * G.rec_size))->flags |= REC_F_END;
			st->batch_last = 0;
		}
		st->touched = false;
	}
	rx->ntouched = 0;
	if (maxt != in->maxt) {
		in->maxt = maxt;
		int64_t wm = weir_wm_producer(maxt, G.cfg->sources[s].watermark_delay);
		if (wm > in->wm) {
			in->wm = wm;
			moved = true;
		}
	}
	if (eos) {
		in->state = INST_ENDED;
		rx->live--;
		moved = true;
	}
	if (moved)
		rx_source_wm(rx, s);
}

/* Stage the records [first, n) of a WEV batch of source s (r: record `first`); returns
 * the largest event time, maxt if none is larger.  Each call site passes fan as a
 * constant: one loop for fanned-out sources and one for the others, neither testing it
 * per record. */
static inline __attribute__((always_inline)) int64_t
wev_records(struct rx_ctx *rx, uint16_t s, const uint8_t *r, uint32_t first, uint32_t n, int64_t maxt,
	    const bool fan)
{
	const struct weir_source_cfg *sc = &G.cfg->sources[s];
	const unsigned nf = (unsigned)sc->nfields;
	const uint32_t rsize = sc->record_size;
	const struct weir_keymap *km = G.keymap[s];

	for (uint32_t i = first; i < n; i++, r += rsize) {
		int64_t t = (int64_t)weir_rd64le(r);
		if (t > maxt)           /* every valid record moves the watermark */
			maxt = t;
		struct weir_rec *x = rx_push(rx, s, km, t, weir_rd64le(r + 8), nf, fan);
		if (!x)
			continue;
		for (unsigned k = 0; k < nf; k++)       /* nf is small: no memcpy call */
			x->v[k] = weir_rd64le(r + 16 + 8 * k);
		if (fan)
			rx_fan(rx, s, x);
	}
	return maxt;
}

static void
rx_wev(struct rx_ctx *rx, uint16_t s, const struct weir_udp *u)
{
	const struct weir_source_cfg *sc = &G.cfg->sources[s];
	struct wev_hdr h;
	int bad;

	bad = weir_decode_wev(u->payload, u->len, sc->schema_id, sc->record_size, &h);
	if (bad != WEIR_BAD_MAX)
		goto drop;
	struct inst *in = inst_get(rx, s, h.source_id, &bad);
	if (!in)
		goto drop;
	if (in->state == INST_ENDED) {
		if (h.sequence + h.count <= in->restored_to) {  /* replayed input of a producer that ended */
			CNT_ADD(rx->cs.replay_skipped, h.count);
			return;
		}
		bad = WEIR_BAD_after_eos;
		goto drop;
	}
	uint32_t first = rx_seq(rx, in, h.sequence, h.count), n = h.count;
	rx_alive(rx, s, in, rx->now);

	const uint8_t *r = u->payload + WEV_HDR_LEN + (size_t)first * sc->record_size;
	int64_t maxt = unlikely(G.fan[s]) ? wev_records(rx, s, r, first, n, in->maxt, true) :
					    wev_records(rx, s, r, first, n, in->maxt, false);
	CNT_ADD(rx->cs.rx_events, n - first);
	rx_batch_end(rx, s, in, maxt, h.flags & WEV_FLAG_EOS);
	return;
drop:
	CNT_ADD(rx->cs.bad[bad], 1);
}

/* MoldUDP64 / ITCH 5.0: a producer is a session (its 10 bytes hashed: FNV-1a 32), its
 * sequence numbers count messages.  Every message in order goes through the directory
 * and the order book, once (book_next), also below the restored position (the book is
 * not in the snapshot: a replay from the session's start rebuilds it); messages the
 * source's `messages` selects become events, once (expected). */
enum { ITCH_FEED, ITCH_HELD, ITCH_ANSWER };

static void itch_release(struct rx_ctx *rx, uint16_t s);

static void
itch_request(struct rx_ctx *rx, struct itch_recov *rc)
{
	uint8_t req[WEIR_MOLD_REQ_LEN];
	uint64_t n = rc->want_to - rc->in->expected;

	if (rc->fd < 0)
		return;                 /* A/B only: the other feed may fill it */
	weir_mold_request(req, rc->session, rc->in->expected, (uint16_t)(n > 65534 ? 65534 : n));
	if (send(rc->fd, req, sizeof(req), MSG_DONTWAIT) == (ssize_t)sizeof(req))
		CNT_ADD(rx->cs.itch_rerequests, 1);
	rc->next_req = rx->now + (uint64_t)((double)G.cfg->sources[rc->in->src].gap_timeout / 5e9 *
					    (double)rte_get_tsc_hz());
}

/* The gap is filled, or given up: the held datagrams follow, in arrival order. */
static void
itch_end_recovery(struct rx_ctx *rx, uint16_t s, bool filled, uint64_t give_up_to)
{
	struct itch_recov *rc = &rx->itch[s]->rc;

	if (!filled) {      /* gaps before give_up_to are not asked for again */
		rc->given_up_to = RTE_MAX(rc->given_up_to, RTE_MAX(rc->want_to, give_up_to));
		CNT_ADD(rx->cs.itch_recov_timeouts, 1);
	}
	rc->in = NULL;
	rx->nrecov--;
	itch_release(rx, s);
}

/* One MoldUDP64 datagram: from the feed, from the hold, or a retransmission.  Returns
 * true when a held datagram must stay held (its session is recovering a gap again). */
static bool
itch_datagram(struct rx_ctx *rx, uint16_t s, const uint8_t *p, uint32_t len, int from)
{
	const struct weir_source_cfg *sc = &G.cfg->sources[s];
	struct rx_itch *ix = rx->itch[s];
	struct itch_recov *rc = &ix->rc;
	struct weir_mold m;
	int bad = weir_mold_parse(p, len, &m);

	if (bad != WEIR_ITCH_BAD_MAX) {
		CNT_ADD(rx->cs.itch[bad], 1);
		return false;
	}
	struct inst *in = inst_get(rx, s, fnv1a32(0x811c9dc5u, m.session, WEIR_MOLD_SESSION), &bad);
	if (!in) {
		CNT_ADD(rx->cs.bad[bad], 1);
		return false;
	}
	if (from == ITCH_ANSWER && (rc->in != in || m.seq > in->expected || m.count == WEIR_MOLD_END))
		return false;           /* not (or no longer) what the gap needs */
	if (in->state == INST_ENDED) {
		if (m.count == WEIR_MOLD_END)
			return false;   /* the end, repeated (as a feed does): nothing new */
		if (m.seq + m.nmsgs <= in->expected) {
			/* the other feed's copy, behind the end (or a replay below the snapshot) */
			rx_seq(rx, in, m.seq, m.nmsgs);
			return false;
		}
		CNT_ADD(rx->cs.bad[WEIR_BAD_after_eos], 1);
		return false;
	}
	bool fill = false;
	if (from != ITCH_ANSWER && rc->hold.buf && in->expected != UINT64_MAX &&
	    (m.seq + m.nmsgs > in->expected || m.count == WEIR_MOLD_END)) {
		if (rc->in == in && m.seq <= in->expected && m.count != WEIR_MOLD_END) {
			fill = true;    /* the other feed's copy: the stream goes on from here */
		} else if (rc->in == in ||
			   (!rc->in && m.seq > in->expected && in->expected >= rc->given_up_to)) {
			if (!rc->in) {  /* a gap: ask for it, hold what comes after it */
				rc->in = in;
				memcpy(rc->session, m.session, sizeof(rc->session));
				rc->want_to = m.seq;
				rc->deadline = rx->now + (uint64_t)((double)sc->gap_timeout / 1e9 *
								    (double)rte_get_tsc_hz());
				rx->nrecov++;
				itch_request(rx, rc);
			}
			if (from == ITCH_HELD)
				return true;
			if (fr_push(&rc->hold, p, len))
				return false;
			/* the hold is full: give up every gap up to this datagram, apply it all */
			itch_end_recovery(rx, s, false, m.seq + m.nmsgs);
		}
	}
	if (in->book_next == UINT64_MAX)
		in->book_next = m.seq;
	uint64_t exp0 = in->expected;
	uint32_t first;
	if (from == ITCH_ANSWER) {      /* (an answer overlapping what came is no feed duplicate) */
		first = (uint32_t)RTE_MIN(in->expected - m.seq, (uint64_t)m.nmsgs);
		in->expected = RTE_MAX(in->expected, m.seq + m.nmsgs);
	} else {
		first = rx_seq(rx, in, m.seq, m.nmsgs);
	}
	rx_alive(rx, s, in, rx->now);

	int64_t maxt = in->maxt;
	unsigned nf = (unsigned)sc->nfields, nev = 0;
	const struct weir_keymap *km = G.keymap[s];
	const bool fan = G.fan[s];
	const uint8_t *b = m.blocks;
	for (uint32_t i = 0; i < m.nmsgs; i++, b = weir_mold_next(b)) {
		uint64_t q = m.seq + i;
		struct weir_itch_msg msg;
		struct weir_itch_event ev;
		int rc2 = weir_itch_decode(b + 2, weir_mold_len(b), &msg);

		if (q < in->book_next)
			continue;               /* a copy of what was applied (the other feed) */
		in->book_next = q + 1;
		if (rc2 != WEIR_ITCH_BAD_MAX) {
			CNT_ADD(rx->cs.itch[rc2], 1);
			continue;
		}
		if (weir_itch_event(ix->book, &ix->dir, &msg, &ev) == -ENOENT)
			CNT_ADD(rx->cs.itch_unknown_ref, 1);
		if (i < first || !(sc->itch_types >> (msg.type - 'A') & 1))
			continue;               /* applied before the snapshot, or not an event */
		int64_t t = sc->day_start + (int64_t)ev.ts_ns;
		if (t > maxt)
			maxt = t;
		uint64_t key = sc->itch_key == WEIR_ITCH_KEY_SYMBOL && ev.v[WEIR_ITCH_F_stock]
			? ev.v[WEIR_ITCH_F_stock] : ev.v[WEIR_ITCH_F_locate];
		struct weir_rec *x = rx_push(rx, s, km, t, key, nf, fan);
		nev++;
		if (!x)
			continue;
		for (unsigned k = 0; k < nf; k++)
			x->v[k] = ev.v[sc->field_src[k]];
		if (unlikely(fan))
			rx_fan(rx, s, x);
	}
	CNT_ADD(rx->cs.rx_events, nev);
	rx_batch_end(rx, s, in, maxt, m.count == WEIR_MOLD_END);
	if (from == ITCH_ANSWER || fill) {
		if (from == ITCH_ANSWER)
			CNT_ADD(rx->cs.itch_recovered, in->expected - exp0);
		if (in->expected >= rc->want_to)
			itch_end_recovery(rx, s, true, 0);
		else if (from == ITCH_ANSWER)
			itch_request(rx, rc);   /* the rest of the gap, at once */
	}
	return false;
}

static void
itch_release(struct rx_ctx *rx, uint16_t s)
{
	struct itch_recov *rc = &rx->itch[s]->rc;

	const uint8_t *p;
	uint32_t len;

	while (!rc->in && (p = fr_peek(&rc->hold, &len))) {
		if (itch_datagram(rx, s, p, len, ITCH_HELD))
			return;         /* a new gap: the rest waits (this one first) */
		fr_pop(&rc->hold, len);
	}
}

/* Sessions recovering a gap: take the server's answers, ask again, give up in time. */
static void
itch_recover_poll(struct rx_ctx *rx)
{
	for (int s = 0; s < G.cfg->nsources && rx->nrecov; s++) {
		struct itch_recov *rc = rx->itch[s] ? &rx->itch[s]->rc : NULL;
		ssize_t n;

		if (!rc || !rc->in)
			continue;
		while (rc->in && rc->fd >= 0 && (n = recv(rc->fd, rc->buf, RECOV_BUF, MSG_DONTWAIT)) > 0)
			itch_datagram(rx, (uint16_t)s, rc->buf, (uint32_t)n, ITCH_ANSWER);
		if (!rc->in)
			continue;
		if (rx->now >= rc->deadline)
			itch_end_recovery(rx, (uint16_t)s, false, 0);
		else if (rx->now >= rc->next_req)
			itch_request(rx, rc);
	}
}

static inline void
rx_itch(struct rx_ctx *rx, uint16_t s, const struct weir_udp *u)
{
	itch_datagram(rx, s, u->payload, u->len, ITCH_FEED);
}

/* InfluxDB line protocol: a producer is a sender (address and port); no sequence
 * numbers.  Each line is an event or a counted drop; a line without a timestamp takes
 * the arrival time (counted). */
static void
rx_line(struct rx_ctx *rx, uint16_t s, const struct weir_udp *u)
{
	const struct weir_source_cfg *sc = &G.cfg->sources[s];
	struct weir_lp_parser ps;
	struct weir_lp_event ev;
	uint8_t port[2] = { (uint8_t)(u->src_port >> 8), (uint8_t)u->src_port };
	int bad;

	struct inst *in = inst_get(rx, s, fnv1a32(fnv1a32(0x811c9dc5u, u->src_ip, u->ip_len), port, 2), &bad);
	if (!in) {
		CNT_ADD(rx->cs.bad[bad], 1);
		return;
	}
	rx_alive(rx, s, in, rx->now);

	int64_t maxt = in->maxt, arrival = tsc_to_ns(rx->now);
	unsigned nf = (unsigned)sc->nfields, nev = 0;
	const struct weir_keymap *km = G.keymap[s];
	const bool fan = G.fan[s];
	weir_lp_init(&ps, u->payload, u->len);
	while (weir_lp_next(&ps)) {
		int rc = weir_lp_decode_line(G.lp[s], &ps, arrival, &ev);
		if (rc != WEIR_LP_BAD_MAX) {
			CNT_ADD(rx->cs.line[rc], 1);
			continue;
		}
		if (!ev.has_time)
			CNT_ADD(rx->cs.line_no_time, 1);
		if (ev.time > maxt)
			maxt = ev.time;
		struct weir_rec *x = rx_push(rx, s, km, ev.time, ev.key, nf, fan);
		nev++;
		if (!x)
			continue;
		for (unsigned k = 0; k < nf; k++)
			x->v[k] = ev.v[k];
		if (unlikely(fan))
			rx_fan(rx, s, x);
	}
	CNT_ADD(rx->cs.rx_events, nev);
	rx_batch_end(rx, s, in, maxt, false);
}

static void
rx_frame(struct rx_ctx *rx, const uint8_t *f, uint32_t len)
{
	struct weir_udp u;
	int bad, s;

	bad = weir_decode_frame(f, len, &u);
	if (bad != WEIR_BAD_MAX) {
		CNT_ADD(rx->cs.bad[bad], 1);
		return;
	}
	s = G.port_src[u.dst_port];
	if (s < 0) {
		CNT_ADD(rx->cs.bad[WEIR_BAD_no_source], 1);
		return;
	}
	switch (G.cfg->sources[s].format) {
	case WEIR_FMT_ITCH50:
		rx_itch(rx, (uint16_t)s, &u);
		break;
	case WEIR_FMT_LINE:
		rx_line(rx, (uint16_t)s, &u);
		break;
	default:
		rx_wev(rx, (uint16_t)s, &u);
	}
}

static void
rx_idle_check(struct rx_ctx *rx, uint64_t now)
{
	/* the order books' figures, for the stats (a reader must not look into a book) */
	uint64_t live = 0, hw = 0, full = 0, mem = 0, lv = 0, lfull = 0;
	for (int s = 0; s < G.cfg->nsources; s++) {
		struct weir_book_stats bs;
		if (!rx->itch[s] || !rx->itch[s]->book)
			continue;
		weir_book_get_stats(rx->itch[s]->book, &bs);
		live += bs.live;
		hw += bs.high_water;
		full += bs.table_full;
		mem += bs.memory_bytes;
		lv += bs.levels;
		lfull += bs.level_full;
	}
	CNT_SET(rx->cs.book_levels, lv);
	CNT_SET(rx->cs.book_level_full, lfull);
	CNT_SET(rx->cs.book_live, live);
	CNT_SET(rx->cs.book_high_water, hw);
	CNT_SET(rx->cs.book_table_full, full);
	CNT_SET(rx->cs.book_memory, mem);
	for (int s = 0; s < G.cfg->nsources; s++) {
		struct rx_src *rs = &rx->src[s];
		bool changed = false;
		if (!G.idle_tsc[s])
			continue;
		for (uint32_t i = 0; i < rs->ninst; i++) {
			struct inst *in = &rx->inst[rs->inst[i]];
			if (in->state == INST_LIVE && !in->idle && now - in->last_tsc > G.idle_tsc[s]) {
				in->idle = 1;
				changed = true;
			}
		}
		if (changed)
			rx_source_wm(rx, (uint16_t)s);
	}
}

/* Checkpoint barrier for epoch e: record where every producer of this core stands,
 * then put the barrier into every worker's ring behind all it has been given. */
static void
rx_barrier(struct rx_ctx *rx, uint64_t e)
{
	struct rx_ck *ck = &rx->ck[e & 1];
	uint32_t n = 0;

	for (uint32_t i = 0; i < rx->ninst; i++) {
		const struct inst *in = &rx->inst[i];
		if (in->expected == UINT64_MAX)
			continue;
		ck->e[n++] = (struct ck_inst){ in->source_id, in->src, in->state == INST_ENDED, (uint8_t)rx->idx,
					       in->expected, in->maxt, in->wm };
	}
	ck->n = n;
	__atomic_store_n(&ck->epoch, e, __ATOMIC_RELEASE);   /* pairs with the state thread's acquire */
	stage_marker(rx, REC_BARRIER, 0, (int64_t)e, 0);
	rx->ck_epoch = e;
}

/* One sweep of an RX core: poll its queues (or, resyncing, journal and replay),
 * hand what it decoded to the workers, inject a requested barrier.  Returns the
 * packets (or work) it found; the caller backs off when a sweep finds nothing. */
static unsigned
rx_step(struct rx_ctx *rx, uint64_t now)
{
	struct rte_mbuf *pkts[RX_BURST];
	unsigned got = 0;

	if (unlikely(rx->mode != RX_LIVE)) {
		/* resync: journal what arrives; once a snapshot is adopted (state, the
		 * producers' positions and G.sp published before the release), replay the
		 * journal, a slice per sweep, while journaling what goes on arriving */
		if (rx->mode == RX_JOURNAL &&
		    atomic_load_explicit(&G.rxmode, memory_order_acquire) == RX_REPLAY)
			rx->mode = RX_REPLAY;
		for (unsigned qi = 0; qi < rx->nq; qi++) {
			uint16_t n = rte_eth_rx_burst(rx->q[qi].port, rx->q[qi].queue, pkts, RX_BURST);
			for (uint16_t i = 0; i < n; i++) {
				uint32_t len;
				const uint8_t *f = rx_bytes(rx, pkts[i], &len);
				if (f)
					jnl_push(rx, f, len);
			}
			if (n)
				rte_pktmbuf_free_bulk(pkts, n);
			got += n;
		}
		if (rx->mode == RX_JOURNAL)
			return got;
		bool caught_up = jnl_replay(rx, 4 * RX_BURST);
		for (unsigned w = 0; w < G.nw; w++)
			if (rx->st[w].n)
				rx_flush(rx, w);        /* (still replaying: lossless) */
		if (caught_up)
			rx->mode = RX_LIVE;     /* from here on, straight from the port */
		got++;
	}
	for (unsigned qi = 0; rx->mode == RX_LIVE && qi < rx->nq; qi++) {
		uint16_t n = rte_eth_rx_burst(rx->q[qi].port, rx->q[qi].queue, pkts, RX_BURST);
		for (uint16_t i = 0; i < n; i++) {
			if (i + 1 < n)
				rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
			rx_packet(rx, pkts[i]);
		}
		if (n)
			rte_pktmbuf_free_bulk(pkts, n);
		got += n;
	}
	if (unlikely(rx->nrecov))
		itch_recover_poll(rx);
	if (G.sp) {
		uint64_t e = sp_epoch_requested(G.sp);
		if (e > rx->ck_epoch)
			rx_barrier(rx, e);
	}
	for (unsigned w = 0; w < G.nw; w++)
		if (rx->st[w].n)
			rx_flush(rx, w);
	if (now >= rx->next_idle) {
		rx_idle_check(rx, now);
		for (unsigned w = 0; w < G.nw; w++)
			if (rx->st[w].n)
				rx_flush(rx, w);
		rx->next_idle = now + rte_get_tsc_hz() / 1000;
	}
	/* publish for end-of-input detection: live producers and a quiet sweep */
	atomic_store_explicit(&rx->pub, (uint64_t)rx->live << 32 | (rx->ninst ? 2u : 0u) | (got == 0),
			      memory_order_release);
	return got;
}

/* The run is over (stop: REC_FINAL or REC_STOP): tell every worker, behind all it
 * was given.  Nothing to tell while only journaling (no worker runs). */
static void
rx_finish(struct rx_ctx *rx, int stop)
{
	if (rx->mode == RX_JOURNAL)
		return;
	stage_marker(rx, (uint16_t)stop, 0, 0, 0);
	for (unsigned w = 0; w < G.nw; w++)
		while (rx->st[w].n)
			rx_flush(rx, w);
}

static int
rx_main(void *arg)
{
	struct rx_ctx *rx = arg;
	uint32_t empty = 0;
	int stop;

	tight_timer_slack();
	rx->next_idle = rte_rdtsc() + rte_get_tsc_hz() / 1000;
	while (!(stop = atomic_load_explicit(&G.stop, memory_order_acquire))) {  /* pairs with main's release */
		uint64_t now = rx->now = rte_rdtsc();

		rx->blocked = 0;
		if (rx_step(rx, now)) {
			CNT_ADD(rx->cs.busy_cycles, rte_rdtsc() - now - rx->blocked);
			CNT_ADD(rx->cs.blocked_cycles, rx->blocked);
			empty = 0;
		} else {
			idle_backoff(&empty);
			CNT_ADD(rx->cs.idle_cycles, rte_rdtsc() - now);
		}
	}
	rx_finish(rx, stop);
	return 0;
}

/* ---- worker core ------------------------------------------------------------------------ */

/* Results are in a ring: wake the sink loop if it went to sleep (the doorbell of
 * io_uring's SQ_NEED_WAKEUP or virtio's notification suppression: a syscall only when
 * the sleeper said it sleeps, at most once per sleep, never per result).  Pairs with
 * the fence in sink_wait: either it sees our results or we see its flag. */
static inline void
sink_doorbell(void)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&G.sink_sleeping, memory_order_relaxed) &&
	    atomic_exchange_explicit(&G.sink_sleeping, false, memory_order_relaxed)) {
		uint64_t one = 1;
		if (write(G.sink_efd, &one, sizeof(one)) < 0) {
			/* EAGAIN: the counter is full, so a wake-up is pending anyway */
		}
		/* on a CPU shared with the sink loop, let it run now, not at the end of our
		 * time slice (milliseconds); elsewhere this returns at once */
		sched_yield();
	}
}

static void
wk_flush_results(struct worker_ctx *wk)
{
	uint32_t done = 0;
	unsigned spins = 0;

	if (G.lat) {            /* the third stamp: when the results reach the sink's ring */
		uint64_t now = rte_rdtsc();
		for (uint32_t i = 0; i < wk->nres; i++) {
			struct weir_result *r = (struct weir_result *)(wk->res + i * G.res_size);
			if (r->query < UINT16_MAX - 1)
				r->val[r->naggs + 2] = now;
		}
	}
	while (done < wk->nres) {
		done += rte_ring_enqueue_burst_elem(G.resring[wk->idx], wk->res + done * G.res_size,
						    (unsigned)G.res_size, wk->nres - done, NULL);
		if (done < wk->nres) {
			uint64_t w0 = rte_rdtsc();
			sink_doorbell();
			wait_backoff(&spins);    /* lossless: the sink always drains */
			wk->blocked += rte_rdtsc() - w0;
		}
	}
	wk->nres = 0;
	sink_doorbell();
}

static void
wk_emit(void *ctx, const struct weir_result *r)
{
	struct worker_ctx *wk = ctx;

	if (wk->nres == RES_STAGE)
		wk_flush_results(wk);
	/* latency = on: a result's stamps follow its aggregates (markers have none): the
	 * operator's two, then wk_flush_results's */
	memcpy(wk->res + wk->nres++ * G.res_size, r,
	       WEIR_RESULT_SIZE(r->naggs) + (G.lat && r->query < UINT16_MAX - 1 ? 16 : 0));
}

/* n records of source s, key group g; end: the batch ends with them (every query of the
 * source then closes it, whatever group its records came in) */
static void
wk_apply(struct worker_ctx *wk, uint16_t s, unsigned g, const struct weir_ev *ev, unsigned n, bool end)
{
	for (unsigned i = 0; i < G.qsrc_n[s]; i++) {
		struct weir_op *op = wk->op[G.qsrc[s][i]];
		if (n && G.qgroup[G.qsrc[s][i]] == g)
			weir_op_burst(op, ev, n);
		if (end)
			weir_op_batch_end(op);
	}
	CNT_ADD(wk->cs.events, n);
}

static void
wk_watermark(struct worker_ctx *wk, const struct weir_rec *m)
{
	uint16_t s = m->src;
	int64_t wm;

	wk->rxwm[s][m->rx] = m->t;
	wk->rxholds[s][m->rx] = !(m->flags & REC_F_UNSEEN);
	if (!weir_wm_combine(wk->rxwm[s], wk->rxholds[s], G.nrx, &wm))
		return;
	for (unsigned i = 0; i < G.qsrc_n[s]; i++) {
		weir_op_set_fire_stamp(wk->op[G.qsrc[s][i]], m->key);
		weir_op_advance(wk->op[G.qsrc[s][i]], wm);
	}
}

static void
wk_stats(struct worker_ctx *wk)
{
	struct weir_op_stats t = { 0 }, o;

	for (int q = 0; q < G.cfg->nqueries; q++) {
		struct q_pub *p = &wk->qp[q];
		weir_op_get_stats(wk->op[q], &o);
		t.late_dropped += o.late_dropped;
		t.results += o.results;
		t.sum_overflow += o.sum_overflow;
		t.open_windows += o.open_windows;
		t.state_bytes += o.state_bytes;
		CNT_SET(p->late_dropped, o.late_dropped);
		CNT_SET(p->results, o.results);
		CNT_SET(p->sum_overflow, o.sum_overflow);
		CNT_SET(p->open_windows, o.open_windows);
		CNT_SET(p->alloc_failed, o.alloc_failed);
		CNT_SET(p->filtered, o.filtered);
		CNT_SET(p->rejected, o.rejected);
		CNT_SET(p->state_bytes, o.state_bytes);
		CNT_SET(p->wm, weir_op_watermark(wk->op[q]));
	}
	CNT_SET(wk->cs.late_dropped, t.late_dropped);
	CNT_SET(wk->cs.results, t.results);
	CNT_SET(wk->cs.sum_overflow, t.sum_overflow);
	CNT_SET(wk->cs.open_windows, t.open_windows);
	CNT_SET(wk->cs.state_bytes, t.state_bytes);
}

/* A run of events of a source with several key groups (records [i0, i1) of buf; end:
 * the last one ends its batch).  The copies of one record come one group after the
 * other: each group's events of the run go to its queries as one burst (their order
 * within a group is kept; groups feed different queries, so their order between them is
 * free). */
static void
wk_run(struct worker_ctx *wk, uint16_t s, const uint8_t *buf, uint32_t i0, uint32_t i1, bool end)
{
	struct weir_ev ev[RING_BURST];
	uint64_t groups = 0;

	for (uint32_t i = i0; i < i1; i++)
		groups |= UINT64_C(1) << REC_GROUP(((const struct weir_rec *)(buf + i * G.rec_size))->flags);
	while (groups) {
		unsigned g = (unsigned)__builtin_ctzll(groups), k = 0;
		groups &= groups - 1;
		for (uint32_t i = i0; i < i1; i++) {
			const struct weir_rec *x = (const struct weir_rec *)(buf + i * G.rec_size);
			if (REC_GROUP(x->flags) == g)
				ev[k++] = (struct weir_ev){ x->t, x->key, x->v };
		}
		wk_apply(wk, s, g, ev, k, false);
	}
	if (end)
		wk_apply(wk, s, 0, NULL, 0, true);
}

/* The run of events that starts at record *ip of buf (records of one source up to the
 * end of a batch, a record of another kind or source, or hn): *ip moves past it, *endp
 * says whether it ends a batch; fill (a constant at each call): its events go to ev,
 * their number returned. */
static inline __attribute__((always_inline)) unsigned
wk_scan_run(const uint8_t *buf, uint32_t rsize, uint32_t hn, uint32_t *ip, struct weir_ev *ev, bool *endp,
	    const bool fill)
{
	uint32_t i = *ip;
	const struct weir_rec *x = (const struct weir_rec *)(buf + i * rsize);
	const uint16_t s = x->src;
	unsigned k = 0;
	bool end;

	for (;;) {
		if (fill)
			ev[k++] = (struct weir_ev){ x->t, x->key, x->v };
		end = x->flags & REC_F_END;
		if (end || ++i == hn)
			break;
		x = (const struct weir_rec *)(buf + i * rsize);
		if (x->kind != REC_EVENT || x->src != s)
			break;
	}
	*ip = i + end;
	*endp = end;
	return k;
}

/* Records of ring r that were popped and not yet processed, in order; stops right
 * after a checkpoint barrier (the ring then pauses until the barrier is aligned).
 * Events come in runs: a source's consecutive events up to the end of a batch.  A run
 * of a source with one key group (group 0) goes to its queries as it was read; a run of
 * a source with several goes to wk_run. */
static __attribute__((noinline)) void     /* (one call per ring burst; profiles name it) */
wk_records(struct worker_ctx *wk, unsigned r, uint8_t *done_rx, unsigned *ended, unsigned *final)
{
	const uint8_t *buf = wk->held[r];
	const uint32_t hn = wk->hn[r], rsize = G.rec_size;
	struct weir_ev ev[RING_BURST];
	uint32_t i = wk->ho[r];

	while (i < hn) {
		const struct weir_rec *x = (const struct weir_rec *)(buf + i * rsize);

		if (x->kind == REC_EVENT) {
			const uint16_t s = x->src;
			const uint32_t i0 = i;
			bool end;
			if (likely(G.ngroups[s] <= 1)) {
				unsigned k = wk_scan_run(buf, rsize, hn, &i, ev, &end, true);
				wk_apply(wk, s, 0, ev, k, end);
			} else {
				wk_scan_run(buf, rsize, hn, &i, NULL, &end, false);
				wk_run(wk, s, buf, i0, i, end);
			}
			continue;
		}
		i++;
		if (x->kind == REC_WM) {
			wk_watermark(wk, x);
		} else if (x->kind == REC_BARRIER) {
			if (!wk->bar_epoch)
				wk->bar_epoch = (uint64_t)x->t;
			wk->bar[r] = 1;
			break;
		} else if (!done_rx[r]) {      /* REC_FINAL or REC_STOP */
			done_rx[r] = 1;
			(*ended)++;
			*final += x->kind == REC_FINAL;
		}
	}
	wk->ho[r] = i;
}

static struct sp_chunk *
wk_next_chunk(void *ctx, struct sp_chunk *full)
{
	struct worker_ctx *wk = ctx;

	sp_chunk_put(G.sp, wk->idx, full);
	return sp_chunk_get(G.sp, wk->idx);
}

/* Every ring has delivered the barrier (or ended): the state is the barrier's.
 * Tell the sink loop where the results stand, switch every operator to the next
 * interval (the delta is then written a little per loop iteration), unpause. */
static void wk_ckpt_step(struct worker_ctx *wk);

static void
wk_barrier_aligned(struct worker_ctx *wk)
{
	uint64_t e = wk->bar_epoch;
	bool complete = true;

	for (unsigned r = 0; r < G.nrx; r++) {
		complete &= wk->bar[r];
		wk->bar[r] = 0;
	}
	wk->bar_epoch = 0;
	if (!complete)          /* an RX core stopped before its barrier: the run is ending */
		return;
	struct weir_result m = { .query = UINT16_MAX - 1, .key = e };
	wk_emit(wk, &m);        /* behind every result of the state at the barrier */
	while (wk->ck_active)   /* cannot happen (one epoch at a time); never leave one half-written */
		wk_ckpt_step(wk);
	bool full = sp_take_resync(G.sp, wk->idx);
	struct sp_chunk *c = sp_chunk_get(G.sp, wk->idx);
	c->epoch = e;
	c->worker = (uint16_t)wk->idx;
	c->flags = full ? SP_CH_FULL : 0;
	c->seq = 0;
	c->len = 0;
	wk->wr = (struct sp_writer){ c, wk_next_chunk, wk, 0, 0 };
	for (int q = 0; q < G.cfg->nqueries; q++)
		weir_op_ckpt_begin(wk->op[q], &wk->wr, full);
	wk->ck_active = true;
	wk->ck_q = 0;
}

#define CKPT_BUDGET 256         /* windows written per loop iteration */

static void
wk_ckpt_step(struct worker_ctx *wk)
{
	if (wk->ck_q < G.cfg->nqueries && !weir_op_ckpt_step(wk->op[wk->ck_q], CKPT_BUDGET))
		return;
	if (++wk->ck_q < G.cfg->nqueries)
		return;
	wk->wr.c->flags |= SP_CH_LAST;
	sp_chunk_put(G.sp, wk->idx, wk->wr.c);
	wk->wr.c = NULL;
	wk->ck_active = false;
	CNT_ADD(wk->cs.ckpt_deltas, 1);
}

/* One turn of a worker: a burst from each RX ring into the operators, checkpoint
 * work, results to the sink loop.  Returns what it found (0: nothing to do). */
static unsigned
wk_step(struct worker_ctx *wk)
{
	unsigned got = 0;

	for (unsigned r = 0; r < G.nrx; r++) {
		if (wk->bar[r])         /* paused at a barrier until the others deliver it */
			continue;
		if (wk->ho[r] == wk->hn[r]) {
			/* the producer publishes whole records, so this is a whole number of them */
			wk->hn[r] = weir_recring_pop(G.ring[r][wk->idx], wk->held[r], RING_BURST, G.rec_units);
			wk->ho[r] = 0;
			got += wk->hn[r];
		}
		if (wk->ho[r] < wk->hn[r])
			wk_records(wk, r, wk->done_rx, &wk->ended, &wk->final);
	}
	if (wk->bar_epoch || wk->ck_active) {
		uint64_t c0 = rte_rdtsc();
		if (wk->bar_epoch) {
			unsigned r;
			for (r = 0; r < G.nrx && (wk->bar[r] || wk->done_rx[r]); r++)
				;
			if (r == G.nrx)
				wk_barrier_aligned(wk);
		}
		if (wk->ck_active)
			wk_ckpt_step(wk);
		uint64_t dt = rte_rdtsc() - c0;
		if (dt > wk->cs.ckpt_pause_max)
			CNT_SET(wk->cs.ckpt_pause_max, dt);
		got++;
	}
	if (wk->nres)
		wk_flush_results(wk);
	if ((++wk->iter & 1023) == 0)    /* for progress reports; exact at exit */
		wk_stats(wk);
	return got;
}

/* Every RX ring has ended: finish a delta being written, fire what is left at the
 * end of input (on a stop nothing fires early), tell the sink loop. */
static void
wk_finish(struct worker_ctx *wk)
{
	uint64_t t0 = rte_rdtsc();

	wk->blocked = 0;
	/* a delta being written is finished (the state plane may still publish it) */
	while (wk->ck_active)
		wk_ckpt_step(wk);
	if (wk->final == G.nrx)
		for (int q = 0; q < G.cfg->nqueries; q++)
			weir_op_advance(wk->op[q], INT64_MAX);
	struct weir_result done = { .query = UINT16_MAX };
	wk_emit(wk, &done);
	wk_flush_results(wk);
	CNT_ADD(wk->cs.busy_cycles, rte_rdtsc() - t0 - wk->blocked);
	CNT_ADD(wk->cs.blocked_cycles, wk->blocked);
	wk_stats(wk);
}

/* One worker turn with its cycles counted: busy (less its waits on the result ring,
 * counted as blocked) when it found work. */
static unsigned
wk_turn(struct worker_ctx *wk)
{
	uint64_t t0 = rte_rdtsc();
	unsigned got;

	wk->blocked = 0;
	got = wk_step(wk);
	if (got) {
		CNT_ADD(wk->cs.busy_cycles, rte_rdtsc() - t0 - wk->blocked);
		CNT_ADD(wk->cs.blocked_cycles, wk->blocked);
	}
	return got;
}

static int
worker_main(void *arg)
{
	struct worker_ctx *wk = arg;
	uint32_t empty = 0;

	tight_timer_slack();
	while (wk->ended < G.nrx) {
		uint64_t t0 = rte_rdtsc();

		if (wk_turn(wk)) {
			empty = 0;
		} else {
			idle_backoff(&empty);
			CNT_ADD(wk->cs.idle_cycles, rte_rdtsc() - t0);
		}
	}
	wk_finish(wk);
	return 0;
}

/* fused = on: RX core i and worker i take turns on one lcore (run to completion).
 * The rings between them stay (records for other workers cross as before); an RX
 * core waiting on a full ring runs its own worker meanwhile (rx_flush).  Busy
 * cycles are counted to the side that did the work, idle ones to the RX side. */
static int
fused_main(void *arg)
{
	struct rx_ctx *rx = arg;
	struct worker_ctx *wk = rx->fused;
	uint32_t empty = 0;
	bool rx_on = true, wk_on = false;

	tight_timer_slack();
	rx->next_idle = rte_rdtsc() + rte_get_tsc_hz() / 1000;
	for (;;) {
		uint64_t now = rx->now = rte_rdtsc();
		unsigned got = 0;
		int stop;

		if (rx_on) {
			if ((stop = atomic_load_explicit(&G.stop, memory_order_acquire))) {
				rx_on = false;
				rx_finish(rx, stop);
			} else {
				rx->drained = rx->blocked = 0;
				if ((got = rx_step(rx, now))) {
					CNT_ADD(rx->cs.busy_cycles, rte_rdtsc() - now - rx->drained - rx->blocked);
					CNT_ADD(rx->cs.blocked_cycles, rx->blocked);
				}
			}
		}
		/* the worker half starts once workers may run (resync: at adoption) */
		if (!wk_on)
			wk_on = atomic_load_explicit(&G.wk_go, memory_order_acquire);
		if (wk_on) {
			if (wk->ended == G.nrx)
				break;
			got += wk_turn(wk);
		} else if (!rx_on) {
			return 0;               /* stopped while journaling: no worker ever ran */
		}
		if (got) {
			empty = 0;
		} else {
			idle_backoff(&empty);
			CNT_ADD(rx->cs.idle_cycles, rte_rdtsc() - now);
		}
	}
	wk_finish(wk);
	return 0;
}

/* ---- EAL arguments ----------------------------------------------------------------------- */

static bool
is_pci(const char *d)
{
	unsigned a, b, c, e;
	char x;

	return sscanf(d, "%x:%x:%x.%x%c", &a, &b, &c, &e, &x) >= 4 ||
	       sscanf(d, "%x:%x.%x%c", &b, &c, &e, &x) >= 3;
}

static bool
hugepages_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long freep = 0;
	bool mounted = false;

	if (f) {
		while (fgets(line, sizeof(line), f))
			sscanf(line, "HugePages_Free: %ld", &freep);
		fclose(f);
	}
	f = fopen("/proc/mounts", "r");
	if (f) {
		while (fgets(line, sizeof(line), f))
			mounted |= strstr(line, " hugetlbfs ") != NULL;
		fclose(f);
	}
	return freep > 0 && mounted;
}

int
weir_eal_args(const struct weir_config *cfg, const char *argv0, char **argv, int max, FILE *log)
{
	static char store[8192];
	static char lcores[2048];
	static struct weir_topo topo;
	static struct weir_plan plan;
	size_t used = 0;
	int argc = 0, total = 1 + cfg->rx_cores + (cfg->fused ? 0 : cfg->workers);
	bool any_pci = false, has_prefix, no_huge;
	cpu_set_t set;
	int cpus[WEIR_MAX_CPUS], ncpu = 0;

#define ARG(s) do { if (argc < max - 1) argv[argc++] = (s); } while (0)
#define DUP(s) ({ size_t _l = strlen(s) + 1; char *_p = store + used; \
		  if (used + _l > sizeof(store)) _p = (char *)""; else { memcpy(_p, s, _l); used += _l; } _p; })
	ARG(DUP(argv0));
	/* lcore map (0 main, 1..R RX, then workers) from the numa/ placement plan */
	if (weir_topo_load(&topo, NULL, log ? log : stderr) == 0) {
		if (weir_plan_make(&topo, cfg, &plan, log ? log : stderr))
			return -1;
		snprintf(lcores, sizeof(lcores), "%s", plan.lcores_arg);
		if (log)
			for (int i = 0; i < plan.nwarn; i++)
				fprintf(log, "weir: %s\n", plan.warn[i]);
	} else {
		/* no hwloc view: the listed CPUs, else every CPU we may use, shared */
		for (int i = 0; i < cfg->ncpus; i++)
			cpus[ncpu++] = cfg->cpus[i];
		if (ncpu == 0 && sched_getaffinity(0, sizeof(set), &set) == 0)
			for (int c = 0; c < CPU_SETSIZE && ncpu < WEIR_MAX_CPUS; c++)
				if (CPU_ISSET(c, &set))
					cpus[ncpu++] = c;
		if (ncpu == 0)
			cpus[ncpu++] = 0;
		size_t o = (size_t)snprintf(lcores, sizeof(lcores), "(0-%d)@(", total - 1);
		for (int i = 0; i < ncpu && o < sizeof(lcores); i++)
			o += (size_t)snprintf(lcores + o, sizeof(lcores) - o, "%s%d", i ? "," : "", cpus[i]);
		if (o < sizeof(lcores))
			snprintf(lcores + o, sizeof(lcores) - o, ")");
	}
	ARG(DUP("--lcores"));
	ARG(DUP(lcores));
	ARG(DUP("--main-lcore"));
	ARG(DUP("0"));
	for (int i = 0; i < cfg->ndevices; i++) {
		if (is_pci(cfg->devices[i])) {
			any_pci = true;
			ARG(DUP("-a"));
		} else {
			ARG(DUP("--vdev"));
		}
		ARG(DUP(cfg->devices[i]));
	}
	if (!any_pci)
		ARG(DUP("--no-pci"));
	has_prefix = strstr(cfg->eal_args, "--file-prefix") || strstr(cfg->eal_args, "--in-memory");
	no_huge = strstr(cfg->eal_args, "--no-huge") || cfg->hugepages == WEIR_HP_OFF ||
		  (cfg->hugepages == WEIR_HP_AUTO && !hugepages_available());
	/* Never share DPDK runtime files with another process: a private prefix (its
	 * runtime directory holds the telemetry socket: dpdk-telemetry.py -f weirPID),
	 * and --in-memory, or (it is refused with --no-huge) no shared config. */
	if (!has_prefix) {
		char pfx[64];
		snprintf(pfx, sizeof(pfx), "--file-prefix=weir%d", (int)getpid());
		ARG(DUP(pfx));
		ARG(DUP(no_huge ? "--no-shconf" : "--in-memory"));
	}
	if (no_huge) {
		if (!strstr(cfg->eal_args, "--no-huge")) {
			ARG(DUP("--no-huge"));
			if (!strstr(cfg->eal_args, "-m ") && !strstr(cfg->eal_args, "--socket-mem")) {
				ARG(DUP("-m"));
				ARG(DUP("512"));
			}
		}
	} else if (plan.socket_mem[0] && !strstr(cfg->eal_args, "--socket-mem") && !strstr(cfg->eal_args, "-m ")) {
		/* hugepage memory on the nodes the plan uses */
		ARG(DUP("--socket-mem"));
		ARG(DUP(plan.socket_mem));
		if (log && cfg->hugepages == WEIR_HP_AUTO)
			fprintf(log, "weir: no hugepages reserved: running without them (--no-huge); "
				     "reserve some for full speed (echo 512 > /proc/sys/vm/nr_hugepages)\n");
	}
	if (!strstr(cfg->eal_args, "--log-level"))
		ARG(DUP("--log-level=*:warning"));
	/* eal_args: split on blanks, passed through */
	{
		char tmp[sizeof(cfg->eal_args)], *save = NULL, *tok;
		snprintf(tmp, sizeof(tmp), "%s", cfg->eal_args);
		for (tok = strtok_r(tmp, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
			ARG(DUP(tok));
	}
	argv[argc] = NULL;
	return argc;
#undef ARG
#undef DUP
}

/* ---- ports --------------------------------------------------------------------------------- */

static int
port_of(const char *dev, uint16_t *port)
{
	char name[WEIR_PATH_MAX];
	char *comma;

	snprintf(name, sizeof(name), "%s", dev);
	comma = strchr(name, ',');
	if (comma)
		*comma = '\0';
	if (rte_eth_dev_get_port_by_name(name, port) == 0)
		return 0;
	if (is_pci(name)) {                     /* "01:00.0" is named "0000:01:00.0" */
		char full[WEIR_PATH_MAX + 8];
		snprintf(full, sizeof(full), "0000:%s", name);
		if (rte_eth_dev_get_port_by_name(full, port) == 0)
			return 0;
	}
	return -1;
}

static int
ports_setup(void)
{
	const struct weir_config *cfg = G.cfg;
	unsigned nqueues[WEIR_MAX_DEVICES], total_q = 0;

	for (int d = 0; d < cfg->ndevices; d++) {
		struct rte_eth_dev_info info;
		uint16_t p;

		if (port_of(cfg->devices[d], &p)) {
			fprintf(stderr, "weir: device '%s' did not become a DPDK port (check the vdev or PCI address)\n",
				cfg->devices[d]);
			return -1;
		}
		if (rte_eth_dev_info_get(p, &info)) {
			fprintf(stderr, "weir: port %u: cannot get device info\n", p);
			return -1;
		}
		unsigned want = (unsigned)(cfg->rx_cores + cfg->ndevices - 1) / (unsigned)cfg->ndevices;
		/* pcap and ring vdevs have one queue per stream given: read them all */
		if (!strcmp(info.driver_name, "net_pcap") || !strcmp(info.driver_name, "net_ring"))
			want = info.max_rx_queues;
		nqueues[d] = RTE_MAX(1u, RTE_MIN(want, (unsigned)info.max_rx_queues));
		G.port[d] = p;
		total_q += nqueues[d];
	}
	G.nports = (unsigned)cfg->ndevices;

	unsigned nb = total_q * (RX_DESC + RX_BURST) + G.nrx * (RX_BURST + 256) + 1024;
	nb = RTE_MAX(nb, 8191u);
	struct rte_mempool *pools[RTE_MAX_NUMA_NODES] = { NULL };

	unsigned next_rx = 0;
	for (int d = 0; d < cfg->ndevices; d++) {
		uint16_t p = G.port[d];
		struct rte_eth_dev_info info;
		struct rte_eth_conf conf;
		uint16_t nrxd = RX_DESC, ntxd = 256;
		int rc;

		rte_eth_dev_info_get(p, &info);
		/* mbufs from the port's own NUMA node: one pool per node in use */
		int sock = rte_eth_dev_socket_id(p);
		if (sock < 0 || sock >= RTE_MAX_NUMA_NODES)
			sock = (int)rte_socket_id();
		if (!pools[sock]) {
			char pname[RTE_MEMPOOL_NAMESIZE];
			snprintf(pname, sizeof(pname), "weir_rx_s%d", sock & 0xff);
			pools[sock] = rte_pktmbuf_pool_create(pname, nb, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, sock);
			if (!pools[sock]) {
				fprintf(stderr, "weir: cannot create the mbuf pool on node %d (%u mbufs): %s\n", sock, nb,
					rte_strerror(rte_errno));
				return -1;
			}
		}
		memset(&conf, 0, sizeof(conf));
		if (nqueues[d] > 1 && info.flow_type_rss_offloads) {
			conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
			conf.rx_adv_conf.rss_conf.rss_hf =
				(RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
		}
		if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)
			conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
		uint16_t ntx = info.max_tx_queues ? 1 : 0;
		rc = rte_eth_dev_configure(p, (uint16_t)nqueues[d], ntx, &conf);
		if (rc) {
			fprintf(stderr, "weir: port %u (%s): configure failed: %s\n", p, cfg->devices[d], strerror(-rc));
			return -1;
		}
		if ((conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_SCATTER) && info.max_mtu >= 9100)
			rte_eth_dev_set_mtu(p, 9100);       /* WEV batches up to 9000 bytes */
		rte_eth_dev_adjust_nb_rx_tx_desc(p, &nrxd, &ntxd);
		for (unsigned q = 0; q < nqueues[d]; q++) {
			rc = rte_eth_rx_queue_setup(p, (uint16_t)q, nrxd, rte_eth_dev_socket_id(p), NULL, pools[sock]);
			if (rc) {
				fprintf(stderr, "weir: port %u queue %u: setup failed: %s\n", p, q, strerror(-rc));
				return -1;
			}
			struct rx_ctx *rx = G.rx[next_rx++ % G.nrx];
			rx->q[rx->nq].port = p;
			rx->q[rx->nq].queue = (uint16_t)q;
			rx->nq++;
		}
		if (ntx && (rc = rte_eth_tx_queue_setup(p, 0, ntxd, rte_eth_dev_socket_id(p), NULL))) {
			fprintf(stderr, "weir: port %u: tx queue setup failed: %s\n", p, strerror(-rc));
			return -1;
		}
		rte_eth_promiscuous_enable(p);
		rc = rte_eth_dev_start(p);
		if (rc) {
			fprintf(stderr, "weir: port %u (%s): start failed: %s\n", p, cfg->devices[d], strerror(-rc));
			return -1;
		}
	}
	for (unsigned r = 0; r < G.nrx; r++)
		if (G.rx[r]->nq == 0)
			fprintf(stderr, "weir: rx core %u has no queue to poll (more rx_cores than queues)\n", r);
	return 0;
}

/* ---- checkpoints and restore ------------------------------------------------------------------ */

/* What a snapshot's state depends on: sources' layouts and queries' windows and
 * aggregates (not sinks, cores or devices).  A snapshot of another query set is
 * never restored. */
static void
state_fingerprint(const struct weir_config *cfg, char *out, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	for (int i = 0; f && i < cfg->nsources; i++) {
		const struct weir_source_cfg *sc = &cfg->sources[i];
		fprintf(f, "source %s %u %u %d", sc->name, sc->udp_port, sc->schema_id, sc->nfields);
		for (int k = 0; k < sc->nfields; k++)
			fprintf(f, " %s:%u", sc->field_name[k], sc->field_type[k]);
		if (sc->format != WEIR_FMT_WEV)         /* (a WEV source's line is as before formats) */
			fprintf(f, " format:%d", (int)sc->format);
		fputc('\n', f);
	}
	for (int i = 0; f && i < cfg->nqueries; i++) {
		const struct weir_query_cfg *q = &cfg->queries[i];
		fprintf(f, "query %s %d %u %" PRId64 " %" PRId64 " %" PRId64, q->name, q->source, q->window, q->size,
			q->slide, q->lateness);
		for (int a = 0; a < q->naggs; a++)
			fprintf(f, " %u:%d:%u", q->aggs[a].fn, q->aggs[a].field, q->aggs[a].type);
		/* what else shapes the state (only when set: older fingerprints stay as they were):
		 * the partition key, and the programs of computed aggregate inputs */
		if (q->key_field != -1)
			fprintf(f, " key:%d", q->key_field);
		for (int d = 0; d < q->nderived; d++) {
			fprintf(f, " expr%d:", d);
			for (int i = q->derived[d].off; i < q->derived[d].off + q->derived[d].len; i++)
				fprintf(f, "%u/%u/%u/%" PRIx64 ",", q->code[i].op, q->code[i].type, q->code[i].arg, q->code[i].k);
		}
		fputc('\n', f);
	}
	if (f)
		fclose(f);
	snprintf(out, n, "weir1-%08x-%zu", buf ? rte_hash_crc(buf, (uint32_t)len, 0) : 0, len);
	free(buf);
}

static char *
i64s(char *b, size_t n, int64_t v)
{
	snprintf(b, n, "%" PRId64, v);
	return b;
}

/* The manifest's "app" part, on the state thread once every worker's delta of
 * epoch e is in: where every producer stood at the barrier, per RX core. */
static int
app_meta(void *ctx, uint64_t e, cJSON *app)
{
	char b[32];
	(void)ctx;

	cJSON_AddNumberToObject(app, "rx_cores", G.nrx);
	cJSON_AddNumberToObject(app, "workers", G.nw);
	if (G.gate) {   /* where each result stream stood at the barrier (written before the ack) */
		cJSON *rs = cJSON_AddArrayToObject(app, "result_seq");
		for (unsigned w = 0; w < G.nw; w++) {
			snprintf(b, sizeof(b), "%" PRIu64, G.bar_seq[e & 1][w]);
			cJSON_AddItemToArray(rs, cJSON_CreateString(b));
		}
		cJSON *rd = cJSON_AddArrayToObject(app, "result_digest");
		for (unsigned w = 0; w < G.nw; w++) {
			snprintf(b, sizeof(b), "%016" PRIx64, G.bar_dig[e & 1][w]);
			cJSON_AddItemToArray(rd, cJSON_CreateString(b));
		}
	}
	cJSON *arr = cJSON_AddArrayToObject(app, "producers");
	for (unsigned r = 0; r < G.nrx; r++) {
		const struct rx_ck *ck = &G.rx[r]->ck[e & 1];
		if (__atomic_load_n(&ck->epoch, __ATOMIC_ACQUIRE) != e)
			return -1;      /* this RX core never reached the barrier */
		for (uint32_t i = 0; i < ck->n; i++) {
			const struct ck_inst *c = &ck->e[i];
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "source", G.cfg->sources[c->src].name);
			cJSON_AddNumberToObject(o, "source_id", c->source_id);
			cJSON_AddNumberToObject(o, "rx", c->rx);
			snprintf(b, sizeof(b), "%" PRIu64, c->expected);
			cJSON_AddStringToObject(o, "next_sequence", b);
			cJSON_AddStringToObject(o, "max_event_time", i64s(b, sizeof(b), c->maxt));
			cJSON_AddStringToObject(o, "watermark", i64s(b, sizeof(b), c->wm));
			cJSON_AddBoolToObject(o, "ended", c->ended);
			cJSON_AddItemToArray(arr, o);
		}
	}
	return 0;
}

static int64_t
jstr_i64(const cJSON *o, const char *k, bool *ok)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	char *end;

	if (!cJSON_IsString(x) || !x->valuestring[0]) {
		*ok = false;
		return 0;
	}
	errno = 0;
	long long v = strtoll(x->valuestring, &end, 10);
	if (*end || errno)
		*ok = false;
	return v;
}

struct restore_ctx { uint64_t records, bad; };

static int
restore_record(void *ctx, unsigned shard, const uint8_t *k, unsigned kl, const uint8_t *v, unsigned vl)
{
	struct restore_ctx *rc = ctx;
	uint16_t q;
	uint64_t key;
	(void)shard;

	if (weir_state_key(k, kl, &q, &key) || q >= G.cfg->nqueries ||
	    weir_op_restore(G.wk[worker_of(key)]->op[q], k, kl, v, vl)) {
		rc->bad++;
		return -1;
	}
	rc->records++;
	return 0;
}

/* Before launch: the newest valid snapshot into the operators (re-sharded by key
 * to this run's workers) and the producers' positions into the RX cores.
 * Returns 1 restored, 0 nothing to restore, -1 refuse to start. */
static int
state_restore(const char *fp)
{
	const struct weir_config *cfg = G.cfg;
	struct sp_snap snap;
	char err[512], name[16];
	int r = sp_snap_find(cfg->state_dir, fp, &snap, stderr, err, sizeof(err));

	if (r < 0) {
		fprintf(stderr, "weir: state: %s\n", err);
		return -1;
	}
	if (r == 0)
		return 0;
	const cJSON *app = cJSON_GetObjectItemCaseSensitive(snap.manifest, "app");
	const cJSON *prods = cJSON_GetObjectItemCaseSensitive(app, "producers");
	const cJSON *nrx = cJSON_GetObjectItemCaseSensitive(app, "rx_cores");
	if (!cJSON_IsArray(prods) || !cJSON_IsNumber(nrx)) {
		fprintf(stderr, "weir: state: snapshot epoch %" PRIu64 " has no producer positions\n", snap.epoch);
		goto fail;
	}
	/* HA: the result streams go on from where they stood (same worker count only:
	 * with another one the streams are new ones, numbered from the highest) */
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(app, "result_seq"), *x;
	if (cJSON_IsArray(rs)) {
		unsigned k = 0;
		uint64_t hi = 0;
		cJSON_ArrayForEach(x, rs) {
			uint64_t v = cJSON_IsString(x) ? strtoull(x->valuestring, NULL, 10) : 0;
			if (k < MAX_WORKERS)
				G.rst_seq[k] = v;
			hi = v > hi ? v : hi;
			k++;
		}
		if (k != G.nw)
			for (unsigned w = 0; w < G.nw; w++)
				G.rst_seq[w] = hi;
		G.rst_seq_ok = true;
		/* and their digests (same streams only: otherwise the chains start afresh) */
		const cJSON *rd = cJSON_GetObjectItemCaseSensitive(app, "result_digest");
		if (k == G.nw && cJSON_IsArray(rd) && cJSON_GetArraySize(rd) == (int)k) {
			unsigned i = 0;
			cJSON_ArrayForEach(x, rd)
				G.rst_dig[i++] = cJSON_IsString(x) ? strtoull(x->valuestring, NULL, 16) : 0;
			G.rst_dig_ok = true;
		}
	}
	/* producers */
	unsigned np = (unsigned)cJSON_GetArraySize(prods);
	G.rst = calloc(np ? np : 1, sizeof(*G.rst));
	if (!G.rst)
		goto fail;
	const cJSON *p;
	cJSON_ArrayForEach(p, prods) {
		bool ok = true;
		const cJSON *src = cJSON_GetObjectItemCaseSensitive(p, "source");
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(p, "source_id");
		const cJSON *rx = cJSON_GetObjectItemCaseSensitive(p, "rx");
		int si = -1;
		for (int k = 0; cJSON_IsString(src) && k < cfg->nsources; k++)
			if (!strcmp(cfg->sources[k].name, src->valuestring))
				si = k;
		struct ck_inst c = { .src = (uint16_t)si };
		c.expected = (uint64_t)jstr_i64(p, "next_sequence", &ok);
		c.maxt = jstr_i64(p, "max_event_time", &ok);
		c.wm = jstr_i64(p, "watermark", &ok);
		c.ended = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "ended"));
		if (si < 0 || !ok || !cJSON_IsNumber(id) || !cJSON_IsNumber(rx) || id->valuedouble < 0 ||
		    id->valuedouble > UINT32_MAX || rx->valueint < 0 || rx->valueint >= MAX_RX) {
			fprintf(stderr, "weir: state: snapshot epoch %" PRIu64 ": a bad producer entry\n", snap.epoch);
			goto fail;
		}
		c.source_id = (uint32_t)id->valuedouble;
		c.rx = (uint8_t)rx->valueint;
		G.rst[G.nrst++] = c;
	}
	/* window state, re-sharded */
	struct restore_ctx rc = { 0, 0 };
	if (sp_snap_load(&snap, restore_record, &rc, err, sizeof(err))) {
		fprintf(stderr, "weir: state: restoring epoch %" PRIu64 ": %s%s\n", snap.epoch, err,
			rc.bad ? " (a record does not fit this query set)" : "");
		goto fail;
	}
	for (int q = 0; q < cfg->nqueries; q++) {
		int64_t wm = INT64_MAX;
		snprintf(name, sizeof(name), "q%d", q);
		for (unsigned k = 0; k < snap.nshards; k++) {
			int64_t x = sp_snap_meta(&snap, k, name, INT64_MIN);
			if (x < wm)
				wm = x;
		}
		for (unsigned w = 0; w < G.nw; w++)
			weir_op_restore_wm(G.wk[w]->op[q], wm);
	}
	/* producers onto the RX cores they were on; with another RX core count they are
	 * set up where their first packet arrives (inst_get) */
	G.rst_lazy = (unsigned)nrx->valueint != G.nrx;
	for (uint32_t i = 0; i < G.nrst; i++)
		G.rst_lazy |= G.rst[i].rx >= G.nrx;
	for (uint32_t i = 0; !G.rst_lazy && i < G.nrst; i++) {
		struct rx_ctx *rx = G.rx[G.rst[i].rx];
		int bad = 0;
		struct inst *in = inst_get(rx, G.rst[i].src, G.rst[i].source_id, &bad);
		if (!in)
			goto fail;
		inst_restore(rx, in, &G.rst[i]);
	}
	/* every RX core's watermark per source as the workers would have it from its
	 * markers, set directly so that no worker sees one core's before another's */
	for (unsigned r = 0; r < G.nrx; r++)
		for (int s = 0; s < cfg->nsources; s++) {
			struct rx_src *rs = &G.rx[r]->src[s];
			struct weir_wm_acc acc;
			int64_t wm = INT64_MAX;
			weir_wm_acc_init(&acc);
			for (uint32_t i = 0; i < rs->ninst; i++) {
				const struct inst *in = &G.rx[r]->inst[rs->inst[i]];
				weir_wm_acc_add(&acc, in->wm, in->state == INST_ENDED, in->idle);
			}
			rs->unseen = !weir_wm_acc_result(&acc, &wm);
			rs->wm = wm;
			for (unsigned w = 0; w < G.nw; w++) {
				G.wk[w]->rxwm[s][r] = rs->unseen ? INT64_MIN : wm;
				G.wk[w]->rxholds[s][r] = !rs->unseen;
			}
		}
	fprintf(stderr, "weir: state: restored snapshot epoch %" PRIu64 " (%" PRIu64 " windows, %u producers%s)\n",
		snap.epoch, rc.records, G.nrst, G.rst_lazy ? "; RX core count changed" : "");
	sp_snap_free(&snap);
	return 1;
fail:
	sp_snap_free(&snap);
	return -1;
}

static void
add_state_stats(cJSON *root)
{
	struct sp_stats st;
	cJSON *o;

	if (!G.sp)
		return;
	sp_get_stats(G.sp, &st);
	o = cJSON_AddObjectToObject(root, "checkpoints");
	cJSON_AddNumberToObject(o, "completed", (double)st.completed);
	cJSON_AddNumberToObject(o, "failed", (double)st.failed);
	cJSON_AddNumberToObject(o, "last_epoch", (double)st.last_epoch);
	cJSON_AddNumberToObject(o, "last_delta_bytes", (double)st.last_bytes);
	cJSON_AddNumberToObject(o, "last_files_bytes", (double)st.last_files_bytes);
	cJSON_AddNumberToObject(o, "last_duration_ms", (double)st.last_duration_ns / 1e6);
	cJSON_AddNumberToObject(o, "max_duration_ms", (double)st.max_duration_ns / 1e6);
	cJSON_AddNumberToObject(o, "delta_bytes", (double)st.delta_bytes);
	cJSON_AddStringToObject(o, "last_error", st.last_error_msg);
}

/* ---- stats ---------------------------------------------------------------------------------- */

static void
sum_stats(struct core_stats *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned r = 0; r < G.nrx; r++) {
		const struct core_stats *c = &G.rx[r]->cs;
		for (int b = 0; b < WEIR_ITCH_BAD_MAX; b++)
			t->itch[b] += CNT_GET(c->itch[b]);
		for (int b = 0; b < WEIR_LP_BAD_MAX; b++)
			t->line[b] += CNT_GET(c->line[b]);
		t->itch_unknown_ref += CNT_GET(c->itch_unknown_ref);
		t->itch_rerequests += CNT_GET(c->itch_rerequests);
		t->itch_recovered += CNT_GET(c->itch_recovered);
		t->itch_recov_timeouts += CNT_GET(c->itch_recov_timeouts);
		t->book_live += CNT_GET(c->book_live);
		t->book_high_water += CNT_GET(c->book_high_water);
		t->book_table_full += CNT_GET(c->book_table_full);
		t->book_memory += CNT_GET(c->book_memory);
		t->book_levels += CNT_GET(c->book_levels);
		t->book_level_full += CNT_GET(c->book_level_full);
		t->line_no_time += CNT_GET(c->line_no_time);
		t->rx_packets += CNT_GET(c->rx_packets);
		t->rx_events += CNT_GET(c->rx_events);
		for (int b = 0; b < WEIR_BAD_MAX; b++)
			t->bad[b] += CNT_GET(c->bad[b]);
		t->seq_duplicates += CNT_GET(c->seq_duplicates);
		t->seq_gaps += CNT_GET(c->seq_gaps);
		t->replay_skipped += CNT_GET(c->replay_skipped);
		t->resync_gaps += CNT_GET(c->resync_gaps);
		t->journal_frames += CNT_GET(c->journal_frames);
		t->journal_dropped += CNT_GET(c->journal_dropped);
		t->ring_full += CNT_GET(c->ring_full);
		t->ring_dropped += CNT_GET(c->ring_dropped);
		t->key_map_missed += CNT_GET(c->key_map_missed);
	}
	for (unsigned i = 0; i < G.nrx + G.nw; i++) {   /* every core's time */
		const struct core_stats *c = i < G.nrx ? &G.rx[i]->cs : &G.wk[i - G.nrx]->cs;
		t->busy_cycles += CNT_GET(c->busy_cycles);
		t->idle_cycles += CNT_GET(c->idle_cycles);
		t->blocked_cycles += CNT_GET(c->blocked_cycles);
	}
	for (unsigned w = 0; w < G.nw; w++) {
		const struct core_stats *c = &G.wk[w]->cs;
		t->events += CNT_GET(c->events);
		t->late_dropped += CNT_GET(c->late_dropped);
		t->results += CNT_GET(c->results);
		t->sum_overflow += CNT_GET(c->sum_overflow);
		t->open_windows += CNT_GET(c->open_windows);
		t->state_bytes += CNT_GET(c->state_bytes);
		t->ckpt_deltas += CNT_GET(c->ckpt_deltas);
		t->ckpt_pause_max = RTE_MAX(t->ckpt_pause_max, CNT_GET(c->ckpt_pause_max));
	}
}

static void
add_counters(cJSON *o, const struct core_stats *c, bool rx, bool wk)
{
	if (rx) {
		cJSON *bad = cJSON_AddObjectToObject(o, "bad_packets");
		uint64_t total = 0;
		cJSON_AddNumberToObject(o, "rx_packets", (double)c->rx_packets);
		cJSON_AddNumberToObject(o, "rx_events", (double)c->rx_events);
		for (int b = 0; b < WEIR_BAD_MAX; b++) {
			cJSON_AddNumberToObject(bad, weir_bad_name[b], (double)c->bad[b]);
			total += c->bad[b];
		}
		cJSON_AddNumberToObject(o, "bad_packets_total", (double)total);
		cJSON_AddNumberToObject(o, "seq_duplicates", (double)c->seq_duplicates);
		cJSON_AddNumberToObject(o, "seq_gaps", (double)c->seq_gaps);
		cJSON_AddNumberToObject(o, "replay_skipped", (double)c->replay_skipped);
		cJSON_AddNumberToObject(o, "resync_gaps", (double)c->resync_gaps);
		cJSON_AddNumberToObject(o, "journal_frames", (double)c->journal_frames);
		cJSON_AddNumberToObject(o, "journal_dropped", (double)c->journal_dropped);
		cJSON_AddNumberToObject(o, "ring_full", (double)c->ring_full);
		cJSON_AddNumberToObject(o, "ring_dropped", (double)c->ring_dropped);
		cJSON_AddNumberToObject(o, "key_map_missed", (double)c->key_map_missed);
		if (G.has_fmt[WEIR_FMT_ITCH50]) {
			cJSON *it = cJSON_AddObjectToObject(o, "itch");
			for (int b = 0; b < WEIR_ITCH_BAD_MAX; b++)
				cJSON_AddNumberToObject(it, weir_itch_bad_name[b], (double)c->itch[b]);
			cJSON_AddNumberToObject(it, "unknown_ref", (double)c->itch_unknown_ref);
			cJSON_AddNumberToObject(it, "rerequests", (double)c->itch_rerequests);
			cJSON_AddNumberToObject(it, "recovered", (double)c->itch_recovered);
			cJSON_AddNumberToObject(it, "recovery_timeouts", (double)c->itch_recov_timeouts);
			cJSON *bk = cJSON_AddObjectToObject(o, "order_book");
			cJSON_AddNumberToObject(bk, "live", (double)c->book_live);
			cJSON_AddNumberToObject(bk, "high_water", (double)c->book_high_water);
			cJSON_AddNumberToObject(bk, "table_full", (double)c->book_table_full);
			cJSON_AddNumberToObject(bk, "memory_bytes", (double)c->book_memory);
			cJSON_AddNumberToObject(bk, "price_levels", (double)c->book_levels);
			cJSON_AddNumberToObject(bk, "level_full", (double)c->book_level_full);
		}
		if (G.has_fmt[WEIR_FMT_LINE]) {
			cJSON *ln = cJSON_AddObjectToObject(o, "line");
			for (int b = 0; b < WEIR_LP_BAD_MAX; b++)
				cJSON_AddNumberToObject(ln, weir_lp_bad_name[b], (double)c->line[b]);
			cJSON_AddNumberToObject(ln, "no_timestamp", (double)c->line_no_time);
		}
	}
	cJSON_AddNumberToObject(o, "busy_cycles", (double)c->busy_cycles);
	cJSON_AddNumberToObject(o, "idle_cycles", (double)c->idle_cycles);
	cJSON_AddNumberToObject(o, "blocked_cycles", (double)c->blocked_cycles);
	if (wk) {
		cJSON_AddNumberToObject(o, "worker_events", (double)c->events);
		cJSON_AddNumberToObject(o, "late_dropped", (double)c->late_dropped);
		cJSON_AddNumberToObject(o, "results_emitted", (double)c->results);
		cJSON_AddNumberToObject(o, "sum_overflow", (double)c->sum_overflow);
		cJSON_AddNumberToObject(o, "open_windows", (double)c->open_windows);
		cJSON_AddNumberToObject(o, "state_bytes", (double)c->state_bytes);
		cJSON_AddNumberToObject(o, "checkpoint_deltas", (double)c->ckpt_deltas);
		cJSON_AddNumberToObject(o, "checkpoint_pause_max_us",
					(double)c->ckpt_pause_max * 1e6 / (double)rte_get_tsc_hz());
	}
}

static void
add_lathist(cJSON *parent, const char *name, const struct weir_lathist *h)
{
	static const struct { const char *n; double q; } qs[] = {
		{ "p50_ns", 0.5 }, { "p90_ns", 0.9 }, { "p99_ns", 0.99 }, { "p999_ns", 0.999 } };
	cJSON *o = cJSON_AddObjectToObject(parent, name), *b;

	cJSON_AddNumberToObject(o, "count", (double)h->count);
	cJSON_AddNumberToObject(o, "min_ns", h->count ? (double)h->min : 0);
	cJSON_AddNumberToObject(o, "mean_ns", h->count ? (double)h->sum / (double)h->count : 0);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
		cJSON_AddNumberToObject(o, qs[i].n, (double)weir_lh_quantile(h, qs[i].q));
	cJSON_AddNumberToObject(o, "max_ns", (double)h->max);
	b = cJSON_AddArrayToObject(o, "buckets");
	for (unsigned i = 0; i < WEIR_LH_BUCKETS; i++) {
		uint64_t lo, hi;
		if (!h->b[i])
			continue;
		weir_lh_bounds(i, &lo, &hi);
		cJSON *e = cJSON_CreateArray();
		cJSON_AddItemToArray(e, cJSON_CreateNumber((double)lo));
		cJSON_AddItemToArray(e, cJSON_CreateNumber((double)hi));
		cJSON_AddItemToArray(e, cJSON_CreateNumber((double)h->b[i]));
		cJSON_AddItemToArray(b, e);
	}
}

/* A watermark as JSON: null before one, and at +inf (the end of input). */
/* A nanosecond time, whole (a JSON number as cJSON prints it keeps 15 digits). */
static void
add_ns(cJSON *o, const char *name, int64_t ns)
{
	char b[24];
	snprintf(b, sizeof(b), "%" PRId64, ns);
	cJSON_AddRawToObject(o, name, b);
}

static void
add_wm(cJSON *o, int64_t wm, bool held, int64_t now_ns)
{
	if (!held || wm == INT64_MIN || wm == INT64_MAX) {
		cJSON_AddNullToObject(o, "watermark_ns");
		cJSON_AddNullToObject(o, "watermark_lag_s");
	} else {
		add_ns(o, "watermark_ns", wm);
		cJSON_AddNumberToObject(o, "watermark_lag_s", (double)(now_ns - wm) / 1e9);
	}
	cJSON_AddBoolToObject(o, "watermark_final", wm == INT64_MAX);
}

static const char *const fmt_name[] = { "wev", "itch50", "line" };

/* Everything the stats show, from counters each core publishes (CNT_SET/CNT_GET),
 * so any thread may build it while the cores run (the admin server does, once per
 * request).  `at_exit`: the run is over; adds the latency histograms, which the
 * sink loop writes without publishing. */
static cJSON *
stats_doc(double elapsed, unsigned long long sink_errors, bool at_exit)
{
	cJSON *root = cJSON_CreateObject(), *tot, *cores, *ports, *queries, *rings, *srcs;
	struct core_stats t;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	sum_stats(&t);
	cJSON_AddStringToObject(root, "version", WEIR_VERSION);
	cJSON_AddNumberToObject(root, "elapsed_s", elapsed);
	cJSON_AddNumberToObject(root, "uptime_s", elapsed);
	add_ns(root, "now_ns", now_ns);
	cJSON_AddNumberToObject(root, "tsc_hz", (double)rte_get_tsc_hz());
	cJSON_AddNumberToObject(root, "events_per_s", elapsed > 0 ? (double)t.rx_events / elapsed : 0);
	tot = cJSON_AddObjectToObject(root, "total");
	add_counters(tot, &t, true, true);
	cJSON_AddNumberToObject(tot, "sink_errors", (double)sink_errors);
	cores = cJSON_AddArrayToObject(root, "cores");
	for (unsigned r = 0; r < G.nrx; r++) {
		cJSON *c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "role", "rx");
		cJSON_AddNumberToObject(c, "index", r);
		cJSON_AddNumberToObject(c, "lcore", 1 + r);
		add_counters(c, &G.rx[r]->cs, true, false);
		cJSON_AddItemToArray(cores, c);
	}
	for (unsigned w = 0; w < G.nw; w++) {
		cJSON *c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "role", "worker");
		cJSON_AddNumberToObject(c, "index", w);
		cJSON_AddNumberToObject(c, "lcore", wk_lcore(w));
		add_counters(c, &G.wk[w]->cs, false, true);
		cJSON_AddItemToArray(cores, c);
	}
	ports = cJSON_AddArrayToObject(root, "ports");
	for (unsigned d = 0; d < G.nports; d++) {
		struct rte_eth_stats es;
		cJSON *p = cJSON_CreateObject();
		cJSON_AddNumberToObject(p, "port", G.port[d]);
		cJSON_AddStringToObject(p, "device", G.cfg->devices[d]);
		if (rte_eth_stats_get(G.port[d], &es) == 0) {
			cJSON_AddNumberToObject(p, "ipackets", (double)es.ipackets);
			cJSON_AddNumberToObject(p, "ibytes", (double)es.ibytes);
			cJSON_AddNumberToObject(p, "imissed", (double)es.imissed);
			cJSON_AddNumberToObject(p, "ierrors", (double)es.ierrors);
			cJSON_AddNumberToObject(p, "rx_nombuf", (double)es.rx_nombuf);
			cJSON_AddNumberToObject(p, "opackets", (double)es.opackets);
			cJSON_AddNumberToObject(p, "obytes", (double)es.obytes);
			cJSON_AddNumberToObject(p, "oerrors", (double)es.oerrors);
		}
		cJSON_AddItemToArray(ports, p);
	}
	/* ring fill in records (the rings move 16-byte units): backpressure per ring */
	rings = cJSON_AddArrayToObject(root, "rings");
	for (unsigned r = 0; r < G.nrx; r++)
		for (unsigned w = 0; w < G.nw; w++) {
			struct rte_ring *rg = G.ring[r][w];
			if (!rg)
				continue;
			cJSON *o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "rx", r);
			cJSON_AddNumberToObject(o, "worker", w);
			cJSON_AddNumberToObject(o, "used", rte_ring_count(rg) / G.rec_units);
			cJSON_AddNumberToObject(o, "capacity", rte_ring_get_capacity(rg) / G.rec_units);
			cJSON_AddItemToArray(rings, o);
		}
	/* a source's watermark: the lowest its RX cores hold (the workers combine alike) */
	srcs = cJSON_AddObjectToObject(root, "sources");
	for (int s = 0; s < G.cfg->nsources; s++) {
		cJSON *o = cJSON_AddObjectToObject(srcs, G.cfg->sources[s].name);
		int64_t wm = INT64_MAX;
		bool held = false;
		for (unsigned r = 0; r < G.nrx; r++) {
			const struct rx_src *rs = &G.rx[r]->src[s];
			if (CNT_GET(rs->unseen))
				continue;
			held = true;
			wm = RTE_MIN(wm, CNT_GET(rs->wm));
		}
		cJSON_AddStringToObject(o, "format", fmt_name[G.cfg->sources[s].format]);
		add_wm(o, wm, held, now_ns);
	}
	add_state_stats(root);
	queries = cJSON_AddObjectToObject(root, "queries");
	for (int q = 0; q < G.cfg->nqueries; q++) {
		struct q_pub s = { .wm = INT64_MAX };
		cJSON *j = cJSON_AddObjectToObject(queries, G.cfg->queries[q].name);
		for (unsigned w = 0; w < G.nw; w++) {
			const struct q_pub *o = &G.wk[w]->qp[q];
			s.late_dropped += CNT_GET(o->late_dropped);
			s.results += CNT_GET(o->results);
			s.sum_overflow += CNT_GET(o->sum_overflow);
			s.open_windows += CNT_GET(o->open_windows);
			s.alloc_failed += CNT_GET(o->alloc_failed);
			s.filtered += CNT_GET(o->filtered);
			s.rejected += CNT_GET(o->rejected);
			s.state_bytes += CNT_GET(o->state_bytes);
			s.wm = RTE_MIN(s.wm, CNT_GET(o->wm));
		}
		cJSON_AddStringToObject(j, "source", G.cfg->sources[G.cfg->queries[q].source].name);
		cJSON_AddNumberToObject(j, "late_dropped", (double)s.late_dropped);
		cJSON_AddNumberToObject(j, "results_emitted", (double)s.results);
		cJSON_AddNumberToObject(j, "sum_overflow", (double)s.sum_overflow);
		cJSON_AddNumberToObject(j, "open_windows", (double)s.open_windows);
		cJSON_AddNumberToObject(j, "alloc_failed", (double)s.alloc_failed);
		cJSON_AddNumberToObject(j, "filtered", (double)s.filtered);
		cJSON_AddNumberToObject(j, "rejected", (double)s.rejected);
		cJSON_AddNumberToObject(j, "state_bytes", (double)s.state_bytes);
		add_wm(j, s.wm, G.nw > 0, now_ns);
	}
	if (G.gate) {
		struct weir_gate_status gs;
		cJSON *h = cJSON_AddObjectToObject(root, "ha");
		weir_gate_status(G.gate, &gs);
		cJSON_AddNumberToObject(h, "term", (double)gs.term);
		cJSON_AddNumberToObject(h, "gate_open", (double)gs.gate_open);
		cJSON_AddStringToObject(h, "role", gs.gate_open ? "primary" : "standby");
		cJSON_AddStringToObject(h, "sync", weir_sync_name((unsigned)gs.sync));
		cJSON_AddNumberToObject(h, "shadow_len", (double)gs.shadow_len);
		cJSON_AddNumberToObject(h, "shadow_dropped", (double)gs.shadow_dropped);
		cJSON_AddNumberToObject(h, "skipped", (double)gs.skipped);
		cJSON_AddNumberToObject(h, "digest_checks", (double)gs.checks_ok);
		cJSON_AddNumberToObject(h, "digest_mismatches", (double)gs.diverged);
		cJSON_AddNumberToObject(h, "adopted_epoch", (double)gs.adopted);
		cJSON_AddNumberToObject(h, "lease_left_s", (double)gs.lease_left_ns / 1e9);
		if (gs.command_age_ns >= 0)
			cJSON_AddNumberToObject(h, "heartbeat_age_s", (double)gs.command_age_ns / 1e9);
		else
			cJSON_AddNullToObject(h, "heartbeat_age_s");
	}
	if (at_exit && G.lat) {
		cJSON *l = cJSON_AddObjectToObject(root, "latency");
		add_lathist(l, "arrival_to_sink", G.lh_arrival);
		add_lathist(l, "watermark_to_sink", G.lh_wm);
		add_lathist(l, "arrival_to_ring", G.lh_ring);
	}
	return root;
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The admin server's view: the same document, live. */
static cJSON *
admin_stats(void *ctx)
{
	(void)ctx;
	return stats_doc(now_s() - G.t0, CNT_GET(G.sink_errors), false);
}

/* ---- DPDK telemetry: /weir/... beside /ethdev/... in dpdk-telemetry.py ------------------------ */

/* Members of o into the flat dict d, nested names joined by '/' (telemetry dicts
 * hold only values and arrays).  Whole non-negative numbers go as u64, others as text. */
static void
tel_flat(struct rte_tel_data *d, const cJSON *o, const char *prefix)
{
	const cJSON *x;
	char name[RTE_TEL_MAX_STRING_LEN], v[64];

	cJSON_ArrayForEach(x, o) {
		snprintf(name, sizeof(name), "%s%s%s", prefix, prefix[0] ? "/" : "", x->string);
		for (char *c = name; *c; c++)
			if (!isalnum((unsigned char)*c) && *c != '_' && *c != '/')
				*c = '_';
		if (cJSON_IsObject(x)) {
			tel_flat(d, x, name);
		} else if (cJSON_IsNumber(x)) {
			double n = x->valuedouble;
			if (n >= 0 && n == floor(n) && n < 1.8e19) {
				rte_tel_data_add_dict_u64(d, name, (uint64_t)n);
			} else {
				snprintf(v, sizeof(v), "%.9g", n);
				rte_tel_data_add_dict_string(d, name, v);
			}
		} else if (cJSON_IsString(x)) {
			rte_tel_data_add_dict_string(d, name, x->valuestring);
		} else if (cJSON_IsBool(x)) {
			rte_tel_data_add_dict_int(d, name, cJSON_IsTrue(x));
		} else if (cJSON_IsNull(x)) {
			rte_tel_data_add_dict_string(d, name, "null");
		}
	}
}

/* Telemetry answers only while the cores and ports it reads exist. */
static pthread_mutex_t tel_mu = PTHREAD_MUTEX_INITIALIZER;
static bool tel_on;

static void
tel_enable(bool on)
{
	pthread_mutex_lock(&tel_mu);
	tel_on = on;
	pthread_mutex_unlock(&tel_mu);
}

static int
tel_cmd(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const char *what = cmd + strlen("/weir/");
	const cJSON *x;
	cJSON *st = NULL;
	int rc = 0;

	pthread_mutex_lock(&tel_mu);
	if (tel_on)
		st = stats_doc(now_s() - G.t0, CNT_GET(G.sink_errors), false);
	pthread_mutex_unlock(&tel_mu);
	if (!st)
		return -EAGAIN;
	if (!strcmp(what, "queries") || !strcmp(what, "sources") || !strcmp(what, "cores")) {
		/* the names (or core indexes) to ask /weir/query,NAME & co about */
		rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
		cJSON_ArrayForEach(x, cJSON_GetObjectItem(st, what)) {
			char b[RTE_TEL_MAX_STRING_LEN];
			if (x->string)
				snprintf(b, sizeof(b), "%s", x->string);
			else
				snprintf(b, sizeof(b), "%s%d", cJSON_GetObjectItem(x, "role")->valuestring,
					 (int)cJSON_GetObjectItem(x, "index")->valuedouble);
			rte_tel_data_add_array_string(d, b);
		}
	} else if (!strcmp(what, "query") || !strcmp(what, "source") || !strcmp(what, "core")) {
		const cJSON *set = cJSON_GetObjectItem(st, !strcmp(what, "query") ? "queries" :
							   !strcmp(what, "source") ? "sources" : "cores");
		const cJSON *one = NULL;
		if (params && *params && cJSON_IsObject(set)) {
			one = cJSON_GetObjectItemCaseSensitive(set, params);
		} else if (params && *params) {        /* a core: rx0, worker1 or its position */
			cJSON_ArrayForEach(x, set) {
				char b[64];
				snprintf(b, sizeof(b), "%s%d", cJSON_GetObjectItem(x, "role")->valuestring,
					 (int)cJSON_GetObjectItem(x, "index")->valuedouble);
				if (!strcmp(b, params))
					one = x;
			}
		}
		if (!one) {
			rc = -EINVAL;           /* (dpdk-telemetry.py shows null) */
		} else {
			rte_tel_data_start_dict(d);
			tel_flat(d, one, "");
		}
	} else {                        /* /weir/stats: totals, checkpoints, HA */
		rte_tel_data_start_dict(d);
		rte_tel_data_add_dict_string(d, "version", WEIR_VERSION);
		rte_tel_data_add_dict_u64(d, "uptime_ms", (uint64_t)((now_s() - G.t0) * 1e3));
		tel_flat(d, cJSON_GetObjectItem(st, "total"), "");
		tel_flat(d, cJSON_GetObjectItem(st, "checkpoints"), "checkpoints");
		tel_flat(d, cJSON_GetObjectItem(st, "ha"), "ha");
	}
	cJSON_Delete(st);
	return rc;
}

static void
tel_register(void)
{
	static bool done;               /* (commands stay registered for the process) */

	if (done)
		return;
	done = true;
	rte_telemetry_register_cmd("/weir/stats", tel_cmd, "weir's counters in total, checkpoints and HA. No parameters");
	rte_telemetry_register_cmd("/weir/cores", tel_cmd, "weir's cores (rx0, worker0, ...). No parameters");
	rte_telemetry_register_cmd("/weir/core", tel_cmd, "One core's counters. Parameter: rx0, worker0, ...");
	rte_telemetry_register_cmd("/weir/queries", tel_cmd, "weir's queries. No parameters");
	rte_telemetry_register_cmd("/weir/query", tel_cmd, "One query's counters and watermark. Parameter: its name");
	rte_telemetry_register_cmd("/weir/sources", tel_cmd, "weir's sources. No parameters");
	rte_telemetry_register_cmd("/weir/source", tel_cmd, "One source's watermark. Parameter: its name");
}

static int
write_stats(const char *path, double elapsed, unsigned long long sink_errors)
{
	cJSON *root = stats_doc(elapsed, sink_errors, true);
	char *txt = cJSON_Print(root);
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (!f || !txt || fputs(txt, f) < 0 || fputc('\n', f) < 0) {
		fprintf(stderr, "weir: cannot write stats to %s: %s\n", path, strerror(errno));
		rc = -1;
	}
	if (f && fclose(f))
		rc = -1;
	free(txt);
	cJSON_Delete(root);
	return rc;
}

static void
progress(double elapsed, uint64_t *last_ev, double *last_t)
{
	struct core_stats t;
	uint64_t bad = 0;

	sum_stats(&t);
	for (int b = 0; b < WEIR_BAD_MAX; b++)
		bad += t.bad[b];
	fprintf(stderr, "\rweir: %7.1fs  %8.3f Mev/s  events %" PRIu64 "  results %" PRIu64 "  late %" PRIu64
		"  bad %" PRIu64 "  ring_full %" PRIu64 "  windows %" PRIu64 "   ",
		elapsed, (double)(t.rx_events - *last_ev) / (elapsed - *last_t) / 1e6, t.rx_events, t.results,
		t.late_dropped, bad, t.ring_full, t.open_windows);
	*last_ev = t.rx_events;
	*last_t = elapsed;
}

/* ---- the run ---------------------------------------------------------------------------------- */

/* Gap recovery for an itch50 source on one RX core: a UDP socket connected to the
 * re-request server, the hold and an answer buffer. */
static int
itch_recov_open(struct itch_recov *rc, const struct weir_source_cfg *sc)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai = NULL;
	char port[8];
	int e;

	rc->hold.buf = rte_malloc("weir_hold", HOLD_BYTES, RTE_CACHE_LINE_SIZE);
	rc->hold.cap = HOLD_BYTES;
	rc->buf = rte_malloc("weir_recov", RECOV_BUF, RTE_CACHE_LINE_SIZE);
	if (!rc->hold.buf || !rc->buf)
		return -1;
	if (!sc->rerequest_host[0])
		return 0;               /* A/B feeds, no server */
	snprintf(port, sizeof(port), "%u", sc->rerequest_port);
	if ((e = getaddrinfo(sc->rerequest_host, port, &hints, &ai))) {
		fprintf(stderr, "weir: source %s: rerequest %s:%u: %s\n", sc->name, sc->rerequest_host,
			sc->rerequest_port, gai_strerror(e));
		return -1;
	}
	rc->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (rc->fd < 0 || connect(rc->fd, ai->ai_addr, ai->ai_addrlen)) {
		fprintf(stderr, "weir: source %s: rerequest %s:%u: %s\n", sc->name, sc->rerequest_host,
			sc->rerequest_port, strerror(errno));
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	return 0;
}

/* A line source's schema from its config (checked at load: failures here are bugs). */
static struct weir_lp_schema *
lp_schema(const struct weir_source_cfg *sc)
{
	struct weir_lp_schema *ls = calloc(1, sizeof(*ls));
	int bad = !ls;

	if (ls) {
		weir_lp_schema_init(ls, (enum weir_lp_prec)sc->precision);
		if (sc->measurement[0])
			bad |= weir_lp_schema_measurement(ls, sc->measurement) != 0;
		for (int t = 0; t < sc->ntags; t++)
			bad |= weir_lp_schema_key_tag(ls, sc->tags[t]) != 0;
		for (int f = 0; f < sc->nfields; f++)
			bad |= weir_lp_schema_field(ls, sc->field_name[f], (enum weir_ftype)sc->field_type[f]) != f;
	}
	if (bad) {
		fprintf(stderr, "weir: source %s: cannot build its line-protocol schema\n", sc->name);
		free(ls);
		return NULL;
	}
	return ls;
}

static int
setup_cores(void)
{
	const struct weir_config *cfg = G.cfg;
	size_t maxf = 0, maxa = 0;
	char name[RTE_RING_NAMESIZE];

	for (int s = 0; s < cfg->nsources; s++)
		maxf = RTE_MAX(maxf, (size_t)cfg->sources[s].nfields);
	for (int q = 0; q < cfg->nqueries; q++)
		maxa = RTE_MAX(maxa, (size_t)cfg->queries[q].naggs);
	G.sink_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (G.sink_efd < 0)
		return -1;
	G.lat = cfg->latency;
	/* a fanned-out source's copies carry the record's own key after the fields (and the
	 * latency stamp): a re-keyed query's WHERE may still read it */
	bool anyfan = false;
	for (int s = 0; s < cfg->nsources; s++) {
		int fields[WEIR_MAX_QUERIES], n = weir_source_groups(cfg, s, fields);
		anyfan |= n > 1 || (n == 1 && fields[0] != -1);
	}
	G.key_slot = (int)(maxf + G.lat);
	G.rec_size = RTE_ALIGN_CEIL(sizeof(struct weir_rec) + 8 * (maxf + G.lat + anyfan), 16);
	G.rec_units = (unsigned)(G.rec_size / 16);
	G.res_size = WEIR_RESULT_SIZE(maxa) + (G.lat ? 24 : 0);
	if (G.lat) {
		G.ns_per_tsc = 1e9 / (double)rte_get_tsc_hz();
		G.lat_pend = malloc(LAT_PEND * sizeof(*G.lat_pend));
		G.lh_arrival = malloc(sizeof(*G.lh_arrival));
		G.lh_wm = malloc(sizeof(*G.lh_wm));
		G.lh_ring = malloc(sizeof(*G.lh_ring));
		if (!G.lat_pend || !G.lh_arrival || !G.lh_wm || !G.lh_ring)
			return -1;
		weir_lh_init(G.lh_arrival);
		weir_lh_init(G.lh_wm);
		weir_lh_init(G.lh_ring);
	}
	for (int s = 0; s < cfg->nsources; s++)
		if (cfg->sources[s].key_map[0] && weir_keymap_load(cfg->sources[s].key_map, &G.keymap[s], stderr))
			return -1;
	for (int s = 0; s < cfg->nsources; s++) {
		G.has_fmt[cfg->sources[s].format] = true;
		if (cfg->sources[s].format == WEIR_FMT_LINE && !(G.lp[s] = lp_schema(&cfg->sources[s])))
			return -1;
	}
	G.tsc0 = rte_rdtsc();
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		G.ns0 = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	}
	memset(G.port_src, -1, sizeof(G.port_src));
	for (int s = 0; s < cfg->nsources; s++) {
		for (int a = 0; a < cfg->sources[s].nports; a++)
			G.port_src[cfg->sources[s].udp_ports[a]] = (int8_t)s;
		G.idle_tsc[s] = cfg->sources[s].idle_timeout
			? (uint64_t)((double)cfg->sources[s].idle_timeout * (double)rte_get_tsc_hz() / 1e9) : 0;
	}
	for (int q = 0; q < cfg->nqueries; q++) {
		int s = cfg->queries[q].source;
		G.qsrc[s][G.qsrc_n[s]++] = (uint16_t)q;
		G.qgroup[q] = (uint8_t)weir_query_group(cfg, q);
	}
	for (int s = 0; s < cfg->nsources; s++) {
		int fields[WEIR_MAX_QUERIES];
		G.ngroups[s] = (uint8_t)weir_source_groups(cfg, s, fields);
		for (int g = 0; g < G.ngroups[s]; g++)
			G.gfield[s][g] = (int8_t)fields[g];
		G.fan[s] = G.ngroups[s] > 1 || (G.ngroups[s] == 1 && fields[0] != -1);
	}
	for (unsigned r = 0; r < G.nrx; r++) {
		struct rx_ctx *rx = rte_zmalloc_socket("weir_rx", sizeof(*rx), RTE_CACHE_LINE_SIZE,
						       (int)rte_lcore_to_socket_id(1 + r));
		if (!rx)
			return -1;
		rx->idx = r;
		for (unsigned w = 0; w < G.nw; w++) {
			rx->st[w].buf = rte_malloc_socket("weir_stage", STAGE_RECS * G.rec_size, RTE_CACHE_LINE_SIZE,
							  (int)rte_lcore_to_socket_id(1 + r));
			if (!rx->st[w].buf)
				return -1;
		}
		for (int k = 0; k < 2 && cfg->state_dir[0]; k++) {
			rx->ck[k].e = rte_malloc("weir_ck", MAX_INST * sizeof(struct ck_inst), 0);
			if (!rx->ck[k].e)
				return -1;
		}
		for (int s = 0; s < cfg->nsources; s++) {
			const struct weir_source_cfg *sc = &cfg->sources[s];
			if (sc->format == WEIR_FMT_ITCH50) {
				rx->itch[s] = rte_zmalloc_socket("weir_itch", sizeof(struct rx_itch), RTE_CACHE_LINE_SIZE,
								 (int)rte_lcore_to_socket_id(1 + r));
				if (!rx->itch[s])
					return -1;
				rx->itch[s]->rc.fd = -1;
				if ((sc->rerequest_host[0] || sc->nports > 1) && itch_recov_open(&rx->itch[s]->rc, sc))
					return -1;
				if (sc->order_book) {
					struct weir_book_params bp = { .max_orders = sc->order_book };
					rx->itch[s]->book = weir_book_create(&bp);
					if (!rx->itch[s]->book) {
						fprintf(stderr, "weir: source %s: order book of %u orders: %s\n", sc->name,
							sc->order_book, strerror(errno));
						return -1;
					}
				}
			}
			rx->src[s].inst = rte_malloc("weir_inst", MAX_INST * sizeof(uint32_t), 0);
			rx->src[s].unseen = 1;
			rx->src[s].wm = INT64_MIN;
			if (!rx->src[s].inst)
				return -1;
		}
		G.rx[r] = rx;
	}
	for (unsigned w = 0; w < G.nw; w++) {
		unsigned lc = wk_lcore(w);
		struct worker_ctx *wk = rte_zmalloc_socket("weir_worker", sizeof(*wk), RTE_CACHE_LINE_SIZE,
							   (int)rte_lcore_to_socket_id(lc));
		if (!wk)
			return -1;
		wk->idx = w;
		wk->res = rte_malloc("weir_res", RES_STAGE * G.res_size, RTE_CACHE_LINE_SIZE);
		if (!wk->res)
			return -1;
		for (unsigned r = 0; r < G.nrx; r++) {
			wk->held[r] = rte_malloc_socket("weir_held", RING_BURST * G.rec_size, RTE_CACHE_LINE_SIZE,
							(int)rte_lcore_to_socket_id(lc));
			if (!wk->held[r])
				return -1;
		}
		for (unsigned r = 0; r < G.nrx; r++)
			for (int s = 0; s < WEIR_MAX_SOURCES; s++) {
				wk->rxwm[s][r] = INT64_MIN;
				wk->rxholds[s][r] = 0;
			}
		for (int q = 0; q < cfg->nqueries; q++) {
			wk->op[q] = weir_op_create_ex(&cfg->queries[q], (uint16_t)q,
						      &cfg->sources[cfg->queries[q].source], wk_emit, wk,
						      (G.lat ? WEIR_OP_LATENCY : 0) |
						      (cfg->state_dir[0] ? 0 : WEIR_OP_NO_CKPT));
			if (!wk->op[q])
				return -1;
			weir_op_set_canonical(wk->op[q], G.canonical);
			if (weir_op_set_headroom(wk->op[q], (size_t)cfg->state_headroom))
				fprintf(stderr, "weir: warning: query %s: state_headroom: %s (pages are taken on first touch)\n",
					cfg->queries[q].name, strerror(errno));
			if (G.fan[cfg->queries[q].source])
				weir_op_set_key_slot(wk->op[q], G.key_slot);
		}
		for (unsigned r = 0; r < G.nrx; r++) {
			snprintf(name, sizeof(name), "weir_rx%u_w%u", r & 0xff, w & 0xff);
			G.ring[r][w] = weir_recring_create(name, cfg->ring_size, G.rec_units,
							   (int)rte_lcore_to_socket_id(lc));
			if (!G.ring[r][w])
				return -1;
		}
		snprintf(name, sizeof(name), "weir_res_w%u", w & 0xff);
		G.resring[w] = rte_ring_create_elem(name, (unsigned)G.res_size, RES_RING, (int)rte_socket_id(),
						    RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!G.resring[w])
			return -1;
		G.wk[w] = wk;
	}
	return 0;
}

/* HA gate hooks into the state plane (none yet while a resync waits for a snapshot). */
static void
gate_request(void *ctx)
{
	(void)ctx;
	if (G.sp)
		sp_request(G.sp);
}

static uint64_t
gate_requested(void *ctx)
{
	(void)ctx;
	return G.sp ? sp_epoch_requested(G.sp) : 0;
}

static uint64_t
gate_published(void *ctx)
{
	struct sp_stats st;
	(void)ctx;
	if (!G.sp)
		return 0;
	sp_get_stats(G.sp, &st);
	return st.last_epoch;
}

static int
state_open(void)
{
	const struct weir_config *cfg = G.cfg;
	char err[256];
	struct sp_cfg sc = { .dir = cfg->state_dir, .nshards = G.nw, .retain = (unsigned)cfg->state_retain,
			     .interval_ns = (uint64_t)cfg->checkpoint_interval, .fingerprint = G.fp,
			     .app_meta = app_meta, .need_ack = true, .nice = cfg->state_nice };
	G.sp = sp_create(&sc, err, sizeof(err));
	if (!G.sp)
		fprintf(stderr, "weir: state: %s\n", err);
	return G.sp ? 0 : -1;
}

static void
launch_workers(void)
{
	if (!G.fused)
		for (unsigned w = 0; w < G.nw; w++)
			rte_eal_remote_launch(worker_main, G.wk[w], wk_lcore(w));
	G.workers_on = true;
	atomic_store_explicit(&G.wk_go, true, memory_order_release);  /* pairs with fused_main */
}

/* HA resync (on the main lcore, from the gate): take the snapshot the primary shipped
 * (or, promoted before one came, our own newest), then let the RX cores replay their
 * journals into it.  Nothing but the RX cores runs yet, and they only journal. */
static int
dp_adopt(void *ctx, enum weir_adopt how, uint64_t epoch)
{
	const struct weir_config *cfg = G.cfg;
	char from[SP_DIR_MAX + 16], err[512];
	int restored = 0;

	(void)ctx;
	if (G.workers_on)
		return 0;               /* adopted already */
	if (how != WEIR_ADOPT_RECEIVED)
		epoch = 0;
	if (cfg->state_dir[0]) {
		if (how == WEIR_ADOPT_RECEIVED) {
			snprintf(from, sizeof(from), "%s/resync", cfg->state_dir);
			if (sp_snap_adopt(cfg->state_dir, from, G.fp, &epoch, err, sizeof(err))) {
				fprintf(stderr, "weir: HA: resync: cannot adopt the shipped snapshot: %s\n", err);
				return -1;
			}
		}
		if (state_open() || (restored = state_restore(G.fp)) < 0 || sp_start(G.sp)) {
			/* the run cannot go on on a half-set state: control restarts us */
			fprintf(stderr, "weir: HA: resync: restoring failed, stopping\n");
			atomic_store_explicit(&G.stop, REC_STOP, memory_order_release);
			return -1;
		}
		if (G.rst_seq_ok)
			weir_gate_set_seq(G.gate, G.rst_seq, G.rst_dig_ok ? G.rst_dig : NULL, G.nw);
	}
	weir_gate_set_sync(G.gate, how == WEIR_ADOPT_RECEIVED && restored > 0 ? WEIR_SYNC_UNKNOWN
									 : WEIR_SYNC_DIVERGED);
	weir_gate_adopted(G.gate, epoch);
	launch_workers();
	atomic_store_explicit(&G.rxmode, RX_REPLAY, memory_order_release);  /* pairs with rx_main */
	fprintf(stderr, "weir: HA: resync: %s snapshot epoch %" PRIu64 " adopted, replaying the journal\n",
		how == WEIR_ADOPT_RECEIVED ? "the primary's" : "our own", epoch);
	return 0;
}

/* latency = on: the results handed to the sinks since their last flush have left
 * them: note the time from their stamps. */
static void
lat_settle(void)
{
	uint64_t now = rte_rdtsc();

	for (uint32_t i = 0; i < G.lat_npend; i++) {
		uint64_t a = G.lat_pend[i][0], f = G.lat_pend[i][1];
		if (a)
			weir_lh_add(G.lh_arrival, now > a ? (uint64_t)((double)(now - a) * G.ns_per_tsc) : 0);
		if (f)
			weir_lh_add(G.lh_wm, now > f ? (uint64_t)((double)(now - f) * G.ns_per_tsc) : 0);
	}
	G.lat_npend = 0;
}

/* Results of worker w to the sinks: every one, or (HA) through the gate. */
static void
emit_all(struct weir_sinks *sk, unsigned w, const uint8_t *res, unsigned n)
{
	(void)w;
	for (unsigned i = 0; i < n; i++) {
		const struct weir_result *r = (const struct weir_result *)(res + (size_t)i * G.res_size);
		weir_sinks_write(sk, r);
		if (!G.lat)
			continue;
		if (G.lat_npend == LAT_PEND) {  /* under load: flush now rather than guess */
			weir_sinks_flush(sk);
			lat_settle();
		}
		uint64_t a = r->val[r->naggs], q = r->val[r->naggs + 2];
		if (a)
			weir_lh_add(G.lh_ring, q > a ? (uint64_t)((double)(q - a) * G.ns_per_tsc) : 0);
		G.lat_pend[G.lat_npend][0] = a;
		G.lat_pend[G.lat_npend++][1] = r->val[r->naggs + 1];
	}
}

static void
emit_gated(struct weir_sinks *sk, unsigned w, const uint8_t *res, unsigned n)
{
	(void)sk;
	weir_gate_results(G.gate, w, res, n);
}

/* Nothing to write: sleep until a worker rings (sink_doorbell) or 200 us have passed
 * (the loop's other duties: end of input, signals, HA, progress).  The sink loop takes
 * no CPU from the pollers it may share a CPU with, and a result waits for no nap. */
static void
sink_wait(void)
{
	struct pollfd pfd = { .fd = G.sink_efd, .events = POLLIN };
	struct timespec ts = { 0, 200000 };
	uint64_t v;
	bool any = false;

	/* results come in bursts: look again for a few microseconds before sleeping
	 * (else a worker rings, and yields, for every few results of a big firing) */
	uint64_t until = rte_rdtsc() + rte_get_tsc_hz() / 100000;
	do {
		for (unsigned w = 0; w < G.nw && !any; w++)
			any = rte_ring_count(G.resring[w]) != 0;
		if (any)
			return;
		rte_pause();
	} while (rte_rdtsc() < until);
	atomic_store_explicit(&G.sink_sleeping, true, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);      /* pairs with sink_doorbell's */
	for (unsigned w = 0; w < G.nw && !any; w++)
		any = rte_ring_count(G.resring[w]) != 0;
	if (!any)
		ppoll(&pfd, 1, &ts, NULL);
	atomic_store_explicit(&G.sink_sleeping, false, memory_order_relaxed);
	if (read(G.sink_efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nobody rang */
	}
}

/* The main lcore: write results, watch for the end of input and for signals. */
static int
main_loop(struct weir_sinks *sk, const struct weir_run_opts *opts, double t0)
{
	uint8_t *buf = malloc(RING_BURST * G.res_size);
	unsigned done = 0;
	uint8_t wdone[MAX_WORKERS] = { 0 };
	double next_progress = t0 + 1, last_t = 0, next_resync = 0;
	uint64_t last_ev = 0;
	bool tty = opts->progress > 0 || (opts->progress < 0 && isatty(2));
	int quiet_rounds = 0;
	uint64_t bar_epoch = 0;
	unsigned bar_n = 0;

	if (!buf)
		return -1;
	tight_timer_slack();
	if (G.cfg->sink_rt_priority) {
		/* the loop sleeps whenever there is nothing to write: as a real-time thread it
		 * preempts a poller sharing its CPU as soon as a worker rings, instead of
		 * waiting for the scheduler to take the CPU from a thread that never sleeps */
		struct sched_param sp = { .sched_priority = G.cfg->sink_rt_priority };
		int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
		if (rc)
			fprintf(stderr, "weir: warning: sink_rt_priority %d: SCHED_FIFO: %s\n",
				G.cfg->sink_rt_priority, strerror(rc));
	}
	while (done < G.nw) {
		unsigned got = 0;

		if (G.gate && weir_gate_poll(G.gate) < 0 && !atomic_load_explicit(&G.stop, memory_order_relaxed))
			atomic_store_explicit(&G.stop, REC_STOP, memory_order_release);  /* control is gone */
		for (unsigned w = 0; w < G.nw; w++) {
			unsigned n = rte_ring_dequeue_burst_elem(G.resring[w], buf, (unsigned)G.res_size, RING_BURST,
								  NULL);
			unsigned run = 0;       /* results of the burst not yet handed on */
			got += n;
			for (unsigned i = 0; i < n; i++) {
				const struct weir_result *r = (const struct weir_result *)(buf + i * G.res_size);
				if (r->query < UINT16_MAX - 1) {
					run++;
					continue;
				}
				if (run)
					G.emit(sk, w, (const uint8_t *)r - run * G.res_size, run);
				run = 0;
				if (r->query == UINT16_MAX) {
					if (!wdone[w]) {
						wdone[w] = 1;
						done++;
					}
					continue;
				}
				/* worker w passed barrier r->key */
				if (r->key != bar_epoch) {
					bar_epoch = r->key;
					bar_n = 0;
				}
				if (G.gate) {
					G.bar_seq[bar_epoch & 1][w] = weir_gate_seq(G.gate, w);
					G.bar_dig[bar_epoch & 1][w] = weir_gate_digest(G.gate, w);
					weir_gate_barrier(G.gate, w, bar_epoch);
				}
				if (++bar_n == G.nw)    /* every result before the barrier is in the sinks */
					sp_ack(G.sp, bar_epoch, weir_sinks_sync(sk) == 0);
			}
			if (run)
				G.emit(sk, w, buf + (n - run) * G.res_size, run);
		}
		if (got)
			continue;
		weir_sinks_flush(sk);
		if (G.lat_npend)
			lat_settle();
		CNT_SET(G.sink_errors, weir_sinks_errors(sk));

		int stop = atomic_load_explicit(&G.stop, memory_order_relaxed);
		if (stop && !G.workers_on)
			break;                  /* resync: stopped before a snapshot came */
		if (!stop && g_signal) {
			atomic_store_explicit(&G.stop, REC_STOP, memory_order_release);  /* pairs with rx_main */
		} else if (!stop && G.cfg->exit_on_eos) {
			/* end of input: every producer seen has ended and every RX sweep came back
			 * empty, twice in a row (a packet in flight resets it) */
			bool all = true, seen = false;
			for (unsigned r = 0; r < G.nrx; r++) {
				uint64_t p = atomic_load_explicit(&G.rx[r]->pub, memory_order_acquire);
				all &= (p >> 32) == 0 && (p & 1);
				seen |= (p & 2) != 0;
			}
			quiet_rounds = all && seen ? quiet_rounds + 1 : 0;
			if (quiet_rounds >= 2)
				atomic_store_explicit(&G.stop, REC_FINAL, memory_order_release);
		}
		double t = now_s();
		if (G.gate && t >= next_resync) {
			/* the RX cores' resync counters, every 50 ms: their counters share cache
			 * lines with what the RX cores write all the time */
			uint64_t gaps = 0, frames = 0, dropped = 0;
			for (unsigned r = 0; r < G.nrx; r++) {
				gaps += CNT_GET(G.rx[r]->cs.resync_gaps);
				frames += CNT_GET(G.rx[r]->cs.journal_frames);
				dropped += CNT_GET(G.rx[r]->cs.journal_dropped);
			}
			weir_gate_set_resync(G.gate, gaps, frames, dropped);
			next_resync = t + 0.05;
		}
		if (tty && t >= next_progress) {
			progress(t - t0, &last_ev, &last_t);
			next_progress = t + 1;
		}
		sink_wait();
	}
	if (tty)
		fputc('\n', stderr);
	free(buf);
	return 0;
}

/* The EAL leaves its runtime directory (the telemetry socket) behind: remove it
 * when it is this process's own (weirPID, see weir_eal_args). */
static void
rm_runtime_dir(const char *dir)
{
	char own[32], path[PATH_MAX + 256];
	const char *base = strrchr(dir, '/');
	struct dirent *e;
	DIR *d;

	snprintf(own, sizeof(own), "weir%d", (int)getpid());
	if (!base || strcmp(base + 1, own) || !(d = opendir(dir)))
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(dir);
}

int
weir_dataplane_run(const struct weir_config *cfg, const struct weir_run_opts *opts)
{
	char *argv[256];
	int argc, rc = 1;
	struct weir_sinks *sk = NULL;
	struct weir_admin *admin = NULL;
	char rt_dir[PATH_MAX] = "";
	double t0, elapsed;
	struct sigaction sa = { .sa_handler = on_signal };

	memset(&G, 0, sizeof(G));
	G.cfg = cfg;
	G.nrx = (unsigned)cfg->rx_cores;
	G.nw = (unsigned)cfg->workers;
	G.fused = cfg->fused;
	G.idle_sleep_ns = (uint64_t)cfg->idle_sleep;
	if (G.nrx > MAX_RX || G.nw > MAX_WORKERS) {
		fprintf(stderr, "weir: at most %d rx_cores and %d workers\n", MAX_RX, MAX_WORKERS);
		return 2;
	}
	if (weir_admin_check(cfg, stderr))
		return 2;
	argc = weir_eal_args(cfg, opts->argv0 ? opts->argv0 : "weir", argv, 256, stderr);
	if (argc < 0)
		return 2;
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "weir: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	snprintf(rt_dir, sizeof(rt_dir), "%s", rte_eal_get_runtime_dir());
	if (rte_lcore_count() != 1 + G.nrx + (G.fused ? 0 : G.nw)) {
		fprintf(stderr, "weir: EAL gave %u lcores, %u needed\n", rte_lcore_count(),
			1 + G.nrx + (G.fused ? 0 : G.nw));
		goto out;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	state_fingerprint(cfg, G.fp, sizeof(G.fp));
	G.canonical = opts->control_fd >= 0;
	/* HA resync: journal input until a snapshot comes (state opened then) */
	bool resync = opts->resync && opts->control_fd >= 0;
	if (cfg->state_dir[0] && !resync && state_open())
		goto out;
	if (setup_cores()) {
		fprintf(stderr, "weir: out of memory setting up cores and rings\n");
		goto out;
	}
	if (resync) {
		uint64_t per = RTE_ALIGN_FLOOR((uint64_t)cfg->ha_journal / G.nrx, 8);
		for (unsigned r = 0; r < G.nrx; r++) {
			G.rx[r]->j.cap = per;
			G.rx[r]->j.buf = malloc(per);
			G.rx[r]->mode = RX_JOURNAL;
			if (!G.rx[r]->j.buf) {
				fprintf(stderr, "weir: HA: cannot allocate a resync journal of %" PRIu64 " bytes\n", per);
				goto out;
			}
		}
		atomic_store_explicit(&G.rxmode, RX_JOURNAL, memory_order_relaxed);
	}
	int restored = 0;
	if (G.sp && (restored = state_restore(G.fp)) < 0)
		goto out;
	/* under HA a sink is this node's share of the pair's output: never truncated (a
	 * restart without a snapshot recomputes the streams and the gate skips what was
	 * written) */
	sk = weir_sinks_open(cfg, restored > 0 || opts->control_fd >= 0, stderr);
	if (!sk)
		goto out;
	if (cfg->ha_node[0] && opts->control_fd < 0)
		fprintf(stderr, "weir: [ha] is configured but this dataplane was not started by `weir control`: "
			"it runs alone and writes every result\n");
	if (opts->control_fd >= 0) {
		char why[160];
		struct weir_gate_ops ops = { .adopt = dp_adopt };
		if (cfg->state_dir[0]) {
			ops.request_checkpoint = gate_request;
			ops.requested_epoch = gate_requested;
			ops.published_epoch = gate_published;
		}
		G.gate = weir_gate_create(opts->control_fd, opts->control_shm, G.nw, G.res_size,
					  (unsigned)cfg->ha_shadow, sk, &ops, why, sizeof(why));
		if (!G.gate) {
			fprintf(stderr, "weir: HA: %s\n", why);
			goto out;
		}
		if (G.rst_seq_ok)
			weir_gate_set_seq(G.gate, G.rst_seq, G.rst_dig_ok ? G.rst_dig : NULL, G.nw);
		if (resync)
			weir_gate_set_sync(G.gate, WEIR_SYNC_RESYNC);
	}
	G.emit = G.gate ? emit_gated : emit_all;
	if (ports_setup())
		goto out;
	if (G.sp && sp_start(G.sp)) {
		fprintf(stderr, "weir: state: cannot start the state thread\n");
		goto out;
	}

	t0 = G.t0 = now_s();
	tel_register();
	tel_enable(true);
	if (cfg->admin) {
		struct weir_admin_ops ao = { .stats = admin_stats };
		if (!(admin = weir_admin_start(cfg, &ao, stderr))) {
			for (unsigned d = 0; d < G.nports; d++)
				rte_eth_dev_stop(G.port[d]);
			goto out;
		}
		const char *pfx = strrchr(rt_dir, '/');
		fprintf(stderr, "weir: telemetry: dpdk-telemetry.py -f %s  (/weir/stats, /weir/cores, /weir/queries, ...)\n",
			pfx ? pfx + 1 : rt_dir);
	}
	/* populates OVER state ahead of its growth (state_headroom); from the main lcore,
	 * niced below the sink loop it shares that CPU with */
	bool any_over = false;
	for (int q = 0; q < cfg->nqueries; q++)
		any_over |= cfg->queries[q].window == WEIR_WIN_OVER;
	if (any_over && cfg->state_headroom && weir_arena_service_start(ARENA_NICE))
		fprintf(stderr, "weir: warning: state_headroom: no service thread: %s\n", strerror(errno));
	for (unsigned r = 0; r < G.nrx; r++) {
		if (G.fused)
			G.rx[r]->fused = G.wk[r];
		rte_eal_remote_launch(G.fused ? fused_main : rx_main, G.rx[r], 1 + r);
	}
	if (!resync)
		launch_workers();
	main_loop(sk, opts, t0);
	rte_eal_mp_wait_lcore();
	if (G.gate)
		weir_gate_exit(G.gate);
	elapsed = now_s() - t0;
	if (G.sp)
		sp_stop(G.sp);
	weir_sinks_flush(sk);
	if (G.lat_npend)
		lat_settle();
	rc = 0;
	if (weir_sinks_errors(sk)) {
		fprintf(stderr, "weir: %llu results could not be written to their sinks\n", weir_sinks_errors(sk));
		rc = 1;
	}
	if (opts->stats_json && write_stats(opts->stats_json, elapsed, weir_sinks_errors(sk)))
		rc = 1;
	tel_enable(false);
	weir_admin_stop(admin);         /* (before the ports and cores it reads go) */
	admin = NULL;
	for (unsigned d = 0; d < G.nports; d++)
		rte_eth_dev_stop(G.port[d]);
out:
	tel_enable(false);
	weir_admin_stop(admin);
	if (G.sp) {
		sp_stop(G.sp);
		sp_destroy(G.sp);
		G.sp = NULL;
	}
	free(G.rst);
	G.rst = NULL;
	for (unsigned r = 0; r < G.nrx; r++)
		if (G.rx[r]) {
			free(G.rx[r]->j.buf);
			G.rx[r]->j.buf = NULL;
			for (int s = 0; s < cfg->nsources; s++) {
				struct rx_itch *ix = G.rx[r]->itch[s];
				if (!ix)
					continue;
				weir_book_destroy(ix->book);
				if (ix->rc.fd >= 0)
					close(ix->rc.fd);
				rte_free(ix->rc.hold.buf);
				rte_free(ix->rc.buf);
				rte_free(ix);
				G.rx[r]->itch[s] = NULL;
			}
		}
	for (int s = 0; s < cfg->nsources; s++) {
		free(G.lp[s]);
		G.lp[s] = NULL;
	}
	weir_gate_destroy(G.gate);
	G.gate = NULL;
	weir_sinks_close(sk);
	for (unsigned w = 0; w < G.nw; w++)
		if (G.wk[w])
			for (int q = 0; q < cfg->nqueries; q++)
				weir_op_destroy(G.wk[w]->op[q]);
	weir_arena_service_stop();
	for (unsigned d = 0; d < G.nports; d++)
		rte_eth_dev_close(G.port[d]);
	rte_eal_cleanup();
	rm_runtime_dir(rt_dir);
	return rc;
}
