/* SPDX-License-Identifier: Apache-2.0
 * The HA gate on its own: a standby writes nothing and keeps what the primary has
 * not reported; promotion writes exactly from the primary's position; a lease that
 * runs out shuts the gate by itself; a full shadow drops (counted) oldest first; a
 * handover stops each stream at the barrier and reports exact positions; a closed
 * control socket stops the run.  Results are read back from the sink file. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "gate.h"
#include "hagate.h"
#include "sink.h"

#define NW 2
#define SHADOW 1024

static struct weir_config cfg;
static char path[64];
static int sv[2], shmfd;
static struct weir_gate_shm *shm;
static struct weir_sinks *sk;
static struct weir_gate *g;
static uint64_t requested, asked;

static void req(void *c) { (void)c; asked++; requested++; }
static uint64_t reqd(void *c) { (void)c; return requested; }
static uint64_t pub(void *c) { (void)c; return 0; }

static uint64_t
mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
setup(void **st)
{
	char text[512];
	pthread_mutexattr_t a;
	(void)st;

	snprintf(path, sizeof(path), "/tmp/weir-gate-XXXXXX");
	int fd = mkstemp(path);
	close(fd);
	snprintf(text, sizeof(text), "[dataplane]\ndevices = x\nworkers = %d\n[source s]\nudp_port = 1\nfields = a:i64\n"
		 "[query q]\nfrom = s\nwindow = tumbling 1s\naggregates = count\nsink = file:%s\n", NW, path);
	assert_int_equal(weir_config_load_string("g.ini", text, &cfg, stderr), 0);
	sk = weir_sinks_open(&cfg, false, stderr);
	assert_non_null(sk);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	shmfd = memfd_create("g", 0);
	assert_int_equal(ftruncate(shmfd, sizeof(*shm)), 0);
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED, shmfd, 0);
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&shm->alive, &a);
	struct weir_gate_ops ops = { .request_checkpoint = req, .requested_epoch = reqd, .published_epoch = pub };
	char why[160];
	requested = 10;
	asked = 0;
	g = weir_gate_create(sv[1], shmfd, NW, WEIR_RESULT_SIZE(1), SHADOW, sk, &ops, why, sizeof(why));
	assert_non_null(g);
	assert_int_equal(shm->alive_held, 1);
	assert_int_equal(pthread_mutex_trylock(&shm->alive), EBUSY);    /* the gate holds it */
	return 0;
}

static int
teardown(void **st)
{
	(void)st;
	weir_gate_destroy(g);
	weir_sinks_close(sk);
	munmap(shm, sizeof(*shm));
	close(shmfd);
	close(sv[0]);
	close(sv[1]);
	unlink(path);
	return 0;
}

/* n results of worker w; key = the worker's own running count (so seq is checkable) */
static void
results(unsigned w, unsigned n)
{
	static uint64_t made[NW];
	uint8_t buf[64 * WEIR_RESULT_SIZE(1)];
	assert_true(n <= 64);
	for (unsigned i = 0; i < n; i++) {
		struct weir_result *r = (struct weir_result *)(buf + i * WEIR_RESULT_SIZE(1));
		memset(r, 0, WEIR_RESULT_SIZE(1));
		r->naggs = 1;
		r->key = 1000 * w + ++made[w];
		r->count = 1;
		r->val[0] = 1;
	}
	weir_gate_results(g, w, buf, n);
	if (n == 0)
		memset(made, 0, sizeof(made));
}

static void
cmd(uint64_t term, uint64_t emit_until, uint64_t handover, uint64_t p0, uint64_t p1)
{
	struct weir_gate_cmd c = { .type = WEIR_GATE_SET, .nw = NW, .term = term, .emit_until = emit_until,
				   .handover = handover, .peer_emitted = { p0, p1 } };
	assert_int_equal(send(sv[0], &c, sizeof(c), 0), (ssize_t)sizeof(c));
	assert_int_equal(weir_gate_poll(g), 0);
}

/* The (worker, seq) lines written so far; checks key == seq (the stream order). */
static unsigned
written(unsigned w, uint64_t *first, uint64_t *last)
{
	char line[512];
	unsigned n = 0;
	FILE *f = fopen(path, "r");
	*first = *last = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long key, ww, seq, term;
		char *k = strstr(line, "\"key\":"), *t = strstr(line, "\"term\":");
		assert_non_null(k);
		assert_non_null(t);
		assert_int_equal(sscanf(k, "\"key\":%llu", &key), 1);
		assert_int_equal(sscanf(t, "\"term\":%llu,\"worker\":%llu,\"seq\":%llu", &term, &ww, &seq), 3);
		if (ww != w)
			continue;
		assert_int_equal(key, 1000 * w + seq);
		if (!n)
			*first = seq;
		else
			assert_int_equal(seq, *last + 1);      /* no gap, no duplicate */
		*last = seq;
		n++;
	}
	fclose(f);
	return n;
}

static void
test_standby_then_promotion(void **st)
{
	uint64_t a, b;
	(void)st;
	results(0, 0);
	cmd(1, 0, 0, 0, 0);                     /* standby */
	for (int i = 0; i < 5; i++)
		results(0, 40);                 /* 200 held */
	results(1, 10);
	assert_int_equal(written(0, &a, &b), 0);
	weir_gate_poll(g);                      /* (publishes the counters) */
	assert_int_equal(shm->shadow_len, 210);
	cmd(1, 0, 0, 150, 4);                   /* the primary wrote 150 and 4 */
	assert_int_equal(shm->shadow_len, 50 + 6);
	assert_int_equal(shm->skipped, 154);
	assert_int_equal(shm->emitted[0], 150);  /* the pair's position */
	cmd(2, mono() + 1000000000ull, 0, 150, 4);      /* promoted */
	assert_int_equal(written(0, &a, &b), 50);
	assert_int_equal(a, 151);
	assert_int_equal(b, 200);
	results(0, 3);                          /* new ones go straight out */
	assert_int_equal(written(0, &a, &b), 53);
	assert_int_equal(b, 203);
	assert_int_equal(written(1, &a, &b), 6);
	assert_int_equal(a, 5);
	assert_int_equal(shm->emitted[0], 203);
	assert_int_equal(shm->gate_open, 1);
}

static void
test_lease_runs_out(void **st)
{
	uint64_t a, b;
	(void)st;
	results(0, 0);
	cmd(3, mono() + 20000000ull, 0, 0, 0);  /* 20 ms of lease */
	results(0, 10);
	assert_int_equal(written(0, &a, &b), 10);
	usleep(30000);                          /* nobody renews it */
	results(0, 10);                         /* the gate sees the clock itself */
	assert_int_equal(written(0, &a, &b), 10);
	assert_int_equal(shm->shadow_len + 0, 0);       /* not yet polled */
	weir_gate_poll(g);
	assert_int_equal(shm->gate_open, 0);
	assert_int_equal(shm->shadow_len, 10);
	cmd(2, mono() + 1000000000ull, 0, 0, 0);        /* a stale term: ignored */
	assert_int_equal(written(0, &a, &b), 10);
	cmd(3, mono() + 1000000000ull, 0, 0, 0);        /* renewed: the held ones go out, in order */
	assert_int_equal(written(0, &a, &b), 20);
	assert_int_equal(b, 20);
}

static void
test_shadow_overflow_counted(void **st)
{
	uint64_t a, b;
	(void)st;
	results(0, 0);
	cmd(1, 0, 0, 0, 0);
	for (int i = 0; i < SHADOW / 64 + 2; i++)
		results(0, 64);                 /* 128 more than fit */
	weir_gate_poll(g);
	assert_int_equal(shm->shadow_dropped, 128);
	assert_int_equal(shm->shadow_len, SHADOW);
	cmd(2, mono() + 1000000000ull, 0, 0, 0);
	assert_int_equal(written(0, &a, &b), SHADOW);
	assert_int_equal(a, 129);               /* the oldest went */
}

static void
test_handover_at_barrier(void **st)
{
	uint64_t a, b;
	struct weir_gate_handed h;
	(void)st;
	results(0, 0);
	cmd(4, mono() + 1000000000ull, 0, 0, 0);
	results(0, 10);
	results(1, 10);
	cmd(4, mono() + 1000000000ull, 77, 0, 0);       /* hand over: stop at the next barrier */
	assert_int_equal(asked, 1);
	weir_gate_barrier(g, 0, 10);            /* an epoch already asked for: not this one */
	results(0, 5);
	weir_gate_barrier(g, 0, 11);            /* worker 0 stops here ... */
	results(0, 5);
	results(1, 7);
	assert_int_equal(recv(sv[0], &h, sizeof(h), MSG_DONTWAIT), -1);        /* not all yet */
	weir_gate_barrier(g, 1, 11);            /* ... and worker 1 here */
	results(1, 3);
	assert_int_equal(recv(sv[0], &h, sizeof(h), MSG_DONTWAIT), (ssize_t)sizeof(h));
	assert_int_equal(h.type, WEIR_GATE_HANDED);
	assert_int_equal(h.handover, 77);
	assert_int_equal(h.epoch, 11);
	assert_int_equal(h.emitted[0], 15);
	assert_int_equal(h.emitted[1], 17);
	assert_int_equal(written(0, &a, &b), 15);
	assert_int_equal(written(1, &a, &b), 17);
	weir_gate_poll(g);                      /* still handing over: nothing more goes out */
	assert_int_equal(written(0, &a, &b), 15);
	assert_int_equal(shm->shadow_len, 5 + 3);
}

/* The digest chain of stream w's first n results as results() makes them. */
static uint64_t
chain(unsigned w, unsigned n)
{
	uint8_t b[WEIR_RESULT_SIZE(1)];
	struct weir_result *r = (struct weir_result *)b;
	uint64_t d = 0;
	for (unsigned i = 1; i <= n; i++) {
		memset(b, 0, sizeof(b));
		r->naggs = 1;
		r->key = 1000 * w + i;
		r->count = 1;
		r->val[0] = 1;
		d = weir_result_digest(d, r);
	}
	return d;
}

static void
cmd_dig(uint64_t p0, uint64_t d0, uint64_t p1, uint64_t d1)
{
	struct weir_gate_cmd c = { .type = WEIR_GATE_SET, .nw = NW, .term = 1, .peer_emitted = { p0, p1 },
				   .peer_digest = { d0, d1 } };
	assert_int_equal(send(sv[0], &c, sizeof(c), 0), (ssize_t)sizeof(c));
	assert_int_equal(weir_gate_poll(g), 0);
}

/* Every field but the padding counts; the order counts. */
static void
test_digest_function(void **st)
{
	uint8_t b[WEIR_RESULT_SIZE(2)];
	struct weir_result *r = (struct weir_result *)b;
	(void)st;
	memset(b, 0, sizeof(b));
	r->naggs = 2;
	r->key = 5;
	uint64_t d0 = weir_result_digest(0, r);
	r->pad = 0xdeadbeef;
	assert_true(weir_result_digest(0, r) == d0);
	/* one bit of any byte outside the padding changes it */
	for (size_t i = 0; i < sizeof(b); i++) {
		if ((i >= offsetof(struct weir_result, pad) && i < offsetof(struct weir_result, key)) ||
		    (i >= offsetof(struct weir_result, naggs) && i < offsetof(struct weir_result, revision)))
			continue;       /* (naggs: sizes the record; below) */
		b[i] ^= 0x10;
		assert_true(weir_result_digest(0, r) != d0);
		b[i] ^= 0x10;
	}
	r->naggs = 1;
	assert_true(weir_result_digest(0, r) != d0);
	r->naggs = 2;
	assert_true(weir_result_digest(1, r) != d0);    /* it chains */
}

/* A standby compares the primary's digests with its own: behind, at and ahead of
 * where it is; a primary publishes its digest at the written position. */
static void
test_digest_sync(void **st)
{
	(void)st;
	results(0, 0);
	cmd(1, 0, 0, 0, 0);                     /* standby */
	results(0, 30);
	results(1, 10);
	assert_int_equal(shm->sync, WEIR_SYNC_UNKNOWN);
	cmd_dig(20, chain(0, 20), 10, chain(1, 10));    /* in the shadow, and the newest */
	assert_int_equal(shm->sync, WEIR_SYNC_OK);
	assert_int_equal(shm->checks_ok, 2);
	cmd_dig(40, chain(0, 40), 10, chain(1, 10));    /* ahead of us: checked when made */
	assert_int_equal(shm->checks_ok, 3);
	results(0, 10);
	assert_int_equal(shm->checks_ok, 4);
	assert_int_equal(shm->diverged, 0);
	/* the pair's position and the primary's digest there are published */
	assert_int_equal(shm->emitted[0], 40);
	assert_true(shm->digest[0] == chain(0, 40));
	/* a different result 45 (say, input we missed) */
	results(0, 10);
	cmd_dig(45, chain(0, 45) ^ 1, 10, chain(1, 10));
	assert_int_equal(shm->sync, WEIR_SYNC_DIVERGED);
	assert_int_equal(shm->diverged, 1);
	assert_int_equal(shm->diverged_w, 0);
	assert_int_equal(shm->diverged_at, 45);
	cmd_dig(50, chain(0, 50), 10, chain(1, 10));    /* stays diverged */
	assert_int_equal(shm->sync, WEIR_SYNC_DIVERGED);
}

static void
test_digest_primary(void **st)
{
	uint64_t a, b;
	(void)st;
	results(0, 0);
	cmd(2, mono() + 1000000000ull, 0, 0, 0);
	results(0, 25);
	weir_gate_poll(g);
	assert_int_equal(written(0, &a, &b), 25);
	assert_int_equal(shm->emitted[0], 25);
	assert_true(shm->digest[0] == chain(0, 25));
	/* a restored stream goes on from the snapshot's position and digest */
	uint64_t seq[NW] = { 100, 7 }, dig[NW] = { 0x1234, 0x5678 };
	weir_gate_set_seq(g, seq, dig, NW);
	assert_true(weir_gate_digest(g, 0) == 0x1234);
	assert_int_equal(weir_gate_seq(g, 1), 7);
}

static void
test_control_gone(void **st)
{
	(void)st;
	cmd(5, mono() + 1000000000ull, 0, 0, 0);
	close(sv[0]);
	sv[0] = socket(AF_UNIX, SOCK_DGRAM, 0);         /* keep teardown's close harmless */
	assert_int_equal(weir_gate_poll(g), -1);
	assert_int_equal(weir_gate_poll(g), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_standby_then_promotion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_runs_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shadow_overflow_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handover_at_barrier, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_gone, setup, teardown),
		cmocka_unit_test(test_digest_function),
		cmocka_unit_test_setup_teardown(test_digest_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_digest_primary, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
