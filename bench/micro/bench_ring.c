/* SPDX-License-Identifier: Apache-2.0
 * Record rings (dataplane/recring.h): SPSC rte_rings of 16-byte units carrying
 * 48-byte records (3 units: the 24-byte record header and two value fields, padded),
 * as between an RX core and a worker.  No EAL: rte_ring_init on aligned heap memory.
 *
 *   ring_two_core   a producer thread on one CPU pushes bursts of `burst` records,
 *                   the benchmark thread on another pops and reads them: the cost of
 *                   moving a record between cores (cache-line transfers included).
 *                   Wall-clock time; items = records received.
 *   ring_same_core  push a burst, pop it back, one thread: the ring's own
 *                   instructions without any cross-core traffic (the baseline).
 *
 * Check: records arrive whole and in order (sequence k is the k-th record received)
 * and the sum of the received sequence numbers is n(n-1)/2.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_pause.h>
#include <rte_ring.h>

#include "micro.h"
#include "recring.h"

#define UNITS    3
#define RING_REC 4096            /* records: the default ring_size */
#define MAX_BURST 64

struct rec {
	int64_t t;
	uint64_t seq;                /* the key field of a dataplane record */
	uint16_t kind, src, flags, rx;
	uint64_t v[2];
	uint64_t pad;
};
_Static_assert(sizeof(struct rec) == 16 * UNITS, "a record is UNITS units");

static struct rte_ring *
ring_new(void)
{
	ssize_t sz = rte_ring_get_memsize_elem(16, rte_align32pow2(RING_REC * UNITS + 1));   /* EXACT_SZ */
	struct rte_ring *r;

	if (sz <= 0)
		return NULL;
	r = aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_ALIGN_CEIL((size_t)sz, RTE_CACHE_LINE_SIZE));
	if (r && rte_ring_init(r, "micro", RING_REC * UNITS, RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ)) {
		free(r);
		r = NULL;
	}
	return r;
}

static inline void
rec_fill(struct rec *x, uint64_t seq)
{
	x->t = (int64_t)seq * 1000;
	x->seq = seq;
	x->kind = 0;
	x->src = 0;
	x->flags = 0;
	x->rx = 0;
	x->v[0] = seq ^ 0x5555;
	x->v[1] = seq * 3;
}

/* What the consumer does with each record: check its place, fold its fields. */
struct rx_check {
	uint64_t next, sum, bad, fold;
};

static inline void
rec_take(struct rx_check *c, const struct rec *x)
{
	c->bad += x->seq != c->next;
	c->next++;
	c->sum += x->seq;
	c->fold += (uint64_t)x->t ^ x->v[0] ^ x->v[1];
}

static void
check_report(struct wb_state *st, const struct rx_check *c, const char *name)
{
	uint64_t n = c->next;
	/* n(n-1)/2 without overflowing the intermediate in 64 bits (mod 2^64 either way) */
	uint64_t want = n % 2 ? (n - 1) / 2 * n : n / 2 * (n - 1);

	if (c->bad || c->sum != want)
		wb_fail(st, "%s: %llu records out of order, sequence sum %llu, expected %llu", name,
			(unsigned long long)c->bad, (unsigned long long)c->sum, (unsigned long long)want);
}

/* The n-th CPU (0-based) this process may run on, or -1. */
static int
cpu_nth(int n)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set))
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set) && n-- == 0)
			return c;
	return -1;
}

/* ---- two cores ---------------------------------------------------------------------- */

struct producer {
	struct rte_ring *r;
	unsigned burst;
	int cpu;
	int pin_rc;
	atomic_int stop;            /* set by the consumer (release), read here (acquire) */
	double cpu_s;               /* the producer thread's CPU time */
};

static double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *
producer_main(void *arg)
{
	struct producer *p = arg;
	struct rec buf[MAX_BURST];
	uint64_t seq = 0;
	double c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);

	p->pin_rc = wb_pin(p->cpu, NULL);
	while (!atomic_load_explicit(&p->stop, memory_order_acquire)) {
		unsigned done = 0;
		for (unsigned i = 0; i < p->burst; i++)
			rec_fill(&buf[i], seq + i);
		while (done < p->burst) {
			done += weir_recring_push(p->r, buf + done, p->burst - done, UNITS);
			if (done < p->burst) {
				if (atomic_load_explicit(&p->stop, memory_order_acquire))
					goto out;
				rte_pause();
			}
		}
		seq += p->burst;
	}
out:
	p->cpu_s = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
	return NULL;
}

static void
bm_ring_two_core(struct wb_state *st)
{
	unsigned burst = (unsigned)wb_range(st, 0);
	struct producer p = { .burst = burst };
	struct rx_check c = { 0 };
	struct rec buf[MAX_BURST];
	struct wb_cpuset saved;
	int cpu_rx = cpu_nth(0), cpu_tx = cpu_nth(1);
	pthread_t th;

	if (cpu_tx < 0) {
		wb_skip(st, "needs two CPUs");
		return;
	}
	p.r = ring_new();
	p.cpu = cpu_tx;
	if (!p.r) {
		wb_fail(st, "ring: cannot create");
		return;
	}
	if (wb_pin(cpu_rx, &saved)) {
		wb_skip(st, "cannot pin the benchmark thread");
		free(p.r);
		return;
	}
	double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	if (pthread_create(&th, NULL, producer_main, &p)) {
		wb_fail(st, "ring: cannot start the producer");
		wb_unpin(&saved);
		free(p.r);
		return;
	}
	while (wb_keep_running(st)) {
		unsigned got = 0;
		while (got < burst) {
			unsigned n = weir_recring_pop(p.r, buf, burst - got, UNITS);
			if (!n) {
				rte_pause();
				continue;
			}
			for (unsigned i = 0; i < n; i++)
				rec_take(&c, &buf[i]);
			got += n;
		}
	}
	atomic_store_explicit(&p.stop, 1, memory_order_release);
	pthread_join(th, NULL);
	/* CPU time / wall time of both threads: below ~0.95 another process shared the
	 * CPU (the numbers then understate the ring) */
	double wall = clock_s(CLOCK_MONOTONIC) - w0, pc = p.cpu_s / wall,
	       cc = (clock_s(CLOCK_THREAD_CPUTIME_ID) - c0) / wall;
	wb_counter(st, "producer_cpu", pc);
	wb_counter(st, "consumer_cpu", cc);
	if (pc < 0.9 || cc < 0.9)
		wb_label(st, "CONTENDED: another process shared a CPU");
	wb_unpin(&saved);
	free(p.r);
	WB_KEEP(c.fold);
	wb_set_items(st, wb_iterations(st) * burst);
	wb_set_bytes(st, wb_iterations(st) * burst * (int64_t)sizeof(struct rec));
	if (p.pin_rc)
		wb_fail(st, "ring: cannot pin the producer to CPU %d", cpu_tx);
	check_report(st, &c, "ring_two_core");
}

/* ---- one core ------------------------------------------------------------------------ */

static void
bm_ring_same_core(struct wb_state *st)
{
	unsigned burst = (unsigned)wb_range(st, 0);
	struct rte_ring *r = ring_new();
	struct rec in[MAX_BURST], out[MAX_BURST];
	struct rx_check c = { 0 };
	uint64_t seq = 0;

	if (!r) {
		wb_fail(st, "ring: cannot create");
		return;
	}
	while (wb_keep_running(st)) {
		for (unsigned i = 0; i < burst; i++)
			rec_fill(&in[i], seq + i);
		seq += burst;
		unsigned k = weir_recring_push(r, in, burst, UNITS);
		unsigned n = weir_recring_pop(r, out, burst, UNITS);
		if (k != burst || n != burst) {
			wb_fail(st, "ring_same_core: pushed %u, popped %u of %u", k, n, burst);
			break;
		}
		for (unsigned i = 0; i < n; i++)
			rec_take(&c, &out[i]);
	}
	free(r);
	WB_KEEP(c.fold);
	wb_set_items(st, (int64_t)c.next);
	wb_set_bytes(st, (int64_t)c.next * (int64_t)sizeof(struct rec));
	check_report(st, &c, "ring_same_core");
}

void
micro_ring_register(void)
{
	static const int64_t bursts[] = { 32 };
	static const char *const names[] = { "burst" };

	wb_real_time(wb_family("ring_two_core", bm_ring_two_core, bursts, 1, 1, names));
	wb_family("ring_same_core", bm_ring_same_core, bursts, 1, 1, names);
}
