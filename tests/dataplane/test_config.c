/* SPDX-License-Identifier: Apache-2.0
 * Unit tests: config parsing, validation and error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "itch.h"
#include "lineproto.h"

static const char example[] =
	"[dataplane]\n"
	"devices = net_pcap0,rx_pcap=in.pcap        ; one or more DPDK devices\n"
	"rx_cores = 1\n"
	"workers = 2\n"
	"lcores = auto\n"
	"hugepages = auto\n"
	"backpressure = block\n"
	"exit_on_eos = true\n"
	"eal_args =\n"
	"\n"
	"[source tx]\n"
	"format = wev\n"
	"udp_port = 7000\n"
	"schema_id = 1\n"
	"fields = amount:i64, merchant:u64           ; value fields\n"
	"watermark_delay = 50ms                      ; durations\n"
	"idle_timeout = off\n"
	"\n"
	"[query spend]\n"
	"from = tx\n"
	"window = tumbling 1s                        ; | hopping 10s 1s | session 30s\n"
	"allowed_lateness = 0\n"
	"aggregates = count, sum(amount), min(amount), max(amount), avg(amount), first(merchant), last(merchant)\n"
	"sink = file:out/spend.jsonl\n";

static struct weir_config cfg;

static void
example_loads(void **st)
{
	static const char *const names[] = { "count", "sum_amount", "min_amount", "max_amount", "avg_amount",
					      "first_merchant", "last_merchant" };
	(void)st;
	assert_int_equal(weir_config_load_string("ex.ini", example, &cfg, stderr), 0);
	assert_int_equal(cfg.ndevices, 1);
	assert_string_equal(cfg.devices[0], "net_pcap0,rx_pcap=in.pcap");
	assert_int_equal(cfg.rx_cores, 1);
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(cfg.ncpus, 0);
	assert_int_equal(cfg.hugepages, WEIR_HP_AUTO);
	assert_int_equal(cfg.backpressure, WEIR_BP_BLOCK);
	assert_true(cfg.exit_on_eos);
	assert_string_equal(cfg.eal_args, "");
	assert_int_equal(cfg.nsources, 1);
	assert_int_equal(cfg.sources[0].udp_port, 7000);
	assert_int_equal(cfg.sources[0].schema_id, 1);
	assert_int_equal(cfg.sources[0].nfields, 2);
	assert_int_equal(cfg.sources[0].record_size, 32);
	assert_int_equal(cfg.sources[0].field_type[0], WEIR_F_I64);
	assert_int_equal(cfg.sources[0].field_type[1], WEIR_F_U64);
	assert_int_equal(cfg.sources[0].watermark_delay, 50000000);
	assert_int_equal(cfg.sources[0].idle_timeout, 0);
	assert_int_equal(cfg.nqueries, 1);
	assert_int_equal(cfg.queries[0].window, WEIR_WIN_TUMBLING);
	assert_int_equal(cfg.queries[0].size, 1000000000);
	assert_int_equal(cfg.queries[0].naggs, 7);
	for (int i = 0; i < 7; i++)
		assert_string_equal(cfg.queries[0].aggs[i].name, names[i]);
	assert_int_equal(cfg.queries[0].sink, WEIR_SINK_FILE);
	assert_string_equal(cfg.queries[0].sink_path, "out/spend.jsonl");
}

static void
other_values(void **st)
{
	(void)st;
	assert_int_equal(weir_config_load_string("o.ini",
		"[dataplane]\ndevices = net_pcap0,rx_pcap=a;net_pcap1,rx_pcap=b\nlcores = 0\nbackpressure = drop\n"
		"idle_sleep = off\n[source s]\nudp_port = 9\nfields = p:f64\n"
		"[query h]\nfrom = s\nwindow = hopping 10s 1s\nallowed_lateness = 2s\naggregates = count, sum(p)\n"
		"sink = udp:[::1]:9000\n[query x]\nfrom = s\nwindow = session 30s\naggregates = count\n",
		&cfg, stderr), 0);
	assert_int_equal(cfg.ndevices, 2);
	assert_string_equal(cfg.devices[1], "net_pcap1,rx_pcap=b");
	assert_int_equal(cfg.ncpus, 1);
	assert_int_equal(cfg.backpressure, WEIR_BP_DROP);
	assert_int_equal(cfg.idle_sleep, 0);
	assert_int_equal(cfg.workers, 1);            /* default */
	assert_false(cfg.exit_on_eos);               /* default */
	assert_int_equal(cfg.queries[0].window, WEIR_WIN_HOPPING);
	assert_int_equal(cfg.queries[0].slide, 1000000000);
	assert_int_equal(cfg.queries[0].lateness, 2000000000);
	assert_int_equal(cfg.queries[0].sink, WEIR_SINK_UDP);
	assert_string_equal(cfg.queries[0].sink_path, "::1");
	assert_int_equal(cfg.queries[0].sink_port, 9000);
	assert_int_equal(cfg.queries[1].window, WEIR_WIN_SESSION);
	assert_int_equal(cfg.queries[1].sink, WEIR_SINK_STDOUT);
}

static void
durations(void **st)
{
	static const struct { const char *s; int64_t ns; } ok[] = {
		{ "0", 0 }, { "7ns", 7 }, { "3us", 3000 }, { "50ms", 50000000 }, { "2s", 2000000000 },
		{ "1m", INT64_C(60000000000) }, { "1h", INT64_C(3600000000000) }, { " 5 ms ", 5000000 },
	};
	static const char *const bad[] = { "5", "-1s", "1x", "ms", "", "1.5s", "99999999999999999999h", "1000000h" };
	int64_t v;

	(void)st;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(weir_parse_duration(ok[i].s, &v), 0);
		assert_int_equal(v, ok[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(weir_parse_duration(bad[i], &v), -1);
}

/* Load text, expect failure and an error line starting with want. */
static void
expect_error(const char *text, const char *want)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&buf, &len);

	assert_int_equal(weir_config_load_string("bad.ini", text, &cfg, err), -1);
	fclose(err);
	if (!strstr(buf, want))
		fail_msg("expected '%s' in:\n%s", want, buf);
	free(buf);
}

#define HEAD "[dataplane]\ndevices = x\n[source s]\nudp_port = 1\nfields = a:i64\n"
#define Q "[query q]\nfrom = s\nwindow = tumbling 1s\naggregates = count\n"

static void
errors(void **st)
{
	char longline[400];

	(void)st;
	expect_error(HEAD Q "bogus = 1\n", "bad.ini:10: [query q] bogus: unknown key");
	expect_error(HEAD Q "[nonsense]\nx = 1\n", "bad.ini:11: [nonsense] unknown section");
	expect_error(HEAD "udp_port = 2\n" Q, "bad.ini:6: [source s] udp_port: duplicate key (first on line 4)");
	expect_error("[dataplane]\ndevices = x\n[source s]\nfields = a:i64\n" Q,
		     "[source s] udp_port: required");
	expect_error(HEAD "[query q]\nfrom = nope\nwindow = tumbling 1s\naggregates = count\n",
		     "bad.ini:7: [query q] from: no source named 'nope'");
	expect_error(HEAD "[query q]\nfrom = s\nwindow = tumbling 1s\naggregates = sum(b)\n",
		     "bad.ini:9: [query q] aggregates: source 's' has no field 'b'");
	expect_error(HEAD "[query q]\nfrom = s\nwindow = session 30s\nallowed_lateness = 1s\naggregates = count\n",
		     "bad.ini:9: [query q] allowed_lateness: session windows take no allowed lateness");
	expect_error(HEAD "[query q]\nfrom = s\nwindow = hopping 10s 3s\naggregates = count\n",
		     "bad.ini:8: [query q] window: hopping size 10s must be a multiple of the slide 3s");
	expect_error("[dataplane]\ndevices = x\n[source s]\nudp_port = 1\nfields = a:i32\n" Q,
		     "bad.ini:5: [source s] fields: field 'a': unknown type 'i32'");
	expect_error(HEAD "[source t]\nudp_port = 1\n" Q, "bad.ini:7: [source t] udp_port: port 1 is already used");
	expect_error("[dataplane]\ndevices = x\nlcores = 0,100000\n[source s]\nudp_port = 1\n" Q,
		     "bad.ini:3: [dataplane] lcores:");
	expect_error("[dataplane]\ndevices = x\nlcores = 256\n[source s]\nudp_port = 1\n" Q,
		     "bad.ini:3: [dataplane] lcores: bad CPU '256'");
	expect_error(HEAD Q "sink = ftp:x\n", "bad.ini:10: [query q] sink:");
	expect_error(HEAD "[query q]\nfrom = s\nwindow = tumbling 0s\naggregates = count\n",
		     "bad.ini:8: [query q] window:");
	expect_error("[dataplane]\n[source s]\nudp_port = 1\n" Q, "[dataplane] devices: required");
	expect_error(HEAD, "no [query NAME] section");
	expect_error("[dataplane\n", "bad.ini:1: syntax error");
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "eal_args = ", 11);
	longline[sizeof(longline) - 1] = '\0';
	char text[1024];
	snprintf(text, sizeof(text), "[dataplane]\ndevices = x\n%s\n[source s]\nudp_port = 1\n" Q, longline);
	expect_error(text, "bad.ini:3: line longer than");
}

static void
ha_section(void **st)
{
	(void)st;
	assert_int_equal(weir_config_load_string("h.ini", HEAD Q, &cfg, stderr), 0);
	assert_string_equal(cfg.ha_node, "");
	assert_int_equal(cfg.ha_shadow, 65536);
	assert_int_equal(cfg.ha_journal, INT64_C(256) << 20);
	assert_int_equal(weir_config_load_string("h.ini", HEAD Q "[ha]\nnode = a-1\npeer = 10.0.0.2:7400\n"
						 "secret_file = /etc/weir/secret\n", &cfg, stderr), 0);
	assert_string_equal(cfg.ha_node, "a-1");
	assert_string_equal(cfg.ha_peer_host, "10.0.0.2");
	assert_int_equal(cfg.ha_peer_port, 7400);
	assert_int_equal(cfg.ha_listen_port, 7400);      /* default: the peer's port, any address */
	assert_string_equal(cfg.ha_listen_host, "");
	assert_string_equal(cfg.ha_witness_host, "");
	assert_int_equal(cfg.ha_heartbeat, 5000000);
	assert_int_equal(cfg.ha_dead_after, 4);
	assert_false(cfg.ha_failback_auto);
	assert_int_equal(cfg.ha_hold_down, INT64_C(300000000000));
	assert_int_equal(cfg.ha_priority, 100);
	assert_string_equal(cfg.ha_dir, "/var/lib/weir/a-1");
	assert_string_equal(cfg.ha_socket, "/run/weir/a-1.sock");
	assert_int_equal(weir_config_load_string("h.ini", HEAD Q "[ha]\nnode = b\npeer = [fd00::1]:9\n"
						 "listen = [fd00::2]:9\nwitness = w.example:7409\nheartbeat = 2ms\n"
						 "dead_after = 5\nfailback = auto\nhold_down = 30s\n"
						 "secret_file = s\npriority = 0\ndir = /d\ncontrol_socket = /c.sock\n"
						 "shadow = 2048\nrealtime = true\njournal = 2GiB\n", &cfg, stderr), 0);
	assert_string_equal(cfg.ha_peer_host, "fd00::1");
	assert_string_equal(cfg.ha_listen_host, "fd00::2");
	assert_string_equal(cfg.ha_witness_host, "w.example");
	assert_int_equal(cfg.ha_witness_port, 7409);
	assert_int_equal(cfg.ha_heartbeat, 2000000);
	assert_true(cfg.ha_failback_auto);
	assert_int_equal(cfg.ha_shadow, 2048);
	assert_true(cfg.ha_realtime);
	assert_int_equal(cfg.ha_journal, INT64_C(2) << 30);
	/* the dump reads back the same */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	weir_config_dump(&cfg, f);
	fclose(f);
	struct weir_config again;
	assert_int_equal(weir_config_load_string("dump.ini", buf, &again, stderr), 0);
	free(buf);
	assert_string_equal(again.ha_peer_host, "fd00::1");
	assert_string_equal(again.ha_witness_host, "w.example");
	assert_int_equal(again.ha_hold_down, INT64_C(30000000000));
	assert_int_equal(again.ha_priority, 0);
	assert_true(again.ha_realtime);
	assert_int_equal(again.ha_journal, INT64_C(2) << 30);
	/* errors */
	expect_error(HEAD Q "[ha]\npeer = x:1\nsecret_file = s\n", "bad.ini:11: [ha] node: required");
	expect_error(HEAD Q "[ha]\nnode = a\nsecret_file = s\n", "bad.ini:11: [ha] peer: required");
	expect_error(HEAD Q "[ha]\nnode = a\npeer = x:1\n", "bad.ini:11: [ha] secret_file: required");
	expect_error(HEAD Q "[ha]\nnode = a b\npeer = x:1\nsecret_file = s\n", "bad.ini:11: [ha] node: 'a b'");
	expect_error(HEAD Q "[ha]\nnode = a\npeer = fd00::1:7\nsecret_file = s\n",
		     "bad.ini:12: [ha] peer: 'fd00::1:7': expected ADDR:PORT");
	expect_error(HEAD Q "[ha]\nnode = a\npeer = x:0\nsecret_file = s\n", "bad.ini:12: [ha] peer: 'x:0'");
	expect_error(HEAD Q "[ha]\nnode = a\npeer = x:1\nsecret_file = s\nheartbeat = 10us\n",
		     "bad.ini:14: [ha] heartbeat: '10us': expected a duration from 100us");
	expect_error(HEAD Q "[ha]\nnode = a\npeer = x:1\nsecret_file = s\nheartbeat = 1s\ndead_after = 11\n",
		     "bad.ini:11: [ha] dead_after: heartbeat x dead_after must be at most 10s");
	expect_error(HEAD Q "[ha]\nnode = a\npeer = x:1\nsecret_file = s\nfailback = sometimes\n",
		     "bad.ini:14: [ha] failback: 'sometimes': expected manual or auto");
	expect_error(HEAD Q "[ha]\nnode = a\npeer = x:1\nsecret_file = s\njournal = 12XB\n",
		     "bad.ini:14: [ha] journal: '12XB': expected a size in 1MiB..64GiB");
	expect_error(HEAD Q "[ha]\nnode = a\npeer = x:1\nsecret_file = s\njournal = 512K\n",
		     "bad.ini:14: [ha] journal: '512K': expected a size in 1MiB..64GiB");
	expect_error(HEAD Q "[ha]\nnode = a\npeer = x:1\nsecret_file = s\njournal = -1M\n",
		     "bad.ini:14: [ha] journal: '-1M'");
	expect_error(HEAD Q "[ha]\nnode = a\npeer = x:1\nsecret_file = s\nvip = 1.2.3.4\n",
		     "bad.ini:14: [ha] vip: unknown key");
}

static void
state_section(void **st)
{
	(void)st;
	/* absent: no checkpoints */
	assert_int_equal(weir_config_load_string("s.ini", HEAD Q, &cfg, stderr), 0);
	assert_string_equal(cfg.state_dir, "");
	/* defaults */
	assert_int_equal(weir_config_load_string("s.ini", HEAD Q "[state]\ndir = /var/lib/weir\n", &cfg, stderr), 0);
	assert_string_equal(cfg.state_dir, "/var/lib/weir");
	assert_int_equal(cfg.checkpoint_interval, 1000000000);
	assert_int_equal(cfg.state_retain, 3);
	assert_int_equal(cfg.state_nice, 19);
	assert_int_equal(weir_config_load_string("s.ini", HEAD Q "[state]\ndir = d\ncheckpoint_interval = 250ms\n"
						 "retain = 7\nnice = 0\n", &cfg, stderr), 0);
	assert_int_equal(cfg.state_nice, 0);
	assert_int_equal(cfg.checkpoint_interval, 250000000);
	assert_int_equal(cfg.state_retain, 7);
	/* the dump reads back the same */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	weir_config_dump(&cfg, f);
	fclose(f);
	struct weir_config again;
	assert_int_equal(weir_config_load_string("dump.ini", buf, &again, stderr), 0);
	free(buf);
	assert_string_equal(again.state_dir, "d");
	assert_int_equal(again.checkpoint_interval, 250000000);
	assert_int_equal(again.state_retain, 7);
	assert_int_equal(again.state_nice, 0);
	expect_error(HEAD Q "[state]\ndir = d\nnice = 20\n", "bad.ini:12: [state] nice: '20': expected a nice level");
	/* errors */
	expect_error(HEAD Q "[state]\nretain = 3\n", "bad.ini:11: [state] dir: required");
	expect_error(HEAD Q "[state]\ndir = d\nretain = 0\n", "bad.ini:12: [state] retain: '0': expected");
	expect_error(HEAD Q "[state]\ndir = d\ncheckpoint_interval = 1ms\n",
		     "bad.ini:12: [state] checkpoint_interval: '1ms': expected a duration from 10ms");
	expect_error(HEAD Q "[state]\ndir = d\nsnapshots = 3\n", "bad.ini:12: [state] snapshots: unknown key");
	expect_error(HEAD Q "[state]\ndir =\n", "bad.ini:11: [state] dir: empty");
}

static void
continuation_lines(void **st)
{
	(void)st;
	assert_int_equal(weir_config_load_string("c.ini", HEAD "[query q]\nfrom = s\nwindow = tumbling 1s\n"
						 "aggregates = count,\n  sum(a)\n", &cfg, stderr), 0);
	assert_int_equal(cfg.queries[0].naggs, 2);
	assert_string_equal(cfg.queries[0].aggs[1].name, "sum_a");
}

/* latency, key_map and filter: values, errors and the dump's round trip */
/* format = itch50 | line: their keys, defaults, errors, and the dump read back. */
static void
admin_section(void **st)
{
	(void)st;
	/* absent: no server */
	assert_int_equal(weir_config_load_string("a.ini", HEAD Q, &cfg, stderr), 0);
	assert_false(cfg.admin);
	/* an empty section: loopback, the default port and limits */
	assert_int_equal(weir_config_load_string("a.ini", HEAD Q "[admin]\n", &cfg, stderr), 0);
	assert_true(cfg.admin);
	assert_string_equal(cfg.admin_host, "127.0.0.1");
	assert_int_equal(cfg.admin_port, 9180);
	assert_string_equal(cfg.admin_token_file, "");
	assert_int_equal(cfg.admin_max_clients, 256);
	assert_int_equal(cfg.admin_timeout, INT64_C(10000000000));
	assert_int_equal(weir_config_load_string("a.ini", HEAD Q "[admin]\nlisten = [::1]:0\ntoken_file = /etc/weir/t\n"
						 "max_clients = 16\ntimeout = 3s\n", &cfg, stderr), 0);
	assert_string_equal(cfg.admin_host, "::1");
	assert_int_equal(cfg.admin_port, 0);
	assert_string_equal(cfg.admin_token_file, "/etc/weir/t");
	assert_int_equal(cfg.admin_max_clients, 16);
	assert_int_equal(cfg.admin_timeout, INT64_C(3000000000));
	/* the dump reads back the same */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	weir_config_dump(&cfg, f);
	fclose(f);
	struct weir_config again;
	assert_int_equal(weir_config_load_string("dump.ini", buf, &again, stderr), 0);
	free(buf);
	assert_true(again.admin);
	assert_string_equal(again.admin_host, "::1");
	assert_int_equal(again.admin_port, 0);
	assert_string_equal(again.admin_token_file, "/etc/weir/t");
	assert_int_equal(again.admin_max_clients, 16);
	assert_int_equal(again.admin_timeout, INT64_C(3000000000));
	/* errors */
	expect_error(HEAD Q "[admin]\nlisten = 9180\n", "bad.ini:11: [admin] listen: '9180': expected ADDR:PORT");
	expect_error(HEAD Q "[admin]\nlisten = ::1:80\n", "bad.ini:11: [admin] listen: '::1:80': expected ADDR:PORT");
	expect_error(HEAD Q "[admin]\nlisten = 127.0.0.1:65536\n", "bad.ini:11: [admin] listen:");
	expect_error(HEAD Q "[admin]\nmax_clients = 0\n", "bad.ini:11: [admin] max_clients: '0': expected");
	expect_error(HEAD Q "[admin]\ntimeout = 10ms\n", "bad.ini:11: [admin] timeout: '10ms': expected a duration");
	expect_error(HEAD Q "[admin]\ntoken_file =\n", "bad.ini:11: [admin] token_file: expected the path");
	expect_error(HEAD Q "[admin]\nport = 1\n", "bad.ini:11: [admin] port: unknown key");
}

static void
feed_formats(void **st)
{
	static const char itch[] = "[dataplane]\ndevices = x\n[source t]\nformat = itch50\nudp_port = 26477, 26478\n"
		"session_date = 2019-12-30\nmessages = E, C,P\nfields = shares, price:f64, side\n"
		"[query q]\nfrom = t\nwindow = tumbling 1s\naggregates = count, sum(shares)\n";
	static const char line[] = "[dataplane]\ndevices = x\n[source l]\nformat = line\nudp_port = 8089\n"
		"measurement = cpu\ntags = host, region\nprecision = ms\nfields = usage:f64, n:i64\n"
		"[query q]\nfrom = l\nwindow = tumbling 1s\naggregates = count, sum(usage)\n";
	struct weir_config again;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)st;
	assert_int_equal(weir_config_load_string("i.ini", itch, &cfg, stderr), 0);
	const struct weir_source_cfg *t = &cfg.sources[0];
	assert_int_equal(t->format, WEIR_FMT_ITCH50);
	assert_int_equal(t->nports, 2);
	assert_int_equal(t->udp_ports[1], 26478);
	assert_int_equal(t->udp_port, 26477);
	assert_int_equal(t->itch_types, (1u << ('E' - 'A')) | (1u << ('C' - 'A')) | (1u << ('P' - 'A')));
	assert_string_equal(t->timezone, "America/New_York");
	assert_int_equal(t->order_book, 1000000);
	/* 2019-12-30 00:00 EST = 05:00 UTC */
	assert_int_equal(t->day_start, INT64_C(1577682000) * 1000000000);
	assert_int_equal(t->nfields, 3);
	assert_int_equal(t->field_src[0], WEIR_ITCH_F_shares);
	assert_int_equal(t->field_type[1], WEIR_F_F64);
	assert_int_equal(t->field_type[2], WEIR_F_I64);
	f = open_memstream(&buf, &len);
	weir_config_dump(&cfg, f);
	fclose(f);
	assert_int_equal(weir_config_load_string("dump.ini", buf, &again, stderr), 0);
	free(buf);
	assert_int_equal(again.sources[0].itch_types, t->itch_types);
	assert_int_equal(again.sources[0].day_start, t->day_start);
	assert_memory_equal(again.sources[0].field_src, t->field_src, 3);
	assert_int_equal(again.sources[0].nports, 2);
	/* summer time: 2020-07-01 00:00 EDT = 04:00 UTC; another zone */
	assert_int_equal(weir_config_load_string("i.ini", "[dataplane]\ndevices = x\n[source s]\nformat = itch50\n"
						 "udp_port = 1\nsession_date = 2020-07-01\nkey = locate\n" Q, &cfg, stderr), 0);
	assert_int_equal(cfg.sources[0].day_start, INT64_C(1593576000) * 1000000000);
	assert_int_equal(cfg.sources[0].itch_key, WEIR_ITCH_KEY_LOCATE);
	assert_int_equal(weir_config_load_string("i.ini", "[dataplane]\ndevices = x\n[source s]\nformat = itch50\n"
						 "udp_port = 1\nsession_date = 2020-07-01\ntimezone = Europe/London\n"
						 "order_book = 0\n" Q, &cfg, stderr), 0);
	assert_int_equal(cfg.sources[0].day_start, INT64_C(1593558000) * 1000000000);
	assert_int_equal(cfg.sources[0].order_book, 0);
	/* order_book = auto (the default): a book only where a declared field needs one */
	assert_int_equal(weir_config_load_string("i.ini", "[dataplane]\ndevices = x\n[source s]\nformat = itch50\n"
						 "udp_port = 1\nsession_date = today\nfields = type, stock, printable\n" Q,
						 &cfg, stderr), 0);
	assert_int_equal(cfg.sources[0].order_book, 0);
	assert_int_equal(weir_config_load_string("i.ini", "[dataplane]\ndevices = x\n[source s]\nformat = itch50\n"
						 "udp_port = 1\nsession_date = today\nfields = type, bid\norder_book = auto\n" Q,
						 &cfg, stderr), 0);
	assert_int_equal(cfg.sources[0].order_book, 1000000);
	assert_int_equal(weir_config_load_string("i.ini", "[dataplane]\ndevices = x\n[source s]\nformat = itch50\n"
						 "udp_port = 1\nsession_date = today\nfields = type\norder_book = 5\n" Q,
						 &cfg, stderr), 0);
	assert_int_equal(cfg.sources[0].order_book, 5);
	assert_string_equal(cfg.sources[0].rerequest_host, "");
	assert_int_equal(cfg.sources[0].gap_timeout, 50000000);
	assert_int_equal(weir_config_load_string("i.ini", "[dataplane]\ndevices = x\n[source s]\nformat = itch50\n"
						 "udp_port = 1\nsession_date = today\nrerequest = [fd00::1]:9100\n"
						 "gap_timeout = 200ms\n" Q, &cfg, stderr), 0);
	assert_string_equal(cfg.sources[0].rerequest_host, "fd00::1");
	assert_int_equal(cfg.sources[0].rerequest_port, 9100);
	assert_int_equal(cfg.sources[0].gap_timeout, 200000000);
	f = open_memstream(&buf, &len);
	weir_config_dump(&cfg, f);
	fclose(f);
	assert_int_equal(weir_config_load_string("dump.ini", buf, &again, stderr), 0);
	free(buf);
	assert_string_equal(again.sources[0].rerequest_host, "fd00::1");
	assert_int_equal(again.sources[0].gap_timeout, 200000000);

#define IH "[dataplane]\ndevices = x\n[source s]\nformat = itch50\nudp_port = 1\n"
	expect_error(IH Q, "bad.ini:4: [source s] session_date: required for format = itch50");
	expect_error(IH "session_date = 2019-02-30\n" Q, "[source s] session_date: '2019-02-30': expected the trading day");
	expect_error(IH "session_date = today\ntimezone = Mars/Olympus\n" Q,
		     "[source s] timezone: 'Mars/Olympus': not a time zone");
	expect_error(IH "session_date = today\ntimezone = ../../etc/passwd\n" Q, "[source s] timezone:");
	expect_error(IH "session_date = today\nmessages = E,Z\n" Q,
		     "[source s] messages: 'Z' is not a decoded ITCH 5.0 message type");
	expect_error(IH "session_date = today\nkey = isin\n" Q, "[source s] key: 'isin': expected symbol or locate");
	expect_error(IH "session_date = today\nfields = volume\n" Q,
		     "[source s] fields: 'volume' is not a field of an ITCH trading event");
	expect_error(IH "session_date = today\nfields = price:i64\n" Q,
		     "[source s] fields: field 'price' is f64 in an ITCH trading event, not i64");
	expect_error(IH "session_date = today\nmeasurement = cpu\n" Q,
		     "[source s] measurement: only for format = line (this source is format = itch50)");
	expect_error(IH "session_date = today\nschema_id = 3\n" Q, "[source s] schema_id: only for format = wev");
	expect_error(HEAD "session_date = today\n" Q, "[source s] session_date: only for format = itch50");
	expect_error("[dataplane]\ndevices = x\n[source s]\nformat = fix\nudp_port = 1\n" Q,
		     "[source s] format: unknown format 'fix' (supported: wev, itch50, line)");
	expect_error("[dataplane]\ndevices = x\n[source s]\nudp_port = 1, 2, 1\n" Q, "[source s] udp_port: port 1 given twice");
	expect_error("[dataplane]\ndevices = x\n[source s]\nudp_port = 1, 2\n[source u]\nudp_port = 3, 2\n" Q,
		     "[source u] udp_port: port 2 is already used by source 's'");
	expect_error(IH "session_date = today\nrerequest = 10.0.0.1\n" Q,
		     "[source s] rerequest: '10.0.0.1': expected the re-request server as ADDR:PORT");
	expect_error(IH "session_date = today\ngap_timeout = 0\n" Q, "[source s] gap_timeout: '0'");
#undef IH

	assert_int_equal(weir_config_load_string("l.ini", line, &cfg, stderr), 0);
	const struct weir_source_cfg *l = &cfg.sources[0];
	assert_int_equal(l->format, WEIR_FMT_LINE);
	assert_string_equal(l->measurement, "cpu");
	assert_int_equal(l->ntags, 2);
	assert_string_equal(l->tags[1], "region");
	assert_int_equal(l->precision, WEIR_LP_MS);
	f = open_memstream(&buf, &len);
	weir_config_dump(&cfg, f);
	fclose(f);
	assert_int_equal(weir_config_load_string("dump.ini", buf, &again, stderr), 0);
	free(buf);
	assert_string_equal(again.sources[0].measurement, "cpu");
	assert_int_equal(again.sources[0].ntags, 2);
	assert_int_equal(again.sources[0].precision, WEIR_LP_MS);
#define LH "[dataplane]\ndevices = x\n[source s]\nformat = line\nudp_port = 1\n"
	expect_error(LH "precision = m\n" Q, "[source s] precision: 'm': expected ns, us, ms or s");
	expect_error(LH "tags = host, host\n" Q, "[source s] tags: tag 'host': given twice");
	expect_error(LH "fields = usage\n" Q, "[source s] fields: field 'usage' has no type");
	expect_error(LH "order_book = 5\n" Q, "[source s] order_book: only for format = itch50");
#undef LH
}

static void
bench_keys(void **st)
{
	char map[] = "/tmp/weir-test-map-XXXXXX";
	int fd = mkstemp(map);
	char text[2048], *buf = NULL;
	size_t len = 0;
	struct weir_config again;

	(void)st;
	assert_true(fd >= 0);
	static const char body[] = "# ad,campaign\n5,50\n0x10,60\n\n 7 , 70\n";
	assert_true(write(fd, body, sizeof(body) - 1) == (ssize_t)sizeof(body) - 1);
	close(fd);
	snprintf(text, sizeof(text), "[dataplane]\ndevices = x\nlatency = on\n[source s]\nudp_port = 1\n"
		 "fields = a:i64, u:u64, f:f64\nkey_map = %s\n"
		 "[query q]\nfrom = s\nwindow = tumbling 1s\naggregates = count\n"
		 "filter = a > -5 and u != 0x10 and f <= 2.5 and a == 9\n", map);
	assert_int_equal(weir_config_load_string("k.ini", text, &cfg, stderr), 0);
	assert_true(cfg.latency);
	assert_string_equal(cfg.sources[0].key_map, map);
	assert_int_equal(cfg.queries[0].nfilter, 4);
	assert_int_equal(cfg.queries[0].filter[0].field, 0);
	assert_int_equal(cfg.queries[0].filter[0].op, WEIR_CMP_GT);
	assert_int_equal((int64_t)cfg.queries[0].filter[0].value, -5);
	assert_int_equal(cfg.queries[0].filter[1].op, WEIR_CMP_NE);
	assert_int_equal(cfg.queries[0].filter[1].value, 16);
	double d;
	memcpy(&d, &cfg.queries[0].filter[2].value, 8);
	assert_true(d == 2.5);
	assert_int_equal(cfg.queries[0].filter[2].op, WEIR_CMP_LE);
	assert_int_equal(cfg.queries[0].filter[3].op, WEIR_CMP_EQ);
	FILE *f = open_memstream(&buf, &len);
	weir_config_dump(&cfg, f);
	fclose(f);
	assert_int_equal(weir_config_load_string("dump.ini", buf, &again, stderr), 0);
	free(buf);
	assert_true(again.latency);
	assert_false(again.fused);
	assert_int_equal(again.sink_rt_priority, 0);
	assert_string_equal(again.sources[0].key_map, map);
	assert_int_equal(again.queries[0].nfilter, 4);
	assert_memory_equal(again.queries[0].filter, cfg.queries[0].filter, 4 * sizeof(struct weir_filter_cfg));
	/* fused: RX core i runs worker i, so as many of each */
	assert_int_equal(weir_config_load_string("f.ini", "[dataplane]\ndevices = x\nrx_cores = 2\nworkers = 2\n"
						 "fused = true\n[source s]\nudp_port = 1\n" Q, &cfg, stderr), 0);
	assert_true(cfg.fused);
	assert_int_equal(cfg.sink_rt_priority, 0);
	/* the sink loop's real-time priority stays below the control process's (10) */
	assert_int_equal(weir_config_load_string("r.ini", "[dataplane]\ndevices = x\nsink_rt_priority = 9\n"
						 "[source s]\nudp_port = 1\n" Q, &cfg, stderr), 0);
	assert_int_equal(cfg.sink_rt_priority, 9);
	expect_error("[dataplane]\ndevices = x\nsink_rt_priority = 10\n[source s]\nudp_port = 1\n" Q,
		     "bad.ini:3: [dataplane] sink_rt_priority: '10': expected 0 (normal scheduling) to 9");
	/* state_headroom: 32 MiB unless set; off; sizes with units; the dump keeps it */
	assert_int_equal(cfg.state_headroom, INT64_C(32) << 20);
	assert_int_equal(weir_config_load_string("h.ini", "[dataplane]\ndevices = x\nstate_headroom = off\n"
						 "[source s]\nudp_port = 1\n" Q, &cfg, stderr), 0);
	assert_int_equal(cfg.state_headroom, 0);
	assert_int_equal(weir_config_load_string("h.ini", "[dataplane]\ndevices = x\nstate_headroom = 96MiB\n"
						 "[source s]\nudp_port = 1\n" Q, &cfg, stderr), 0);
	assert_int_equal(cfg.state_headroom, INT64_C(96) << 20);
	f = open_memstream(&buf, &len);
	weir_config_dump(&cfg, f);
	fclose(f);
	assert_int_equal(weir_config_load_string("dump.ini", buf, &again, stderr), 0);
	free(buf);
	assert_int_equal(again.state_headroom, INT64_C(96) << 20);
	expect_error("[dataplane]\ndevices = x\nstate_headroom = lots\n[source s]\nudp_port = 1\n" Q,
		     "bad.ini:3: [dataplane] state_headroom: 'lots': expected off or a size up to 64GiB");
	expect_error("[dataplane]\ndevices = x\nstate_headroom = 65GiB\n[source s]\nudp_port = 1\n" Q,
		     "bad.ini:3: [dataplane] state_headroom: '65GiB': expected off or a size up to 64GiB");
	expect_error("[dataplane]\ndevices = x\nworkers = 2\nfused = true\n[source s]\nudp_port = 1\n" Q,
		     "bad.ini:4: [dataplane] fused: needs as many workers as rx_cores");
	expect_error("[dataplane]\ndevices = x\nfused = sometimes\n[source s]\nudp_port = 1\n" Q,
		     "bad.ini:3: [dataplane] fused: 'sometimes': expected true or false");
	/* the default: off, no map, no filter */
	assert_int_equal(weir_config_load_string("d.ini", HEAD Q, &cfg, stderr), 0);
	assert_false(cfg.latency);
	assert_string_equal(cfg.sources[0].key_map, "");
	assert_int_equal(cfg.queries[0].nfilter, 0);

	expect_error("[dataplane]\ndevices = x\nlatency = maybe\n[source s]\nudp_port = 1\n" Q,
		     "bad.ini:3: [dataplane] latency: 'maybe': expected on or off");
	expect_error(HEAD "key_map = /nonexistent/map.csv\n" Q,
		     "bad.ini:6: [source s] key_map: /nonexistent/map.csv: No such file");
	expect_error(HEAD Q "filter = b > 1\n", "bad.ini:10: [query q] filter: source 's' has no value field 'b'");
	expect_error(HEAD Q "filter = a >> 1\n", "[query q] filter: '>>': expected a comparison");
	expect_error(HEAD Q "filter = a > 1.5\n", "[query q] filter: '1.5' is not a i64 constant for field 'a'");
	expect_error(HEAD Q "filter = a > 1 or a < 0\n", "[query q] filter: 'or': expected 'and'");
	expect_error(HEAD Q "filter = a >\n", "[query q] filter: expected FIELD OP VALUE");
	expect_error(HEAD Q "filter = a > 1 and\n", "[query q] filter: expected FIELD OP VALUE");
	expect_error(HEAD Q "filter = a>1\n", "[query q] filter: source 's' has no value field 'a>1'");
	expect_error("[dataplane]\ndevices = x\n[source s]\nudp_port = 1\nfields = u:u64\n" Q "filter = u > -1\n",
		     "'-1' is not a u64 constant for field 'u'");
	expect_error(HEAD Q "filter = a > 1 and a > 1 and a > 1 and a > 1 and a > 1 and a > 1 and a > 1 and "
		     "a > 1 and a > 1\n", "more than 8 comparisons");
	/* bad tables: line numbers of the map file */
	static const struct { const char *body, *want; } bad[] = {
		{ "1,2\n3;4\n", ":2: expected 'from,to'" },
		{ "1,2\n1,3\n", ":2: key 1 is mapped twice" },
		{ "1,2,3\n", ":1: expected 'from,to'" },
		{ "-1,2\n", ":1: expected 'from,to'" },
		{ "18446744073709551616,1\n", ":1: expected 'from,to'" },
		{ "# nothing\n", ": no entries" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *m = fopen(map, "w");
		assert_non_null(m);
		fputs(bad[i].body, m);
		fclose(m);
		snprintf(text, sizeof(text), HEAD "key_map = %s\n" Q, map);
		char want[600];
		snprintf(want, sizeof(want), "bad.ini:6: [source s] key_map: %s%s", map, bad[i].want);
		expect_error(text, want);
	}
	unlink(map);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bench_keys),
		cmocka_unit_test(feed_formats),
		cmocka_unit_test(example_loads), cmocka_unit_test(other_values), cmocka_unit_test(durations),
		cmocka_unit_test(errors), cmocka_unit_test(continuation_lines),
		cmocka_unit_test(state_section),
		cmocka_unit_test(ha_section),
		cmocka_unit_test(admin_section),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
