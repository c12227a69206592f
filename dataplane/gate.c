/* SPDX-License-Identifier: Apache-2.0
 * The HA gate, dataplane side (see hagate.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "gate.h"

struct stream {
	uint8_t *buf;                   /* shadow: a ring of results */
	uint64_t *dg;                   /* ... and the stream's digest after each */
	uint32_t head, n;
	uint64_t first;                 /* seq of the result at head */
	uint64_t seq;                   /* results produced so far (the last one's seq) */
	uint64_t written;               /* the last seq written by us */
	uint64_t peer;                  /* the last seq the primary reported written */
	uint64_t closed_at;             /* handover: stopped at this barrier (seq), 0 open */
	uint64_t dig;                   /* digest after result `seq` */
	uint64_t wdig;                  /* ... after `written` */
	uint64_t pdig;                  /* the primary's after `peer` (0: unknown) */
	uint64_t pend_pos, pend_dig;    /* a primary's digest for a result not produced yet */
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
	uint64_t adopt, adopt_epoch;    /* asked to adopt (enum weir_adopt), 0 none */
	uint64_t last_set;              /* CLOCK_MONOTONIC ns of the last lease command (0 none) */
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
		g->s[w].dg = malloc((size_t)shadow * sizeof(uint64_t));
		if (!g->s[w].buf || !g->s[w].dg) {
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
	for (unsigned w = 0; w < g->nw; w++) {
		free(g->s[w].buf);
		free(g->s[w].dg);
	}
	if (g->locked)
		pthread_mutex_unlock(&g->shm->alive);
	if (g->shm)
		munmap(g->shm, sizeof(*g->shm));
	free(g);
}

/* The digest of a stream after result r, given the one before: every field but the
 * padding (it is not initialised). */
uint64_t
weir_result_digest(uint64_t prev, const struct weir_result *r)
{
	uint64_t h = XXH3_64bits_withSeed(r, offsetof(struct weir_result, pad), prev);
	return XXH3_64bits_withSeed(&r->key, WEIR_RESULT_SIZE(r->naggs) - offsetof(struct weir_result, key), h);
}

static void publish(struct weir_gate *g);

/* What the pair has written of a stream: ours, or further the primary's (what a node
 * that takes over from us must not write again); and the stream's digest there. */
static inline uint64_t
pair_position(const struct stream *s, uint64_t *dig)
{
	bool own = s->written >= s->peer;
	*dig = own ? s->wdig : s->pdig;
	return own ? s->written : s->peer;
}

void
weir_gate_set_seq(struct weir_gate *g, const uint64_t *seq, const uint64_t *dig, unsigned nw)
{
	for (unsigned w = 0; w < nw && w < g->nw; w++) {
		g->s[w].seq = g->s[w].written = seq[w];
		g->s[w].dig = g->s[w].wdig = dig ? dig[w] : 0;
		g->s[w].first = seq[w] + 1;
		__atomic_store_n(&g->shm->produced[w], seq[w], __ATOMIC_RELAXED);
	}
	publish(g);
}

uint64_t
weir_gate_seq(const struct weir_gate *g, unsigned w)
{
	return w < g->nw ? g->s[w].seq : 0;
}

uint64_t
weir_gate_digest(const struct weir_gate *g, unsigned w)
{
	return w < g->nw ? g->s[w].dig : 0;
}

void
weir_gate_set_sync(struct weir_gate *g, enum weir_sync st)
{
	__atomic_store_n(&g->shm->sync, (uint64_t)st, __ATOMIC_RELEASE);
}

/* The primary's digest d after result pos against ours (mine). */
static void
check(struct weir_gate *g, unsigned w, uint64_t pos, uint64_t d, uint64_t mine)
{
	struct weir_gate_shm *m = g->shm;

	if (d == mine) {
		m->checks_ok++;
		if (m->sync == WEIR_SYNC_UNKNOWN)
			__atomic_store_n(&m->sync, WEIR_SYNC_OK, __ATOMIC_RELEASE);
		return;
	}
	if (m->sync != WEIR_SYNC_DIVERGED) {
		m->diverged_w = w;
		m->diverged_at = pos;
		fprintf(stderr, "weir: HA: stream %u differs from the primary's at result %" PRIu64
			": this node is out of sync\n", w, pos);
		__atomic_store_n(&m->sync, WEIR_SYNC_DIVERGED, __ATOMIC_RELEASE);
	}
	m->diverged++;
}

/* The primary reports digest d after its result pos of stream w. */
static void
peer_digest(struct weir_gate *g, unsigned w, uint64_t pos, uint64_t d)
{
	struct stream *s = &g->s[w];

	if (!d || !pos || g->shm->sync == WEIR_SYNC_RESYNC)
		return;
	if (pos > s->seq) {                     /* not produced yet: when it is */
		if (!s->pend_pos) {
			s->pend_pos = pos;
			s->pend_dig = d;
		}
		return;
	}
	if (pos == s->seq)
		check(g, w, pos, d, s->dig);
	else if (pos >= s->first && pos < s->first + s->n)
		check(g, w, pos, d, s->dg[(s->head + (pos - s->first)) % g->cap]);
	else if (pos == s->written)
		check(g, w, pos, d, s->wdig);
	/* else: ours has gone by (an older report); nothing to compare */
}

/* Publish what is written, after the sinks have it (pairs with control's acquire). */
static void
publish(struct weir_gate *g)
{
	weir_sinks_flush(g->sk);
	/* the pair's positions and digests, as one set (pub_seq) */
	struct weir_gate_shm *m = g->shm;
	__atomic_store_n(&m->pub_seq, m->pub_seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (unsigned w = 0; w < g->nw; w++) {
		uint64_t d, e = pair_position(&g->s[w], &d);
		__atomic_store_n(&m->digest[w], d, __ATOMIC_RELAXED);
		__atomic_store_n(&m->emitted[w], e, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&m->pub_seq, m->pub_seq + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&m->writing, 0, __ATOMIC_RELEASE);
}

static void
write_one(struct weir_gate *g, struct stream *s, const struct weir_result *r, uint64_t seq, uint64_t dig,
	  unsigned w)
{
	struct weir_result_tag tag = { .term = g->term, .worker = w, .seq = seq };
	if (!g->shm->writing)
		__atomic_store_n(&g->shm->writing, 1, __ATOMIC_SEQ_CST);
	weir_sinks_write_tagged(g->sk, r, &tag);
	s->written = seq;
	s->wdig = dig;
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
		write_one(g, s, r, s->first, s->dg[s->head], w);
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
		uint64_t d = s->dig = weir_result_digest(s->dig, r);

		if (seq == s->pend_pos) {
			check(g, w, seq, s->pend_dig, d);
			s->pend_pos = 0;
		}
		if (seq <= s->peer) {           /* the primary wrote it */
			g->shm->skipped++;
			s->first = seq + 1;
			continue;
		}
		if (!s->n && may_write(g, s)) {
			write_one(g, s, r, seq, d, w);
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
		uint32_t at = (s->head + s->n) % g->cap;
		memcpy(s->buf + (size_t)at * g->res_size, r, g->res_size);
		s->dg[at] = d;
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
		a.emitted[w] = pair_position(&g->s[w], &a.digest[w]);
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
	if (c->type == WEIR_GATE_ADOPT) {
		g->adopt = c->adopt;
		g->adopt_epoch = c->adopt_epoch;
		return;
	}
	if (c->type != WEIR_GATE_SET || c->term < g->term)
		return;                 /* a stale command (fencing by term) */
	g->term = c->term;
	__atomic_store_n(&g->emit_until, c->emit_until, __ATOMIC_RELAXED);    /* (weir_gate_status) */
	__atomic_store_n(&g->last_set, mono_ns(), __ATOMIC_RELAXED);
	for (unsigned w = 0; w < g->nw && w < c->nw && w < WEIR_GATE_MAX_W; w++) {
		struct stream *s = &g->s[w];
		peer_digest(g, w, c->peer_emitted[w], c->peer_digest[w]);
		if (c->peer_emitted[w] > s->peer) {
			s->peer = c->peer_emitted[w];
			s->pdig = c->peer_digest[w];
		}
	}
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
		if ((size_t)got == sizeof(c))
			command(g, &c);
	if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		/* the control process is gone: nobody renews the lease any more */
		g->open = false;
		g->gone = true;
		publish(g);
		fprintf(stderr, "weir: HA: the control process is gone: gate shut, stopping\n");
		return -1;
	}
	if (g->adopt) {
		uint64_t how = g->adopt;
		g->adopt = 0;
		/* a restore takes as long as the state is large (10 s for 1 GiB): the sink loop
		 * does not turn meanwhile, and control must not take that for a hang */
		__atomic_store_n(&g->shm->adopting, 1, __ATOMIC_RELEASE);
		if (!g->ops.adopt || g->ops.adopt(g->ops.ctx, (enum weir_adopt)how, g->adopt_epoch))
			g->shm->adopt_failed++;
		__atomic_add_fetch(&g->shm->main_tick, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&g->shm->adopting, 0, __ATOMIC_RELEASE);
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

void
weir_gate_adopted(struct weir_gate *g, uint64_t epoch)
{
	__atomic_store_n(&g->shm->adopted, epoch ? epoch : 1, __ATOMIC_RELEASE);
}

void
weir_gate_set_resync(struct weir_gate *g, uint64_t gaps, uint64_t frames, uint64_t dropped)
{
	struct weir_gate_shm *m = g->shm;

	m->journal_frames = frames;
	m->journal_dropped = dropped;
	if (gaps > m->resync_gaps && m->sync != WEIR_SYNC_DIVERGED) {
		fprintf(stderr, "weir: HA: input that came after the restored snapshot was missed: "
			"this node is out of sync\n");
		__atomic_store_n(&m->sync, WEIR_SYNC_DIVERGED, __ATOMIC_RELEASE);
	}
	m->resync_gaps = gaps;
}

void
weir_gate_status(const struct weir_gate *g, struct weir_gate_status *st)
{
	const struct weir_gate_shm *m = g->shm;
	uint64_t now = mono_ns(), until = __atomic_load_n(&g->emit_until, __ATOMIC_RELAXED);
	uint64_t last = __atomic_load_n(&g->last_set, __ATOMIC_RELAXED);

	st->term = __atomic_load_n(&m->term, __ATOMIC_RELAXED);
	st->gate_open = __atomic_load_n(&m->gate_open, __ATOMIC_RELAXED);
	st->sync = __atomic_load_n(&m->sync, __ATOMIC_RELAXED);
	st->shadow_len = __atomic_load_n(&m->shadow_len, __ATOMIC_RELAXED);
	st->shadow_dropped = __atomic_load_n(&m->shadow_dropped, __ATOMIC_RELAXED);
	st->skipped = __atomic_load_n(&m->skipped, __ATOMIC_RELAXED);
	st->checks_ok = __atomic_load_n(&m->checks_ok, __ATOMIC_RELAXED);
	st->diverged = __atomic_load_n(&m->diverged, __ATOMIC_RELAXED);
	st->adopted = __atomic_load_n(&m->adopted, __ATOMIC_RELAXED);
	st->lease_left_ns = until > now ? (int64_t)(until - now) : 0;
	st->command_age_ns = last ? (int64_t)(now - last) : -1;
}
