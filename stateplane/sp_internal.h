/* SPDX-License-Identifier: Apache-2.0
 * Shared between the state plane's own files only. */
#ifndef WEIR_SP_INTERNAL_H
#define WEIR_SP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <rocksdb/c.h>

#include "sp_io.h"

void sp_snap_path(char *out, size_t n, const char *dir, uint64_t epoch, const char *suffix);
char *sp_manifest_text(cJSON *m, size_t *len);
rocksdb_options_t *sp_rocks_options(const char *logdir, bool create);
int sp_rm_tree(const char *path);
/* The largest epoch named under dir/snapshots (complete or not), 0 none. */
uint64_t sp_newest_epoch(const char *dir);

#endif
