/* SPDX-License-Identifier: Apache-2.0
 * The admin server without a dataplane: the Prometheus text made from a stats
 * document (checked by a small exposition parser written here, against the
 * document's own numbers), and the HTTP server's answers to good and bad requests
 * (libcurl and raw sockets), with a stats callback of the test's own.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "admin.h"

/* ---- a stats document of the test's own --------------------------------------------------- */

static const char doc_text[] =
	"{\"version\":\"9.9\",\"uptime_s\":12.5,\"tsc_hz\":2000000000,"
	"\"total\":{\"rx_packets\":30,\"rx_events\":700,\"bad_packets\":{\"not_ip\":3,\"bad_magic\":4},"
	"  \"bad_packets_total\":7,\"ring_full\":5,\"late_dropped\":6,\"results_emitted\":40,\"sink_errors\":2},"
	"\"cores\":["
	" {\"role\":\"rx\",\"index\":0,\"lcore\":1,\"rx_packets\":10,\"rx_events\":300,\"ring_full\":2,"
	"  \"bad_packets\":{\"not_ip\":1,\"bad_magic\":4},\"busy_cycles\":100,\"idle_cycles\":50,\"blocked_cycles\":7,"
	"  \"itch\":{\"mold_truncated\":2,\"unknown_ref\":9,\"rerequests\":1,\"recovered\":8,\"recovery_timeouts\":0},"
	"  \"order_book\":{\"live\":11,\"high_water\":12,\"table_full\":0,\"memory_bytes\":4096,\"price_levels\":3,\"level_full\":0}},"
	" {\"role\":\"rx\",\"index\":1,\"lcore\":2,\"rx_packets\":20,\"rx_events\":400,\"ring_full\":3,"
	"  \"bad_packets\":{\"not_ip\":2,\"bad_magic\":0},\"busy_cycles\":1,\"idle_cycles\":2,\"blocked_cycles\":3},"
	" {\"role\":\"worker\",\"index\":0,\"lcore\":3,\"worker_events\":700,\"late_dropped\":6,\"results_emitted\":40,"
	"  \"open_windows\":17,\"state_bytes\":8192,\"checkpoint_pause_max_us\":250,\"busy_cycles\":9,\"idle_cycles\":8,"
	"  \"blocked_cycles\":0}],"
	"\"ports\":[{\"port\":0,\"device\":\"net_pcap0,rx_pcap=/tmp/a \\\"b\\\"\\\\c\\nd\",\"ipackets\":31,\"ibytes\":3100,"
	"  \"imissed\":1,\"ierrors\":0,\"rx_nombuf\":0}],"
	"\"rings\":[{\"rx\":0,\"worker\":0,\"used\":100,\"capacity\":4096},{\"rx\":1,\"worker\":0,\"used\":0,\"capacity\":4096}],"
	"\"sources\":{\"tx\":{\"format\":\"wev\",\"watermark_ns\":1700000000500000000,\"watermark_lag_s\":2.25},"
	"  \"idle\":{\"format\":\"line\",\"watermark_ns\":null,\"watermark_lag_s\":null}},"
	"\"queries\":{\"spend\":{\"source\":\"tx\",\"results_emitted\":40,\"late_dropped\":6,\"filtered\":1,"
	"  \"open_windows\":17,\"state_bytes\":8192,\"watermark_ns\":1700000000000000000,\"watermark_lag_s\":2.75}},"
	"\"checkpoints\":{\"completed\":4,\"failed\":1,\"last_epoch\":4,\"last_duration_ms\":12.5,\"max_duration_ms\":20,"
	"  \"last_delta_bytes\":1000,\"last_files_bytes\":5000,\"delta_bytes\":9000,\"last_error\":\"\"},"
	"\"ha\":{\"term\":7,\"gate_open\":1,\"role\":\"primary\",\"sync\":\"in sync\",\"shadow_len\":0,"
	"  \"lease_left_s\":0.015,\"heartbeat_age_s\":0.004}}";

/* ---- an exposition parser: families, samples, labels ---------------------------------------- */

struct sample { char name[96]; char labels[512]; double v; };

struct expo {
	struct sample s[1024];
	int n;
	char typed[256][96];            /* families in the order of their TYPE lines */
	int ntyped;
};

/* Parse text; fails the test on any line that breaks the format's rules we rely on:
 * a sample only after its family's HELP and TYPE, each family typed once, and its
 * samples together. */
static void
parse_expo(const char *text, struct expo *e)
{
	char line[2048], cur[96] = "";
	const char *p = text;

	memset(e, 0, sizeof(*e));
	while (*p) {
		size_t k = strcspn(p, "\n");
		assert_true(k < sizeof(line));
		memcpy(line, p, k);
		line[k] = '\0';
		p += k + (p[k] == '\n');
		assert_true(p[-1] == '\n');     /* every line ends with a newline */
		if (!strncmp(line, "# HELP ", 7)) {
			continue;
		} else if (!strncmp(line, "# TYPE ", 7)) {
			char fam[96], type[32];
			assert_int_equal(sscanf(line + 7, "%95s %31s", fam, type), 2);
			assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge"));
			for (int i = 0; i < e->ntyped; i++)
				assert_string_not_equal(e->typed[i], fam);      /* typed once */
			snprintf(e->typed[e->ntyped++], 96, "%s", fam);
			snprintf(cur, sizeof(cur), "%s", fam);
			continue;
		}
		assert_true(line[0] != '#' && line[0] != '\0');
		struct sample *s = &e->s[e->n++];
		size_t nl = strcspn(line, "{ ");
		snprintf(s->name, sizeof(s->name), "%.*s", (int)nl, line);
		assert_string_equal(s->name, cur);      /* under its own family's TYPE */
		const char *v = line + nl;
		if (*v == '{') {
			const char *q = v + 1;  /* to the closing brace, past quoted values */
			bool inq = false;
			for (; *q && (inq || *q != '}'); q++) {
				if (inq && *q == '\\') {
					q++;
					continue;
				}
				if (*q == '"')
					inq = !inq;
			}
			assert_int_equal(*q, '}');
			snprintf(s->labels, sizeof(s->labels), "%.*s", (int)(q - v - 1), v + 1);
			v = q + 1;
		}
		assert_int_equal(*v, ' ');
		char *end;
		s->v = strtod(v + 1, &end);
		assert_int_equal(*end, '\0');
	}
}

/* The value of the sample name{labels} (labels exactly as written), or NAN. */
static double
val(const struct expo *e, const char *name, const char *labels)
{
	for (int i = 0; i < e->n; i++)
		if (!strcmp(e->s[i].name, name) && !strcmp(e->s[i].labels, labels))
			return e->s[i].v;
	return NAN;
}

static double
sum(const struct expo *e, const char *name, const char *label_part)
{
	double t = 0;
	for (int i = 0; i < e->n; i++)
		if (!strcmp(e->s[i].name, name) && (!label_part || strstr(e->s[i].labels, label_part)))
			t += e->s[i].v;
	return t;
}

static void
prom_text(void **st)
{
	(void)st;
	cJSON *doc = cJSON_Parse(doc_text);
	assert_non_null(doc);
	char *txt = weir_prom_render(doc);
	assert_non_null(txt);
	static struct expo e;
	parse_expo(txt, &e);

	/* per core, with the document's numbers */
	assert_true(val(&e, "weir_rx_packets_total", "core=\"1\",role=\"rx\",index=\"0\"") == 10);
	assert_true(val(&e, "weir_rx_packets_total", "core=\"2\",role=\"rx\",index=\"1\"") == 20);
	assert_true(val(&e, "weir_results_emitted_total", "core=\"3\",role=\"worker\",index=\"0\"") == 40);
	assert_true(val(&e, "weir_checkpoint_pause_max_seconds", "core=\"3\",role=\"worker\",index=\"0\"") == 250e-6);
	/* what a worker core does not count is not made up for it */
	assert_true(isnan(val(&e, "weir_rx_packets_total", "core=\"3\",role=\"worker\",index=\"0\"")));
	/* sums over the cores are the document's totals (the semantics.md counters) */
	cJSON *tot = cJSON_GetObjectItem(doc, "total");
	assert_true(sum(&e, "weir_rx_packets_total", NULL) == cJSON_GetObjectItem(tot, "rx_packets")->valuedouble);
	assert_true(sum(&e, "weir_rx_events_total", NULL) == cJSON_GetObjectItem(tot, "rx_events")->valuedouble);
	assert_true(sum(&e, "weir_ring_full_total", NULL) == cJSON_GetObjectItem(tot, "ring_full")->valuedouble);
	assert_true(sum(&e, "weir_late_dropped_total", NULL) == cJSON_GetObjectItem(tot, "late_dropped")->valuedouble);
	assert_true(sum(&e, "weir_bad_packets_total", NULL) ==
		    cJSON_GetObjectItem(tot, "bad_packets_total")->valuedouble);
	assert_true(sum(&e, "weir_bad_packets_total", "reason=\"not_ip\"") == 3);
	assert_true(val(&e, "weir_bad_packets_total", "core=\"1\",role=\"rx\",index=\"0\",reason=\"bad_magic\"") == 4);
	/* cycles by state */
	assert_true(val(&e, "weir_core_cycles_total", "core=\"1\",role=\"rx\",index=\"0\",state=\"blocked\"") == 7);
	assert_true(sum(&e, "weir_core_cycles_total", "state=\"busy\"") == 110);
	/* itch: drop reasons apart from the other counters; the book's gauges */
	assert_true(val(&e, "weir_itch_dropped_total", "core=\"1\",role=\"rx\",index=\"0\",reason=\"mold_truncated\"") == 2);
	assert_true(isnan(val(&e, "weir_itch_dropped_total", "core=\"1\",role=\"rx\",index=\"0\",reason=\"unknown_ref\"")));
	assert_true(val(&e, "weir_itch_unknown_ref_total", "core=\"1\",role=\"rx\",index=\"0\"") == 9);
	assert_true(val(&e, "weir_order_book_live", "core=\"1\",role=\"rx\",index=\"0\"") == 11);
	/* queries and sources: watermarks in seconds; none yet: no sample at all */
	assert_true(val(&e, "weir_query_results_emitted_total", "query=\"spend\",source=\"tx\"") == 40);
	assert_true(val(&e, "weir_query_watermark_seconds", "query=\"spend\",source=\"tx\"") == 1700000000.0);
	assert_true(val(&e, "weir_query_watermark_lag_seconds", "query=\"spend\",source=\"tx\"") == 2.75);
	assert_true(val(&e, "weir_source_watermark_seconds", "source=\"tx\"") == 1700000000.5);
	assert_true(isnan(val(&e, "weir_source_watermark_seconds", "source=\"idle\"")));
	/* rings, ports (a device string with a quote, a backslash and a newline) */
	assert_true(val(&e, "weir_ring_used", "rx=\"0\",worker=\"0\"") == 100);
	assert_true(val(&e, "weir_ring_capacity", "rx=\"1\",worker=\"0\"") == 4096);
	assert_true(val(&e, "weir_port_rx_packets_total",
			"port=\"0\",device=\"net_pcap0,rx_pcap=/tmp/a \\\"b\\\"\\\\c\\nd\"") == 31);
	/* global, checkpoints, HA */
	assert_true(val(&e, "weir_build_info", "version=\"9.9\"") == 1);
	assert_true(val(&e, "weir_uptime_seconds", "") == 12.5);
	assert_true(val(&e, "weir_sink_errors_total", "") == 2);
	assert_true(val(&e, "weir_checkpoints_failed_total", "") == 1);
	assert_true(val(&e, "weir_checkpoint_last_duration_seconds", "") == 0.0125);
	assert_true(val(&e, "weir_ha_term", "") == 7);
	assert_true(val(&e, "weir_ha_in_sync", "") == 1);
	assert_true(val(&e, "weir_ha_gate_open", "") == 1);
	free(txt);

	/* without the optional parts: no checkpoint or HA families, no empty families */
	cJSON_DeleteItemFromObject(doc, "checkpoints");
	cJSON_DeleteItemFromObject(doc, "ha");
	cJSON_DeleteItemFromObject(doc, "rings");
	txt = weir_prom_render(doc);
	parse_expo(txt, &e);
	assert_null(strstr(txt, "weir_checkpoints_"));
	assert_null(strstr(txt, "weir_ha_"));
	assert_null(strstr(txt, "weir_ring_used"));
	free(txt);
	cJSON_Delete(doc);
}

/* ---- the server ----------------------------------------------------------------------------- */

static int builds;

static cJSON *
stats_cb(void *ctx)
{
	(void)ctx;
	builds++;
	return cJSON_Parse(doc_text);
}

static struct weir_config cfg;
static char tokpath[64];

struct reply { long code; char body[65536]; size_t n; char ctype[128]; };

static size_t
on_body(char *d, size_t sz, size_t nm, void *u)
{
	struct reply *r = u;
	size_t k = sz * nm, room = sizeof(r->body) - 1 - r->n;
	memcpy(r->body + r->n, d, k < room ? k : room);
	r->n += k < room ? k : room;
	r->body[r->n] = '\0';
	return k;
}

static void
get(uint16_t port, const char *method, const char *path, const char *auth, struct reply *r)
{
	char url[128];
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	char *ct = NULL;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (auth)
		h = curl_slist_append(h, auth);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
	snprintf(r->ctype, sizeof(r->ctype), "%s", ct ? ct : "");
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

/* Send raw bytes, return the status code of the answer (0: closed without one). */
static int
raw(uint16_t port, const char *req, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), code = 0;
	char buf[512];
	size_t got = 0;

	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	for (size_t off = 0; off < len;) {
		ssize_t k = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (k <= 0)
			break;          /* the server may close early on an oversized request */
		off += (size_t)k;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		assert_true(poll(&p, 1, 5000) == 1);    /* an answer or a close, never a hang */
		ssize_t k = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (k <= 0)
			break;
		got += (size_t)k;
		buf[got] = '\0';
		if (got == sizeof(buf) - 1 || strstr(buf, "\r\n\r\n"))
			break;          /* (a kept-alive connection stays open) */
	}
	buf[got] = '\0';
	if (!strncmp(buf, "HTTP/1.", 7))
		code = atoi(buf + 9);
	close(fd);
	return code;
}

static uint16_t
port_of(FILE *log)
{
	char line[256];
	unsigned port = 0;
	rewind(log);
	while (fgets(line, sizeof(line), log))
		if (sscanf(line, "weir: admin: listening on http://127.0.0.1:%u/", &port) == 1)
			break;
	assert_true(port > 0);
	return (uint16_t)port;
}

static void
server(void **st)
{
	(void)st;
	struct weir_admin_ops ops = { .stats = stats_cb };
	struct reply r;
	FILE *log = tmpfile();

	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(weir_config_load_string("a.ini",
		"[dataplane]\ndevices = x\n[source t]\nformat = wev\nudp_port = 7000\nschema_id = 1\n"
		"[query q]\nfrom = t\nwindow = tumbling 1s\naggregates = count\n[admin]\nlisten = 127.0.0.1:0\n",
		&cfg, stderr), 0);
	struct weir_admin *a = weir_admin_start(&cfg, &ops, log);
	assert_non_null(a);
	uint16_t port = port_of(log);

	get(port, "GET", "/metrics", NULL, &r);
	assert_int_equal(r.code, 200);
	assert_non_null(strstr(r.ctype, "text/plain; version=0.0.4"));
	assert_non_null(strstr(r.body, "weir_rx_packets_total{core=\"1\",role=\"rx\",index=\"0\"} 10\n"));
	get(port, "GET", "/api/stats", NULL, &r);
	assert_int_equal(r.code, 200);
	cJSON *got = cJSON_Parse(r.body), *ref = cJSON_Parse(doc_text);
	assert_true(cJSON_Compare(got, ref, true));     /* the callback's document, as it was */
	cJSON_Delete(got);
	cJSON_Delete(ref);
	get(port, "GET", "/api/config", NULL, &r);
	assert_int_equal(r.code, 200);
	got = cJSON_Parse(r.body);
	assert_non_null(strstr(cJSON_GetObjectItem(got, "text")->valuestring, "[query q]"));
	cJSON_Delete(got);
	get(port, "GET", "/", NULL, &r);
	assert_int_equal(r.code, 200);
	assert_int_equal(r.n, weir_dashboard_html_len);
	assert_memory_equal(r.body, weir_dashboard_html, r.n < 65535 ? r.n : 65535);
	get(port, "HEAD", "/metrics", NULL, &r);
	assert_int_equal(r.code, 200);
	assert_int_equal(r.n, 0);
	get(port, "POST", "/metrics", NULL, &r);
	assert_int_equal(r.code, 405);
	get(port, "DELETE", "/api/stats", NULL, &r);
	assert_int_equal(r.code, 405);
	get(port, "GET", "/metrics/../etc/passwd", NULL, &r);
	assert_int_equal(r.code, 404);
	get(port, "GET", "/nope", NULL, &r);
	assert_int_equal(r.code, 404);

	/* documents are shared for 100 ms: a burst of requests builds one */
	builds = 0;
	usleep(150000);
	for (int i = 0; i < 20; i++)
		get(port, "GET", "/metrics", NULL, &r);
	assert_true(builds >= 1 && builds <= 3);

	/* malformed and oversized requests: an error status or a close, and the
	 * server goes on */
	static char big[100000];
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	int c = raw(port, big, sizeof(big));
	assert_true(c == 0 || (c >= 400 && c < 500));
	char hdr[70000];
	int k = snprintf(hdr, sizeof(hdr), "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(hdr + k, 'b', sizeof(hdr) - (size_t)k - 5);
	memcpy(hdr + sizeof(hdr) - 5, "\r\n\r\n", 5);
	c = raw(port, hdr, sizeof(hdr) - 1);
	assert_true(c == 0 || (c >= 400 && c < 500));
	c = raw(port, "\x16\x03\x01\x02\x00garbage\r\n\r\n", 17);
	assert_true(c == 0 || (c >= 400 && c < 500));
	c = raw(port, "GET\r\n\r\n", 7);
	assert_true(c == 0 || (c >= 400 && c < 500));
	c = raw(port, "GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n", 35);
	assert_true(c == 0 || (c >= 400 && c < 600));
	assert_int_equal(raw(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 35), 200);
	/* an encoded NUL does not cut the path short */
	static const char nul1[] = "GET /metrics%00x HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char nul2[] = "GET /api/stats%00 HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(raw(port, nul1, strlen(nul1)), 404);
	assert_int_equal(raw(port, nul2, strlen(nul2)), 404);
	/* keep-alive: a second request on the same connection (a scraper's, the page's) */
	CURL *h = curl_easy_init();
	char url[96];
	long conns = -1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	for (int i = 0; i < 2; i++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(curl_easy_perform(h), CURLE_OK);
		curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &conns);
	}
	assert_int_equal(conns, 0);     /* the second request opened no connection */
	curl_easy_cleanup(h);
	get(port, "GET", "/metrics", NULL, &r);
	assert_int_equal(r.code, 200);
	weir_admin_stop(a);
	fclose(log);
}

static void
token(void **st)
{
	(void)st;
	struct weir_admin_ops ops = { .stats = stats_cb };
	struct reply r;
	FILE *log = tmpfile(), *t;
	char text[600];

	snprintf(tokpath, sizeof(tokpath), "/tmp/weir-admin-token.%d", (int)getpid());
	/* too short: refused at start, with the reason */
	t = fopen(tokpath, "w");
	fputs("short\n", t);
	fclose(t);
	chmod(tokpath, 0600);
	snprintf(text, sizeof(text),
		 "[dataplane]\ndevices = x\n[source t]\nformat = wev\nudp_port = 7000\nschema_id = 1\n"
		 "[query q]\nfrom = t\nwindow = tumbling 1s\naggregates = count\n[admin]\nlisten = 127.0.0.1:0\n"
		 "token_file = %s\n", tokpath);
	assert_int_equal(weir_config_load_string("a.ini", text, &cfg, stderr), 0);
	assert_null(weir_admin_start(&cfg, &ops, log));
	t = fopen(tokpath, "w");
	fputs("s3cret-token-42\n", t);
	fclose(t);
	struct weir_admin *a = weir_admin_start(&cfg, &ops, log);
	assert_non_null(a);
	uint16_t port = port_of(log);
	static const char *const data[] = { "/metrics", "/api/stats", "/api/config" };
	for (int i = 0; i < 3; i++) {
		get(port, "GET", data[i], NULL, &r);
		assert_int_equal(r.code, 401);
		get(port, "GET", data[i], "Authorization: Bearer s3cret-token-4", &r);
		assert_int_equal(r.code, 401);
		get(port, "GET", data[i], "Authorization: Bearer s3cret-token-421", &r);
		assert_int_equal(r.code, 401);
		get(port, "GET", data[i], "Authorization: Basic czNjcmV0LXRva2VuLTQy", &r);
		assert_int_equal(r.code, 401);
		get(port, "GET", data[i], "Authorization: Bearer s3cret-token-42", &r);
		assert_int_equal(r.code, 200);
	}
	/* the page itself is static: it asks for the token */
	get(port, "GET", "/", NULL, &r);
	assert_int_equal(r.code, 200);
	weir_admin_stop(a);
	/* a busy port: refused with the reason */
	cfg.admin_port = port;
	struct weir_admin *b = weir_admin_start(&cfg, &ops, log), *b2 = b ? weir_admin_start(&cfg, &ops, log) : NULL;
	assert_non_null(b);
	assert_null(b2);
	weir_admin_stop(b);
	unlink(tokpath);
	fclose(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prom_text),
		cmocka_unit_test(server),
		cmocka_unit_test(token),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
