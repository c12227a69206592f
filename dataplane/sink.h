/* SPDX-License-Identifier: Apache-2.0
 * Result sinks: JSON Lines to a file, stdout, or UDP datagrams (one object each).
 * Runs off the polling cores (the main lcore); workers hand results over rings. */
#ifndef WEIR_SINK_H
#define WEIR_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "window.h"

#ifdef __cplusplus
extern "C" {
#endif

struct weir_sinks;

/* Open every query's sink (files are created, parent directories too; truncated,
 * or appended to when the run goes on from a snapshot).  NULL on error, with the
 * reason printed to err. */
struct weir_sinks *weir_sinks_open(const struct weir_config *cfg, bool append, FILE *err);
/* Format and write one result.  0, or -errno on a write error (counted). */
int weir_sinks_write(struct weir_sinks *sk, const struct weir_result *r);
/* HA: a result with its place in the pair's output: "term", "worker" (its stream)
 * and "seq" (its number in the stream) follow the aggregates. */
struct weir_result_tag {
	uint64_t term;
	uint32_t worker;
	uint64_t seq;
};
int weir_sinks_write_tagged(struct weir_sinks *sk, const struct weir_result *r,
			    const struct weir_result_tag *tag);
/* Flush buffered output (files, stdout). */
void weir_sinks_flush(struct weir_sinks *sk);
/* Flush and make file sinks durable (fdatasync): a checkpoint's results are on disk
 * before the checkpoint counts.  0, or -1. */
int weir_sinks_sync(struct weir_sinks *sk);
void weir_sinks_close(struct weir_sinks *sk);
unsigned long long weir_sinks_errors(const struct weir_sinks *sk);

/* Format r as one JSON object (no newline) into buf.  Returns its length, or the
 * length it would need (like snprintf) if n is too small. */
size_t weir_result_format(const struct weir_config *cfg, const struct weir_result *r,
			  char *buf, size_t n);
/* Same with the HA tag (NULL: none). */
size_t weir_result_format_tagged(const struct weir_config *cfg, const struct weir_result *r,
				 const struct weir_result_tag *tag, char *buf, size_t n);

/* The highest "seq" per "worker" among the whole (newline-ended) tagged lines in the
 * last `window` bytes of sink file `path`, raised into seq[0..nw) (never lowered).
 * Returns how many streams were raised, or -1 if the file cannot be read.  For the control
 * process after its dataplane died in the middle of a write. */
int weir_sink_file_positions(const char *path, uint64_t *seq, unsigned nw, size_t window);

#ifdef __cplusplus
}
#endif
#endif
