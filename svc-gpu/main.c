/* svc-gpu: the GPU offload service. It asks the CUDA driver (libcuda,
 * loaded at run time so the service starts on hosts without an NVIDIA
 * driver) for devices, and reports STANDBY ("no CUDA device") when there
 * are none; kernels and the CPU-fallback backend arrive later. */
#include <dlfcn.h>
#include <stdio.h>

#include "ipc/svc_runtime.h"

typedef int (*cu_init_fn)(unsigned flags);
typedef int (*cu_count_fn)(int *count);

static int cuda_devices(char *why, size_t n)
{
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	cu_init_fn init;
	cu_count_fn count;
	int c = 0;

	if (!h) {
		snprintf(why, n, "no CUDA device (no NVIDIA driver)");
		return 0;
	}
	init = (cu_init_fn)dlsym(h, "cuInit");
	count = (cu_count_fn)dlsym(h, "cuDeviceGetCount");
	if (!init || !count || init(0) != 0 || count(&c) != 0)
		c = 0;
	if (!c)
		snprintf(why, n, "no CUDA device");
	/* libcuda stays loaded: the engine will use it. */
	return c;
}

static int gpu_init(struct dwcp_svc_ctx *ctx, char *reason, size_t n)
{
	(void)ctx;
	return cuda_devices(reason, n) > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct dwcp_svc svc = { .name = "svc-gpu", .init = gpu_init };

	return dwcp_svc_main(argc, argv, &svc);
}
