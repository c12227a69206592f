/* SPDX-License-Identifier: Apache-2.0
 * Result sinks (see sink.h). */
#include "sink.h"
#include "expr.h"
#include "itch.h"
#include "hagate.h"

#define RTE_MIN_SZ(a, b) ((a) < (b) ? (a) : (b))

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct out {
	FILE *fp;                   /* file or stdout */
	int fd;                     /* udp socket */
	struct sockaddr_storage addr;
	socklen_t alen;
};

struct weir_sinks {
	const struct weir_config *cfg;
	struct out q[WEIR_MAX_QUERIES];
	unsigned long long errors;
	unsigned long long handed;      /* results written (to buffers) */
};

static int
mkdirs(const char *path)
{
	char buf[WEIR_PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

/* A file appended to again: a writer killed in the middle of a write (kill -9) can
 * have left a torn last line.  No result in it was counted as written (positions are
 * published after a whole flush), so it is cut off, back to the last newline. */
static void
cut_torn_tail(const char *path, FILE *err)
{
	char buf[4096];
	struct stat st;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;                 /* not there yet: fopen makes it */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		off_t end = st.st_size, keep = -1;
		while (end > 0 && keep < 0) {
			off_t from = end > (off_t)sizeof(buf) ? end - (off_t)sizeof(buf) : 0;
			ssize_t n = pread(fd, buf, (size_t)(end - from), from);
			if (n != end - from)
				break;
			for (ssize_t i = n - 1; i >= 0 && keep < 0; i--)
				if (buf[i] == '\n')
					keep = from + i + 1;
			end = from;
		}
		if (keep < 0 && end == 0)
			keep = 0;               /* no newline at all: one torn line */
		if (keep >= 0 && keep < st.st_size) {
			if (ftruncate(fd, keep) == 0)
				fprintf(err, "weir: sink %s: cut a torn last line (%lld bytes) a killed writer left\n", path,
					(long long)(st.st_size - keep));
			else
				fprintf(err, "weir: sink %s: cannot cut a torn last line: %s\n", path, strerror(errno));
		}
	}
	close(fd);
}

struct weir_sinks *
weir_sinks_open(const struct weir_config *cfg, bool append, FILE *err)
{
	struct weir_sinks *sk = calloc(1, sizeof(*sk));

	if (!sk)
		return NULL;
	sk->cfg = cfg;
	for (int i = 0; i < cfg->nqueries; i++) {
		const struct weir_query_cfg *q = &cfg->queries[i];
		struct out *o = &sk->q[i];
		o->fd = -1;
		if (q->sink == WEIR_SINK_STDOUT) {
			o->fp = stdout;
		} else if (q->sink == WEIR_SINK_FILE) {
			/* several queries may share one file: reuse its stream */
			for (int j = 0; j < i; j++)
				if (cfg->queries[j].sink == WEIR_SINK_FILE && !strcmp(cfg->queries[j].sink_path, q->sink_path))
					o->fp = sk->q[j].fp;
			if (!o->fp) {
				if (append)
					cut_torn_tail(q->sink_path, err);
				if (mkdirs(q->sink_path) || !(o->fp = fopen(q->sink_path, append ? "a" : "w"))) {
					fprintf(err, "weir: query '%s': cannot open sink file %s: %s\n", q->name,
						q->sink_path, strerror(errno));
					goto fail;
				}
				setvbuf(o->fp, NULL, _IOFBF, 1 << 20);   /* a whole burst: see hagate.h */
			}
		} else {
			struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai;
			char port[8];
			int rc;
			snprintf(port, sizeof(port), "%u", q->sink_port);
			rc = getaddrinfo(q->sink_path, port, &hints, &ai);
			if (rc) {
				fprintf(err, "weir: query '%s': sink udp:%s:%u: %s\n", q->name, q->sink_path,
					q->sink_port, gai_strerror(rc));
				goto fail;
			}
			o->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			memcpy(&o->addr, ai->ai_addr, ai->ai_addrlen);
			o->alen = ai->ai_addrlen;
			freeaddrinfo(ai);
			if (o->fd < 0) {
				fprintf(err, "weir: query '%s': socket: %s\n", q->name, strerror(errno));
				goto fail;
			}
		}
	}
	return sk;
fail:
	weir_sinks_close(sk);
	return NULL;
}

/* Shortest text that round-trips a double, always with a '.' or exponent. */
static int
fmt_double(char *b, size_t n, double d)
{
	int len;

	if (!isfinite(d))
		return snprintf(b, n, "null");
	for (int prec = 15; prec <= 17; prec++) {
		len = snprintf(b, n, "%.*g", prec, d);
		if (prec == 17 || strtod(b, NULL) == d)
			break;
	}
	if ((size_t)len < n && !strpbrk(b, ".eEn"))
		len += snprintf(b + len, n - (size_t)len, ".0");
	return len;
}

/* Decimal digits of v, written backwards ending at p; returns the first digit.
 * (snprintf costs ~10x more and the sink formats every result.) */
static inline char *
utoa_rev(char *p, uint64_t v)
{
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

struct out_buf {
	char *b;
	size_t n, len;
};

static inline void
put_mem(struct out_buf *o, const char *s, size_t l)
{
	if (o->len < o->n)
		memcpy(o->b + o->len, s, RTE_MIN_SZ(l, o->n - o->len));
	o->len += l;
}

static inline void
put_str(struct out_buf *o, const char *s)
{
	put_mem(o, s, strlen(s));
}

static inline void
put_u64(struct out_buf *o, uint64_t v)
{
	char tmp[24], *p = utoa_rev(tmp + sizeof(tmp), v);
	put_mem(o, p, (size_t)(tmp + sizeof(tmp) - p));
}

static inline void
put_i64(struct out_buf *o, int64_t v)
{
	char tmp[24], *p = utoa_rev(tmp + sizeof(tmp), v < 0 ? -(uint64_t)v : (uint64_t)v);
	if (v < 0)
		*--p = '-';
	put_mem(o, p, (size_t)(tmp + sizeof(tmp) - p));
}

static inline void
put_f64(struct out_buf *o, double d)
{
	char tmp[40];
	int l = fmt_double(tmp, sizeof(tmp), d);
	put_mem(o, tmp, (size_t)l);
}

/* ,"name": */
static inline void
put_key(struct out_buf *o, const char *name)
{
	put_mem(o, ",\"", 2);
	put_str(o, name);
	put_mem(o, "\":", 2);
}

size_t
weir_result_format(const struct weir_config *cfg, const struct weir_result *r, char *buf, size_t n)
{
	return weir_result_format_tagged(cfg, r, NULL, buf, n);
}

size_t
weir_result_format_tagged(const struct weir_config *cfg, const struct weir_result *r,
			  const struct weir_result_tag *tag, char *buf, size_t n)
{
	const struct weir_query_cfg *q = &cfg->queries[r->query];
	struct out_buf o = { buf, n ? n - 1 : 0, 0 };   /* keep room for the terminator */

	put_str(&o, "{\"query\":\"");
	put_str(&o, q->name);
	put_str(&o, "\",\"key\":");
	put_u64(&o, r->key);
	if (q->window >= WEIR_WIN_OVER) {              /* one result per event */
		put_str(&o, ",\"event_time\":");
		put_i64(&o, r->end);
	} else {
		put_str(&o, ",\"window_start\":");
		put_i64(&o, r->start);
		put_str(&o, ",\"window_end\":");
		put_i64(&o, r->end);
		put_str(&o, ",\"revision\":");
		put_u64(&o, r->revision & ~WEIR_REV_RETRACT);
		if (r->revision & WEIR_REV_RETRACT)
			put_str(&o, ",\"retract\":true");
	}
	if (r->revision & WEIR_REV_RETRACT) {
		;                                       /* a retraction: the header alone */
	} else if (q->nout) {                           /* SQL: the SELECT list */
		uint64_t slots[WEIR_MAX_AGGS], v;
		struct weir_xin in;
		weir_result_xin(q, r, slots, &in);
		for (int c = 0; c < q->nout; c++) {
			const struct weir_expr *e = &q->out[c].e;
			put_key(&o, q->out[c].name);
			if (!weir_expr_eval(q->code, e, &in, &v)) {
				put_str(&o, "null");
			} else if (q->out[c].symbol) {
				char sym[9];
				weir_itch_symbol(v, sym);
				for (char *x = sym; *x; x++)
					if (*x < 0x20 || *x > 0x7e || *x == '"' || *x == '\\')
						*x = '?';         /* (a key that is not a symbol) */
				put_mem(&o, "\"", 1);
				put_str(&o, sym);
				put_mem(&o, "\"", 1);
			} else if (e->boolean)
				put_str(&o, v ? "true" : "false");
			else if (e->type == WEIR_F_I64)
				put_i64(&o, (int64_t)v);
			else if (e->type == WEIR_F_U64)
				put_u64(&o, v);
			else {
				double d;
				memcpy(&d, &v, 8);
				if (isfinite(d))
					put_f64(&o, d);
				else
					put_str(&o, "null");    /* JSON has no NaN or infinity */
			}
		}
	}
	for (int a = 0; a < q->naggs && !q->nout && !(r->revision & WEIR_REV_RETRACT); a++) {
		const struct weir_agg_cfg *g = &q->aggs[a];
		uint64_t v = r->val[a];
		double d;

		put_key(&o, g->name);
		if (r->null_mask & (1u << a)) {
			put_str(&o, "null");
		} else if (g->fn == WEIR_AGG_COUNT || g->fn == WEIR_AGG_DISTINCT) {
			put_u64(&o, v);
		} else if (g->fn == WEIR_AGG_AVG) {
			if (g->type == WEIR_F_I64)
				d = (double)(int64_t)v / (double)r->count;
			else if (g->type == WEIR_F_U64)
				d = (double)v / (double)r->count;
			else {
				memcpy(&d, &v, 8);
				d /= (double)r->count;
			}
			put_f64(&o, d);
		} else if (g->type == WEIR_F_I64) {
			put_i64(&o, (int64_t)v);
		} else if (g->type == WEIR_F_U64) {
			put_u64(&o, v);
		} else {
			memcpy(&d, &v, 8);
			put_f64(&o, d);
		}
	}
	if (tag) {
		put_str(&o, ",\"term\":");
		put_u64(&o, tag->term);
		put_str(&o, ",\"worker\":");
		put_u64(&o, tag->worker);
		put_str(&o, ",\"seq\":");
		put_u64(&o, tag->seq);
	}
	put_mem(&o, "}", 1);
	if (n)
		buf[o.len < n ? o.len : n - 1] = '\0';
	return o.len;
}

int
weir_sinks_write(struct weir_sinks *sk, const struct weir_result *r)
{
	return weir_sinks_write_tagged(sk, r, NULL);
}

int
weir_sinks_write_tagged(struct weir_sinks *sk, const struct weir_result *r, const struct weir_result_tag *tag)
{
	char buf[8192];
	size_t len;
	struct out *o;

	if (r->query >= sk->cfg->nqueries)
		return -EINVAL;
	sk->handed++;
	o = &sk->q[r->query];
	len = weir_result_format_tagged(sk->cfg, r, tag, buf, sizeof(buf) - 1);
	if (len >= sizeof(buf) - 1) {
		sk->errors++;
		return -EMSGSIZE;
	}
	if (o->fd >= 0) {
		if (sendto(o->fd, buf, len, 0, (struct sockaddr *)&o->addr, o->alen) < 0) {
			sk->errors++;
			return -errno;
		}
		return 0;
	}
	buf[len++] = '\n';
	if (fwrite(buf, 1, len, o->fp) != len) {
		sk->errors++;
		return -EIO;
	}
	return 0;
}

/* Fault injection for the HA tests (WEIR_FAULT_KILL_IN_WRITE=N): once N results were
 * handed to the sinks, the next flush writes only part of what is buffered (whole
 * lines and a torn one, as a write(2) that kill -9 cut short would) and the process
 * kills itself.  Reads glibc's FILE buffer pointers: a test hook, nothing else. */
static void
fault_kill_in_write(struct weir_sinks *sk)
{
	static long long at = -2;

	if (at == -2) {
		const char *e = getenv("WEIR_FAULT_KILL_IN_WRITE");
		at = e ? atoll(e) : -1;
	}
	if (at < 0 || (long long)sk->handed < at)
		return;
	for (int i = 0; i < sk->cfg->nqueries; i++) {
		FILE *fp = sk->q[i].fp;
		if (!fp || fp == stdout || fp->_IO_write_ptr - fp->_IO_write_base < 2)
			continue;
		size_t half = (size_t)(fp->_IO_write_ptr - fp->_IO_write_base) / 2;
		if (write(fileno(fp), fp->_IO_write_base, half) < 0)
			break;
		fprintf(stderr, "weir: fault injection: killed in the middle of a sink write (%zu of %zu bytes)\n",
			half, (size_t)(fp->_IO_write_ptr - fp->_IO_write_base));
		kill(getpid(), SIGKILL);
	}
}

void
weir_sinks_flush(struct weir_sinks *sk)
{
	fault_kill_in_write(sk);
	for (int i = 0; i < sk->cfg->nqueries; i++)
		if (sk->q[i].fp && fflush(sk->q[i].fp))
			sk->errors++;
}

int
weir_sinks_sync(struct weir_sinks *sk)
{
	int rc = 0;

	for (int i = 0; i < sk->cfg->nqueries; i++) {
		FILE *fp = sk->q[i].fp;
		if (!fp)
			continue;
		if (fflush(fp)) {
			sk->errors++;
			rc = -1;
		} else if (fp != stdout && fdatasync(fileno(fp)) && errno != EINVAL) {
			rc = -1;        /* EINVAL: not a file that can be synced (a pipe, /dev/null) */
		}
	}
	return rc;
}

void
weir_sinks_close(struct weir_sinks *sk)
{
	if (!sk)
		return;
	for (int i = 0; i < sk->cfg->nqueries; i++) {
		struct out *o = &sk->q[i];
		if (o->fd >= 0)
			close(o->fd);
		if (o->fp && o->fp != stdout) {
			bool shared = false;
			for (int j = i + 1; j < sk->cfg->nqueries; j++)
				shared |= sk->q[j].fp == o->fp;
			if (!shared && fclose(o->fp))
				sk->errors++;
		} else if (o->fp) {
			fflush(o->fp);
		}
	}
	free(sk);
}

unsigned long long
weir_sinks_errors(const struct weir_sinks *sk)
{
	return sk->errors;
}

/* Scan back from the end of a sink file for tagged lines (see sink.h). */
int
weir_sink_file_positions(const char *path, uint64_t *seq, unsigned nw, size_t window)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long size;
	int found = 0;
	uint8_t raised[WEIR_GATE_MAX_W] = { 0 };

	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0) {
		fclose(f);
		return -1;
	}
	size_t n = (size_t)size < window ? (size_t)size : window;
	if (!(buf = malloc(n + 1)) || fseek(f, size - (long)n, SEEK_SET) || fread(buf, 1, n, f) != n) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[n] = '\0';
	/* whole lines only: from after the first newline (unless the window is the file)
	 * up to the last one (a torn last line is not written) */
	char *first = (size_t)size > n ? memchr(buf, '\n', n) : NULL;
	char *end = n ? memrchr(buf, '\n', n) : NULL;
	char *line = (size_t)size > n ? (first ? first + 1 : NULL) : buf;
	if (!line || !end || line > end) {
		free(buf);
		return 0;
	}
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line) + 1);
		*nl = '\0';
		char *w = strstr(line, ",\"worker\":"), *s = w ? strstr(w, ",\"seq\":") : NULL;
		if (w && s) {
			unsigned long long wk = strtoull(w + 10, NULL, 10), sq = strtoull(s + 7, NULL, 10);
			if (wk < nw && wk < WEIR_GATE_MAX_W && sq > seq[wk]) {
				seq[wk] = sq;
				found += !raised[wk];
				raised[wk] = 1;
			}
		}
		line = nl + 1;
	}
	free(buf);
	return found;
}
