/* SPDX-License-Identifier: Apache-2.0
 * The dataplane: EAL and ports, RX lcores (decode, sequence tracking, watermarks),
 * worker lcores (window operators) and the sink loop on the main lcore.
 */
#ifndef WEIR_DATAPLANE_H
#define WEIR_DATAPLANE_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

struct weir_run_opts {
	const char *stats_json;   /* write counters here at exit, or NULL */
	const char *argv0;
	int progress;             /* 1: one-line progress each second on stderr; -1: auto (tty) */
	int control_fd;           /* HA: the socket from `weir control` (-1: stand-alone) */
	int control_shm;          /* HA: its shared status block (memfd) */
	bool resync;              /* HA: journal input until control has a snapshot adopted */
};

/* Run the dataplane described by cfg until every source ended (exit_on_eos) or
 * SIGINT/SIGTERM.  Returns the process exit code: 0 on a clean run, 1 on a
 * runtime failure (EAL, ports, sinks), with the reason on stderr. */
int weir_dataplane_run(const struct weir_config *cfg, const struct weir_run_opts *opts);

/* Build the EAL argument vector for cfg (exposed for tests and `weir run --dry-run`).
 * Returns argc; argv points into a static buffer. */
int weir_eal_args(const struct weir_config *cfg, const char *argv0, char **argv, int max, FILE *log);

#ifdef __cplusplus
}
#endif
#endif
