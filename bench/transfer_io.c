/* Two more references for `dwcp bench transfer`, measured in the same
 * run on the same image, that bound or explain the pipeline's figure:
 *   - the output's file system: the image written as `dwcp recv` writes
 *     it (recv_fd_write_sparse of each 256 KiB chunk, front to back: runs
 *     of zero pages left holes, long runs by direct I/O) into the bench's
 *     directory, then
 *     fsync'd. No transfer that
 *     delivers a durable file can beat it, so where it is below the
 *     one-thread pipeline times the cores, the disk, not the CPU, sets
 *     the ceiling (our 2-core VMs: ~0.46 GB/s with dd);
 *   - the zstd command-line tool, `zstd -1 -T1` of the image file, when
 *     it is installed: the number users quote for "zstd per thread", set
 *     beside the zstd-1 step of the one-thread pipeline (same library,
 *     per 256 KiB chunk instead of one stream).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/recv_base.h"
#include "cli/recv_fd.h"
#include "common/cpu.h"
#include "common/ops/delta.h"
#include "common/timeutil.h"
#include "transfer_pvt.h"

extern char **environ;

/* One write of the image as dwcp recv writes it (cli/recv_fd.h: long
 * runs by direct I/O where the file system has it), and its fsync; GB/s
 * of input, < 0 on failure. */
static double disk_run(const char *path, const uint8_t *img, size_t n)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct recv_fd w = recv_fd_of(fd);
	struct dwcp_delta_impl delta;   /* its zero test, the CPU's, as recv_base's */
	struct dwcp_cpu_features cpu;
	uint64_t t0;
	int bad = fd < 0;

	dwcp_cpu_detect(&cpu);
	dwcp_delta_select(&delta, &cpu);
	t0 = dwcp_now_ns();
	if (!bad)
		recv_fd_direct(&w);
	for (size_t off = 0; off < n && !bad; off += CHUNK) {
		size_t len = off + CHUNK < n ? CHUNK : n - off;
		bool hole_at_end;

		bad = recv_fd_write_sparse(&w, img + off, len, off,
					   recv_zero_pages(delta.is_zero, img + off, (uint32_t)len, 0),
					   &hole_at_end) != 0;
	}
	if (!bad && (recv_fd_flush(&w) || ftruncate(fd, (off_t)n) || fsync(fd)))
		bad = 1;
	double gbs = (double)n / (double)(dwcp_now_ns() - t0);

	recv_fd_direct_close(&w);
	if (fd >= 0)
		close(fd);
	unlink(path);
	return bad ? -1.0 : gbs;
}

double bench_xfer_run_disk(const struct bench_xfer_ctx *c)
{
	char path[128];
	double gbs[RUNS];

	snprintf(path, sizeof(path), "%s/disk-reference", c->dir);
	for (unsigned r = 0; r < RUNS; r++)
		if ((gbs[r] = disk_run(path, c->img, c->n)) < 0)
			return -1.0;
	return bench_xfer_median(gbs, RUNS);
}

/* `zstd -1 -T1 -q -c image > /dev/null` once; wall seconds, < 0 when it
 * could not run or failed (not installed: -ENOENT). */
static double zstd_cli_once(const struct bench_xfer_ctx *c)
{
	char img[128];
	char *argv[] = { "zstd", "-1", "-T1", "-q", "-c", img, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, rc;
	uint64_t t0;

	snprintf(img, sizeof(img), "%s/image", c->dir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	t0 = dwcp_now_ns();
	rc = posix_spawnp(&pid, "zstd", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		return -(double)rc;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1.0;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return WIFEXITED(st) && WEXITSTATUS(st) == 127 ? -(double)ENOENT : -1.0;
	return (double)(dwcp_now_ns() - t0) / 1e9;
}

double bench_xfer_run_zstd_cli(const struct bench_xfer_ctx *c)
{
	double gbs[RUNS];

	for (unsigned r = 0; r < RUNS; r++) {
		double s = zstd_cli_once(c);

		if (s <= 0)
			return s == -(double)ENOENT ? -2.0 : -1.0;
		gbs[r] = (double)c->n / s / 1e9;
	}
	return bench_xfer_median(gbs, RUNS);
}
