/* SPDX-License-Identifier: Apache-2.0
 * Unit tests: the state plane as a library.
 *
 * A driver plays the workers: for every epoch it writes each shard's delta (PUTs and
 * DELs of a deterministic pseudo-random history, or the whole shard when the state
 * plane asks for a resync) through chunks.  The reference is the same history
 * replayed into a plain in-memory model: whatever snapshot restore picks must hold
 * exactly the model's state at that snapshot's epoch.  Crashes are real (SIGKILL at
 * an injection point in a child process); corruption is real (bytes of the files). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "stateplane.h"
#include "sp_io.h"

#define NSH 2
#define NKEYS 300

/* ---- the reference model: shard -> key -> value --------------------------------------- */

struct model { uint64_t v[NSH][NKEYS]; uint8_t has[NSH][NKEYS]; };

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 31;
	x *= UINT64_C(0x9e3779b97f4a7c15);
	x ^= x >> 29;
	return x;
}

/* Epoch e's changes to shard k, in the order a worker would write them (DELs first). */
struct chg { int del; unsigned key; uint64_t val; };

static unsigned
changes(uint64_t e, unsigned k, unsigned big, struct chg *c)
{
	unsigned n = 0, m = (unsigned)(mix(e * 131 + k) % 60) + 1;

	for (unsigned i = 0; i < m; i++) {
		uint64_t r = mix(e * 1000003 + k * 7919 + i);
		if (r % 5 == 0)
			c[n++] = (struct chg){ 1, (unsigned)(r >> 8) % NKEYS, 0 };
	}
	for (unsigned i = 0; i < m; i++) {
		uint64_t r = mix(e * 1000003 + k * 7919 + i);
		if (r % 5 != 0)
			c[n++] = (struct chg){ 0, (unsigned)(r >> 8) % NKEYS, mix(r) };
	}
	(void)big;
	return n;
}

static void
model_at(struct model *m, uint64_t e)
{
	struct chg c[128];

	memset(m, 0, sizeof(*m));
	for (uint64_t x = 1; x <= e; x++)
		for (unsigned k = 0; k < NSH; k++) {
			unsigned n = changes(x, k, 0, c);
			for (unsigned i = 0; i < n; i++) {
				m->has[k][c[i].key] = !c[i].del;
				m->v[k][c[i].key] = c[i].val;
			}
		}
}

/* ---- the driver (plays the workers) ------------------------------------------------------ */

struct drv { struct sp *sp; unsigned k; };

static struct sp_chunk *
next_chunk(void *ctx, struct sp_chunk *full)
{
	struct drv *d = ctx;
	sp_chunk_put(d->sp, d->k, full);
	return sp_chunk_get(d->sp, d->k);
}

static unsigned pad_bytes;      /* extra value bytes per PUT (the disk-full test) */
static unsigned filler;         /* the disk-full test: PUT (1) or DEL (2) filler keys */
#define NFILL 6000u             /* filler keys NKEYS.. with 1 KiB values */

static void
put_rec(struct sp_writer *w, unsigned type, unsigned key, uint64_t val)
{
	unsigned vl = type == SP_REC_PUT ? 8 + pad_bytes : 0;
	uint8_t *p = sp_rec_put(w, type, 8, vl);
	sp_be64(p, key);
	if (vl) {
		memcpy(p + 8, &val, 8);
		/* incompressible, so that compression cannot hide the size */
		uint64_t x = val;
		for (unsigned i = 0; i < pad_bytes; i++) {
			if (!(i & 7))
				x = mix(x + i);
			p[16 + i] = (uint8_t)(x >> ((i & 7) * 8));
		}
	}
}

/* Write epoch e's deltas for every shard. */
static void
write_epoch(struct sp *sp, uint64_t e)
{
	struct chg c[128];
	struct model full;
	int have_full = 0;

	for (unsigned k = 0; k < NSH; k++) {
		struct drv d = { sp, k };
		struct sp_writer w = { sp_chunk_get(sp, k), next_chunk, &d, 0, 0 };
		bool resync = sp_take_resync(sp, k);
		w.c->epoch = e;
		w.c->worker = (uint16_t)k;
		w.c->flags = resync ? SP_CH_FULL : 0;
		w.c->seq = 0;
		w.c->len = 0;
		if (resync) {
			if (!have_full++)
				model_at(&full, e);
			for (unsigned i = 0; i < NKEYS; i++)
				if (full.has[k][i])
					put_rec(&w, SP_REC_PUT, i, full.v[k][i]);
		} else {
			unsigned n = changes(e, k, 0, c);
			for (unsigned i = 0; i < n; i++)
				put_rec(&w, c[i].del ? SP_REC_DEL : SP_REC_PUT, c[i].key, c[i].val);
			pad_bytes = filler == 1 ? 1024 - 8 : 0;
			for (unsigned i = 0; filler && i < NFILL; i++)
				put_rec(&w, filler == 1 ? SP_REC_PUT : SP_REC_DEL, NKEYS + i, i);
			pad_bytes = 0;
		}
		uint8_t *p = sp_rec_put(&w, SP_REC_META, 2, 8);
		int64_t wm = (int64_t)e * 1000;
		memcpy(p, "q0", 2);
		memcpy(p + 2, &wm, 8);
		w.c->flags |= SP_CH_LAST;
		sp_chunk_put(sp, k, w.c);
	}
}

static int
app_meta(void *ctx, uint64_t epoch, cJSON *app)
{
	(void)ctx;
	cJSON_AddNumberToObject(app, "test_epoch", (double)epoch);
	return 0;
}

static struct sp *
open_sp(const char *dir, unsigned retain)
{
	char err[256];
	struct sp_cfg cfg = { .dir = dir, .nshards = NSH, .retain = retain, .fingerprint = "test-fp",
			      .app_meta = app_meta };
	struct sp *sp = sp_create(&cfg, err, sizeof(err));
	if (!sp)
		fprintf(stderr, "%s\n", err);
	assert_non_null(sp);
	assert_int_equal(sp_start(sp), 0);
	return sp;
}

/* Take one checkpoint; returns 1 published, 0 failed. */
static int
epoch_once(struct sp *sp)
{
	uint64_t before = sp_epoch_requested(sp);
	struct timespec ts = { 0, 100000 };

	sp_request(sp);
	for (int i = 0; i < 100000 && sp_epoch_requested(sp) == before; i++)
		nanosleep(&ts, NULL);
	uint64_t e = sp_epoch_requested(sp);
	assert_true(e > before);
	write_epoch(sp, e);
	int r = sp_wait_epoch(sp, e, 20000000000ull);
	assert_true(r >= 0);
	return r;
}

/* ---- checking a restore ------------------------------------------------------------------- */

static struct model got;

static int
load_fn(void *ctx, unsigned shard, const uint8_t *k, unsigned kl, const uint8_t *v, unsigned vl)
{
	(void)ctx;
	if (kl != 8 || vl < 8 || shard >= NSH)
		return -1;
	uint64_t key = sp_rd_be64(k);
	if (key >= NKEYS || got.has[shard][key])
		return -1;
	got.has[shard][key] = 1;
	memcpy(&got.v[shard][key], v, 8);
	return 0;
}

/* The snapshot restore picks must be epoch `want` and hold the model's state. */
static void
check_restore(const char *dir, uint64_t want)
{
	struct sp_snap s;
	struct model m;
	char err[512];

	int r = sp_snap_find(dir, "test-fp", &s, stderr, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "find: %s\n", err);
	assert_int_equal(r, want ? 1 : 0);
	if (!want)
		return;
	assert_int_equal(s.epoch, want);
	assert_int_equal(s.nshards, NSH);
	memset(&got, 0, sizeof(got));
	r = sp_snap_load(&s, load_fn, NULL, err, sizeof(err));
	if (r)
		fprintf(stderr, "load: %s\n", err);
	assert_int_equal(r, 0);
	model_at(&m, want);
	assert_memory_equal(got.has, m.has, sizeof(m.has));
	for (unsigned k = 0; k < NSH; k++)
		for (unsigned i = 0; i < NKEYS; i++)
			if (m.has[k][i])
				assert_int_equal(got.v[k][i], m.v[k][i]);
	assert_int_equal(sp_snap_meta(&s, 1, "q0", -1), (int64_t)want * 1000);
	sp_snap_free(&s);
}

static char base[256];

static void
fresh(char *dir, size_t n, const char *name)
{
	char cmd[600];
	snprintf(dir, n, "%s/%s", base, name);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static unsigned
count_snapshots(const char *dir)
{
	char p[600];
	unsigned n = 0;
	struct dirent *de;
	snprintf(p, sizeof(p), "%s/snapshots", dir);
	DIR *d = opendir(p);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, "epoch-", 6);
	closedir(d);
	return n;
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void
roundtrip_and_retention(void **st)
{
	char dir[512];
	(void)st;
	fresh(dir, sizeof(dir), "rt");
	struct sp *sp = open_sp(dir, 3);
	for (int i = 0; i < 6; i++)
		assert_int_equal(epoch_once(sp), 1);
	struct sp_stats s;
	sp_get_stats(sp, &s);
	assert_int_equal(s.completed, 6);
	assert_int_equal(s.failed, 0);
	assert_int_equal(s.last_epoch, 6);
	assert_int_equal(s.resyncs, NSH);        /* the first delta of each shard is full */
	assert_int_equal(count_snapshots(dir), 3);
	/* a pinned snapshot survives retention */
	sp_pin(4);
	assert_int_equal(epoch_once(sp), 1);
	assert_int_equal(count_snapshots(dir), 4);
	sp_unpin(4);
	assert_int_equal(epoch_once(sp), 1);
	assert_int_equal(count_snapshots(dir), 3);
	/* ... and so does one another process reads (a shared flock on its MANIFEST, as
	 * sp_snap_load and sp_ship_send hold; flock on another open file acts alike) */
	char mp[700];
	snprintf(mp, sizeof(mp), "%s/snapshots/epoch-%020d/MANIFEST", dir, 6);
	int lk = open(mp, O_RDONLY);
	assert_true(lk >= 0);
	assert_int_equal(flock(lk, LOCK_SH), 0);
	assert_int_equal(epoch_once(sp), 1);
	assert_int_equal(count_snapshots(dir), 4);
	close(lk);
	assert_int_equal(epoch_once(sp), 1);
	assert_int_equal(count_snapshots(dir), 3);
	sp_destroy(sp);
	check_restore(dir, 10);
	/* a restart continues the epochs after the newest on disk */
	sp = open_sp(dir, 3);
	assert_int_equal(epoch_once(sp), 1);
	sp_get_stats(sp, &s);
	assert_int_equal(s.last_epoch, 11);
	sp_destroy(sp);
	check_restore(dir, 11);
}

/* Crash (SIGKILL) at each injection point of epoch 3's commit, in a child. */
static void
crash_at(const char *point, unsigned nth, uint64_t expect)
{
	char dir[512], spec[64], name[64];
	snprintf(name, sizeof(name), "crash-%s", point);
	fresh(dir, sizeof(dir), name);
	snprintf(spec, sizeof(spec), "%s@%u", point, nth);
	/* a fresh process (exec, not just fork: RocksDB's background threads do not
	 * survive a fork) that runs 5 epochs and dies at the injection point */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("WEIR_SP_FAULT", spec, 1);
		execl("/proc/self/exe", "test-stateplane", "--child", dir, (char *)NULL);
		_exit(127);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	check_restore(dir, expect);
	/* and a restarted state plane carries on from there */
	struct sp *sp = open_sp(dir, 3);
	assert_int_equal(epoch_once(sp), 1);
	struct sp_stats s;
	sp_get_stats(sp, &s);
	sp_destroy(sp);
	assert_true(s.last_epoch > expect);
	/* the next epoch's content: the model at that epoch (full deltas after a restart) */
	check_restore(dir, s.last_epoch);
}

static void crash_apply(void **st) { (void)st; crash_at("apply", 3, 2); }
static void crash_cut(void **st) { (void)st; crash_at("cut", 3, 2); }
static void crash_manifest(void **st) { (void)st; crash_at("manifest", 3, 2); }
static void crash_rename(void **st) { (void)st; crash_at("rename", 3, 2); }

/* I/O errors fail that checkpoint only; later ones succeed. */
static void
io_errors(void **st)
{
	static const char *const specs[] = { "fsync@4:eio", "write@3:enospc", "apply@2:eio", "cut@3:eio",
					     "rename@2:eio" };
	(void)st;
	for (unsigned i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		char dir[512];
		fresh(dir, sizeof(dir), "ioerr");
		setenv("WEIR_SP_FAULT", specs[i], 1);
		sp_fault_reset();
		struct sp *sp = open_sp(dir, 10);
		int ok = 0;
		for (int e = 0; e < 5; e++)
			ok += epoch_once(sp);
		struct sp_stats s;
		sp_get_stats(sp, &s);
		sp_destroy(sp);
		unsetenv("WEIR_SP_FAULT");
		sp_fault_reset();
		assert_int_equal(ok, 4);
		assert_int_equal(s.failed, 1);
		assert_int_not_equal(s.last_error, 0);
		check_restore(dir, 5);
		/* the failed epoch left nothing that reads as complete */
		assert_int_equal(count_snapshots(dir), 4);
	}
}

/* Every file of the newest snapshot, bit-flipped or truncated: restore falls back. */
static void
corruption(void **st)
{
	char dir[512], sd[700], path[1400], cmd[3000];
	struct dirent *de;
	(void)st;
	fresh(dir, sizeof(dir), "corrupt");
	struct sp *sp = open_sp(dir, 5);
	for (int i = 0; i < 3; i++)
		assert_int_equal(epoch_once(sp), 1);
	sp_destroy(sp);
	snprintf(sd, sizeof(sd), "%s/snapshots/epoch-%020d", dir, 3);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s.orig'", sd, sd);
	assert_int_equal(system(cmd), 0);
	/* every file: MANIFEST, and each shard's SST, MANIFEST-*, CURRENT, OPTIONS-* */
	const char *subs[] = { ".", "shard-0", "shard-1" };
	unsigned tried = 0;
	for (unsigned s = 0; s < 3; s++) {
		char sub[800];
		snprintf(sub, sizeof(sub), "%s.orig/%s", sd, subs[s]);
		DIR *d = opendir(sub);
		assert_non_null(d);
		while ((de = readdir(d))) {
			struct stat sb;
			snprintf(path, sizeof(path), "%s/%s", sub, de->d_name);
			if (stat(path, &sb) || !S_ISREG(sb.st_mode))
				continue;
			for (int mode = 0; mode < 2; mode++) {
				char victim[1500];
				snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s.orig' '%s'", sd, sd, sd);
				assert_int_equal(system(cmd), 0);   /* cp: a private copy, no shared links */
				snprintf(victim, sizeof(victim), "%s/%s/%s", sd, subs[s], de->d_name);
				if (mode == 0) {        /* flip one bit in the middle */
					int fd = open(victim, O_RDWR);
					uint8_t b;
					off_t at = sb.st_size / 2;
					assert_true(fd >= 0);
					assert_int_equal(pread(fd, &b, 1, at), 1);
					b ^= 0x10;
					assert_int_equal(pwrite(fd, &b, 1, at), 1);
					close(fd);
				} else {
					assert_int_equal(truncate(victim, sb.st_size / 2), 0);
				}
				check_restore(dir, 2);
				tried++;
			}
		}
		closedir(d);
	}
	assert_true(tried >= 2 * 7);
	/* all snapshots bad: refuse rather than start empty */
	snprintf(cmd, sizeof(cmd), "for m in '%s'/snapshots/epoch-*/MANIFEST; do echo x >> \"$m\"; done", dir);
	assert_int_equal(system(cmd), 0);
	struct sp_snap s;
	char err[512];
	assert_int_equal(sp_snap_find(dir, "test-fp", &s, stderr, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "none valid"));
	/* another query set's snapshot is not used */
	fresh(dir, sizeof(dir), "fp");
	sp = open_sp(dir, 5);
	assert_int_equal(epoch_once(sp), 1);
	sp_destroy(sp);
	assert_int_equal(sp_snap_find(dir, "other-fp", &s, stderr, err, sizeof(err)), -1);
}

/* Disk full for real: a 4 MiB tmpfs.  A huge epoch fails; the state keeps working. */
static void
disk_full(void **st)
{
	char dir[600], mnt[512];
	(void)st;
	snprintf(mnt, sizeof(mnt), "%s/small", base);
	mkdir(mnt, 0755);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=4m")) {
		fprintf(stderr, "disk_full: cannot mount a tmpfs (%s): skipped\n", strerror(errno));
		skip();
	}
	snprintf(dir, sizeof(dir), "%s/state", mnt);
	struct sp *sp = open_sp(dir, 2);
	assert_int_equal(epoch_once(sp), 1);
	assert_int_equal(epoch_once(sp), 1);
	/* epoch 3: 6000 extra keys of 1 kB random bytes per shard: 12 MB, three times
	 * what the filesystem holds; epoch 4 deletes them again (if epoch 3 failed, the
	 * state plane asks for full deltas instead, which never had them) */
	filler = 1;
	int r3 = epoch_once(sp);
	filler = 2;
	assert_int_equal(epoch_once(sp), 1);
	filler = 0;
	struct sp_stats s;
	sp_get_stats(sp, &s);
	/* whatever happened, later epochs (small again) work and restore is exact */
	int ok = 0;
	for (int i = 0; i < 3; i++)
		ok += epoch_once(sp);
	sp_get_stats(sp, &s);
	sp_destroy(sp);
	check_restore(dir, 7);
	umount2(mnt, MNT_DETACH);
	assert_int_equal(r3, 0);
	assert_int_equal(ok, 3);
	assert_true(s.failed >= 1);
	assert_non_null(strstr(s.last_error_msg, "No space left on device"));
}

/* ---- shipping ----------------------------------------------------------------------------- */

struct rcv { const char *dir; int lfd; uint64_t epoch; char err[256]; };

static void *
rcv_thread(void *arg)
{
	struct rcv *r = arg;
	r->epoch = sp_ship_recv(r->dir, r->lfd, 3, stderr, r->err, sizeof(r->err));
	return NULL;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	*len = fread(b, 1, (size_t)n, f);
	b[*len] = 0;
	fclose(f);
	return b;
}

/* Send snapshot `epoch` of dir as sp_ship_send does (header, manifest, files in
 * manifest order), flipping one byte of the second file if `flip`; returns the ack. */
static uint8_t
raw_send(const char *dir, uint64_t epoch, uint16_t port, int flip)
{
	char path[1200], snap[1100];
	snprintf(snap, sizeof(snap), "%s/snapshots/epoch-%020" PRIu64, dir, epoch);
	snprintf(path, sizeof(path), "%s/MANIFEST", snap);
	size_t mlen = 0;
	char *man = slurp(path, &mlen);
	assert_non_null(man);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	uint8_t hdr[24];
	memcpy(hdr, "WEIRSHP1", 8);
	sp_be64(hdr + 8, epoch);
	sp_be64(hdr + 16, mlen);
	assert_int_equal(write(fd, hdr, 24), 24);
	assert_int_equal(write(fd, man, mlen), (ssize_t)mlen);
	/* the file list, in order: the manifest's "path" entries */
	int nth = 0;
	for (char *q = man; (q = strstr(q, "\"path\":")); nth++) {
		q = strchr(q + 7, '"') + 1;
		char *e = strchr(q, '"');
		snprintf(path, sizeof(path), "%s/%.*s", snap, (int)(e - q), q);
		size_t fl = 0;
		char *f = slurp(path, &fl);
		assert_non_null(f);
		if (flip && nth == 1 && fl > 0)
			f[fl / 2] ^= 0x10;
		assert_int_equal(write(fd, f, fl), (ssize_t)fl);
		free(f);
	}
	free(man);
	uint8_t ack = 0;
	if (read(fd, &ack, 1) != 1)
		ack = 0;
	close(fd);
	return ack;
}

/* A keyed tag for the authentication test (stateplane takes any MAC; the HA pair
 * gives it HMAC-SHA256): FNV-1a over key || data, spread to 32 bytes.  The key is
 * per thread, so that the receiving thread and the sender can disagree. */
static __thread const char *tkey;

static void
toy_mac(void *ctx, const uint8_t *d, size_t n, uint8_t out[SP_MAC_LEN])
{
	uint64_t h = 1469598103934665603ull;
	(void)ctx;
	for (const char *k = tkey; k && *k; k++)
		h = (h ^ (uint8_t)*k) * 1099511628211ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ d[i]) * 1099511628211ull;
	for (int i = 0; i < SP_MAC_LEN; i++) {
		h = (h ^ (uint64_t)i) * 1099511628211ull;
		out[i] = (uint8_t)(h >> 56);
	}
}

struct arcv { struct rcv r; const char *key; };

static void *
arcv_thread(void *arg)
{
	struct arcv *a = arg;
	tkey = a->key;
	return rcv_thread(&a->r);
}

/* Shipping fixtures: state dirs <tag>-a (with `epochs` snapshots) and <tag>-b (empty),
 * and a listener on loopback (its host:port in hp, its port in *port).  Returns the listening socket. */
static int
ship_fixture(const char *tag, int epochs, char *a, char *b, size_t n, char *hp, size_t hpn, uint16_t *port)
{
	char name[64], err[256];

	snprintf(name, sizeof(name), "%s-a", tag);
	fresh(a, n, name);
	snprintf(name, sizeof(name), "%s-b", tag);
	fresh(b, n, name);
	struct sp *sp = open_sp(a, 3);
	for (int i = 0; i < epochs; i++)
		assert_int_equal(epoch_once(sp), 1);
	sp_destroy(sp);
	int lfd = sp_listen("127.0.0.1:0", port, err, sizeof(err));
	assert_true(lfd >= 0);
	snprintf(hp, hpn, "127.0.0.1:%u", *port);
	return lfd;
}

/* With a MAC set, a receiver takes a snapshot only from a sender that knows the key
 * (challenge-response over the header and manifest); another key is refused and
 * nothing is published. */
static void
ship_authenticated(void **st)
{
	char a[512], b[512], hp[64], err[256];
	uint16_t port;
	pthread_t t;
	(void)st;
	int lfd = ship_fixture("auth", 2, a, b, sizeof(a), hp, sizeof(hp), &port);
	sp_set_ship_auth(toy_mac, NULL);
	/* another key: refused by the receiver, and the sender hears it was not accepted */
	struct arcv x = { { b, lfd, 99, "" }, "the pair's secret" };
	tkey = "a guess";
	pthread_create(&t, NULL, arcv_thread, &x);
	assert_int_not_equal(sp_ship_send(a, 0, hp, stderr, err, sizeof(err)), 0);
	pthread_join(t, NULL);
	assert_int_equal(x.r.epoch, 0);
	assert_non_null(strstr(x.r.err, "did not authenticate"));
	struct sp_snap snap;
	assert_int_equal(sp_snap_find(b, NULL, &snap, stderr, err, sizeof(err)), 0);
	/* the same key: taken */
	tkey = "the pair's secret";
	pthread_create(&t, NULL, arcv_thread, &x);
	assert_int_equal(sp_ship_send(a, 0, hp, stderr, err, sizeof(err)), 0);
	pthread_join(t, NULL);
	assert_int_equal(x.r.epoch, 2);
	sp_set_ship_auth(NULL, NULL);
	tkey = NULL;
	close(lfd);
}

static void
ship(void **st)
{
	char a[512], b[512], hp[64], err[256];
	uint16_t port;
	pthread_t t;
	(void)st;
	int lfd = ship_fixture("ship", 4, a, b, sizeof(a), hp, sizeof(hp), &port);
	/* 1: a good transfer; the copy restores to the same state */
	struct rcv r = { b, lfd, 0, "" };
	pthread_create(&t, NULL, rcv_thread, &r);
	assert_int_equal(sp_ship_send(a, 0, hp, stderr, err, sizeof(err)), 0);
	pthread_join(t, NULL);
	assert_int_equal(r.epoch, 4);
	check_restore(b, 4);

	/* 2: the sender dies in the middle: nothing is published on the receiver */
	r.epoch = 99;
	pthread_create(&t, NULL, rcv_thread, &r);
	pid_t pid = fork();
	if (pid == 0) {
		setenv("WEIR_SP_FAULT", "ship@2", 1);
		execl("/proc/self/exe", "test", "--ship-child", a, hp, (char *)NULL);
		_exit(127);
	}
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFSIGNALED(status));
	pthread_join(t, NULL);
	assert_int_equal(r.epoch, 0);
	assert_int_equal(count_snapshots(b), 1);    /* only epoch 4; no epoch 3, no .recv */

	/* 3: the sender refuses a snapshot whose files no longer match their manifest */
	char cmd[2600];
	snprintf(cmd, sizeof(cmd), "f=$(ls '%s'/snapshots/epoch-%020d/shard-0/*.sst | head -1); "
		 "cp \"$f\" \"$f.x\" && mv \"$f.x\" \"$f\" && printf 'Z' | dd of=\"$f\" bs=1 seek=100 conv=notrunc 2>/dev/null",
		 a, 2);
	assert_int_equal(system(cmd), 0);
	assert_int_not_equal(sp_ship_send(a, 2, hp, stderr, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "checksum mismatch"));

	/* 4: the receiver checks what arrives: a stream of epoch 3 with one byte of one
	 * file flipped on the way (by a hand-made sender) is refused, nothing published;
	 * then the same stream unharmed is accepted */
	for (int flip = 1; flip >= 0; flip--) {
		r.epoch = 99;
		pthread_create(&t, NULL, rcv_thread, &r);
		uint8_t ack = raw_send(a, 3, port, flip);
		pthread_join(t, NULL);
		assert_int_equal(ack, flip ? 'E' : 'K');
		assert_int_equal(r.epoch, flip ? 0 : 3);
		assert_int_equal(count_snapshots(b), flip ? 1 : 2);
	}
	check_restore(b, 4);
	/* 5: a sender that connects and goes silent: the receiver gives up (timeout) */
	sp_set_ship_timeout(300);
	r.epoch = 99;
	pthread_create(&t, NULL, rcv_thread, &r);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, "WEIRSHP1", 8), 8);
	pthread_join(t, NULL);
	close(fd);
	sp_set_ship_timeout(0);
	assert_int_equal(r.epoch, 0);
	assert_non_null(strstr(r.err, "timed out"));
	assert_int_equal(count_snapshots(b), 2);
	close(lfd);
}

int
main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--child")) {
		struct sp *sp = open_sp(argv[2], 3);
		for (int i = 0; i < 5; i++)
			epoch_once(sp);
		sp_destroy(sp);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "--ship-child")) {
		char err[256];
		return sp_ship_send(argv[2], 3, argv[3], stderr, err, sizeof(err)) ? 1 : 0;
	}
	snprintf(base, sizeof(base), "/tmp/weir-sp-test.%d", (int)getpid());
	mkdir(base, 0755);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roundtrip_and_retention),
		cmocka_unit_test(crash_apply),
		cmocka_unit_test(crash_cut),
		cmocka_unit_test(crash_manifest),
		cmocka_unit_test(crash_rename),
		cmocka_unit_test(io_errors),
		cmocka_unit_test(corruption),
		cmocka_unit_test(disk_full),
		cmocka_unit_test(ship),
		cmocka_unit_test(ship_authenticated),
	};
	if (getenv("WEIR_TEST_FILTER"))
		cmocka_set_test_filter(getenv("WEIR_TEST_FILTER"));
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", base);
	return r;
}
