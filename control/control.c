/* SPDX-License-Identifier: Apache-2.0
 * `weir control`: the control process of one node of an HA pair.
 *
 * One thread, one epoll loop: the heartbeat timer, a one-shot timer for the role
 * machine's next deadline, the UDP heartbeat socket (peer and witness), the local
 * dataplane (a watcher thread, its command socket and shared status block), the command socket
 * for `weir status|failover|failback|checkpoint`, and signals (TERM/INT stop, HUP
 * reloads the failback settings).  The role logic is in ha.c; this file is I/O.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "control.h"
#include "ha.h"
#include "hagate.h"
#include "sink.h"
#include "hamsg.h"
#include "stateplane.h"
#include "termstore.h"

#define MAX_CLIENTS   16
#define TIMELINE      64
#define HANG_NS       (3ull * 1000000000ull)   /* a dataplane whose sink loop stalls this long is killed */
#define BACKOFF_MIN   (100ull * 1000000ull)
#define BACKOFF_MAX   (5ull * 1000000000ull)

#define CTL_COUNTERS(X) X(forged) X(replayed) X(malformed) X(reflected) X(send_failed) \
	X(dp_spawned) X(dp_died) X(dp_hung) X(commands) X(resyncs_started) X(resyncs_done) \
	X(snapshots_received) X(snapshots_receive_failed) X(snapshots_shipped) X(snapshots_ship_failed)
#define RESYNC_RETRY  (15ull * 1000000000ull)   /* ask the primary again after this long */
#define RESYNC_STABLE (30ull * 1000000000ull)   /* a resync that held this long was a good one */
#define RESYNC_HOLD_MAX (60ull * 1000000000ull)

enum { EV_TICK = 1, EV_DEADLINE, EV_UDP, EV_REAPED, EV_DPSOCK, EV_LISTEN, EV_SIGNAL, EV_CLIENT, EV_DPDEAD };

struct client {
	int fd;
	size_t len;
	char buf[512];
};

struct child {
	pid_t pid;                      /* 0: not running */
	int pidfd, sock, shmfd;
	struct weir_gate_shm *shm;
	uint64_t started, next_spawn, backoff, restarts;
	uint64_t tick_seen, tick_at;    /* hang detection */
	int last_status;
	/* fast death detection: a thread blocked on the block's robust mutex */
	pthread_t watcher;
	bool watching;
	bool dead;                      /* its sink loop is gone (the process may still be exiting) */
	int deadfd, reapfd;             /* eventfds the watcher signals */
	siginfo_t status;               /* how it ended (the watcher reaped it) */
	bool resync;                    /* started journaling, waiting for a snapshot */
	bool adopt_sent;                /* ... told which one to take */
	uint64_t adopt_failed;          /* its failed adoptions seen */
	bool diverged_seen;             /* its streams differ from the primary's (logged) */
	uint64_t restart_at;            /* restart it then, to resync (0: not planned) */
};

/* Snapshot shipping between the pair's control processes (TCP, stateplane/'s ship,
 * on the heartbeat port): a resyncing standby asks in its heartbeats; the primary
 * has its dataplane take a checkpoint and sends it; the standby's dataplane adopts
 * it and replays the input it journaled meanwhile. */
struct shipping {
	/* standby: receiving */
	int lfd;
	uint16_t port;
	pthread_t rthr;
	uint64_t received;              /* atomic: newest epoch received (thread -> loop) */
	uint64_t recv_failed;           /* atomic */
	uint64_t req, asked_at;         /* our outstanding request */
	uint64_t nreq;                  /* requests made (ids are unique per incarnation) */
	uint64_t resynced_at;           /* the last resync completed (0: none) */
	unsigned streak;                /* resyncs that diverged again soon after */
	/* primary: sending */
	uint64_t req_seen;              /* the newest request acted on */
	uint16_t to_port;
	uint64_t after;                 /* ship the first checkpoint newer than this */
	bool pending;
	pthread_t sthr;
	bool sthr_on;
	uint64_t epoch;                 /* being sent */
	int done;                       /* atomic: 0 running, 1 ok, -1 failed */
	char err[256];
};

struct ctl {
	const struct weir_config *cfg;
	char cfg_path[WEIR_PATH_MAX];
	const char *exe;
	uint8_t key[WHA_SECRET_MAX + 1];
	size_t keylen;
	int udp, wudp, tfd, dfd, sfd, lfd, ep;   /* wudp: to the witness (its own route and source) */
	struct sockaddr_storage peer, wit;
	socklen_t peerlen, witlen;
	bool has_witness;
	struct termstore ts;
	struct ha *ha;
	uint64_t boot;
	unsigned nw;
	uint64_t fingerprint;
	struct child dp;
	struct wha_replay rp_peer, rp_wit;
	struct client cl[MAX_CLIENTS];
	struct {
#define X(n) uint64_t n;
		CTL_COUNTERS(X)
#undef X
	} c;
	struct {
		uint64_t real;
		char line[240];
	} tl[TIMELINE];
	unsigned ntl;
	bool stopping;
	struct shipping sh;
	char peer_host[WEIR_NAME_MAX];
	bool state;                     /* [state] configured: snapshots to resync from */
};

static uint64_t
clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
#define mono_ns() clock_ns(CLOCK_MONOTONIC)
#define real_ns() clock_ns(CLOCK_REALTIME)

/* "2026-11-25T18:50:01.123456Z" */
static void
stamp(uint64_t real, char *b, size_t n)
{
	time_t s = (time_t)(real / 1000000000ull);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t l = strftime(b, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(b + l, n - l, ".%06uZ", (unsigned)(real % 1000000000ull / 1000));
}

static void
say(struct ctl *x, const char *line)
{
	char ts[40];
	uint64_t r = real_ns();

	stamp(r, ts, sizeof(ts));
	fprintf(stderr, "%s weir-control[%s]: %s\n", ts, x->cfg->ha_node, line);
	fflush(stderr);
	x->tl[x->ntl % TIMELINE].real = r;
	snprintf(x->tl[x->ntl % TIMELINE].line, sizeof(x->tl[0].line), "%s", line);
	x->ntl++;
}

static void
sayf(struct ctl *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static void
sayf(struct ctl *x, const char *fmt, ...)
{
	char line[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	say(x, line);
}

/* ---- the pair's fingerprint: what must match for the result streams to match -------- */

static void
fnv_add(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		*h = (*h ^ b[i]) * 0x100000001b3ull;
}

static uint64_t
pair_fingerprint(const struct weir_config *cfg)
{
	uint64_t h = 0xcbf29ce484222325ull;

	fnv_add(&h, &cfg->rx_cores, sizeof(cfg->rx_cores));
	fnv_add(&h, &cfg->workers, sizeof(cfg->workers));
	for (int s = 0; s < cfg->nsources; s++) {
		const struct weir_source_cfg *c = &cfg->sources[s];
		fnv_add(&h, c->name, strlen(c->name) + 1);
		fnv_add(&h, &c->format, sizeof(c->format));
		fnv_add(&h, c->udp_ports, sizeof(c->udp_ports[0]) * (size_t)c->nports);
		fnv_add(&h, &c->schema_id, sizeof(c->schema_id));
		fnv_add(&h, &c->nfields, sizeof(c->nfields));
		for (int f = 0; f < c->nfields; f++) {
			fnv_add(&h, c->field_name[f], strlen(c->field_name[f]) + 1);
			fnv_add(&h, &c->field_type[f], 1);
		}
		fnv_add(&h, &c->watermark_delay, sizeof(c->watermark_delay));
		fnv_add(&h, &c->idle_timeout, sizeof(c->idle_timeout));
	}
	for (int q = 0; q < cfg->nqueries; q++) {
		const struct weir_query_cfg *c = &cfg->queries[q];
		fnv_add(&h, c->name, strlen(c->name) + 1);
		fnv_add(&h, &c->source, sizeof(c->source));
		fnv_add(&h, &c->window, sizeof(c->window));
		fnv_add(&h, &c->size, sizeof(c->size));
		fnv_add(&h, &c->slide, sizeof(c->slide));
		fnv_add(&h, &c->lateness, sizeof(c->lateness));
		for (int a = 0; a < c->naggs; a++) {
			fnv_add(&h, &c->aggs[a].fn, 1);
			fnv_add(&h, &c->aggs[a].field, 1);
		}
	}
	return h;
}

/* ---- role machine I/O ------------------------------------------------------------------ */

static void
io_send(void *ctx, enum ha_to to, const struct wha_msg *m)
{
	struct ctl *x = ctx;
	uint8_t buf[WHA_DGRAM_MAX];
	size_t len = wha_pack(m, x->key, x->keylen, buf, sizeof(buf));
	const struct sockaddr_storage *a = to == HA_TO_PEER ? &x->peer : &x->wit;
	socklen_t al = to == HA_TO_PEER ? x->peerlen : x->witlen;

	if (to == HA_TO_WITNESS && !x->has_witness)
		return;
	if (sendto(to == HA_TO_PEER ? x->udp : x->wudp, buf, len, MSG_DONTWAIT, (const struct sockaddr *)a, al) < 0)
		x->c.send_failed++;     /* a down link: the silence is the signal */
}

static int
io_persist(void *ctx, uint64_t term, const char *voted)
{
	struct ctl *x = ctx;
	return termstore_put(&x->ts, term, voted);
}

static void
io_handover(void *ctx, uint64_t req)
{
	(void)ctx;
	(void)req;      /* the next gate command carries it (ha_gate) */
}

static void
io_log(void *ctx, uint64_t now, const char *line)
{
	(void)now;
	say(ctx, line);
}

/* ---- the dataplane ---------------------------------------------------------------------- */

static void ship_poll(struct ctl *x, uint64_t now);
static void resync_poll(struct ctl *x, uint64_t now);
static void ship_request(struct ctl *x, uint64_t now, const struct wha_msg *m);

/* One command to the running dataplane: 0, or -1 (errno set). */
static int
dp_command(struct ctl *x, const struct weir_gate_cmd *c)
{
	if (!x->dp.pid || x->dp.dead || x->dp.sock < 0) {
		errno = ESRCH;
		return -1;
	}
	return send(x->dp.sock, c, sizeof(*c), MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static void
push_gate(struct ctl *x, uint64_t now)
{
	struct ha_gate g;
	struct weir_gate_cmd c = { .type = WEIR_GATE_SET };

	if (!x->dp.pid || x->dp.dead || x->dp.sock < 0)
		return;
	ha_gate(x->ha, now, &g);
	c.nw = g.nw;
	c.term = g.term;
	c.emit_until = g.emit_until;
	c.handover = g.handover;
	memcpy(c.peer_emitted, g.peer_emitted, sizeof(uint64_t) * g.nw);
	memcpy(c.peer_digest, g.peer_digest, sizeof(uint64_t) * g.nw);
	if (dp_command(x, &c) < 0 && errno != EAGAIN)
		x->c.send_failed++;
}

/* What the dataplane wrote per stream, its digests there, its sync state and newest
 * checkpoint: into the role machine (digests and sync first). */
static void
dp_counts(struct ctl *x, uint64_t *emitted, uint64_t *epoch)
{
	uint64_t dig[WHA_MAX_WORKERS];
	const struct weir_gate_shm *m = x->dp.shm;

	/* a consistent set of (emitted, digest) pairs: under the block's sequence count
	 * (a dataplane killed mid-publish leaves it odd: then the last reads stand) */
	for (int tries = 0; tries < 1000; tries++) {
		uint64_t s0 = m ? __atomic_load_n(&m->pub_seq, __ATOMIC_ACQUIRE) : 0;
		for (unsigned w = 0; w < x->nw; w++) {
			emitted[w] = m ? __atomic_load_n(&m->emitted[w], __ATOMIC_RELAXED) : 0;
			dig[w] = m ? __atomic_load_n(&m->digest[w], __ATOMIC_RELAXED) : 0;
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!m || ((s0 & 1) == 0 && __atomic_load_n(&m->pub_seq, __ATOMIC_RELAXED) == s0))
			break;
	}
	*epoch = m ? __atomic_load_n(&m->epoch, __ATOMIC_RELAXED) : 0;
	if (m)
		ha_dataplane_sync(x->ha, dig, x->nw, (unsigned)__atomic_load_n(&m->sync, __ATOMIC_ACQUIRE));
}

static int
ep_add(struct ctl *x, int fd, uint32_t kind, uint32_t idx)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)kind << 32 | idx };
	return epoll_ctl(x->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* One thread per dataplane: it learns of the death first from the liveness lock
 * (signals deadfd), then reaps the process (signals reapfd).  Reaping runs here and
 * not in the event loop because waitid() on a dying DPDK process was measured to
 * block for up to a second (WNOHANG or not) while the kernel tears its memory
 * down, long after its pidfd turned readable. */
static void *
dp_watch(void *arg)
{
	struct child *c = arg;
	uint64_t one = 1;
	struct pollfd pf = { .fd = c->pidfd, .events = POLLIN };

	/* until the dataplane holds the lock (or exits before it gets there) */
	while (!__atomic_load_n(&c->shm->alive_held, __ATOMIC_ACQUIRE))
		if (poll(&pf, 1, 1) > 0)
			break;
	if (__atomic_load_n(&c->shm->alive_held, __ATOMIC_ACQUIRE)) {
		int rc = pthread_mutex_lock(&c->shm->alive);
		if (rc == EOWNERDEAD)
			pthread_mutex_consistent(&c->shm->alive);
		if (rc == 0 || rc == EOWNERDEAD)
			pthread_mutex_unlock(&c->shm->alive);
	}
	if (write(c->deadfd, &one, sizeof(one)) < 0)
		return NULL;
	siginfo_t si = { 0 };
	while (waitid(P_PID, (id_t)c->pid, &si, WEXITED) < 0 && errno == EINTR)
		;
	c->status = si;
	if (write(c->reapfd, &one, sizeof(one)) < 0)
		return NULL;
	return NULL;
}

static int
shm_init(struct weir_gate_shm *m)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	int rc = pthread_mutex_init(&m->alive, &a);
	pthread_mutexattr_destroy(&a);
	return rc;
}

static void
dp_spawn(struct ctl *x, uint64_t now)
{
	int sv[2], shm;
	char a_sock[16], a_shm[16];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		sayf(x, "cannot start the dataplane: socketpair: %s", strerror(errno));
		goto retry;
	}
	shm = memfd_create("weir-gate", MFD_CLOEXEC);
	struct weir_gate_shm *m = MAP_FAILED;
	if (shm < 0 || ftruncate(shm, sizeof(struct weir_gate_shm)) < 0 ||
	    (m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0)) == MAP_FAILED || shm_init(m)) {
		sayf(x, "cannot start the dataplane: shared block: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		if (m != MAP_FAILED)
			munmap(m, sizeof(*m));
		if (shm >= 0)
			close(shm);
		goto retry;
	}
	/* a dataplane starting while the peer is a running primary cannot have seen the
	 * input the peer's state holds: it journals until it has the primary's snapshot */
	struct ha_status st;
	ha_get_status(x->ha, now, &st);
	bool resync = x->state && st.role != WHA_PRIMARY && st.peer_alive && st.peer_role == WHA_PRIMARY &&
		      st.peer_dp_ok;
	pid_t pid = fork();
	if (pid == 0) {
		/* the child keeps exactly these two across exec */
		fcntl(sv[1], F_SETFD, 0);
		fcntl(shm, F_SETFD, 0);
		snprintf(a_sock, sizeof(a_sock), "%d", sv[1]);
		snprintf(a_shm, sizeof(a_shm), "%d", shm);
		char *argv[] = { (char *)x->exe, "run", x->cfg_path, "--no-progress", "--control-fd", a_sock,
				 "--control-shm", a_shm, resync ? "--resync" : NULL, NULL };
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(x->exe, argv);
		fprintf(stderr, "weir-control: exec %s: %s\n", x->exe, strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	if (pid < 0) {
		sayf(x, "cannot start the dataplane: fork: %s", strerror(errno));
		close(sv[0]);
		munmap(m, sizeof(*m));
		close(shm);
		goto retry;
	}
	x->dp.pid = pid;
	x->dp.sock = sv[0];
	x->dp.shmfd = shm;
	x->dp.shm = m;
	x->dp.dead = false;
	x->dp.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	x->dp.watching = pthread_create(&x->dp.watcher, NULL, dp_watch, &x->dp) == 0;
	if (!x->dp.watching)
		sayf(x, "warning: no watcher thread (%s): dataplane deaths go unnoticed", strerror(errno));
	x->dp.started = now;
	x->dp.resync = resync;
	x->dp.adopt_sent = false;
	x->dp.adopt_failed = 0;
	x->dp.diverged_seen = false;
	x->dp.restart_at = 0;
	if (resync) {
		x->c.resyncs_started++;
		x->sh.req = 0;
		x->sh.asked_at = 0;
	}
	x->dp.tick_seen = 0;
	x->dp.tick_at = now;
	x->c.dp_spawned++;
	ep_add(x, x->dp.sock, EV_DPSOCK, 0);
	sayf(x, "dataplane started (pid %d)%s", (int)pid,
	     resync ? ": resync, journaling input until the primary's snapshot is here" : "");
	return;
retry:
	x->dp.next_spawn = now + BACKOFF_MAX;
}

/* The dataplane died between handing results to its sinks and publishing their
 * positions: some may be in the files already (a write(2) cut short by kill -9 keeps
 * what it copied).  Their whole lines count as written (the respawned dataplane cuts
 * a torn last one), so that the peer goes on after them.  Results to UDP sinks or
 * stdout in that burst cannot be read back: they may be sent twice (same seq). */
static void
sink_tails(struct ctl *x, uint64_t *emitted)
{
	uint64_t before[WHA_MAX_WORKERS];
	unsigned more = 0;

	memcpy(before, emitted, sizeof(uint64_t) * x->nw);
	for (int q = 0; q < x->cfg->nqueries; q++) {
		const struct weir_query_cfg *qc = &x->cfg->queries[q];
		bool seen = false;
		for (int p = 0; p < q; p++)
			seen |= x->cfg->queries[p].sink == WEIR_SINK_FILE && !strcmp(x->cfg->queries[p].sink_path,
										 qc->sink_path);
		if (qc->sink == WEIR_SINK_FILE && !seen)
			weir_sink_file_positions(qc->sink_path, emitted, x->nw, 2u << 20);  /* 2 x the sink buffer */
	}
	for (unsigned w = 0; w < x->nw; w++)
		more += (unsigned)(emitted[w] - before[w]);
	sayf(x, "the dataplane died in the middle of a write: %u results found in its sink files beyond the "
		"published positions", more);
}

/* The dataplane's sink loop is gone: what it wrote is final in the shared block.
 * (The process may still be tearing its memory down; dp_reap follows.) */
static void
dp_dead(struct ctl *x, uint64_t now, const char *how)
{
	uint64_t emitted[WHA_MAX_WORKERS], epoch;

	if (!x->dp.pid || x->dp.dead)
		return;
	x->dp.dead = true;
	dp_counts(x, emitted, &epoch);
	if (x->dp.shm && __atomic_load_n(&x->dp.shm->writing, __ATOMIC_ACQUIRE))
		sink_tails(x, emitted);
	sayf(x, "dataplane (pid %d) %s", (int)x->dp.pid, how);
	x->c.dp_died++;
	ha_dataplane(x->ha, now, false, emitted, x->nw, true, epoch);
}

/* The watcher has reaped it: close its channel, plan the respawn. */
static void
dp_reap(struct ctl *x, uint64_t now)
{
	const siginfo_t *si = &x->dp.status;

	if (!x->dp.pid)
		return;
	pthread_join(x->dp.watcher, NULL);
	x->dp.watching = false;
	x->dp.last_status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
	dp_dead(x, now, "is gone");
	sayf(x, "dataplane (pid %d) %s %d", (int)x->dp.pid, si->si_code == CLD_EXITED ? "exited with" : "killed by signal",
	     si->si_status);
	epoll_ctl(x->ep, EPOLL_CTL_DEL, x->dp.sock, NULL);
	close(x->dp.pidfd);
	close(x->dp.sock);
	close(x->dp.shmfd);
	if (x->dp.shm)
		munmap(x->dp.shm, sizeof(*x->dp.shm));
	x->dp.shm = NULL;
	x->dp.pid = 0;
	x->dp.sock = -1;
	/* respawn with backoff: quick after a long healthy run, doubling while it flaps */
	if (now - x->dp.started > 30ull * 1000000000ull)
		x->dp.backoff = BACKOFF_MIN;
	else
		x->dp.backoff = x->dp.backoff ? (2 * x->dp.backoff > BACKOFF_MAX ? BACKOFF_MAX : 2 * x->dp.backoff)
					      : BACKOFF_MIN;
	x->dp.next_spawn = now + x->dp.backoff;
	x->dp.restarts++;
}

/* ---- resync: snapshots between the pair ---------------------------------------------------- */

_Static_assert(SP_MAC_LEN == WHA_MAC_LEN, "a ship tag is an HMAC-SHA256");

static void
ship_auth(void *ctx, const uint8_t *d, size_t n, uint8_t out[SP_MAC_LEN])
{
	const struct ctl *x = ctx;
	wha_hmac(x->key, x->keylen, d, n, out);
}

static void *
ship_recv_thread(void *arg)
{
	struct ctl *x = arg;
	char dir[WEIR_PATH_MAX + 16], err[300];

	snprintf(dir, sizeof(dir), "%s/resync", x->cfg->state_dir);
	for (;;) {
		/* one connection at a time, as long as the process lives (a detached thread) */
		uint64_t e = sp_ship_recv(dir, x->sh.lfd, 1, stderr, err, sizeof(err));
		if (e) {
			__atomic_store_n(&x->sh.received, e, __ATOMIC_RELEASE);
		} else {
			struct timespec ts = { 0, 100000000 };
			fprintf(stderr, "weir control: receiving a snapshot: %s\n", err);
			__atomic_add_fetch(&x->sh.recv_failed, 1, __ATOMIC_RELAXED);
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void *
ship_send_thread(void *arg)
{
	struct ctl *x = arg;
	char to[WEIR_NAME_MAX + 16];
	bool v6 = strchr(x->peer_host, ':') != NULL;

	snprintf(to, sizeof(to), "%s%s%s:%u", v6 ? "[" : "", x->peer_host, v6 ? "]" : "", x->sh.to_port);
	int rc = sp_ship_send(x->cfg->state_dir, x->sh.epoch, to, stderr, x->sh.err, sizeof(x->sh.err));
	__atomic_store_n(&x->sh.done, rc ? -1 : 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Primary: the peer asks for a snapshot (in every heartbeat until it has one). */
static void
ship_request(struct ctl *x, uint64_t now, const struct wha_msg *m)
{
	struct ha_status st;
	struct weir_gate_cmd c = { .type = WEIR_GATE_CHECKPOINT };

	if (m->snap_req == x->sh.req_seen || !x->state || !m->ship_port || m->ship_port > 65535)
		return;
	ha_get_status(x->ha, now, &st);
	if (st.role != WHA_PRIMARY || !x->dp.shm || x->sh.sthr_on)
		return;
	x->sh.req_seen = m->snap_req;
	x->sh.to_port = (uint16_t)m->ship_port;
	x->sh.after = __atomic_load_n(&x->dp.shm->epoch, __ATOMIC_RELAXED);
	x->sh.pending = dp_command(x, &c) == 0;
	sayf(x, "%s asks for a snapshot to resync from: %s", m->node,
	     x->sh.pending ? "taking a checkpoint" : "the dataplane is not running");
}

/* Both sides, every tick: a checkpoint to ship, a ship finished, a snapshot received. */
static void
ship_poll(struct ctl *x, uint64_t now)
{
	if (x->sh.pending) {            /* only what this primary's running dataplane checkpointed */
		struct ha_status st;
		ha_get_status(x->ha, now, &st);
		if (st.role != WHA_PRIMARY || !x->dp.shm || x->dp.dead)
			x->sh.pending = false;
	}
	if (x->sh.pending && x->dp.shm && !x->sh.sthr_on) {
		uint64_t e = __atomic_load_n(&x->dp.shm->epoch, __ATOMIC_RELAXED);
		if (e > x->sh.after) {
			x->sh.pending = false;
			x->sh.epoch = e;
			x->sh.done = 0;
			x->sh.sthr_on = pthread_create(&x->sh.sthr, NULL, ship_send_thread, x) == 0;
			if (x->sh.sthr_on)
				sayf(x, "shipping checkpoint %" PRIu64 " to %s", e, x->peer_host);
		}
	}
	x->c.snapshots_receive_failed = __atomic_load_n(&x->sh.recv_failed, __ATOMIC_RELAXED);
	int d = __atomic_load_n(&x->sh.done, __ATOMIC_ACQUIRE);
	if (x->sh.sthr_on && d) {
		pthread_join(x->sh.sthr, NULL);
		x->sh.sthr_on = false;
		if (d > 0) {
			x->c.snapshots_shipped++;
			sayf(x, "checkpoint %" PRIu64 " shipped", x->sh.epoch);
		} else {
			x->c.snapshots_ship_failed++;
			sayf(x, "shipping checkpoint %" PRIu64 " failed: %s", x->sh.epoch, x->sh.err);
			x->sh.req_seen = 0;     /* the peer asks again */
		}
	}
}

/* Standby, every tick with the dataplane up: drive its resync, or start one when its
 * streams turned out to differ from the primary's. */
static void
resync_poll(struct ctl *x, uint64_t now)
{
	struct weir_gate_shm *m = x->dp.shm;
	struct ha_status st;
	uint64_t sync = __atomic_load_n(&m->sync, __ATOMIC_ACQUIRE);

	ha_get_status(x->ha, now, &st);
	uint64_t af = __atomic_load_n(&m->adopt_failed, __ATOMIC_RELAXED);
	if (af != x->dp.adopt_failed) {         /* (the dataplane said why) ask again */
		x->dp.adopt_failed = af;
		x->dp.adopt_sent = false;
		sayf(x, "the dataplane could not adopt the snapshot: asking for another");
	}
	if (sync == WEIR_SYNC_RESYNC && !x->dp.adopt_sent) {
		struct weir_gate_cmd c = { .type = WEIR_GATE_ADOPT };
		uint64_t got = __atomic_load_n(&x->sh.received, __ATOMIC_ACQUIRE);
		if (st.role == WHA_PRIMARY) {
			/* promoted before a snapshot came: our own newest, then the journal */
			c.adopt = WEIR_ADOPT_OWN;
			sayf(x, "primary while resyncing: the dataplane takes its own newest snapshot");
		} else if (got && x->sh.req) {
			c.adopt = WEIR_ADOPT_RECEIVED;
			c.adopt_epoch = got;
			x->c.snapshots_received++;
			sayf(x, "snapshot %" PRIu64 " received from %s: the dataplane adopts it", got, st.peer_node);
		} else {
			if (!x->sh.req || now - x->sh.asked_at > RESYNC_RETRY) {
				if (x->sh.req)
					sayf(x, "no snapshot from %s after %.0f s: asking again", st.peer_node,
					     (double)RESYNC_RETRY / 1e9);
				x->sh.req = (x->boot << 16) + ++x->sh.nreq;
				x->sh.asked_at = now;
				__atomic_store_n(&x->sh.received, 0, __ATOMIC_RELEASE);
				ha_want_snapshot(x->ha, x->sh.req, x->sh.port);
			}
			return;
		}
		if (dp_command(x, &c) == 0)
			x->dp.adopt_sent = true;
		ha_want_snapshot(x->ha, 0, 0);
		x->sh.req = 0;
		return;
	}
	if (x->dp.resync && x->dp.adopt_sent && __atomic_load_n(&m->adopted, __ATOMIC_ACQUIRE)) {
		x->dp.resync = false;
		x->c.resyncs_done++;
		x->sh.resynced_at = now;
		sayf(x, "resync: snapshot adopted, journal replayed%s",
		     m->resync_gaps ? "; input was missed between the snapshot and the journal" : "");
	}
	if (sync == WEIR_SYNC_DIVERGED && !x->dp.diverged_seen) {
		x->dp.diverged_seen = true;
		if (x->state && st.role == WHA_STANDBY && st.peer_alive && st.peer_role == WHA_PRIMARY &&
		    st.peer_dp_ok) {
			/* diverged again soon after a resync (the inputs differ for good?): back
			 * off, 1 s doubling to a minute, rather than ship snapshots in a loop */
			bool again = x->sh.resynced_at && now - x->sh.resynced_at < RESYNC_STABLE;
			x->sh.streak = again ? x->sh.streak + 1 : 0;
			uint64_t hold = again ? (1000000000ull << (x->sh.streak < 6 ? x->sh.streak - 1 : 5)) : 0;
			x->dp.restart_at = now + (hold > RESYNC_HOLD_MAX ? RESYNC_HOLD_MAX : hold);
			sayf(x, "the dataplane's results differ from the primary's (stream %" PRIu64 ", result %" PRIu64
				"): restarting it to resync from the primary's snapshot%s", m->diverged_w, m->diverged_at,
			     again ? " (again: after a pause)" : "");
		} else {
			sayf(x, "the dataplane's results differ from the primary's%s",
			     x->state ? "" : " (no [state] dir: no snapshot to resync from)");
		}
	}
	if (x->dp.restart_at && st.role != WHA_STANDBY)
		x->dp.restart_at = 0;           /* promoted meanwhile: it is the reference now */
	if (x->dp.restart_at && now >= x->dp.restart_at) {
		x->dp.restart_at = 0;
		kill(x->dp.pid, SIGTERM);
		x->dp.backoff = 0;              /* a planned restart: no backoff growth */
	}
}

/* Health from the shared block: running, set up, and its sink loop turning. */
static void
dp_refresh(struct ctl *x, uint64_t now)
{
	uint64_t emitted[WHA_MAX_WORKERS], epoch;
	bool ok = false;

	ship_poll(x, now);
	if (x->dp.pid && !x->dp.dead && x->dp.shm &&
	    __atomic_load_n(&x->dp.shm->magic, __ATOMIC_ACQUIRE) == WEIR_GATE_MAGIC) {
		uint64_t t = __atomic_load_n(&x->dp.shm->main_tick, __ATOMIC_ACQUIRE);
		if (t != x->dp.tick_seen) {
			x->dp.tick_seen = t;
			x->dp.tick_at = now;
		}
		if (__atomic_load_n(&x->dp.shm->exited, __ATOMIC_ACQUIRE)) {    /* after its last publish */
			dp_dead(x, now, "stopped (its last positions are published)");
			return;
		}
		ok = __atomic_load_n(&x->dp.shm->ready, __ATOMIC_RELAXED);
		if (ok)
			resync_poll(x, now);
		if (__atomic_load_n(&x->dp.shm->adopting, __ATOMIC_ACQUIRE))
			x->dp.tick_at = now;    /* restoring a snapshot: busy, not hung */
		if (ok && now - x->dp.tick_at > HANG_NS) {
			sayf(x, "dataplane (pid %d) stalled for %.1f s: killing it", (int)x->dp.pid,
			     (double)(now - x->dp.tick_at) / 1e9);
			x->c.dp_hung++;
			kill(x->dp.pid, SIGKILL);
			ok = false;
		}
	}
	dp_counts(x, emitted, &epoch);
	ha_dataplane(x->ha, now, ok, emitted, x->nw, false, epoch);
}

static void
dp_answer(struct ctl *x, uint64_t now)
{
	struct weir_gate_handed a;
	ssize_t n;

	while ((n = recv(x->dp.sock, &a, sizeof(a), MSG_DONTWAIT)) > 0)
		if ((size_t)n >= offsetof(struct weir_gate_handed, emitted) && a.type == WEIR_GATE_HANDED) {
			sayf(x, "dataplane stopped for switchover %" PRIu64 " at checkpoint %" PRIu64, a.handover, a.epoch);
			ha_dataplane_sync(x->ha, a.digest, a.nw < x->nw ? a.nw : x->nw,
					  (unsigned)__atomic_load_n(&x->dp.shm->sync, __ATOMIC_ACQUIRE));
			ha_handover_ready(x->ha, now, a.handover, a.ok != 0, a.emitted,
					  a.nw < x->nw ? a.nw : x->nw);
		}
	if (n == 0)     /* it closed its end (it is exiting): stop listening, the watcher reaps it */
		epoll_ctl(x->ep, EPOLL_CTL_DEL, x->dp.sock, NULL);
}

/* ---- heartbeats in ------------------------------------------------------------------------ */

static void
udp_in(struct ctl *x, int fd, uint64_t now)
{
	uint8_t buf[WHA_DGRAM_MAX + 64];
	struct wha_msg m;
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
		enum wha_verdict v = wha_unpack(buf, (size_t)n, x->key, x->keylen, &m);
		if (v == WHA_BAD_MAC) {
			x->c.forged++;
			continue;
		}
		if (v != WHA_OK) {
			x->c.malformed++;
			continue;
		}
		if (!strcmp(m.node, x->cfg->ha_node)) {
			x->c.reflected++;       /* our own heartbeat sent back */
			continue;
		}
		bool w = m.type == WHA_WACK;
		if (w != (fd == x->wudp)) {
			x->c.malformed++;       /* a witness answer on the peer link, or the reverse */
			continue;
		}
		if (!wha_replay_accept(w ? &x->rp_wit : &x->rp_peer, &m)) {
			x->c.replayed++;
			continue;
		}
		ha_recv(x->ha, now, w ? HA_TO_WITNESS : HA_TO_PEER, &m);
		if (!w && (m.flags & WHA_F_WANT_SNAP))
			ship_request(x, now, &m);
	}
}

/* ---- commands ------------------------------------------------------------------------------- */

static cJSON *
status_json(struct ctl *x, uint64_t now)
{
	struct ha_status s;
	cJSON *o = cJSON_CreateObject(), *p, *d, *a;
	char b[48];

	ha_get_status(x->ha, now, &s);
	cJSON_AddStringToObject(o, "node", x->cfg->ha_node);
	cJSON_AddStringToObject(o, "role", wha_role_name(s.role));
	cJSON_AddNumberToObject(o, "term", (double)s.term);
	cJSON_AddNumberToObject(o, "role_age_s", (double)(now - s.since) / 1e9);
	cJSON_AddNumberToObject(o, "lease_left_ms", (double)s.lease_left / 1e6);
	cJSON_AddNumberToObject(o, "switchover", (double)s.handover);
	cJSON_AddNumberToObject(o, "max_stall_ms", (double)s.max_stall / 1e6);
	p = cJSON_AddObjectToObject(o, "peer");
	cJSON_AddStringToObject(p, "node", s.peer_node);
	cJSON_AddBoolToObject(p, "alive", s.peer_alive);
	cJSON_AddNumberToObject(p, "heartbeat_age_ms", s.peer_age == UINT64_MAX ? -1 : (double)s.peer_age / 1e6);
	cJSON_AddStringToObject(p, "role", s.peer_node[0] ? wha_role_name(s.peer_role) : "unknown");
	cJSON_AddNumberToObject(p, "term", (double)s.peer_term);
	cJSON_AddBoolToObject(p, "dataplane_up", s.peer_dp_ok);
	cJSON_AddNumberToObject(p, "last_checkpoint", (double)s.peer_epoch);
	cJSON_AddStringToObject(p, "sync", ha_sync_name(s.peer_sync));
	p = cJSON_AddObjectToObject(o, "witness");
	cJSON_AddBoolToObject(p, "configured", x->has_witness);
	cJSON_AddBoolToObject(p, "alive", s.witness_alive);
	cJSON_AddNumberToObject(p, "heartbeat_age_ms",
				s.witness_age == UINT64_MAX ? -1 : (double)s.witness_age / 1e6);
	cJSON_AddNumberToObject(p, "term", (double)s.witness_term);
	cJSON_AddStringToObject(p, "holder", s.witness_holder);
	cJSON_AddStringToObject(o, "sync", ha_sync_name(s.sync));
	d = cJSON_AddObjectToObject(o, "dataplane");
	cJSON_AddBoolToObject(d, "up", s.dp_ok);
	cJSON_AddNumberToObject(d, "pid", x->dp.pid);
	cJSON_AddNumberToObject(d, "restarts", (double)x->dp.restarts);
	cJSON_AddNumberToObject(d, "uptime_s", x->dp.pid ? (double)(now - x->dp.started) / 1e9 : 0);
	if (x->dp.shm) {
		const struct weir_gate_shm *m = x->dp.shm;
		cJSON_AddBoolToObject(d, "emitting", m->gate_open != 0);
		cJSON_AddNumberToObject(d, "last_checkpoint", (double)m->epoch);
		cJSON_AddNumberToObject(d, "shadow_held", (double)m->shadow_len);
		cJSON_AddNumberToObject(d, "shadow_dropped", (double)m->shadow_dropped);
		cJSON_AddNumberToObject(d, "skipped_written_by_peer", (double)m->skipped);
		cJSON_AddNumberToObject(d, "digest_checks_ok", (double)m->checks_ok);
		cJSON_AddNumberToObject(d, "digest_mismatches", (double)m->diverged);
		cJSON_AddBoolToObject(d, "resyncing", m->sync == WEIR_SYNC_RESYNC);
		cJSON_AddNumberToObject(d, "adopted_snapshot", (double)m->adopted);
		cJSON_AddNumberToObject(d, "resync_gaps", (double)m->resync_gaps);
		cJSON_AddNumberToObject(d, "journal_frames", (double)m->journal_frames);
		cJSON_AddNumberToObject(d, "journal_dropped", (double)m->journal_dropped);
		a = cJSON_AddArrayToObject(d, "emitted");
		for (unsigned w = 0; w < x->nw; w++) {
			snprintf(b, sizeof(b), "%" PRIu64, m->emitted[w]);
			cJSON_AddItemToArray(a, cJSON_CreateString(b));
		}
		a = cJSON_AddArrayToObject(d, "produced");
		for (unsigned w = 0; w < x->nw; w++) {
			snprintf(b, sizeof(b), "%" PRIu64, m->produced[w]);
			cJSON_AddItemToArray(a, cJSON_CreateString(b));
		}
	}
	p = cJSON_AddObjectToObject(o, "counters");
#define X(n) cJSON_AddNumberToObject(p, #n, (double)s.c.n);
	HA_COUNTERS(X)
#undef X
#define X(n) cJSON_AddNumberToObject(p, #n, (double)x->c.n);
	CTL_COUNTERS(X)
#undef X
	a = cJSON_AddObjectToObject(o, "transitions");
	for (int t = 0; t < HA_TR__N; t++) {
		cJSON *e = cJSON_AddObjectToObject(a, ha_tr_name((enum ha_tr)t));
		cJSON_AddNumberToObject(e, "count", (double)s.c.transitions[t]);
		cJSON_AddNumberToObject(e, "age_s", s.last_tr_at[t] ? (double)(now - s.last_tr_at[t]) / 1e9 : -1);
	}
	a = cJSON_AddArrayToObject(o, "log");
	unsigned from = x->ntl > TIMELINE ? x->ntl - TIMELINE : 0;
	for (unsigned i = from; i < x->ntl; i++) {
		char line[300];
		stamp(x->tl[i % TIMELINE].real, b, sizeof(b));
		snprintf(line, sizeof(line), "%s %s", b, x->tl[i % TIMELINE].line);
		cJSON_AddItemToArray(a, cJSON_CreateString(line));
	}
	return o;
}

/* One validated action per command, shared by the command socket and reload. */
static int
act_failover(struct ctl *x, uint64_t now, char *why, size_t n)
{
	return ha_action(x->ha, now, HA_ACT_FAILOVER, why, n);
}

static int
act_failback(struct ctl *x, uint64_t now, char *why, size_t n)
{
	return ha_action(x->ha, now, HA_ACT_FAILBACK, why, n);
}

static int
act_checkpoint(struct ctl *x, uint64_t now, char *why, size_t n)
{
	struct weir_gate_cmd c = { .type = WEIR_GATE_CHECKPOINT };
	(void)now;
	if (!x->dp.pid) {
		snprintf(why, n, "the dataplane is not running");
		return -1;
	}
	if (!x->cfg->state_dir[0]) {
		snprintf(why, n, "no [state] dir configured: checkpoints are off");
		return -1;
	}
	if (dp_command(x, &c) < 0) {
		snprintf(why, n, "the dataplane does not take commands: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int
act_set_failback(struct ctl *x, bool autofb, int64_t hold_down, char *why, size_t n)
{
	if (hold_down < 0) {
		snprintf(why, n, "hold_down must not be negative");
		return -1;
	}
	ha_set_failback(x->ha, autofb, (uint64_t)hold_down);
	sayf(x, "failback = %s, hold_down = %.1f s", autofb ? "auto" : "manual", (double)hold_down / 1e9);
	return 0;
}

static char *
command(struct ctl *x, const char *req, uint64_t now)
{
	static const struct {
		const char *name;
		int (*fn)(struct ctl *, uint64_t, char *, size_t);
	} acts[] = { { "failover", act_failover }, { "failback", act_failback }, { "checkpoint", act_checkpoint } };
	char why[200] = "";
	cJSON *o;

	x->c.commands++;
	if (!strcmp(req, "status")) {
		o = status_json(x, now);
	} else {
		int rc = -2;
		for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
			if (!strcmp(req, acts[i].name))
				rc = acts[i].fn(x, now, why, sizeof(why));
		if (rc == -2)
			snprintf(why, sizeof(why), "unknown command '%.40s' (status, failover, failback, checkpoint)", req);
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "ok", rc == 0);
		if (rc)
			cJSON_AddStringToObject(o, "error", why);
		else
			sayf(x, "command: %s", req);
		push_gate(x, now);
	}
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static void
client_in(struct ctl *x, unsigned i, uint64_t now)
{
	struct client *c = &x->cl[i];
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		c->len += (size_t)n;
	c->buf[c->len] = '\0';
	char *nl = strchr(c->buf, '\n');
	if (!nl && n > 0 && c->len < sizeof(c->buf) - 1)
		return;                 /* more to come */
	if (nl) {
		*nl = '\0';
		char *reply = command(x, c->buf, now);
		if (reply) {
			size_t l = strlen(reply);
			reply[l] = '\n';        /* cJSON allocated l+1 */
			if (send(c->fd, reply, l + 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				x->c.send_failed++;
			free(reply);
		}
	}
	epoll_ctl(x->ep, EPOLL_CTL_DEL, c->fd, NULL);   /* one command per connection */
	close(c->fd);
	c->fd = -1;
}

static void
accept_clients(struct ctl *x)
{
	int fd;
	while ((fd = accept4(x->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		unsigned i;
		for (i = 0; i < MAX_CLIENTS && x->cl[i].fd >= 0; i++)
			;
		if (i == MAX_CLIENTS) {         /* busy: the next one waits its turn */
			close(fd);
			continue;
		}
		x->cl[i].fd = fd;
		x->cl[i].len = 0;
		ep_add(x, fd, EV_CLIENT, i);
	}
}

/* ---- set-up -------------------------------------------------------------------------------- */

static int
resolve(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len, bool passive)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = passive ? AI_PASSIVE : 0 }, *ai;
	char p[8];

	snprintf(p, sizeof(p), "%u", port);
	if (getaddrinfo(host[0] ? host : NULL, p, &hints, &ai))
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int
setup(struct ctl *x, char *why, size_t n)
{
	struct sockaddr_storage me;
	socklen_t melen;
	char voted[WHA_NODE_MAX];
	uint64_t term;

	if (wha_secret_load(x->cfg->ha_secret_file, x->key, &x->keylen, why, n))
		return -1;
	if (termstore_open(&x->ts, x->cfg->ha_dir, "term", &term, voted, why, n))
		return -1;
	if (resolve(x->cfg->ha_peer_host, x->cfg->ha_peer_port, &x->peer, &x->peerlen, false)) {
		snprintf(why, n, "peer %s:%u: cannot resolve", x->cfg->ha_peer_host, x->cfg->ha_peer_port);
		return -1;
	}
	x->has_witness = x->cfg->ha_witness_host[0] != '\0';
	if (x->has_witness &&
	    resolve(x->cfg->ha_witness_host, x->cfg->ha_witness_port, &x->wit, &x->witlen, false)) {
		snprintf(why, n, "witness %s:%u: cannot resolve", x->cfg->ha_witness_host, x->cfg->ha_witness_port);
		return -1;
	}
	if (resolve(x->cfg->ha_listen_host, x->cfg->ha_listen_port, &me, &melen, true)) {
		snprintf(why, n, "listen %s:%u: cannot resolve", x->cfg->ha_listen_host, x->cfg->ha_listen_port);
		return -1;
	}
	x->udp = socket(me.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, prio = 6;   /* TC_PRIO_INTERACTIVE: ahead of bulk traffic on a shared link */
	setsockopt(x->udp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(x->udp, SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio));
	if (x->udp < 0 || bind(x->udp, (struct sockaddr *)&me, melen) < 0) {
		snprintf(why, n, "heartbeat socket on port %u: %s", x->cfg->ha_listen_port, strerror(errno));
		return -1;
	}
	/* the witness: a socket of its own, connected (only its answers come in), with
	 * the source address the route to it gives */
	if (x->has_witness) {
		x->wudp = socket(x->wit.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		setsockopt(x->wudp, SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio));
		if (x->wudp < 0 || connect(x->wudp, (struct sockaddr *)&x->wit, x->witlen) < 0) {
			snprintf(why, n, "witness socket: %s", strerror(errno));
			return -1;
		}
	}
	/* snapshots from the peer (resync): TCP on the heartbeat port */
	snprintf(x->peer_host, sizeof(x->peer_host), "%s", x->cfg->ha_peer_host);
	x->state = x->cfg->state_dir[0] != '\0';
	x->sh.lfd = -1;
	sp_set_ship_auth(ship_auth, x);         /* both directions: only the peer's are accepted */
	if (x->state) {
		char hp[WEIR_NAME_MAX + 16], err[200];
		const char *h = x->cfg->ha_listen_host[0] ? x->cfg->ha_listen_host : "0.0.0.0";
		bool v6 = strchr(h, ':') != NULL;
		snprintf(hp, sizeof(hp), "%s%s%s:%u", v6 ? "[" : "", h, v6 ? "]" : "", x->cfg->ha_listen_port);
		x->sh.lfd = sp_listen(hp, &x->sh.port, err, sizeof(err));
		if (x->sh.lfd < 0) {
			snprintf(why, n, "snapshot receiver on TCP %s: %s", hp, err);
			return -1;
		}
		fcntl(x->sh.lfd, F_SETFD, FD_CLOEXEC);
		/* (every signal blocked in the thread: they are the event loop's, by signalfd) */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		int rc = pthread_create(&x->sh.rthr, NULL, ship_recv_thread, x);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc) {
			snprintf(why, n, "snapshot receiver thread: %s", strerror(errno));
			return -1;
		}
		pthread_detach(x->sh.rthr);
	}
	/* the command socket */
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char dir[WEIR_PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", x->cfg->ha_socket);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		weir_mkdirs(dir, 0750);
	}
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", x->cfg->ha_socket);
	x->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->lfd >= 0) {      /* a live control process on it is an error, a stale file is not */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&un, sizeof(un)) == 0) {
			close(probe);
			snprintf(why, n, "%s: another control process is running", x->cfg->ha_socket);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(x->cfg->ha_socket);
	}
	if (x->lfd < 0 || bind(x->lfd, (struct sockaddr *)&un, sizeof(un)) < 0 || listen(x->lfd, 16) < 0) {
		snprintf(why, n, "control socket %s: %s", x->cfg->ha_socket, strerror(errno));
		return -1;
	}
	chmod(x->cfg->ha_socket, 0660);
	/* timers and signals */
	x->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	x->dfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct itimerspec it = { .it_interval = { 0, x->cfg->ha_heartbeat }, .it_value = { 0, x->cfg->ha_heartbeat } };
	it.it_interval.tv_sec = x->cfg->ha_heartbeat / 1000000000;
	it.it_interval.tv_nsec = x->cfg->ha_heartbeat % 1000000000;
	it.it_value = it.it_interval;
	timerfd_settime(x->tfd, 0, &it, NULL);
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigaddset(&ss, SIGCHLD);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	x->sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	x->ep = epoll_create1(EPOLL_CLOEXEC);
	if (x->tfd < 0 || x->dfd < 0 || x->sfd < 0 || x->ep < 0) {
		snprintf(why, n, "timers/signals/epoll: %s", strerror(errno));
		return -1;
	}
	x->dp.deadfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	x->dp.reapfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (x->dp.deadfd < 0 || x->dp.reapfd < 0) {
		snprintf(why, n, "eventfd: %s", strerror(errno));
		return -1;
	}
	ep_add(x, x->dp.deadfd, EV_DPDEAD, 0);
	ep_add(x, x->dp.reapfd, EV_REAPED, 0);
	ep_add(x, x->tfd, EV_TICK, 0);
	ep_add(x, x->dfd, EV_DEADLINE, 0);
	ep_add(x, x->udp, EV_UDP, 0);
	if (x->has_witness)
		ep_add(x, x->wudp, EV_UDP, 1);
	ep_add(x, x->lfd, EV_LISTEN, 0);
	ep_add(x, x->sfd, EV_SIGNAL, 0);

	x->boot = real_ns();
	x->nw = (unsigned)x->cfg->workers;
	x->fingerprint = pair_fingerprint(x->cfg);
	struct ha_params p = { .priority = x->cfg->ha_priority, .hb_ns = (uint64_t)x->cfg->ha_heartbeat,
			       .dead_after = (unsigned)x->cfg->ha_dead_after, .witness = x->has_witness,
			       .failback_auto = x->cfg->ha_failback_auto,
			       .hold_down_ns = (uint64_t)x->cfg->ha_hold_down, .fingerprint = x->fingerprint,
			       .nworkers = x->nw };
	snprintf(p.node, sizeof(p.node), "%s", x->cfg->ha_node);
	struct ha_io io = { .ctx = x, .send = io_send, .persist = io_persist, .handover = io_handover,
			    .log = io_log };
	x->ha = ha_create(&p, &io, term, voted, x->boot, mono_ns());
	if (!x->ha) {
		snprintf(why, n, "out of memory");
		return -1;
	}
	char wdesc[WEIR_NAME_MAX + 8] = "none";
	if (x->has_witness)
		snprintf(wdesc, sizeof(wdesc), "%s:%u", x->cfg->ha_witness_host, x->cfg->ha_witness_port);
	sayf(x, "starting: term %" PRIu64 ", peer %s:%u, witness %s, heartbeat %.1f ms x %d, failback %s", term,
	     x->cfg->ha_peer_host, x->cfg->ha_peer_port, wdesc, (double)x->cfg->ha_heartbeat / 1e6,
	     x->cfg->ha_dead_after, x->cfg->ha_failback_auto ? "auto" : "manual");
	return 0;
}

static void
realtime(struct ctl *x)
{
	struct sched_param sp = { .sched_priority = 10 };

	if (!x->cfg->ha_realtime)
		return;
	/* heartbeats must not wait behind polling cores; the dataplane child must not
	 * inherit this (SCHED_RESET_ON_FORK) */
	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		sayf(x, "warning: mlockall: %s", strerror(errno));
	if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp))
		sayf(x, "warning: SCHED_FIFO: %s", strerror(errno));
}

static void
arm_deadline(struct ctl *x, uint64_t now)
{
	uint64_t d = ha_deadline(x->ha, now);
	struct itimerspec it = { { 0, 0 }, { 0, 0 } };

	if (d != UINT64_MAX) {
		it.it_value.tv_sec = (time_t)(d / 1000000000ull);
		it.it_value.tv_nsec = (long)(d % 1000000000ull);
	}
	timerfd_settime(x->dfd, TFD_TIMER_ABSTIME, &it, NULL);
}

static void
reload(struct ctl *x)
{
	struct weir_config *nc = malloc(sizeof(*nc));
	char why[200];

	if (!nc)
		return;
	if (weir_config_load(x->cfg_path, nc, stderr)) {
		say(x, "reload: the configuration has errors: keeping the running one");
	} else if (pair_fingerprint(nc) != x->fingerprint || strcmp(nc->ha_node, x->cfg->ha_node)) {
		say(x, "reload: queries, sources, cores or node changed: those need a restart; "
		       "applying failback settings only");
		if (act_set_failback(x, nc->ha_failback_auto, nc->ha_hold_down, why, sizeof(why)))
			sayf(x, "reload: %s", why);
	} else if (act_set_failback(x, nc->ha_failback_auto, nc->ha_hold_down, why, sizeof(why))) {
		sayf(x, "reload: %s", why);
	}
	free(nc);
}

int
weir_control_main(const struct weir_config *cfg, const char *config_path, const char *exe)
{
	struct ctl *x = calloc(1, sizeof(*x));
	char why[300];
	int rc = 0;

	if (!x)
		return 1;
	x->cfg = cfg;
	x->exe = exe;
	snprintf(x->cfg_path, sizeof(x->cfg_path), "%s", config_path);
	x->dp.sock = -1;
	x->udp = x->wudp = x->lfd = x->tfd = x->dfd = x->sfd = x->ep = -1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		x->cl[i].fd = -1;
	if (!cfg->ha_node[0]) {
		fprintf(stderr, "weir control: %s has no [ha] section\n", config_path);
		free(x);
		return 2;
	}
	if (setup(x, why, sizeof(why))) {
		fprintf(stderr, "weir control: %s\n", why);
		rc = 1;
		goto out;
	}
	realtime(x);
	bool idle = false;
	for (int s = 0; s < cfg->nsources; s++)
		idle |= cfg->sources[s].idle_timeout != 0;
	if (cfg->rx_cores > 1 || idle)
		say(x, "warning: with rx_cores > 1 or idle_timeout the two nodes' result streams can differ "
		       "(input interleaving, processing-time watermarks); a standby found diverged resyncs, with "
		       "backoff if it keeps diverging; use rx_cores = 1 for an HA pair (README, [ha])");
	dp_spawn(x, mono_ns());

	uint64_t stop_at = 0;
	while (!x->stopping || x->dp.pid) {
		struct epoll_event ev[16];
		int n = epoll_wait(x->ep, ev, 16, 100);
		uint64_t now = mono_ns();

		/* heartbeats first: after a stall, what arrived meanwhile counts before any
		 * timer concludes that nobody is there */
		udp_in(x, x->udp, now);
		if (x->has_witness)
			udp_in(x, x->wudp, now);

		if (x->stopping && now > stop_at && x->dp.pid) {
			kill(x->dp.pid, SIGKILL);       /* it did not stop in time */
			stop_at = now + 1000000000ull;
		}
		for (int i = 0; i < n; i++) {
			uint32_t kind = (uint32_t)(ev[i].data.u64 >> 32), idx = (uint32_t)ev[i].data.u64;
			uint64_t junk;

			switch (kind) {
			case EV_TICK:
				if (read(x->tfd, &junk, sizeof(junk)) < 0)
					break;
				dp_refresh(x, now);
				if (!x->dp.pid && !x->stopping && now >= x->dp.next_spawn)
					dp_spawn(x, now);
				ha_tick(x->ha, now);
				break;
			case EV_DEADLINE:
				if (read(x->dfd, &junk, sizeof(junk)) < 0)
					break;
				ha_timers(x->ha, now);
				break;
			case EV_UDP:
				udp_in(x, idx ? x->wudp : x->udp, now);
				break;
			case EV_REAPED:
				if (read(x->dp.reapfd, &junk, sizeof(junk)) < 0)
					break;
				dp_reap(x, now);
				break;
			case EV_DPDEAD:
				if (read(x->dp.deadfd, &junk, sizeof(junk)) < 0)
					break;
				dp_dead(x, now, "is down (its sink loop let go of the liveness lock)");
				break;
			case EV_DPSOCK:
				dp_answer(x, now);
				break;
			case EV_LISTEN:
				accept_clients(x);
				break;
			case EV_CLIENT:
				if (idx < MAX_CLIENTS && x->cl[idx].fd >= 0)
					client_in(x, idx, now);
				break;
			case EV_SIGNAL: {
				struct signalfd_siginfo si;
				while (read(x->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						reload(x);
					} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
						if (!x->stopping)
							say(x, "stopping");
						x->stopping = true;
						stop_at = now + 5000000000ull;
						if (x->dp.pid)
							kill(x->dp.pid, SIGTERM);
					}
				}
				break;
			}
			}
		}
		push_gate(x, now);
		arm_deadline(x, now);
	}
out:
	if (x->ha) {
		/* leaving: stop following and vouching; the peer takes over after dead_after */
		ha_destroy(x->ha);
	}
	termstore_close(&x->ts);
	if (x->lfd >= 0)
		unlink(cfg->ha_socket);
	free(x);
	return rc;
}

/* ---- `weir status` & co --------------------------------------------------------------------- */

static void
print_status(const cJSON *o)
{
	const cJSON *p = cJSON_GetObjectItem(o, "peer"), *w = cJSON_GetObjectItem(o, "witness"),
		    *d = cJSON_GetObjectItem(o, "dataplane");
#define S(obj, k) (cJSON_IsString(cJSON_GetObjectItem(obj, k)) ? cJSON_GetObjectItem(obj, k)->valuestring : "?")
#define N(obj, k) (cJSON_IsNumber(cJSON_GetObjectItem(obj, k)) ? cJSON_GetObjectItem(obj, k)->valuedouble : -1)
#define B(obj, k) cJSON_IsTrue(cJSON_GetObjectItem(obj, k))
	printf("node        %s\n", S(o, "node"));
	printf("role        %s (term %.0f, for %.1f s)", S(o, "role"), N(o, "term"), N(o, "role_age_s"));
	if (!strcmp(S(o, "role"), "primary"))
		printf(", lease %.1f ms left", N(o, "lease_left_ms"));
	printf("\nresults     %s\n", S(o, "sync"));
	printf("peer        %s: %s, %s, term %.0f, heartbeat %.1f ms ago, dataplane %s, results %s\n", S(p, "node"),
	       B(p, "alive") ? "alive" : "SILENT", S(p, "role"), N(p, "term"), N(p, "heartbeat_age_ms"),
	       B(p, "dataplane_up") ? "up" : "down", S(p, "sync"));
	if (B(w, "configured"))
		printf("witness     %s, term %.0f held by %s, answer %.1f ms ago\n", B(w, "alive") ? "reachable" : "SILENT",
		       N(w, "term"), S(w, "holder"), N(w, "heartbeat_age_ms"));
	else
		printf("witness     none configured\n");
	printf("dataplane   %s (pid %.0f, %.0f restarts), %s, last checkpoint %.0f\n", B(d, "up") ? "up" : "DOWN",
	       N(d, "pid"), N(d, "restarts"), B(d, "emitting") ? "emitting" : "not emitting",
	       N(d, "last_checkpoint"));
	if (B(d, "resyncing"))
		printf("resync      journaling input (%.0f frames, %.0f dropped), waiting for the primary's snapshot\n",
		       N(d, "journal_frames"), N(d, "journal_dropped"));
	const cJSON *log = cJSON_GetObjectItem(o, "log"), *l;
	int k = cJSON_GetArraySize(log), i = 0;
	printf("recent:\n");
	cJSON_ArrayForEach(l, log)
		if (i++ >= k - 8 && cJSON_IsString(l))
			printf("  %s\n", l->valuestring);
#undef S
#undef N
#undef B
}

cJSON *
weir_ctl_fetch(const char *socket_path, const char *cmd)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char buf[65536];
	size_t len = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { 5, 0 };

	snprintf(un.sun_path, sizeof(un.sun_path), "%s", socket_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
		fprintf(stderr, "weir: cannot reach the control process at %s: %s\n", socket_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	dprintf(fd, "%s\n", cmd);
	for (;;) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1)
			break;
	}
	close(fd);
	buf[len] = '\0';
	cJSON *o = cJSON_Parse(buf);
	if (!o)
		fprintf(stderr, "weir: no answer from the control process\n");
	return o;
}

int
weir_ctl_command(const char *socket_path, const char *cmd, bool json)
{
	cJSON *o = weir_ctl_fetch(socket_path, cmd);
	if (!o)
		return 1;
	int rc = 0;
	if (json || strcmp(cmd, "status")) {
		if (!json && !cJSON_IsTrue(cJSON_GetObjectItem(o, "ok"))) {
			const cJSON *e = cJSON_GetObjectItem(o, "error");
			fprintf(stderr, "weir %s: %s\n", cmd, cJSON_IsString(e) ? e->valuestring : "failed");
			rc = 1;
		} else if (!json) {
			printf("weir %s: started\n", cmd);
		} else {
			char *s = cJSON_Print(o);
			printf("%s\n", s);
			free(s);
			if (cJSON_IsFalse(cJSON_GetObjectItem(o, "ok")))
				rc = 1;
		}
	} else {
		print_status(o);
	}
	cJSON_Delete(o);
	return rc;
}
