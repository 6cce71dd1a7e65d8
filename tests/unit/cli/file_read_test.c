/* dwcp send's and recv's reads (cli/file_read.h): data the page cache holds is
 * copied from it; data it does not hold comes by direct I/O windows; any
 * offset and length reads back exactly the file, into unaligned memory as
 * the chunk buffers are; a file that ends early is an error, not zeros. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cli/file_read.h"

#define KIB 1024u
#define MIB (1024u * KIB)
#define SIZE (10 * MIB + 123)  /* three windows, and a short last page */

static char dir[64], path[96];
static int fd = -1;
static struct file_read r;
static uint8_t *want, *dst_mem, *dst;

/* aligned_alloc wants a size that is a multiple of the alignment. */
static void *page_alloc(size_t n)
{
	return aligned_alloc(4096, (n + 4095) / 4096 * 4096);
}

static void write_file(int flags)
{
	int wfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | flags, 0600);
	uint8_t *src = page_alloc(SIZE);
	size_t whole = SIZE - SIZE % 4096;

	cr_assert_geq(wfd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_not_null(src);
	memcpy(src, want, SIZE);
	cr_assert_eq(pwrite(wfd, src, whole, 0), (ssize_t)whole, "write: %s", strerror(errno));
	close(wfd);
	/* The short last page, buffered (direct I/O writes whole pages). */
	wfd = open(path, O_WRONLY | O_CLOEXEC);
	cr_assert_eq(pwrite(wfd, src + whole, SIZE - whole, (off_t)whole), (ssize_t)(SIZE - whole));
	cr_assert_eq(fsync(wfd), 0);
	close(wfd);
	free(src);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/file_read_test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/img", dir);
	want = malloc(SIZE);
	dst_mem = page_alloc(SIZE + 96);
	cr_assert(want && dst_mem);
	dst = dst_mem + 96;                     /* as dwcp_chunk_body() is */
	for (size_t i = 0; i < SIZE; i++)
		want[i] = (uint8_t)(i * 151 + (i >> 12) * 11 + 3);
}

static void teardown(void)
{
	file_read_close(&r);
	if (fd >= 0)
		close(fd);
	unlink(path);
	rmdir(dir);
	free(want);
	free(dst_mem);
}

static void open_reader(void)
{
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	r = file_read_of(fd);
}

/* The whole file read as dwcp send reads it: 256 KiB chunks in order. */
static void read_in_chunks(void)
{
	for (size_t off = 0; off < SIZE; off += 256 * KIB) {
		size_t n = SIZE - off < 256 * KIB ? SIZE - off : 256 * KIB;

		cr_assert_eq(file_read_full(&r, dst + off, n, off), 0, "chunk at %zu", off);
	}
	cr_expect_eq(memcmp(dst, want, SIZE), 0, "the file reads back otherwise");
}

/* Each of @p n (offset, length) reads, cold, exactly the file's bytes. */
static void read_at(const size_t (*at)[2], size_t n)
{
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	for (size_t i = 0; i < n; i++) {
		memset(dst, 0xee, at[i][1]);
		cr_assert_eq(file_read_full(&r, dst, at[i][1], at[i][0]), 0, "read %zu at %zu",
			     at[i][1], at[i][0]);
		cr_expect_eq(memcmp(dst, want + at[i][0], at[i][1]), 0, "%zu bytes at %zu differ",
			     at[i][1], at[i][0]);
	}
}

TestSuite(file_read, .init = setup, .fini = teardown);

/* The file written direct (none of it in the page cache) and opened with
 * a direct view, reading ahead with @p ahead; skipped where /tmp's file
 * system has no direct I/O. */
static void open_cold(bool ahead)
{
	write_file(O_DIRECT);
	open_reader();
	if (!file_read_direct(&r)) {
		printf("skipped: no direct I/O on the file system of /tmp\n");
		cr_skip_test("no direct I/O on /tmp's file system");
	}
	if (ahead)
		cr_assert(file_read_ahead(&r), "no read-ahead helper");
}

/* Skipped where the kernel cannot say what the page cache holds: then
 * everything is read through it, and no figure of direct bytes holds. */
static void need_cachestat(void)
{
	if (r.cache_unknown) {
		printf("skipped: no cachestat(2) in this kernel\n");
		cr_skip_test("no cachestat(2) in this kernel (before 6.5): read through the cache");
	}
}

/* The file written direct, so none of it is in the page cache, read
 * whole as dwcp send reads it (reading ahead with @p ahead): all of it by
 * direct windows. */
static void read_cold(bool ahead)
{
	open_cold(ahead);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);   /* the buffered tail page too */
	read_in_chunks();
	need_cachestat();
	cr_expect_eq(r.direct_bytes, SIZE, "%llu bytes read direct of %u",
		     (unsigned long long)r.direct_bytes, SIZE);
}

Test(file_read, data_not_in_the_page_cache_comes_by_direct_windows)
{
	read_cold(false);
	cr_expect_eq(r.ahead_bytes, 0, "%llu bytes read ahead, not asked to", (unsigned long long)r.ahead_bytes);
}

Test(file_read, data_in_the_page_cache_is_copied_from_it)
{
	write_file(0);
	open_reader();
	file_read_direct(&r);
	read_in_chunks();
	cr_expect_eq(r.direct_bytes, 0, "%llu bytes read direct of a cached file",
		     (unsigned long long)r.direct_bytes);
}

/* Odd offsets and lengths (a redo, a moved page's neighbour) read exactly. */
Test(file_read, any_offset_and_length_reads_exactly)
{
	static const size_t at[][2] = { { 0, 1 }, { 4095, 2 }, { 5 * MIB - 7, MIB + 7 },
					{ 100, 4 * MIB + 1 }, { SIZE - 1, 1 }, { 3 * MIB, 300 * KIB } };

	write_file(O_DIRECT);
	open_reader();
	file_read_direct(&r);
	read_at(at, sizeof(at) / sizeof(at[0]));
}

Test(file_read, a_file_that_ends_early_is_an_error)
{
	write_file(0);
	open_reader();
	file_read_direct(&r);
	cr_expect_eq(file_read_full(&r, dst, 4096, SIZE - 100), -EIO);
	cr_expect_eq(file_read_full(&r, dst, 1, SIZE), -EIO);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	r.win_len = 0;          /* forget the window: read from the file again */
	cr_expect_eq(file_read_full(&r, dst, 8192, SIZE - 4096), -EIO);
}

/* dwcp send reads ahead: after the first window, each next one was read
 * by the helper while the last was used; every byte exact. */
Test(file_read, a_sequential_reader_gets_windows_read_ahead)
{
	read_cold(true);
	cr_expect_eq(r.ahead_bytes, SIZE - FILE_READ_WIN, "%llu bytes read ahead, not all but the first window",
		     (unsigned long long)r.ahead_bytes);
}

/* A reader that jumps about (a resend of an early chunk) with reading
 * ahead on: each read exact, whatever the helper read meanwhile. */
Test(file_read, jumps_with_read_ahead_on_read_exactly)
{
	static const size_t at[][2] = { { 0, 256 * KIB }, { 5 * MIB, 8 * KIB }, { 0, 4096 }, { 4 * MIB, 256 * KIB },
					{ 4 * MIB + 256 * KIB, 256 * KIB }, { 100, 4 * MIB + 1 }, { SIZE - 1, 1 } };

	write_file(O_DIRECT);
	open_reader();
	if (!file_read_direct(&r) || !file_read_ahead(&r))
		cr_skip_test("no direct I/O on /tmp's file system");
	read_at(at, sizeof(at) / sizeof(at[0]));
}

/* dwcp recv reads moved pages from anywhere in its previous copy between
 * the kept pages it reads in order: those reads are served beside the
 * window, which stays, and so does the read ahead: every byte of the
 * file is read direct once, all but the first window ahead. */
Test(file_read, scattered_reads_leave_the_window_and_the_read_ahead_alone)
{
	static const size_t at[][2] = { { 5 * MIB + 8 * KIB, 8 * KIB }, { 100, 5 }, { 9 * MIB, 4096 },
					{ 4 * MIB - 4096, 8 * KIB } };
	uint8_t page[8 * KIB];

	open_cold(true);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	cr_assert_eq(file_read_full(&r, dst, 256 * KIB, 0), 0);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		file_read_will_need(&r, at[i][0], at[i][1]);
		cr_assert_eq(file_read_scattered(&r, page, at[i][1], at[i][0]), 0);
		cr_expect_eq(memcmp(page, want + at[i][0], at[i][1]), 0, "%zu bytes at %zu differ",
			     at[i][1], at[i][0]);
	}
	cr_expect(r.win_off == 0 && r.win_len == FILE_READ_WIN, "the window moved to %llu+%zu",
		  (unsigned long long)r.win_off, r.win_len);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	read_in_chunks();
	need_cachestat();
	cr_expect_eq(r.direct_bytes, SIZE, "%llu bytes read direct of %u",
		     (unsigned long long)r.direct_bytes, SIZE);
	cr_expect_eq(r.ahead_bytes, SIZE - FILE_READ_WIN, "%llu bytes read ahead",
		     (unsigned long long)r.ahead_bytes);
	cr_expect_eq(file_read_scattered(&r, page, 4096, SIZE - 100), -EIO, "past the end: an error");
}

/* dwcp recv reads only the kept pages of its previous copy: a reader
 * that skips a little past the window still reads ahead. */
Test(file_read, a_reader_that_skips_a_little_still_reads_ahead)
{
	static const size_t at[][2] = { { 4096, 256 * KIB }, { 4 * MIB + 4096 + 64 * KIB, 256 * KIB },
					{ 8 * MIB + 72 * KIB, 256 * KIB } };

	open_cold(true);
	read_at(at, sizeof(at) / sizeof(at[0]));
	need_cachestat();
	cr_expect_eq(r.ahead_bytes, SIZE - (8 * MIB + 68 * KIB), "%llu bytes read ahead",
		     (unsigned long long)r.ahead_bytes);
}

/* kB of huge pages in the mapping of this process that holds @p p
 * (/proc/self/smaps); -1 when it is not found. */
static long huge_kb_at(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[256];
	bool in = false;
	long kb = -1;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* The windows and bounce buffers (4 MiB) sit on huge pages where the
 * kernel gives them on advice: two faults at first use, not 1,024. */
Test(file_io_buf, buffers_of_whole_huge_pages_are_aligned_and_backed_by_them)
{
	uint8_t *small = file_io_buf(3 * 4096), *big = file_io_buf(FILE_READ_WIN);
	char thp[128] = "";
	FILE *f;

	cr_assert(small && big);
	cr_expect_eq((uintptr_t)small % 4096, 0, "%p: not page-aligned", (void *)small);
	cr_expect_eq((uintptr_t)big % (2 * MIB), 0, "%p: not aligned to 2 MiB", (void *)big);
	memset(small, 1, 3 * 4096);
	memset(big, 1, FILE_READ_WIN);
	f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
	if (f) {
		if (!fgets(thp, sizeof(thp), f))
			thp[0] = '\0';
		fclose(f);
	}
	if (!strstr(thp, "[always]") && !strstr(thp, "[madvise]")) {
		free(small);
		free(big);
		printf("skipped: no transparent huge pages here (%s)\n", thp[0] ? thp : "no sysfs file");
		cr_skip_test("no transparent huge pages");
	}
	cr_expect_gt(huge_kb_at(big), 0, "%p: no huge page behind it (/proc/self/smaps)", (void *)big);
	free(small);
	free(big);
}
