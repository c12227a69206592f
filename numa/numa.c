/* SPDX-License-Identifier: Apache-2.0
 * Topology discovery with hwloc and the lcore placement plan (see numa.h). */
#include "numa.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <hwloc.h>

static int
node_of_cpuset(hwloc_topology_t topo, hwloc_const_cpuset_t set)
{
	int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);

	for (int i = 0; i < n; i++) {
		hwloc_obj_t o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
		if (set && hwloc_bitmap_intersects(o->cpuset, set))
			return i;
	}
	return 0;
}

int
weir_topo_load(struct weir_topo *t, const char *source, FILE *err)
{
	hwloc_topology_t topo;
	hwloc_const_cpuset_t complete, present;
	int rc = -1;

	memset(t, 0, sizeof(*t));
	if (hwloc_topology_init(&topo)) {
		fprintf(err, "weir: hwloc: cannot initialise\n");
		return -1;
	}
	hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
	/* PCI devices come from the Linux backend (sysfs) or the XML; the libpciaccess
	 * component adds seconds of start-up and leaks, and the GPU ones are not needed */
	static const char *const skip[] = { "pci", "opencl", "gl", "cuda", "nvml", "rsmi", "levelzero" };
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		hwloc_topology_set_components(topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, skip[i]);
	if (source && !strncmp(source, "synthetic:", 10)) {
		if (hwloc_topology_set_synthetic(topo, source + 10)) {
			fprintf(err, "weir: bad synthetic topology '%s' (e.g. 'pack:2 numa:2 core:8 pu:2')\n", source + 10);
			goto out;
		}
	} else if (source && !strncmp(source, "xml:", 4)) {
		if (hwloc_topology_set_xml(topo, source + 4)) {
			fprintf(err, "weir: cannot read topology XML %s\n", source + 4);
			goto out;
		}
	} else if (source) {
		fprintf(err, "weir: topology source must be synthetic:DESC or xml:PATH\n");
		goto out;
	}
	if (hwloc_topology_load(topo)) {
		fprintf(err, "weir: hwloc: cannot load the topology\n");
		goto out;
	}
	snprintf(t->source, sizeof(t->source), "%s", source ? source : "this machine");
	t->nnodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
	t->npackages = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
	t->ncores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
	if (t->nnodes < 1)
		t->nnodes = 1;
	if (t->npackages < 1)
		t->npackages = 1;

	int npu = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
	for (int i = 0; i < npu && t->ncpus < WEIR_TOPO_MAX_CPUS; i++) {
		hwloc_obj_t pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, (unsigned)i);
		hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, pu);
		hwloc_obj_t pkg = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, pu);
		struct weir_cpu *c = &t->cpu[t->ncpus++];

		c->os = (int)pu->os_index;
		c->core = core ? (int)core->logical_index : i;
		c->package = pkg ? (int)pkg->logical_index : 0;
		c->node = node_of_cpuset(topo, pu->cpuset);
		c->smt = core ? (int)pu->sibling_rank : 0;
		c->online = true;
	}
	if (t->ncores < 1)
		t->ncores = t->ncpus;
	/* CPUs the kernel knows but that are offline have no PU object */
	complete = hwloc_topology_get_complete_cpuset(topo);
	present = hwloc_topology_get_topology_cpuset(topo);
	int b;
	hwloc_bitmap_foreach_begin(b, complete)
		if (!hwloc_bitmap_isset(present, (unsigned)b) && t->ncpus < WEIR_TOPO_MAX_CPUS)
			t->cpu[t->ncpus++] = (struct weir_cpu){ .os = b, .core = -1, .package = -1, .node = -1,
								.online = false };
	hwloc_bitmap_foreach_end();

	hwloc_obj_t l2 = hwloc_get_obj_by_type(topo, HWLOC_OBJ_L2CACHE, 0);
	hwloc_obj_t l3 = hwloc_get_obj_by_type(topo, HWLOC_OBJ_L3CACHE, 0);
	t->l2_bytes = l2 ? l2->attr->cache.size : 0;
	t->l3_bytes = l3 ? l3->attr->cache.size : 0;

	for (hwloc_obj_t o = hwloc_get_next_pcidev(topo, NULL); o && t->npci < WEIR_TOPO_MAX_PCI;
	     o = hwloc_get_next_pcidev(topo, o)) {
		hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, o);
		struct weir_pci *p = &t->pci[t->npci++];
		snprintf(p->busid, sizeof(p->busid), "%04x:%02x:%02x.%01x", o->attr->pcidev.domain & 0xffff,
			 o->attr->pcidev.bus, o->attr->pcidev.dev, o->attr->pcidev.func & 0xf);
		p->node = anc ? node_of_cpuset(topo, anc->cpuset) : 0;
	}
	rc = 0;
out:
	hwloc_topology_destroy(topo);
	return rc;
}

static const struct weir_cpu *
cpu_by_os(const struct weir_topo *t, int os)
{
	for (int i = 0; i < t->ncpus; i++)
		if (t->cpu[i].os == os)
			return &t->cpu[i];
	return NULL;
}

static const struct weir_pci *
pci_of(const struct weir_topo *t, const char *dev)
{
	char name[32];
	size_t n = strcspn(dev, ",");

	if (n >= sizeof(name))
		return NULL;
	memcpy(name, dev, n);
	name[n] = '\0';
	for (int i = 0; i < t->npci; i++)
		if (!strcasecmp(t->pci[i].busid, name) || !strcasecmp(t->pci[i].busid + 5, name))
			return &t->pci[i];
	return NULL;
}

static void
warn(struct weir_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
warn(struct weir_plan *p, const char *fmt, ...)
{
	va_list ap;

	if (p->nwarn == WEIR_PLAN_MAX_WARN)
		return;
	va_start(ap, fmt);
	vsnprintf(p->warn[p->nwarn++], sizeof(p->warn[0]), fmt, ap);
	va_end(ap);
}

static const char *
role(const struct weir_config *cfg, int l, char *buf, size_t n)
{
	if (l == 0)
		snprintf(buf, n, "main");
	else if (l <= cfg->rx_cores && cfg->fused)
		snprintf(buf, n, "rx%d+worker%d", l - 1, l - 1);
	else if (l <= cfg->rx_cores)
		snprintf(buf, n, "rx%d", l - 1);
	else
		snprintf(buf, n, "worker%d", l - 1 - cfg->rx_cores);
	return buf;
}

int
weir_plan_make(const struct weir_topo *t, const struct weir_config *cfg, struct weir_plan *p, FILE *err)
{
	int total = 1 + cfg->rx_cores + (cfg->fused ? 0 : cfg->workers), polling = total - 1;
	int order[WEIR_TOPO_MAX_CPUS], norder = 0, hk = -1, nonline = 0;
	char r1[24], r2[24];

	memset(p, 0, sizeof(*p));
	p->nlcores = total;
	if (total > (int)(sizeof(p->cpu) / sizeof(p->cpu[0]))) {
		fprintf(err, "weir: too many lcores (%d)\n", total);
		return -1;
	}
	for (int i = 0; i < t->ncpus; i++)
		if (t->cpu[i].online) {
			nonline++;
			if (hk < 0 || t->cpu[i].os < t->cpu[hk].os)
				hk = i;
		}
	if (hk < 0) {
		fprintf(err, "weir: no online CPU\n");
		return -1;
	}
	/* the NIC's node: the first PCI device found; vdevs live on the process's node */
	p->nic_node = t->cpu[hk].node;
	const char *nic_dev = NULL;
	for (int d = 0; d < cfg->ndevices; d++) {
		const struct weir_pci *pc = pci_of(t, cfg->devices[d]);
		if (pc) {
			p->nic_node = pc->node;
			nic_dev = pc->busid;
			break;
		}
	}

	if (cfg->ncpus) {
		p->explicit_cpus = true;
		for (int i = 0; i < cfg->ncpus; i++) {
			const struct weir_cpu *c = cpu_by_os(t, cfg->cpus[i]);
			if (!c) {
				fprintf(err, "%s: [dataplane] lcores: CPU %d does not exist on %s\n", cfg->path,
					cfg->cpus[i], t->source);
				return -1;
			}
			if (!c->online) {
				fprintf(err, "%s: [dataplane] lcores: CPU %d is offline\n", cfg->path, cfg->cpus[i]);
				return -1;
			}
		}
		for (int l = 0; l < total; l++)
			p->cpu[l] = cfg->cpus[l % cfg->ncpus];
		if (cfg->ncpus < total)
			warn(p, "%d lcores on the %d CPUs listed: lcores share CPUs", total, cfg->ncpus);
	} else {
		/* candidates: NIC node first, then the others; first PU of each core first,
		 * SMT siblings after; the housekeeping CPU's own core last */
		for (int pass = 0; pass < 4; pass++)
			for (int nd = 0; nd < t->nnodes; nd++) {
				int node = (p->nic_node + nd) % t->nnodes;
				for (int i = 0; i < t->ncpus; i++) {
					const struct weir_cpu *c = &t->cpu[i];
					bool hk_core = c->core == t->cpu[hk].core;
					bool sib = c->smt > 0;
					int want = (hk_core ? 2 : 0) + (sib ? 1 : 0);
					if (!c->online || i == hk || c->node != node || want != pass)
						continue;
					order[norder++] = i;
				}
			}
		p->cpu[0] = t->cpu[hk].os;
		if (norder < polling) {
			p->floating = true;
			for (int l = 0; l < total; l++)
				p->cpu[l] = -1;
			warn(p, "%d lcores on %d CPUs: lcores share CPUs (use idle_sleep)", total, nonline);
		} else {
			for (int l = 1; l < total; l++)
				p->cpu[l] = t->cpu[order[l - 1]].os;
		}
	}

	/* checks of the plan */
	if (!p->floating) {
		for (int l = 1; l <= cfg->rx_cores; l++) {
			const struct weir_cpu *c = cpu_by_os(t, p->cpu[l]);
			if (nic_dev && c->node != p->nic_node)
				warn(p, "RX core %d (CPU %d) is on node %d but port %s is on node %d", l - 1, c->os, c->node,
				     nic_dev, p->nic_node);
		}
		for (int a = 1; a < total; a++)
			for (int b = a + 1; b < total; b++) {
				const struct weir_cpu *ca = cpu_by_os(t, p->cpu[a]), *cb = cpu_by_os(t, p->cpu[b]);
				if (ca->os == cb->os)
					continue;         /* reported as sharing CPUs */
				if (ca->core == cb->core && ca->package == cb->package)
					warn(p, "%s and %s share the SMT siblings of a core (CPUs %d and %d)",
					     role(cfg, a, r1, sizeof(r1)), role(cfg, b, r2, sizeof(r2)), ca->os, cb->os);
			}
	}

	/* EAL arguments */
	size_t o = 0;
	if (p->floating) {
		o += (size_t)snprintf(p->lcores_arg + o, sizeof(p->lcores_arg) - o, "(0-%d)@(", total - 1);
		bool first = true;
		for (int i = 0; i < t->ncpus && o < sizeof(p->lcores_arg); i++)
			if (t->cpu[i].online) {
				o += (size_t)snprintf(p->lcores_arg + o, sizeof(p->lcores_arg) - o, "%s%d", first ? "" : ",",
						      t->cpu[i].os);
				first = false;
			}
		if (o < sizeof(p->lcores_arg))
			snprintf(p->lcores_arg + o, sizeof(p->lcores_arg) - o, ")");
	} else {
		for (int l = 0; l < total && o < sizeof(p->lcores_arg); l++)
			o += (size_t)snprintf(p->lcores_arg + o, sizeof(p->lcores_arg) - o, "%s%d@%d", l ? "," : "", l,
					      p->cpu[l]);
	}
	if (t->nnodes > 1) {
		o = 0;
		for (int nd = 0; nd < t->nnodes && o < sizeof(p->socket_mem); nd++) {
			bool used = nd == p->nic_node;
			for (int l = 0; l < total && !p->floating; l++)
				used |= cpu_by_os(t, p->cpu[l])->node == nd;
			o += (size_t)snprintf(p->socket_mem + o, sizeof(p->socket_mem) - o, "%s%d", nd ? "," : "",
					      used ? 256 : 0);
		}
	}
	return 0;
}

static void
cpulist(const struct weir_topo *t, int node, char *buf, size_t n)
{
	size_t o = 0;
	int start = -1, prev = -2;

	buf[0] = '\0';
	for (int os = 0; os <= WEIR_TOPO_MAX_CPUS; os++) {
		const struct weir_cpu *c = os < WEIR_TOPO_MAX_CPUS ? cpu_by_os(t, os) : NULL;
		bool in = c && c->online && c->node == node;
		if (in && start < 0)
			start = os;
		if (!in && start >= 0) {
			if (o < n)
				o += (size_t)snprintf(buf + o, n - o, o ? ",%d" : "%d", start);
			if (prev > start && o < n)
				o += (size_t)snprintf(buf + o, n - o, "-%d", prev);
			start = -1;
		}
		if (in)
			prev = os;
	}
}

void
weir_topo_print(const struct weir_topo *t, const struct weir_config *cfg, const struct weir_plan *p, bool json,
		FILE *out)
{
	char r[24], list[1024];

	if (json) {
		cJSON *root = cJSON_CreateObject(), *m = cJSON_AddObjectToObject(root, "machine");
		cJSON_AddStringToObject(m, "source", t->source);
		cJSON_AddNumberToObject(m, "packages", t->npackages);
		cJSON_AddNumberToObject(m, "numa_nodes", t->nnodes);
		cJSON_AddNumberToObject(m, "cores", t->ncores);
		cJSON_AddNumberToObject(m, "cpus", t->ncpus);
		cJSON_AddNumberToObject(m, "l2_bytes", (double)t->l2_bytes);
		cJSON_AddNumberToObject(m, "l3_bytes", (double)t->l3_bytes);
		cJSON *cpus = cJSON_AddArrayToObject(m, "cpu");
		for (int i = 0; i < t->ncpus; i++) {
			cJSON *c = cJSON_CreateObject();
			cJSON_AddNumberToObject(c, "cpu", t->cpu[i].os);
			cJSON_AddNumberToObject(c, "core", t->cpu[i].core);
			cJSON_AddNumberToObject(c, "package", t->cpu[i].package);
			cJSON_AddNumberToObject(c, "node", t->cpu[i].node);
			cJSON_AddNumberToObject(c, "smt", t->cpu[i].smt);
			cJSON_AddBoolToObject(c, "online", t->cpu[i].online);
			cJSON_AddItemToArray(cpus, c);
		}
		cJSON *pci = cJSON_AddArrayToObject(m, "pci");
		for (int i = 0; i < t->npci; i++) {
			cJSON *c = cJSON_CreateObject();
			cJSON_AddStringToObject(c, "busid", t->pci[i].busid);
			cJSON_AddNumberToObject(c, "node", t->pci[i].node);
			cJSON_AddItemToArray(pci, c);
		}
		cJSON *pl = cJSON_AddObjectToObject(root, "plan");
		cJSON_AddBoolToObject(pl, "explicit", p->explicit_cpus);
		cJSON_AddBoolToObject(pl, "floating", p->floating);
		cJSON_AddNumberToObject(pl, "nic_node", p->nic_node);
		cJSON *lc = cJSON_AddArrayToObject(pl, "lcores");
		for (int l = 0; l < p->nlcores; l++) {
			cJSON *c = cJSON_CreateObject();
			cJSON_AddNumberToObject(c, "lcore", l);
			cJSON_AddStringToObject(c, "role", role(cfg, l, r, sizeof(r)));
			cJSON_AddNumberToObject(c, "cpu", p->cpu[l]);
			cJSON_AddItemToArray(lc, c);
		}
		cJSON_AddStringToObject(pl, "eal_lcores", p->lcores_arg);
		cJSON_AddStringToObject(pl, "eal_socket_mem", p->socket_mem);
		cJSON *w = cJSON_AddArrayToObject(pl, "warnings");
		for (int i = 0; i < p->nwarn; i++)
			cJSON_AddItemToArray(w, cJSON_CreateString(p->warn[i]));
		char *txt = cJSON_Print(root);
		fprintf(out, "%s\n", txt ? txt : "{}");
		free(txt);
		cJSON_Delete(root);
		return;
	}
	fprintf(out, "machine (%s): %d package%s, %d NUMA node%s, %d cores, %d CPUs", t->source, t->npackages,
		t->npackages > 1 ? "s" : "", t->nnodes, t->nnodes > 1 ? "s" : "", t->ncores, t->ncpus);
	if (t->l2_bytes)
		fprintf(out, "; L2 %llu KiB", t->l2_bytes >> 10);
	if (t->l3_bytes)
		fprintf(out, ", L3 %llu MiB", t->l3_bytes >> 20);
	fprintf(out, "\n  node  cpus\n");
	for (int nd = 0; nd < t->nnodes; nd++) {
		cpulist(t, nd, list, sizeof(list));
		fprintf(out, "  %-5d %s\n", nd, list);
	}
	for (int i = 0; i < t->npci; i++)
		fprintf(out, "  pci %s on node %d\n", t->pci[i].busid, t->pci[i].node);
	fprintf(out, "plan (%s), NIC on node %d:\n  lcore  role      cpu  core  node  package\n",
		p->explicit_cpus ? "lcores from the config" : "lcores = auto", p->nic_node);
	for (int l = 0; l < p->nlcores; l++) {
		const struct weir_cpu *c = p->cpu[l] >= 0 ? cpu_by_os(t, p->cpu[l]) : NULL;
		if (c)
			fprintf(out, "  %-6d %-9s %-4d %-5d %-5d %d\n", l, role(cfg, l, r, sizeof(r)), c->os, c->core,
				c->node, c->package);
		else
			fprintf(out, "  %-6d %-9s any\n", l, role(cfg, l, r, sizeof(r)));
	}
	fprintf(out, "EAL: --lcores %s%s%s\n", p->lcores_arg, p->socket_mem[0] ? " --socket-mem " : "", p->socket_mem);
	for (int i = 0; i < p->nwarn; i++)
		fprintf(out, "warning: %s\n", p->warn[i]);
}
