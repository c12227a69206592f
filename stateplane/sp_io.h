/* SPDX-License-Identifier: Apache-2.0
 * The state plane's file and socket I/O, all through one io_uring (liburing).
 *
 * Writes go as linked chains (write -> write -> ... -> fsync) with at most `depth`
 * submissions in flight; completions are waited for in the kernel
 * (io_uring_wait_cqe), never by spinning.  Every call returns 0 or -errno.
 *
 * Fault injection for tests: WEIR_SP_FAULT="point[@n][:action]" makes the n-th (from 1,
 * default 1) pass through `point` crash the process (action "crash", the default:
 * SIGKILL, as a power cut would) or fail with EIO/ENOSPC ("eio", "enospc").
 * Points: apply, cut, manifest, rename, ship, write, fsync.
 */
#ifndef WEIR_SP_IO_H
#define WEIR_SP_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <liburing.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sp_io {
	struct io_uring ring;
	unsigned depth;
	uint64_t submitted;         /* SQEs, for the stats */
	uint64_t bytes_written;
	uint64_t bytes_read;
	unsigned sock_timeout_ms;   /* 0: socket operations wait for ever */
};

int sp_io_init(struct sp_io *io, unsigned depth);
void sp_io_exit(struct sp_io *io);

/* Create or truncate dirfd/path (AT_FDCWD: relative to cwd) and write buf to it:
 * linked writes of up to 1 MiB, then fsync (if do_fsync), then close. */
int sp_io_write_file(struct sp_io *io, int dirfd, const char *path, const void *buf, size_t len,
		     bool do_fsync);
/* fsync a directory (after a rename or create in it). */
int sp_io_fsync_dir(struct sp_io *io, const char *dir);
/* rename(2) through the ring. */
int sp_io_rename(struct sp_io *io, const char *from, const char *to);
/* Read a whole file; *buf is malloc'd (NUL-terminated for convenience). */
int sp_io_read_file(struct sp_io *io, const char *path, uint8_t **buf, size_t *len);
/* Size and CRC-32C of a file, read in double-buffered 1 MiB reads. */
int sp_io_file_crc(struct sp_io *io, const char *path, uint64_t *size, uint32_t *crc);
/* Whole-buffer socket send / receive (a peer that closes early: -EPIPE / -ECONNRESET). */
int sp_io_send(struct sp_io *io, int fd, const void *buf, size_t len);
/* accept(2) through the ring (bounded by sock_timeout_ms like send and receive). */
int sp_io_accept(struct sp_io *io, int lfd);
int sp_io_recv(struct sp_io *io, int fd, void *buf, size_t len);
/* Copy len bytes from a file (at its current start) to a socket, reading and
 * sending through the ring with two buffers in flight; *crc gets the CRC-32C. */
int sp_io_send_file(struct sp_io *io, int sock, const char *path, uint64_t len, uint32_t *crc);
/* Receive len bytes from a socket into a new file, fsync it; *crc gets the CRC-32C. */
int sp_io_recv_file(struct sp_io *io, int sock, const char *path, uint64_t len, uint32_t *crc);

uint32_t sp_crc32c(uint32_t crc, const void *buf, size_t len);

/* Fault injection (see above).  Returns 0 to go on, or -errno to fail with. */
enum sp_fault_point { SP_F_APPLY, SP_F_CUT, SP_F_MANIFEST, SP_F_RENAME, SP_F_SHIP, SP_F_WRITE,
		      SP_F_FSYNC, SP_F_MAX };
int sp_fault(enum sp_fault_point p);
/* Re-read WEIR_SP_FAULT (tests that change it in-process). */
void sp_fault_reset(void);

#ifdef __cplusplus
}
#endif
#endif
