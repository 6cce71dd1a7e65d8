/* svc-mem: the memory service. Pools are created by the supervisor; the
 * delta cache, leases and the leak detector arrive with the transfer work.
 * Today it attaches, reports READY and has no ops yet. */
#include "ipc/svc_runtime.h"

int main(int argc, char **argv)
{
	static const struct dwcp_svc svc = { .name = "svc-mem" };

	return dwcp_svc_main(argc, argv, &svc);
}
