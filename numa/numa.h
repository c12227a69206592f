/* SPDX-License-Identifier: Apache-2.0
 * numa/: the machine as hwloc sees it, and the placement plan derived from it.
 *
 * The plan puts the main (housekeeping) lcore on the lowest online CPU, RX lcores on
 * the NIC's NUMA node, workers next on that node then on the others, one polling
 * lcore per physical core before any SMT sibling is used.  With fewer free CPUs than
 * polling lcores, every lcore floats over all online CPUs (and the plan says so).
 */
#ifndef WEIR_NUMA_H
#define WEIR_NUMA_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEIR_TOPO_MAX_CPUS  1024
#define WEIR_TOPO_MAX_PCI   256
#define WEIR_PLAN_MAX_WARN  16

struct weir_cpu {
	int os;                 /* OS CPU number */
	int core;               /* physical core (logical index) */
	int package;
	int node;               /* NUMA node (logical index) */
	int smt;                /* 0 for the first PU of its core, 1.. for siblings */
	bool online;
};

struct weir_pci {
	char busid[16];         /* 0000:3b:00.0 */
	int node;
};

struct weir_topo {
	int ncpus, ncores, npackages, nnodes;
	struct weir_cpu cpu[WEIR_TOPO_MAX_CPUS];
	unsigned long long l2_bytes, l3_bytes;   /* of the first core, 0 if unknown */
	int npci;
	struct weir_pci pci[WEIR_TOPO_MAX_PCI];
	char source[128];       /* "this machine", "synthetic: ...", "xml: ..." */
};

struct weir_plan {
	int nlcores;            /* 1 + rx_cores + workers */
	int cpu[1 + 64 + 128];  /* lcore -> OS CPU, or -1 when floating */
	bool floating;          /* more lcores than free CPUs: every lcore on every online CPU */
	int nic_node;
	bool explicit_cpus;
	int nwarn;
	char warn[WEIR_PLAN_MAX_WARN][160];
	char lcores_arg[2048];  /* the EAL --lcores value */
	char socket_mem[256];   /* the EAL --socket-mem value, "" for one node */
};

/* Discover a topology: source NULL for this machine, "synthetic:DESC" or "xml:PATH".
 * Returns 0, or -1 with a message in err. */
int weir_topo_load(struct weir_topo *t, const char *source, FILE *err);

/* Plan cfg's lcores on t.  An explicit CPU list (cfg->ncpus) is honoured exactly and
 * checked: a CPU that does not exist or is offline is an error (-1, message in err). */
int weir_plan_make(const struct weir_topo *t, const struct weir_config *cfg, struct weir_plan *p, FILE *err);

/* Human table, or JSON (for tools). */
void weir_topo_print(const struct weir_topo *t, const struct weir_config *cfg, const struct weir_plan *p,
		     bool json, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
