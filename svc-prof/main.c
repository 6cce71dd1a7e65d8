/* svc-prof: the profiler service. The stats blocks it will aggregate
 * exist (ipc/stats.h) and the supervisor already reports rates and
 * percentiles from them; the sampling profiler and metrics endpoint come
 * later. Today it attaches, reports READY and has no ops yet. */
#include "ipc/svc_runtime.h"

int main(int argc, char **argv)
{
	static const struct dwcp_svc svc = { .name = "svc-prof" };

	return dwcp_svc_main(argc, argv, &svc);
}
