/* dwcp recv's output writes (cli/recv_fd.h): long runs of whole pages
 * gather in the bounce buffer and reach the file direct, from any memory
 * alignment, and so do short runs that continue them; other short runs and a short last page go through the page cache;
 * a refusal of direct I/O costs no byte; short runs of zero pages are
 * written with the data around them, long ones left holes. Every case reads the file back
 * through another descriptor, as a user's cmp would. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cli/recv_fd.h"

#define KIB 1024u

static char dir[64], path[96];
static int fd = -1;
static struct recv_fd w;
static uint8_t *src;                 /* 2 MiB of pattern, 96 bytes into its allocation */
static uint8_t *src_mem;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/recv_fd_test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	w = recv_fd_of(fd);
	/* dwcp recv's chunk data lies 96 bytes into a buffer: not aligned. */
	src_mem = aligned_alloc(4096, 2048 * KIB + 4096);
	cr_assert_not_null(src_mem);
	src = src_mem + 96;
	for (size_t i = 0; i < 2048 * KIB; i++)
		src[i] = (uint8_t)(i * 131 + (i >> 12) * 7 + 1);
}

static void teardown(void)
{
	recv_fd_direct_close(&w);
	close(fd);
	unlink(path);
	rmdir(dir);
	free(src_mem);
}

/* The file, read back through a descriptor of its own: @p n bytes at @p off equal @p want. */
static void expect_file(uint64_t off, const uint8_t *want, size_t n)
{
	uint8_t *back = malloc(n);
	int rfd = open(path, O_RDONLY | O_CLOEXEC);

	cr_assert_not_null(back);
	cr_assert_geq(rfd, 0);
	cr_assert_eq(pread(rfd, back, n, (off_t)off), (ssize_t)n, "short read at %llu",
		     (unsigned long long)off);
	cr_expect_eq(memcmp(back, want, n), 0, "%zu bytes at %llu read back otherwise", n,
		     (unsigned long long)off);
	close(rfd);
	free(back);
}

static bool want_direct(void)
{
	if (recv_fd_direct(&w))
		return true;
	printf("skipped: no direct I/O on the file system of /tmp\n");
	return false;
}

TestSuite(recv_fd, .init = setup, .fini = teardown);

/* Two contiguous 256 KiB runs, then a run elsewhere and a short tail, as
 * recv writes chunks: all of it lands, the long runs direct. */
Test(recv_fd, long_runs_from_unaligned_memory_go_direct_and_read_back)
{
	struct stat st;

	if (!want_direct())
		cr_skip_test("no direct I/O on /tmp's file system");
	cr_assert_eq(recv_fd_pwrite(&w, src, 256 * KIB, 0), 0);
	cr_assert_eq(recv_fd_pwrite(&w, src + 256 * KIB, 256 * KIB, 256 * KIB), 0);
	cr_assert_eq(recv_fd_pwrite(&w, src + 1024 * KIB, 300 * KIB, 1024 * KIB), 0);
	cr_assert_eq(recv_fd_pwrite(&w, src + 1324 * KIB, 10, 1324 * KIB), 0);
	cr_assert_eq(recv_fd_flush(&w), 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq(st.st_size, 1324 * KIB + 10, "size %lld", (long long)st.st_size);
	expect_file(0, src, 512 * KIB);
	expect_file(1024 * KIB, src + 1024 * KIB, 300 * KIB + 10);
	cr_expect_eq(w.direct_bytes, 812 * KIB, "%llu bytes went direct, not the 812 KiB of long runs",
		     (unsigned long long)w.direct_bytes);
	cr_expect_geq(w.direct, 0, "direct I/O was turned off");
}

/* More than the bounce holds in one run: written as it fills. */
Test(recv_fd, a_run_longer_than_the_bounce_buffer)
{
	if (!want_direct())
		cr_skip_test("no direct I/O on /tmp's file system");
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(recv_fd_pwrite(&w, src, 2048 * KIB, (uint64_t)i * 2048 * KIB), 0);
	cr_assert_eq(recv_fd_flush(&w), 0);
	for (unsigned i = 0; i < 4; i++)
		expect_file((uint64_t)i * 2048 * KIB, src, 2048 * KIB);
	cr_expect_eq(w.direct_bytes, 8192 * KIB, "%llu", (unsigned long long)w.direct_bytes);
}

/* A short run that continues the gathered one (a chunk's kept pages,
 * then its data) is part of a long run: direct too; one that does not
 * continue it stays buffered. */
Test(recv_fd, a_short_run_continuing_a_long_one_goes_direct)
{
	if (!want_direct())
		cr_skip_test("no direct I/O on /tmp's file system");
	cr_assert_eq(recv_fd_pwrite(&w, src, 192 * KIB, 0), 0);
	cr_assert_eq(recv_fd_pwrite(&w, src + 192 * KIB, 8 * KIB, 192 * KIB), 0);
	cr_assert_eq(recv_fd_pwrite(&w, src + 200 * KIB, 56 * KIB, 200 * KIB), 0);
	cr_assert_eq(recv_fd_pwrite(&w, src + 300 * KIB, 8 * KIB, 300 * KIB), 0);   /* after a hole */
	cr_assert_eq(recv_fd_flush(&w), 0);
	expect_file(0, src, 256 * KIB);
	expect_file(300 * KIB, src + 300 * KIB, 8 * KIB);
	cr_expect_eq(w.direct_bytes, 256 * KIB, "%llu bytes went direct, not the 256 KiB of the continued run",
		     (unsigned long long)w.direct_bytes);
}

/* Pages between holes are short runs: buffered, in the file at once. */
Test(recv_fd, short_runs_are_written_at_once_through_the_page_cache)
{
	recv_fd_direct(&w);
	cr_assert_eq(recv_fd_pwrite(&w, src, 8 * KIB, 64 * KIB), 0);
	cr_assert_eq(recv_fd_pwrite(&w, src + 100, 5000, 200 * KIB), 0);
	expect_file(64 * KIB, src, 8 * KIB);
	expect_file(200 * KIB, src + 100, 5000);
	cr_expect_eq(w.direct_bytes, 0, "%llu", (unsigned long long)w.direct_bytes);
}

/* A file system stricter than it said refuses the direct write (EINVAL):
 * the gathered bytes are written buffered, and so is everything after. */
Test(recv_fd, a_refused_direct_write_loses_nothing)
{
	if (!want_direct())
		cr_skip_test("no direct I/O on /tmp's file system");
	/* What the file system told statx, made laxer than it is: offset 100
	 * is not one a direct write may start at. */
	w.align = 1;
	w.mem_align = 1;
	cr_assert_eq(recv_fd_pwrite(&w, src, 256 * KIB, 100), 0);
	cr_assert_eq(recv_fd_flush(&w), 0);
	cr_expect_lt(w.direct, 0, "direct I/O still on after a refusal");
	cr_assert_eq(recv_fd_pwrite(&w, src + 256 * KIB, 256 * KIB, 100 + 256 * KIB), 0);
	cr_assert_eq(recv_fd_flush(&w), 0);
	expect_file(100, src, 512 * KIB);
	cr_expect_eq(w.direct_bytes, 0, "%llu", (unsigned long long)w.direct_bytes);
}

/* The same refusal with writes queued behind the refused one (each made
 * while direct I/O was still on): none of them may meet a closed direct
 * descriptor; every byte lands, buffered. */
Test(recv_fd, a_refusal_with_writes_queued_loses_nothing)
{
	const unsigned pieces = 24;   /* 2 MiB each: twelve bounces */

	if (!want_direct())
		cr_skip_test("no direct I/O on /tmp's file system");
	w.align = 1;
	w.mem_align = 1;
	for (unsigned i = 0; i < pieces; i++)
		cr_assert_eq(recv_fd_pwrite(&w, src, 2048 * KIB, 100 + (uint64_t)i * 2048 * KIB), 0,
			     "piece %u", i);
	cr_assert_eq(recv_fd_flush(&w), 0);
	cr_expect_lt(w.direct, 0, "direct I/O still on after a refusal");
	for (unsigned i = 0; i < pieces; i++)
		expect_file(100 + (uint64_t)i * 2048 * KIB, src, 2048 * KIB);
	cr_expect_eq(w.direct_bytes, 0, "%llu", (unsigned long long)w.direct_bytes);
}

/* A newer transfer starts over: what was gathered never reaches the file. */
Test(recv_fd, dropped_bytes_never_reach_the_file)
{
	struct stat st;

	if (!want_direct())
		cr_skip_test("no direct I/O on /tmp's file system");
	cr_assert_eq(recv_fd_pwrite(&w, src, 256 * KIB, 0), 0);
	recv_fd_drop(&w);
	cr_assert_eq(recv_fd_flush(&w), 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq(st.st_size, 0, "size %lld", (long long)st.st_size);
}

/* A full bounce is written by the writer thread while the next fills: a
 * drop (a newer transfer) waits for that write, so the truncation that
 * follows is the last word and the file stays empty. */
Test(recv_fd, a_write_in_flight_lands_before_a_drop_and_truncation)
{
	struct stat st;

	if (!want_direct())
		cr_skip_test("no direct I/O on /tmp's file system");
	for (unsigned i = 0; i < 3; i++)   /* 6 MiB: one bounce out, 2 MiB gathered */
		cr_assert_eq(recv_fd_pwrite(&w, src, 2048 * KIB, (uint64_t)i * 2048 * KIB), 0);
	cr_expect_not_null(w.async, "no writer thread after a full bounce");
	recv_fd_drop(&w);
	cr_assert_eq(ftruncate(fd, 0), 0);
	usleep(50000);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq(st.st_size, 0, "size %lld: a write landed after the truncation", (long long)st.st_size);
	/* and the receive goes on, written whole */
	for (unsigned i = 0; i < 5; i++)
		cr_assert_eq(recv_fd_pwrite(&w, src, 2048 * KIB, (uint64_t)i * 2048 * KIB), 0);
	cr_assert_eq(recv_fd_flush(&w), 0);
	for (unsigned i = 0; i < 5; i++)
		expect_file((uint64_t)i * 2048 * KIB, src, 2048 * KIB);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq(st.st_size, 5 * 2048 * KIB, "size %lld", (long long)st.st_size);
}

/* A deferred write that fails (here the file size limit: EFBIG) is
 * reported by the next call that waits for it, never lost. */
Test(recv_fd, a_failed_write_of_the_writer_is_reported)
{
	struct rlimit lim = { .rlim_cur = 3 * 1024 * KIB, .rlim_max = RLIM_INFINITY };
	int rc = 0;

	if (!want_direct())
		cr_skip_test("no direct I/O on /tmp's file system");
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (unsigned i = 0; i < 5 && !rc; i++)
		rc = recv_fd_pwrite(&w, src, 2048 * KIB, (uint64_t)i * 2048 * KIB);
	if (!rc)
		rc = recv_fd_flush(&w);
	cr_expect_eq(rc, -EFBIG, "got %d (%s)", rc, strerror(-rc));
}

/* What a checkpoint may vouch for (recv_fd_landed): not the bytes still
 * gathered in the bounce buffer, nor a write in flight; everything once
 * flushed; buffered writes land at once. */
Test(recv_fd, landed_excludes_what_waits_in_the_bounce_buffer)
{
	if (!want_direct())
		cr_skip_test("no direct I/O on /tmp's file system");
	cr_assert_eq(recv_fd_pwrite(&w, src, 8 * KIB, 0), 0);   /* short: through the page cache */
	cr_expect_eq(recv_fd_landed(&w, 8 * KIB), 8 * KIB);
	cr_assert_eq(recv_fd_pwrite(&w, src, 256 * KIB, 8 * KIB), 0);   /* long: gathered */
	cr_expect_eq(recv_fd_landed(&w, 264 * KIB), 8 * KIB, "%llu",
		     (unsigned long long)recv_fd_landed(&w, 264 * KIB));
	/* More than the bounce holds: the first part goes out (perhaps
	 * still in flight), the rest waits. */
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(recv_fd_pwrite(&w, src, 2048 * KIB, 264 * KIB + (uint64_t)i * 2048 * KIB), 0);
	cr_expect_lt(recv_fd_landed(&w, 264 * KIB + 6144 * KIB), 264 * KIB + 6144 * KIB);
	cr_expect_geq(recv_fd_landed(&w, 264 * KIB + 6144 * KIB), 8 * KIB);
	cr_assert_eq(recv_fd_flush(&w), 0);
	cr_expect_eq(recv_fd_landed(&w, 264 * KIB + 6144 * KIB), 264 * KIB + 6144 * KIB);
}

static bool zero_bytes(const void *p, size_t n);

/* The pages of zeros of @p n bytes at @p p, as recv_zero_pages finds them. */
static uint64_t zeros_of(const uint8_t *p, size_t n)
{
	uint64_t z = 0;

	for (size_t at = 0, i = 0; at < n && i < 64; at += 4096, i++)
		if (zero_bytes(p + at, n - at < 4096 ? n - at : 4096))
			z |= 1ull << i;
	return z;
}

static bool zero_bytes(const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (((const uint8_t *)p)[i])
			return false;
	return true;
}

/* A 256 KiB chunk of data pages with zero pages among them: 3 zero pages
 * at 16 KiB, 20 at 44 KiB (80 KiB), then data to 160 KiB, then 24 zero
 * pages to its end. */
static uint8_t *sparse_chunk(void)
{
	uint8_t *c = src + 256 * KIB;   /* a second pattern, 96 bytes off alignment */

	memset(c + 16 * KIB, 0, 12 * KIB);
	memset(c + 44 * KIB, 0, 80 * KIB);
	memset(c + 160 * KIB, 0, 96 * KIB);
	return c;
}

/* Where the next hole at or after @p off starts, after a sync so that no
 * write is only in the page cache. */
static off_t hole_from(off_t off)
{
	cr_assert_eq(fsync(fd), 0);
	return lseek(fd, off, SEEK_HOLE);
}

/* Direct: the 3 zero pages between data are written with it (one long
 * run, direct), the 20 stay a hole; the chunk's zero tail too, so the
 * caller is told to give the file its size. Read back: the chunk. */
Test(recv_fd, short_runs_of_zero_pages_are_written_long_ones_left_holes)
{
	uint8_t *c = sparse_chunk();
	bool hole_at_end = false;

	if (!want_direct())
		cr_skip_test("no direct I/O on /tmp's file system");
	cr_assert_eq(recv_fd_pwrite(&w, src, 256 * KIB, 0), 0);   /* a chunk before: the run continues */
	cr_assert_eq(recv_fd_write_sparse(&w, c, 256 * KIB, 256 * KIB, zeros_of(c, 256 * KIB), &hole_at_end), 0);
	cr_expect(hole_at_end, "the chunk ends in 96 KiB of zeros, left a hole, yet the caller is not told");
	cr_assert_eq(recv_fd_flush(&w), 0);
	cr_assert_eq(ftruncate(fd, 512 * KIB), 0);
	expect_file(0, src, 512 * KIB);
	cr_expect_eq(hole_from(0), (off_t)(256 + 44) * KIB, "the first hole is at %lld, not after the short zero run",
		     (long long)hole_from(0));
	cr_expect_eq(lseek(fd, (256 + 44) * KIB, SEEK_DATA), (off_t)(256 + 124) * KIB);
	cr_expect_eq(w.direct_bytes, (256 + 44) * KIB, "%llu bytes went direct, not both runs",
		     (unsigned long long)w.direct_bytes);
	cr_assert_eq(recv_fd_write_sparse(&w, c, 20 * KIB, 512 * KIB, zeros_of(c, 20 * KIB), &hole_at_end), 0);
	cr_expect_not(hole_at_end, "a chunk ending in a short run of zeros written said it left a hole");
}

/* Buffered (no direct I/O: a file system without it): every zero page is
 * a hole, as there is no long write to keep whole. */
Test(recv_fd, without_direct_io_every_zero_page_is_a_hole)
{
	uint8_t *c = sparse_chunk();
	bool hole_at_end = false;

	cr_assert_eq(recv_fd_write_sparse(&w, c, 256 * KIB, 0, zeros_of(c, 256 * KIB), &hole_at_end), 0);
	cr_expect(hole_at_end);
	cr_assert_eq(ftruncate(fd, 256 * KIB), 0);
	expect_file(0, c, 256 * KIB);
	cr_expect_eq(hole_from(0), (off_t)16 * KIB, "the first hole is at %lld", (long long)hole_from(0));
	cr_expect_eq(lseek(fd, 16 * KIB, SEEK_DATA), (off_t)28 * KIB);
}

/* A receive much longer than the writer's queue (ten bounces of 4 MiB,
 * in pieces of 1 MiB from unaligned memory, each piece another pattern):
 * the bounces are queued, written and reused in turn, and every byte
 * lands where it belongs, direct; what has landed never runs ahead of
 * what was written. */
Test(recv_fd, many_full_bounces_are_queued_and_land_in_order)
{
	const unsigned pieces = 40;
	uint8_t *piece = malloc(1024 * KIB + 96), *p = piece + 96;
	uint64_t landed = 0;

	cr_assert_not_null(piece);
	if (!want_direct()) {
		free(piece);
		cr_skip_test("no direct I/O on /tmp's file system");
	}
	for (unsigned i = 0; i < pieces; i++) {
		uint64_t now;

		for (size_t b = 0; b < 1024 * KIB; b++)
			p[b] = (uint8_t)(b * 31 + i * 101 + 7);
		cr_assert_eq(recv_fd_pwrite(&w, p, 1024 * KIB, (uint64_t)i * 1024 * KIB), 0, "piece %u", i);
		now = recv_fd_landed(&w, (uint64_t)(i + 1) * 1024 * KIB);
		cr_expect_geq(now, landed, "landed went back from %llu to %llu", (unsigned long long)landed,
			      (unsigned long long)now);
		cr_expect_leq(now, (uint64_t)(i + 1) * 1024 * KIB);
		landed = now;
	}
	cr_assert_eq(recv_fd_flush(&w), 0);
	cr_expect_eq(recv_fd_landed(&w, (uint64_t)pieces * 1024 * KIB), (uint64_t)pieces * 1024 * KIB);
	cr_expect_eq(w.direct_bytes, (uint64_t)pieces * 1024 * KIB, "%llu bytes direct",
		     (unsigned long long)w.direct_bytes);
	for (unsigned i = 0; i < pieces; i++) {
		for (size_t b = 0; b < 1024 * KIB; b++)
			p[b] = (uint8_t)(b * 31 + i * 101 + 7);
		expect_file((uint64_t)i * 1024 * KIB, p, 1024 * KIB);
	}
	free(piece);
}
