/* SPDX-License-Identifier: Apache-2.0
 * The admin server: Prometheus /metrics, /api/stats and /api/config as JSON, and the
 * live dashboard at /, over HTTP (libmicrohttpd) on a thread of its own, off the
 * polling cores.  It reads what the cores publish and never writes to them.
 */
#ifndef WEIR_ADMIN_H
#define WEIR_ADMIN_H

#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "config.h"

struct weir_admin;

struct weir_admin_ops {
	/* The stats document (the schema of `weir run --stats-json`, live); the
	 * server frees it.  Called on the server's thread. */
	cJSON *(*stats)(void *ctx);
	void *ctx;
};

/* Start the server that cfg->admin describes; prints "weir: admin: listening on
 * http://HOST:PORT/" to log.  NULL (with the reason on log) if it cannot. */
struct weir_admin *weir_admin_start(const struct weir_config *cfg, const struct weir_admin_ops *ops, FILE *log);
/* Before the ports start: can the server start (its token file)?  0, or -1 said on log. */
int weir_admin_check(const struct weir_config *cfg, FILE *log);
/* Stop serving (every connection closed) and free.  NULL is fine. */
void weir_admin_stop(struct weir_admin *a);

/* `weir status`: two samples of the server's /api/stats a second apart, the second
 * with "rates" added (events/s per core, results/s per query, ...).  NULL with err
 * set if the server cannot be asked. */
cJSON *weir_admin_status(const struct weir_config *cfg, char *err, size_t en);
/* ... printed as the terminal picture, or as JSON. */
int weir_admin_status_print(const cJSON *stats, bool json, FILE *f);

/* The stats document as Prometheus text exposition (format 0.0.4), malloc'd. */
char *weir_prom_render(const cJSON *stats);

/* The dashboard page (generated from admin/dashboard.html). */
extern const char weir_dashboard_html[];
extern const unsigned long weir_dashboard_html_len;

#endif
