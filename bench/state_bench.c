/* SPDX-License-Identifier: Apache-2.0
 * State-plane benchmark: a worker's window state of a given size (default 1 GiB,
 * real weir_op slots) checkpointed through the real handover and state plane.
 *
 *   state-bench DIR [--mb N] [--json FILE]      (DIR is emptied first and removed after)
 *
 * Reports, for one full and one incremental checkpoint:
 *   - handover: the worker's time in weir_op_ckpt_begin and in each budgeted step
 *     (the longest single call is what a polling core ever pauses for), and in all;
 *   - snapshot: barrier to published manifest (RocksDB apply, checkpoint, checksums,
 *     manifest), as MB/s of delta bytes;
 *   - the snapshot's files written three ways from memory: the io_uring path
 *     (linked writes + fsync), plain write(2)+fsync(2), and cp + sync: MB/s each;
 *   - restore: reading the snapshot (sp_snap_load), raw and into a fresh operator.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "sp_io.h"
#include "stateplane.h"
#include "window.h"

static const char cfg_text[] =
	"[dataplane]\ndevices = net_null0\n"
	"[source tx]\nudp_port = 7000\nfields = amount:i64, merchant:u64\n"
	"[query spend]\nfrom = tx\nwindow = tumbling 1s\n"
	"aggregates = count, sum(amount), min(amount), max(amount), avg(amount), last(merchant)\n"
	"sink = stdout\n";

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
no_emit(void *ctx, const struct weir_result *r)
{
	(void)ctx;
	(void)r;
}

struct drv { struct sp *sp; };

static struct sp_chunk *
next_chunk(void *ctx, struct sp_chunk *full)
{
	struct drv *d = ctx;
	sp_chunk_put(d->sp, 0, full);
	return sp_chunk_get(d->sp, 0);
}

struct handover { double begin_us, step_max_us, step_p50_us, step_p99_us, total_ms; uint64_t bytes;
		  unsigned steps; };

static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One checkpoint of op through sp, as a worker does it; returns the epoch. */
static uint64_t
checkpoint(struct sp *sp, struct weir_op *op, struct handover *h)
{
	uint64_t before = sp_epoch_requested(sp);
	struct drv d = { sp };

	sp_request(sp);
	while (sp_epoch_requested(sp) == before)
		usleep(100);
	uint64_t e = sp_epoch_requested(sp);
	bool full = sp_take_resync(sp, 0);
	struct sp_chunk *c = sp_chunk_get(sp, 0);
	c->epoch = e;
	c->worker = 0;
	c->flags = full ? SP_CH_FULL : 0;
	c->seq = 0;
	c->len = 0;
	struct sp_writer w = { c, next_chunk, &d, 0, 0 };
	double t0 = now();
	weir_op_ckpt_begin(op, &w, full);
	double t1 = now();
	h->begin_us = (t1 - t0) * 1e6;
	static double us[1u << 22];
	h->step_max_us = 0;
	h->steps = 0;
	for (;;) {
		double s0 = now();
		bool done = weir_op_ckpt_step(op, 256);
		double dt = (now() - s0) * 1e6;
		if (h->steps < (1u << 22))
			us[h->steps] = dt;
		h->steps++;
		if (dt > h->step_max_us)
			h->step_max_us = dt;
		if (done)
			break;
	}
	unsigned n = h->steps < (1u << 22) ? h->steps : (1u << 22);
	qsort(us, n, sizeof(us[0]), cmp_dbl);
	h->step_p50_us = us[n / 2];
	h->step_p99_us = us[n * 99 / 100];
	w.c->flags |= SP_CH_LAST;
	sp_chunk_put(sp, 0, w.c);
	h->total_ms = (now() - t0) * 1e3;
	h->bytes = w.bytes;
	return e;
}

static void
feed(struct weir_op *op, uint64_t keys, uint64_t salt)
{
	static uint64_t v[2];
	struct weir_ev ev[256];

	for (uint64_t k = 0; k < keys;) {
		unsigned n = 0;
		for (; n < 256 && k < keys; n++, k++) {
			v[0] = (int64_t)((k * 2654435761u + salt) % 100000);
			v[1] = k ^ salt;
			ev[n] = (struct weir_ev){ 1700000000000000000 + (int64_t)(salt % 1000) * 1000, k * 7919 + 1, v };
		}
		weir_op_burst(op, ev, n);
	}
	weir_op_batch_end(op);
}

/* ---- the worker's own cost: events with and without checkpoints ---------------------------- */

static struct sp_chunk *
recycle_chunk(void *ctx, struct sp_chunk *full)
{
	(void)ctx;
	full->len = 0;
	return full;            /* the state plane's side is not measured here */
}

/* `events` events over `keys` keys, event time 1 M events/s, watermark following
 * it; a barrier every `every` events (0: none), then 256-window steps between
 * bursts as a worker does.  Returns ns per event. */
static double
worker_run(const struct weir_config *cfg, uint64_t events, uint64_t keys, uint64_t every)
{
	struct weir_op *op = weir_op_create(&cfg->queries[0], 0, &cfg->sources[0], no_emit, NULL);
	struct sp_chunk *c = malloc(sizeof(*c) + SP_CHUNK_BYTES);
	struct sp_writer w = { c, recycle_chunk, NULL, 0, 0 };
	struct weir_ev ev[32];
	uint64_t v[32][2], x = 88172645463325252ull;
	bool active = false;

	c->cap = SP_CHUNK_BYTES;
	c->len = 0;
	double t0 = now();
	for (uint64_t i = 0; i < events; i += 32) {
		for (unsigned k = 0; k < 32; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			v[k][0] = x % 100000;
			v[k][1] = x >> 40;
			ev[k] = (struct weir_ev){ (int64_t)((i + k) * 1000), x % keys, v[k] };
		}
		weir_op_burst(op, ev, 32);
		weir_op_batch_end(op);
		if ((i & 1023) == 0)
			weir_op_advance(op, (int64_t)(i * 1000) - 50000000);
		if (every && i % every == 0) {
			if (active)
				while (!weir_op_ckpt_step(op, UINT32_MAX))
					;
			weir_op_ckpt_begin(op, &w, false);
			active = true;
		}
		if (active && (i & 63) == 0)
			active = !weir_op_ckpt_step(op, 256);
	}
	double ns = (now() - t0) * 1e9 / (double)events;
	weir_op_destroy(op);
	free(c);
	return ns;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median of 5 interleaved rounds of each mode (a noisy shared machine). */
static void
worker_cost(const struct weir_config *cfg, FILE *json)
{
	const uint64_t events = 20000000, keys = 100000;
	const uint64_t every[3] = { 0, 17000000, 1700000 };   /* never, ~1 s, ~100 ms at 17 M events/s */
	double r[3][5], med[3];

	for (int round = 0; round < 5; round++)
		for (int m = 0; m < 3; m++)
			r[m][round] = worker_run(cfg, events, keys, every[m]);
	for (int m = 0; m < 3; m++) {
		qsort(r[m], 5, sizeof(double), cmp_d);
		med[m] = r[m][2];
	}
	printf("worker alone (%" PRIu64 " M events, %" PRIu64 " k keys, tumbling 1s): %.2f ns/event without "
	       "checkpoints, %.2f with a barrier every 17 M events (%.1f%%), %.2f every 1.7 M (%.1f%%)\n",
	       events / 1000000, keys / 1000, med[0], med[1], 100 * (med[1] / med[0] - 1), med[2],
	       100 * (med[2] / med[0] - 1));
	if (json)
		fprintf(json, "\"worker_ns_per_event\": %.3f, \"worker_ns_per_event_ckpt_1s\": %.3f, "
			"\"worker_ns_per_event_ckpt_100ms\": %.3f, ", med[0], med[1], med[2]);
}

/* ---- the snapshot's files, written three ways ------------------------------------------- */

struct file { char rel[256]; uint8_t *buf; size_t len; };

static unsigned
load_files(const char *snapdir, struct file *f, unsigned max, uint64_t *total)
{
	char path[PATH_MAX];
	unsigned n = 0;
	struct sp_io io;

	sp_io_init(&io, 16);
	*total = 0;
	snprintf(path, sizeof(path), "%s/shard-0", snapdir);
	DIR *d = opendir(path);
	struct dirent *de;
	while (d && (de = readdir(d)) && n < max) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(f[n].rel, sizeof(f[n].rel), "%s", de->d_name);
		snprintf(path, sizeof(path), "%s/shard-0/%s", snapdir, de->d_name);
		if (sp_io_read_file(&io, path, &f[n].buf, &f[n].len) == 0) {
			*total += f[n].len;
			n++;
		}
	}
	if (d)
		closedir(d);
	sp_io_exit(&io);
	return n;
}

static double
write_uring(const char *dir, struct file *f, unsigned n)
{
	char path[PATH_MAX];
	struct sp_io io;

	mkdir(dir, 0755);
	sp_io_init(&io, 64);
	double t0 = now();
	for (unsigned i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, f[i].rel);
		if (sp_io_write_file(&io, AT_FDCWD, path, f[i].buf, f[i].len, true))
			fprintf(stderr, "state-bench: io_uring write of %s failed\n", path);
	}
	sp_io_fsync_dir(&io, dir);
	double t = now() - t0;
	sp_io_exit(&io);
	return t;
}

static double
write_sync(const char *dir, struct file *f, unsigned n)
{
	char path[PATH_MAX];

	mkdir(dir, 0755);
	double t0 = now();
	for (unsigned i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, f[i].rel);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		size_t off = 0;
		while (fd >= 0 && off < f[i].len) {
			size_t k = f[i].len - off < (1u << 20) ? f[i].len - off : (1u << 20);
			ssize_t w = write(fd, f[i].buf + off, k);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		if (fd < 0 || off != f[i].len || fsync(fd))
			fprintf(stderr, "state-bench: write of %s failed\n", path);
		if (fd >= 0)
			close(fd);
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return now() - t0;
}

static double
write_cp(const char *src, const char *dir)
{
	char cmd[3 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), "cp -r '%s/shard-0' '%s' && sync -f '%s'", src, dir, dir);
	double t0 = now();
	if (system(cmd) != 0)
		fprintf(stderr, "state-bench: cp failed\n");
	return now() - t0;
}

/* ---- restore ------------------------------------------------------------------------------ */

struct rctx { struct weir_op *op; uint64_t bytes, records; };

static int
count_fn(void *ctx, unsigned shard, const uint8_t *k, unsigned kl, const uint8_t *v, unsigned vl)
{
	struct rctx *r = ctx;
	(void)shard;
	(void)k;
	(void)v;
	r->bytes += kl + vl;
	r->records++;
	return 0;
}

static int
restore_fn(void *ctx, unsigned shard, const uint8_t *k, unsigned kl, const uint8_t *v, unsigned vl)
{
	struct rctx *r = ctx;
	count_fn(ctx, shard, k, kl, v, vl);
	return weir_op_restore(r->op, k, kl, v, vl);
}

int
main(int argc, char **argv)
{
	const char *dir = NULL, *json = NULL;
	double mb = 1024;
	struct weir_config cfg;
	char err[512], path[PATH_MAX];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mb") && i + 1 < argc)
			mb = atof(argv[++i]);
		else if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json = argv[++i];
		else if (!dir && argv[i][0] != '-')
			dir = argv[i];
		else {
			fprintf(stderr, "usage: state-bench DIR [--mb N] [--json FILE]\n");
			return 2;
		}
	}
	if (!dir || mb <= 0) {
		fprintf(stderr, "usage: state-bench DIR [--mb N] [--json FILE]\n");
		return 2;
	}
	if (weir_config_load_string("bench.ini", cfg_text, &cfg, stderr))
		return 1;
	FILE *jf = json ? fopen(json, "w") : NULL;
	if (jf)
		fputc('{', jf);
	if (getenv("WEIR_BENCH_WORKER")) {    /* for callgrind: one worker run, "EVENTS:EVERY" */
		unsigned long long ev = 0, every = 0;
		if (sscanf(getenv("WEIR_BENCH_WORKER"), "%llu:%llu", &ev, &every) != 2 || !ev)
			return 2;
		printf("%.2f ns/event\n", worker_run(&cfg, ev, 100000, every));
		return 0;
	}
	if (!getenv("WEIR_BENCH_NO_WORKER"))
		worker_cost(&cfg, jf);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		return 1;

	/* the state: keys until the operator holds `mb` MiB */
	struct weir_op *op = weir_op_create(&cfg.queries[0], 0, &cfg.sources[0], no_emit, NULL);
	struct weir_op_stats st;
	feed(op, 100000, 0);
	weir_op_get_stats(op, &st);
	uint64_t keys = (uint64_t)(mb * 1048576.0 / ((double)st.state_bytes / 100000.0));
	weir_op_destroy(op);
	op = weir_op_create(&cfg.queries[0], 0, &cfg.sources[0], no_emit, NULL);
	double t0 = now();
	feed(op, keys, 0);
	weir_op_get_stats(op, &st);
	printf("state: %" PRIu64 " windows, %.0f MiB of operator state (built in %.1f s)\n", st.open_windows,
	       (double)st.state_bytes / 1048576.0, now() - t0);

	struct sp_cfg sc = { .dir = dir, .nshards = 1, .retain = 2, .fingerprint = "bench" };
	struct sp *sp = sp_create(&sc, err, sizeof(err));
	if (!sp || sp_start(sp)) {
		fprintf(stderr, "state-bench: %s\n", err);
		return 1;
	}
	struct handover h[2];
	double snap_s[2];
	struct sp_stats ss[2];
	for (int round = 0; round < 2; round++) {
		if (round == 1)
			feed(op, keys / 10, 12345);     /* 10% of the keys change */
		double c0 = now();
		uint64_t e = checkpoint(sp, op, &h[round]);
		if (sp_wait_epoch(sp, e, 600000000000ull) != 1) {
			fprintf(stderr, "state-bench: checkpoint %" PRIu64 " failed\n", e);
			return 1;
		}
		snap_s[round] = now() - c0;
		sp_get_stats(sp, &ss[round]);
		printf("%s checkpoint: delta %.1f MiB; worker handover: begin %.2f us, steps of 256 windows "
		       "p50 %.2f us p99 %.2f us max %.2f us (%u steps; the max includes being preempted on a "
		       "shared CPU), %.1f ms in all; barrier to published snapshot %.2f s = %.0f MB/s\n",
		       round ? "incremental" : "full", (double)h[round].bytes / 1048576.0, h[round].begin_us,
		       h[round].step_p50_us, h[round].step_p99_us, h[round].step_max_us, h[round].steps,
		       h[round].total_ms, snap_s[round],
		       (double)h[round].bytes / 1e6 / snap_s[round]);
	}
	sp_stop(sp);
	sp_destroy(sp);

	/* the newest snapshot's files, written three ways */
	struct sp_snap snap;
	if (sp_snap_find(dir, "bench", &snap, stderr, err, sizeof(err)) != 1) {
		fprintf(stderr, "state-bench: no snapshot: %s\n", err);
		return 1;
	}
	static struct file files[4096];
	uint64_t total;
	unsigned nf = load_files(snap.dir, files, 4096, &total);
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
	snprintf(a, sizeof(a), "%s/copy-uring", dir);
	snprintf(b, sizeof(b), "%s/copy-sync", dir);
	snprintf(c, sizeof(c), "%s/copy-cp", dir);
	/* three rounds in rotating order (whoever goes first also waits for the writeback
	 * of what came before); the median of each */
	double t3[3][3];
	sync();
	for (int round = 0; round < 3; round++)
		for (int j = 0; j < 3; j++) {
			int m = (round + j) % 3;
			char rm[3 * PATH_MAX];
			snprintf(rm, sizeof(rm), "rm -rf '%s' '%s' '%s'", a, b, c);
			if (system(rm) != 0)
				return 1;
			sync();
			t3[m][round] = m == 0 ? write_uring(a, files, nf) : m == 1 ? write_sync(b, files, nf)
									: write_cp(snap.dir, c);
		}
	for (int m = 0; m < 3; m++)
		qsort(t3[m], 3, sizeof(double), cmp_d);
	double tu = t3[0][1], tw = t3[1][1], tc = t3[2][1];
	printf("snapshot files (%u files, %.1f MiB) written with fsync, median of 3: io_uring %.0f MB/s, write+fsync %.0f MB/s, "
	       "cp+sync %.0f MB/s\n", nf, (double)total / 1048576.0, (double)total / 1e6 / tu,
	       (double)total / 1e6 / tw, (double)total / 1e6 / tc);
	for (unsigned i = 0; i < nf; i++)
		free(files[i].buf);

	/* restore */
	struct rctx r1 = { NULL, 0, 0 }, r2 = { weir_op_create(&cfg.queries[0], 0, &cfg.sources[0], no_emit, NULL),
						0, 0 };
	double l0 = now();
	if (sp_snap_load(&snap, count_fn, &r1, err, sizeof(err)))
		fprintf(stderr, "state-bench: load: %s\n", err);
	double l1 = now();
	if (sp_snap_load(&snap, restore_fn, &r2, err, sizeof(err)))
		fprintf(stderr, "state-bench: restore: %s\n", err);
	double l2 = now();
	printf("restore: %" PRIu64 " records, %.1f MiB: read %.2f GB/s, into an operator %.2f GB/s (%.2f s)\n",
	       r1.records, (double)r1.bytes / 1048576.0, (double)r1.bytes / 1e9 / (l1 - l0),
	       (double)r2.bytes / 1e9 / (l2 - l1), l2 - l1);
	if (r2.records != st.open_windows)
		fprintf(stderr, "state-bench: restored %" PRIu64 " windows of %" PRIu64 "\n", r2.records,
			st.open_windows);
	if (jf) {
		FILE *f = jf;
		{
			fprintf(f, "\"state_mib\": %.1f, \"full_delta_mib\": %.1f, \"full_handover_begin_us\": %.2f, "
				"\"full_handover_step_p50_us\": %.2f, \"full_handover_step_p99_us\": %.2f, "
				"\"full_handover_step_max_us\": %.2f, \"full_handover_total_ms\": %.1f, "
				"\"full_snapshot_s\": %.3f, \"full_snapshot_mb_s\": %.1f, \"incr_delta_mib\": %.1f, "
				"\"incr_handover_step_max_us\": %.2f, \"incr_snapshot_s\": %.3f, "
				"\"files_mib\": %.1f, \"uring_mb_s\": %.1f, \"sync_mb_s\": %.1f, \"cp_mb_s\": %.1f, "
				"\"restore_read_gb_s\": %.3f, \"restore_op_gb_s\": %.3f}\n",
				(double)st.state_bytes / 1048576.0, (double)h[0].bytes / 1048576.0, h[0].begin_us,
				h[0].step_p50_us, h[0].step_p99_us, h[0].step_max_us, h[0].total_ms, snap_s[0], (double)h[0].bytes / 1e6 / snap_s[0],
				(double)h[1].bytes / 1048576.0, h[1].step_max_us, snap_s[1], (double)total / 1048576.0,
				(double)total / 1e6 / tu, (double)total / 1e6 / tw, (double)total / 1e6 / tc,
				(double)r1.bytes / 1e9 / (l1 - l0), (double)r2.bytes / 1e9 / (l2 - l1));
			fclose(f);
		}
	}
	sp_snap_free(&snap);
	weir_op_destroy(op);
	weir_op_destroy(r2.op);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);   /* a GiB or more: not left behind */
	if (system(path) != 0)
		fprintf(stderr, "state-bench: cannot remove %s\n", dir);
	return 0;
}
