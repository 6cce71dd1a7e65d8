/* dwcp bench gpu: runs dwcp-bench-gpu beside this dwcp (bench/gpu/
 * bench_gpu.c). It is a binary of its own so that only it, svc-gpu and
 * the GPU tests link the CUDA runtime, not every `dwcp send`. */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_internal.h"

int dwcp_cli_bench_gpu(int argc, char **argv)
{
	char exe[PATH_MAX], bin[PATH_MAX + 32];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (len <= 0) {
		fprintf(stderr, "dwcp bench gpu: cannot find this program's path: %s\n", strerror(errno));
		return 1;
	}
	exe[len] = '\0';
	snprintf(bin, sizeof(bin), "%s/dwcp-bench-gpu", dirname(exe));
	argv[0] = bin;
	(void)argc;
	execv(bin, argv);
	fprintf(stderr, "dwcp bench gpu: cannot run %s: %s (build it with make)\n", bin, strerror(errno));
	return 1;
}
