/* SPDX-License-Identifier: Apache-2.0
 * The admin server (see admin.h).
 *
 * libmicrohttpd runs one thread with epoll for every connection.  That thread is
 * started from the main lcore, so it inherits the main lcore's CPU set, never a
 * polling core's, and it runs at a lower priority than the sink loop.  A hostile
 * client meets the library's limits: connections in all and per address, an idle
 * timeout, and a memory bound per connection that answers an oversized request
 * line or header with 414/431.  Documents are built at most every CACHE_NS and
 * shared by the requests in between, so hammering /metrics costs the process one
 * build per interval, not one per request.
 */
#include "admin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#define CACHE_NS   100000000ull         /* 100 ms */
#define TOKEN_MAX  256
#define ADMIN_NICE 10

enum doc { DOC_STATS, DOC_METRICS, DOC_CONFIG, DOC_MAX };

struct weir_admin {
	struct MHD_Daemon *d;
	struct weir_admin_ops ops;
	char token[TOKEN_MAX + 1];      /* empty: no token */
	size_t token_len;
	char *config_json;              /* /api/config, built once */
	struct {                        /* the last build of each document (server thread only) */
		struct MHD_Response *r;
		uint64_t at;
	} cache[DOC_MAX];
};

/* ---- Prometheus text ------------------------------------------------------------------- */

static void
put_num(FILE *f, double v)
{
	if (v == floor(v) && fabs(v) < 9e15)
		fprintf(f, "%.0f\n", v);
	else
		fprintf(f, "%.17g\n", v);
}

/* A label value with \, " and newline escaped. */
static void
put_label(FILE *f, const char *name, const char *v, bool first)
{
	fprintf(f, "%s%s=\"", first ? "" : ",", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP weir_%s %s\n# TYPE weir_%s %s\n", name, help, name, type);
}

/* A number of the document: a JSON number, or a raw integer (ns timestamps are
 * written whole, beyond a double's 53 bits). */
static double
num(const cJSON *o, const char *k, bool *ok)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	*ok = cJSON_IsNumber(x) || (cJSON_IsRaw(x) && x->valuestring[0] != 'n');
	if (!*ok)
		return 0;
	return cJSON_IsNumber(x) ? x->valuedouble : strtod(x->valuestring, NULL);
}

static void
core_labels(FILE *f, const cJSON *c)
{
	char b[32];
	bool ok;

	snprintf(b, sizeof(b), "%.0f", num(c, "lcore", &ok));
	put_label(f, "core", b, true);
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(c, "role");
	put_label(f, "role", cJSON_IsString(role) ? role->valuestring : "?", false);
	snprintf(b, sizeof(b), "%.0f", num(c, "index", &ok));
	put_label(f, "index", b, false);
}

/* Per-core scalars: stats key, metric name, type, help. */
static const struct field {
	const char *key, *name, *type, *help;
	double scale;                   /* 0: 1 */
} core_fields[] = {
	{ "rx_packets", "rx_packets_total", "counter", "Packets taken by the RX core.", 0 },
	{ "rx_events", "rx_events_total", "counter", "Events decoded by the RX core.", 0 },
	{ "seq_duplicates", "seq_duplicates_total", "counter", "Records dropped as duplicates of sequence numbers already applied.", 0 },
	{ "seq_gaps", "seq_gaps_total", "counter", "Sequence numbers missed (gaps).", 0 },
	{ "replay_skipped", "replay_skipped_total", "counter", "Events below a restored position (already in the snapshot).", 0 },
	{ "resync_gaps", "resync_gaps_total", "counter", "Producers whose input after a restored snapshot was missed.", 0 },
	{ "journal_frames", "journal_frames_total", "counter", "Frames journaled during an HA resync.", 0 },
	{ "journal_dropped", "journal_dropped_total", "counter", "Journaled frames lost to a full journal.", 0 },
	{ "ring_full", "ring_full_total", "counter", "Times a worker ring was found full (backpressure).", 0 },
	{ "ring_dropped", "ring_dropped_total", "counter", "Events dropped on a full ring (backpressure = drop).", 0 },
	{ "key_map_missed", "key_map_missed_total", "counter", "Events whose key the source's key_map does not hold.", 0 },
	{ "worker_events", "worker_events_total", "counter", "Records processed by the worker.", 0 },
	{ "late_dropped", "late_dropped_total", "counter", "Events later than their window's allowed lateness.", 0 },
	{ "results_emitted", "results_emitted_total", "counter", "Results emitted.", 0 },
	{ "sum_overflow", "sum_overflow_total", "counter", "Integer sums that saturated.", 0 },
	{ "checkpoint_deltas", "checkpoint_deltas_total", "counter", "Checkpoint deltas handed to the state plane.", 0 },
	{ "open_windows", "open_windows", "gauge", "Windows open on the worker.", 0 },
	{ "state_bytes", "state_bytes", "gauge", "Bytes of window state held by the worker.", 0 },
	{ "checkpoint_pause_max_us", "checkpoint_pause_max_seconds", "gauge",
	  "Longest share of a loop turn the worker spent on a checkpoint.", 1e-6 },
};

typedef void label_fn(FILE *f, const cJSON *item, const void *arg);

/* One family: field fd of every item of `set` (of its sub-object `sub` when not NULL),
 * labelled by `labels`; nothing at all when no item has the field. */
static void
samples(FILE *f, const cJSON *set, const char *sub, const struct field *fd, label_fn *labels, const void *arg)
{
	const cJSON *it;
	bool ok, any = false;

	cJSON_ArrayForEach(it, set) {
		double v = num(sub ? cJSON_GetObjectItemCaseSensitive(it, sub) : it, fd->key, &ok);
		if (!ok)
			continue;
		if (!any)
			family(f, fd->name, fd->type, fd->help);
		any = true;
		fprintf(f, "weir_%s{", fd->name);
		labels(f, it, arg);
		fputs("} ", f);
		put_num(f, fd->scale ? v * fd->scale : v);
	}
}

static void
core_label_fn(FILE *f, const cJSON *c, const void *arg)
{
	(void)arg;
	core_labels(f, c);
}

/* Counters by reason under object `obj` of each core, skipping keys in `not`. */
static void
core_reasons(FILE *f, const cJSON *cores, const char *obj, const char *name, const char *help,
	     const char *const *not)
{
	const cJSON *c, *x;
	bool any = false;

	cJSON_ArrayForEach(c, cores) {
		cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(c, obj)) {
			bool skip = !cJSON_IsNumber(x);
			for (int i = 0; not && not[i] && !skip; i++)
				skip = !strcmp(x->string, not[i]);
			if (skip)
				continue;
			if (!any)
				family(f, name, "counter", help);
			any = true;
			fprintf(f, "weir_%s{", name);
			core_labels(f, c);
			put_label(f, "reason", x->string, false);
			fputs("} ", f);
			put_num(f, x->valuedouble);
		}
	}
}

static const char *const itch_other[] = { "unknown_ref", "rerequests", "recovered", "recovery_timeouts", NULL };
static const struct field itch_fields[] = {
	{ "unknown_ref", "itch_unknown_ref_total", "counter", "ITCH messages for an order the book does not hold.", 0 },
	{ "rerequests", "itch_rerequests_total", "counter", "MoldUDP64 retransmission requests sent.", 0 },
	{ "recovered", "itch_recovered_total", "counter", "ITCH messages that came by retransmission.", 0 },
	{ "recovery_timeouts", "itch_recovery_timeouts_total", "counter", "MoldUDP64 gaps given up.", 0 },
};
static const struct field book_fields[] = {
	{ "live", "order_book_live", "gauge", "Orders held in the RX core's books.", 0 },
	{ "high_water", "order_book_high_water", "gauge", "Most orders held at once.", 0 },
	{ "table_full", "order_book_table_full_total", "counter", "Orders dropped on a full order table.", 0 },
	{ "memory_bytes", "order_book_memory_bytes", "gauge", "Bytes allocated for the order books.", 0 },
	{ "price_levels", "order_book_price_levels", "gauge", "Price levels held.", 0 },
	{ "level_full", "order_book_level_full_total", "counter", "Price levels dropped on a full pool.", 0 },
};
static const char *const line_other[] = { "no_timestamp", NULL };
static const struct field line_fields[] = {
	{ "no_timestamp", "line_no_timestamp_total", "counter", "Lines without a timestamp (arrival time taken).", 0 },
};

/* A member of queries or sources: `arg`=its name (and source=its source when it has one). */
static void
named_labels(FILE *f, const cJSON *m, const void *arg)
{
	put_label(f, arg, m->string, true);
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(m, "source");
	if (cJSON_IsString(src))
		put_label(f, "source", src->valuestring, false);
}

static const struct field query_fields[] = {
	{ "results_emitted", "query_results_emitted_total", "counter", "Results the query emitted.", 0 },
	{ "late_dropped", "query_late_dropped_total", "counter", "Events the query dropped as late.", 0 },
	{ "filtered", "query_filtered_total", "counter", "Events the query's filter left out.", 0 },
	{ "rejected", "query_having_rejected_total", "counter", "Results the query's HAVING left out.", 0 },
	{ "sum_overflow", "query_sum_overflow_total", "counter", "Integer sums of the query that saturated.", 0 },
	{ "alloc_failed", "query_alloc_failed_total", "counter", "Windows the query could not allocate.", 0 },
	{ "open_windows", "query_open_windows", "gauge", "Windows open for the query.", 0 },
	{ "state_bytes", "query_state_bytes", "gauge", "Bytes of the query's window state.", 0 },
	{ "watermark_ns", "query_watermark_seconds", "gauge", "The query's event-time watermark (Unix time).", 1e-9 },
	{ "watermark_lag_s", "query_watermark_lag_seconds", "gauge", "Wall clock minus the query's watermark.", 0 },
};
static const struct field source_fields[] = {
	{ "watermark_ns", "source_watermark_seconds", "gauge", "The source's event-time watermark (Unix time).", 1e-9 },
	{ "watermark_lag_s", "source_watermark_lag_seconds", "gauge", "Wall clock minus the source's watermark.", 0 },
};

/* An element of rings or ports: labels named by `arg` (label, key, label, key, ..., NULL)
 * from the element's numbers or strings. */
static void
listed_labels(FILE *f, const cJSON *e, const void *arg)
{
	const char *const *labels = arg;
	char b[32];

	for (int i = 0; labels[i]; i += 2) {
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(e, labels[i + 1]);
		if (cJSON_IsString(l)) {
			put_label(f, labels[i], l->valuestring, i == 0);
		} else {
			snprintf(b, sizeof(b), "%.0f", cJSON_IsNumber(l) ? l->valuedouble : -1);
			put_label(f, labels[i], b, i == 0);
		}
	}
}

static const struct field ring_fields[] = {
	{ "used", "ring_used", "gauge", "Records waiting in the RX core's ring to the worker.", 0 },
	{ "capacity", "ring_capacity", "gauge", "Records the ring holds at most.", 0 },
};
static const struct field port_fields[] = {
	{ "ipackets", "port_rx_packets_total", "counter", "Packets the port received (its own counter).", 0 },
	{ "ibytes", "port_rx_bytes_total", "counter", "Bytes the port received.", 0 },
	{ "imissed", "port_imissed_total", "counter", "Packets the port dropped: RX queues full.", 0 },
	{ "ierrors", "port_ierrors_total", "counter", "Erroneous packets the port received.", 0 },
	{ "rx_nombuf", "port_rx_nombuf_total", "counter", "RX mbuf allocation failures.", 0 },
	{ "opackets", "port_tx_packets_total", "counter", "Packets the port sent.", 0 },
	{ "obytes", "port_tx_bytes_total", "counter", "Bytes the port sent.", 0 },
	{ "oerrors", "port_tx_errors_total", "counter", "Packets the port failed to send.", 0 },
};

/* Plain fields of one object, no labels. */
static void
plain(FILE *f, const cJSON *o, const struct field *fd, size_t n)
{
	bool ok;

	for (size_t i = 0; o && i < n; i++) {
		double v = num(o, fd[i].key, &ok);
		if (!ok)
			continue;
		family(f, fd[i].name, fd[i].type, fd[i].help);
		fprintf(f, "weir_%s ", fd[i].name);
		put_num(f, fd[i].scale ? v * fd[i].scale : v);
	}
}

static const struct field global_fields[] = {
	{ "uptime_s", "uptime_seconds", "gauge", "Seconds since the cores started.", 0 },
	{ "tsc_hz", "tsc_hz", "gauge", "TSC ticks per second (core cycle counters are in ticks).", 0 },
};
static const struct field ckpt_fields[] = {
	{ "completed", "checkpoints_completed_total", "counter", "Checkpoints completed.", 0 },
	{ "failed", "checkpoints_failed_total", "counter", "Checkpoints that failed.", 0 },
	{ "last_epoch", "checkpoint_last_epoch", "gauge", "Epoch of the last completed checkpoint.", 0 },
	{ "last_duration_ms", "checkpoint_last_duration_seconds", "gauge", "Duration of the last checkpoint.", 1e-3 },
	{ "max_duration_ms", "checkpoint_max_duration_seconds", "gauge", "Longest checkpoint.", 1e-3 },
	{ "last_delta_bytes", "checkpoint_last_delta_bytes", "gauge", "Bytes of the last checkpoint's delta.", 0 },
	{ "last_files_bytes", "checkpoint_last_files_bytes", "gauge", "Bytes of the last snapshot's files.", 0 },
	{ "delta_bytes", "checkpoint_delta_bytes_total", "counter", "Bytes of every checkpoint delta.", 0 },
};
static const struct field ha_fields[] = {
	{ "term", "ha_term", "gauge", "The HA term of the last command from weir control.", 0 },
	{ "gate_open", "ha_gate_open", "gauge", "1 while this node writes results (primary).", 0 },
	{ "shadow_len", "ha_shadow_results", "gauge", "Results held by the standby's gate.", 0 },
	{ "shadow_dropped", "ha_shadow_dropped_total", "counter", "Held results lost to a full shadow.", 0 },
	{ "digest_checks", "ha_digest_checks_total", "counter", "Stream digests compared with the primary's.", 0 },
	{ "digest_mismatches", "ha_digest_mismatches_total", "counter", "Stream digests that differed.", 0 },
	{ "lease_left_s", "ha_lease_left_seconds", "gauge", "What is left of the emit lease.", 0 },
	{ "heartbeat_age_s", "ha_heartbeat_age_seconds", "gauge", "Since the last lease command from weir control.", 0 },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

char *
weir_prom_render(const cJSON *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const cJSON *cores = cJSON_GetObjectItemCaseSensitive(st, "cores");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, "version");
	bool ok;

	if (!f)
		return NULL;
	family(f, "build_info", "gauge", "The weir build (value 1).");
	fputs("weir_build_info{", f);
	put_label(f, "version", cJSON_IsString(v) ? v->valuestring : "?", true);
	fputs("} 1\n", f);
	plain(f, st, global_fields, N(global_fields));
	for (size_t i = 0; i < N(core_fields); i++)
		samples(f, cores, NULL, &core_fields[i], core_label_fn, NULL);
	core_reasons(f, cores, "bad_packets", "bad_packets_total", "Packets dropped by the RX core, by reason.", NULL);
	core_reasons(f, cores, "itch", "itch_dropped_total",
		     "ITCH datagrams and messages dropped (msg_skipped: stepped over), by reason.", itch_other);
	for (size_t i = 0; i < N(itch_fields); i++)
		samples(f, cores, "itch", &itch_fields[i], core_label_fn, NULL);
	for (size_t i = 0; i < N(book_fields); i++)
		samples(f, cores, "order_book", &book_fields[i], core_label_fn, NULL);
	core_reasons(f, cores, "line", "line_dropped_total", "Line-protocol lines dropped, by reason.", line_other);
	for (size_t i = 0; i < N(line_fields); i++)
		samples(f, cores, "line", &line_fields[i], core_label_fn, NULL);
	/* the cores' time by what they did, in TSC cycles */
	static const char *const states[] = { "busy", "idle", "blocked" };
	family(f, "core_cycles_total", "counter",
	       "TSC cycles of the core's loop turns that did work (busy), found none (idle) or waited on a full ring (blocked).");
	const cJSON *c;
	cJSON_ArrayForEach(c, cores)
		for (int s = 0; s < 3; s++) {
			char key[32];
			snprintf(key, sizeof(key), "%s_cycles", states[s]);
			double x = num(c, key, &ok);
			if (!ok)
				continue;
			fputs("weir_core_cycles_total{", f);
			core_labels(f, c);
			put_label(f, "state", states[s], false);
			fputs("} ", f);
			put_num(f, x);
		}
	for (size_t i = 0; i < N(query_fields); i++)
		samples(f, cJSON_GetObjectItemCaseSensitive(st, "queries"), NULL, &query_fields[i], named_labels, "query");
	for (size_t i = 0; i < N(source_fields); i++)
		samples(f, cJSON_GetObjectItemCaseSensitive(st, "sources"), NULL, &source_fields[i], named_labels,
			"source");
	static const char *const ring_labels[] = { "rx", "rx", "worker", "worker", NULL };
	for (size_t i = 0; i < N(ring_fields); i++)
		samples(f, cJSON_GetObjectItemCaseSensitive(st, "rings"), NULL, &ring_fields[i], listed_labels,
			ring_labels);
	static const char *const port_labels[] = { "port", "port", "device", "device", NULL };
	for (size_t i = 0; i < N(port_fields); i++)
		samples(f, cJSON_GetObjectItemCaseSensitive(st, "ports"), NULL, &port_fields[i], listed_labels,
			port_labels);
	const cJSON *tot = cJSON_GetObjectItemCaseSensitive(st, "total");
	double se = num(tot, "sink_errors", &ok);
	if (ok) {
		family(f, "sink_errors_total", "counter", "Results that could not be written to their sinks.");
		fputs("weir_sink_errors_total ", f);
		put_num(f, se);
	}
	plain(f, cJSON_GetObjectItemCaseSensitive(st, "checkpoints"), ckpt_fields, N(ckpt_fields));
	plain(f, cJSON_GetObjectItemCaseSensitive(st, "ha"), ha_fields, N(ha_fields));
	const cJSON *ha = cJSON_GetObjectItemCaseSensitive(st, "ha");
	const cJSON *sync = cJSON_GetObjectItemCaseSensitive(ha, "sync");
	if (cJSON_IsString(sync)) {
		family(f, "ha_in_sync", "gauge", "1 while this node's result streams match the primary's.");
		fprintf(f, "weir_ha_in_sync %d\n", !strcmp(sync->valuestring, "in sync"));
	}
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- the server ------------------------------------------------------------------------ */

static uint64_t
mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static enum MHD_Result
answer(struct MHD_Connection *c, unsigned code, const char *type, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
								 MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (code == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"weir\"");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, "Allow", "GET, HEAD");
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static bool
authorized(const struct weir_admin *a, struct MHD_Connection *c)
{
	if (!a->token_len)
		return true;
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7))
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	size_t n = strlen(h);
	uint8_t diff = n != a->token_len;
	for (size_t i = 0; i < a->token_len; i++)    /* the same time whatever matches */
		diff |= (uint8_t)(a->token[i] ^ (i < n ? h[i] : 0));
	return !diff;
}

/* The response for a document, rebuilt when older than CACHE_NS. */
static struct MHD_Response *
doc(struct weir_admin *a, enum doc which)
{
	uint64_t now = mono_ns();

	if (a->cache[which].r && now - a->cache[which].at < CACHE_NS)
		return a->cache[which].r;
	char *txt = NULL;
	const char *type = "application/json";
	if (which == DOC_CONFIG) {
		txt = strdup(a->config_json);
	} else {
		cJSON *st = a->ops.stats(a->ops.ctx);
		if (st)
			txt = which == DOC_STATS ? cJSON_PrintUnformatted(st) : weir_prom_render(st);
		cJSON_Delete(st);
		if (which == DOC_METRICS)
			type = "text/plain; version=0.0.4; charset=utf-8";
	}
	if (!txt)
		return NULL;
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(txt), txt, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(txt);
		return NULL;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (a->cache[which].r)
		MHD_destroy_response(a->cache[which].r);
	a->cache[which].r = r;
	a->cache[which].at = now;
	return r;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
	const char *upload, size_t *upload_len, void **state)
{
	struct weir_admin *a = cls;
	static __thread bool niced;

	(void)version;
	(void)upload;
	if (!niced) {                   /* below the sink loop sharing this CPU */
		setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), ADMIN_NICE);
		niced = true;
	}
	/* (on the first call: MHD closes the connection after it and never reads a body) */
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "only GET and HEAD\n");
	/* GET and HEAD are answered on the last call, once the request is read whole: a
	 * response queued on the first call makes MHD close the connection (no keep-alive) */
	if (*upload_len) {              /* a body on a GET: ignored */
		*upload_len = 0;
		return MHD_YES;
	}
	if (!*state) {
		*state = a;
		return MHD_YES;
	}
	if (!strcmp(url, "/") || !strcmp(url, "/index.html")) {
		struct MHD_Response *r = MHD_create_response_from_buffer(
			weir_dashboard_html_len, (void *)(uintptr_t)weir_dashboard_html, MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
		MHD_add_response_header(r, "Content-Security-Policy",
					"default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
					"frame-ancestors 'none'");
		MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
		enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (!strcmp(url, "/favicon.ico"))       /* (browsers ask: no icon, no error) */
		return answer(c, MHD_HTTP_NO_CONTENT, "image/x-icon", "");
	enum doc which;
	if (!strcmp(url, "/metrics"))
		which = DOC_METRICS;
	else if (!strcmp(url, "/api/stats"))
		which = DOC_STATS;
	else if (!strcmp(url, "/api/config"))
		which = DOC_CONFIG;
	else
		return answer(c, MHD_HTTP_NOT_FOUND, "text/plain",
			      "not found: try /, /metrics, /api/stats or /api/config\n");
	if (!authorized(a, c))
		return answer(c, MHD_HTTP_UNAUTHORIZED, "text/plain", "a bearer token is required\n");
	struct MHD_Response *r = doc(a, which);
	if (!r)
		return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "out of memory\n");
	return MHD_queue_response(c, MHD_HTTP_OK, r);
}

/* The path as MHD would decode it, except that a %00 stays encoded: decoded, it would cut
 * the C string ("/metrics%00junk" would be served as /metrics); left as is, no route
 * matches it (404). */
static size_t
unescape_keep_nul(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	if (strstr(s, "%00"))
		return strlen(s);
	return MHD_http_unescape(s);
}

static int
load_token(struct weir_admin *a, const char *path, FILE *log)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		fprintf(log, "weir: admin: token_file %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 0077))
		fprintf(log, "weir: warning: admin token file %s is readable by group or others\n", path);
	n = read(fd, a->token, TOKEN_MAX + 1);
	close(fd);
	while (n > 0 && (a->token[n - 1] == '\n' || a->token[n - 1] == '\r' || a->token[n - 1] == ' '))
		n--;
	if (n < 8 || n > TOKEN_MAX) {
		fprintf(log, "weir: admin: token_file %s: the token must be 8 to %d bytes\n", path, TOKEN_MAX);
		return -1;
	}
	for (ssize_t i = 0; i < n; i++)
		if ((unsigned char)a->token[i] <= ' ' || (unsigned char)a->token[i] >= 127) {
			fprintf(log, "weir: admin: token_file %s: the token must be printable ASCII without spaces\n",
				path);
			return -1;
		}
	a->token[n] = '\0';
	a->token_len = (size_t)n;
	return 0;
}

static char *
config_json(const struct weir_config *cfg)
{
	char *txt = NULL, *out;
	size_t len = 0;
	FILE *f = open_memstream(&txt, &len);

	if (!f)
		return NULL;
	weir_config_dump(cfg, f);
	fclose(f);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", cfg->path);
	cJSON_AddStringToObject(o, "text", txt ? txt : "");
	out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	free(txt);
	return out;
}

int
weir_admin_check(const struct weir_config *cfg, FILE *log)
{
	struct weir_admin a = { 0 };

	if (!cfg->admin || !cfg->admin_token_file[0])
		return 0;
	int rc = load_token(&a, cfg->admin_token_file, log);
	explicit_bzero(a.token, sizeof(a.token));
	return rc;
}

struct weir_admin *
weir_admin_start(const struct weir_config *cfg, const struct weir_admin_ops *ops, FILE *log)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM }, *ai;
	struct weir_admin *a = calloc(1, sizeof(*a));
	char port[8];
	int e;

	if (!a)
		return NULL;
	a->ops = *ops;
	if (cfg->admin_token_file[0] && load_token(a, cfg->admin_token_file, log))
		goto fail;
	if (!(a->config_json = config_json(cfg)))
		goto fail;
	snprintf(port, sizeof(port), "%u", cfg->admin_port);
	if ((e = getaddrinfo(cfg->admin_host, port, &hints, &ai))) {
		fprintf(log, "weir: admin: listen %s: %s (a numeric address is needed)\n", cfg->admin_host,
			gai_strerror(e));
		goto fail;
	}
	/* Reached from other hosts, one address holds at most a quarter of the
	 * connections; on loopback every client is this host's (Prometheus, weir
	 * status, a browser), so no address limit */
	bool loopback = ai->ai_family == AF_INET6 ?
		IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr) :
		(ntohl(((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) >> 24) == 127;
	unsigned per_ip = loopback ? 0 : (cfg->admin_max_clients >= 4 ? (unsigned)cfg->admin_max_clients / 4 : 1u);
	a->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
				(ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				0, NULL, NULL, handler, a,
				MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->admin_max_clients,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
				MHD_OPTION_UNESCAPE_CALLBACK, unescape_keep_nul, NULL,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->admin_timeout / 1000000000),
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
				MHD_OPTION_LISTEN_BACKLOG_SIZE, 64u,
				MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!a->d) {
		fprintf(log, "weir: admin: cannot listen on %s:%u: %s\n", cfg->admin_host, cfg->admin_port,
			strerror(errno));
		goto fail;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
	bool v6 = strchr(cfg->admin_host, ':') != NULL;
	fprintf(log, "weir: admin: listening on http://%s%s%s:%u/\n", v6 ? "[" : "", cfg->admin_host, v6 ? "]" : "",
		di ? di->port : cfg->admin_port);
	return a;
fail:
	free(a->config_json);
	free(a);
	return NULL;
}

void
weir_admin_stop(struct weir_admin *a)
{
	if (!a)
		return;
	MHD_stop_daemon(a->d);
	for (int i = 0; i < DOC_MAX; i++)
		if (a->cache[i].r)
			MHD_destroy_response(a->cache[i].r);
	free(a->config_json);
	explicit_bzero(a->token, sizeof(a->token));
	free(a);
}
