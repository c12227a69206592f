/* SPDX-License-Identifier: Apache-2.0
 * The HA gate, dataplane side (see hagate.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gate.h"

struct stream {
	uint8_t *buf;                   /* shadow: a ring of results */
	uint32_t head, n;
	uint64_t first;                 /* seq of the result at head */
	uint64_t seq;                   /* results produced so far (the last one's seq) */
	uint64_t written;               /* the last seq written by us */
	uint64_t peer;                  /* the last seq the primary reported written */
	uint64_t closed_at;             /* handover: stopped at this barrier (seq), 0 open */
	bool closed;
};

struct weir_gate {
	int sock;
	struct weir_gate_shm *shm;
	unsigned nw;
	size_t res_size;
	uint32_t cap;
	struct weir_sinks *sk;
	struct weir_gate_ops ops;
	uint64_t term, emit_until, handover, handed;
	uint64_t close_epoch;           /* handover: close at this epoch's barrier */
	unsigned nclosed;
	bool open;                      /* may write now */
	bool locked;                    /* holds shm->alive */
	bool gone;                      /* control is gone */
	struct stream s[];
};

static uint64_t
mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct weir_gate *
weir_gate_create(int sock, int shm, unsigned nw, size_t res_size, unsigned shadow, struct weir_sinks *sk,
		 const struct weir_gate_ops *ops, char *why, size_t n)
{
	struct weir_gate *g;

	if (nw > WEIR_GATE_MAX_W) {
		snprintf(why, n, "HA supports at most %d workers", WEIR_GATE_MAX_W);
		return NULL;
	}
	g = calloc(1, sizeof(*g) + nw * sizeof(struct stream));
	if (!g) {
		snprintf(why, n, "out of memory");
		return NULL;
	}
	g->sock = sock;
	g->nw = nw;
	g->res_size = res_size;
	g->cap = shadow;
	g->sk = sk;
	g->ops = *ops;
	for (unsigned w = 0; w < nw; w++) {
		g->s[w].buf = malloc((size_t)shadow * res_size);
		if (!g->s[w].buf) {
			snprintf(why, n, "out of memory for the shadow queue (%u results x %zu bytes)", shadow,
				 res_size);
			weir_gate_destroy(g);
			return NULL;
		}
		g->s[w].first = 1;
	}
	if ((g->shm = mmap(NULL, sizeof(struct weir_gate_shm), PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0)) ==
		    MAP_FAILED) {
		snprintf(why, n, "control shared memory: %s", strerror(errno));
		g->shm = NULL;
		weir_gate_destroy(g);
		return NULL;
	}
	/* control initialised the robust mutex in the block; take it for good */
	int rc = pthread_mutex_lock(&g->shm->alive);
	if (rc == EOWNERDEAD)
		rc = pthread_mutex_consistent(&g->shm->alive);
	if (rc) {
		snprintf(why, n, "control shared memory: the liveness lock: %s", strerror(rc));
		weir_gate_destroy(g);
		return NULL;
	}
	g->locked = true;
	__atomic_store_n(&g->shm->alive_held, 1, __ATOMIC_RELEASE);
	g->shm->nw = nw;
	g->shm->pid = (uint32_t)getpid();
	g->shm->version = WEIR_GATE_VERSION;
	__atomic_store_n(&g->shm->magic, WEIR_GATE_MAGIC, __ATOMIC_RELEASE);
	return g;
}

void
weir_gate_destroy(struct weir_gate *g)
{
	if (!g)
		return;
	for (unsigned w = 0; w < g->nw; w++)
		free(g->s[w].buf);
	if (g->locked)
		pthread_mutex_unlock(&g->shm->alive);
	if (g->shm)
		munmap(g->shm, sizeof(*g->shm));
	free(g);
}

void
weir_gate_set_seq(struct weir_gate *g, const uint64_t *seq, unsigned nw)
{
	for (unsigned w = 0; w < nw && w < g->nw; w++) {
		g->s[w].seq = g->s[w].written = seq[w];
		g->s[w].first = seq[w] + 1;
		__atomic_store_n(&g->shm->produced[w], seq[w], __ATOMIC_RELAXED);
		__atomic_store_n(&g->shm->emitted[w], seq[w], __ATOMIC_RELEASE);
	}
}

uint64_t
weir_gate_seq(const struct weir_gate *g, unsigned w)
{
	return w < g->nw ? g->s[w].seq : 0;
}

/* Publish what is written, after the sinks have it (pairs with control's acquire). */
static void
publish(struct weir_gate *g)
{
	weir_sinks_flush(g->sk);
	/* what the pair has written: ours, or further the primary's (what a node that
	 * takes over from us must not write again) */
	for (unsigned w = 0; w < g->nw; w++)
		__atomic_store_n(&g->shm->emitted[w], g->s[w].written > g->s[w].peer ? g->s[w].written : g->s[w].peer,
				 __ATOMIC_RELEASE);
}

static void
write_one(struct weir_gate *g, struct stream *s, const struct weir_result *r, uint64_t seq, unsigned w)
{
	struct weir_result_tag tag = { .term = g->term, .worker = w, .seq = seq };
	weir_sinks_write_tagged(g->sk, r, &tag);
	s->written = seq;
}

/* Drop shadowed results the primary wrote. */
static void
trim(struct weir_gate *g, struct stream *s)
{
	while (s->n && s->first <= s->peer) {
		s->head = (s->head + 1) % g->cap;
		s->n--;
		s->first++;
		g->shm->skipped++;
	}
	if (!s->n)
		s->first = s->seq + 1;
}

static bool
may_write(struct weir_gate *g, const struct stream *s)
{
	return g->open && !s->closed;
}

/* Write the shadow of stream w out (from after what the primary wrote). */
static void
drain(struct weir_gate *g, unsigned w)
{
	struct stream *s = &g->s[w];

	trim(g, s);
	while (s->n && may_write(g, s)) {
		const struct weir_result *r = (const struct weir_result *)(s->buf + (size_t)s->head * g->res_size);
		write_one(g, s, r, s->first, w);
		s->head = (s->head + 1) % g->cap;
		s->n--;
		s->first++;
	}
}

void
weir_gate_results(struct weir_gate *g, unsigned w, const uint8_t *res, unsigned n)
{
	struct stream *s = &g->s[w];
	bool wrote = false;

	if (n && g->open && mono_ns() >= g->emit_until)        /* the lease ran out mid-sweep */
		g->open = false;
	if (s->n)
		drain(g, w);
	for (unsigned i = 0; i < n; i++) {
		const struct weir_result *r = (const struct weir_result *)(res + (size_t)i * g->res_size);
		uint64_t seq = ++s->seq;

		if (seq <= s->peer) {           /* the primary wrote it */
			g->shm->skipped++;
			s->first = seq + 1;
			continue;
		}
		if (!s->n && may_write(g, s)) {
			write_one(g, s, r, seq, w);
			wrote = true;
			continue;
		}
		if (s->n == g->cap) {           /* full: the oldest goes (counted: a possible gap) */
			s->head = (s->head + 1) % g->cap;
			s->n--;
			s->first++;
			g->shm->shadow_dropped++;
		}
		if (!s->n)
			s->first = seq;
		memcpy(s->buf + (size_t)((s->head + s->n) % g->cap) * g->res_size, r, g->res_size);
		s->n++;
	}
	__atomic_store_n(&g->shm->produced[w], s->seq, __ATOMIC_RELAXED);
	/* one burst at most sits in the sinks' buffers (1 MiB, never flushed half by
	 * stdio): flushing here keeps `emitted` exact for a kill -9 */
	if (wrote)
		publish(g);
}

static void
answer_handover(struct weir_gate *g, bool ok, uint64_t epoch)
{
	struct weir_gate_handed a = { .type = WEIR_GATE_HANDED, .ok = ok, .handover = g->handover,
				      .epoch = epoch, .nw = g->nw };

	publish(g);
	weir_sinks_sync(g->sk);
	for (unsigned w = 0; w < g->nw; w++)
		a.emitted[w] = g->s[w].written > g->s[w].peer ? g->s[w].written : g->s[w].peer;
	g->handed = g->handover;
	if (send(g->sock, &a, sizeof(a), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		fprintf(stderr, "weir: HA: cannot answer the handover: %s\n", strerror(errno));
}

void
weir_gate_barrier(struct weir_gate *g, unsigned w, uint64_t e)
{
	struct stream *s = &g->s[w];

	if (!g->handover || g->handed == g->handover || !g->close_epoch || e < g->close_epoch || s->closed)
		return;
	s->closed = true;               /* stream w stops right at the barrier */
	s->closed_at = s->seq;
	if (++g->nclosed == g->nw)
		answer_handover(g, true, e);
}

static void
start_handover(struct weir_gate *g)
{
	g->nclosed = 0;
	for (unsigned w = 0; w < g->nw; w++)
		g->s[w].closed = false;
	if (!g->ops.request_checkpoint) {       /* no checkpoints: stop right here */
		for (unsigned w = 0; w < g->nw; w++)
			g->s[w].closed = true;
		g->nclosed = g->nw;
		g->close_epoch = 0;
		answer_handover(g, true, 0);
		return;
	}
	/* an epoch above the one asked for so far: its barrier is not in yet, so every
	 * worker still has it ahead (poll keeps asking while one is in flight) */
	g->close_epoch = g->ops.requested_epoch(g->ops.ctx) + 1;
	g->ops.request_checkpoint(g->ops.ctx);
}

static void
command(struct weir_gate *g, const struct weir_gate_cmd *c)
{
	if (c->type == WEIR_GATE_CHECKPOINT) {
		if (g->ops.request_checkpoint)
			g->ops.request_checkpoint(g->ops.ctx);
		return;
	}
	if (c->type != WEIR_GATE_SET || c->term < g->term)
		return;                 /* a stale command (fencing by term) */
	g->term = c->term;
	g->emit_until = c->emit_until;
	for (unsigned w = 0; w < g->nw && w < c->nw && w < WEIR_GATE_MAX_W; w++)
		if (c->peer_emitted[w] > g->s[w].peer)
			g->s[w].peer = c->peer_emitted[w];
	if (c->handover != g->handover) {
		g->handover = c->handover;
		if (g->handover)
			start_handover(g);
		else
			for (unsigned w = 0; w < g->nw; w++)
				g->s[w].closed = false;
	}
}

int
weir_gate_poll(struct weir_gate *g)
{
	struct weir_gate_cmd c;
	ssize_t got;

	if (g->gone)
		return -1;
	while ((got = recv(g->sock, &c, sizeof(c), MSG_DONTWAIT)) > 0)
		if ((size_t)got >= offsetof(struct weir_gate_cmd, peer_emitted))
			command(g, &c);
	if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		/* the control process is gone: nobody renews the lease any more */
		g->open = false;
		g->gone = true;
		publish(g);
		fprintf(stderr, "weir: HA: the control process is gone: gate shut, stopping\n");
		return -1;
	}
	/* keep re-asking while a checkpoint was in flight when the handover came */
	if (g->handover && g->handed != g->handover && g->close_epoch && g->ops.requested_epoch(g->ops.ctx) <
	    g->close_epoch)
		g->ops.request_checkpoint(g->ops.ctx);
	g->open = g->emit_until && mono_ns() < g->emit_until;
	uint64_t held = 0;
	for (unsigned w = 0; w < g->nw; w++) {
		drain(g, w);
		held += g->s[w].n;
	}
	publish(g);
	g->shm->shadow_len = held;
	g->shm->gate_open = g->open;
	g->shm->term = g->term;
	if (g->ops.published_epoch)
		__atomic_store_n(&g->shm->epoch, g->ops.published_epoch(g->ops.ctx), __ATOMIC_RELAXED);
	__atomic_store_n(&g->shm->ready, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&g->shm->main_tick, 1, __ATOMIC_RELEASE);
	return 0;
}

void
weir_gate_exit(struct weir_gate *g)
{
	g->open = false;
	publish(g);
	__atomic_store_n(&g->shm->exited, 1, __ATOMIC_RELEASE);
}
