/* SPDX-License-Identifier: Apache-2.0
 * `weir witness`: the witness as a process.  A blocking UDP loop around
 * wit_handle(); its term and holder are durable (termstore) before it answers. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "hamsg.h"
#include "termstore.h"
#include "witness.h"

static volatile sig_atomic_t stop;

static void
on_signal(int s)
{
	(void)s;
	stop = 1;
}

static uint64_t
now_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
persist(void *ctx, uint64_t term, const char *holder)
{
	return termstore_put(ctx, term, holder);
}

static void
wlog(void *ctx, const char *line)
{
	(void)ctx;
	time_t t = time(NULL);
	struct tm tm;
	char b[32];
	gmtime_r(&t, &tm);
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s weir-witness: %s\n", b, line);
	fflush(stderr);
}

int
weir_witness_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "secret-file", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'd' },
		{ "realtime", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_s = NULL, *secret = NULL, *dir = NULL;
	bool rt = false;
	int c;
	char host[128], why[300], holder[WHA_NODE_MAX];
	uint16_t port;
	uint8_t key[WHA_SECRET_MAX + 1];
	size_t keylen;
	struct termstore ts;
	struct wit w;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen_s = optarg; break;
		case 's': secret = optarg; break;
		case 'd': dir = optarg; break;
		case 'r': rt = true; break;
		default: goto usage;
		}
	}
	if (!listen_s || !secret || !dir || optind != argc)
		goto usage;
	if (weir_parse_hostport(listen_s, host, sizeof(host), &port)) {
		fprintf(stderr, "weir witness: --listen %s: expected ADDR:PORT\n", listen_s);
		return 2;
	}
	if (wha_secret_load(secret, key, &keylen, why, sizeof(why))) {
		fprintf(stderr, "weir witness: %s\n", why);
		return 2;
	}
	memset(&w, 0, sizeof(w));
	if (termstore_open(&ts, dir, "witness.term", &w.term, holder, why, sizeof(why))) {
		fprintf(stderr, "weir witness: %s\n", why);
		return 1;
	}
	snprintf(w.holder, sizeof(w.holder), "%s", holder);
	/* after a restart the holder's lease is unknown: it may have been renewed just
	 * before, so nothing is granted for the longest lease a node may have (weir
	 * check caps heartbeat x dead_after at 10 s) */
	w.lease_until = w.holder[0] ? now_ns(CLOCK_MONOTONIC) + WEIR_HA_LEASE_MAX : 0;
	if (w.holder[0])
		wlog(NULL, "restarted: holding the current term for 10 s before granting a new one");
	w.boot = now_ns(CLOCK_REALTIME);
	w.persist = persist;
	w.ctx = &ts;
	w.log = wlog;

	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE }, *ai;
	char p[8];
	snprintf(p, sizeof(p), "%u", port);
	if (getaddrinfo(host, p, &hints, &ai)) {
		fprintf(stderr, "weir witness: cannot resolve %s\n", listen_s);
		return 2;
	}
	int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		fprintf(stderr, "weir witness: %s: %s\n", listen_s, strerror(errno));
		freeaddrinfo(ai);
		return 1;
	}
	freeaddrinfo(ai);
	if (rt) {
		struct sched_param sp = { .sched_priority = 10 };
		mlockall(MCL_CURRENT | MCL_FUTURE);
		if (sched_setscheduler(0, SCHED_FIFO, &sp))
			fprintf(stderr, "weir witness: warning: SCHED_FIFO: %s\n", strerror(errno));
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	wlog(NULL, "listening");
	struct timeval tv = { 0, 200000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint64_t forged = 0, bad = 0;
	while (!stop) {
		uint8_t buf[WHA_DGRAM_MAX + 64];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		struct wha_msg m, out;
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			continue;
		enum wha_verdict v = wha_unpack(buf, (size_t)n, key, keylen, &m);
		if (v == WHA_BAD_MAC) {
			forged++;
			if (!(forged & (forged - 1)))   /* 1st, 2nd, 4th, ...: rate-limited */
				wlog(NULL, "dropping datagrams with a bad MAC (forged, or another secret)");
			continue;
		}
		if (v != WHA_OK) {
			bad++;
			continue;
		}
		if (!wit_handle(&w, now_ns(CLOCK_MONOTONIC), &m, &out))
			continue;
		size_t len = wha_pack(&out, key, keylen, buf, sizeof(buf));
		sendto(fd, buf, len, 0, (struct sockaddr *)&from, fl);
	}
	fprintf(stderr, "weir witness: term %" PRIu64 " held by %s; %" PRIu64 " granted, %" PRIu64 " refused, %" PRIu64
		" forged, %" PRIu64 " malformed\n", w.term, w.holder[0] ? w.holder : "nobody", w.c.granted, w.c.refused,
		forged, bad);
	termstore_close(&ts);
	close(fd);
	return 0;
usage:
	fprintf(stderr, "usage: weir witness --listen ADDR:PORT --secret-file FILE --dir DIR [--realtime]\n");
	return 2;
}
