/* SPDX-License-Identifier: Apache-2.0
 * `weir control`, `weir witness` and the commands that talk to a control process
 * (`weir status|failover|failback|checkpoint`). */
#ifndef WEIR_CONTROL_H
#define WEIR_CONTROL_H

#include <stdbool.h>

#include "config.h"

/* The control process of one node: supervises `weir run` (exe), pairs with the
 * peer.  Returns the exit code. */
int weir_control_main(const struct weir_config *cfg, const char *config_path, const char *exe);

/* `weir witness --listen ADDR:PORT --secret-file F --dir D [--realtime]` */
int weir_witness_main(int argc, char **argv);

/* Send one command ("status", "failover", "failback", "checkpoint") to the control
 * process at socket path; print its answer (JSON, or text for status).  Exit code. */
int weir_ctl_command(const char *socket_path, const char *cmd, bool json);
/* The control process's answer to cmd (NULL, said on stderr, if none). */
struct cJSON *weir_ctl_fetch(const char *socket_path, const char *cmd);

#endif
