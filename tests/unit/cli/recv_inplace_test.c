/* dwcp recv --inplace (cli/recv_inplace.h): only the pages that travelled
 * are written into the previous copy (kept pages are never touched, zero
 * pages read back as zeros, growth and shrinking end at the new size),
 * and the record stops vouching for the file before its first change. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cli/recv_inplace.h"

#define PAGE 4096u

static char dir[64], idx[96], rec[160];
static int dfd = -1, fd = -1;
static struct recv_fd w;      /* fd, and direct I/O where /tmp has it, as dwcp recv writes */
static struct recv_base b;
static struct recv_inplace ip;

/* "out": 8 pages, page i all byte i + 1, recorded; opened as base and for writing. */
static void setup(void)
{
	uint8_t page[PAGE];
	struct stat st;

	snprintf(dir, sizeof(dir), "/tmp/recv_inplace_test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(idx, sizeof(idx), "%s/index", dir);
	snprintf(rec, sizeof(rec), "%s/nodeB@vm.rcv", idx);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0);
	fd = openat(dfd, "out", O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	for (unsigned i = 0; i < 8; i++) {
		memset(page, (int)(i + 1), sizeof(page));
		cr_assert_eq(write(fd, page, sizeof(page)), (ssize_t)sizeof(page));
	}
	cr_assert_eq(fstat(fd, &st), 0);
	recv_base_open(&b, dfd, "none-yet", idx, "nodeB", "vm");
	cr_assert_eq(recv_base_record(&b, &st, 42), 0);
	recv_base_close(&b);
	recv_base_open(&b, dfd, "out", idx, "nodeB", "vm");
	cr_assert(recv_base_usable(&b, 42), "the recorded copy is no base: %s", b.why);
	recv_inplace_begin(&ip, (uint64_t)st.st_size);
	w = recv_fd_of(fd);
	recv_fd_direct(&w);
}

static void teardown(void)
{
	char cmd[128];

	recv_base_close(&b);
	recv_fd_direct_close(&w);
	close(fd);
	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(recv_inplace, .init = setup, .fini = teardown);

/* Page @p i of the file is all byte @p v (a short page: its first @p n bytes). */
static void expect_page(unsigned i, uint8_t v, uint32_t n)
{
	uint8_t got[PAGE];

	cr_assert_eq(pread(fd, got, n, (off_t)i * PAGE), (ssize_t)n, "page %u short", i);
	for (uint32_t k = 0; k < n; k++)
		cr_assert_eq(got[k], v, "page %u byte %u: 0x%02x, expected 0x%02x", i, k, got[k], v);
}

Test(recv_inplace, writes_only_pages_not_kept_and_withdraws_the_record_first)
{
	static uint8_t data[8 * PAGE];
	struct stat st;

	/* Kept pages carry what the receive filled in; here bytes that differ
	 * from the file, so a write of them would show. */
	memset(data, 0xee, sizeof(data));
	memset(data + 3 * PAGE, 0, PAGE);            /* page 3: zeros */
	memset(data + 4 * PAGE, 0xab, 4 * PAGE);     /* pages 4-7: changed */
	cr_assert_eq(access(rec, F_OK), 0);
	cr_assert_eq(recv_inplace_write(&ip, &b, &w, data, 0, sizeof(data), 0x7ull,
					recv_zero_pages(b.delta.is_zero, data, sizeof(data), 0)), 0);
	cr_expect_neq(access(rec, F_OK), 0, "the record still vouches for a rewritten file");
	for (unsigned i = 0; i < 3; i++)
		expect_page(i, (uint8_t)(i + 1), PAGE);
	expect_page(3, 0, PAGE);
	for (unsigned i = 4; i < 8; i++)
		expect_page(i, 0xab, PAGE);
	cr_expect_eq(ip.written_pages, 5);
	cr_assert_eq(recv_inplace_end(&ip, &b, &w, sizeof(data)), 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq(st.st_size, (off_t)sizeof(data));
	/* The receive's own writes do not make the base "changed behind its back". */
	cr_expect(recv_base_usable(&b, 42), "%s", b.why);
}

Test(recv_inplace, all_kept_touches_nothing_and_keeps_the_record)
{
	static uint8_t data[8 * PAGE];

	memset(data, 0xee, sizeof(data));
	cr_assert_eq(recv_inplace_write(&ip, &b, &w, data, 0, sizeof(data), 0xffull,
					recv_zero_pages(b.delta.is_zero, data, sizeof(data), 0)), 0);
	cr_assert_eq(recv_inplace_end(&ip, &b, &w, sizeof(data)), 0);
	cr_expect_eq(access(rec, F_OK), 0, "the record went, though nothing changed");
	cr_expect_eq(ip.written_pages, 0);
	for (unsigned i = 0; i < 8; i++)
		expect_page(i, (uint8_t)(i + 1), PAGE);
}

Test(recv_inplace, grows_with_zeros_and_data_then_shrinks)
{
	static uint8_t data[3 * PAGE + 100];
	struct stat st;

	/* Beyond the old end: two pages of zeros, one of data, 100 bytes. */
	memset(data, 0, 2 * PAGE);
	memset(data + 2 * PAGE, 0xcd, PAGE + 100);
	cr_assert_eq(recv_inplace_write(&ip, &b, &w, data, 8 * PAGE, sizeof(data), 0,
					recv_zero_pages(b.delta.is_zero, data, sizeof(data), 0)), 0);
	cr_assert_eq(recv_inplace_end(&ip, &b, &w, 8 * PAGE + sizeof(data)), 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq(st.st_size, (off_t)(8 * PAGE + sizeof(data)));
	expect_page(7, 8, PAGE);
	expect_page(8, 0, PAGE);
	expect_page(9, 0, PAGE);
	expect_page(10, 0xcd, PAGE);
	expect_page(11, 0xcd, 100);

	/* A shorter version whose pages are all kept: only the truncate
	 * changes the file, and the record goes before it. */
	recv_base_close(&b);
	recv_base_open(&b, dfd, "out", idx, "nodeB", "vm");
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(recv_base_record(&b, &st, 43), 0);
	recv_inplace_begin(&ip, (uint64_t)st.st_size);
	cr_assert_eq(recv_inplace_end(&ip, &b, &w, 2 * PAGE + 10), 0);
	cr_expect_neq(access(rec, F_OK), 0, "the record still vouches for a truncated file");
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq(st.st_size, (off_t)(2 * PAGE + 10));
	expect_page(0, 1, PAGE);
	expect_page(2, 3, 10);
}

/* A trailing zero run that starts inside the file and ends beyond it:
 * the part inside reads zeros, the part beyond comes from the truncate. */
Test(recv_inplace, zero_run_across_the_old_end)
{
	static uint8_t data[4 * PAGE];

	memset(data, 0, sizeof(data));
	cr_assert_eq(recv_inplace_write(&ip, &b, &w, data, 6 * PAGE, sizeof(data), 0,
					recv_zero_pages(b.delta.is_zero, data, sizeof(data), 0)), 0);
	cr_assert_eq(recv_inplace_end(&ip, &b, &w, 10 * PAGE), 0);
	expect_page(5, 6, PAGE);
	for (unsigned i = 6; i < 10; i++)
		expect_page(i, 0, PAGE);
}

/* While writes go direct, a short run of zero pages is written with the
 * pages around it (one long write), a long one punched; without direct
 * I/O each is punched. Either way they read back as zeros over what the
 * file had, and the kept pages stay as they were. */
Test(recv_inplace, short_zero_runs_are_written_long_ones_punched)
{
	enum { N = 64 };
	static uint8_t chunk[N * PAGE];
	uint8_t page[PAGE];
	uint64_t kept = 0;
	bool direct = w.direct >= 0;

	for (unsigned i = 8; i < N; i++) {
		memset(page, (int)(i + 1), sizeof(page));
		cr_assert_eq(pwrite(fd, page, PAGE, (off_t)i * PAGE), (ssize_t)PAGE);
	}
	recv_inplace_begin(&ip, N * PAGE);
	/* page 0 data, 1-3 zeros, 4 data, 5-24 zeros (80 KiB), 25-63 kept */
	memset(chunk, 0, sizeof(chunk));
	memset(chunk, 0xaa, PAGE);
	memset(chunk + 4 * PAGE, 0xbb, PAGE);
	for (unsigned i = 25; i < N; i++)
		kept |= 1ull << i;
	cr_assert_eq(recv_inplace_write(&ip, &b, &w, chunk, 0, N * PAGE, kept,
					recv_zero_pages(b.delta.is_zero, chunk, N * PAGE, 0)), 0);
	cr_assert_eq(fsync(fd), 0);
	expect_page(0, 0xaa, PAGE);
	for (unsigned i = 1; i < 4; i++)
		expect_page(i, 0, PAGE);
	expect_page(4, 0xbb, PAGE);
	for (unsigned i = 5; i < 25; i++)
		expect_page(i, 0, PAGE);
	for (unsigned i = 25; i < N; i++)
		expect_page(i, (uint8_t)(i + 1), PAGE);
	cr_expect_eq(lseek(fd, 0, SEEK_HOLE), (off_t)(direct ? 5 : 1) * PAGE,
		     "the first hole at page %lld (direct I/O %s)", (long long)lseek(fd, 0, SEEK_HOLE) / PAGE,
		     direct ? "on" : "off");
	cr_expect_eq(lseek(fd, 5 * PAGE, SEEK_DATA), (off_t)25 * PAGE);
	cr_expect_eq(ip.written_pages, 25, "%llu pages written or punched", (unsigned long long)ip.written_pages);
}
