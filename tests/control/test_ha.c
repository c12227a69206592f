/* SPDX-License-Identifier: Apache-2.0
 * The HA role machine and the witness in a simulated network: two nodes and a
 * witness exchange packed, MAC'd datagrams with random delays; links are cut one
 * way or both, nodes paused (SIGSTOP), dataplanes and control processes killed and
 * restarted from their durable term.  At every instant of every run at most one
 * node may hold an open emit gate; after the faults heal exactly one must. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ha.h"
#include "hamsg.h"
#include "witness.h"

#define MS 1000000ull
#define US 1000ull
#define HB (5 * MS)
#define DEAD 4
#define NW 2

static const uint8_t KEY[] = "0123456789abcdef-test-secret";

/* ---- the simulated world --------------------------------------------------------- */

enum { A = 0, B = 1, W = 2, NENT = 3 };

struct pkt {
	uint64_t at;
	int src, dst;
	size_t len;
	uint8_t buf[WHA_DGRAM_MAX];
};

struct node {
	struct ha *h;
	int idx;
	bool control_up;            /* the control process runs */
	bool paused;
	uint64_t next_tick;
	/* durable */
	uint64_t term;
	char voted[WHA_NODE_MAX];
	/* the dataplane */
	bool dp_ok;
	uint64_t dp_back_at;        /* respawn time after a kill */
	uint64_t emit_until;        /* what the dataplane was last told (it enforces it) */
	uint64_t handover_req, handover_at;
	struct wha_replay rp_peer, rp_wit;
	uint64_t boot;
	uint64_t emitted[NW];       /* a result counter: grows while the gate is open */
	unsigned sync;              /* enum weir_sync its dataplane reports (1: in sync) */
};

static struct world {
	uint64_t now;
	uint64_t seed;
	struct node n[2];
	struct wit wit;
	bool wit_up;
	bool link[NENT][NENT];      /* src -> dst delivers */
	struct pkt *q;
	size_t nq, capq;
	unsigned max_emitters;
	uint64_t overlap_ns;
	char log[64][200];
	unsigned nlog;
	unsigned verbose;
} S;

static uint64_t
rnd(void)
{
	S.seed ^= S.seed << 13;
	S.seed ^= S.seed >> 7;
	S.seed ^= S.seed << 17;
	return S.seed;
}

static void
wlog_line(const char *who, uint64_t now, const char *line)
{
	snprintf(S.log[S.nlog % 64], sizeof(S.log[0]), "%8.3f ms %s: %s", (double)now / 1e6, who, line);
	S.nlog++;
	if (S.verbose)
		printf("%8.3f ms %s: %s\n", (double)now / 1e6, who, line);
}

static void
dump_log(void)
{
	unsigned from = S.nlog > 64 ? S.nlog - 64 : 0;
	for (unsigned i = from; i < S.nlog; i++)
		printf("  %s\n", S.log[i % 64]);
}

static void
enqueue(int src, int dst, const uint8_t *buf, size_t len)
{
	if (!S.link[src][dst])
		return;
	if (S.nq == S.capq) {
		S.capq = S.capq ? 2 * S.capq : 256;
		S.q = realloc(S.q, S.capq * sizeof(*S.q));
		assert_non_null(S.q);
	}
	struct pkt *p = &S.q[S.nq++];
	p->at = S.now + 20 * US + rnd() % (300 * US);
	p->src = src;
	p->dst = dst;
	p->len = len;
	memcpy(p->buf, buf, len);
}

static void
io_send(void *ctx, enum ha_to to, const struct wha_msg *m)
{
	struct node *n = ctx;
	uint8_t buf[WHA_DGRAM_MAX];
	size_t len = wha_pack(m, KEY, sizeof(KEY) - 1, buf, sizeof(buf));

	assert_true(len > 0);
	enqueue(n->idx, to == HA_TO_PEER ? 1 - n->idx : W, buf, len);
}

static int
io_persist(void *ctx, uint64_t term, const char *voted)
{
	struct node *n = ctx;
	assert_true(term >= n->term);           /* terms never go back */
	n->term = term;
	snprintf(n->voted, sizeof(n->voted), "%s", voted);
	return 0;
}

static void
io_handover(void *ctx, uint64_t req)
{
	struct node *n = ctx;
	n->handover_req = req;
	n->handover_at = S.now + 2 * MS;        /* the next barrier */
}

static void
io_log(void *ctx, uint64_t now, const char *line)
{
	struct node *n = ctx;
	wlog_line(n->idx == A ? "a" : "b", now, line);
}

static int
wit_persist(void *ctx, uint64_t term, const char *holder)
{
	(void)ctx;
	(void)holder;
	assert_true(term >= S.wit.term);
	return 0;
}

static void
wit_log(void *ctx, const char *line)
{
	(void)ctx;
	wlog_line("w", S.now, line);
}

/* What the control process learns from its dataplane's shared block. */
static void
sim_dp(struct node *n, bool ok, bool exact)
{
	uint64_t dig[NW] = { 0 };
	ha_dataplane_sync(n->h, dig, NW, n->sync);
	ha_dataplane(n->h, S.now, ok, n->emitted, NW, exact, 0);
}

static void
node_start(int i, bool witness)
{
	struct node *n = &S.n[i];
	struct ha_params p = { .priority = i == A ? 150 : 100, .hb_ns = HB, .dead_after = DEAD,
			       .witness = witness, .hold_down_ns = 300 * MS, .fingerprint = 42, .nworkers = NW };
	struct ha_io io = { .ctx = n, .send = io_send, .persist = io_persist, .handover = io_handover,
			    .log = io_log };

	snprintf(p.node, sizeof(p.node), "%s", i == A ? "a" : "b");
	n->idx = i;
	n->boot = n->boot ? n->boot + 1000 : 1000 + (uint64_t)i;
	n->h = ha_create(&p, &io, n->term, n->voted, n->boot, S.now);
	assert_non_null(n->h);
	n->control_up = true;
	n->paused = false;
	n->next_tick = S.now + rnd() % HB;
	memset(&n->rp_peer, 0, sizeof(n->rp_peer));
	memset(&n->rp_wit, 0, sizeof(n->rp_wit));
	if (n->dp_ok)
		sim_dp(n, true, false);
}

static void
node_kill_control(int i)
{
	struct node *n = &S.n[i];
	if (!n->control_up)
		return;
	ha_destroy(n->h);
	n->h = NULL;
	n->control_up = false;
	/* the dataplane sees its control socket close and shuts its gate at once */
	n->emit_until = 0;
	n->handover_req = 0;
}

static void
update_gate(struct node *n)
{
	struct ha_gate g;

	if (!n->control_up || n->paused)
		return;
	ha_gate(n->h, S.now, &g);
	n->emit_until = n->dp_ok ? g.emit_until : 0;
	if (g.handover == 0)
		n->handover_req = 0;
}

static void
world_init(uint64_t seed, bool witness)
{
	free(S.q);
	memset(&S, 0, sizeof(S));
	S.seed = seed * 2654435761u + 1;
	S.verbose = getenv("HA_VERBOSE") != NULL;
	for (int i = 0; i < NENT; i++)
		for (int j = 0; j < NENT; j++)
			S.link[i][j] = i != j && (witness || (i != W && j != W));
	S.wit.persist = wit_persist;
	S.wit.log = wit_log;
	S.wit.boot = 7;
	S.wit_up = witness;
	for (int i = 0; i < 2; i++) {
		S.n[i].dp_ok = true;
		S.n[i].sync = 1;
		node_start(i, witness);
	}
}

/* At most one dataplane may be emitting at any instant. */
static void
check_safety(void)
{
	unsigned k = 0;
	for (int i = 0; i < 2; i++)
		if (S.n[i].dp_ok && S.now < S.n[i].emit_until)
			k++;
	if (k > S.max_emitters)
		S.max_emitters = k;
	if (k > 1) {
		printf("seed %" PRIu64 ": two nodes emitting at %.3f ms\n", S.seed, (double)S.now / 1e6);
		dump_log();
		fail();
	}
}

static void
deliver(struct pkt *p)
{
	struct wha_msg m;

	if (p->dst == W) {
		if (!S.wit_up)
			return;
		struct wha_msg out;
		assert_int_equal(wha_unpack(p->buf, p->len, KEY, sizeof(KEY) - 1, &m), WHA_OK);
		if (wit_handle(&S.wit, S.now, &m, &out)) {
			uint8_t buf[WHA_DGRAM_MAX];
			size_t len = wha_pack(&out, KEY, sizeof(KEY) - 1, buf, sizeof(buf));
			enqueue(W, p->src, buf, len);
		}
		return;
	}
	struct node *n = &S.n[p->dst];
	if (!n->control_up)
		return;
	assert_int_equal(wha_unpack(p->buf, p->len, KEY, sizeof(KEY) - 1, &m), WHA_OK);
	if (!wha_replay_accept(p->src == W ? &n->rp_wit : &n->rp_peer, &m))
		return;
	ha_recv(n->h, S.now, p->src == W ? HA_TO_WITNESS : HA_TO_PEER, &m);
	update_gate(n);
}

/* Advance the world to time `until`, event by event. */
static void
run_until(uint64_t until)
{
	for (;;) {
		uint64_t next = until;
		int kind = -1, who = -1;
		size_t pi = 0;

		for (size_t i = 0; i < S.nq; i++) {
			struct node *d = S.q[i].dst < 2 ? &S.n[S.q[i].dst] : NULL;
			if (d && d->paused)
				continue;       /* waits in the socket buffer */
			if (S.q[i].at < next) {
				next = S.q[i].at;
				kind = 0;
				pi = i;
			}
		}
		for (int i = 0; i < 2; i++) {
			struct node *n = &S.n[i];
			if (n->control_up && !n->paused && n->next_tick < next) {
				next = n->next_tick;
				kind = 1;
				who = i;
			}
			if (n->control_up && !n->paused) {
				uint64_t d = ha_deadline(n->h, S.now);
				if (d < next) {
					next = d;
					kind = 4;
					who = i;
				}
			}
			if (n->control_up && !n->paused && n->handover_req && n->handover_at < next) {
				next = n->handover_at;
				kind = 2;
				who = i;
			}
			if (!n->dp_ok && n->dp_back_at && n->dp_back_at < next) {
				next = n->dp_back_at;
				kind = 3;
				who = i;
			}
		}
		/* overdue events (a resumed node's timers and mail) happen now */
		if (next < S.now)
			next = S.now;
		/* emit gates may close between events: check just before the next one */
		S.now = next;
		check_safety();
		for (int i = 0; i < 2; i++)
			if (S.n[i].dp_ok && S.now < S.n[i].emit_until)
				for (int w = 0; w < NW; w++)
					S.n[i].emitted[w]++;
		if (kind < 0)
			return;
		if (kind == 0) {
			struct pkt p = S.q[pi];
			S.q[pi] = S.q[--S.nq];
			deliver(&p);
		} else if (kind == 1) {
			struct node *n = &S.n[who];
			n->next_tick = S.now + HB - HB / 10 + rnd() % (HB / 5);
			sim_dp(n, n->dp_ok, false);
			ha_tick(n->h, S.now);
			update_gate(n);
		} else if (kind == 2) {
			struct node *n = &S.n[who];
			uint64_t req = n->handover_req;
			n->emit_until = 0;              /* the dataplane stopped at the barrier */
			n->handover_req = 0;
			ha_handover_ready(n->h, S.now, req, true, n->emitted, NW);
			update_gate(n);
			n->emit_until = 0;
		} else if (kind == 4) {
			ha_timers(S.n[who].h, S.now);
			update_gate(&S.n[who]);
		} else {
			struct node *n = &S.n[who];
			n->dp_ok = true;
			n->dp_back_at = 0;
			if (n->control_up) {
				sim_dp(n, true, false);
				update_gate(n);
			}
		}
		check_safety();
	}
}

static int
role(int i)
{
	struct ha_status s;
	if (!S.n[i].control_up)
		return -1;
	ha_get_status(S.n[i].h, S.now, &s);
	return s.role;
}

static bool
emitting(int i)
{
	return S.n[i].dp_ok && S.now < S.n[i].emit_until;
}

static void
kill_dp(int i)
{
	struct node *n = &S.n[i];
	if (!n->dp_ok)
		return;
	n->dp_ok = false;
	n->emit_until = 0;
	n->dp_back_at = S.now + 50 * MS;
	if (n->control_up)
		sim_dp(n, false, true);
}

static void
set_node_links(int i, bool up)
{
	for (int j = 0; j < NENT; j++) {
		S.link[i][j] = up && i != j;
		S.link[j][i] = up && i != j;
	}
	S.link[W][W] = false;
}

static void
heal(void)
{
	for (int i = 0; i < NENT; i++)
		for (int j = 0; j < NENT; j++)
			S.link[i][j] = i != j;
	for (int i = 0; i < 2; i++) {
		if (S.n[i].paused)
			S.n[i].paused = false;
		if (!S.n[i].control_up)
			node_start(i, true);
	}
	S.wit_up = true;
}

static void
teardown_world(void)
{
	for (int i = 0; i < 2; i++)
		if (S.n[i].h)
			ha_destroy(S.n[i].h);
	free(S.q);
	S.q = NULL;
}

/* ---- scenarios ------------------------------------------------------------------------ */

static void
test_startup_preferred(void **st)
{
	(void)st;
	world_init(1, true);
	run_until(200 * MS);
	assert_int_equal(role(A), WHA_PRIMARY);
	assert_int_equal(role(B), WHA_STANDBY);
	assert_true(emitting(A));
	assert_false(emitting(B));
	teardown_world();
}

/* The preferred node's dataplane comes up last: it still becomes primary (the other
 * waits 2 x dead_after heartbeats after the preferred one could stand). */
static void
test_startup_preferred_late(void **st)
{
	(void)st;
	for (uint64_t seed = 20; seed < 40; seed++) {
		world_init(seed, true);
		kill_dp(A);
		S.n[A].dp_back_at = 300 * MS + rnd() % (10 * MS);
		run_until(1000 * MS);
		assert_int_equal(role(A), WHA_PRIMARY);
		assert_int_equal(role(B), WHA_STANDBY);
		teardown_world();
	}
}

static void
test_dataplane_death(void **st)
{
	(void)st;
	world_init(2, true);
	run_until(200 * MS);
	assert_int_equal(role(A), WHA_PRIMARY);
	uint64_t t0 = S.now;
	kill_dp(A);
	uint64_t t = t0;
	while (!emitting(B) && t < t0 + 100 * MS) {
		t += 100 * US;
		run_until(t);
	}
	assert_true(emitting(B));
	/* two one-way network delays at most (0.32 ms each) */
	assert_true(S.now - t0 <= 1 * MS);
	assert_int_equal(role(A), WHA_STANDBY);
	/* a's dataplane comes back: a stays standby (never preempts) */
	run_until(S.now + 500 * MS);
	assert_int_equal(role(A), WHA_STANDBY);
	assert_int_equal(role(B), WHA_PRIMARY);
	teardown_world();
}

static uint64_t
time_to_b_primary(uint64_t limit)
{
	uint64_t t0 = S.now, t = t0;
	while (!emitting(B) && t < t0 + limit) {
		t += 100 * US;
		run_until(t);
	}
	return emitting(B) ? S.now - t0 : UINT64_MAX;
}

static void
test_isolation_of_primary(void **st)
{
	(void)st;
	world_init(3, true);
	run_until(2100 * MS);   /* past the start-up grace for fencing */
	set_node_links(A, false);
	uint64_t dt = time_to_b_primary(200 * MS);
	assert_true(dt != UINT64_MAX);
	/* detection within heartbeat x dead_after, then one round trip to the witness */
	assert_true(dt <= HB * DEAD + 1 * MS);
	run_until(S.now + 100 * MS);
	assert_int_equal(role(A), WHA_FENCED);
	set_node_links(A, true);
	run_until(S.now + 200 * MS);
	assert_int_equal(role(A), WHA_STANDBY);
	assert_int_equal(role(B), WHA_PRIMARY);
	teardown_world();
}

static void
test_peer_link_cut_witness_up(void **st)
{
	(void)st;
	world_init(4, true);
	run_until(200 * MS);
	S.link[A][B] = S.link[B][A] = false;
	for (int k = 0; k < 20; k++) {
		run_until(S.now + 50 * MS);
		assert_int_equal(role(A), WHA_PRIMARY);
		assert_int_equal(role(B), WHA_STANDBY);
		assert_true(emitting(A));
	}
	S.link[A][B] = S.link[B][A] = true;
	run_until(S.now + 200 * MS);
	assert_int_equal(role(A), WHA_PRIMARY);
	assert_int_equal(role(B), WHA_STANDBY);
	teardown_world();
}

static void
test_standby_isolated_fences(void **st)
{
	(void)st;
	world_init(5, true);
	run_until(2100 * MS);   /* past the start-up grace for fencing */
	set_node_links(B, false);
	run_until(S.now + 100 * MS);
	assert_int_equal(role(B), WHA_FENCED);
	assert_int_equal(role(A), WHA_PRIMARY);
	assert_true(emitting(A));
	teardown_world();
}

static void
test_one_way_loss(void **st)
{
	(void)st;
	/* a -> b lost: b cannot hear the primary, the witness keeps it primary */
	world_init(6, true);
	run_until(200 * MS);
	S.link[A][B] = false;
	run_until(S.now + 500 * MS);
	assert_int_equal(role(A), WHA_PRIMARY);
	assert_true(emitting(A));
	assert_false(emitting(B));
	/* heal while b stands for newer terms: the primary must not vote for them */
	S.link[A][B] = true;
	run_until(S.now + 200 * MS);
	assert_int_equal(role(A), WHA_PRIMARY);
	assert_int_equal(role(B), WHA_STANDBY);
	/* b -> a lost */
	S.link[B][A] = false;
	run_until(S.now + 500 * MS);
	assert_int_equal(role(A), WHA_PRIMARY);
	assert_false(emitting(B));
	teardown_world();
}

static void
test_pause_primary(void **st)
{
	(void)st;
	world_init(7, true);
	run_until(200 * MS);
	S.n[A].paused = true;           /* SIGSTOP past the deadline */
	uint64_t dt = time_to_b_primary(200 * MS);
	assert_true(dt != UINT64_MAX);
	run_until(S.now + 50 * MS);
	S.n[A].paused = false;          /* SIGCONT: must not emit */
	for (int k = 0; k < 100; k++) {
		run_until(S.now + 1 * MS);
		assert_false(emitting(A));
	}
	assert_int_equal(role(A), WHA_STANDBY);
	teardown_world();
}

static void
test_control_death(void **st)
{
	(void)st;
	world_init(8, true);
	run_until(200 * MS);
	node_kill_control(A);
	uint64_t dt = time_to_b_primary(200 * MS);
	assert_true(dt != UINT64_MAX && dt <= HB * DEAD + 1 * MS);
	node_start(A, true);            /* respawned: rejoins as standby */
	run_until(S.now + 300 * MS);
	assert_int_equal(role(A), WHA_STANDBY);
	assert_int_equal(role(B), WHA_PRIMARY);
	teardown_world();
}

static void
test_planned_failover_and_failback(void **st)
{
	char why[128];
	(void)st;
	world_init(9, true);
	run_until(200 * MS);
	assert_int_equal(ha_action(S.n[A].h, S.now, HA_ACT_FAILBACK, why, sizeof(why)), -1);
	assert_int_equal(ha_action(S.n[A].h, S.now, HA_ACT_FAILOVER, why, sizeof(why)), 0);
	run_until(S.now + 20 * MS);
	assert_int_equal(role(B), WHA_PRIMARY);
	assert_int_equal(role(A), WHA_STANDBY);
	/* failback asked at the standby: forwarded to the primary */
	assert_int_equal(ha_action(S.n[A].h, S.now, HA_ACT_FAILBACK, why, sizeof(why)), 0);
	run_until(S.now + 20 * MS);
	assert_int_equal(role(A), WHA_PRIMARY);
	assert_int_equal(role(B), WHA_STANDBY);
	teardown_world();
}

static void
test_auto_failback(void **st)
{
	(void)st;
	world_init(10, true);
	/* turn auto failback on for b (the primary-to-be) */
	ha_destroy(S.n[B].h);
	{
		struct node *n = &S.n[B];
		struct ha_params p = { .priority = 100, .hb_ns = HB, .dead_after = DEAD, .witness = true,
				       .failback_auto = true, .hold_down_ns = 300 * MS, .fingerprint = 42,
				       .nworkers = NW };
		struct ha_io io = { .ctx = n, .send = io_send, .persist = io_persist, .handover = io_handover,
				    .log = io_log };
		snprintf(p.node, sizeof(p.node), "b");
		n->h = ha_create(&p, &io, n->term, n->voted, n->boot, S.now);
	}
	run_until(200 * MS);
	kill_dp(A);
	run_until(S.now + 20 * MS);
	assert_int_equal(role(B), WHA_PRIMARY);
	run_until(S.now + 200 * MS);    /* a healthy again, hold_down not over */
	assert_int_equal(role(B), WHA_PRIMARY);
	run_until(S.now + 400 * MS);
	assert_int_equal(role(A), WHA_PRIMARY);
	assert_int_equal(role(B), WHA_STANDBY);
	teardown_world();
}

/* A planned switchover only goes to a standby whose results were compared equal with
 * the primary's: not to one that diverged or is resyncing (asked at either node),
 * and automatic failback waits for it too. */
static void
test_switchover_needs_sync(void **st)
{
	char why[160];
	(void)st;
	world_init(21, true);
	run_until(200 * MS);
	assert_int_equal(role(A), WHA_PRIMARY);
	for (unsigned bad = 2; bad <= 3; bad++) {
		S.n[B].sync = bad;
		run_until(S.now + 10 * MS);     /* its heartbeats carry it */
		assert_int_equal(ha_action(S.n[A].h, S.now, HA_ACT_FAILOVER, why, sizeof(why)), -1);
		assert_non_null(strstr(why, bad == 2 ? "diverged" : "being resynced"));
		assert_int_equal(ha_action(S.n[B].h, S.now, HA_ACT_FAILOVER, why, sizeof(why)), -1);
		assert_non_null(strstr(why, "this node's results"));
		run_until(S.now + 20 * MS);
		assert_int_equal(role(A), WHA_PRIMARY);
	}
	S.n[B].sync = 1;
	run_until(S.now + 10 * MS);
	assert_int_equal(ha_action(S.n[A].h, S.now, HA_ACT_FAILOVER, why, sizeof(why)), 0);
	run_until(S.now + 20 * MS);
	assert_int_equal(role(B), WHA_PRIMARY);
	/* auto failback to a resyncing a waits until a is in sync */
	ha_set_failback(S.n[B].h, true, 100 * MS);
	S.n[A].sync = 3;
	run_until(S.now + 400 * MS);
	assert_int_equal(role(B), WHA_PRIMARY);
	S.n[A].sync = 1;
	run_until(S.now + 300 * MS);
	assert_int_equal(role(A), WHA_PRIMARY);
	assert_int_equal(role(B), WHA_STANDBY);
	teardown_world();
}

static void
test_no_witness_pair(void **st)
{
	(void)st;
	/* without a witness the pair still elects with each other's vote, and a node
	 * that loses its peer never promotes on its own */
	world_init(11, false);
	run_until(2100 * MS);   /* past the start-up grace for fencing */
	assert_int_equal(role(A), WHA_PRIMARY);
	S.link[A][B] = S.link[B][A] = false;
	run_until(S.now + 300 * MS);
	assert_false(emitting(B));
	assert_int_equal(role(B), WHA_FENCED);
	teardown_world();
}

/* A voter must not stand while the node it voted for may still hold the lease the
 * vote gave it: b wins with a's vote (b cannot reach the witness), then a stops
 * hearing b and its dataplane comes back.  a may only stand once b's lease is over. */
static void
test_voter_keeps_its_promise(void **st)
{
	(void)st;
	world_init(12, true);
	S.link[B][W] = S.link[W][B] = false;
	kill_dp(A);
	S.n[A].dp_back_at = UINT64_MAX - 1;
	/* the moment a has voted, a stops hearing b (so it never sees b as primary) */
	while (strcmp(S.n[A].voted, "b") && S.now < 6000 * MS)
		run_until(S.now + 10 * US);
	assert_string_equal(S.n[A].voted, "b");
	S.link[B][A] = false;
	uint64_t dt = time_to_b_primary(5 * MS);
	assert_true(dt != UINT64_MAX);
	S.n[A].dp_back_at = S.now + 1;
	run_until(S.now + 300 * MS);            /* safety is checked at every event */
	assert_int_equal(role(A), WHA_PRIMARY);
	assert_false(emitting(B));
	teardown_world();
}

/* Random faults, thousands of them: safety at every instant, recovery at the end. */
static void
test_random_faults(void **st)
{
	(void)st;
	unsigned runs = getenv("HA_RUNS") ? (unsigned)atoi(getenv("HA_RUNS")) : 60;

	for (unsigned r = 0; r < runs; r++) {
		world_init(1000 + r, true);
		run_until(200 * MS);
		for (int f = 0; f < 40; f++) {
			int victim = (int)(rnd() % 2);
			switch (rnd() % 10) {
			case 0: kill_dp(victim); break;
			case 1:
				node_kill_control(victim);
				break;
			case 2:
				if (!S.n[victim].control_up)
					node_start(victim, true);
				break;
			case 3: set_node_links(victim, false); break;
			case 4: S.link[A][B] = S.link[B][A] = false; break;
			case 5: S.link[rnd() % 3][rnd() % 3] = false; break;
			case 6: S.n[victim].paused = !S.n[victim].paused; break;
			case 7: S.wit_up = !S.wit_up; break;
			case 8: {
				char why[128];
				if (S.n[victim].control_up && !S.n[victim].paused)
					ha_action(S.n[victim].h, S.now, rnd() % 2 ? HA_ACT_FAILOVER : HA_ACT_FAILBACK, why,
						  sizeof(why));
				break;
			}
			default: heal(); break;
			}
			run_until(S.now + rnd() % (60 * MS));
		}
		heal();
		for (int i = 0; i < 2; i++)
			if (!S.n[i].dp_ok)
				S.n[i].dp_back_at = S.now + 1;
		run_until(S.now + 1000 * MS);
		int np = (role(A) == WHA_PRIMARY) + (role(B) == WHA_PRIMARY);
		if (np != 1 || !(emitting(A) ^ emitting(B))) {
			printf("seed %u: after healing: roles %s/%s emitting %d/%d\n", 1000 + r, wha_role_name(role(A)),
			       wha_role_name(role(B)), emitting(A), emitting(B));
			dump_log();
			fail();
		}
		teardown_world();
	}
}

/* ---- the message format ------------------------------------------------------------- */

static void
test_msg_roundtrip_forgery_replay(void **st)
{
	struct wha_msg m = { .type = WHA_HB, .role = WHA_PRIMARY, .nworkers = 3, .flags = WHA_F_ACK,
			     .boot = 5, .seq = 9, .term = 77, .want = 1, .vote_term = 2, .ack_term = 3,
			     .echo_boot = 4, .echo_seq = 5, .lease_ns = 6, .fingerprint = 7, .epoch = 8,
			     .req = 9, .snap_req = 13, .ship_port = 7000, .priority = -3, .emitted = { 10, 11, 12 },
			     .digest = { 0xfeedfacecafebeefull, 1, 0x8000000000000000ull } }, o;
	uint8_t buf[WHA_DGRAM_MAX];
	(void)st;

	snprintf(m.node, sizeof(m.node), "node-a");
	snprintf(m.holder, sizeof(m.holder), "node-b");
	size_t len = wha_pack(&m, KEY, sizeof(KEY) - 1, buf, sizeof(buf));
	assert_int_equal(wha_unpack(buf, len, KEY, sizeof(KEY) - 1, &o), WHA_OK);
	assert_memory_equal(&m, &o, offsetof(struct wha_msg, emitted) + 3 * sizeof(uint64_t));
	assert_memory_equal(m.digest, o.digest, 3 * sizeof(uint64_t));
	/* every single bit flip is caught */
	for (size_t i = 0; i < len * 8; i++) {
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_not_equal(wha_unpack(buf, len, KEY, sizeof(KEY) - 1, &o), WHA_OK);
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	/* the wrong key, and every truncation */
	assert_int_equal(wha_unpack(buf, len, (const uint8_t *)"another-secret-key!!", 20, &o), WHA_BAD_MAC);
	for (size_t l = 0; l < len; l++)
		assert_int_not_equal(wha_unpack(buf, l, KEY, sizeof(KEY) - 1, &o), WHA_OK);
	/* replay: the same (boot, seq) twice, an older seq, an older boot */
	struct wha_replay rp = { 0, 0 };
	assert_true(wha_replay_accept(&rp, &m));
	assert_false(wha_replay_accept(&rp, &m));
	m.seq = 8;
	assert_false(wha_replay_accept(&rp, &m));
	m.seq = 10;
	assert_true(wha_replay_accept(&rp, &m));
	m.boot = 4;
	m.seq = 1000;
	assert_false(wha_replay_accept(&rp, &m));
	m.boot = 6;
	m.seq = 1;
	assert_true(wha_replay_accept(&rp, &m));      /* a restart */
}

/* Random datagrams never unpack (and never crash). */
static void
test_msg_garbage(void **st)
{
	uint8_t buf[WHA_DGRAM_MAX];
	struct wha_msg o;
	(void)st;

	S.seed = 99;
	for (int i = 0; i < 20000; i++) {
		size_t len = rnd() % sizeof(buf);
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rnd();
		if (len >= 4 && (rnd() & 1))
			memcpy(buf, "WHB2", 4);
		assert_int_not_equal(wha_unpack(buf, len, KEY, sizeof(KEY) - 1, &o), WHA_OK);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_roundtrip_forgery_replay),
		cmocka_unit_test(test_msg_garbage),
		cmocka_unit_test(test_startup_preferred),
		cmocka_unit_test(test_startup_preferred_late),
		cmocka_unit_test(test_dataplane_death),
		cmocka_unit_test(test_isolation_of_primary),
		cmocka_unit_test(test_peer_link_cut_witness_up),
		cmocka_unit_test(test_standby_isolated_fences),
		cmocka_unit_test(test_one_way_loss),
		cmocka_unit_test(test_switchover_needs_sync),
		cmocka_unit_test(test_pause_primary),
		cmocka_unit_test(test_control_death),
		cmocka_unit_test(test_planned_failover_and_failback),
		cmocka_unit_test(test_auto_failback),
		cmocka_unit_test(test_no_witness_pair),
		cmocka_unit_test(test_voter_keeps_its_promise),
		cmocka_unit_test(test_random_faults),
	};
	if (getenv("WEIR_TEST_FILTER"))
		cmocka_set_test_filter(getenv("WEIR_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
