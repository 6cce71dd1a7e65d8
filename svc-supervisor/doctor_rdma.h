/* dwcpctl doctor's RDMA check: what each RDMA port offers a queue pair,
 * read from sysfs. A QP reaches RTR only over an ACTIVE port and, on
 * RoCE, with a GID the path can route: a RoCE v2 GID made from an IP
 * address of the port's netdev. The link-local GID built from a MAC (all
 * zero on dummy or lo netdevs) gives "Failed to modify QP to RTR".
 *
 * Internal to dwcpctl; a header only so that the parsing can be tested
 * on a fake sysfs tree (tests/unit/supervisor/doctor_rdma_test.c).
 * Single-threaded command-line code.
 */
#ifndef DWCP_SUP_DOCTOR_RDMA_H
#define DWCP_SUP_DOCTOR_RDMA_H

#include <stdbool.h>

#define SUP_RDMA_SYSFS  "/sys/class/infiniband"
#define SUP_RDMA_MAX    16    /* ports reported */

struct sup_rdma_port {
	char dev[64];
	unsigned port;
	char state[32];        /* "ACTIVE", "DOWN", ... (the text after "N: ") */
	bool active;
	bool roce;             /* link layer Ethernet */
	int gid_v2;            /* index of a RoCE v2 GID from an IP address, -1 none */
	char gid[64];          /* that GID, as sysfs prints it */
	char netdev[32];       /* its netdev */
	char lid[16];          /* InfiniBand: the port's LID ("0x0" = no subnet manager) */
};

/**
 * The ports of every device under @p root (SUP_RDMA_SYSFS, or a test's tree).
 * @return how many were filled in @p out (at most @p max); 0 when none.
 */
unsigned sup_rdma_ports(const char *root, struct sup_rdma_port *out, unsigned max);

/** Whether a QP can reach RTR on @p p; if not, @p why says what is missing. */
bool sup_rdma_port_usable(const struct sup_rdma_port *p, char *why, unsigned n);

#endif
