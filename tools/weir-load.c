/* SPDX-License-Identifier: Apache-2.0
 * weir-load: send WEV/1 traffic through a DPDK port (net_memif) at a fixed rate, for
 * latency measurements of `weir run` (bench/latency_bench.py).
 *
 *   weir-load [EAL args] -- --rate R --seconds S [options]      (see --help)
 *   e.g. weir-load -l 1 --in-memory --no-pci \
 *          --vdev net_memif0,role=server,socket=/tmp/weir-lat.sock -- --rate 1e6 --seconds 5
 *
 * One polling lcore (the main one), on a CPU of its own.  Batch i (B records) is due at
 * start + i·B/R seconds on the TSC; the loop busy-waits for it, builds every batch that is
 * due by then (more than one only when it has fallen behind: they go out in one burst,
 * at most MAX_BURST) and sends them, retrying what the port did not take for up to 1 ms
 * before counting it as dropped.  Each batch's records carry the batch's send time as
 * event_time (CLOCK_REALTIME ns, from the TSC through an anchor calibrated while the link
 * comes up), so with watermark_delay 0 a window closes as soon as the first batch after
 * its end arrives.  A value field named `sent` (u64) carries the TSC at send; `amount`
 * and the other fields are random.  At the end: one EOS batch, then the port stays open
 * until the peer disconnects (a weir with exit_on_eos) or --linger seconds pass, so the
 * tail is never torn out of the shared rings.
 *
 * Measured (2-CPU AMD EPYC VM, 16 records of 32 bytes per batch): building a batch
 * ≈ 105 ns (6.6 ns/event), its memif tx ≈ 85 ns; one core has sent 15.4 M events/s into a
 * weir that kept up with most of it.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pause.h>

#include "wevframe.h"

#define MAX_FIELDS 16
#define MAX_BURST 32           /* batches built and sent in one tx burst when behind */
#define MAX_PAYLOAD 9000       /* wire-format.md: weir accepts UDP payloads up to this */
#define MAX_RECS ((MAX_PAYLOAD - 24) / 16)
#define NB_MBUF 8191

enum { T_I64, T_U64, T_F64 };

static struct {
	double rate, seconds, linger, link_timeout;
	uint64_t batch, keys, seed, window_hint, seq_start, max_frame;
	uint32_t source_id;
	uint16_t schema, port;
	int nfields, sent_field, amount_field;
	uint8_t ftype[MAX_FIELDS];
	const char *json, *spec;
} A = {
	.batch = 16, .keys = 1000, .seed = 1, .source_id = 1, .schema = 1, .port = 7000,
	.linger = 5, .link_timeout = 10, .sent_field = -1, .amount_field = -1, .max_frame = 2048,
	.spec = "amount:i64,sent:u64",
};

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static volatile sig_atomic_t exit_code;

/* Teardown watchdog: memif's close can race with the peer's disconnect, which the
 * interrupt thread handles at the same time (seen as "EAL: Error: Invalid memory" and,
 * rarely, a close that never returns).  The report is out by then: leave. */
static void
on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "weir-load: port teardown hung: exiting without it\n";
	ssize_t w = write(2, msg, sizeof(msg) - 1);
	(void)w;
	_exit(exit_code);
}

/* splitmix64 */
static uint64_t rs;
static inline uint64_t
rnd(void)
{
	uint64_t z = (rs += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: weir-load [EAL args] -- --rate R --seconds S [options]\n"
		"  EAL args e.g.  -l 1 --in-memory --no-pci --vdev net_memif0,role=server,socket=/tmp/weir-lat.sock\n"
		"                 (add --no-huge -m 512 where no hugepages are reserved)\n"
		"  --rate R          events per second (1e6 style accepted)     --seconds S   run time\n"
		"  --batch B         records per datagram (16)                   --keys K      keys uniform in 1..K (1000)\n"
		"  --fields SPEC     value fields, name:i64|u64|f64 (amount:i64,sent:u64); `sent` (u64) = TSC at send\n"
		"  --schema-id N (1) --udp-port N (7000) --source-id N (1) --seq-start N (0) --seed N (1)\n"
		"  --window-hint NS  count the distinct (key, tumbling NS window) pairs sent (0 = off)\n"
		"  --link-timeout S  give up when the link is not up after S seconds (10)\n"
		"  --linger S        after EOS, wait up to S seconds for the peer to disconnect (5)\n"
		"  --max-frame N     largest frame (2048: memif's default buffer size; raise it only together\n"
		"                    with bsize=N on both memif ends)\n"
		"  --json FILE       write the report as JSON\n");
}

static int
parse_fields(const char *spec)
{
	char buf[1024], *save = NULL;

	if (snprintf(buf, sizeof(buf), "%s", spec) >= (int)sizeof(buf))
		return -1;
	A.nfields = 0;
	A.sent_field = A.amount_field = -1;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		char *c = strchr(t, ':');
		if (!c || A.nfields == MAX_FIELDS)
			return -1;
		*c++ = '\0';
		for (char *e = c - 2; e >= t && *e == ' '; e--)
			*e = '\0';
		while (*c == ' ')
			c++;
		int ty;
		if (!strncmp(c, "i64", 3))
			ty = T_I64;
		else if (!strncmp(c, "u64", 3))
			ty = T_U64;
		else if (!strncmp(c, "f64", 3))
			ty = T_F64;
		else
			return -1;
		if (!strcmp(t, "sent") && ty == T_U64)
			A.sent_field = A.nfields;
		if (!strcmp(t, "amount"))
			A.amount_field = A.nfields;
		A.ftype[A.nfields++] = (uint8_t)ty;
	}
	return 0;
}

static int
parse_args(int argc, char **argv)
{
	static const struct option o[] = {
		{ "rate", 1, 0, 'r' }, { "seconds", 1, 0, 's' }, { "batch", 1, 0, 'b' }, { "keys", 1, 0, 'k' },
		{ "fields", 1, 0, 'f' }, { "schema-id", 1, 0, 'S' }, { "udp-port", 1, 0, 'P' },
		{ "source-id", 1, 0, 'I' }, { "seed", 1, 0, 'x' }, { "window-hint", 1, 0, 'w' },
		{ "seq-start", 1, 0, 'q' }, { "link-timeout", 1, 0, 'L' }, { "linger", 1, 0, 'g' },
		{ "max-frame", 1, 0, 'M' }, { "json", 1, 0, 'j' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", o, NULL)) != -1) {
		switch (c) {
		case 'r': A.rate = strtod(optarg, NULL); break;
		case 's': A.seconds = strtod(optarg, NULL); break;
		case 'b': A.batch = strtoull(optarg, NULL, 0); break;
		case 'k': A.keys = strtoull(optarg, NULL, 0); break;
		case 'f': A.spec = optarg; break;
		case 'S': A.schema = (uint16_t)strtoul(optarg, NULL, 0); break;
		case 'P': A.port = (uint16_t)strtoul(optarg, NULL, 0); break;
		case 'I': A.source_id = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'x': A.seed = strtoull(optarg, NULL, 0); break;
		case 'w': A.window_hint = strtoull(optarg, NULL, 0); break;
		case 'q': A.seq_start = strtoull(optarg, NULL, 0); break;
		case 'L': A.link_timeout = strtod(optarg, NULL); break;
		case 'g': A.linger = strtod(optarg, NULL); break;
		case 'M': A.max_frame = strtoull(optarg, NULL, 0); break;
		case 'j': A.json = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "weir-load: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (parse_fields(A.spec)) {
		fprintf(stderr, "weir-load: bad --fields '%s' (name:i64|u64|f64, at most %d)\n", A.spec, MAX_FIELDS);
		return -1;
	}
	uint64_t rsz = 16 + 8 * (uint64_t)A.nfields;
	if (!(A.rate > 0) || !(A.seconds > 0) || A.keys == 0 || A.batch == 0 || A.batch > 65535 ||
	    24 + A.batch * rsz > MAX_PAYLOAD || !(A.linger >= 0) || !(A.link_timeout > 0) ||
	    A.rate * A.seconds > 1e15) {
		fprintf(stderr, "weir-load: need --rate > 0 and --seconds > 0, --keys >= 1, 24 + batch * record_size "
				"<= %d\n", MAX_PAYLOAD);
		return -1;
	}
	/* DPDK 22.11's memif Tx never clears MEMIF_DESC_FLAG_NEXT on a reused descriptor that
	 * starts a packet: once a frame has spanned two buffers, a later one-buffer frame in that
	 * slot reads as chained (the receiver stalls on it or runs past the ring).  Frames that
	 * fit one memif buffer never set the flag. */
	uint64_t frame = wev_frame_hlen(0, false, WEV_MF_NONE) + 24 + A.batch * rsz;
	if (frame > A.max_frame) {
		fprintf(stderr, "weir-load: a frame of %" PRIu64 " records is %" PRIu64 " bytes, above --max-frame %"
				PRIu64 " (one memif buffer; frames spanning buffers are corrupted by DPDK's memif Tx):"
				" use a smaller --batch, or bsize= on both memif ends and --max-frame\n",
			A.batch, frame, A.max_frame);
		return -1;
	}
	return 0;
}

static double
mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* TSC -> CLOCK_REALTIME.  The anchor pairs one realtime reading with the TSC between two
 * reads of it; the rate comes from CLOCK_MONOTONIC_RAW over the link wait (>= 200 ms),
 * not from rte_get_tsc_hz() (where it is measured, DPDK rounds it to 10 MHz: event times
 * would drift from the wall clock by up to 0.25 % of the run). */
static struct {
	uint64_t tsc0;
	int64_t rt0;
	double ns_per_tick, hz;
} C;

static void
clock_anchor(void)
{
	struct timespec ts;
	uint64_t a = rte_rdtsc();
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t b = rte_rdtsc();
	C.tsc0 = a + (b - a) / 2;
	C.rt0 = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t
tsc_to_realtime(uint64_t tsc)
{
	return C.rt0 + (int64_t)((double)(int64_t)(tsc - C.tsc0) * C.ns_per_tick);
}

/* Waits for link up while calibrating the TSC.  0, or -1 after link_timeout. */
static int
wait_link(uint16_t port)
{
	double t0 = mono_s(), t;
	uint64_t c0 = rte_rdtsc();
	bool up = false;

	for (;;) {
		struct rte_eth_link link;
		t = mono_s();
		if (!up && rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP)
			up = true;
		if (up && t - t0 >= 0.2)
			break;
		if (!up && t - t0 > A.link_timeout) {
			fprintf(stderr, "weir-load: port %u: link not up after %.0f s (is the memif peer — "
					"weir with role=client on the same socket — running?)\n", port, A.link_timeout);
			return -1;
		}
		if (stop)
			return -1;
		rte_delay_us_sleep(1000);
	}
	C.hz = (double)(rte_rdtsc() - c0) / (mono_s() - t0);
	C.ns_per_tick = 1e9 / C.hz;
	clock_anchor();
	return 0;
}

static struct {
	uint64_t sent_events, sent_batches, drop_events, drop_batches, partial_bursts, behind_batches;
	uint64_t late_max_ticks, late_sum_ticks, late_max_at, key_windows, seq;
	uint64_t late_hist[8];       /* send turns late by < 1 us, < 10 us, ... < 1 s, more */
	uint64_t build_ticks, tx_ticks;
	uint64_t t_start, t_last;
	int64_t first_time, last_time;
	uint64_t unsent_events;      /* left out when the run was cut short */
	uint64_t first_drop_at;      /* batch index of the first tx drop, +1 (0: none) */
	bool eos_sent, cut_short;
} S;

static uint64_t *last_win;     /* per key: 1 + the last window index seen (0 = none) */

/* Send n mbufs; what the port does not take is retried for up to 1 ms, then freed and
 * counted.  Returns how many went out (a prefix of pkts). */
static uint16_t
send_all(uint16_t port, struct rte_mbuf **pkts, uint16_t n, uint64_t give_up_ticks)
{
	uint16_t done = rte_eth_tx_burst(port, 0, pkts, n);
	if (done < n) {
		uint64_t deadline = rte_rdtsc() + give_up_ticks;
		S.partial_bursts++;
		while (done < n && rte_rdtsc() < deadline) {
			rte_pause();
			done += rte_eth_tx_burst(port, 0, pkts + done, (uint16_t)(n - done));
		}
		rte_pktmbuf_free_bulk(pkts + done, n - done);
	}
	return done;
}

/* Records of one batch into p (record_size rsz); keys also into keys[]. */
static inline void
fill_records(uint8_t *p, uint16_t cnt, uint16_t rsz, int64_t t, uint64_t tsc, uint64_t *keys)
{
	for (uint16_t r = 0; r < cnt; r++, p += rsz) {
		uint64_t key = 1 + rnd() % A.keys;
		keys[r] = key;
		memcpy(p, &t, 8);
		memcpy(p + 8, &key, 8);
		for (int f = 0; f < A.nfields; f++) {
			uint64_t v;
			if (f == A.sent_field) {
				v = tsc;
			} else if (A.ftype[f] == T_I64) {
				int64_t x = f == A.amount_field ? 1 + (int64_t)(rnd() % 100000) : (int64_t)rnd();
				memcpy(&v, &x, 8);
			} else if (A.ftype[f] == T_U64) {
				v = rnd() >> 1;
			} else {
				double d = (double)(rnd() >> 11) / 9007199254740992.0 * 1000.0;
				memcpy(&v, &d, 8);
			}
			memcpy(p + 16 + 8 * f, &v, 8);
		}
	}
}

static int
run(uint16_t port, struct rte_mempool *mp)
{
	const uint16_t rsz = (uint16_t)(16 + 8 * A.nfields);
	const size_t hl = wev_frame_hlen(0, false, WEV_MF_NONE);
	const uint16_t sport = (uint16_t)(40000 + A.source_id);
	const uint64_t total = (uint64_t)llround(A.rate * A.seconds);
	const uint64_t nbatches = (total + A.batch - 1) / A.batch;
	const double period = (double)A.batch * C.hz / A.rate;    /* TSC ticks between batches */
	const uint64_t give_up = (uint64_t)(C.hz / 1000);          /* 1 ms */
	static uint64_t keys[MAX_BURST][MAX_RECS];
	struct rte_mbuf *pkts[MAX_BURST];
	uint16_t cnts[MAX_BURST];

	S.seq = A.seq_start;
	S.t_start = rte_rdtsc() + (uint64_t)(C.hz / 1000);   /* first batch 1 ms from now */
	/* a generator (or peer) that cannot keep up stops at 1.25 x the schedule, not after
	 * however long the rest takes: the run is unsustainable either way */
	const uint64_t t_cut = S.t_start + (uint64_t)((A.seconds * 1.25 + 0.1) * C.hz);
	uint64_t i = 0;
	while (i < nbatches && !stop) {
		uint64_t due = S.t_start + (uint64_t)((double)i * period), now;
		while ((now = rte_rdtsc()) < due)
			rte_pause();
		if (now > t_cut) {
			S.cut_short = true;
			S.unsent_events = total - i * A.batch;
			break;
		}
		unsigned n = 1;
		while (n < MAX_BURST && i + n < nbatches && S.t_start + (uint64_t)((double)(i + n) * period) <= now)
			n++;
		uint64_t late = now - due;
		S.late_sum_ticks += late;
		if (late > S.late_max_ticks) {
			S.late_max_ticks = late;
			S.late_max_at = i;
		}
		{
			unsigned h = 0;
			for (double l = (double)late * C.ns_per_tick; l >= 1000 && h < 7; l /= 10)
				h++;
			S.late_hist[h]++;
		}
		if ((double)late > period)
			S.behind_batches += n;
		if (rte_pktmbuf_alloc_bulk(mp, pkts, n)) {
			fprintf(stderr, "weir-load: mbuf pool empty\n");
			return -1;
		}
		int64_t t = tsc_to_realtime(now);
		for (unsigned b = 0; b < n; b++) {
			uint64_t left = total - (i + b) * A.batch;
			uint16_t cnt = (uint16_t)(left < A.batch ? left : A.batch);
			uint8_t *f = rte_pktmbuf_mtod(pkts[b], uint8_t *), *pl = f + hl;
			size_t plen = wev_header(pl, 0, cnt, rsz, A.schema, A.source_id, S.seq + b * A.batch);
			fill_records(pl + plen, cnt, rsz, t, now, keys[b]);
			plen += (size_t)cnt * rsz;
			size_t len = wev_frame(f, pl, plen, sport, A.port, 0, false, WEV_MF_NONE);
			pkts[b]->data_len = (uint16_t)len;
			pkts[b]->pkt_len = (uint32_t)len;
			cnts[b] = cnt;
		}
		uint64_t built = rte_rdtsc();
		uint16_t sent = send_all(port, pkts, (uint16_t)n, give_up);
		uint64_t txd = rte_rdtsc();
		S.build_ticks += built - now;
		S.tx_ticks += txd - built;
		for (unsigned b = 0; b < n; b++) {
			if (b >= sent) {
				if (!S.first_drop_at)
					S.first_drop_at = i + b + 1;
				S.drop_batches++;
				S.drop_events += cnts[b];
				continue;
			}
			S.sent_batches++;
			S.sent_events += cnts[b];
			if (A.window_hint) {
				uint64_t w = 1 + (uint64_t)t / A.window_hint;
				for (uint16_t r = 0; r < cnts[b]; r++)
					if (last_win[keys[b][r]] != w) {
						last_win[keys[b][r]] = w;
						S.key_windows++;
					}
			}
		}
		if (S.sent_events && S.first_time == 0)
			S.first_time = t;
		if (sent)
			S.last_time = t;
		S.t_last = now;
		/* sequences continue over dropped batches: weir counts them as a gap */
		for (unsigned b = 0; b < n; b++)
			S.seq += cnts[b];
		i += n;
	}

	/* EOS: flag bit 0, count 0, the next sequence number; it must get through */
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	if (!m)
		return -1;
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	size_t plen = wev_header(f + hl, 1, 0, rsz, A.schema, A.source_id, S.seq);
	size_t len = wev_frame(f, f + hl, plen, sport, A.port, 0, false, WEV_MF_NONE);
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	S.eos_sent = send_all(port, &m, 1, (uint64_t)C.hz) == 1;
	if (!S.eos_sent)
		fprintf(stderr, "weir-load: the EOS batch did not go out within 1 s\n");
	return 0;
}

/* After EOS: keep the rings mapped until the peer disconnects (weir exited) or linger s. */
static void
linger(uint16_t port)
{
	double t0 = mono_s();
	while (mono_s() - t0 < A.linger) {
		struct rte_eth_link link;
		if (rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_DOWN) {
			rte_delay_us_sleep(100000);   /* the interrupt thread finishes the disconnect */
			return;
		}
		rte_delay_us_sleep(2000);
	}
}

static void
report(const struct rte_eth_stats *st)
{
	double dur = S.sent_batches ? (double)(S.t_last - S.t_start) / C.hz + (double)A.batch / A.rate : 0;
	double achieved = dur > 0 ? (double)S.sent_events / dur : 0;
	double late_max_us = (double)S.late_max_ticks / C.hz * 1e6;
	double late_max_at_s = (double)S.late_max_at * (double)A.batch / A.rate;
	uint64_t turns = 0;
	for (unsigned h = 0; h < RTE_DIM(S.late_hist); h++)
		turns += S.late_hist[h];
	double late_mean_us = turns ? (double)S.late_sum_ticks / (double)turns / C.hz * 1e6 : 0;
	uint64_t nb = S.sent_batches + S.drop_batches;

	printf("weir-load: sent %" PRIu64 " events in %" PRIu64 " batches over %.3f s: %.0f events/s "
	       "(target %.0f, %.1f %%); tx drops %" PRIu64 " events (%" PRIu64 " batches); "
	       "lateness max %.1f us (at %.3f s), mean %.2f us, %" PRIu64 " batches behind; EOS %s%s",
	       S.sent_events, S.sent_batches, dur, achieved, A.rate, 100 * achieved / A.rate, S.drop_events,
	       S.drop_batches, late_max_us, late_max_at_s, late_mean_us, S.behind_batches,
	       S.eos_sent ? "sent" : "NOT sent", S.cut_short ? "; CUT SHORT at 1.25 x the schedule" : "");
	if (A.window_hint)
		printf("; %" PRIu64 " distinct (key, %" PRIu64 " ns window) pairs", S.key_windows, A.window_hint);
	printf("\n");
	fflush(stdout);
	if (!A.json)
		return;
	FILE *f = fopen(A.json, "w");
	if (!f) {
		fprintf(stderr, "weir-load: %s: %s\n", A.json, strerror(errno));
		return;
	}
#define JD(k, v) fprintf(f, "  \"%s\": %.1f,\n", k, (double)(v))
#define JU(k, v) fprintf(f, "  \"%s\": %" PRIu64 ",\n", k, (uint64_t)(v))
#define JI(k, v) fprintf(f, "  \"%s\": %" PRId64 ",\n", k, (int64_t)(v))
#define JB(k, v) fprintf(f, "  \"%s\": %s,\n", k, (v) ? "true" : "false")
	fprintf(f, "{\n");
	JD("rate_target", A.rate);
	JD("rate_achieved", achieved);
	fprintf(f, "  \"seconds\": %.6f,\n", dur);
	JU("sent_events", S.sent_events);
	JU("sent_batches", S.sent_batches);
	JU("tx_drop_events", S.drop_events);
	JU("tx_drop_batches", S.drop_batches);
	JU("partial_bursts", S.partial_bursts);
	fprintf(f, "  \"first_drop_at_s\": %.6f,\n",
		S.first_drop_at ? (double)(S.first_drop_at - 1) * (double)A.batch / A.rate : -1.0);
	JB("cut_short", S.cut_short);
	JU("unsent_events", S.unsent_events);
	JB("eos_sent", S.eos_sent);
	JD("late_max_ns", late_max_us * 1e3);
	fprintf(f, "  \"late_max_at_s\": %.6f,\n", late_max_at_s);
	JD("late_mean_ns", late_mean_us * 1e3);
	JU("behind_batches", S.behind_batches);
	static const char *const lim[] = { "lt_1us", "lt_10us", "lt_100us", "lt_1ms", "lt_10ms", "lt_100ms",
					   "lt_1s", "ge_1s" };
	fprintf(f, "  \"late_hist\": {");
	for (unsigned h = 0; h < RTE_DIM(S.late_hist); h++)
		fprintf(f, "%s\"%s\": %" PRIu64, h ? ", " : "", lim[h], S.late_hist[h]);
	fprintf(f, "},\n");
	JD("build_ns_per_batch", nb ? (double)S.build_ticks * C.ns_per_tick / (double)nb : 0);
	JD("tx_ns_per_batch", nb ? (double)S.tx_ticks * C.ns_per_tick / (double)nb : 0);
	JU("batch", A.batch);
	JU("keys", A.keys);
	JU("source_id", A.source_id);
	JU("next_seq", S.seq);
	JI("first_event_time", S.first_time);
	JI("last_event_time", S.last_time);
	JU("window_hint_ns", A.window_hint);
	JU("key_windows", S.key_windows);
	JD("tsc_hz", C.hz);
	JU("dpdk_tsc_hz", rte_get_tsc_hz());
	JU("port_opackets", st->opackets);
	fprintf(f, "  \"port_oerrors\": %" PRIu64 "\n}\n", st->oerrors);
#undef JD
#undef JU
#undef JI
#undef JB
	if (fclose(f))
		fprintf(stderr, "weir-load: %s: %s\n", A.json, strerror(errno));
}

static int
port_setup(uint16_t port, struct rte_mempool *mp)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	uint16_t nrxd = 256, ntxd = 1024;
	int rc;

	memset(&conf, 0, sizeof(conf));
	if ((rc = rte_eth_dev_info_get(port, &info)) != 0)
		return rc;
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	if ((rc = rte_eth_dev_configure(port, 1, 1, &conf)) != 0)
		return rc;
	rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrxd, &ntxd);
	if ((rc = rte_eth_rx_queue_setup(port, 0, nrxd, rte_eth_dev_socket_id(port), NULL, mp)) != 0)
		return rc;
	if ((rc = rte_eth_tx_queue_setup(port, 0, ntxd, rte_eth_dev_socket_id(port), NULL)) != 0)
		return rc;
	return rte_eth_dev_start(port);
}

int
main(int argc, char **argv)
{
	/* our options (after `--`) first: bad ones fail before the EAL starts */
	int dd = 1;
	while (dd < argc && strcmp(argv[dd], "--"))
		dd++;
	char *app_argv[argc + 1];
	int app_argc = 0;
	app_argv[app_argc++] = argv[0];
	for (int i = dd + 1; i < argc; i++)
		app_argv[app_argc++] = argv[i];
	app_argv[app_argc] = NULL;
	if (parse_args(app_argc, app_argv))
		return 2;
	if (rte_eal_init(dd, argv) < 0) {
		fprintf(stderr, "weir-load: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rs = A.seed;

	int rc = 1;
	uint16_t port = RTE_MAX_ETHPORTS, p;
	RTE_ETH_FOREACH_DEV(p) {
		port = p;
		break;
	}
	if (port == RTE_MAX_ETHPORTS) {
		fprintf(stderr, "weir-load: no port (give one, e.g. --vdev net_memif0,role=server,socket=PATH)\n");
		goto out;
	}
	size_t frame_max = wev_frame_hlen(0, false, WEV_MF_NONE) + 24 + A.batch * (16 + 8 * (size_t)A.nfields);
	uint16_t room = (uint16_t)RTE_MAX((size_t)RTE_MBUF_DEFAULT_BUF_SIZE, frame_max + RTE_PKTMBUF_HEADROOM);
	struct rte_mempool *mp = rte_pktmbuf_pool_create("load_pool", NB_MBUF, 256, 0, room, rte_socket_id());
	if (!mp) {
		fprintf(stderr, "weir-load: mbuf pool: %s\n", rte_strerror(rte_errno));
		goto out;
	}
	if ((rc = port_setup(port, mp)) != 0) {
		fprintf(stderr, "weir-load: port %u setup: %s\n", port, strerror(rc < 0 ? -rc : rc));
		rc = 1;
		goto out;
	}
	rc = 1;
	if (A.window_hint && !(last_win = calloc(A.keys + 1, sizeof(*last_win)))) {
		fprintf(stderr, "weir-load: no memory for %" PRIu64 " keys\n", A.keys);
		goto stop_port;
	}
	if (wait_link(port))
		goto stop_port;
	if (run(port, mp) == 0) {
		struct rte_eth_stats st;
		memset(&st, 0, sizeof(st));
		rte_eth_stats_get(port, &st);    /* before the peer goes: memif clears them then */
		linger(port);
		report(&st);
		rc = S.eos_sent ? 0 : 1;
	}
stop_port:
	exit_code = rc;
	signal(SIGALRM, on_alarm);
	alarm(5);
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
out:
	free(last_win);
	rte_eal_cleanup();
	alarm(0);
	return rc;
}
