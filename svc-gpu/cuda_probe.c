/* What the CUDA driver says (gpu_internal.h): libcuda, loaded at run
 * time so that svc-gpu starts on hosts without an NVIDIA driver, asked
 * for devices and device 0's free memory (the first thing to fail when
 * another process holds the GPU). */
#include <dlfcn.h>
#include <stdio.h>

#include "gpu_internal.h"

/* The CUDA driver API svc-gpu probes with, looked up in libcuda at run
 * time (no CUDA headers needed to build: CUresult and CUdevice are int,
 * CUcontext a pointer). */
struct cu {
	int (*init)(unsigned flags);
	int (*count)(int *count);
	int (*err_name)(int rc, const char **name);
	int (*get)(int *dev, int ordinal);
	int (*name)(char *name, int len, int dev);
	int (*retain)(void **ctx, int dev);
	int (*push)(void *ctx);
	int (*mem)(size_t *free_b, size_t *total_b);
	int (*pop)(void **ctx);
	int (*release)(int dev);
};

#define CU_ERROR_OUT_OF_MEMORY 2
#define CU_ERROR_INSUFFICIENT_DRIVER 35

static const char *cu_error(const struct cu *c, int rc)
{
	const char *s = NULL;

	return c->err_name && c->err_name(rc, &s) == 0 && s ? s : "a CUDA error";
}

/* Device @p ordinal's free memory: what a GPU engine will allocate from,
 * and the first thing to fail when another process holds the GPU. */
static void probe_memory(const struct cu *c, int n_dev, int ordinal, char *why, size_t n)
{
	char name[96] = "?";
	size_t free_b = 0, total_b = 0;
	void *ctx = NULL;
	int dev = 0, rc;

	if (!c->get || !c->retain || !c->push || !c->mem || !c->pop || !c->release ||
	    c->get(&dev, ordinal) != 0)
		return;
	if (c->name)
		c->name(name, sizeof(name), dev);
	rc = c->retain(&ctx, dev);
	if (rc == CU_ERROR_OUT_OF_MEMORY) {
		snprintf(why, n, "CUDA out of memory on device %d (%s): another process holds it (nvidia-smi lists them)",
			 ordinal, name);
		return;
	}
	if (rc != 0) {
		snprintf(why, n, "CUDA device %d (%s) refused a context: %s", ordinal, name, cu_error(c, rc));
		return;
	}
	if (c->push(ctx) == 0) {
		c->mem(&free_b, &total_b);
		c->pop(&ctx);
	}
	c->release(dev);
	snprintf(why, n, "%d CUDA device%s (%s, %zu of %zu MiB free)", n_dev, n_dev > 1 ? "s" : "", name,
		 free_b >> 20, total_b >> 20);
}

int gpu_cuda_devices(int device, char *why, size_t n)
{
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	struct cu c;
	int count = 0, rc;

	if (!h) {
		snprintf(why, n, "no CUDA device (no NVIDIA driver)");
		return 0;
	}
	c = (struct cu){
		.init = (int (*)(unsigned))dlsym(h, "cuInit"),
		.count = (int (*)(int *))dlsym(h, "cuDeviceGetCount"),
		.err_name = (int (*)(int, const char **))dlsym(h, "cuGetErrorName"),
		.get = (int (*)(int *, int))dlsym(h, "cuDeviceGet"),
		.name = (int (*)(char *, int, int))dlsym(h, "cuDeviceGetName"),
		.retain = (int (*)(void **, int))dlsym(h, "cuDevicePrimaryCtxRetain"),
		.push = (int (*)(void *))dlsym(h, "cuCtxPushCurrent_v2"),
		.mem = (int (*)(size_t *, size_t *))dlsym(h, "cuMemGetInfo_v2"),
		.pop = (int (*)(void **))dlsym(h, "cuCtxPopCurrent_v2"),
		.release = (int (*)(int))dlsym(h, "cuDevicePrimaryCtxRelease_v2"),
	};
	if (!c.init || !c.count) {
		snprintf(why, n, "no CUDA device (libcuda lacks cuInit: a broken driver install)");
		return 0;
	}
	rc = c.init(0);
	if (rc != 0) {
		snprintf(why, n, "the CUDA driver refused to start: %s%s", cu_error(&c, rc),
			 rc == CU_ERROR_INSUFFICIENT_DRIVER ? " (the driver is older than this CUDA: update it)" : "");
		return 0;
	}
	if (c.count(&count) != 0 || !count) {
		snprintf(why, n, "no CUDA device");
		return 0;
	}
	snprintf(why, n, "%d CUDA device%s", count, count > 1 ? "s" : "");
	if (device >= count) {
		/* [gpu] workers set above the GPUs: this worker has none. */
		snprintf(why, n, "no CUDA device %d (%d on this host): lower [gpu] workers", device, count);
		return count;
	}
	probe_memory(&c, count, device, why, n);
	/* libcuda stays loaded: the CUDA runtime of the engine uses it. */
	return count;
}
