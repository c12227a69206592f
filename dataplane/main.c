/* SPDX-License-Identifier: Apache-2.0
 * weir: the command line.  `weir run CONFIG` is the dataplane. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "sql.h"
#include "control.h"
#include "dataplane.h"
#include "numa.h"
#include "stateplane.h"

/* jemalloc (linked in): an arena per CPU, so window state that a worker allocates
 * and touches first comes from its own NUMA node. */
const char *malloc_conf = "percpu_arena:percpu";

#define WEIR_DEFAULT_CAPTURE "/tmp/weir-demo.pcap"

/* The embedded default: a demo over a capture made by `weir-gen` (see README). */
static const char default_config[] =
	"[dataplane]\n"
	"devices = net_pcap0,rx_pcap=" WEIR_DEFAULT_CAPTURE "\n"
	"rx_cores = 1\n"
	"workers = 1\n"
	"exit_on_eos = true\n"
	"\n"
	"[source tx]\n"
	"format = wev\n"
	"udp_port = 7000\n"
	"schema_id = 1\n"
	"fields = amount:i64, merchant:u64\n"
	"watermark_delay = 50ms\n"
	"\n"
	"[query spend]\n"
	"from = tx\n"
	"window = tumbling 1s\n"
	"aggregates = count, sum(amount), min(amount), max(amount), avg(amount), first(merchant), last(merchant)\n"
	"sink = stdout\n";

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: weir run [CONFIG] [--stats-json FILE] [--progress | --no-progress]\n"
		"       weir check CONFIG        validate CONFIG and print it as weir understood it\n"
		"       weir explain CONFIG      each query's plan: partition key, filter, window, aggregates,\n"
		"                                computed columns, HAVING, emission and result fields\n"
		"       weir eal-args CONFIG     print the EAL arguments weir would use\n"
		"       weir topology [CONFIG] [--json] [--synthetic DESC | --xml FILE]\n"
		"                                the machine (hwloc) and the lcore plan for CONFIG\n"
		"       weir state list DIR      the snapshots under state directory DIR, newest first\n"
		"       weir state verify DIR    check the newest snapshot a restore would use\n"
		"       weir state ship DIR HOST:PORT [--epoch N]\n"
		"                                send a snapshot (default: the newest valid) to a receiver\n"
		"       weir state receive DIR --listen ADDR:PORT [--retain N] [--count N]\n"
		"                                receive N snapshots (0: for ever) into DIR\n"
		"       weir control CONFIG      the HA control process of one node: runs and supervises\n"
		"                                the dataplane, pairs with the peer ([ha] section)\n"
		"       weir witness --listen ADDR:PORT --secret-file FILE --dir DIR [--realtime]\n"
		"                                the third vote of an HA pair\n"
		"       weir status CONFIG|--socket PATH [--json]   the HA pair ([ha]) and the dataplane ([admin])\n"
		"                                role, term, peer, witness and dataplane of a node\n"
		"       weir failover CONFIG|--socket PATH\n"
		"                                planned switchover to the other node\n"
		"       weir failback CONFIG|--socket PATH\n"
		"                                planned switchover back to the preferred node\n"
		"       weir checkpoint CONFIG|--socket PATH\n"
		"                                take a checkpoint now\n"
		"       weir version\n"
		"Without CONFIG, `weir run` uses the embedded default: a 1 s tumbling spend query over\n"
		WEIR_DEFAULT_CAPTURE " (make one with: weir-gen --out " WEIR_DEFAULT_CAPTURE ").\n"
		"Exit codes: 0 done, 1 runtime failure, 2 bad usage or configuration.\n");
}

static int
load(const char *path, struct weir_config *cfg)
{
	if (!path)
		return weir_config_load_string("<embedded default>", default_config, cfg, stderr);
	return weir_config_load(path, cfg, stderr);
}

/* `weir state ...`: the snapshot store, without a running dataplane. */
static int
state_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "epoch", required_argument, NULL, 'e' },
		{ "listen", required_argument, NULL, 'l' },
		{ "retain", required_argument, NULL, 'r' },
		{ "count", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long epoch = 0, retain = 3, count = 1;
	const char *listen = NULL;
	char err[512], *end;
	int c;

	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		unsigned long long *x = c == 'e' ? &epoch : c == 'r' ? &retain : c == 'c' ? &count : NULL;
		if (c == 'l') {
			listen = optarg;
			continue;
		}
		if (!x) {
			usage(stderr);
			return 2;
		}
		errno = 0;
		*x = strtoull(optarg, &end, 10);
		if (errno || *end || !*optarg || optarg[0] == '-' || (c == 'r' && !*x)) {
			fprintf(stderr, "weir state: bad number '%s'\n", optarg);
			return 2;
		}
	}
	const char *sub = optind < argc ? argv[optind++] : "";
	const char *dir = optind < argc ? argv[optind++] : NULL;
	const char *peer = !strcmp(sub, "ship") && optind < argc ? argv[optind++] : NULL;
	if (!dir || optind < argc || (!strcmp(sub, "ship") && !peer) || (!strcmp(sub, "receive") && !listen) ||
	    ((epoch || listen) && strcmp(sub, "ship") && strcmp(sub, "receive"))) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(sub, "list"))
		return sp_snap_list(dir, stdout) < 0 ? 1 : 0;
	if (!strcmp(sub, "verify")) {
		struct sp_snap s;
		int r = sp_snap_find(dir, NULL, &s, stderr, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "weir state: %s\n", err);
			return 1;
		}
		if (r == 0) {
			printf("no snapshot in %s\n", dir);
			return 1;
		}
		printf("epoch %llu: valid (%u shards) %s\n", (unsigned long long)s.epoch, s.nshards, s.dir);
		sp_snap_free(&s);
		return 0;
	}
	if (!strcmp(sub, "ship")) {
		if (sp_ship_send(dir, epoch, peer, stderr, err, sizeof(err))) {
			fprintf(stderr, "weir state: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (!strcmp(sub, "receive")) {
		uint16_t port;
		int lfd = sp_listen(listen, &port, err, sizeof(err));
		if (lfd < 0) {
			fprintf(stderr, "weir state: %s\n", err);
			return 1;
		}
		fprintf(stderr, "weir: state: receiving snapshots into %s on port %u\n", dir, port);
		int rc = 0;
		for (unsigned long long i = 0; !count || i < count; i++)
			if (!sp_ship_recv(dir, lfd, (unsigned)retain, stderr, err, sizeof(err))) {
				fprintf(stderr, "weir state: %s\n", err);
				rc = 1;
			}
		close(lfd);
		return rc;
	}
	usage(stderr);
	return 2;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stats-json", required_argument, NULL, 's' },
		{ "progress", no_argument, NULL, 'p' },
		{ "no-progress", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "synthetic", required_argument, NULL, 'y' },
		{ "xml", required_argument, NULL, 'x' },
		{ "control-fd", required_argument, NULL, 'C' },
		{ "control-shm", required_argument, NULL, 'M' },
		{ "socket", required_argument, NULL, 'S' },
		{ "resync", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct weir_run_opts ro = { .progress = -1, .argv0 = argv[0], .control_fd = -1, .control_shm = -1 };
	const char *sock = NULL;
	struct weir_config *cfg;
	const char *cmd, *path = NULL;
	char topo_src[1024] = "";
	bool json = false;
	int c, rc;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("weir %s\n", WEIR_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "state"))
		return state_main(argc, argv);
	if (!strcmp(cmd, "witness"))
		return weir_witness_main(argc - 1, argv + 1);
	bool ctl = !strcmp(cmd, "status") || !strcmp(cmd, "failover") || !strcmp(cmd, "failback") ||
		   !strcmp(cmd, "checkpoint");
	if (strcmp(cmd, "run") && strcmp(cmd, "check") && strcmp(cmd, "explain") && strcmp(cmd, "eal-args") &&
	    strcmp(cmd, "topology") &&
	    strcmp(cmd, "control") && !ctl) {
		fprintf(stderr, "weir: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': ro.stats_json = optarg; break;
		case 'p': ro.progress = 1; break;
		case 'q': ro.progress = 0; break;
		case 'h': usage(stdout); return 0;
		case 'j': json = true; break;
		case 'y': snprintf(topo_src, sizeof(topo_src), "synthetic:%s", optarg); break;
		case 'x': snprintf(topo_src, sizeof(topo_src), "xml:%s", optarg); break;
		case 'C': ro.control_fd = atoi(optarg); break;
		case 'M': ro.control_shm = atoi(optarg); break;
		case 'R': ro.resync = true; break;
		case 'S': sock = optarg; break;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		path = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "weir: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if ((topo_src[0] || json) && strcmp(cmd, "topology") && !ctl) {
		fprintf(stderr, "weir %s: --json, --synthetic and --xml go with `weir topology`\n", cmd);
		return 2;
	}
	if ((ro.control_fd >= 0) != (ro.control_shm >= 0) || (ro.control_fd >= 0 && strcmp(cmd, "run")) ||
	    (ro.resync && ro.control_fd < 0)) {
		fprintf(stderr, "weir: --control-fd, --control-shm (and --resync) come together, from `weir control`\n");
		return 2;
	}
	if (sock && !ctl) {
		fprintf(stderr, "weir %s: --socket goes with status, failover, failback and checkpoint\n", cmd);
		return 2;
	}
	if (ctl && sock && !path)
		return weir_ctl_command(sock, cmd, json);
	if (!path && strcmp(cmd, "run") && strcmp(cmd, "topology")) {
		fprintf(stderr, "weir %s: CONFIG is required\n", cmd);
		return 2;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return 1;
	if (load(path, cfg)) {
		free(cfg);
		return 2;
	}
	if (!strcmp(cmd, "topology")) {
		struct weir_topo *t = calloc(1, sizeof(*t));
		struct weir_plan *p = calloc(1, sizeof(*p));
		rc = 1;
		if (t && p && weir_topo_load(t, topo_src[0] ? topo_src : NULL, stderr) == 0) {
			rc = 2;
			if (weir_plan_make(t, cfg, p, stderr) == 0) {
				weir_topo_print(t, cfg, p, json, stdout);
				rc = 0;
			}
		}
		free(t);
		free(p);
	} else if (!strcmp(cmd, "status") && cfg->admin) {
		/* the dataplane through its admin server; with [ha], the control process's
		 * status first (as JSON: under "control") */
		char err[512];
		cJSON *ctl_st = NULL, *dp = weir_admin_status(cfg, err, sizeof(err));
		rc = 0;
		if (cfg->ha_node[0]) {
			if (json) {
				ctl_st = weir_ctl_fetch(cfg->ha_socket, "status");
			} else {
				rc = weir_ctl_command(cfg->ha_socket, "status", false);
			}
			if (!ctl_st && json)
				rc = 1;
		}
		if (!dp) {
			fprintf(stderr, "weir status: the dataplane's admin server: %s\n", err);
			rc = 1;
		}
		if (json) {
			cJSON *o = dp ? dp : cJSON_CreateObject();
			if (ctl_st)
				cJSON_AddItemToObject(o, "control", ctl_st);
			weir_admin_status_print(o, true, stdout);
			if (!dp)
				cJSON_Delete(o);
		} else if (dp) {
			weir_admin_status_print(dp, false, stdout);
		}
		cJSON_Delete(dp);
	} else if (ctl) {
		if (!cfg->ha_node[0]) {
			fprintf(stderr, "weir %s: %s has no [ha] section%s (or use --socket PATH)\n", cmd, path,
				!strcmp(cmd, "status") ? " and no [admin] section" : "");
			rc = 2;
		} else {
			rc = weir_ctl_command(cfg->ha_socket, cmd, json);
		}
	} else if (!strcmp(cmd, "control")) {
		char exe[1024];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0) {
			fprintf(stderr, "weir control: cannot find my own executable\n");
			rc = 1;
		} else {
			exe[n] = '\0';
			rc = weir_control_main(cfg, path, exe);
		}
	} else if (!strcmp(cmd, "check")) {
		weir_config_dump(cfg, stdout);
		rc = 0;
	} else if (!strcmp(cmd, "explain")) {
		weir_explain(cfg, stdout);
		rc = 0;
	} else if (!strcmp(cmd, "eal-args")) {
		char *av[256];
		int n = weir_eal_args(cfg, "weir", av, 256, NULL);
		if (n < 0) {
			free(cfg);
			return 2;
		}
		for (int i = 1; i < n; i++)
			printf("%s%s", av[i], i + 1 < n ? " " : "\n");
		rc = 0;
	} else {
		rc = weir_dataplane_run(cfg, &ro);
	}
	free(cfg);
	return rc;
}
