/* SPDX-License-Identifier: Apache-2.0
 * Snapshots on disk: manifest, verification, restore, retention, shipping. */
#include "stateplane.h"
#include "sp_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rocksdb/c.h>

#define SHIP_MAGIC "WEIRSHP1"
/* A ship whose peer neither sends nor takes a byte for this long fails (not hangs). */
#define SP_SHIP_TIMEOUT_MS 10000
static unsigned ship_timeout_ms = SP_SHIP_TIMEOUT_MS;
static sp_mac_fn ship_mac;              /* NULL: shipping is not authenticated */
static void *ship_mac_ctx;

void
sp_set_ship_auth(sp_mac_fn fn, void *ctx)
{
	ship_mac = fn;
	ship_mac_ctx = ctx;
}

/* MAC("WSHIPTAG" || challenge || header || manifest): the label keeps these tags apart
 * from anything else the same key signs (the pair's heartbeats begin "WHB") */
static void
ship_tag(const uint8_t *challenge, const uint8_t *hdr, const uint8_t *m, size_t mlen, uint8_t out[SP_MAC_LEN])
{
	size_t n = 8 + SP_MAC_LEN + 24 + mlen;
	uint8_t *b = malloc(n);
	if (!b) {
		memset(out, 0, SP_MAC_LEN);     /* (a sender's tag then fails: refused, not accepted) */
		return;
	}
	memcpy(b, "WSHIPTAG", 8);
	memcpy(b + 8, challenge, SP_MAC_LEN);
	memcpy(b + 8 + SP_MAC_LEN, hdr, 24);
	memcpy(b + 8 + SP_MAC_LEN + 24, m, mlen);
	ship_mac(ship_mac_ctx, b, n, out);
	free(b);
}

void
sp_set_ship_timeout(unsigned ms)
{
	ship_timeout_ms = ms ? ms : SP_SHIP_TIMEOUT_MS;
}

static void
seterr(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (!err || !n)
		return;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

/* ---- names ------------------------------------------------------------------------------ */

void
sp_snap_path(char *out, size_t n, const char *dir, uint64_t epoch, const char *suffix)
{
	snprintf(out, n, "%s/snapshots/epoch-%020" PRIu64 "%s", dir, epoch, suffix ? suffix : "");
}

/* epoch of a directory entry named epoch-N (suffix: "" complete-or-not, ".recv", ...) */
static bool
parse_name(const char *name, uint64_t *epoch, const char **suffix)
{
	char *end;

	if (strncmp(name, "epoch-", 6) || name[6] < '0' || name[6] > '9')
		return false;
	errno = 0;
	*epoch = strtoull(name + 6, &end, 10);
	if (errno || end - (name + 6) != 20)
		return false;
	*suffix = end;
	return true;
}

/* ---- pins -------------------------------------------------------------------------------- */

static pthread_mutex_t pin_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t pins[64];
static unsigned npins;

void
sp_pin(uint64_t epoch)
{
	pthread_mutex_lock(&pin_mu);
	if (npins < 64)
		pins[npins++] = epoch;
	pthread_mutex_unlock(&pin_mu);
}

void
sp_unpin(uint64_t epoch)
{
	pthread_mutex_lock(&pin_mu);
	for (unsigned i = 0; i < npins; i++)
		if (pins[i] == epoch) {
			pins[i] = pins[--npins];
			break;
		}
	pthread_mutex_unlock(&pin_mu);
}

/* Pins across processes (`weir state ship` next to a running `weir run`): whoever
 * reads a snapshot holds a shared flock on its MANIFEST; retention removes only
 * what it can lock exclusively.  A process that dies lets go of its locks. */
static int
snap_lock_shared(const char *snapdir)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/MANIFEST", snapdir);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && flock(fd, LOCK_SH)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static bool
pinned(uint64_t epoch)
{
	bool p = false;

	pthread_mutex_lock(&pin_mu);
	for (unsigned i = 0; i < npins; i++)
		p |= pins[i] == epoch;
	pthread_mutex_unlock(&pin_mu);
	return p;
}

/* ---- manifest ------------------------------------------------------------------------------ */

char *
sp_manifest_text(cJSON *m, size_t *len)
{
	char *js = cJSON_Print(m), *out;
	size_t n;

	if (!js)
		return NULL;
	n = strlen(js);
	out = malloc(n + 32);
	if (out) {
		memcpy(out, js, n);
		out[n++] = '\n';
		uint32_t crc = sp_crc32c(0, out, n);
		n += (size_t)sprintf(out + n, "crc32c %08x\n", crc);
		*len = n;
	}
	cJSON_free(js);
	return out;
}

/* Parse manifest text: checksum trailer, then JSON.  NULL with why. */
static cJSON *
manifest_parse(const uint8_t *buf, size_t len, char *why, size_t wn)
{
	size_t body;
	unsigned crc;

	if (len < 17 || buf[len - 1] != '\n') {
		seterr(why, wn, "manifest is truncated (%zu bytes, no checksum line)", len);
		return NULL;
	}
	body = len - 1;
	while (body > 0 && buf[body - 1] != '\n')
		body--;
	if (len - body != 16 || sscanf((const char *)buf + body, "crc32c %8x\n", &crc) != 1) {
		seterr(why, wn, "manifest is truncated (no checksum line)");
		return NULL;
	}
	if (sp_crc32c(0, buf, body) != crc) {
		seterr(why, wn, "manifest checksum mismatch (torn or corrupted)");
		return NULL;
	}
	cJSON *m = cJSON_ParseWithLength((const char *)buf, body);
	if (!m) {
		seterr(why, wn, "manifest is not JSON");
		return NULL;
	}
	cJSON *f = cJSON_GetObjectItem(m, "format_version");
	if (!cJSON_IsNumber(f) || f->valueint != SP_FORMAT_VERSION) {
		seterr(why, wn, "manifest format version is not %d", SP_FORMAT_VERSION);
		cJSON_Delete(m);
		return NULL;
	}
	return m;
}

static uint64_t
jnum_u64(const cJSON *o, const char *name)
{
	const cJSON *x = cJSON_GetObjectItem(o, name);

	if (cJSON_IsString(x))          /* 64-bit values are kept as strings (JSON doubles are 53-bit) */
		return strtoull(x->valuestring, NULL, 10);
	return cJSON_IsNumber(x) ? (uint64_t)x->valuedouble : 0;
}

int
sp_snap_verify(const char *snapdir, cJSON **manifest, char *why, size_t wn)
{
	struct sp_io io;
	char path[PATH_MAX];
	uint8_t *buf;
	size_t len;
	int r;

	*manifest = NULL;
	if (sp_io_init(&io, 8)) {
		seterr(why, wn, "io_uring: cannot set up");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/MANIFEST", snapdir);
	r = sp_io_read_file(&io, path, &buf, &len);
	if (r) {
		seterr(why, wn, r == -ENOENT ? "incomplete (no MANIFEST)" : "MANIFEST: %s", strerror(-r));
		sp_io_exit(&io);
		return -1;
	}
	cJSON *m = manifest_parse(buf, len, why, wn);
	free(buf);
	if (!m) {
		sp_io_exit(&io);
		return -1;
	}
	cJSON *files = cJSON_GetObjectItem(m, "files"), *f;
	if (!cJSON_IsArray(files)) {
		seterr(why, wn, "manifest has no file list");
		goto bad;
	}
	cJSON_ArrayForEach(f, files) {
		const cJSON *p = cJSON_GetObjectItem(f, "path"), *c = cJSON_GetObjectItem(f, "crc32c");
		uint64_t size, want = jnum_u64(f, "size");
		uint32_t crc;
		if (!cJSON_IsString(p) || !cJSON_IsString(c) || strstr(p->valuestring, "..") || p->valuestring[0] == '/') {
			seterr(why, wn, "manifest has a bad file entry");
			goto bad;
		}
		snprintf(path, sizeof(path), "%s/%s", snapdir, p->valuestring);
		r = sp_io_file_crc(&io, path, &size, &crc);
		if (r) {
			seterr(why, wn, "%s: %s", p->valuestring, strerror(-r));
			goto bad;
		}
		if (size != want) {
			seterr(why, wn, "%s: size %" PRIu64 ", manifest says %" PRIu64 " (truncated?)",
			       p->valuestring, size, want);
			goto bad;
		}
		if (strtoul(c->valuestring, NULL, 16) != crc) {
			seterr(why, wn, "%s: checksum mismatch (corrupted)", p->valuestring);
			goto bad;
		}
	}
	sp_io_exit(&io);
	*manifest = m;
	return 0;
bad:
	cJSON_Delete(m);
	sp_io_exit(&io);
	return -1;
}

/* ---- listing ------------------------------------------------------------------------------- */

struct ent { uint64_t epoch; char suffix[16]; };

static int
cmp_desc(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	if (x->epoch != y->epoch)
		return x->epoch < y->epoch ? 1 : -1;
	return strcmp(x->suffix, y->suffix);
}

/* Entries of dir/snapshots, newest first.  *out malloc'd.  -1 if unreadable (ENOENT: 0 entries). */
static int
list_entries(const char *dir, struct ent **out, unsigned *n)
{
	char path[PATH_MAX];
	DIR *d;
	struct dirent *de;
	unsigned cap = 0;

	*out = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/snapshots", dir);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d))) {
		uint64_t e;
		const char *suf;
		if (!parse_name(de->d_name, &e, &suf) || strlen(suf) >= 16)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			struct ent *x = realloc(*out, cap * sizeof(*x));
			if (!x) {
				closedir(d);
				return -1;
			}
			*out = x;
		}
		(*out)[*n].epoch = e;
		strcpy((*out)[*n].suffix, suf);
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_desc);
	return 0;
}

uint64_t
sp_newest_epoch(const char *dir)
{
	struct ent *e;
	unsigned n;
	uint64_t m = 0;

	if (list_entries(dir, &e, &n) == 0 && n)
		m = e[0].epoch;
	free(e);
	return m;
}

static int
snap_check(const char *dir, const char *fingerprint, uint64_t epoch, cJSON **m, char *why, size_t wn)
{
	char sd[PATH_MAX];

	sp_snap_path(sd, sizeof(sd), dir, epoch, NULL);
	if (sp_snap_verify(sd, m, why, wn))
		return -1;
	if (jnum_u64(*m, "epoch") != epoch) {
		seterr(why, wn, "manifest names epoch %" PRIu64, jnum_u64(*m, "epoch"));
		goto bad;
	}
	const cJSON *fp = cJSON_GetObjectItem(*m, "fingerprint");
	if (fingerprint && (!cJSON_IsString(fp) || strcmp(fp->valuestring, fingerprint))) {
		seterr(why, wn, "written for another query set (fingerprint %s, expected %s)",
		       cJSON_IsString(fp) ? fp->valuestring : "?", fingerprint);
		goto bad;
	}
	return 0;
bad:
	cJSON_Delete(*m);
	*m = NULL;
	return -1;
}

int
sp_snap_find(const char *dir, const char *fingerprint, struct sp_snap *s, FILE *log, char *err, size_t en)
{
	struct ent *e;
	unsigned n, manifests = 0;
	int found = 0;

	memset(s, 0, sizeof(*s));
	if (!log)
		log = stderr;
	if (list_entries(dir, &e, &n)) {
		seterr(err, en, "%s/snapshots: %s", dir, strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < n && !found; i++) {
		char why[512], mp[PATH_MAX];
		cJSON *m;
		if (e[i].suffix[0])
			continue;           /* .recv and other leftovers */
		sp_snap_path(mp, sizeof(mp), dir, e[i].epoch, "/MANIFEST");
		if (access(mp, F_OK) == 0)
			manifests++;
		if (snap_check(dir, fingerprint, e[i].epoch, &m, why, sizeof(why))) {
			fprintf(log, "weir: state: snapshot epoch %" PRIu64 " skipped: %s\n", e[i].epoch, why);
			continue;
		}
		s->epoch = e[i].epoch;
		sp_snap_path(s->dir, sizeof(s->dir), dir, e[i].epoch, NULL);
		s->manifest = m;
		s->nshards = (unsigned)jnum_u64(m, "shards");
		found = 1;
	}
	free(e);
	if (!found && manifests) {
		seterr(err, en, "%s: %u snapshot(s) with a manifest, none valid; refusing to start "
		       "empty (move the state directory away to start afresh)", dir, manifests);
		return -1;
	}
	return found;
}

void
sp_snap_free(struct sp_snap *s)
{
	cJSON_Delete(s->manifest);
	s->manifest = NULL;
}

int64_t
sp_snap_meta(const struct sp_snap *s, unsigned shard, const char *name, int64_t def)
{
	const cJSON *sh = cJSON_GetObjectItem(s->manifest, "shard_info"), *x;

	x = cJSON_GetArrayItem(sh, (int)shard);
	x = cJSON_GetObjectItem(cJSON_GetObjectItem(x, "meta"), name);
	return cJSON_IsString(x) ? (int64_t)strtoll(x->valuestring, NULL, 10) : def;
}

rocksdb_options_t *
sp_rocks_options(const char *logdir, bool create)
{
	rocksdb_options_t *o = rocksdb_options_create();

	rocksdb_options_set_create_if_missing(o, create);
	rocksdb_options_set_info_log_level(o, 4);   /* fatal only: no LOG noise in snapshots */
	rocksdb_options_set_db_log_dir(o, logdir);
	rocksdb_options_set_keep_log_file_num(o, 1);
	rocksdb_options_set_max_open_files(o, 256);
	rocksdb_options_set_compression(o, rocksdb_lz4_compression);
	/* The live shards are only written between checkpoints and read by the flush:
	 * an append-only vector memtable, sorted once at the flush, costs a fraction of
	 * the skip list's per-insert search (measured: the skip list was most of the
	 * state thread's CPU). */
	rocksdb_options_set_memtable_vector_rep(o);
	rocksdb_options_set_allow_concurrent_memtable_write(o, 0);
	return o;
}

int
sp_snap_load(const struct sp_snap *s, sp_load_fn fn, void *ctx, char *err, size_t en)
{
	char path[PATH_MAX], logdir[PATH_MAX];
	int rc = 0;

	snprintf(logdir, sizeof(logdir), "%s/..", s->dir);
	sp_pin(s->epoch);
	int lk = snap_lock_shared(s->dir);
	rocksdb_set_perf_level(1);      /* kDisable: no per-call counters (a tenth of the iteration) */
	for (unsigned k = 0; k < s->nshards && !rc; k++) {
		char *e = NULL;
		rocksdb_options_t *o = sp_rocks_options(logdir, false);
		snprintf(path, sizeof(path), "%s/shard-%u", s->dir, k);
		rocksdb_t *db = rocksdb_open_for_read_only(o, path, 0, &e);
		rocksdb_options_destroy(o);
		if (e) {
			seterr(err, en, "%s: %s", path, e);
			rocksdb_free(e);
			rc = -1;
			break;
		}
		rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
		rocksdb_readoptions_set_fill_cache(ro, 0);
		rocksdb_readoptions_set_verify_checksums(ro, 1);
		rocksdb_readoptions_set_readahead_size(ro, 4u << 20);   /* one pass, front to back */
		rocksdb_iterator_t *it = rocksdb_create_iterator(db, ro);
		for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it) && !rc; rocksdb_iter_next(it)) {
			size_t kl, vl;
			const char *kk = rocksdb_iter_key(it, &kl), *vv = rocksdb_iter_value(it, &vl);
			if (kl > SP_KEY_MAX || vl > SP_VAL_MAX) {
				seterr(err, en, "%s: record of %zu+%zu bytes is too long", path, kl, vl);
				rc = -1;
				break;
			}
			rc = fn(ctx, k, (const uint8_t *)kk, (unsigned)kl, (const uint8_t *)vv, (unsigned)vl);
			if (rc)
				seterr(err, en, "%s: a record does not fit the running configuration", path);
		}
		if (!rc) {
			rocksdb_iter_get_error(it, &e);
			if (e) {
				seterr(err, en, "%s: %s", path, e);
				rocksdb_free(e);
				rc = -1;
			}
		}
		rocksdb_iter_destroy(it);
		rocksdb_readoptions_destroy(ro);
		rocksdb_close(db);
	}
	sp_unpin(s->epoch);
	if (lk >= 0)
		close(lk);
	return rc;
}

int
sp_snap_list(const char *dir, FILE *f)
{
	struct ent *e;
	unsigned n;

	if (list_entries(dir, &e, &n))
		return -1;
	for (unsigned i = 0; i < n; i++) {
		char why[512];
		cJSON *m;
		if (e[i].suffix[0]) {
			fprintf(f, "epoch %" PRIu64 "%s: unfinished\n", e[i].epoch, e[i].suffix);
			continue;
		}
		if (snap_check(dir, NULL, e[i].epoch, &m, why, sizeof(why))) {
			fprintf(f, "epoch %" PRIu64 ": INVALID: %s\n", e[i].epoch, why);
			continue;
		}
		fprintf(f, "epoch %" PRIu64 ": ok, %" PRIu64 " shards, %d files, %" PRIu64 " bytes\n",
			e[i].epoch, jnum_u64(m, "shards"), cJSON_GetArraySize(cJSON_GetObjectItem(m, "files")),
			jnum_u64(m, "files_bytes"));
		cJSON_Delete(m);
	}
	free(e);
	return (int)n;
}

/* ---- retention ---------------------------------------------------------------------------- */

static int
rm_tree_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return unlinkat(dfd, name, 0);
	DIR *d = fdopendir(fd);
	struct dirent *de;
	if (!d) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rm_tree_at(dirfd(d), de->d_name);
	closedir(d);
	return unlinkat(dfd, name, AT_REMOVEDIR);
}

int
sp_rm_tree(const char *path)
{
	return rm_tree_at(AT_FDCWD, path);
}

int
sp_retain(const char *dir, unsigned retain, FILE *log)
{
	struct ent *e;
	unsigned n, kept = 0;
	int removed = 0;
	uint64_t newest_complete = 0;

	if (retain < 1)
		retain = 1;
	if (list_entries(dir, &e, &n))
		return -1;
	for (unsigned i = 0; i < n; i++) {
		char p[PATH_MAX];
		bool complete = false;
		if (!e[i].suffix[0]) {
			sp_snap_path(p, sizeof(p), dir, e[i].epoch, "/MANIFEST");
			complete = access(p, F_OK) == 0;
		}
		if (complete && kept < retain) {
			kept++;
			if (!newest_complete)
				newest_complete = e[i].epoch;
			continue;
		}
		/* older complete ones beyond retain; unfinished ones older than the newest
		 * complete one (a newer unfinished one may be in the making) */
		if (!complete && (!newest_complete || e[i].epoch >= newest_complete))
			continue;
		if (pinned(e[i].epoch))
			continue;
		int lk = -1;
		if (complete) {
			sp_snap_path(p, sizeof(p), dir, e[i].epoch, "/MANIFEST");
			lk = open(p, O_RDONLY | O_CLOEXEC);
			if (lk >= 0 && flock(lk, LOCK_EX | LOCK_NB)) {
				close(lk);      /* being restored or shipped by another process */
				continue;
			}
		}
		sp_snap_path(p, sizeof(p), dir, e[i].epoch, e[i].suffix);
		if (sp_rm_tree(p) == 0)
			removed++;
		else if (log)
			fprintf(log, "weir: state: cannot remove %s: %s\n", p, strerror(errno));
		if (lk >= 0)
			close(lk);
	}
	free(e);
	return removed;
}

/* ---- shipping ------------------------------------------------------------------------------ */

static int
resolve(const char *hostport, struct addrinfo **res, bool passive, char *err, size_t en)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0 };
	size_t hl;

	if (!colon || (hl = (size_t)(colon - hostport)) >= sizeof(host)) {
		seterr(err, en, "'%s': expected HOST:PORT", hostport);
		return -1;
	}
	memcpy(host, hostport, hl);
	host[hl] = 0;
	if (host[0] == '[' && hl > 1 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = 0;
	}
	int r = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, res);
	if (r) {
		seterr(err, en, "'%s': %s", hostport, gai_strerror(r));
		return -1;
	}
	return 0;
}

int
sp_listen(const char *hostport, uint16_t *port_out, char *err, size_t en)
{
	struct addrinfo *ai;
	int fd = -1, one = 1;

	if (resolve(hostport, &ai, true, err, en))
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 4)) {
			seterr(err, en, "%s: %s", hostport, strerror(errno));
			close(fd);
			fd = -1;
		}
	} else {
		seterr(err, en, "socket: %s", strerror(errno));
	}
	if (fd >= 0 && port_out) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		getsockname(fd, (struct sockaddr *)&ss, &sl);
		*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	}
	freeaddrinfo(ai);
	return fd;
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	sp_be64(p, v);
}

/* The receiver refused a stream whose sender may still be writing.  Closing now
 * with unread bytes would reset the connection, and the reset can reach the
 * sender before it reads the refusal; so the receiver closes its side for
 * writing and reads on, discarding, until the sender closes or goes silent for
 * the ship timeout, for at most that long in all. */
static void
drain_refused(int fd)
{
	uint8_t scratch[16384];
	struct timespec t0, t;

	shutdown(fd, SHUT_WR);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		int64_t left = (int64_t)ship_timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 +
							   (t.tv_nsec - t0.tv_nsec) / 1000000);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return;
		ssize_t n = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return;
	}
}

/* After a failed send: did the receiver refuse the snapshot (its 'E' waits unread)? */
static bool
peer_refused(int fd)
{
	uint8_t ack = 0;
	return recv(fd, &ack, 1, MSG_DONTWAIT) == 1 && ack == 'E';
}

int
sp_ship_send(const char *dir, uint64_t epoch, const char *hostport, FILE *log, char *err, size_t en)
{
	struct sp_snap s = { 0 };
	struct addrinfo *ai;
	struct sp_io io;
	char path[PATH_MAX];
	uint8_t *mbuf = NULL, hdr[24];
	size_t mlen = 0;
	int fd = -1, rc = -1, r;

	if (!log)
		log = stderr;
	if (epoch == 0) {
		r = sp_snap_find(dir, NULL, &s, log, err, en);
		if (r <= 0) {
			if (r == 0)
				seterr(err, en, "%s: no snapshot to ship", dir);
			return -1;
		}
		epoch = s.epoch;
		sp_snap_free(&s);
	}
	sp_pin(epoch);
	sp_snap_path(s.dir, sizeof(s.dir), dir, epoch, NULL);
	int lk = snap_lock_shared(s.dir);
	if (sp_snap_verify(s.dir, &s.manifest, err, en))
		goto out_unpin;
	if (sp_io_init(&io, 16)) {
		seterr(err, en, "io_uring: cannot set up");
		goto out_unpin;
	}
	io.sock_timeout_ms = ship_timeout_ms;
	snprintf(path, sizeof(path), "%s/MANIFEST", s.dir);
	if ((r = sp_io_read_file(&io, path, &mbuf, &mlen))) {
		seterr(err, en, "%s: %s", path, strerror(-r));
		goto out;
	}
	if (resolve(hostport, &ai, false, err, en))
		goto out;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&io.ring);
		struct io_uring_cqe *cqe;
		io_uring_prep_connect(sqe, fd, ai->ai_addr, ai->ai_addrlen);
		io_uring_submit(&io.ring);
		r = io_uring_wait_cqe(&io.ring, &cqe);
		if (!r) {
			r = cqe->res;
			io_uring_cqe_seen(&io.ring, cqe);
		}
	} else {
		r = -errno;
	}
	freeaddrinfo(ai);
	if (r < 0) {
		seterr(err, en, "connect %s: %s", hostport, strerror(-r));
		goto out;
	}
	memcpy(hdr, SHIP_MAGIC, 8);
	put_u64(hdr + 8, epoch);
	put_u64(hdr + 16, mlen);
	uint8_t challenge[SP_MAC_LEN], tag[SP_MAC_LEN];
	if (ship_mac && (r = sp_io_recv(&io, fd, challenge, sizeof(challenge)))) {
		seterr(err, en, "%s sent no challenge: %s", hostport, strerror(-r));
		goto out;
	}
	if ((r = sp_io_send(&io, fd, hdr, sizeof(hdr))) || (r = sp_io_send(&io, fd, mbuf, mlen))) {
		seterr(err, en, "send to %s: %s", hostport, strerror(-r));
		goto out;
	}
	if (ship_mac) {
		ship_tag(challenge, hdr, mbuf, mlen, tag);
		if ((r = sp_io_send(&io, fd, tag, sizeof(tag)))) {
			seterr(err, en, "send to %s: %s", hostport, strerror(-r));
			goto out;
		}
	}
	cJSON *f;
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(s.manifest, "files")) {
		const char *p = cJSON_GetObjectItem(f, "path")->valuestring;
		uint64_t size = jnum_u64(f, "size");
		uint32_t crc;
		snprintf(path, sizeof(path), "%s/%s", s.dir, p);
		r = sp_io_send_file(&io, fd, path, size, &crc);
		if (r) {
			seterr(err, en, "ship %s: %s%s", p, strerror(-r),
			       peer_refused(fd) ? " (the peer refused the snapshot: checksum or disk failure there)" : "");
			goto out;
		}
		if (crc != strtoul(cJSON_GetObjectItem(f, "crc32c")->valuestring, NULL, 16)) {
			seterr(err, en, "ship %s: the file changed while it was sent", p);
			goto out;
		}
	}
	uint8_t ack = 0;
	if ((r = sp_io_recv(&io, fd, &ack, 1)) || ack != 'K') {
		seterr(err, en, "peer %s did not accept snapshot %" PRIu64 "%s", hostport, epoch,
		       r ? " (connection lost)" : " (checksum or disk failure there)");
		goto out;
	}
	fprintf(log, "weir: state: shipped snapshot epoch %" PRIu64 " to %s\n", epoch, hostport);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(mbuf);
	sp_io_exit(&io);
out_unpin:
	sp_snap_free(&s);
	sp_unpin(epoch);
	if (lk >= 0)
		close(lk);
	return rc;
}

uint64_t
sp_ship_recv(const char *dir, int lfd, unsigned retain, FILE *log, char *err, size_t en)
{
	struct sp_io io;
	char tmp[PATH_MAX], fin[PATH_MAX], path[PATH_MAX + 300];
	uint8_t hdr[24], *mbuf = NULL;
	uint64_t epoch = 0, mlen;
	cJSON *m = NULL;
	int fd, r = 0, ok = 0;

	if (!log)
		log = stderr;
	if (sp_io_init(&io, 16)) {
		seterr(err, en, "io_uring: cannot set up");
		return 0;
	}
	fd = sp_io_accept(&io, lfd);            /* a listener waits as long as it takes */
	io.sock_timeout_ms = ship_timeout_ms; /* a peer that goes silent mid-stream does not */
	if (fd < 0) {
		seterr(err, en, "accept: %s", strerror(-fd));
		sp_io_exit(&io);
		return 0;
	}
	tmp[0] = 0;
	uint8_t challenge[SP_MAC_LEN], tag[SP_MAC_LEN], want[SP_MAC_LEN];
	if (ship_mac && (getrandom(challenge, sizeof(challenge), 0) != (ssize_t)sizeof(challenge) ||
			 (r = sp_io_send(&io, fd, challenge, sizeof(challenge))))) {
		seterr(err, en, "receive: cannot send the challenge");
		goto out;
	}
	if ((r = sp_io_recv(&io, fd, hdr, sizeof(hdr)))) {
		seterr(err, en, "receive: %s", strerror(-r));
		goto out;
	}
	if (memcmp(hdr, SHIP_MAGIC, 8)) {
		seterr(err, en, "receive: not a weir snapshot stream");
		goto out;
	}
	epoch = sp_rd_be64(hdr + 8);
	mlen = sp_rd_be64(hdr + 16);
	if (mlen > (64u << 20) || !(mbuf = malloc(mlen ? mlen : 1))) {
		seterr(err, en, "receive: manifest of %" PRIu64 " bytes refused", mlen);
		goto out;
	}
	if ((r = sp_io_recv(&io, fd, mbuf, mlen))) {
		seterr(err, en, "receive: %s", strerror(-r));
		goto out;
	}
	if (ship_mac) {                 /* the sender knows the pair's secret, and sent this manifest */
		uint8_t diff = 0;
		if ((r = sp_io_recv(&io, fd, tag, sizeof(tag)))) {
			seterr(err, en, "receive: %s", strerror(-r));
			goto out;
		}
		ship_tag(challenge, hdr, mbuf, mlen, want);
		for (unsigned i = 0; i < SP_MAC_LEN; i++)
			diff |= (uint8_t)(tag[i] ^ want[i]);
		if (diff) {
			seterr(err, en, "receive: the sender did not authenticate (wrong secret?): refused");
			goto out;
		}
	}
	if (!(m = manifest_parse(mbuf, mlen, err, en)) || jnum_u64(m, "epoch") != epoch) {
		if (m)
			seterr(err, en, "receive: manifest epoch differs from the stream's");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/snapshots", dir);
	mkdir(dir, 0755);
	mkdir(path, 0755);
	sp_snap_path(tmp, sizeof(tmp), dir, epoch, ".recv");
	sp_snap_path(fin, sizeof(fin), dir, epoch, NULL);
	sp_rm_tree(tmp);
	if (mkdir(tmp, 0755)) {
		seterr(err, en, "%s: %s", tmp, strerror(errno));
		tmp[0] = 0;
		goto out;
	}
	cJSON *f;
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(m, "files")) {
		const cJSON *pj = cJSON_GetObjectItem(f, "path"), *cj = cJSON_GetObjectItem(f, "crc32c");
		uint32_t crc;
		if (!cJSON_IsString(pj) || !cJSON_IsString(cj) || strstr(pj->valuestring, "..") ||
		    pj->valuestring[0] == '/' || strchr(pj->valuestring, '/') != strrchr(pj->valuestring, '/')) {
			seterr(err, en, "receive: bad file entry in the manifest");
			goto out;
		}
		const char *slash = strchr(pj->valuestring, '/');
		if (slash) {
			snprintf(path, sizeof(path), "%s/%.*s", tmp, (int)(slash - pj->valuestring), pj->valuestring);
			mkdir(path, 0755);
		}
		snprintf(path, sizeof(path), "%s/%s", tmp, pj->valuestring);
		r = sp_io_recv_file(&io, fd, path, jnum_u64(f, "size"), &crc);
		if (r) {
			seterr(err, en, "receive %s: %s", pj->valuestring, strerror(-r));
			goto out;
		}
		if (crc != strtoul(cj->valuestring, NULL, 16)) {
			seterr(err, en, "receive %s: checksum mismatch on arrival", pj->valuestring);
			goto out;
		}
	}
	/* publish: the manifest last, then the directory under its final name */
	snprintf(path, sizeof(path), "%s/MANIFEST", tmp);
	if ((r = sp_io_write_file(&io, AT_FDCWD, path, mbuf, mlen, true)) || (r = sp_io_fsync_dir(&io, tmp))) {
		seterr(err, en, "%s: %s", path, strerror(-r));
		goto out;
	}
	if (access(fin, F_OK) == 0)
		sp_rm_tree(fin);        /* an older incomplete or invalid copy */
	if ((r = sp_io_rename(&io, tmp, fin))) {
		seterr(err, en, "rename %s: %s", fin, strerror(-r));
		goto out;
	}
	tmp[0] = 0;
	snprintf(path, sizeof(path), "%s/snapshots", dir);
	sp_io_fsync_dir(&io, path);
	ok = 1;
	fprintf(log, "weir: state: received snapshot epoch %" PRIu64 "\n", epoch);
	sp_retain(dir, retain, log);
out:
	{
		uint8_t ack = ok ? 'K' : 'E';
		/* (a sender that went silent or away is not waited for again) */
		if (sp_io_send(&io, fd, &ack, 1) == 0 && !ok && r != -ETIMEDOUT && r != -ECONNRESET)
			drain_refused(fd);
	}
	close(fd);
	if (tmp[0])
		sp_rm_tree(tmp);
	cJSON_Delete(m);
	free(mbuf);
	sp_io_exit(&io);
	return ok ? epoch : 0;
}

/* ---- adopting a peer's snapshot ----------------------------------------------------- */

static int
fsync_dir_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = fd < 0 ? -1 : fsync(fd);
	if (fd >= 0)
		close(fd);
	return r;
}

int
sp_snap_adopt(const char *dir, const char *from, const char *fingerprint, uint64_t *epoch, char *err, size_t en)
{
	struct sp_snap s = { 0 };
	char snaps[PATH_MAX], aside[PATH_MAX], to[PATH_MAX];

	if (*epoch) {                   /* that one, checked through */
		char why[256];
		if (snap_check(from, fingerprint, *epoch, &s.manifest, why, sizeof(why))) {
			seterr(err, en, "epoch %" PRIu64 " under %s: %s", *epoch, from, why);
			return -1;
		}
		s.epoch = *epoch;
		sp_snap_path(s.dir, sizeof(s.dir), from, *epoch, NULL);
	} else {
		int r = sp_snap_find(from, fingerprint, &s, stderr, err, en);
		if (r <= 0) {
			if (r == 0)
				seterr(err, en, "%s holds no snapshot", from);
			return -1;
		}
		*epoch = s.epoch;
	}
	snprintf(snaps, sizeof(snaps), "%s/snapshots", dir);
	snprintf(aside, sizeof(aside), "%s/snapshots.diverged", dir);
	sp_snap_path(to, sizeof(to), dir, s.epoch, NULL);
	mkdir(dir, 0755);
	sp_rm_tree(aside);
	if (rename(snaps, aside) && errno != ENOENT) {
		seterr(err, en, "%s: %s", snaps, strerror(errno));
		goto fail;
	}
	if (mkdir(snaps, 0755) || rename(s.dir, to)) {
		seterr(err, en, "%s: %s", to, strerror(errno));
		goto fail;
	}
	fsync_dir_path(snaps);
	fsync_dir_path(dir);
	sp_snap_free(&s);
	sp_rm_tree(from);               /* the rest of what was received */
	return 0;
fail:
	sp_snap_free(&s);
	return -1;
}
