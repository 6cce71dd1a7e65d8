/* Which files a node may remove (ipc/eal.c): its own hugepage files,
 * "<prefix>map_<digits>", and never those of another instance whose name
 * starts with its own (instance "a" beside "ab", "a_b" or "amap_x"), nor
 * anything else in the hugetlbfs dir. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "ipc/eal.h"

Test(eal, own_hugepage_files_match)
{
	cr_assert(dwcp_eal_is_hugefile("amap_0", "a"));
	cr_assert(dwcp_eal_is_hugefile("amap_12", "a"));
	cr_assert(dwcp_eal_is_hugefile("it-node-42map_3", "it-node-42"));
}

Test(eal, other_instances_files_do_not_match)
{
	static const char *const others[] = {
		"abmap_0",        /* instance "ab" */
		"a_bmap_0",       /* instance "a_b" */
		"amap_xmap_0",    /* instance "amap_x" */
		"amap_1map_0",    /* instance "amap_1" */
		"a-map_0",        /* instance "a-" */
		"bmap_0",
		"map_0",
	};

	for (unsigned i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		cr_assert(!dwcp_eal_is_hugefile(others[i], "a"), "instance 'a' would remove %s",
			  others[i]);
}

Test(eal, malformed_names_do_not_match)
{
	static const char *const bad[] = { "amap_", "amap_0x", "amap_-1", "amap", "a", "",
					   "amap_0 ", "amap_0/x" };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(!dwcp_eal_is_hugefile(bad[i], "a"), "'%s' taken for a hugepage file of 'a'",
			  bad[i]);
}

Test(eal, runtime_dir_is_dpdks)
{
	char p[DWCP_EAL_RUNDIR_MAX], want[DWCP_EAL_RUNDIR_MAX + 64];
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	cr_assert_eq(dwcp_eal_runtime_dir(p, sizeof(p), "nodeA"), 0);
	if (getuid() == 0)
		snprintf(want, sizeof(want), "/var/run/dpdk/nodeA");
	else
		snprintf(want, sizeof(want), "%s/dpdk/nodeA", xdg && *xdg ? xdg : "/tmp");
	cr_assert_str_eq(p, want);
	cr_assert_eq(dwcp_eal_runtime_dir(p, 8, "nodeA"), -ENAMETOOLONG);
}
