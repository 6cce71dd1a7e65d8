/* [simd] workers: auto (the default) or 1..32; auto sizes itself to the
 * CPUs the node may use, capped at 32 (the worker slots there are). */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/config.h"

static int parse(struct dwcp_config *c, const char *text, struct dwcp_err *e)
{
	memset(e, 0, sizeof(*e));
	dwcp_config_defaults(c);
	return dwcp_config_parse(c, text, "t.ini", e);
}

Test(config_workers, default_is_auto_and_auto_follows_the_cpus)
{
	struct dwcp_config c;
	struct dwcp_err e;

	cr_assert_eq(parse(&c, "", &e), 0, "%s", e.msg);
	cr_assert_eq(c.simd_workers, 0u, "default is not auto: %u", c.simd_workers);
	cr_assert_eq(dwcp_config_validate(&c, &e), 0, "the defaults do not validate: %s", e.msg);
	cr_expect_eq(dwcp_config_workers(c.simd_workers, 2), 2u);
	cr_expect_eq(dwcp_config_workers(c.simd_workers, 1), 1u);
	cr_expect_eq(dwcp_config_workers(c.simd_workers, 0), 1u, "no CPU count still runs one");
	cr_expect_eq(dwcp_config_workers(c.simd_workers, 128), 32u, "auto is capped at 32");
	cr_assert_eq(parse(&c, "[simd]\nworkers = auto\n", &e), 0, "%s", e.msg);
	cr_assert_eq(c.simd_workers, 0u);
}

Test(config_workers, a_number_is_taken_as_it_is)
{
	struct dwcp_config c;
	struct dwcp_err e;

	cr_assert_eq(parse(&c, "[simd]\nworkers = 3\n", &e), 0, "%s", e.msg);
	cr_assert_eq(dwcp_config_workers(c.simd_workers, 64), 3u);
	cr_assert_eq(parse(&c, "[simd]\nworkers = 32\n", &e), 0, "%s", e.msg);
	cr_assert_eq(dwcp_config_workers(c.simd_workers, 2), 32u);
}

Test(config_workers, out_of_range_is_refused_naming_what_is_accepted)
{
	static const char *const bad[] = { "0", "33", "-1", "many", "" };
	struct dwcp_config c;
	struct dwcp_err e;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[64];

		snprintf(text, sizeof(text), "[simd]\nworkers = %s\n", bad[i]);
		cr_expect_neq(parse(&c, text, &e), 0, "workers = '%s' accepted", bad[i]);
		cr_expect(strstr(e.msg, "[simd] workers") && strstr(e.msg, "auto or an integer in 1..32"),
			  "workers = '%s': %s", bad[i], e.msg);
	}
}

/* [rdma] workers: 1 by default (a queue pair per peer each; RDMA costs the
 * CPU little), 1..16 (one bit each in a peer's RDMA mask), no auto. */
Test(config_workers, rdma_workers_default_to_one_and_are_bounded)
{
	static const char *const bad[] = { "0", "17", "auto", "" };
	struct dwcp_config c;
	struct dwcp_err e;

	cr_assert_eq(parse(&c, "", &e), 0, "%s", e.msg);
	cr_expect_eq(c.rdma_workers, 1u);
	cr_assert_eq(parse(&c, "[rdma]\nworkers = 16\n", &e), 0, "%s", e.msg);
	cr_expect_eq(c.rdma_workers, 16u);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[64];

		snprintf(text, sizeof(text), "[rdma]\nworkers = %s\n", bad[i]);
		cr_expect_neq(parse(&c, text, &e), 0, "workers = '%s' accepted", bad[i]);
		cr_expect(strstr(e.msg, "[rdma] workers") && strstr(e.msg, "1..16"),
			  "workers = '%s': %s", bad[i], e.msg);
	}
}

/* [net] workers: auto by default, one svc-net below 8 CPUs (a second
 * socket reader would take the core a chunk's next step needs), one per
 * 4 CPUs from 8 up, at most 8 (a byte each in a peer's connection count);
 * the same on a DPDK port, whose consumers they are. */
Test(config_workers, net_workers_default_to_auto_sized_by_the_cpus)
{
	struct dwcp_config c;
	struct dwcp_err e;

	cr_assert_eq(parse(&c, "", &e), 0, "%s", e.msg);
	cr_assert_eq(c.net_workers, 0u, "default is not auto: %u", c.net_workers);
	cr_expect_eq(dwcp_config_net_workers(c.net_workers, 2), 1u);
	cr_expect_eq(dwcp_config_net_workers(c.net_workers, 7), 1u);
	cr_expect_eq(dwcp_config_net_workers(c.net_workers, 8), 2u);
	cr_expect_eq(dwcp_config_net_workers(c.net_workers, 16), 4u);
	cr_expect_eq(dwcp_config_net_workers(c.net_workers, 128), 8u, "auto is capped at 8");
	cr_assert_eq(parse(&c, "[net]\nworkers = 3\n", &e), 0, "%s", e.msg);
	cr_expect_eq(dwcp_config_net_workers(c.net_workers, 2), 3u);
	cr_assert_eq(dwcp_config_validate(&c, &e), 0, "%s", e.msg);
	cr_expect_neq(parse(&c, "[net]\nworkers = 9\n", &e), 0);
	cr_expect(strstr(e.msg, "[net] workers") && strstr(e.msg, "auto or an integer in 1..8"), "%s", e.msg);
	cr_assert_eq(parse(&c, "[net]\nworkers = 2\ntransport = dpdk\nport = net_af_packet0,iface=veth0\nip = 10.0.0.1/24\n",
			   &e), 0, "%s", e.msg);
	cr_expect_eq(dwcp_config_validate(&c, &e), 0, "two workers on a DPDK port: %s", e.msg);
	cr_expect_eq(dwcp_config_net_workers(c.net_workers, 2), 2u);
}

/* [mem] workers: auto by default, one svc-mem below 16 CPUs, one per 8
 * CPUs from 16 up, at most 8; a number is taken as it is. */
Test(config_workers, mem_workers_default_to_auto_sized_by_the_cpus)
{
	struct dwcp_config c;
	struct dwcp_err e;

	cr_assert_eq(parse(&c, "", &e), 0, "%s", e.msg);
	cr_assert_eq(c.mem_workers, 0u, "default is not auto: %u", c.mem_workers);
	cr_expect_eq(dwcp_config_mem_workers(c.mem_workers, 2), 1u);
	cr_expect_eq(dwcp_config_mem_workers(c.mem_workers, 15), 1u);
	cr_expect_eq(dwcp_config_mem_workers(c.mem_workers, 16), 2u);
	cr_expect_eq(dwcp_config_mem_workers(c.mem_workers, 256), 8u, "auto is capped at 8");
	cr_assert_eq(parse(&c, "[mem]\nworkers = 3\n", &e), 0, "%s", e.msg);
	cr_expect_eq(dwcp_config_mem_workers(c.mem_workers, 2), 3u);
	cr_expect_neq(parse(&c, "[mem]\nworkers = 0\n", &e), 0);
	cr_expect(strstr(e.msg, "[mem] workers") && strstr(e.msg, "auto or an integer in 1..8"), "%s", e.msg);
}

/* [gpu] workers: auto by default, one svc-gpu per GPU (worker k on CUDA
 * device k), one on a host without a GPU (it says why it is STANDBY), at
 * most 8; a number is taken as it is. */
Test(config_workers, gpu_workers_default_to_one_per_gpu)
{
	struct dwcp_config c;
	struct dwcp_err e;

	cr_assert_eq(parse(&c, "", &e), 0, "%s", e.msg);
	cr_assert_eq(c.gpu_workers, 0u, "default is not auto: %u", c.gpu_workers);
	cr_expect_eq(dwcp_config_gpu_workers(c.gpu_workers, 0), 1u, "no GPU: one worker, to say so");
	cr_expect_eq(dwcp_config_gpu_workers(c.gpu_workers, 1), 1u);
	cr_expect_eq(dwcp_config_gpu_workers(c.gpu_workers, 4), 4u);
	cr_expect_eq(dwcp_config_gpu_workers(c.gpu_workers, 16), 8u, "auto is capped at 8");
	cr_assert_eq(parse(&c, "[gpu]\nworkers = 2\n", &e), 0, "%s", e.msg);
	cr_expect_eq(dwcp_config_gpu_workers(c.gpu_workers, 8), 2u);
	cr_expect_eq(dwcp_config_gpu_workers(c.gpu_workers, 0), 2u);
	cr_expect_neq(parse(&c, "[gpu]\nworkers = 9\n", &e), 0);
	cr_expect(strstr(e.msg, "[gpu] workers") && strstr(e.msg, "auto or an integer in 1..8"), "%s", e.msg);
}
