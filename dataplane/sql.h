/* SPDX-License-Identifier: Apache-2.0
 * The SQL front end: a query's `sql = SELECT ...` compiled into the same plan as the
 * INI keys (struct weir_query_cfg) plus expression programs (expr.h).
 *
 * The text is parsed by PostgreSQL's own parser (libpg_query, Debian's libpg-query-dev);
 * this module walks its parse tree and accepts the Flink-style subset weir runs:
 *
 *   SELECT items FROM source [WHERE cond]
 *     [GROUP BY [column,] TUMBLE(event_time, size) | HOP(event_time, slide, size)
 *                       | SESSION(event_time, gap)]
 *     [HAVING cond] [WINDOW name AS (over spec)] [EMIT ON UPDATE | EMIT ON WATERMARK]
 *
 * items over aggregates (COUNT(*), SUM, MIN, MAX, AVG, FIRST_VALUE, LAST_VALUE of any
 * record expression), the group key, window bounds (TUMBLE_START ..., window_start,
 * window_end) and arithmetic; or, without GROUP BY, aggregates OVER (PARTITION BY col
 * ORDER BY event_time RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT ROW) next to the
 * event's own fields (one result per event, HAVING as its threshold); or neither (one
 * result per matching event).  Every error names the offset of the offending token, a
 * message and, where one helps, a hint.
 */
#ifndef WEIR_SQL_H
#define WEIR_SQL_H

#include <stdio.h>

#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

struct weir_sql_err {
	unsigned pos;               /* byte offset into the text of the offending token */
	char msg[256];
	char hint[256];             /* empty: none */
};

/* Compile q->sql_text against cfg's sources into q (source, window, key_field, emit,
 * aggregates, where, derived, having, out, code).  The caller has set name, sink,
 * lateness.  0, or -1 with *err filled. */
int weir_sql_compile(const struct weir_config *cfg, struct weir_query_cfg *q, struct weir_sql_err *err);

/* The token at pos in text (for messages): up to n-1 bytes into buf. */
void weir_sql_token(const char *text, unsigned pos, char *buf, size_t n);

/* `weir explain`: the plan of every query of cfg. */
void weir_explain(const struct weir_config *cfg, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
