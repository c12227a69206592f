/* SPDX-License-Identifier: Apache-2.0
 * The state-plane thread: applies deltas to RocksDB shards, cuts checkpoints,
 * publishes manifests (see stateplane.h). */
#include "stateplane.h"
#include "sp_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>

#define CHUNK_RING 16384u     /* chunk pointers: a 4 GiB delta never makes a worker wait */
/* Empty chunks kept ready per shard, their pages already touched by the state
 * thread: a worker writing a delta never takes a page fault on fresh memory
 * (measured: 60-80 us per 256-window step when it did). */
#define POOL_CHUNKS 32u

struct shard {
	rocksdb_t *db;
	bool failed;                /* this epoch */
	bool last;                  /* last chunk of this epoch is in */
	uint64_t records;
	cJSON *meta;
};

struct sp {
	struct sp_public pub;       /* first */
	struct sp_cfg cfg;
	char dir[PATH_MAX];
	char *fingerprint;
	struct sp_io io;
	struct rte_ring *in[SP_MAX_SHARDS];     /* worker -> state plane */
	struct rte_ring *back[SP_MAX_SHARDS];   /* state plane -> worker (empty chunks) */
	uint8_t resync[SP_MAX_SHARDS];          /* atomic: next delta must be full */
	struct shard sh[SP_MAX_SHARDS];
	rocksdb_options_t *opts;
	rocksdb_env_t *env;
	rocksdb_writeoptions_t *wo;
	pthread_t thr;
	int started;
	int stop;                   /* atomic */
	int asked;                  /* atomic: sp_request */
	uint64_t acked;             /* atomic: sp_ack */
	uint64_t nacked;            /* atomic: sp_ack(.., false) */
	uint64_t inflight;          /* epoch being taken, 0 none */
	uint64_t t_request;
	uint64_t delta_bytes;       /* of the epoch in flight */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t done_epoch;        /* newest finished (published or failed), under mu */
	int done_ok;
	struct sp_stats st;         /* under mu */
};

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
logf_(struct sp *sp, const char *fmt, ...)
{
	va_list ap;
	FILE *f = sp->cfg.log ? sp->cfg.log : stderr;

	va_start(ap, fmt);
	fputs("weir: state: ", f);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	fflush(f);
	va_end(ap);
}

static struct rte_ring *
ring_new(const char *name, unsigned n)
{
	ssize_t sz = rte_ring_get_memsize(n);
	struct rte_ring *r;

	if (sz < 0 || !(r = aligned_alloc(64, ((size_t)sz + 63) & ~(size_t)63)))
		return NULL;
	if (rte_ring_init(r, name, n, RING_F_SP_ENQ | RING_F_SC_DEQ)) {
		free(r);
		return NULL;
	}
	return r;
}

static int
shard_open(struct sp *sp, unsigned k, bool fresh)
{
	char path[PATH_MAX], *e = NULL;

	snprintf(path, sizeof(path), "%s/live/shard-%u", sp->dir, k);
	if (fresh) {
		if (sp->sh[k].db)
			rocksdb_close(sp->sh[k].db);
		sp->sh[k].db = NULL;
		sp_rm_tree(path);
	}
	sp->sh[k].db = rocksdb_open(sp->opts, path, &e);
	if (e) {
		logf_(sp, "%s: %s", path, e);
		rocksdb_free(e);
		sp->sh[k].db = NULL;
		return -1;
	}
	return 0;
}

struct sp *
sp_create(const struct sp_cfg *cfg, char *err, size_t en)
{
	struct sp *sp = calloc(1, sizeof(*sp));
	char path[PATH_MAX + 32];

	if (!sp) {
		snprintf(err, en, "out of memory");
		return NULL;
	}
	sp->cfg = *cfg;
	if (!sp->cfg.retain)
		sp->cfg.retain = 3;
	if (!sp->cfg.depth)
		sp->cfg.depth = 64;
	if (cfg->nshards == 0 || cfg->nshards > SP_MAX_SHARDS) {
		snprintf(err, en, "state plane: %u shards (1..%u)", cfg->nshards, SP_MAX_SHARDS);
		goto fail;
	}
	if (!cfg->dir || !cfg->dir[0] || strlen(cfg->dir) > SP_DIR_MAX) {
		snprintf(err, en, "state dir: a path of 1..%d bytes", SP_DIR_MAX);
		goto fail;
	}
	snprintf(sp->dir, sizeof(sp->dir), "%s", cfg->dir);
	sp->fingerprint = strdup(cfg->fingerprint ? cfg->fingerprint : "");
	pthread_mutex_init(&sp->mu, NULL);
	pthread_cond_init(&sp->cv, NULL);
	const char *sub[] = { "", "/live", "/snapshots", "/log" };
	for (unsigned i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s%s", sp->dir, sub[i]);
		if (mkdir(path, 0755) && errno != EEXIST) {
			snprintf(err, en, "state dir %s: %s", path, strerror(errno));
			goto fail;
		}
	}
	if (sp_io_init(&sp->io, sp->cfg.depth)) {
		snprintf(err, en, "io_uring: cannot set up a ring of %u", sp->cfg.depth);
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/log", sp->dir);
	sp->opts = sp_rocks_options(path, true);
	if (cfg->nice > 0) {
		/* RocksDB's flush and compaction threads yield to the polling cores too */
		sp->env = rocksdb_create_default_env();
		rocksdb_env_lower_thread_pool_cpu_priority(sp->env);
		rocksdb_env_lower_high_priority_thread_pool_cpu_priority(sp->env);
		rocksdb_options_set_env(sp->opts, sp->env);
	}
	sp->wo = rocksdb_writeoptions_create();
	rocksdb_writeoptions_disable_WAL(sp->wo, 1);   /* durability is the snapshot's */
	for (unsigned k = 0; k < cfg->nshards; k++) {
		char nm[32];
		snprintf(nm, sizeof(nm), "spin%u", k);
		sp->in[k] = ring_new(nm, CHUNK_RING);
		snprintf(nm, sizeof(nm), "spback%u", k);
		sp->back[k] = ring_new(nm, CHUNK_RING);
		if (!sp->in[k] || !sp->back[k]) {
			snprintf(err, en, "state plane: out of memory");
			goto fail;
		}
		/* the live shard is rebuilt from the first (full) delta: whatever a previous
		 * run left there is not trusted */
		if (shard_open(sp, k, true)) {
			snprintf(err, en, "state plane: cannot open RocksDB shard %u under %s/live", k, sp->dir);
			goto fail;
		}
		sp->resync[k] = 1;
	}
	/* epochs keep counting from the newest one on disk, so newer is always larger */
	sp->st.last_epoch = sp_newest_epoch(sp->dir);
	sp->done_epoch = sp->st.last_epoch;
	return sp;
fail:
	sp_destroy(sp);
	return NULL;
}

void
sp_destroy(struct sp *sp)
{
	if (!sp)
		return;
	sp_stop(sp);
	for (unsigned k = 0; k < SP_MAX_SHARDS; k++) {
		void *c;
		if (sp->sh[k].db)
			rocksdb_close(sp->sh[k].db);
		cJSON_Delete(sp->sh[k].meta);
		if (sp->in[k]) {
			while (rte_ring_dequeue(sp->in[k], &c) == 0)
				free(c);
			free(sp->in[k]);
		}
		if (sp->back[k]) {
			while (rte_ring_dequeue(sp->back[k], &c) == 0)
				free(c);
			free(sp->back[k]);
		}
	}
	if (sp->opts)
		rocksdb_options_destroy(sp->opts);
	if (sp->wo)
		rocksdb_writeoptions_destroy(sp->wo);
	if (sp->env)
		rocksdb_env_destroy(sp->env);
	if (sp->io.depth)
		sp_io_exit(&sp->io);
	free(sp->fingerprint);
	free(sp);
}

/* ---- worker side -------------------------------------------------------------------------- */

static struct sp_chunk *
chunk_new(struct sp *sp, bool touch)
{
	struct sp_chunk *c = malloc(sizeof(struct sp_chunk) + SP_CHUNK_BYTES);

	if (!c)
		return NULL;
	if (touch)
		memset(c->data, 0, SP_CHUNK_BYTES);
#ifdef MADV_POPULATE_WRITE
	else    /* one call that maps every page, not 64 page faults while records go in */
		madvise((void *)((uintptr_t)c->data & ~(uintptr_t)4095), SP_CHUNK_BYTES, MADV_POPULATE_WRITE);
#endif
	__atomic_add_fetch(&sp->st.chunks_allocated, 1, __ATOMIC_RELAXED);
	c->cap = SP_CHUNK_BYTES;
	c->len = 0;
	return c;
}

/* State thread (or before it starts): top shard k's pool of empty chunks up. */
static void
pool_refill(struct sp *sp, unsigned k)
{
	while (rte_ring_count(sp->back[k]) < POOL_CHUNKS) {
		struct sp_chunk *c = chunk_new(sp, true);
		if (!c)
			return;
		if (rte_ring_sp_enqueue(sp->back[k], c)) {
			free(c);
			return;
		}
	}
}

struct sp_chunk *
sp_chunk_get(struct sp *sp, unsigned w)
{
	void *c;

	if (rte_ring_sc_dequeue(sp->back[w], &c) == 0)
		return c;
	c = chunk_new(sp, false);  /* the pool ran dry: the state plane is behind */
	if (!c)
		abort();        /* the checkpoint cannot proceed; nothing sane to do */
	return c;
}

void
sp_chunk_put(struct sp *sp, unsigned w, struct sp_chunk *c)
{
	unsigned spins = 0;

	while (rte_ring_sp_enqueue(sp->in[w], c)) {
		if (++spins < 256)
			rte_pause();
		else
			sched_yield();  /* the state plane is behind: it runs on another CPU */
	}
}

bool
sp_take_resync(struct sp *sp, unsigned w)
{
	return __atomic_exchange_n(&sp->resync[w], 0, __ATOMIC_ACQ_REL) != 0;
}

void
sp_request(struct sp *sp)
{
	__atomic_store_n(&sp->asked, 1, __ATOMIC_RELEASE);
}

void
sp_get_stats(struct sp *sp, struct sp_stats *st)
{
	pthread_mutex_lock(&sp->mu);
	*st = sp->st;
	st->chunks_allocated = __atomic_load_n(&sp->st.chunks_allocated, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&sp->mu);
}

int
sp_wait_epoch(struct sp *sp, uint64_t e, uint64_t timeout_ns)
{
	struct timespec ts;
	int rc = -1;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(timeout_ns / 1000000000u);
	ts.tv_nsec += (long)(timeout_ns % 1000000000u);
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&sp->mu);
	while (sp->done_epoch < e)
		if (pthread_cond_timedwait(&sp->cv, &sp->mu, &ts))
			break;
	if (sp->done_epoch >= e)
		rc = sp->done_epoch == e ? sp->done_ok : 1;

	pthread_mutex_unlock(&sp->mu);
	return rc;
}

/* ---- applying deltas --------------------------------------------------------------------------- */

static void
shard_fail(struct sp *sp, unsigned k, const char *what, const char *why)
{
	if (!sp->sh[k].failed)
		logf_(sp, "epoch %" PRIu64 ": shard %u: %s: %s", sp->inflight, k, what, why);
	sp->sh[k].failed = true;
	pthread_mutex_lock(&sp->mu);
	snprintf(sp->st.last_error_msg, sizeof(sp->st.last_error_msg), "shard %u: %s: %s", k, what, why);
	sp->st.last_error = EIO;
	pthread_mutex_unlock(&sp->mu);
}

static void
apply_chunk(struct sp *sp, const struct sp_chunk *c)
{
	unsigned k = c->worker;
	struct shard *sh = &sp->sh[k];

	if (c->seq == 0) {
		sh->failed = false;
		sh->records = 0;
		cJSON_Delete(sh->meta);
		sh->meta = cJSON_CreateObject();
		if (c->flags & SP_CH_FULL) {
			if (shard_open(sp, k, true))
				shard_fail(sp, k, "rebuild", "cannot recreate the live RocksDB instance");
			pthread_mutex_lock(&sp->mu);
			sp->st.resyncs++;
			pthread_mutex_unlock(&sp->mu);
		}
	}
	if (c->flags & SP_CH_LAST)
		sh->last = true;
	sp->delta_bytes += c->len;
	if (sh->failed || !sh->db)
		return;
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	uint32_t off = 0;
	unsigned type, kl, vl;
	const uint8_t *kk, *vv;
	int r;
	while ((r = sp_rec_next(c, &off, &type, &kk, &kl, &vv, &vl)) == 1) {
		if (kl > SP_KEY_MAX || vl > SP_VAL_MAX)
			type = 0;       /* beyond the format's limits: a malformed delta */
		switch (type) {
		case SP_REC_PUT:
			rocksdb_writebatch_put(wb, (const char *)kk, kl, (const char *)vv, vl);
			sh->records++;
			break;
		case SP_REC_DEL:
			rocksdb_writebatch_delete(wb, (const char *)kk, kl);
			break;
		case SP_REC_META:
			if (vl == 8 && kl < 32) {
				char name[32], num[24];
				int64_t x;
				memcpy(name, kk, kl);
				name[kl] = 0;
				memcpy(&x, vv, 8);
				snprintf(num, sizeof(num), "%" PRId64, x);
				cJSON_DeleteItemFromObject(sh->meta, name);
				cJSON_AddStringToObject(sh->meta, name, num);
			}
			break;
		default:
			r = -1;
			break;
		}
		if (r < 0)
			break;
	}
	if (r < 0) {
		shard_fail(sp, k, "delta", "malformed record");
	} else {
		char *e = NULL;
		rocksdb_write(sh->db, sp->wo, wb, &e);
		if (e) {
			shard_fail(sp, k, "write", e);
			rocksdb_free(e);
		}
	}
	rocksdb_writebatch_destroy(wb);
}

/* ---- commit ------------------------------------------------------------------------------------ */

static int
add_files(struct sp *sp, cJSON *files, const char *snapdir, const char *sub, uint64_t *total)
{
	char path[PATH_MAX], rel[PATH_MAX];
	DIR *d;
	struct dirent *de;
	int r = 0;

	snprintf(path, sizeof(path), "%s/%s", snapdir, sub);
	if (!(d = opendir(path)))
		return -errno;
	while ((de = readdir(d)) && !r) {
		uint64_t size;
		uint32_t crc;
		char hex[12];
		if (de->d_name[0] == '.')
			continue;
		snprintf(rel, sizeof(rel), "%s/%s", sub, de->d_name);
		snprintf(path, sizeof(path), "%s/%s", snapdir, rel);
		r = sp_io_file_crc(&sp->io, path, &size, &crc);
		if (r)
			break;
		cJSON *f = cJSON_CreateObject();
		char num[24];
		snprintf(num, sizeof(num), "%" PRIu64, size);
		snprintf(hex, sizeof(hex), "%08x", crc);
		cJSON_AddStringToObject(f, "path", rel);
		cJSON_AddStringToObject(f, "size", num);
		cJSON_AddStringToObject(f, "crc32c", hex);
		cJSON_AddItemToArray(files, f);
		*total += size;
	}
	closedir(d);
	return r;
}

static void
finish(struct sp *sp, uint64_t e, int ok, uint64_t files_bytes)
{
	uint64_t dur = now_ns() - sp->t_request;

	pthread_mutex_lock(&sp->mu);
	if (ok) {
		sp->st.completed++;
		sp->st.last_epoch = e;
		sp->st.last_bytes = sp->delta_bytes;
		sp->st.last_files_bytes = files_bytes;
		sp->st.last_duration_ns = dur;
		if (dur > sp->st.max_duration_ns)
			sp->st.max_duration_ns = dur;
	} else {
		sp->st.failed++;
	}
	sp->st.delta_bytes += sp->delta_bytes;
	sp->done_epoch = e;
	sp->done_ok = ok;
	pthread_cond_broadcast(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
}

/* Fail epoch e: what failed, as errno `err`, or as RocksDB's message `detail`. */
static void
fail_epoch_msg(struct sp *sp, uint64_t e, const char *snapdir, const char *what, int err,
	       const char *detail)
{
	if (!detail)
		detail = strerror(err);
	logf_(sp, "checkpoint epoch %" PRIu64 " FAILED: %s: %s (the previous snapshot stays valid)",
	      e, what, detail);
	pthread_mutex_lock(&sp->mu);
	sp->st.last_error = err;
	snprintf(sp->st.last_error_msg, sizeof(sp->st.last_error_msg), "epoch %" PRIu64 ": %s: %s",
		 e, what, detail);
	pthread_mutex_unlock(&sp->mu);
	if (snapdir)
		sp_rm_tree(snapdir);
	finish(sp, e, 0, 0);
}

static void
fail_epoch(struct sp *sp, uint64_t e, const char *snapdir, const char *what, int err)
{
	fail_epoch_msg(sp, e, snapdir, what, err, NULL);
}

static void
commit(struct sp *sp, uint64_t e)
{
	char snapdir[PATH_MAX], path[PATH_MAX + 32], tmp[PATH_MAX + 32];
	unsigned n = sp->cfg.nshards;
	uint64_t files_bytes = 0;
	int r;

	bool any_failed = false;
	for (unsigned k = 0; k < n; k++)
		if (sp->sh[k].failed || !sp->sh[k].db) {
			any_failed = true;
			__atomic_store_n(&sp->resync[k], 1, __ATOMIC_RELEASE);
		}
	if (any_failed) {
		fail_epoch(sp, e, NULL, "applying the deltas", EIO);
		return;
	}
	if ((r = sp_fault(SP_F_APPLY))) {
		fail_epoch(sp, e, NULL, "after applying the deltas", -r);
		return;
	}
	sp_snap_path(snapdir, sizeof(snapdir), sp->dir, e, NULL);
	sp_rm_tree(snapdir);           /* a leftover of a run that crashed at this epoch */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&sp->io.ring);
	struct io_uring_cqe *cqe;
	io_uring_prep_mkdirat(sqe, AT_FDCWD, snapdir, 0755);
	io_uring_submit(&sp->io.ring);
	r = io_uring_wait_cqe(&sp->io.ring, &cqe);
	if (!r) {
		r = cqe->res;
		io_uring_cqe_seen(&sp->io.ring, cqe);
	}
	if (r < 0) {
		fail_epoch(sp, e, NULL, snapdir, -r);
		return;
	}
	for (unsigned k = 0; k < n; k++) {
		char *err = NULL;
		snprintf(path, sizeof(path), "%s/shard-%u", snapdir, k);
		rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(sp->sh[k].db, &err);
		if (!err)
			rocksdb_checkpoint_create(cp, path, 0, &err);   /* 0: always flush the memtable */
		if (cp)
			rocksdb_checkpoint_object_destroy(cp);
		if (err) {
			char what[64];
			int code = strstr(err, "No space left") ? ENOSPC : EIO;
			snprintf(what, sizeof(what), "RocksDB checkpoint of shard %u", k);
			/* RocksDB may now refuse writes: rebuild this shard from a full delta
			 * (asked for before the failure is reported, so that whoever waits
			 * for this epoch sees the request) */
			shard_open(sp, k, true);
			__atomic_store_n(&sp->resync[k], 1, __ATOMIC_RELEASE);
			fail_epoch_msg(sp, e, snapdir, what, code, err);
			rocksdb_free(err);
			return;
		}
	}
	if ((r = sp_fault(SP_F_CUT))) {
		fail_epoch(sp, e, snapdir, "after the checkpoint cut", -r);
		return;
	}

	cJSON *m = cJSON_CreateObject(), *files = cJSON_CreateArray(), *shards = cJSON_CreateArray();
	char num[24];
	cJSON_AddNumberToObject(m, "format_version", SP_FORMAT_VERSION);
	snprintf(num, sizeof(num), "%" PRIu64, e);
	cJSON_AddStringToObject(m, "epoch", num);
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	snprintf(num, sizeof(num), "%" PRIu64, (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec);
	cJSON_AddStringToObject(m, "created_unix_ns", num);
	cJSON_AddStringToObject(m, "fingerprint", sp->fingerprint);
	cJSON_AddNumberToObject(m, "shards", n);
	for (unsigned k = 0; k < n && !r; k++) {
		cJSON *s = cJSON_CreateObject();
		snprintf(num, sizeof(num), "%" PRIu64, sp->sh[k].records);
		cJSON_AddStringToObject(s, "delta_puts", num);
		cJSON_AddItemToObject(s, "meta", sp->sh[k].meta);
		sp->sh[k].meta = NULL;
		cJSON_AddItemToArray(shards, s);
		snprintf(path, sizeof(path), "shard-%u", k);
		r = add_files(sp, files, snapdir, path, &files_bytes);
	}
	cJSON_AddItemToObject(m, "shard_info", shards);
	cJSON *app = cJSON_CreateObject();
	if (!r && sp->cfg.app_meta && sp->cfg.app_meta(sp->cfg.ctx, e, app)) {
		cJSON_Delete(app);
		cJSON_Delete(m);
		fail_epoch_msg(sp, e, snapdir, "the application's part of the manifest", EINVAL,
			       "incomplete at this barrier");
		return;
	}
	cJSON_AddItemToObject(m, "app", app);
	snprintf(num, sizeof(num), "%" PRIu64, files_bytes);
	cJSON_AddStringToObject(m, "files_bytes", num);
	cJSON_AddItemToObject(m, "files", files);
	size_t len = 0;
	char *text = r ? NULL : sp_manifest_text(m, &len);
	cJSON_Delete(m);
	if (r || !text) {
		free(text);
		fail_epoch(sp, e, snapdir, "checksumming the files", r ? -r : ENOMEM);
		return;
	}

	snprintf(tmp, sizeof(tmp), "%s/MANIFEST.tmp", snapdir);
	snprintf(path, sizeof(path), "%s/MANIFEST", snapdir);
	r = 0;
	if (getenv("WEIR_SP_FAULT") && !strncmp(getenv("WEIR_SP_FAULT"), "manifest", 8)) {
		/* a crash in the middle of writing the manifest: half of it reaches disk */
		r = sp_io_write_file(&sp->io, AT_FDCWD, tmp, text, len / 2, true);
		if (!r)
			r = sp_fault(SP_F_MANIFEST);
	}
	if (!r)
		r = sp_io_write_file(&sp->io, AT_FDCWD, tmp, text, len, true);
	free(text);
	if (r) {
		fail_epoch(sp, e, snapdir, "writing the manifest", -r);
		return;
	}
	if ((r = sp_fault(SP_F_RENAME)) || (r = sp_io_rename(&sp->io, tmp, path))) {
		fail_epoch(sp, e, snapdir, "publishing the manifest", -r);
		return;
	}
	snprintf(path, sizeof(path), "%s/snapshots", sp->dir);
	if ((r = sp_io_fsync_dir(&sp->io, snapdir)) || (r = sp_io_fsync_dir(&sp->io, path))) {
		/* renamed but not known durable: do not let it count */
		fail_epoch(sp, e, snapdir, "fsync of the snapshot directory", -r);
		return;
	}
	sp_retain(sp->dir, sp->cfg.retain, sp->cfg.log ? sp->cfg.log : stderr);
	finish(sp, e, 1, files_bytes);
}

/* ---- the thread ----------------------------------------------------------------------------------- */

static void *
sp_thread(void *arg)
{
	struct sp *sp = arg;
	uint64_t next = now_ns() + sp->cfg.interval_ns, epoch = sp->st.last_epoch;

	rocksdb_set_perf_level(1);      /* kDisable (per thread): no per-call counters */
	if (sp->cfg.nice > 0 && setpriority(PRIO_PROCESS, (id_t)gettid(), sp->cfg.nice))
		logf_(sp, "cannot lower the state thread's priority: %s", strerror(errno));

	while (!__atomic_load_n(&sp->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now = now_ns();
		bool work = false;

		if (!sp->inflight && ((sp->cfg.interval_ns && now >= next) ||
				      __atomic_exchange_n(&sp->asked, 0, __ATOMIC_ACQ_REL))) {
			sp->inflight = ++epoch;
			sp->t_request = now;
			sp->delta_bytes = 0;
			for (unsigned k = 0; k < sp->cfg.nshards; k++)
				sp->sh[k].last = false;
			__atomic_store_n(&sp->pub.requested, epoch, __ATOMIC_RELEASE);
			next = now + sp->cfg.interval_ns;
		}
		for (unsigned k = 0; k < sp->cfg.nshards; k++) {
			void *cv;
			for (int i = 0; i < 16 && rte_ring_sc_dequeue(sp->in[k], &cv) == 0; i++) {
				struct sp_chunk *c = cv;
				work = true;
				if (c->epoch == sp->inflight)
					apply_chunk(sp, c);
				if (rte_ring_sp_enqueue(sp->back[k], c))
					free(c);
				pool_refill(sp, k);
			}
			pool_refill(sp, k);
		}
		if (sp->inflight) {
			unsigned k;
			for (k = 0; k < sp->cfg.nshards && sp->sh[k].last; k++)
				;
			if (k == sp->cfg.nshards && sp->cfg.need_ack &&
			    __atomic_load_n(&sp->nacked, __ATOMIC_ACQUIRE) == sp->inflight) {
				fail_epoch(sp, sp->inflight, NULL, "making the results before the barrier durable",
					   EIO);
				sp->inflight = 0;
				work = true;
			} else if (k == sp->cfg.nshards &&
			    (!sp->cfg.need_ack || __atomic_load_n(&sp->acked, __ATOMIC_ACQUIRE) >= sp->inflight)) {
				commit(sp, sp->inflight);
				sp->inflight = 0;
				work = true;
			}
		}
		if (!work) {    /* not a polling core: sleep while there is nothing to do */
			struct timespec ts = { 0, 200000 };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

void
sp_ack(struct sp *sp, uint64_t e, bool ok)
{
	if (!ok) {
		__atomic_store_n(&sp->nacked, e, __ATOMIC_RELEASE);
		return;
	}
	uint64_t cur = __atomic_load_n(&sp->acked, __ATOMIC_RELAXED);

	while (cur < e && !__atomic_compare_exchange_n(&sp->acked, &cur, e, false, __ATOMIC_RELEASE,
						       __ATOMIC_RELAXED))
		;
}

int
sp_start(struct sp *sp)
{
	for (unsigned k = 0; k < sp->cfg.nshards; k++)
		pool_refill(sp, k);
	if (pthread_create(&sp->thr, NULL, sp_thread, sp))
		return -1;
	pthread_setname_np(sp->thr, "weir-state");
	sp->started = 1;
	return 0;
}

void
sp_stop(struct sp *sp)
{
	if (!sp->started)
		return;
	__atomic_store_n(&sp->stop, 1, __ATOMIC_RELEASE);
	pthread_join(sp->thr, NULL);
	sp->started = 0;
	if (sp->inflight) {
		char snapdir[PATH_MAX];
		sp_snap_path(snapdir, sizeof(snapdir), sp->dir, sp->inflight, NULL);
		sp_rm_tree(snapdir);
		logf_(sp, "checkpoint epoch %" PRIu64 " abandoned at stop", sp->inflight);
		sp->inflight = 0;
	}
}
