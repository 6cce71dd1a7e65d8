/* dwcp recv's base (cli/recv_base.h): a previous copy is used only while
 * it is the file the last receive recorded, with the digest the sender
 * names; kept pages are read from it at their offsets. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cli/recv_base.h"

static char dir[64], idx[96];
static int dfd = -1;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/recv_base_test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(idx, sizeof(idx), "%s/index/sub", dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0);
}

static void teardown(void)
{
	char cmd[128];

	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(recv_base, .init = setup, .fini = teardown);

/* Write "out" with page i filled with byte i + 1 and record it (digest @p d). */
static void make_base(unsigned pages, uint64_t d)
{
	struct recv_base b;
	struct stat st;
	uint8_t page[4096];
	int fd = openat(dfd, "out", O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert_geq(fd, 0);
	for (unsigned i = 0; i < pages; i++) {
		memset(page, (int)(i + 1), sizeof(page));
		cr_assert_eq(write(fd, page, sizeof(page)), (ssize_t)sizeof(page));
	}
	cr_assert_eq(fstat(fd, &st), 0);
	close(fd);
	recv_base_open(&b, dfd, "none-yet", idx, "nodeB", "vm");
	cr_assert_eq(recv_base_record(&b, &st, d), 0, "the record's directory is made too");
	recv_base_close(&b);
}

Test(recv_base, recorded_copy_fills_kept_pages)
{
	struct recv_base b;
	uint8_t data[3 * 4096];

	make_base(8, 77);
	recv_base_open(&b, dfd, "out", idx, "nodeB", "vm");
	cr_assert(recv_base_usable(&b, 77), "%s", b.why);
	memset(data, 0, sizeof(data));
	/* A chunk at page 4 of 3 pages, pages 0 and 2 kept. */
	cr_assert_eq(recv_base_fill(&b, data, 4 * 4096, sizeof(data), 0x5), 0);
	cr_assert_eq(data[0], 5);
	cr_assert_eq(data[4095], 5);
	cr_assert_eq(data[4096], 0, "page 1 not kept: untouched");
	cr_assert_eq(data[2 * 4096], 7);
	/* Beyond the copy: the base is shorter than the sender thinks. */
	cr_assert_eq(recv_base_fill(&b, data, 8 * 4096, 4096, 0x1), -ENODATA);
	recv_base_close(&b);
}

/* Moved pages (common/ops/hde.h version 3) from the previous copy and,
 * with DWCP_HDE_SRC_NEW, from pages of this version already in the
 * output: runs of consecutive sources are read as one, every page lands
 * where it belongs, and a corrupt source touches nothing. */
Test(recv_base, moved_pages_come_from_either_file_run_or_not)
{
	struct recv_base b;
	uint64_t src[64] = { 0 }, moved = 0;
	static uint8_t data[16 * 4096];
	uint8_t page[4096];
	int out = openat(dfd, "new", O_RDWR | O_CREAT | O_TRUNC, 0644);

	cr_assert_geq(out, 0);
	for (unsigned i = 0; i < 4; i++) {   /* the output so far: 4 pages of 0xa0 + i */
		memset(page, 0xa0 + (int)i, sizeof(page));
		cr_assert_eq(pwrite(out, page, sizeof(page), (off_t)i * 4096), (ssize_t)sizeof(page));
	}
	make_base(20, 77);
	recv_base_open(&b, dfd, "out", idx, "nodeB", "vm");
	cr_assert(recv_base_usable(&b, 77), "%s", b.why);
	/* Pages 0-2 from base pages 5-7 (a run), 4 from base page 12, 6-7
	 * from output pages 1-2 (a run), 8 from output page 3, 9 from base
	 * page 8 (follows page 8's source only in number: another file),
	 * 15 from base page 19 (the last). */
	for (unsigned i = 0; i < 3; i++)
		src[i] = (5 + i) * 4096ull;
	src[4] = 12 * 4096ull;
	src[6] = DWCP_HDE_SRC_NEW | 4096ull;
	src[7] = DWCP_HDE_SRC_NEW | 2 * 4096ull;
	src[8] = DWCP_HDE_SRC_NEW | 3 * 4096ull;
	src[9] = 8 * 4096ull;
	src[15] = 19 * 4096ull;
	moved = 0x7 | 1u << 4 | 1u << 6 | 1u << 7 | 1u << 8 | 1u << 9 | 1u << 15;
	memset(data, 0xee, sizeof(data));
	cr_assert_eq(recv_base_fill_moved(&b, data, sizeof(data), moved, src, out, 4 * 4096), 0);
	for (unsigned i = 0; i < 16; i++) {
		int want = moved >> i & 1 ? (src[i] & DWCP_HDE_SRC_NEW ? 0xa0 + (int)((src[i] & ~DWCP_HDE_SRC_NEW) / 4096) :
						     (int)(src[i] / 4096 + 1)) : 0xee;

		cr_expect(data[i * 4096] == want && data[i * 4096 + 4095] == want,
			  "page %u holds %#x..%#x, not %#x", i, data[i * 4096], data[i * 4096 + 4095], want);
	}
	/* A page of this version not written yet, a base page past its end:
	 * a corrupt chunk, and nothing of it is filled. */
	memset(data, 0xee, sizeof(data));
	src[8] = DWCP_HDE_SRC_NEW | 4 * 4096ull;
	cr_expect_eq(recv_base_fill_moved(&b, data, sizeof(data), moved, src, out, 4 * 4096), -ERANGE);
	src[8] = DWCP_HDE_SRC_NEW | 3 * 4096ull;
	src[15] = 20 * 4096ull;
	cr_expect_eq(recv_base_fill_moved(&b, data, sizeof(data), moved, src, out, 4 * 4096), -ERANGE);
	for (unsigned i = 0; i < sizeof(data); i++)
		cr_assert_eq(data[i], 0xee, "byte %u filled from a corrupt chunk", i);
	close(out);
	recv_base_close(&b);
}

Test(recv_base, another_digest_is_refused)
{
	struct recv_base b;

	make_base(2, 77);
	recv_base_open(&b, dfd, "out", idx, "nodeB", "vm");
	cr_assert_not(recv_base_usable(&b, 78));
	cr_assert(strstr(b.why, "another version"), "%s", b.why);
	recv_base_close(&b);
}

Test(recv_base, no_copy_no_record_or_another_stream_is_no_base)
{
	struct recv_base b;

	recv_base_open(&b, dfd, "out", idx, "nodeB", "vm");
	cr_assert_not(recv_base_usable(&b, 77), "no file");
	make_base(2, 77);
	recv_base_open(&b, dfd, "out", idx, "nodeB", "other");
	cr_assert_not(recv_base_usable(&b, 77), "no record of that stream");
	cr_assert(strstr(b.why, "no record"), "%s", b.why);
	recv_base_close(&b);
}

Test(recv_base, copy_changed_before_or_during_the_receive_is_refused)
{
	struct recv_base b;
	int fd;

	make_base(2, 77);
	/* Changed in place before the receive: same size, another mtime
	 * (set explicitly: two writes within one clock tick share one). */
	fd = openat(dfd, "out", O_WRONLY);
	cr_assert_eq(pwrite(fd, "x", 1, 10), 1);
	cr_assert_eq(futimens(fd, (struct timespec[]){ { 0, UTIME_OMIT }, { 1000000000, 0 } }), 0);
	close(fd);
	recv_base_open(&b, dfd, "out", idx, "nodeB", "vm");
	cr_assert_not(recv_base_usable(&b, 77));
	cr_assert(strstr(b.why, "not the one"), "%s", b.why);
	recv_base_close(&b);

	/* Changed during the receive: usable first, refused after. */
	make_base(2, 77);
	recv_base_open(&b, dfd, "out", idx, "nodeB", "vm");
	cr_assert(recv_base_usable(&b, 77), "%s", b.why);
	fd = openat(dfd, "out", O_WRONLY | O_APPEND);
	cr_assert_eq(write(fd, "y", 1), 1);
	close(fd);
	cr_assert_not(recv_base_usable(&b, 77));
	cr_assert(strstr(b.why, "changed during"), "%s", b.why);
	recv_base_close(&b);
}

Test(recv_base, replaced_copy_is_refused)
{
	struct recv_base b;
	int fd;

	make_base(2, 77);
	/* Same bytes under another inode (a copy put there by someone). */
	fd = openat(dfd, "out.new", O_WRONLY | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(renameat(dfd, "out.new", dfd, "out"), 0);
	recv_base_open(&b, dfd, "out", idx, "nodeB", "vm");
	cr_assert_not(recv_base_usable(&b, 77));
	recv_base_close(&b);
}

Test(recv_base, symlink_is_no_base)
{
	struct recv_base b;

	make_base(2, 77);
	cr_assert_eq(renameat(dfd, "out", dfd, "real"), 0);
	cr_assert_eq(symlinkat("real", dfd, "out"), 0);
	recv_base_open(&b, dfd, "out", idx, "nodeB", "vm");
	cr_assert_not(recv_base_usable(&b, 77), "a symlink is never followed");
	recv_base_close(&b);
}

/* The output of two chunks written as recv writes them, front to back:
 * what is read back is exactly the data (kept pages filled from the base
 * first, a partial last page, zero pages anywhere), a long run of zero
 * pages is a hole (a short one too where writes are buffered: with direct
 * I/O it is written with the data around it, recv_fd_write_sparse), and
 * a trailing zero page still counts in the size. Kept whole pages are
 * cloned where /tmp's file system can, written where it cannot. */
Test(recv_base, written_output_reads_back_as_the_data_with_zero_pages_as_holes)
{
	enum { P = 4096, CH = 64 * P };
	static uint8_t data[2][CH], back[2 * CH];
	struct recv_base b;
	uint64_t cloned = 0;
	struct recv_fd w;
	struct stat st;
	bool direct;
	int fd;

	make_base(80, 77);
	recv_base_open(&b, dfd, "out", idx, "nodeB", "vm");
	cr_assert(recv_base_usable(&b, 77), "%s", b.why);
	fd = openat(dfd, "new", O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	w = recv_fd_of(fd);
	direct = recv_fd_direct(&w);
	/* chunk 0: pages 0-1 kept, 2-5 zero, 6 data, 7 kept, 8-63 zero */
	memset(data[0], 0, CH);
	cr_assert_eq(recv_base_fill(&b, data[0], 0, CH, 0x83), 0);
	memset(data[0] + 6 * P, 0xab, P);
	cr_assert_eq(recv_base_write(&b, &w, data[0], 0, CH, 0x83,
				     recv_zero_pages(b.delta.is_zero, data[0], CH, 0), &cloned), 0);
	/* chunk 1: 3 pages and a half; page 1 kept, the half page zero */
	memset(data[1], 0, CH);
	memset(data[1], 0xcd, P);
	cr_assert_eq(recv_base_fill(&b, data[1], CH, 3 * P, 0x2), 0);
	memset(data[1] + 2 * P, 0xef, P);
	cr_assert_eq(recv_base_write(&b, &w, data[1], CH, 3 * P + P / 2, 0x2,
				     recv_zero_pages(b.delta.is_zero, data[1], 3 * P + P / 2, 0), &cloned), 0);
	cr_assert_eq(recv_fd_flush(&w), 0);
	recv_fd_direct_close(&w);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq(st.st_size, CH + 3 * P + P / 2, "size %lld", (long long)st.st_size);
	cr_assert_eq(pread(fd, back, (size_t)st.st_size, 0), st.st_size);
	cr_expect_eq(memcmp(back, data[0], CH), 0, "chunk 0 reads back otherwise");
	cr_expect_eq(memcmp(back + CH, data[1], 3 * P + P / 2), 0, "chunk 1 reads back otherwise");
	cr_expect_eq(back[P], 2, "kept page 1 is the base's page 1");
	cr_expect_leq(cloned, 4, "%llu pages cloned of 4 kept whole pages", (unsigned long long)cloned);
	cr_expect_lt(st.st_blocks * 512, st.st_size - 48 * P,
		     "%lld bytes allocated for %lld: the 56 zero pages were written",
		     (long long)st.st_blocks * 512, (long long)st.st_size);
	cr_expect_eq(lseek(fd, 0, SEEK_HOLE), (off_t)(direct ? 8 * P : 2 * P),
		     "the first hole at %lld (direct I/O %s)", (long long)lseek(fd, 0, SEEK_HOLE),
		     direct ? "on" : "off");
	close(fd);
	recv_base_close(&b);
}

/* A page is zero when every byte is, wherever the one that is not lies
 * (first, last, across each 128-, 32- and 8-byte step, a short tail). */
Test(recv_base, zero_means_every_byte)
{
	static uint8_t p[4096 + 13];
	static const uint32_t lens[] = { 0, 1, 7, 8, 9, 63, 64, 65, 4096, 4096 + 13 };
	struct recv_base b;
	struct dwcp_cpu_features cpu;

	dwcp_cpu_detect(&cpu);
	dwcp_delta_select(&b.delta, &cpu);
	for (unsigned li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		uint32_t n = lens[li];

		memset(p, 0, sizeof(p));
		cr_expect(recv_base_zero(&b, p, n), "%u zero bytes", n);
		for (uint32_t at = 0; at < n; at++) {
			p[at] = 0x80;
			cr_expect_not(recv_base_zero(&b, p, n), "%u bytes, byte %u set", n, at);
			p[at] = 0;
		}
		if (n < sizeof(p)) {
			p[n] = 1;   /* past the end: not looked at */
			cr_expect(recv_base_zero(&b, p, n), "%u bytes, the byte after them set", n);
		}
	}
}

/* The zero pages a chunk is written with (the checker thread finds them
 * as chunks arrive): one bit per page, a short last page by its bytes,
 * and one set byte anywhere in a page keeps it data. */
Test(recv_base, zero_pages_are_one_bit_per_page)
{
	static uint8_t c[64 * 4096];
	struct dwcp_delta_impl d;
	struct dwcp_cpu_features cpu;

	dwcp_cpu_detect(&cpu);
	dwcp_delta_select(&d, &cpu);
	memset(c, 0, sizeof(c));
	cr_expect_eq(recv_zero_pages(d.is_zero, c, sizeof(c), 0), ~0ull);
	cr_expect_eq(recv_zero_pages(d.is_zero, c, 3 * 4096 + 5, 0), 0xfull, "a short last page counts");
	cr_expect_eq(recv_zero_pages(d.is_zero, c, 0, 0), 0);
	c[4096 + 4095] = 1;       /* the last byte of page 1 */
	c[63 * 4096] = 2;         /* the first of page 63 */
	cr_expect_eq(recv_zero_pages(d.is_zero, c, sizeof(c), 0), ~0ull & ~(1ull << 1) & ~(1ull << 63));
	c[3 * 4096 + 4] = 3;      /* in the short last page */
	cr_expect_eq(recv_zero_pages(d.is_zero, c, 3 * 4096 + 5, 0), 0x5ull);
	/* skipped pages (kept ones) are not looked at: never zero */
	cr_expect_eq(recv_zero_pages(d.is_zero, c, 3 * 4096 + 5, 0x3ull), 0x4ull);
	memset(c, 0, sizeof(c));
	cr_expect_eq(recv_zero_pages(d.is_zero, c, sizeof(c), 1ull << 63 | 1), ~0ull & ~(1ull << 63) & ~1ull);
}

/* A checkpoint's record vouches for a prefix of a file that may be
 * longer and written since (cli/recv_partial.h): the same file with at
 * least that many bytes is a base whose valid bytes are the prefix, and
 * kept pages past it are not held there; another or a shorter file is
 * no base. */
Test(recv_base, a_prefix_record_vouches_for_its_prefix_only)
{
	char rec[160];
	struct dwcp_hde_kept k = { 0 };
	struct recv_base b;
	int fd;

	make_base(8, 77);
	snprintf(rec, sizeof(rec), "%s/part", idx);
	fd = openat(dfd, "out", O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(recv_base_write_prefix_record(rec, fd, 9 * 4096, 5), -EINVAL,
		     "a prefix longer than the file");
	cr_assert_eq(recv_base_write_prefix_record(rec, fd, 4 * 4096, 5), 0);
	/* Written past the prefix since (the receive went on): still vouched for. */
	cr_assert_eq(pwrite(fd, "z", 1, 6 * 4096), 1);
	cr_assert_eq(futimens(fd, (struct timespec[]){ { 0, UTIME_OMIT }, { 1000000000, 0 } }), 0);
	recv_base_open_recorded(&b, dfd, "out", rec);
	cr_assert(recv_base_usable(&b, 5), "%s", b.why);
	cr_expect_eq(b.valid, 4 * 4096);
	k.mask = 0x3;   /* pages 0 and 1 of a chunk */
	cr_expect(recv_base_holds(&b, 2 * 4096, 4 * 4096, &k), "pages 2 and 3 are in the prefix");
	cr_expect_not(recv_base_holds(&b, 3 * 4096, 4 * 4096, &k), "page 4 is past it");
	k.mask = 0;
	k.moved = 0x1;
	k.src[0] = 3 * 4096;
	cr_expect(recv_base_holds(&b, 40 * 4096, 4096, &k), "moved from page 3");
	k.src[0] = 4 * 4096;
	cr_expect_not(recv_base_holds(&b, 40 * 4096, 4096, &k), "moved from page 4");
	recv_base_close(&b);

	/* Cut below the prefix: not the data recorded. */
	cr_assert_eq(ftruncate(fd, 3 * 4096), 0);
	recv_base_open_recorded(&b, dfd, "out", rec);
	cr_expect_not(recv_base_usable(&b, 5));
	recv_base_close(&b);
	close(fd);

	/* Another file under the name (the file system may give it the
	 * freed inode: its birth time differs): no base. */
	cr_assert_eq(unlinkat(dfd, "out", 0), 0);
	usleep(10000);
	make_base(8, 77);
	recv_base_open_recorded(&b, dfd, "out", rec);
	cr_expect_not(recv_base_usable(&b, 5));
	recv_base_close(&b);
}
