/* SPDX-License-Identifier: Apache-2.0
 * `weir status` for the dataplane: two samples of the admin server's /api/stats, a
 * second apart, printed as the terminal picture of what the dashboard shows (or as
 * JSON with the rates added).
 */
#include "admin.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

struct body { char *p; size_t n; };

static size_t
on_data(char *d, size_t sz, size_t nm, void *u)
{
	struct body *b = u;
	size_t k = sz * nm;
	if (b->n + k > (64u << 20))
		return 0;               /* (stats are far smaller: not a stats server) */
	char *p = realloc(b->p, b->n + k + 1);
	if (!p)
		return 0;
	memcpy(p + b->n, d, k);
	b->p = p;
	b->n += k;
	p[b->n] = '\0';
	return k;
}

static cJSON *
fetch(CURL *c, const char *url, const char *auth, char *err, size_t en)
{
	struct body b = { NULL, 0 };
	struct curl_slist *h = NULL;
	long code = 0;
	cJSON *o = NULL;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	if (auth)
		h = curl_slist_append(h, auth);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	CURLcode rc = curl_easy_perform(c);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		snprintf(err, en, "%s: %s", url, curl_easy_strerror(rc));
	} else if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code), code != 200) {
		snprintf(err, en, "%s: HTTP %ld%s", url, code, code == 401 ? " (token_file?)" : "");
	} else if (!(o = cJSON_Parse(b.p ? b.p : ""))) {
		snprintf(err, en, "%s: not JSON", url);
	}
	free(b.p);
	return o;
}

static double
n(const cJSON *o, const char *k)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(x) ? x->valuedouble : 0;
}

static const char *
s(const cJSON *o, const char *k)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(x) ? x->valuestring : "";
}

/* The member of array a with the same role and index as c (the first sample's core). */
static const cJSON *
same_core(const cJSON *a, const cJSON *c)
{
	const cJSON *x;
	cJSON_ArrayForEach(x, a)
		if (!strcmp(s(x, "role"), s(c, "role")) && n(x, "index") == n(c, "index"))
			return x;
	return NULL;
}

static char *
si(double v, char *b, size_t bn)
{
	if (v >= 1e9)
		snprintf(b, bn, "%.2fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(b, bn, "%.2fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(b, bn, "%.1fk", v / 1e3);
	else
		snprintf(b, bn, "%.0f", v);
	return b;
}

static void
wm_text(const cJSON *o, char *b, size_t bn)
{
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "watermark_ns");
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "watermark_final"))) {
		snprintf(b, bn, "end of input");
	} else if (!cJSON_IsNumber(w)) {
		snprintf(b, bn, "none yet");
	} else {
		double ns = w->valuedouble;
		time_t t = (time_t)floor(ns / 1e9);
		struct tm tm;
		char d[32];
		gmtime_r(&t, &tm);
		strftime(d, sizeof(d), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(b, bn, "%s.%03.0fZ  lag %.3f s", d, floor(fmod(ns, 1e9) / 1e6), n(o, "watermark_lag_s"));
	}
}

/* Rates between samples a and b (dt seconds) added to b as "rates". */
static void
add_rates(cJSON *b, const cJSON *a, double dt)
{
	cJSON *r = cJSON_AddObjectToObject(b, "rates");
	const cJSON *ta = cJSON_GetObjectItem(a, "total"), *tb = cJSON_GetObjectItem(b, "total"), *c, *q;

	cJSON_AddNumberToObject(r, "interval_s", dt);
	cJSON_AddNumberToObject(r, "events_per_s", (n(tb, "rx_events") - n(ta, "rx_events")) / dt);
	cJSON_AddNumberToObject(r, "packets_per_s", (n(tb, "rx_packets") - n(ta, "rx_packets")) / dt);
	cJSON_AddNumberToObject(r, "results_per_s", (n(tb, "results_emitted") - n(ta, "results_emitted")) / dt);
	cJSON_AddNumberToObject(r, "late_per_s", (n(tb, "late_dropped") - n(ta, "late_dropped")) / dt);
	cJSON_AddNumberToObject(r, "bad_per_s", (n(tb, "bad_packets_total") - n(ta, "bad_packets_total")) / dt);
	cJSON *cores = cJSON_AddArrayToObject(r, "cores");
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(b, "cores")) {
		const cJSON *o = same_core(cJSON_GetObjectItem(a, "cores"), c);
		cJSON *x = cJSON_CreateObject();
		bool rx = !strcmp(s(c, "role"), "rx");
		const char *ev = rx ? "rx_events" : "worker_events";
		double busy = n(c, "busy_cycles") - n(o, "busy_cycles"), idle = n(c, "idle_cycles") - n(o, "idle_cycles");
		double blk = n(c, "blocked_cycles") - n(o, "blocked_cycles"), all = busy + idle + blk;
		cJSON_AddStringToObject(x, "role", s(c, "role"));
		cJSON_AddNumberToObject(x, "index", n(c, "index"));
		cJSON_AddNumberToObject(x, "events_per_s", (n(c, ev) - n(o, ev)) / dt);
		cJSON_AddNumberToObject(x, "busy", all > 0 ? busy / all : 0);
		cJSON_AddNumberToObject(x, "blocked", all > 0 ? blk / all : 0);
		cJSON_AddNumberToObject(x, "ring_full_per_s", (n(c, "ring_full") - n(o, "ring_full")) / dt);
		cJSON_AddItemToArray(cores, x);
	}
	cJSON *qs = cJSON_AddObjectToObject(r, "queries");
	cJSON_ArrayForEach(q, cJSON_GetObjectItem(b, "queries")) {
		const cJSON *o = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "queries"), q->string);
		cJSON *x = cJSON_AddObjectToObject(qs, q->string);
		cJSON_AddNumberToObject(x, "results_per_s", (n(q, "results_emitted") - n(o, "results_emitted")) / dt);
		cJSON_AddNumberToObject(x, "late_per_s", (n(q, "late_dropped") - n(o, "late_dropped")) / dt);
	}
}

static void
print_picture(const cJSON *b, FILE *f)
{
	const cJSON *r = cJSON_GetObjectItem(b, "rates"), *t = cJSON_GetObjectItem(b, "total"), *x, *y;
	char b1[32], b2[32], b3[32], b4[32], w[96];

	fprintf(f, "dataplane   weir %s, up %.1f s; %s events/s, %s results/s, %s late/s, %s bad packets/s\n",
		s(b, "version"), n(b, "uptime_s"), si(n(r, "events_per_s"), b1, sizeof(b1)),
		si(n(r, "results_per_s"), b2, sizeof(b2)), si(n(r, "late_per_s"), b3, sizeof(b3)),
		si(n(r, "bad_per_s"), b4, sizeof(b4)));
	fprintf(f, "totals      %.0f events, %.0f results, %.0f late, %.0f bad packets, %.0f ring full, %.0f sink errors\n",
		n(t, "rx_events"), n(t, "results_emitted"), n(t, "late_dropped"), n(t, "bad_packets_total"),
		n(t, "ring_full"), n(t, "sink_errors"));
	fprintf(f, "cores       %-8s %5s %12s %6s %8s %12s\n", "core", "lcore", "events/s", "busy", "blocked", "ring_full/s");
	const cJSON *rc = cJSON_GetObjectItem(r, "cores");
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(b, "cores")) {
		const cJSON *k = same_core(rc, x);
		snprintf(w, sizeof(w), "%s%.0f", s(x, "role"), n(x, "index"));
		fprintf(f, "            %-8s %5.0f %12s %5.1f%% %7.1f%% %12.0f\n", w, n(x, "lcore"),
			si(n(k, "events_per_s"), b1, sizeof(b1)), 100 * n(k, "busy"), 100 * n(k, "blocked"),
			n(k, "ring_full_per_s"));
	}
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(b, "rings")) {
		double cap = n(x, "capacity"), used = n(x, "used");
		fprintf(f, "ring        rx%.0f -> worker%.0f  %.0f / %.0f (%.1f%%)%s\n", n(x, "rx"), n(x, "worker"), used,
			cap, cap > 0 ? 100 * used / cap : 0, cap > 0 && used / cap >= 0.5 ? "  BACKPRESSURE" : "");
	}
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(b, "sources")) {
		wm_text(x, w, sizeof(w));
		fprintf(f, "source      %s (%s): watermark %s\n", x->string, s(x, "format"), w);
	}
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(b, "queries")) {
		const cJSON *k = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "queries"), x->string);
		wm_text(x, w, sizeof(w));
		fprintf(f, "query       %s (from %s): %s results/s, %.0f results, %.0f late, %.0f open windows, %.0f state bytes; "
			"watermark %s\n", x->string, s(x, "source"), si(n(k, "results_per_s"), b1, sizeof(b1)),
			n(x, "results_emitted"), n(x, "late_dropped"), n(x, "open_windows"), n(x, "state_bytes"), w);
	}
	static const char *const groups[] = { "bad_packets", "itch", "line" };
	for (int g = 0; g < 3; g++)
		cJSON_ArrayForEach(y, cJSON_GetObjectItem(t, groups[g]))
			if (cJSON_IsNumber(y) && y->valuedouble > 0)
				fprintf(f, "dropped     %s.%s: %.0f\n", groups[g], y->string, y->valuedouble);
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(b, "ports"))
		fprintf(f, "port        %.0f %s: %.0f packets, %.0f missed, %.0f errors, %.0f no mbuf\n", n(x, "port"),
			s(x, "device"), n(x, "ipackets"), n(x, "imissed"), n(x, "ierrors"), n(x, "rx_nombuf"));
	if ((x = cJSON_GetObjectItem(b, "checkpoints")))
		fprintf(f, "checkpoints %.0f completed, %.0f failed, last epoch %.0f (%.1f ms, %.0f bytes)%s%s\n",
			n(x, "completed"), n(x, "failed"), n(x, "last_epoch"), n(x, "last_duration_ms"),
			n(x, "last_delta_bytes"), s(x, "last_error")[0] ? ", last error: " : "", s(x, "last_error"));
	if ((x = cJSON_GetObjectItem(b, "ha")))
		fprintf(f, "ha gate     %s, term %.0f, %s, %.0f held, lease %.1f ms left\n", s(x, "role"), n(x, "term"),
			s(x, "sync"), n(x, "shadow_len"), 1e3 * n(x, "lease_left_s"));
}

cJSON *
weir_admin_status(const struct weir_config *cfg, char *err, size_t en)
{
	char url[256], auth[300] = "";
	const char *host = cfg->admin_host;
	cJSON *a = NULL, *b = NULL;
	struct timespec t0, t1;

	if (!cfg->admin) {
		snprintf(err, en, "%s has no [admin] section", cfg->path);
		return NULL;
	}
	if (!strcmp(host, "0.0.0.0"))
		host = "127.0.0.1";
	else if (!strcmp(host, "::"))
		host = "::1";
	bool v6 = strchr(host, ':') != NULL;
	snprintf(url, sizeof(url), "http://%s%s%s:%u/api/stats", v6 ? "[" : "", host, v6 ? "]" : "", cfg->admin_port);
	if (cfg->admin_token_file[0]) {
		FILE *f = fopen(cfg->admin_token_file, "r");
		char tok[260] = "";
		if (!f || !fgets(tok, sizeof(tok), f)) {
			snprintf(err, en, "admin token_file %s: %s", cfg->admin_token_file, f ? "empty" : strerror(errno));
			if (f)
				fclose(f);
			return NULL;
		}
		fclose(f);
		tok[strcspn(tok, "\r\n ")] = '\0';
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(err, en, "libcurl: cannot start");
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((a = fetch(c, url, auth[0] ? auth : NULL, err, en))) {
		usleep(1000000);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((b = fetch(c, url, auth[0] ? auth : NULL, err, en))) {
			double dt = n(b, "uptime_s") - n(a, "uptime_s");
			if (dt <= 0)            /* (the same cached document: take the wall clock) */
				dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
			add_rates(b, a, dt);
		}
	}
	cJSON_Delete(a);
	curl_easy_cleanup(c);
	curl_global_cleanup();
	return b;
}

int
weir_admin_status_print(const cJSON *stats, bool json, FILE *f)
{
	if (json) {
		char *t = cJSON_Print(stats);
		if (!t)
			return 1;
		fprintf(f, "%s\n", t);
		free(t);
	} else {
		print_picture(stats, f);
	}
	return 0;
}
