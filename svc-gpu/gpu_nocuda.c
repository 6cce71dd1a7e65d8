/* gpu_cuda.h for a build without nvcc: weak definitions, which the CUDA
 * engine's (kernels/engine.cu) replace when the Makefile found nvcc. The
 * service then says why it has no GPU engine. */
#include <errno.h>
#include <stdio.h>

#include "svc-gpu/gpu_cuda.h"

__attribute__((weak)) int dwcp_gpu_open(struct dwcp_gpu **g, int device, void *base, size_t size,
					void (*wake)(void *), void *wake_arg, char *why, size_t why_len)
{
	(void)device;
	(void)base;
	(void)size;
	(void)wake;
	(void)wake_arg;
	*g = NULL;
	snprintf(why, why_len, "svc-gpu was built without nvcc (no GPU kernels): install the CUDA toolkit and rebuild");
	return -ENODEV;
}

__attribute__((weak)) const char *dwcp_gpu_describe(const struct dwcp_gpu *g)
{
	(void)g;
	return "";
}

__attribute__((weak)) int dwcp_gpu_crc_start(struct dwcp_gpu *g, const struct dwcp_gpu_crc_job *jobs, unsigned n)
{
	(void)g;
	(void)jobs;
	(void)n;
	return -ENODEV;
}

__attribute__((weak)) int dwcp_gpu_crc_done(struct dwcp_gpu *g, int slot, uint32_t *out)
{
	(void)g;
	(void)slot;
	(void)out;
	return -ENODEV;
}

__attribute__((weak)) int dwcp_gpu_set_key(struct dwcp_gpu *g, const uint8_t key[32])
{
	(void)g;
	(void)key;
	return -ENODEV;
}

__attribute__((weak)) int dwcp_gpu_op_start(struct dwcp_gpu *g, const struct dwcp_gpu_op_job *jobs, unsigned n)
{
	(void)g;
	(void)jobs;
	(void)n;
	return -ENODEV;
}

__attribute__((weak)) int dwcp_gpu_op_done(struct dwcp_gpu *g, int slot, struct dwcp_gpu_op_result *out)
{
	(void)g;
	(void)slot;
	(void)out;
	return -ENODEV;
}

__attribute__((weak)) int dwcp_gpu_copy_rate(struct dwcp_gpu *g, size_t bytes, unsigned reps, double *h2d,
					     double *d2h)
{
	(void)g;
	(void)bytes;
	(void)reps;
	*h2d = *d2h = 0;
	return -ENODEV;
}

__attribute__((weak)) const char *dwcp_gpu_error(const struct dwcp_gpu *g)
{
	(void)g;
	return "built without nvcc";
}

__attribute__((weak)) void dwcp_gpu_close(struct dwcp_gpu *g)
{
	(void)g;
}
