/* dwcpctl doctor's RDMA port check on fake sysfs trees shaped as the
 * kernel writes them: Soft-RoCE over dummy0 with an address (usable), the
 * same without an address (only the MAC's link-local GID: "Failed to
 * modify QP to RTR"), a port that is DOWN, InfiniBand with and without a
 * subnet manager's LID, and a GID table whose unused types read empty. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "svc-supervisor/doctor_rdma.c"

static char root[64];

static void put(const char *rel, const char *text)
{
	char path[512], cmd[600];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	cr_assert_eq(system(cmd), 0);
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/dwcp-rdma-XXXXXX");
	cr_assert_not_null(mkdtemp(root));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(doctor_rdma, .init = setup, .fini = teardown);

/* rxe0 on dummy0: GID 0 from the (zero) MAC, GID 1 from 10.0.0.1 if @p ip. */
static void rxe(const char *dev, const char *state, bool ip)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "%s/ports/1/state", dev);
	put(rel, state);
	snprintf(rel, sizeof(rel), "%s/ports/1/link_layer", dev);
	put(rel, "Ethernet\n");
	snprintf(rel, sizeof(rel), "%s/ports/1/lid", dev);
	put(rel, "0x0\n");
	snprintf(rel, sizeof(rel), "%s/ports/1/gids/0", dev);
	put(rel, "fe80:0000:0000:0000:0200:00ff:fe00:0000\n");
	snprintf(rel, sizeof(rel), "%s/ports/1/gid_attrs/types/0", dev);
	put(rel, "RoCE v2\n");
	snprintf(rel, sizeof(rel), "%s/ports/1/gids/1", dev);
	put(rel, ip ? "0000:0000:0000:0000:0000:ffff:0a00:0001\n" : "0000:0000:0000:0000:0000:0000:0000:0000\n");
	snprintf(rel, sizeof(rel), "%s/ports/1/gid_attrs/types/1", dev);
	put(rel, ip ? "RoCE v2\n" : "");
	snprintf(rel, sizeof(rel), "%s/ports/1/gid_attrs/ndevs/1", dev);
	put(rel, ip ? "dummy0\n" : "");
}

Test(doctor_rdma, soft_roce_with_an_address_is_usable)
{
	struct sup_rdma_port p[SUP_RDMA_MAX];
	char why[256];

	rxe("rxe0", "4: ACTIVE\n", true);
	cr_assert_eq(sup_rdma_ports(root, p, SUP_RDMA_MAX), 1u);
	cr_expect_str_eq(p[0].dev, "rxe0");
	cr_expect_eq(p[0].port, 1u);
	cr_expect_str_eq(p[0].state, "ACTIVE");
	cr_expect(p[0].roce);
	cr_expect_eq(p[0].gid_v2, 1, "the link-local GID was taken");
	cr_expect_str_eq(p[0].netdev, "dummy0");
	cr_expect(sup_rdma_port_usable(&p[0], why, sizeof(why)), "%s", why);
}

Test(doctor_rdma, soft_roce_without_an_address_cannot_reach_rtr)
{
	struct sup_rdma_port p[SUP_RDMA_MAX];
	char why[256];

	rxe("rxe0", "4: ACTIVE\n", false);
	cr_assert_eq(sup_rdma_ports(root, p, SUP_RDMA_MAX), 1u);
	cr_expect_eq(p[0].gid_v2, -1);
	cr_expect_not(sup_rdma_port_usable(&p[0], why, sizeof(why)));
	cr_expect(strstr(why, "ip addr add") && strstr(why, "RTR"), "why: %s", why);
}

Test(doctor_rdma, a_port_that_is_down_says_so)
{
	struct sup_rdma_port p[SUP_RDMA_MAX];
	char why[256];

	rxe("rxe0", "1: DOWN\n", true);
	rxe("rxe1", "4: ACTIVE\n", true);
	cr_assert_eq(sup_rdma_ports(root, p, SUP_RDMA_MAX), 2u);
	for (int i = 0; i < 2; i++) {
		bool ok = sup_rdma_port_usable(&p[i], why, sizeof(why));

		if (!strcmp(p[i].dev, "rxe0"))
			cr_expect(!ok && strstr(why, "DOWN") && strstr(why, "rdma link show"), "why: %s", why);
		else
			cr_expect(ok, "%s: %s", p[i].dev, why);
	}
}

Test(doctor_rdma, infiniband_needs_a_subnet_manager)
{
	struct sup_rdma_port p[SUP_RDMA_MAX];
	char why[256];

	put("mlx5_0/ports/1/state", "4: ACTIVE\n");
	put("mlx5_0/ports/1/link_layer", "InfiniBand\n");
	put("mlx5_0/ports/1/lid", "0x0\n");
	put("mlx5_1/ports/1/state", "4: ACTIVE\n");
	put("mlx5_1/ports/1/link_layer", "InfiniBand\n");
	put("mlx5_1/ports/1/lid", "0x11\n");
	cr_assert_eq(sup_rdma_ports(root, p, SUP_RDMA_MAX), 2u);
	for (int i = 0; i < 2; i++) {
		bool ok = sup_rdma_port_usable(&p[i], why, sizeof(why));

		cr_expect_not(p[i].roce);
		if (!strcmp(p[i].dev, "mlx5_0"))
			cr_expect(!ok && strstr(why, "subnet manager"), "why: %s", why);
		else
			cr_expect(ok, "%s: %s", p[i].dev, why);
	}
}

Test(doctor_rdma, no_tree_no_ports_and_the_bound_holds)
{
	struct sup_rdma_port p[2];
	char gone[128];

	snprintf(gone, sizeof(gone), "%s/absent", root);
	cr_expect_eq(sup_rdma_ports(gone, p, 2), 0u);
	rxe("rxe0", "4: ACTIVE\n", true);
	rxe("rxe1", "4: ACTIVE\n", true);
	rxe("rxe2", "4: ACTIVE\n", true);
	cr_expect_eq(sup_rdma_ports(root, p, 2), 2u, "more ports than room");
}
