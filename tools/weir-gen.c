/* SPDX-License-Identifier: Apache-2.0
 * weir-gen: write pcap captures of WEV/1 traffic for replay through net_pcap.
 * Seeded and deterministic; see --help.  Captures are written with libpcap. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wevframe.h"
#include "itch.h"
#include "fraudgen.h"

#define MAX_FIELDS 16
#define MAX_PAYLOAD 8972

enum { T_I64, T_U64, T_F64 };

static struct {
	const char *out;
	uint64_t events, keys, seed, producers, batch, seq_start, sid_base;
	double rate, zipf_s, late_frac, malformed, dup_frac, gap_frac;
	int64_t start, disorder, late_by;
	bool zipf, ipv6, no_eos;
	int vlan, nfields;
	uint8_t ftype[MAX_FIELDS];
	uint64_t frange[MAX_FIELDS];       /* name:TYPE/N: values 0..N-1; 0: the type's default range */
	uint16_t schema, port;
} A = {
	.events = 100000, .keys = 1000, .sid_base = 1, .seed = 1, .producers = 1, .batch = 32, .rate = 1e6,
	.zipf_s = 1.1, .start = INT64_C(1700000000000000000), .late_by = INT64_C(5000000000),
	.schema = 1, .port = 7000,
};

static uint64_t rs;
static uint64_t
rnd(void)
{
	uint64_t z = (rs += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}
static double unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

/* Zipf over 1..K by inverse CDF over a precomputed table. */
static double *zcdf;
static uint64_t
draw_key(void)
{
	if (!A.zipf)
		return 1 + rnd() % A.keys;
	double u = unit();
	uint64_t lo = 0, hi = A.keys - 1;
	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;
		if (zcdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo + 1;
}

static pcap_dumper_t *dump;
static uint64_t pkt_ts_us;
static uint64_t n_dgrams, n_recs, n_bad, n_dups, n_gaps;

/* Write one frame around payload (built by wevframe.h).  how: 0 normal, else a malformation. */
enum {
	M_NONE = WEV_MF_NONE, M_FRAME_TRUNC = WEV_MF_FRAME_TRUNC, M_VLAN3 = WEV_MF_VLAN3, M_NOT_IP = WEV_MF_NOT_IP,
	M_BAD_IP = WEV_MF_BAD_IP, M_FRAG = WEV_MF_FRAG, M_NOT_UDP = WEV_MF_NOT_UDP, M_UDP_LEN = WEV_MF_UDP_LEN,
};

static void
frame(const uint8_t *payload, size_t plen, uint16_t sport, uint16_t dport, int how)
{
	static uint8_t f[MAX_PAYLOAD + WEVF_MAX_OVERHEAD];
	size_t o = wev_frame(f, payload, plen, sport, dport, A.vlan, A.ipv6, how);
	struct pcap_pkthdr h = { .caplen = (bpf_u_int32)o, .len = (bpf_u_int32)o };
	h.ts.tv_sec = (long)(pkt_ts_us / 1000000);
	h.ts.tv_usec = (long)(pkt_ts_us % 1000000);
	pkt_ts_us++;
	pcap_dump((u_char *)dump, &h, f);
}

static const char *const bad_kinds[] = {
	"frame_truncated", "too_many_vlans", "not_ip", "bad_ip_header", "ip_fragment", "not_udp",
	"bad_udp_length", "no_source", "wev_truncated", "bad_magic", "bad_version", "bad_flags",
	"bad_schema", "bad_record_size", "bad_length", "empty_batch", "bad_time",
};
#define NBAD (sizeof(bad_kinds) / sizeof(bad_kinds[0]))

static void
malformed(unsigned kind, uint16_t rsz)
{
	uint8_t p[512];
	uint32_t src = (uint32_t)A.producers + 1000;
	size_t n = wev_header(p, 0, 1, rsz, A.schema, src, 0);
	int64_t t = A.start;

	memcpy(p + n, &t, 8);
	memset(p + n + 8, 0, rsz - 8u);
	n += rsz;
	switch (kind) {
	case 0: frame(p, n, 40000, A.port, M_FRAME_TRUNC); break;
	case 1: frame(p, n, 40000, A.port, M_VLAN3); break;
	case 2: frame(p, n, 40000, A.port, M_NOT_IP); break;
	case 3: frame(p, n, 40000, A.port, M_BAD_IP); break;
	case 4: frame(p, n, 40000, A.port, M_FRAG); break;
	case 5: frame(p, n, 40000, A.port, M_NOT_UDP); break;
	case 6: frame(p, n, 40000, A.port, M_UDP_LEN); break;
	case 7: frame(p, n, 40000, (uint16_t)(A.port + 1), M_NONE); break;
	case 8: frame(p, 10, 40000, A.port, M_NONE); break;
	case 9: p[0] = 'X'; frame(p, n, 40000, A.port, M_NONE); break;
	case 10: p[4] = 2; frame(p, n, 40000, A.port, M_NONE); break;
	case 11: p[5] = 2; frame(p, n, 40000, A.port, M_NONE); break;
	case 12: { uint16_t s = (uint16_t)(A.schema + 1); memcpy(p + 10, &s, 2); frame(p, n, 40000, A.port, M_NONE); break; }
	case 13: { uint16_t r = (uint16_t)(rsz + 8); memcpy(p + 8, &r, 2); memset(p + n, 0, 8);
		   frame(p, n + 8, 40000, A.port, M_NONE); break; }
	case 14: p[n] = 0; frame(p, n + 1, 40000, A.port, M_NONE); break;
	case 15: p[6] = 0; frame(p, 24, 40000, A.port, M_NONE); break;
	default: t = (INT64_C(1) << 62) + 1; memcpy(p + 24, &t, 8); frame(p, n, 40000, A.port, M_NONE); break;
	}
	n_bad++;
}

struct prod {
	uint64_t seq;
	uint8_t **hist;     /* earlier datagrams (for duplicates) */
	size_t *hlen;
	size_t nh, caph;
};

/* The Yahoo Streaming Benchmark's events (--ysb): the key is an ad id, 64-bit and
 * random-looking (the splitmix finalizer, a bijection, over a seeded base plus the ad's
 * index, so distinct); ad i belongs to campaign 1 + i % campaigns.  --ysb-map writes the
 * join table ad_id,campaign_id.  With --ysb-unmapped F a fraction F of the events carry
 * an ad id that is not in the table (indexes past the last ad). */
static struct {
	bool on;
	uint64_t campaigns, ads, base;
	double unmapped;
	const char *map;
} Y = { .campaigns = 100, .ads = 10 };

static uint64_t
ysb_ad_id(uint64_t i)
{
	uint64_t z = Y.base + i;
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static int
ysb_setup(void)
{
	uint64_t n = Y.campaigns * Y.ads;
	Y.base = rnd();
	if (!Y.map)
		return 0;
	FILE *f = fopen(Y.map, "w");
	if (!f) {
		perror(Y.map);
		return -1;
	}
	fprintf(f, "# ad_id,campaign_id: weir-gen --ysb, %" PRIu64 " campaigns x %" PRIu64 " ads, seed %" PRIu64 "\n",
		Y.campaigns, Y.ads, A.seed);
	for (uint64_t i = 0; i < n; i++)
		fprintf(f, "%" PRIu64 ",%" PRIu64 "\n", ysb_ad_id(i), 1 + i % Y.campaigns);
	if (fclose(f)) {
		perror(Y.map);
		return -1;
	}
	return 0;
}

/* fields event_type (0 view, 1 click, 2 purchase, uniform), user_id, page_id */
static uint64_t
ysb_key(void)
{
	if (Y.unmapped > 0 && unit() < Y.unmapped)
		return ysb_ad_id(A.keys + rnd() % A.keys);
	return ysb_ad_id(draw_key() - 1);
}

static uint64_t
ysb_value(int f)
{
	return f == 0 ? rnd() % 3 : rnd();
}

/* --itch FILE: Nasdaq BinaryFILE framing (u16 BE length, then an ITCH 5.0 message) in,
 * MoldUDP64 downstream packets out: --batch messages per packet, sequence numbers from
 * --seq-start (1 unless given), session --mold-session; an end-of-session packet at the
 * end unless --no-eos.  --ab-port P2: every packet also goes to port P2, one packet later
 * (a B feed).  --gap-fraction F: a packet after the first is lost (on both feeds) with
 * probability F;
 * --dup-fraction F: an earlier packet is sent again; --heartbeat-every N: a heartbeat
 * after every N packets.  Messages are copied as they are (any type). */
static struct {
	const char *file, *session;
	uint16_t ab_port;
	uint64_t hb_every;
	bool seq_given;
} I = { .session = "WEIR000001" };

static void
itch_packet(const uint8_t *pk, size_t n, uint8_t **lag, size_t *lag_n)
{
	frame(pk, n, 40000, A.port, M_NONE);
	if (!I.ab_port)
		return;
	if (*lag_n)                     /* the B copy of the previous packet */
		frame(*lag, *lag_n, 40001, I.ab_port, M_NONE);
	memcpy(*lag, pk, n);
	*lag_n = n;
}

static int
itch_main(void)
{
	FILE *in = fopen(I.file, "rb");
	uint8_t session[WEIR_MOLD_SESSION], *buf, *pk = malloc(65536), *lag = malloc(65536);
	const uint8_t **msgs = calloc(A.batch, sizeof(*msgs));
	uint16_t *lens = calloc(A.batch, sizeof(*lens));
	uint8_t **hist = NULL;
	size_t *hlen = NULL, nh = 0, lag_n = 0, cap = 1 << 20, len = 0;
	uint64_t seq = I.seq_given ? A.seq_start : 1, nmsg = 0, npk = 0, lost = 0;
	int rc;

	if (!in) {
		perror(I.file);
		return 1;
	}
	memset(session, ' ', sizeof(session));
	memcpy(session, I.session, strlen(I.session) < sizeof(session) ? strlen(I.session) : sizeof(session));
	buf = malloc(cap);
	for (size_t got; (got = fread(buf + len, 1, cap - len, in)) > 0;) {
		len += got;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(in);
	for (size_t off = 0; off < len;) {
		uint16_t k = 0;
		size_t bytes = WEIR_MOLD_HDR_LEN;
		while (k < A.batch && off + 2 <= len) {
			uint16_t ml = (uint16_t)(buf[off] << 8 | buf[off + 1]);
			if (off + 2 + ml > len) {
				fprintf(stderr, "weir-gen: %s: message at byte %zu runs past the end\n", I.file, off);
				return 1;
			}
			if (bytes + 2 + ml > MAX_PAYLOAD)
				break;
			msgs[k] = buf + off + 2;
			lens[k++] = ml;
			bytes += 2 + ml;
			off += 2 + (size_t)ml;
		}
		if (off + 2 > len && off < len) {
			fprintf(stderr, "weir-gen: %s: trailing byte\n", I.file);
			return 1;
		}
		if (k == 0)
			break;
		rc = weir_mold_build(pk, 65536, session, seq, msgs, lens, k);
		if (rc < 0)
			return 1;
		seq += k;
		nmsg += k;
		if (A.gap_frac > 0 && npk > 0 && unit() < A.gap_frac) {
			lost += k;              /* lost on both feeds (never the first: where a */
			continue;               /* receiver joins is no gap) */
		}
		itch_packet(pk, (size_t)rc, &lag, &lag_n);
		npk++;
		if (A.dup_frac > 0) {
			hist = realloc(hist, (nh + 1) * sizeof(*hist));
			hlen = realloc(hlen, (nh + 1) * sizeof(*hlen));
			hist[nh] = malloc((size_t)rc);
			memcpy(hist[nh], pk, (size_t)rc);
			hlen[nh++] = (size_t)rc;
			if (unit() < A.dup_frac) {
				size_t j = rnd() % nh;
				frame(hist[j], hlen[j], 40000, A.port, M_NONE);
				n_dups++;
			}
		}
		if (I.hb_every && npk % I.hb_every == 0) {
			rc = weir_mold_build(pk, 65536, session, seq, NULL, NULL, 0);
			itch_packet(pk, (size_t)rc, &lag, &lag_n);
		}
	}
	if (!A.no_eos) {
		rc = weir_mold_build(pk, 65536, session, seq, NULL, NULL, WEIR_MOLD_END);
		itch_packet(pk, (size_t)rc, &lag, &lag_n);
	}
	if (lag_n)
		frame(lag, lag_n, 40001, I.ab_port, M_NONE);
	fprintf(stderr, "weir-gen: %s: %" PRIu64 " ITCH messages in %" PRIu64 " MoldUDP64 packets%s, %" PRIu64
		" lost, %" PRIu64 " duplicates, next sequence %" PRIu64 "\n", A.out, nmsg - lost, npk,
		I.ab_port ? " (twice: A and B)" : "", lost, n_dups, seq);
	for (size_t j = 0; j < nh; j++)
		free(hist[j]);
	free(hist);
	free(hlen);
	free(buf);
	free(pk);
	free(lag);
	free(msgs);
	free(lens);
	return 0;
}

/* --fraud: the Fraud Detection Handbook's card transactions (fraudgen.h). */
static struct {
	bool on;
	struct fraudgen_params p;
} F = { .p = { .customers = 5000, .terminals = 10000, .days = 183, .radius = 5, .start_ns = FRAUDGEN_START_NS,
	       .delay_ns = 7 * FRAUDGEN_DAY_NS } };

static void
fraud_emit(void *ctx, const uint8_t *payload, size_t len, uint32_t src)
{
	(void)ctx;
	frame(payload, len, (uint16_t)(40000 + src), A.port, M_NONE);
	n_dgrams++;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: weir-gen --out FILE.pcap [options]\n"
		"  --events N        records in all (100000)       --keys K        keys 1..K (1000)\n"
		"  --dist uniform|zipf  key distribution            --zipf-s S      zipf exponent (1.1)\n"
		"  --seed S          PRNG seed (1)                 --producers P   source_id 1..P, round robin (1)\n"
		"  --batch B         records per datagram (32)     --rate R        events per second of event time (1e6)\n"
		"  --start-ns T      first event time              --disorder NS   subtract uniform [0,NS] per record\n"
		"  --late-fraction F records made late by --late-by NS (5e9)\n"
		"  --fields SPEC     amount:i64,merchant:u64 (types i64 u64 f64, at most 16); name:u64/N or\n"
		"                    name:i64/N: values 0..N-1 (defaults: i64 -1000..1000000, u64 0..2^20-1, f64 +-1000)\n"
		"  --schema-id N (1) --udp-port N (7000) --ipv6 --vlan 0|1|2\n"
		"  --malformed F     after a datagram, with probability F, one malformed frame (each kind in turn)\n"
		"  --dup-fraction F  re-send an earlier datagram     --gap-fraction F skip 1..10 sequence numbers\n"
		"  --seq-start N     first sequence (0)             --no-eos        no EOS batch at the end\n"
		"  --source-id-base N  source_id of the first producer (1)\n"
		"YSB (Yahoo Streaming Benchmark) events, any --ysb* option: key = ad id (random 64-bit),\n"
		"fields event_type:u64 (0 view, 1 click, 2 purchase), user_id:u64, page_id:u64\n"
		"  --ysb             YSB events                    --ysb-campaigns C  campaigns (100)\n"
		"  --ysb-ads-per-campaign A  ads per campaign (10); ads are drawn by --dist over 1..C*A\n"
		"  --ysb-map FILE    write the join table: CSV ad_id,campaign_id (a # header line)\n"
		"  --ysb-unmapped F  a fraction F of the events carry an ad id not in the table (0)\n"
		"NASDAQ ITCH 5.0 over MoldUDP64 (--itch): messages of a BinaryFILE (u16 BE length + message,\n"
		"as Nasdaq's sample files), --batch per packet (at most what fits 8972 bytes), sequence from\n"
		"--seq-start (1), end-of-session packet unless --no-eos; --gap-fraction F loses a packet,\n"
		"--dup-fraction F re-sends an earlier one\n"
		"  --itch FILE       the BinaryFILE                 --mold-session S  session (WEIR000001)\n"
		"  --ab-port P       also send every packet to port P, one packet later (an A/B feed pair)\n"
		"  --heartbeat-every N  a heartbeat after every N packets\n"
		"Card transactions and frauds of the Fraud Detection Handbook's simulator (any --fraud* option):\n"
		"one source, key = customer, fields " FRAUDGEN_FIELDS "; kind 0 a transaction,\n"
		"kind 1 a fraud report at its fraud's time + the delay (not sent after the period), in time order;\n"
		"--seed, --batch, --udp-port, --schema-id, --source-id-base, --seq-start, --ipv6, --vlan, --no-eos apply\n"
		"  --fraud           the handbook's defaults        --fraud-customers N  customers (5000)\n"
		"  --fraud-terminals N  terminals (10000)           --fraud-days N       days simulated (183)\n"
		"  --fraud-radius R  a customer's terminals lie within R of it, on a 100 x 100 square (5)\n"
		"  --fraud-start YYYY-MM-DD  first day, UTC (2018-04-01)\n"
		"  --fraud-delay D   fraud report delay: days, or a number with s, m, h or d (7)\n"
		"  --fraud-labels FILE  write the labels CSV (tx_id,event_time_ns,customer,terminal,amount,fraud,\n"
		"                    scenario) and, in FILE's directory, compromised_terminals.csv,\n"
		"                    compromised_customers.csv (id,from_ns,to_ns) and fraud_sim.json (parameters)\n");
}

static int
parse_fields(const char *spec)
{
	char buf[1024], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", spec);
	A.nfields = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *c = strchr(t, ':');
		if (!c || A.nfields == MAX_FIELDS)
			return -1;
		c++;
		while (*c == ' ')
			c++;
		A.frange[A.nfields] = 0;
		if (c[3] == '/') {              /* name:u64/N: values 0..N-1 (a field to group by) */
			char *e;
			unsigned long long n = strtoull(c + 4, &e, 10);
			if (!n || (*e && *e != ' ') || !strncmp(c, "f64", 3))
				return -1;
			A.frange[A.nfields] = n;
		}
		if (!strncmp(c, "i64", 3)) A.ftype[A.nfields++] = T_I64;
		else if (!strncmp(c, "u64", 3)) A.ftype[A.nfields++] = T_U64;
		else if (!strncmp(c, "f64", 3)) A.ftype[A.nfields++] = T_F64;
		else return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option o[] = {
		{ "out", 1, 0, 'o' }, { "events", 1, 0, 'e' }, { "keys", 1, 0, 'k' }, { "dist", 1, 0, 'd' },
		{ "zipf-s", 1, 0, 'z' }, { "seed", 1, 0, 's' }, { "producers", 1, 0, 'p' }, { "batch", 1, 0, 'b' },
		{ "rate", 1, 0, 'r' }, { "start-ns", 1, 0, 'T' }, { "disorder", 1, 0, 'D' },
		{ "late-fraction", 1, 0, 'L' }, { "late-by", 1, 0, 'B' }, { "fields", 1, 0, 'f' },
		{ "schema-id", 1, 0, 'S' }, { "udp-port", 1, 0, 'P' }, { "ipv6", 0, 0, '6' }, { "vlan", 1, 0, 'v' },
		{ "malformed", 1, 0, 'm' }, { "dup-fraction", 1, 0, 'u' }, { "gap-fraction", 1, 0, 'g' },
		{ "no-eos", 0, 0, 'n' }, { "source-id-base", 1, 0, 'I' }, { "seq-start", 1, 0, 'q' }, { "help", 0, 0, 'h' },
		{ "ysb", 0, 0, 'Y' }, { "ysb-campaigns", 1, 0, 'C' }, { "ysb-ads-per-campaign", 1, 0, 'A' },
		{ "ysb-map", 1, 0, 'M' }, { "ysb-unmapped", 1, 0, 'U' }, { "itch", 1, 0, 1000 },
		{ "mold-session", 1, 0, 1001 }, { "ab-port", 1, 0, 1002 }, { "heartbeat-every", 1, 0, 1003 },
		{ "fraud", 0, 0, 1100 }, { "fraud-customers", 1, 0, 1101 }, { "fraud-terminals", 1, 0, 1102 },
		{ "fraud-days", 1, 0, 1103 }, { "fraud-radius", 1, 0, 1104 }, { "fraud-start", 1, 0, 1105 },
		{ "fraud-delay", 1, 0, 1106 }, { "fraud-labels", 1, 0, 1107 },
		{ 0, 0, 0, 0 },
	};
	int c;

	parse_fields("amount:i64,merchant:u64");
	while ((c = getopt_long(argc, argv, "h", o, NULL)) != -1) {
		switch (c) {
		case 'o': A.out = optarg; break;
		case 'e': A.events = strtoull(optarg, NULL, 0); break;
		case 'k': A.keys = strtoull(optarg, NULL, 0); break;
		case 'd':
			if (!strcmp(optarg, "zipf")) A.zipf = true;
			else if (strcmp(optarg, "uniform")) { fprintf(stderr, "weir-gen: --dist uniform|zipf\n"); return 2; }
			break;
		case 'z': A.zipf_s = atof(optarg); break;
		case 's': A.seed = strtoull(optarg, NULL, 0); break;
		case 'p': A.producers = strtoull(optarg, NULL, 0); break;
		case 'b': A.batch = strtoull(optarg, NULL, 0); break;
		case 'r': A.rate = atof(optarg); break;
		case 'T': A.start = strtoll(optarg, NULL, 0); break;
		case 'D': A.disorder = strtoll(optarg, NULL, 0); break;
		case 'L': A.late_frac = atof(optarg); break;
		case 'B': A.late_by = strtoll(optarg, NULL, 0); break;
		case 'f': if (parse_fields(optarg)) { fprintf(stderr, "weir-gen: bad --fields\n"); return 2; } break;
		case 'S': A.schema = (uint16_t)atoi(optarg); break;
		case 'P': A.port = (uint16_t)atoi(optarg); break;
		case '6': A.ipv6 = true; break;
		case 'v': A.vlan = atoi(optarg); break;
		case 'm': A.malformed = atof(optarg); break;
		case 'u': A.dup_frac = atof(optarg); break;
		case 'g': A.gap_frac = atof(optarg); break;
		case 'n': A.no_eos = true; break;
		case 'q': A.seq_start = strtoull(optarg, NULL, 0); I.seq_given = true; break;
		case 1000: I.file = optarg; break;
		case 1001: I.session = optarg; break;
		case 1002: I.ab_port = (uint16_t)atoi(optarg); break;
		case 1003: I.hb_every = strtoull(optarg, NULL, 0); break;
		case 'I': A.sid_base = strtoull(optarg, NULL, 0); break;
		case 1100: F.on = true; break;
		case 1101: F.on = true; F.p.customers = strtoull(optarg, NULL, 0); break;
		case 1102: F.on = true; F.p.terminals = strtoull(optarg, NULL, 0); break;
		case 1103: F.on = true; F.p.days = strtoull(optarg, NULL, 0); break;
		case 1104: F.on = true; F.p.radius = atof(optarg); break;
		case 1105:
			F.on = true;
			if (fraudgen_parse_date(optarg, &F.p.start_ns)) {
				fprintf(stderr, "weir-gen: --fraud-start YYYY-MM-DD\n");
				return 2;
			}
			break;
		case 1106:
			F.on = true;
			if (fraudgen_parse_delay(optarg, &F.p.delay_ns)) {
				fprintf(stderr, "weir-gen: --fraud-delay: days, or a number with s, m, h or d\n");
				return 2;
			}
			break;
		case 1107: F.on = true; F.p.labels = optarg; break;
		case 'Y': Y.on = true; break;
		case 'C': Y.on = true; Y.campaigns = strtoull(optarg, NULL, 0); break;
		case 'A': Y.on = true; Y.ads = strtoull(optarg, NULL, 0); break;
		case 'M': Y.on = true; Y.map = optarg; break;
		case 'U': Y.on = true; Y.unmapped = atof(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (Y.on) {     /* YSB: its fields; the keys 1..C*A index the ads */
		if (Y.campaigns == 0 || Y.ads == 0 || Y.unmapped < 0 || Y.unmapped > 1) {
			fprintf(stderr, "weir-gen: --ysb-campaigns, --ysb-ads-per-campaign > 0, --ysb-unmapped in [0,1]\n");
			return 2;
		}
		parse_fields("event_type:u64,user_id:u64,page_id:u64");
		A.keys = Y.campaigns * Y.ads;
	}
	if (F.on)
		parse_fields(FRAUDGEN_FIELDS);
	uint16_t rsz = (uint16_t)(16 + 8 * A.nfields);
	if (!A.out || A.keys == 0 || A.producers == 0 || A.batch == 0 || A.rate <= 0 ||
	    A.vlan < 0 || A.vlan > 2 || 24 + A.batch * rsz > MAX_PAYLOAD || A.batch > 65535) {
		fprintf(stderr, "weir-gen: bad arguments (need --out; batch*record_size <= %d)\n", MAX_PAYLOAD - 24);
		usage(stderr);
		return 2;
	}
	rs = A.seed;
	if (Y.on && ysb_setup())
		return 1;
	if (A.zipf) {
		zcdf = malloc(A.keys * sizeof(double));
		double sum = 0;
		for (uint64_t i = 0; i < A.keys; i++)
			sum += 1.0 / pow((double)(i + 1), A.zipf_s);
		double acc = 0;
		for (uint64_t i = 0; i < A.keys; i++) {
			acc += 1.0 / pow((double)(i + 1), A.zipf_s) / sum;
			zcdf[i] = acc;
		}
	}
	pcap_t *pd = pcap_open_dead(DLT_EN10MB, 65535);
	dump = pcap_dump_open(pd, A.out);
	if (!dump) {
		fprintf(stderr, "weir-gen: %s\n", pcap_geterr(pd));
		return 1;
	}
	pkt_ts_us = (uint64_t)(A.start / 1000);
	if (I.file) {
		int rc = itch_main();
		pcap_dump_close(dump);
		pcap_close(pd);
		return rc;
	}
	if (F.on) {
		F.p.seed = A.seed;
		F.p.batch = (uint16_t)A.batch;
		F.p.schema = A.schema;
		F.p.source_id = (uint32_t)A.sid_base;
		F.p.seq = A.seq_start;
		F.p.no_eos = A.no_eos;
		pkt_ts_us = (uint64_t)(F.p.start_ns / 1000);
		int rc = fraudgen_run(&F.p, fraud_emit, NULL, stderr) ? 1 : 0;
		pcap_dump_close(dump);
		pcap_close(pd);
		if (!rc)
			fprintf(stderr, "weir-gen: %s: %" PRIu64 " datagrams\n", A.out, n_dgrams);
		return rc;
	}
	struct prod *pr = calloc(A.producers, sizeof(*pr));
	for (uint64_t i = 0; i < A.producers; i++)
		pr[i].seq = A.seq_start;
	uint8_t *p = malloc(MAX_PAYLOAD);
	unsigned badk = 0;
	uint64_t i = 0, b = 0;
	while (i < A.events) {
		struct prod *q = &pr[b % A.producers];
		uint32_t src = (uint32_t)(b % A.producers + A.sid_base);
		uint16_t cnt = (uint16_t)(A.events - i < A.batch ? A.events - i : A.batch);
		if (A.gap_frac > 0 && unit() < A.gap_frac) {
			uint64_t g = 1 + rnd() % 10;
			q->seq += g;
			n_gaps += g;
		}
		size_t n = wev_header(p, 0, cnt, rsz, A.schema, src, q->seq);
		for (uint16_t r = 0; r < cnt; r++, i++) {
			int64_t t = A.start + (int64_t)((double)i * 1e9 / A.rate);
			if (A.disorder > 0)
				t -= (int64_t)(rnd() % (uint64_t)(A.disorder + 1));
			if (A.late_frac > 0 && unit() < A.late_frac)
				t -= A.late_by;
			uint64_t key = Y.on ? ysb_key() : draw_key();
			memcpy(p + n, &t, 8);
			memcpy(p + n + 8, &key, 8);
			n += 16;
			for (int f = 0; f < A.nfields; f++) {
				uint64_t v;
				if (Y.on) {
					v = ysb_value(f);
				} else if (A.frange[f]) {
					v = rnd() % A.frange[f];
				} else if (A.ftype[f] == T_I64) {
					int64_t x = -1000 + (int64_t)(rnd() % 1001001);
					memcpy(&v, &x, 8);
				} else if (A.ftype[f] == T_U64) {
					v = rnd() % (1u << 20);
				} else {
					double d = -1000.0 + 2000.0 * unit();
					memcpy(&v, &d, 8);
				}
				memcpy(p + n, &v, 8);
				n += 8;
			}
		}
		q->seq += cnt;
		frame(p, n, (uint16_t)(40000 + src), A.port, M_NONE);
		n_dgrams++;
		n_recs += cnt;
		if (A.dup_frac > 0) {
			if (q->nh == q->caph) {
				q->caph = q->caph ? 2 * q->caph : 16;
				q->hist = realloc(q->hist, q->caph * sizeof(*q->hist));
				q->hlen = realloc(q->hlen, q->caph * sizeof(*q->hlen));
			}
			q->hist[q->nh] = malloc(n);
			memcpy(q->hist[q->nh], p, n);
			q->hlen[q->nh++] = n;
			if (unit() < A.dup_frac) {
				size_t k = rnd() % q->nh;
				frame(q->hist[k], q->hlen[k], (uint16_t)(40000 + src), A.port, M_NONE);
				n_dups++;
			}
		}
		if (A.malformed > 0 && unit() < A.malformed)
			malformed(badk++ % NBAD, rsz);
		b++;
	}
	if (!A.no_eos)
		for (uint64_t k = 0; k < A.producers; k++) {
			size_t n = wev_header(p, 1, 0, rsz, A.schema, (uint32_t)(k + A.sid_base), pr[k].seq);
			frame(p, n, (uint16_t)(40000 + k + A.sid_base), A.port, M_NONE);
		}
	pcap_dump_close(dump);
	pcap_close(pd);
	fprintf(stderr, "weir-gen: %s: %" PRIu64 " datagrams, %" PRIu64 " records, %" PRIu64 " malformed, %"
		PRIu64 " duplicates, %" PRIu64 " sequence numbers skipped\n", A.out, n_dgrams, n_recs, n_bad, n_dups, n_gaps);
	for (uint64_t k = 0; k < A.producers; k++) {
		for (size_t h = 0; h < pr[k].nh; h++)
			free(pr[k].hist[h]);
		free(pr[k].hist);
		free(pr[k].hlen);
	}
	free(pr);
	free(p);
	free(zcdf);
	return 0;
}
