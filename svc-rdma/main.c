/* svc-rdma: the RDMA service. It reports STANDBY ("no RDMA device")
 * unless rdma-core finds a verbs device; the RC transport arrives later. */
#include <stdio.h>

#include <infiniband/verbs.h>

#include "ipc/svc_runtime.h"

static int rdma_init(struct dwcp_svc_ctx *ctx, char *reason, size_t n)
{
	int count = 0;
	struct ibv_device **list = ibv_get_device_list(&count);

	(void)ctx;
	if (list)
		ibv_free_device_list(list);
	if (count > 0)
		return 0;
	snprintf(reason, n, "no RDMA device");
	return 1;
}

int main(int argc, char **argv)
{
	static const struct dwcp_svc svc = { .name = "svc-rdma", .init = rdma_init };

	return dwcp_svc_main(argc, argv, &svc);
}
