/* svc-net: the NIC service. Kernel-TCP multi-stream transport and DPDK
 * ethdev ports arrive with the transfer work (issue 3); today it attaches,
 * reports READY — kernel TCP needs no device — and has no ops yet. */
#include "ipc/svc_runtime.h"

int main(int argc, char **argv)
{
	static const struct dwcp_svc svc = { .name = "svc-net" };

	return dwcp_svc_main(argc, argv, &svc);
}
