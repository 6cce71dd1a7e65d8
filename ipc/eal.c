/* EAL bring-up and the checks DPDK does not do for multi-process setups. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <numa.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_errno.h>
#include <rte_mempool.h>
#include <rte_service_component.h>

#include "ipc/eal.h"

/* Every slot's two generations get lcore ids of their own (abi.h), and
 * DPDK refuses an id at or above RTE_MAX_LCORE. */
_Static_assert(1u + 2u * (DWCP_MAX_SLOTS - 1u) + 1u < RTE_MAX_LCORE, "slots outgrow DPDK's lcore ids");

long dwcp_eal_free_hugepages(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	long v = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

void dwcp_eal_heap_free(uint64_t *free_b, uint64_t *largest)
{
	*free_b = *largest = 0;
	for (unsigned i = 0; i < rte_socket_count(); i++) {
		struct rte_malloc_socket_stats st;

		if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &st) != 0)
			continue;
		*free_b += st.heap_freesz_bytes;
		if (st.greatest_free_size > *largest)
			*largest = st.greatest_free_size;
	}
}

/* "0-1" style list of the CPUs we may run on. */
static void cpu_list(char *buf, size_t n)
{
	cpu_set_t set;
	size_t used = 0;

	buf[0] = '\0';
	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		snprintf(buf, n, "0");
		return;
	}
	for (int c = 0; c < CPU_SETSIZE && used + 8 < n; c++)
		if (CPU_ISSET(c, &set))
			used += (size_t)snprintf(buf + used, n - used, "%s%d", used ? "," : "", c);
	if (!used)
		snprintf(buf, n, "0");
}

/* "--socket-limit=N,N,..." with one N per NUMA node. -m only says what
 * to allocate at start; DPDK's heap grows past it on demand (a node of
 * 128 MiB whose region did not fit took 468 MiB). The limit makes
 * hugepage_mb a ceiling: a reservation past it fails, with our message.
 * DPDK limits per node, so each node gets the whole amount: a region is
 * one memzone on one node, and nothing else is allocated after it. */
static void socket_limit(char *buf, size_t n, uint32_t mb)
{
	int nodes = numa_available() >= 0 ? numa_max_node() + 1 : 1;
	size_t used = (size_t)snprintf(buf, n, "--socket-limit=");

	for (int i = 0; i < nodes && used + 12 < n; i++)
		used += (size_t)snprintf(buf + used, n - used, "%s%u", i ? "," : "", mb);
}

int dwcp_eal_init(const struct dwcp_eal_params *p, struct dwcp_err *err)
{
	char lcores[600], cpus[512], prefix[64], huge[300], mem[32], limit[512];
	char *argv[16];
	int argc = 0, rc;
	long free_pages;

	if (p->primary) {
		free_pages = dwcp_eal_free_hugepages();
		if (free_pages >= 0 && (uint64_t)free_pages * 2 < p->memory_mb)
			return dwcp_err_set(err, -ENOMEM,
					    "no free 2 MiB hugepages for %u MiB (%ld free): run deploy/hugepages.sh %u",
					    p->memory_mb, free_pages, p->memory_mb / 2 + 256);
		if (access(p->huge_dir, W_OK) != 0)
			return dwcp_err_set(err, -ENOENT,
					    "hugetlbfs directory %s is missing or not writable: run deploy/hugepages.sh",
					    p->huge_dir);
	}
	cpu_list(cpus, sizeof(cpus));
	snprintf(lcores, sizeof(lcores), "--lcores=%u@(%s)", p->lcore, cpus);
	snprintf(prefix, sizeof(prefix), "--file-prefix=%s", p->file_prefix);
	snprintf(huge, sizeof(huge), "--huge-dir=%s", p->huge_dir);
	snprintf(mem, sizeof(mem), "-m%u", p->memory_mb);
	argv[argc++] = (char *)p->prog;
	argv[argc++] = lcores;
	argv[argc++] = prefix;
	argv[argc++] = huge;
	argv[argc++] = p->primary ? "--proc-type=primary" : "--proc-type=secondary";
	argv[argc++] = "--single-file-segments";
	/* No PCI scan unless the node's port is a PCI NIC, and then only that
	 * device: EAL would otherwise take every NIC bound to vfio-pci. */
	if (p->primary && p->pci_allow) {
		argv[argc++] = "-a";
		argv[argc++] = (char *)p->pci_allow;
	} else {
		argv[argc++] = "--no-pci";
	}
	argv[argc++] = "--no-telemetry";
	argv[argc++] = "--log-level=lib.eal:error";
	if (p->primary) {
		socket_limit(limit, sizeof(limit), p->memory_mb);
		argv[argc++] = mem;
		argv[argc++] = limit;
	}
	argv[argc] = NULL;
	rc = rte_eal_init(argc, argv);
	if (rc < 0)
		return dwcp_err_set(err, -(rte_errno ? rte_errno : EINVAL),
				    "DPDK EAL init failed as %s of '%s': %s%s",
				    p->primary ? "primary" : "secondary", p->file_prefix,
				    rte_strerror(rte_errno),
				    p->primary ? "" : ": is its supervisor running and are hugepages mounted?");
	/* A secondary's EAL allocates its service-core tables (~156 KiB) from
	 * the node's shared heap, and a process killed with kill -9 never
	 * gives them back: every restart, upgrade or standby cost the node
	 * that much hugepage memory for good (measured, `hugepage_free_bytes`
	 * in status; node_test checks that kills cost nothing now). dwcp runs
	 * no DPDK service cores: free them at once. */
	if (!p->primary)
		rte_service_finalize();
	return 0;
}

void dwcp_eal_publish_ops(struct dwcp_ctl_block *ctl)
{
	uint32_t n = rte_mempool_ops_table.num_ops;

	if (n > DWCP_OPS_MAX)
		n = DWCP_OPS_MAX;
	for (uint32_t i = 0; i < n; i++)
		snprintf(ctl->mempool_ops[i], DWCP_OPS_NAME_MAX, "%s",
			 rte_mempool_ops_table.ops[i].name);
	ctl->n_mempool_ops = n;
}

int dwcp_eal_check_ops(const struct dwcp_ctl_block *ctl, struct dwcp_err *err)
{
	uint32_t n = rte_mempool_ops_table.num_ops;

	if (n > DWCP_OPS_MAX)
		n = DWCP_OPS_MAX;
	if (n != ctl->n_mempool_ops)
		return dwcp_err_set(err, -EPROTO,
				    "DPDK mempool ops order differs from the supervisor's (%u ops here, %u there): this binary links DPDK differently; rebuild all dwcp binaries together (make) with the same DPDK",
				    n, ctl->n_mempool_ops);
	for (uint32_t i = 0; i < n; i++)
		if (strncmp(ctl->mempool_ops[i], rte_mempool_ops_table.ops[i].name,
			    DWCP_OPS_NAME_MAX) != 0)
			return dwcp_err_set(err, -EPROTO,
					    "DPDK mempool ops order differs from the supervisor's at index %u ('%s' here, '%s' there): rebuild all dwcp binaries together (make) with the same DPDK",
					    i, rte_mempool_ops_table.ops[i].name, ctl->mempool_ops[i]);
	return 0;
}

/* Empty and remove @p path; a symlink there is not followed (its target
 * is nobody's runtime dir of ours). */
static void remove_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	rmdir(path);
}

/* A prefix match alone is not enough: instance "a" must not take
 * "amap_xmap_0", the file of instance "amap_x". DPDK names them
 * "<prefix>map_<number>", and instance names have no room for another
 * "map_<digits>" ending, so the whole name decides. */
bool dwcp_eal_is_hugefile(const char *name, const char *file_prefix)
{
	size_t n = strlen(file_prefix);
	const char *rest;

	if (strncmp(name, file_prefix, n) != 0 || strncmp(name + n, "map_", 4) != 0)
		return false;
	rest = name + n + 4;
	if (!*rest)
		return false;
	for (; *rest; rest++)
		if (*rest < '0' || *rest > '9')
			return false;
	return true;
}

/* DPDK's eal_get_runtime_dir(): root's under /var/run, anyone else's under
 * $XDG_RUNTIME_DIR or /tmp. */
int dwcp_eal_runtime_dir(char *buf, size_t n, const char *file_prefix)
{
	const char *base = "/var/run";
	int k;

	if (getuid() != 0)
		base = getenv("XDG_RUNTIME_DIR") && *getenv("XDG_RUNTIME_DIR") ?
			       getenv("XDG_RUNTIME_DIR") : "/tmp";
	k = snprintf(buf, n, "%s/dpdk/%s", base, file_prefix);
	return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

void dwcp_eal_remove_leftovers(const char *file_prefix, const char *huge_dir)
{
	char p[DWCP_EAL_RUNDIR_MAX];
	DIR *d = opendir(huge_dir);
	struct dirent *e;

	if (d) {
		while ((e = readdir(d)) != NULL)
			if (dwcp_eal_is_hugefile(e->d_name, file_prefix))
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	if (dwcp_eal_runtime_dir(p, sizeof(p), file_prefix) == 0)
		remove_dir(p);
}
