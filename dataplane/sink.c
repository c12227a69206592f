/* SPDX-License-Identifier: Apache-2.0
 * Result sinks (see sink.h). */
#include "sink.h"

#include <errno.h>
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

struct weir_sinks *
weir_sinks_open(const struct weir_config *cfg, FILE *err)
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
				if (mkdirs(q->sink_path) || !(o->fp = fopen(q->sink_path, "w"))) {
					fprintf(err, "weir: query '%s': cannot open sink file %s: %s\n", q->name,
						q->sink_path, strerror(errno));
					goto fail;
				}
				setvbuf(o->fp, NULL, _IOFBF, 1 << 16);
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

size_t
weir_result_format(const struct weir_config *cfg, const struct weir_result *r, char *buf, size_t n)
{
	const struct weir_query_cfg *q = &cfg->queries[r->query];
	size_t len = 0;
	char tmp[64];

#define PUT(...) do { int _k = snprintf(buf + (len < n ? len : n), len < n ? n - len : 0, __VA_ARGS__); \
		      len += (size_t)(_k > 0 ? _k : 0); } while (0)
	PUT("{\"query\":\"%s\",\"key\":%" PRIu64 ",\"window_start\":%" PRId64 ",\"window_end\":%" PRId64
	    ",\"revision\":%" PRIu32, q->name, r->key, r->start, r->end, r->revision);
	for (int a = 0; a < q->naggs; a++) {
		const struct weir_agg_cfg *g = &q->aggs[a];
		uint64_t v = r->val[a];
		double d;

		if (r->null_mask & (1u << a)) {
			PUT(",\"%s\":null", g->name);
			continue;
		}
		if (g->fn == WEIR_AGG_COUNT) {
			PUT(",\"count\":%" PRIu64, v);
			continue;
		}
		if (g->fn == WEIR_AGG_AVG) {
			if (g->type == WEIR_F_I64)
				d = (double)(int64_t)v / (double)r->count;
			else if (g->type == WEIR_F_U64)
				d = (double)v / (double)r->count;
			else {
				memcpy(&d, &v, 8);
				d /= (double)r->count;
			}
			fmt_double(tmp, sizeof(tmp), d);
			PUT(",\"%s\":%s", g->name, tmp);
			continue;
		}
		switch (g->type) {
		case WEIR_F_I64:
			PUT(",\"%s\":%" PRId64, g->name, (int64_t)v);
			break;
		case WEIR_F_U64:
			PUT(",\"%s\":%" PRIu64, g->name, v);
			break;
		default:
			memcpy(&d, &v, 8);
			fmt_double(tmp, sizeof(tmp), d);
			PUT(",\"%s\":%s", g->name, tmp);
			break;
		}
	}
	PUT("}");
#undef PUT
	return len;
}

int
weir_sinks_write(struct weir_sinks *sk, const struct weir_result *r)
{
	char buf[8192];
	size_t len;
	struct out *o;

	if (r->query >= sk->cfg->nqueries)
		return -EINVAL;
	o = &sk->q[r->query];
	len = weir_result_format(sk->cfg, r, buf, sizeof(buf) - 1);
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

void
weir_sinks_flush(struct weir_sinks *sk)
{
	for (int i = 0; i < sk->cfg->nqueries; i++)
		if (sk->q[i].fp && fflush(sk->q[i].fp))
			sk->errors++;
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
