/* dwcp bench rdma: runs bench/rdma.sh of the source tree this dwcp was
 * built in (build/bin/dwcp -> bench/rdma.sh): the RDMA bench needs the
 * Soft-RoCE guest of tests/rdma/vm.sh where the host has no device, and
 * the guest is built from that tree. */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_internal.h"

int dwcp_cli_bench_rdma(int argc, char **argv)
{
	char exe[PATH_MAX], build[PATH_MAX], script[PATH_MAX + 32];
	const char *n = argc >= 2 ? argv[1] : "2048";
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *end;
	long v;

	errno = 0;
	v = strtol(n, &end, 10);
	if (argc > 2 || *end || errno || v < 1 || v > 65536) {
		fprintf(stderr, "dwcp bench rdma: usage: dwcp bench rdma [CHUNKS]  (1..65536 chunks of 64 KiB, default 2048)\n");
		return 2;
	}
	if (len <= 0) {
		fprintf(stderr, "dwcp bench rdma: cannot find this program's path: %s\n", strerror(errno));
		return 1;
	}
	exe[len] = '\0';
	snprintf(build, sizeof(build), "%s", dirname(dirname(exe)));   /* build/bin/dwcp -> build */
	snprintf(script, sizeof(script), "%s/../bench/rdma.sh", build);
	if (access(script, X_OK)) {
		fprintf(stderr, "dwcp bench rdma: %s not found: run it from the source tree dwcp was built in\n", script);
		return 1;
	}
	execl("/bin/bash", "bash", script, build, n, (char *)NULL);
	fprintf(stderr, "dwcp bench rdma: cannot run %s: %s\n", script, strerror(errno));
	return 1;
}
