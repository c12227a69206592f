/* SPDX-License-Identifier: Apache-2.0
 * Unit tests: the placement plan on hwloc synthetic and XML topologies, so that
 * multi-socket behaviour is tested on any machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "numa.h"

static struct weir_topo topo;
static struct weir_plan plan;
static struct weir_config cfg;
static const char *xml_path;

static void
load_cfg(const char *dp)
{
	char text[1024];
	snprintf(text, sizeof(text), "[dataplane]\n%s\n[source s]\nudp_port = 1\n"
		 "[query q]\nfrom = s\nwindow = tumbling 1s\naggregates = count\n", dp);
	assert_int_equal(weir_config_load_string("n.ini", text, &cfg, stderr), 0);
}

static int
has_warning(const char *frag)
{
	for (int i = 0; i < plan.nwarn; i++)
		if (strstr(plan.warn[i], frag))
			return 1;
	return 0;
}

static void
two_sockets_vdev(void **st)
{
	(void)st;
	assert_int_equal(weir_topo_load(&topo, "synthetic:pack:2 numa:2 core:8 pu:2", stderr), 0);
	assert_int_equal(topo.npackages, 2);
	assert_int_equal(topo.nnodes, 4);
	assert_int_equal(topo.ncores, 32);
	assert_int_equal(topo.ncpus, 64);
	load_cfg("devices = net_null0\nrx_cores = 2\nworkers = 4");
	assert_int_equal(weir_plan_make(&topo, &cfg, &plan, stderr), 0);
	/* main on CPU 0; RX then workers on node 0's other cores (first PU each), then node 1 */
	assert_false(plan.floating);
	assert_int_equal(plan.nic_node, 0);
	assert_string_equal(plan.lcores_arg, "0@0,1@2,2@4,3@6,4@8,5@10,6@12");
	/* node 0 has cores 0-7 (CPUs 0-15): all seven lcores fit there */
	assert_string_equal(plan.socket_mem, "256,0,0,0");
	assert_int_equal(plan.nwarn, 0);
}

static void
spill_to_other_nodes_before_siblings(void **st)
{
	(void)st;
	assert_int_equal(weir_topo_load(&topo, "synthetic:pack:2 numa:1 core:2 pu:2", stderr), 0);
	load_cfg("devices = net_null0\nrx_cores = 1\nworkers = 2");
	assert_int_equal(weir_plan_make(&topo, &cfg, &plan, stderr), 0);
	/* node 0: core 0 = CPUs 0,1 (main), core 1 = CPUs 2,3; node 1: CPUs 4-7 */
	assert_string_equal(plan.lcores_arg, "0@0,1@2,2@4,3@6");
	assert_string_equal(plan.socket_mem, "256,256");
	assert_false(has_warning("SMT"));
	/* more polling lcores than first PUs: siblings next, and said so */
	load_cfg("devices = net_null0\nrx_cores = 1\nworkers = 4");
	assert_int_equal(weir_plan_make(&topo, &cfg, &plan, stderr), 0);
	assert_string_equal(plan.lcores_arg, "0@0,1@2,2@4,3@6,4@3,5@5");
	assert_true(has_warning("share the SMT siblings"));
	/* fused: one lcore per RX core, which runs its worker too */
	load_cfg("devices = net_null0\nrx_cores = 2\nworkers = 2\nfused = true");
	assert_int_equal(weir_plan_make(&topo, &cfg, &plan, stderr), 0);
	assert_string_equal(plan.lcores_arg, "0@0,1@2,2@4");
	assert_int_equal(plan.nlcores, 3);
}

static void
nic_on_node_1(void **st)
{
	(void)st;
	assert_int_equal(weir_topo_load(&topo, xml_path, stderr), 0);
	assert_int_equal(topo.npci, 2);
	assert_string_equal(topo.pci[1].busid, "0000:3b:00.0");
	assert_int_equal(topo.pci[1].node, 1);
	load_cfg("devices = 0000:3b:00.0\nrx_cores = 1\nworkers = 2");
	assert_int_equal(weir_plan_make(&topo, &cfg, &plan, stderr), 0);
	assert_int_equal(plan.nic_node, 1);
	/* package 1 = node 1 = CPUs 8-15: RX and workers there, main stays on CPU 0 */
	assert_string_equal(plan.lcores_arg, "0@0,1@8,2@10,3@12");
	assert_string_equal(plan.socket_mem, "256,256");
	assert_int_equal(plan.nwarn, 0);
	/* the short PCI form names the same device */
	load_cfg("devices = 3b:00.0\nrx_cores = 1\nworkers = 1");
	assert_int_equal(weir_plan_make(&topo, &cfg, &plan, stderr), 0);
	assert_int_equal(plan.nic_node, 1);
}

static void
explicit_plans_are_honoured_and_checked(void **st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *err;

	(void)st;
	assert_int_equal(weir_topo_load(&topo, xml_path, stderr), 0);
	load_cfg("devices = 0000:3b:00.0\nrx_cores = 1\nworkers = 1\nlcores = 0,2,3");
	assert_int_equal(weir_plan_make(&topo, &cfg, &plan, stderr), 0);
	assert_true(plan.explicit_cpus);
	assert_string_equal(plan.lcores_arg, "0@0,1@2,2@3");
	assert_true(has_warning("RX core 0 (CPU 2) is on node 0 but port 0000:3b:00.0 is on node 1"));
	assert_true(has_warning("rx0 and worker0 share the SMT siblings of a core (CPUs 2 and 3)"));
	load_cfg("devices = 0000:3b:00.0\nrx_cores = 1\nworkers = 1\nlcores = 0,99");
	err = open_memstream(&buf, &len);
	assert_int_equal(weir_plan_make(&topo, &cfg, &plan, err), -1);
	fclose(err);
	assert_non_null(strstr(buf, "[dataplane] lcores: CPU 99 does not exist"));
	free(buf);
}

static void
offline_cpu(void **st)
{
	char path[1100], *buf = NULL;
	size_t len = 0;
	FILE *err;

	(void)st;
	/* the same machine with CPU 15 offline: known to the kernel, no PU */
	snprintf(path, sizeof(path), "%s", xml_path);
	strcpy(strstr(path, "two-socket-nics.xml"), "two-socket-cpu15-offline.xml");
	assert_int_equal(weir_topo_load(&topo, path, stderr), 0);
	assert_int_equal(topo.ncpus, 16);
	int offline = -1;
	for (int i = 0; i < topo.ncpus; i++)
		if (!topo.cpu[i].online)
			offline = topo.cpu[i].os;
	assert_int_equal(offline, 15);
	load_cfg("devices = 0000:3b:00.0\nrx_cores = 1\nworkers = 7");
	assert_int_equal(weir_plan_make(&topo, &cfg, &plan, stderr), 0);
	assert_null(strstr(plan.lcores_arg, "@15"));
	load_cfg("devices = net_null0\nlcores = 0,15");
	err = open_memstream(&buf, &len);
	assert_int_equal(weir_plan_make(&topo, &cfg, &plan, err), -1);
	fclose(err);
	assert_non_null(strstr(buf, "[dataplane] lcores: CPU 15 is offline"));
	free(buf);
}

static void
oversubscribed_floats(void **st)
{
	(void)st;
	assert_int_equal(weir_topo_load(&topo, "synthetic:core:2 pu:1", stderr), 0);
	load_cfg("devices = net_null0\nrx_cores = 1\nworkers = 2");
	assert_int_equal(weir_plan_make(&topo, &cfg, &plan, stderr), 0);
	assert_true(plan.floating);
	assert_string_equal(plan.lcores_arg, "(0-3)@(0,1)");
	assert_true(has_warning("4 lcores on 2 CPUs"));
	assert_string_equal(plan.socket_mem, "");
}

static void
this_machine(void **st)
{
	(void)st;
	assert_int_equal(weir_topo_load(&topo, NULL, stderr), 0);
	assert_true(topo.ncpus >= 1);
	load_cfg("devices = net_null0");
	assert_int_equal(weir_plan_make(&topo, &cfg, &plan, stderr), 0);
	assert_true(strlen(plan.lcores_arg) > 0);
}

int
main(int argc, char **argv)
{
	static char xml[1024];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(two_sockets_vdev), cmocka_unit_test(spill_to_other_nodes_before_siblings),
		cmocka_unit_test(nic_on_node_1), cmocka_unit_test(explicit_plans_are_honoured_and_checked),
		cmocka_unit_test(offline_cpu), cmocka_unit_test(oversubscribed_floats), cmocka_unit_test(this_machine),
	};
	if (argc < 2) {
		fprintf(stderr, "usage: test-numa TOPOLOGY.xml\n");
		return 2;
	}
	snprintf(xml, sizeof(xml), "xml:%s", argv[1]);
	xml_path = xml;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
