/* Names of the fixed slots. Kept as a table so that config parsing, the
 * supervisor and dwcpctl agree on one spelling. */
#include <errno.h>
#include <string.h>

#include "ipc/abi.h"

static const char *const slot_names[DWCP_SLOT_CLIENT0] = {
	[DWCP_SLOT_SUP] = "supervisor",
	[DWCP_SLOT_NET] = "svc-net",
	[DWCP_SLOT_RDMA] = "svc-rdma",
	[DWCP_SLOT_GPU] = "svc-gpu",
	[DWCP_SLOT_SIMD] = "svc-simd",
	[DWCP_SLOT_MEM] = "svc-mem",
	[DWCP_SLOT_PROF] = "svc-prof",
};

const char *dwcp_abi_slot_name(unsigned slot)
{
	if (slot < DWCP_SLOT_CLIENT0)
		return slot_names[slot];
	if (dwcp_abi_is_worker_slot(slot))
		return "worker";
	if (slot < DWCP_MAX_SLOTS)
		return "client";
	return NULL;
}

int dwcp_abi_service_slot(const char *name)
{
	for (unsigned s = DWCP_SLOT_NET; s <= DWCP_SLOT_PROF; s++)
		if (strcmp(name, slot_names[s]) == 0)
			return (int)s;
	return -EINVAL;
}
