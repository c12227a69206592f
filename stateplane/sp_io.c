/* SPDX-License-Identifier: Apache-2.0
 * io_uring file and socket I/O for the state plane (see sp_io.h). */
#include "sp_io.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_hash_crc.h>

#define IO_CHUNK (1u << 20)

uint32_t
sp_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {   /* rte_hash_crc takes a 32-bit length */
		uint32_t n = len > (1u << 30) ? (1u << 30) : (uint32_t)len;
		crc = rte_hash_crc(p, n, crc);
		p += n;
		len -= n;
	}
	return crc;
}

/* ---- fault injection --------------------------------------------------------------- */

static const char *const fault_names[SP_F_MAX] = {
	"apply", "cut", "manifest", "rename", "ship", "write", "fsync",
};

static struct {
	int parsed;
	int point;                  /* -1 none */
	unsigned nth, seen;
	int err;                    /* 0: crash */
} F;

void
sp_fault_reset(void)
{
	const char *s = getenv("WEIR_SP_FAULT");
	char name[32];

	F.parsed = 1;
	F.point = -1;
	F.nth = 1;
	F.seen = 0;
	F.err = 0;
	if (!s || !*s)
		return;
	size_t n = strcspn(s, "@:");
	if (n >= sizeof(name))
		return;
	memcpy(name, s, n);
	name[n] = 0;
	for (int i = 0; i < SP_F_MAX; i++)
		if (!strcmp(name, fault_names[i]))
			F.point = i;
	s += n;
	if (*s == '@') {
		F.nth = (unsigned)strtoul(s + 1, (char **)&s, 10);
		if (!F.nth)
			F.nth = 1;
	}
	if (*s == ':') {
		if (!strcmp(s + 1, "eio"))
			F.err = -EIO;
		else if (!strcmp(s + 1, "enospc"))
			F.err = -ENOSPC;
	}
	if (F.point < 0)
		fprintf(stderr, "weir: WEIR_SP_FAULT: unknown point '%s' (ignored)\n", name);
}

int
sp_fault(enum sp_fault_point p)
{
	if (!F.parsed)
		sp_fault_reset();
	if (F.point != (int)p || ++F.seen != F.nth)
		return 0;
	if (F.err)
		return F.err;
	fprintf(stderr, "weir: fault injection: crash at '%s'\n", fault_names[p]);
	fflush(stderr);
	raise(SIGKILL);
	_exit(137);
}

/* ---- the ring -------------------------------------------------------------------------- */

int
sp_io_init(struct sp_io *io, unsigned depth)
{
	memset(io, 0, sizeof(*io));
	if (depth < 4)
		depth = 4;
	io->depth = depth;
	return io_uring_queue_init(depth, &io->ring, 0);
}

void
sp_io_exit(struct sp_io *io)
{
	io_uring_queue_exit(&io->ring);
}

static struct io_uring_sqe *
get_sqe(struct sp_io *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);

	if (!sqe) {             /* cannot happen: callers keep within depth */
		io_uring_submit(&io->ring);
		sqe = io_uring_get_sqe(&io->ring);
	}
	io->submitted++;
	return sqe;
}

/* Submit what is queued and reap n completions; res[i] gets each user_data's result
 * (user_data = index).  Returns 0 or -errno of io_uring itself. */
static int
submit_wait(struct sp_io *io, unsigned n, int *res)
{
	int r = io_uring_submit(&io->ring);

	if (r < 0)
		return r;
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_cqe *cqe;
		do
			r = io_uring_wait_cqe(&io->ring, &cqe);
		while (r == -EINTR);
		if (r < 0)
			return r;
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		if (ud < n)
			res[ud] = cqe->res;
		io_uring_cqe_seen(&io->ring, cqe);
	}
	return 0;
}

/* One operation, synchronously. */
static int
one(struct sp_io *io, struct io_uring_sqe *sqe)
{
	int res = -EIO, r;

	io_uring_sqe_set_data64(sqe, 0);
	r = submit_wait(io, 1, &res);
	return r < 0 ? r : res;
}

static int
open_at(struct sp_io *io, int dirfd, const char *path, int flags, mode_t mode)
{
	struct io_uring_sqe *sqe = get_sqe(io);

	io_uring_prep_openat(sqe, dirfd, path, flags | O_CLOEXEC, mode);
	return one(io, sqe);
}

static int
close_fd(struct sp_io *io, int fd)
{
	struct io_uring_sqe *sqe = get_sqe(io);

	io_uring_prep_close(sqe, fd);
	return one(io, sqe);
}

int
sp_io_write_file(struct sp_io *io, int dirfd, const char *path, const void *buf, size_t len,
		 bool do_fsync)
{
	int fd = open_at(io, dirfd, path, O_WRONLY | O_CREAT | O_TRUNC, 0644), err = 0;
	int res[64];
	size_t off = 0;

	if (fd < 0)
		return fd;
	/* chains of at most depth-1 writes (+1 fsync on the last), linked so that a
	 * failed write cancels the rest and the fsync never reports a partial file */
	unsigned per = io->depth - 1 < 63 ? io->depth - 1 : 63;
	do {
		unsigned n = 0;
		size_t start = off;
		struct io_uring_sqe *lastsqe = NULL;
		while (n < per && off < len) {
			size_t k = len - off < IO_CHUNK ? len - off : IO_CHUNK;
			struct io_uring_sqe *sqe = get_sqe(io);
			io_uring_prep_write(sqe, fd, (const uint8_t *)buf + off, (unsigned)k, off);
			io_uring_sqe_set_data64(sqe, n);
			sqe->flags |= IOSQE_IO_LINK;
			lastsqe = sqe;
			off += k;
			n++;
		}
		bool last = off >= len;
		if (last && do_fsync) {
			struct io_uring_sqe *sqe = get_sqe(io);
			io_uring_prep_fsync(sqe, fd, 0);
			io_uring_sqe_set_data64(sqe, n);
			n++;
		} else if (lastsqe) {
			/* end the chain here: a link must not run into the next batch */
			lastsqe->flags &= (uint8_t)~IOSQE_IO_LINK;
		}
		if (!n)
			break;
		int r = submit_wait(io, n, res);
		if (r < 0) {
			err = r;
			break;
		}
		size_t o = start;
		for (unsigned i = 0; i < n && !err; i++) {
			if (res[i] < 0) {
				err = res[i] == -ECANCELED ? -EIO : res[i];
			} else if (last && do_fsync && i == n - 1) {
				int f = sp_fault(SP_F_FSYNC);
				if (f)
					err = f;
			} else {
				size_t k = len - o < IO_CHUNK ? len - o : IO_CHUNK;
				if ((size_t)res[i] != k)
					err = -ENOSPC;  /* a short write to a regular file: out of space */
				o += k;
				if (!err) {
					int f = sp_fault(SP_F_WRITE);
					if (f)
						err = f;
				}
			}
		}
		if (!err)
			io->bytes_written += off - start;
		if (last)
			break;
	} while (!err);
	int c = close_fd(io, fd);
	if (!err && c < 0)
		err = c;
	return err;
}

int
sp_io_fsync_dir(struct sp_io *io, const char *dir)
{
	int fd = open_at(io, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY, 0), r;

	if (fd < 0)
		return fd;
	struct io_uring_sqe *sqe = get_sqe(io);
	io_uring_prep_fsync(sqe, fd, 0);
	r = one(io, sqe);
	if (!r)
		r = sp_fault(SP_F_FSYNC);
	close_fd(io, fd);
	return r;
}

int
sp_io_rename(struct sp_io *io, const char *from, const char *to)
{
	struct io_uring_sqe *sqe = get_sqe(io);

	io_uring_prep_renameat(sqe, AT_FDCWD, from, AT_FDCWD, to, 0);
	return one(io, sqe);
}

/* Read the file open as fd (size len) in two alternating buffers, feeding each
 * completed buffer to fn.  Used by the CRC and the send path. */
static int
read_stream(struct sp_io *io, int fd, uint64_t len, int (*fn)(void *ctx, const uint8_t *p, size_t n),
	    void *ctx)
{
	uint8_t *b[2];
	uint64_t off = 0;
	int err = 0, res;

	b[0] = malloc(2 * (size_t)IO_CHUNK);
	if (!b[0])
		return -ENOMEM;
	b[1] = b[0] + IO_CHUNK;
	/* keep one read in flight while fn works on the previous buffer */
	unsigned cur = 0;
	size_t want = len - off < IO_CHUNK ? (size_t)(len - off) : IO_CHUNK;
	if (want) {
		struct io_uring_sqe *sqe = get_sqe(io);
		io_uring_prep_read(sqe, fd, b[cur], (unsigned)want, off);
		io_uring_sqe_set_data64(sqe, 0);
		io_uring_submit(&io->ring);
	}
	while (want) {
		struct io_uring_cqe *cqe;
		int r;
		do
			r = io_uring_wait_cqe(&io->ring, &cqe);
		while (r == -EINTR);
		if (r < 0) {
			err = r;
			break;
		}
		res = cqe->res;
		io_uring_cqe_seen(&io->ring, cqe);
		if (res < 0) {
			err = res;
			break;
		}
		if ((size_t)res != want) {
			err = -EIO;  /* the file shrank under us */
			break;
		}
		io->bytes_read += (uint64_t)res;
		off += want;
		size_t got = want;
		unsigned done = cur;
		cur ^= 1;
		want = len - off < IO_CHUNK ? (size_t)(len - off) : IO_CHUNK;
		if (want) {
			struct io_uring_sqe *sqe = get_sqe(io);
			io_uring_prep_read(sqe, fd, b[cur], (unsigned)want, off);
			io_uring_sqe_set_data64(sqe, 0);
			io_uring_submit(&io->ring);
		}
		err = fn(ctx, b[done], got);
		if (err) {
			if (want) {   /* reap the read still in flight */
				struct io_uring_cqe *c2;
				if (io_uring_wait_cqe(&io->ring, &c2) == 0)
					io_uring_cqe_seen(&io->ring, c2);
			}
			break;
		}
	}
	free(b[0]);
	return err;
}

static int
crc_fn(void *ctx, const uint8_t *p, size_t n)
{
	uint32_t *crc = ctx;
	*crc = sp_crc32c(*crc, p, n);
	return 0;
}

static int
file_size(struct sp_io *io, int fd, uint64_t *size)
{
	struct statx stx;
	struct io_uring_sqe *sqe = get_sqe(io);
	int r;

	io_uring_prep_statx(sqe, fd, "", AT_EMPTY_PATH, STATX_SIZE, &stx);
	r = one(io, sqe);
	if (r < 0)
		return r;
	*size = stx.stx_size;
	return 0;
}

int
sp_io_file_crc(struct sp_io *io, const char *path, uint64_t *size, uint32_t *crc)
{
	int fd = open_at(io, AT_FDCWD, path, O_RDONLY, 0), r;

	if (fd < 0)
		return fd;
	*crc = 0;
	r = file_size(io, fd, size);
	if (!r)
		r = read_stream(io, fd, *size, crc_fn, crc);
	close_fd(io, fd);
	return r;
}

struct readall { uint8_t *buf; size_t off; };

static int
copy_fn(void *ctx, const uint8_t *p, size_t n)
{
	struct readall *ra = ctx;
	memcpy(ra->buf + ra->off, p, n);
	ra->off += n;
	return 0;
}

int
sp_io_read_file(struct sp_io *io, const char *path, uint8_t **buf, size_t *len)
{
	int fd = open_at(io, AT_FDCWD, path, O_RDONLY, 0), r;
	uint64_t size = 0;

	*buf = NULL;
	if (fd < 0)
		return fd;
	r = file_size(io, fd, &size);
	if (!r && size > (1u << 30))
		r = -EFBIG;
	if (!r) {
		struct readall ra = { malloc((size_t)size + 1), 0 };
		if (!ra.buf) {
			r = -ENOMEM;
		} else {
			r = read_stream(io, fd, size, copy_fn, &ra);
			ra.buf[size] = 0;
			if (r)
				free(ra.buf);
			else
				*buf = ra.buf, *len = (size_t)size;
		}
	}
	close_fd(io, fd);
	return r;
}

/* ---- sockets ---------------------------------------------------------------------------- */

/* One socket operation, bounded by io->sock_timeout_ms when set (a linked timeout
 * cancels it: a peer that stops sending or reading cannot hang the state plane). */
static int
one_sock(struct sp_io *io, struct io_uring_sqe *sqe)
{
	if (!io->sock_timeout_ms)
		return one(io, sqe);
	int res[2] = { -EIO, 0 }, r;
	struct __kernel_timespec ts = {
		.tv_sec = io->sock_timeout_ms / 1000,
		.tv_nsec = (long long)(io->sock_timeout_ms % 1000) * 1000000,
	};
	io_uring_sqe_set_data64(sqe, 0);
	sqe->flags |= IOSQE_IO_LINK;
	struct io_uring_sqe *t = get_sqe(io);
	io_uring_prep_link_timeout(t, &ts, 0);
	io_uring_sqe_set_data64(t, 1);
	r = submit_wait(io, 2, res);
	if (r < 0)
		return r;
	return res[0] == -ECANCELED ? -ETIMEDOUT : res[0];
}

int
sp_io_accept(struct sp_io *io, int lfd)
{
	struct io_uring_sqe *sqe = get_sqe(io);

	io_uring_prep_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	return one_sock(io, sqe);
}

/* The whole buffer, in pieces of at most IO_CHUNK: a peer that closes early is
 * -EPIPE (sending) or -ECONNRESET (receiving). */
static int
sock_all(struct sp_io *io, int fd, uint8_t *buf, size_t len, bool out)
{
	size_t off = 0;

	while (off < len) {
		struct io_uring_sqe *sqe = get_sqe(io);
		size_t k = len - off < IO_CHUNK ? len - off : IO_CHUNK;
		if (out)
			io_uring_prep_send(sqe, fd, buf + off, k, MSG_NOSIGNAL);
		else
			io_uring_prep_recv(sqe, fd, buf + off, k, 0);
		int r = one_sock(io, sqe);
		if (r < 0)
			return r;
		if (r == 0)
			return out ? -EPIPE : -ECONNRESET;
		off += (size_t)r;
	}
	return 0;
}

int
sp_io_send(struct sp_io *io, int fd, const void *buf, size_t len)
{
	return sock_all(io, fd, (uint8_t *)(uintptr_t)buf, len, true);
}

int
sp_io_recv(struct sp_io *io, int fd, void *buf, size_t len)
{
	return sock_all(io, fd, buf, len, false);
}

struct sendctx { struct sp_io *io; int sock; uint32_t crc; };

static int
send_fn(void *ctx, const uint8_t *p, size_t n)
{
	struct sendctx *s = ctx;
	s->crc = sp_crc32c(s->crc, p, n);
	int f = sp_fault(SP_F_SHIP);
	if (f)
		return f;
	return sp_io_send(s->io, s->sock, p, n);
}

int
sp_io_send_file(struct sp_io *io, int sock, const char *path, uint64_t len, uint32_t *crc)
{
	int fd = open_at(io, AT_FDCWD, path, O_RDONLY, 0), r;
	struct sendctx s = { io, sock, 0 };

	if (fd < 0)
		return fd;
	r = read_stream(io, fd, len, send_fn, &s);
	*crc = s.crc;
	close_fd(io, fd);
	return r;
}

int
sp_io_recv_file(struct sp_io *io, int sock, const char *path, uint64_t len, uint32_t *crc)
{
	size_t cap = len < IO_CHUNK ? (size_t)len : IO_CHUNK;
	uint8_t *b = malloc(cap ? cap : 1);
	uint64_t off = 0;
	int fd, r = 0;

	if (!b)
		return -ENOMEM;
	fd = open_at(io, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		free(b);
		return fd;
	}
	*crc = 0;
	while (!r && off < len) {
		size_t k = len - off < cap ? (size_t)(len - off) : cap;
		r = sp_io_recv(io, sock, b, k);
		if (r)
			break;
		*crc = sp_crc32c(*crc, b, k);
		struct io_uring_sqe *sqe = get_sqe(io);
		io_uring_prep_write(sqe, fd, b, (unsigned)k, off);
		int w = one(io, sqe);
		if (w < 0)
			r = w;
		else if ((size_t)w != k)
			r = -ENOSPC;
		off += k;
		io->bytes_written += k;
	}
	if (!r) {
		struct io_uring_sqe *sqe = get_sqe(io);
		io_uring_prep_fsync(sqe, fd, 0);
		r = one(io, sqe);
	}
	close_fd(io, fd);
	free(b);
	return r;
}
