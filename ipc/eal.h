/* Bringing up DPDK's EAL the dwcp way, for the primary (supervisor) and
 * for secondaries (services, clients), and the mempool-ops order check.
 *
 * Every process gets the same memory flags (--single-file-segments, one
 * hugepage file per node; no telemetry; no PCI scan unless a service asks
 * for devices) and a distinct lcore id assigned by the supervisor, pinned
 * to every CPU this process may run on: the lcore id names the mempool
 * cache slot, it is not a CPU reservation (no busy-spin by default).
 */
#ifndef DWCP_IPC_EAL_H
#define DWCP_IPC_EAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "ipc/ctl_block.h"

struct dwcp_eal_params {
	const char *prog;         /* argv[0] */
	const char *file_prefix;  /* the instance name */
	const char *huge_dir;
	unsigned    lcore;
	uint32_t    memory_mb;    /* primary only: hugepage memory to reserve */
	int         primary;
	const char *pci_allow;    /* primary only: the one PCI device EAL may take
				   * (its devargs, "0000:3b:00.0[,k=v]"); NULL: no PCI bus scan */
};

/**
 * rte_eal_init with the dwcp argument set.
 * @return 0; -ENOMEM with "no free 2 MiB hugepages: run deploy/hugepages.sh
 *         1024" when hugepages are missing; -errno with DPDK's reason.
 */
int dwcp_eal_init(const struct dwcp_eal_params *p, struct dwcp_err *err);

/** Publish this process's mempool-ops registration order (primary). */
void dwcp_eal_publish_ops(struct dwcp_ctl_block *ctl);

/**
 * Compare this process's mempool-ops order with the published one.
 * @return 0 or -EPROTO naming the first differing index.
 */
int dwcp_eal_check_ops(const struct dwcp_ctl_block *ctl, struct dwcp_err *err);

/** Free 2 MiB hugepages on the host (from /proc/meminfo); -errno if unreadable. */
long dwcp_eal_free_hugepages(void);

/**
 * What DPDK's heap has free of this node's hugepage memory, over every
 * socket: all of it (@p free_b) and its largest block (@p largest, what
 * one memzone can still take). After rte_eal_init; takes the heap locks.
 */
void dwcp_eal_heap_free(uint64_t *free_b, uint64_t *largest);

#define DWCP_EAL_RUNDIR_MAX 512

/**
 * True when @p name (a file in the hugetlbfs dir) is a hugepage file of
 * the node whose DPDK file-prefix is @p file_prefix: "<prefix>map_<digits>"
 * exactly, never a file of another instance whose name starts the same.
 */
bool dwcp_eal_is_hugefile(const char *name, const char *file_prefix);

/**
 * DPDK's runtime directory of @p file_prefix, as DPDK resolves it
 * (/var/run/dpdk/<prefix> for root). @return 0 or -ENAMETOOLONG.
 */
int dwcp_eal_runtime_dir(char *buf, size_t n, const char *file_prefix);

/**
 * Remove what a dead or stopped primary of @p file_prefix left behind: its
 * hugepage files in @p huge_dir and DPDK's runtime directory. Only call
 * while holding the instance lock with no process of the instance alive.
 */
void dwcp_eal_remove_leftovers(const char *file_prefix, const char *huge_dir);

#endif
