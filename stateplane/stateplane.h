/* SPDX-License-Identifier: Apache-2.0
 * The state plane: one thread, off the polling cores, that turns the workers' state
 * deltas into durable, checksummed snapshots; plus restore, retention and shipping.
 *
 * Layout under the state directory:
 *   live/shard-K/                 RocksDB instance of worker shard K (WAL off: a snapshot
 *                                 is the unit of durability)
 *   snapshots/epoch-<20 digits>/  one snapshot: shard-K/ (a RocksDB checkpoint of each
 *                                 shard: hard links and copies) and MANIFEST, written
 *                                 last (temp, fsync, rename, fsync dir).  No MANIFEST,
 *                                 or one that does not check out: not a snapshot.
 *   snapshots/epoch-N.recv/       a snapshot being received from the peer
 *
 * MANIFEST is JSON followed by one line "crc32c XXXXXXXX" over the bytes before it:
 * format version, epoch, creation time, query fingerprint, shards (records, meta),
 * the application's part (source offsets, watermarks) and every file with its size
 * and CRC-32C.
 *
 * Protocol with the dataplane: the state plane raises the requested epoch every
 * interval (sp_epoch_requested); RX cores inject a barrier for it; each worker, at
 * its aligned barrier, writes its delta into chunks (sp_chunk_get/sp_chunk_put);
 * when every shard's last chunk is in, the epoch is committed.  One epoch at a time.
 */
#ifndef WEIR_STATEPLANE_H
#define WEIR_STATEPLANE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "delta.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SP_FORMAT_VERSION 1
#define SP_MAX_SHARDS 128
#define SP_CHUNK_BYTES (256u << 10)
#define SP_DIR_MAX 1024          /* longest state directory path */

struct sp_cfg {
	const char *dir;
	unsigned nshards;
	unsigned retain;            /* complete snapshots kept, >= 1 */
	uint64_t interval_ns;       /* 0: only when asked (sp_request) */
	unsigned depth;             /* io_uring queue depth (0: 64) */
	const char *fingerprint;    /* the query set; recorded, checked at restore */
	/* On the state-plane thread, when epoch is complete: add the application's part
	 * of the manifest (source offsets, watermarks) to `app`; non-zero fails the epoch. */
	int (*app_meta)(void *ctx, uint64_t epoch, cJSON *app);
	void *ctx;
	/* The epoch is published only once sp_ack() has acknowledged it too (the
	 * dataplane's sink: every result before the barrier has been written). */
	bool need_ack;
	/* > 0: the state thread and RocksDB's background threads run at this nice level
	 * (where they share CPUs with polling cores, the pollers win; checkpoints then
	 * take longer under full load). */
	int nice;
	FILE *log;                  /* messages (NULL: stderr) */
};

struct sp_stats {
	uint64_t completed;         /* snapshots published */
	uint64_t failed;            /* checkpoints that failed (the previous one stays) */
	uint64_t resyncs;           /* shards rebuilt from a full delta */
	uint64_t last_epoch;        /* newest published */
	uint64_t last_bytes;        /* delta bytes of the newest */
	uint64_t last_files_bytes;  /* bytes of the files it lists */
	uint64_t last_duration_ns;  /* barrier request to publish */
	uint64_t max_duration_ns;
	uint64_t delta_bytes;       /* all deltas */
	uint64_t chunks_allocated;  /* chunks made (the pool grows to the largest delta) */
	int last_error;             /* errno of the latest failure, 0 none */
	char last_error_msg[160];
};

struct sp;

struct sp *sp_create(const struct sp_cfg *cfg, char *err, size_t errlen);
int sp_start(struct sp *sp);
/* Stop the thread; a checkpoint in flight is abandoned (it never reads as complete). */
void sp_stop(struct sp *sp);
void sp_destroy(struct sp *sp);
void sp_get_stats(struct sp *sp, struct sp_stats *st);

/* Dataplane side.  The epoch RX cores should put a barrier in for (0: none yet). */
static inline uint64_t sp_epoch_requested(const struct sp *sp);
/* Ask for a checkpoint now (ignored while one is in flight). */
void sp_request(struct sp *sp);
/* Acknowledge epoch e (and every epoch before it): see sp_cfg.need_ack; ok = false
 * fails epoch e instead. */
void sp_ack(struct sp *sp, uint64_t e, bool ok);
/* Worker side (worker w only): an empty chunk, and handing a full one over.  Neither
 * makes a syscall in the steady state; get allocates when the pool is empty. */
struct sp_chunk *sp_chunk_get(struct sp *sp, unsigned w);
void sp_chunk_put(struct sp *sp, unsigned w, struct sp_chunk *c);
/* True once after shard w's state in RocksDB was lost to a failure: its next delta
 * must be a full one (SP_CH_FULL). */
bool sp_take_resync(struct sp *sp, unsigned w);
/* Block until epoch e is published or has failed (tests, planned switchover).
 * Returns 1 published, 0 failed, -1 timeout. */
int sp_wait_epoch(struct sp *sp, uint64_t e, uint64_t timeout_ns);

/* ---- snapshots on disk (no running state plane needed) ----------------------------- */

struct sp_snap {
	uint64_t epoch;
	char dir[PATH_MAX];         /* the snapshot's directory */
	cJSON *manifest;
	unsigned nshards;
};

/* The newest complete, valid snapshot under state dir `dir`.  Every snapshot skipped
 * (incomplete, torn, corrupt, wrong fingerprint) is reported on log.  Returns 1 and
 * fills *s, 0 if there is none, -1 with err set if snapshots exist but none is valid
 * (the caller should not silently start empty). */
int sp_snap_find(const char *dir, const char *fingerprint, struct sp_snap *s, FILE *log,
		 char *err, size_t errlen);
/* Verify one snapshot directory: manifest checksum, every file's size and CRC.
 * 0 ok (*manifest set, caller frees), -1 with why set. */
int sp_snap_verify(const char *snapdir, cJSON **manifest, char *why, size_t whylen);
/* Call fn for every record of every shard of s (PUT records; shard = old shard). */
typedef int (*sp_load_fn)(void *ctx, unsigned shard, const uint8_t *k, unsigned klen,
			  const uint8_t *v, unsigned vlen);
int sp_snap_load(const struct sp_snap *s, sp_load_fn fn, void *ctx, char *err, size_t errlen);
/* Shard meta value named `name` ("q0", ...) of shard k, or def. */
int64_t sp_snap_meta(const struct sp_snap *s, unsigned shard, const char *name, int64_t def);
void sp_snap_free(struct sp_snap *s);
/* List the snapshots (complete or not) to f, newest first, with their verdict. */
int sp_snap_list(const char *dir, FILE *f);
/* Keep the newest `retain` complete snapshots; remove older ones and leftovers of
 * unfinished ones, never one that is pinned.  Returns how many were removed. */
int sp_retain(const char *dir, unsigned retain, FILE *log);
/* Pins (process-wide): a pinned snapshot is never removed by retention. */
void sp_pin(uint64_t epoch);
void sp_unpin(uint64_t epoch);

/* Make snapshot *epoch of state dir `from` (0: its newest valid one), checked through
 * and of this fingerprint, the only snapshot of state dir `dir`: the snapshots `dir`
 * had are moved to dir/snapshots.diverged (replacing an older such set), so that
 * epochs go on from the adopted one; `from` is removed.  0 with *epoch set, or -1
 * with err set. */
int sp_snap_adopt(const char *dir, const char *from, const char *fingerprint, uint64_t *epoch, char *err,
		  size_t errlen);

/* ---- shipping to the peer (TCP through io_uring) ------------------------------------ */

/* Send snapshot `epoch` (0: newest valid) of state dir `dir` to host:port. */
int sp_ship_send(const char *dir, uint64_t epoch, const char *hostport, FILE *log,
		 char *err, size_t errlen);
/* Accept one connection on listen_fd and receive one snapshot into `dir`, verifying
 * every file's CRC on arrival; it is published only if all is well.  Returns the
 * epoch received, or 0 with err set. */
uint64_t sp_ship_recv(const char *dir, int listen_fd, unsigned retain, FILE *log,
		      char *err, size_t errlen);
/* Authenticated shipping (process-wide; an HA pair sets its HMAC with the shared
 * secret): the receiver opens with a random 32-byte challenge, the sender follows its
 * header and manifest with MAC(challenge || header || manifest), and the receiver
 * refuses a stream whose tag does not check out.  The manifest lists every file with
 * its size and CRC-32C.  Both ends must agree (fn NULL: no challenge, no tag). */
#define SP_MAC_LEN 32
typedef void (*sp_mac_fn)(void *ctx, const uint8_t *data, size_t len, uint8_t out[SP_MAC_LEN]);
void sp_set_ship_auth(sp_mac_fn fn, void *ctx);
/* A ship fails (rather than waits) once its peer has neither sent nor taken a byte for
 * `ms` milliseconds (0: the default, 10 s).  Process-wide. */
void sp_set_ship_timeout(unsigned ms);
/* A listening TCP socket on host:port (port 0: any; *port_out gets it). */
int sp_listen(const char *hostport, uint16_t *port_out, char *err, size_t errlen);

/* ---- inline ---------------------------------------------------------------------------- */

struct sp_public {                  /* the first member of struct sp */
	uint64_t requested;         /* atomic */
};

static inline uint64_t
sp_epoch_requested(const struct sp *sp)
{
	return __atomic_load_n(&((const struct sp_public *)(const void *)sp)->requested, __ATOMIC_ACQUIRE);
}

#ifdef __cplusplus
}
#endif
#endif
