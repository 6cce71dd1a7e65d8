/* The sender's page index (common/fpindex.h): what is written reads back,
 * the per-page entries are the digest's own page hashes and the pages'
 * weak keys (common/ops/weaksum.h, a short last page zero-padded), a
 * version 1 file (no keys) still reads, a failed or unfinished write
 * leaves the previous index, and a damaged file is no index. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/cpu.h"
#include "common/fpindex.h"
#include "common/ops/weaksum.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fpindex_test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(fpindex, .init = setup, .fini = teardown);

static uint8_t *data(size_t n, uint64_t seed)
{
	uint8_t *p = malloc(n ? n : 1);

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(seed >> 56);
	}
	return p;
}

/* The weak key of the @p k (<= 4096) bytes at @p p, zero-padded, summed
 * by the scalar path (the definition; weaksum_test checks the others). */
static uint32_t page_key(const uint8_t *p, size_t k)
{
	static const struct dwcp_cpu_features none;
	struct dwcp_weaksum_impl im;
	struct dwcp_weaksum s;
	uint8_t pad[DWCP_WEAKSUM_WINDOW] = { 0 };

	dwcp_weaksum_select(&im, &none);
	memcpy(pad, p, k);
	im.page(pad, &s);
	return dwcp_weaksum_key(&s);
}

/* Write an index of @p n bytes of @p p, fed in pieces of @p cut bytes
 * (as `dwcp send` feeds chunks); @return the digest. */
static uint64_t write_index(const char *path, const uint8_t *p, size_t n, size_t cut)
{
	struct dwcp_fpindex_writer w;
	struct dwcp_err err = { 0 };
	struct dwcp_digest d;
	uint8_t (*h)[DWCP_FPINDEX_ENTRY] = calloc(cut / DWCP_DIGEST_PAGE + 1, DWCP_FPINDEX_ENTRY);
	uint32_t *keys = calloc(cut / DWCP_DIGEST_PAGE + 1, sizeof(*keys));
	uint64_t v;

	cr_assert_not_null(h);
	cr_assert_not_null(keys);
	cr_assert_eq(dwcp_digest_init(&d), 0);
	cr_assert_eq(dwcp_fpindex_begin(&w, path, &err), 0, "%s", err.msg);
	for (size_t off = 0; off < n; off += cut) {
		size_t k = n - off < cut ? n - off : cut, np = (k + DWCP_DIGEST_PAGE - 1) / DWCP_DIGEST_PAGE;

		dwcp_digest_update_pages(&d, p + off, k, h);
		for (size_t i = 0; i < np; i++) {
			size_t left = k - i * DWCP_DIGEST_PAGE;

			keys[i] = page_key(p + off + i * DWCP_DIGEST_PAGE,
					   left < DWCP_DIGEST_PAGE ? left : DWCP_DIGEST_PAGE);
		}
		cr_assert_eq(dwcp_fpindex_add(&w, (const uint8_t (*)[DWCP_FPINDEX_ENTRY])h, keys, np), 0);
	}
	v = dwcp_digest_final(&d);
	cr_assert_eq(dwcp_fpindex_commit(&w, n, v, &err), 0, "%s", err.msg);
	dwcp_digest_fini(&d);
	free(keys);
	free(h);
	return v;
}

Test(fpindex, reads_back_what_was_written)
{
	const size_t n = 3 * 65536 + 4096 * 5 + 123;   /* a short last page */
	uint8_t *p = data(n, 7);
	struct dwcp_fpindex ix;
	struct dwcp_err err = { 0 };
	struct dwcp_digest d;
	char path[PATH_MAX];
	uint64_t v;

	cr_assert_eq(dwcp_fpindex_path(path, sizeof(path), dir, "nodeA", "vm42", "127.0.0.1:7000"), 0);
	v = write_index(path, p, n, 65536);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), 0, "%s", err.msg);
	cr_assert_eq(ix.file_size, n);
	cr_assert_eq(ix.digest, v);
	cr_assert_eq(ix.n_pages, (n + 4095) / 4096);
	cr_assert(ix.has_keys, "a version 2 index has weak keys");
	cr_assert_eq(ix.entry_len, 20);
	/* Every entry is the page's XXH3-128 as the digest takes it, then the
	 * page's weak key (the short last page's zero-padded). */
	cr_assert_eq(dwcp_digest_init(&d), 0);
	for (uint64_t i = 0; i < ix.n_pages; i++) {
		uint8_t h[1][DWCP_FPINDEX_ENTRY];
		size_t k = n - i * 4096 < 4096 ? n - i * 4096 : 4096;
		uint32_t key = 0;

		dwcp_digest_update_pages(&d, p + i * 4096, k, h);
		cr_assert_not_null(dwcp_fpindex_page(&ix, i));
		cr_assert_eq(memcmp(dwcp_fpindex_page(&ix, i), h[0], DWCP_FPINDEX_ENTRY), 0, "page %llu",
			     (unsigned long long)i);
		cr_assert(dwcp_fpindex_key(&ix, i, &key));
		cr_assert_eq(key, page_key(p + i * 4096, k), "page %llu (%zu bytes): key %08x",
			     (unsigned long long)i, k, key);
	}
	cr_assert_eq(dwcp_digest_final(&d), v, "the index's digest is the whole-file digest");
	cr_assert_null(dwcp_fpindex_page(&ix, ix.n_pages));
	cr_assert_not(dwcp_fpindex_key(&ix, ix.n_pages, &(uint32_t){ 0 }));
	dwcp_fpindex_close(&ix);
	dwcp_fpindex_close(&ix);
	dwcp_digest_fini(&d);
	free(p);
}

Test(fpindex, path_names_nothing_from_the_peer)
{
	char a[PATH_MAX], b[PATH_MAX];

	cr_assert_eq(dwcp_fpindex_path(a, sizeof(a), "/x", "n", "s", "10.0.0.1:7000"), 0);
	cr_assert_eq(dwcp_fpindex_path(b, sizeof(b), "/x", "n", "s", "10.0.0.2:7000"), 0);
	cr_assert_str_neq(a, b, "one index per peer");
	cr_assert_null(strstr(a, "10.0"));
	cr_assert_eq(strncmp(a, "/x/n@s@", 7), 0, "%s", a);
	cr_assert_eq(dwcp_fpindex_path(a, sizeof(a), "/x", "n", "../etc", "p"), -EINVAL);
	cr_assert_eq(dwcp_fpindex_path(a, sizeof(a), "/x", "n/m", "s", "p"), -EINVAL);
	cr_assert_eq(dwcp_fpindex_path(a, sizeof(a), "/x", "n", "", "p"), -EINVAL);
	cr_assert_eq(dwcp_fpindex_path(a, 10, "/x", "n", "s", "p"), -ENAMETOOLONG);
}

Test(fpindex, none_is_enoent_and_a_directory_is_made)
{
	struct dwcp_fpindex ix;
	struct dwcp_err err = { 0 };
	char path[PATH_MAX];
	uint8_t *p = data(8192, 1);

	snprintf(path, sizeof(path), "%s/a/b/i.fpi", dir);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), -ENOENT);
	cr_assert_null(ix.map);
	write_index(path, p, 8192, 4096);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), 0, "%s", err.msg);
	cr_assert_eq(ix.n_pages, 2);
	dwcp_fpindex_close(&ix);
	free(p);
}

Test(fpindex, empty_file)
{
	struct dwcp_fpindex ix;
	struct dwcp_err err = { 0 };
	char path[PATH_MAX];
	uint8_t none = 0;

	snprintf(path, sizeof(path), "%s/e.fpi", dir);
	write_index(path, &none, 0, 4096);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), 0, "%s", err.msg);
	cr_assert_eq(ix.n_pages, 0);
	cr_assert_null(dwcp_fpindex_page(&ix, 0));
	dwcp_fpindex_close(&ix);
}

/* An aborted or wrong-sized write keeps the index that was there, and
 * leaves no temporary. */
Test(fpindex, failed_write_keeps_the_old_index)
{
	struct dwcp_fpindex_writer w;
	struct dwcp_fpindex ix;
	struct dwcp_err err = { 0 };
	char path[PATH_MAX], cmd[PATH_MAX + 64];
	uint8_t *p = data(65536, 3), h[1][DWCP_FPINDEX_ENTRY] = { { 0 } };
	uint64_t v;

	snprintf(path, sizeof(path), "%s/k.fpi", dir);
	v = write_index(path, p, 65536, 65536);
	cr_assert_eq(dwcp_fpindex_begin(&w, path, &err), 0);
	cr_assert_eq(dwcp_fpindex_add(&w, (const uint8_t (*)[DWCP_FPINDEX_ENTRY])h, &(uint32_t){ 1 }, 1),
		     0);
	dwcp_fpindex_abort(&w);
	dwcp_fpindex_abort(&w);
	cr_assert_eq(dwcp_fpindex_begin(&w, path, &err), 0);
	cr_assert_eq(dwcp_fpindex_add(&w, (const uint8_t (*)[DWCP_FPINDEX_ENTRY])h, &(uint32_t){ 1 }, 1),
		     0);
	cr_assert_eq(dwcp_fpindex_commit(&w, 65536, 5, &err), -EINVAL, "1 page for 16");
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), 0, "%s", err.msg);
	cr_assert_eq(ix.digest, v);
	cr_assert_eq(ix.n_pages, 16);
	dwcp_fpindex_close(&ix);
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls %s | grep tmp)\"", dir);
	cr_assert_eq(system(cmd), 0, "a temporary was left in %s", dir);
	free(p);
}

static void damage(const char *path, off_t off, const void *bytes, size_t n, off_t truncate_to)
{
	int fd = open(path, O_WRONLY);

	cr_assert_geq(fd, 0);
	if (n)
		cr_assert_eq(pwrite(fd, bytes, n, off), (ssize_t)n);
	if (truncate_to >= 0)
		cr_assert_eq(ftruncate(fd, truncate_to), 0);
	close(fd);
}

Test(fpindex, damaged_is_no_index)
{
	struct dwcp_fpindex ix;
	struct dwcp_err err = { 0 };
	char path[PATH_MAX];
	uint8_t *p = data(40000, 9);
	const uint64_t big = 1ull << 40, zero = 0;
	const uint32_t v1 = 1, v3 = 3;

	snprintf(path, sizeof(path), "%s/d.fpi", dir);
	write_index(path, p, 40000, 65536);
	damage(path, 0, NULL, 0, 64 + 20 * 9);   /* cut short by a page */
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), -EBADMSG);
	cr_assert_null(ix.map);
	cr_assert(strstr(err.msg, "cut short"), "%s", err.msg);

	write_index(path, p, 40000, 65536);
	damage(path, 0, NULL, 0, 64 + 20 * 10 - 3);   /* the last key cut */
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), -EBADMSG);

	/* Version 1 entries are 16 bytes: 10 pages of 20 are no version 1 file. */
	write_index(path, p, 40000, 65536);
	damage(path, offsetof(struct dwcp_fpindex_hdr, version), &v1, 4, -1);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), -EBADMSG);
	cr_assert(strstr(err.msg, "cut short"), "%s", err.msg);

	write_index(path, p, 40000, 65536);
	damage(path, offsetof(struct dwcp_fpindex_hdr, file_size), &big, 8, -1);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), -EBADMSG);

	write_index(path, p, 40000, 65536);
	damage(path, offsetof(struct dwcp_fpindex_hdr, version), &v3, 4, -1);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), -EBADMSG);
	cr_assert(strstr(err.msg, "version 3"), "%s", err.msg);

	write_index(path, p, 40000, 65536);
	damage(path, offsetof(struct dwcp_fpindex_hdr, digest), &zero, 8, -1);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), -EBADMSG);

	write_index(path, p, 40000, 65536);
	damage(path, 0, NULL, 0, 10);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), -EBADMSG);
	free(p);
}

/* An index written before the weak keys (version 1: 16-byte entries)
 * still opens: its strong hashes keep unchanged pages from travelling, and
 * it says it has no keys. */
Test(fpindex, version_1_opens_without_keys)
{
	const size_t n = 5 * 4096 + 7;
	uint8_t *p = data(n, 21), h[6][DWCP_FPINDEX_ENTRY];
	struct dwcp_fpindex_hdr hdr = {
		.magic = DWCP_FPINDEX_MAGIC, .version = 1, .page_size = 4096, .file_size = n,
		.digest = 0x1234, .n_pages = 6,
	};
	struct dwcp_fpindex ix;
	struct dwcp_err err = { 0 };
	char path[PATH_MAX];
	uint32_t key = 0xabcd;
	struct dwcp_cpu_features cpu;
	struct dwcp_xxh3_impl x;
	int fd;

	dwcp_cpu_detect(&cpu);
	dwcp_xxh3_select(&x, &cpu);
	dwcp_digest_page_hashes(&x, p, n, h);
	snprintf(path, sizeof(path), "%s/v1.fpi", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, &hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));   /* x86: little-endian */
	cr_assert_eq(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
	close(fd);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), 0, "%s", err.msg);
	cr_assert_not(ix.has_keys);
	cr_assert_eq(ix.entry_len, 16);
	cr_assert_eq(ix.n_pages, 6);
	cr_assert_eq(ix.digest, 0x1234);
	for (uint64_t i = 0; i < 6; i++) {
		cr_assert_eq(memcmp(dwcp_fpindex_page(&ix, i), h[i], DWCP_FPINDEX_ENTRY), 0, "page %llu",
			     (unsigned long long)i);
		cr_assert_not(dwcp_fpindex_key(&ix, i, &key), "page %llu: a key from a version 1 file",
			      (unsigned long long)i);
	}
	cr_assert_eq(key, 0xabcd, "the key was written to");
	cr_assert_null(dwcp_fpindex_page(&ix, 6));
	dwcp_fpindex_close(&ix);

	/* A version 1 file of 20-byte entries is damaged, not version 2. */
	damage(path, 0, NULL, 0, 64 + 20 * 6);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), -EBADMSG);
	free(p);
}

/* More entries than the writer buffers at once (1 MiB is no multiple of
 * the 20-byte entry): each reads back whole, none split or lost at a flush. */
Test(fpindex, many_entries_cross_the_write_buffer)
{
	const size_t n_pages = 3 * 52429 + 11;
	uint8_t (*h)[DWCP_FPINDEX_ENTRY] = calloc(n_pages, DWCP_FPINDEX_ENTRY);
	uint32_t *keys = calloc(n_pages, sizeof(*keys));
	struct dwcp_fpindex_writer w;
	struct dwcp_fpindex ix;
	struct dwcp_err err = { 0 };
	char path[PATH_MAX];

	cr_assert(h && keys);
	for (size_t i = 0; i < n_pages; i++) {
		for (unsigned j = 0; j < DWCP_FPINDEX_ENTRY; j++)
			h[i][j] = (uint8_t)(i * 7 + j);
		keys[i] = (uint32_t)(i * 2654435761u);
	}
	snprintf(path, sizeof(path), "%s/big.fpi", dir);
	cr_assert_eq(dwcp_fpindex_begin(&w, path, &err), 0, "%s", err.msg);
	for (size_t off = 0; off < n_pages; off += 64) {   /* in chunks, as a send adds them */
		size_t k = n_pages - off < 64 ? n_pages - off : 64;

		cr_assert_eq(dwcp_fpindex_add(&w, (const uint8_t (*)[DWCP_FPINDEX_ENTRY])h + off,
					      keys + off, k), 0);
	}
	cr_assert_eq(dwcp_fpindex_commit(&w, (uint64_t)n_pages * 4096, 99, &err), 0, "%s", err.msg);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), 0, "%s", err.msg);
	cr_assert_eq(ix.n_pages, n_pages);
	for (size_t i = 0; i < n_pages; i++) {
		uint32_t key;

		cr_assert_eq(memcmp(dwcp_fpindex_page(&ix, i), h[i], DWCP_FPINDEX_ENTRY), 0, "page %zu", i);
		cr_assert(dwcp_fpindex_key(&ix, i, &key));
		cr_assert_eq(key, keys[i], "page %zu: key %08x, want %08x", i, key, keys[i]);
	}
	dwcp_fpindex_close(&ix);
	free(keys);
	free(h);
}

/* An interrupted send keeps the index of the prefix its receiver
 * acknowledged (cli/send_index.h): the first n entries of what was added
 * (some already flushed past the write buffer, some not), as the index of
 * an n-page file, at another path; the writer's own path is untouched. */
Test(fpindex, a_prefix_is_committed_elsewhere_and_reads_back)
{
	const size_t added = 60000, prefix = 52431;   /* the buffer flushes at 52428 */
	uint8_t (*h)[DWCP_FPINDEX_ENTRY] = calloc(added, DWCP_FPINDEX_ENTRY);
	uint32_t *keys = calloc(added, sizeof(*keys));
	struct dwcp_fpindex_writer w;
	struct dwcp_fpindex ix;
	struct dwcp_err err = { 0 };
	char path[PATH_MAX], part[PATH_MAX + 8];

	cr_assert(h && keys);
	for (size_t i = 0; i < added; i++) {
		for (unsigned j = 0; j < DWCP_FPINDEX_ENTRY; j++)
			h[i][j] = (uint8_t)(i * 13 + j);
		keys[i] = (uint32_t)(i * 40503u);
	}
	snprintf(path, sizeof(path), "%s/s.fpi", dir);
	snprintf(part, sizeof(part), "%s.resume", path);
	cr_assert_eq(dwcp_fpindex_begin(&w, path, &err), 0, "%s", err.msg);
	cr_assert_eq(dwcp_fpindex_add(&w, (const uint8_t (*)[DWCP_FPINDEX_ENTRY])h, keys, added), 0);
	cr_assert_eq(dwcp_fpindex_commit_prefix(&w, part, prefix, 0x1234, &err), 0, "%s", err.msg);
	cr_expect_eq(access(path, F_OK), -1, "the writer's own path was written");
	cr_assert_eq(dwcp_fpindex_open(&ix, part, &err), 0, "%s", err.msg);
	cr_expect_eq(ix.n_pages, prefix);
	cr_expect_eq(ix.file_size, (uint64_t)prefix * 4096);
	cr_expect_eq(ix.digest, 0x1234);
	for (size_t i = 0; i < prefix; i++) {
		uint32_t key;

		cr_assert_eq(memcmp(dwcp_fpindex_page(&ix, i), h[i], DWCP_FPINDEX_ENTRY), 0, "page %zu", i);
		cr_assert(dwcp_fpindex_key(&ix, i, &key));
		cr_assert_eq(key, keys[i], "page %zu", i);
	}
	cr_expect_null(dwcp_fpindex_page(&ix, prefix));
	dwcp_fpindex_close(&ix);

	/* More pages than were added, or no digest: refused, nothing written. */
	unlink(part);
	cr_assert_eq(dwcp_fpindex_begin(&w, path, &err), 0, "%s", err.msg);
	cr_assert_eq(dwcp_fpindex_add(&w, (const uint8_t (*)[DWCP_FPINDEX_ENTRY])h, keys, 10), 0);
	cr_expect_eq(dwcp_fpindex_commit_prefix(&w, part, 11, 0x1234, &err), -EINVAL);
	cr_assert_eq(dwcp_fpindex_begin(&w, path, &err), 0, "%s", err.msg);
	cr_assert_eq(dwcp_fpindex_add(&w, (const uint8_t (*)[DWCP_FPINDEX_ENTRY])h, keys, 10), 0);
	cr_expect_eq(dwcp_fpindex_commit_prefix(&w, part, 5, 0, &err), -EINVAL);
	cr_expect_eq(access(part, F_OK), -1, "a refused prefix was written");
	free(keys);
	free(h);
}

/* The resume index kept up to date as a send goes (checkpoints): each
 * checkpoint reads back as the index of the prefix it names, entries
 * still in the writer's buffer included; it never goes back; the final
 * prefix commit replaces it; the writer's own index is untouched. */
Test(fpindex, checkpoints_read_back_as_growing_prefixes)
{
	const size_t added = 60000;
	uint8_t (*h)[DWCP_FPINDEX_ENTRY] = calloc(added, DWCP_FPINDEX_ENTRY);
	uint32_t *keys = calloc(added, sizeof(*keys));
	struct dwcp_fpindex_writer w;
	struct dwcp_fpindex_cp cp = { .fd = -1 };
	struct dwcp_fpindex ix;
	struct dwcp_err err = { 0 };
	char path[PATH_MAX], part[PATH_MAX + 8];
	const size_t at[] = { 100, 100, 30000, 52431, 59999 };

	cr_assert(h && keys);
	for (size_t i = 0; i < added; i++) {
		for (unsigned j = 0; j < DWCP_FPINDEX_ENTRY; j++)
			h[i][j] = (uint8_t)(i * 29 + j);
		keys[i] = (uint32_t)(i * 2246822519u);
	}
	snprintf(path, sizeof(path), "%s/c.fpi", dir);
	snprintf(part, sizeof(part), "%s.resume", path);
	cr_assert_eq(dwcp_fpindex_begin(&w, path, &err), 0, "%s", err.msg);
	for (size_t k = 0, done = 0; k < sizeof(at) / sizeof(at[0]); k++) {
		if (at[k] > done) {
			cr_assert_eq(dwcp_fpindex_add(&w, (const uint8_t (*)[DWCP_FPINDEX_ENTRY])h + done,
						      keys + done, at[k] - done + 1), 0);
			done = at[k] + 1;
		}
		cr_assert_eq(dwcp_fpindex_checkpoint(&w, &cp, part, at[k], 0x77, &err), 0, "%s", err.msg);
		cr_assert_eq(dwcp_fpindex_open(&ix, part, &err), 0, "after %zu: %s", at[k], err.msg);
		cr_expect_eq(ix.n_pages, at[k]);
		cr_expect_eq(ix.file_size, (uint64_t)at[k] * 4096);
		cr_expect_eq(ix.digest, 0x77);
		for (size_t i = 0; i < at[k]; i++)
			cr_assert_eq(memcmp(dwcp_fpindex_page(&ix, i), h[i], DWCP_FPINDEX_ENTRY), 0,
				     "checkpoint %zu, page %zu", at[k], i);
		dwcp_fpindex_close(&ix);
	}
	cr_expect_eq(dwcp_fpindex_checkpoint(&w, &cp, part, 50, 0x77, &err), -EINVAL, "went back");
	cr_expect_eq(access(path, F_OK), -1, "the writer's own path was written");
	dwcp_fpindex_cp_close(&cp);
	cr_assert_eq(dwcp_fpindex_commit_prefix(&w, part, 59000, 0x88, &err), 0, "%s", err.msg);
	cr_assert_eq(dwcp_fpindex_open(&ix, part, &err), 0, "%s", err.msg);
	cr_expect(ix.n_pages == 59000 && ix.digest == 0x88, "the prefix commit did not replace it");
	dwcp_fpindex_close(&ix);
	free(keys);
	free(h);
}

/* A send killed inside a checkpoint, after it appended entries and
 * before it rewrote the header: the file holds more than the header
 * counts (whole entries and part of one). It still opens as the last
 * checkpoint's prefix, or the rerun would resume nothing. */
Test(fpindex, a_checkpoint_cut_short_by_a_kill_leaves_the_last_one)
{
	uint8_t (*h)[DWCP_FPINDEX_ENTRY] = calloc(200, DWCP_FPINDEX_ENTRY);
	uint32_t *keys = calloc(200, sizeof(*keys));
	struct dwcp_fpindex_writer w;
	struct dwcp_fpindex_cp cp = { .fd = -1 };
	struct dwcp_fpindex ix;
	struct dwcp_err err = { 0 };
	char path[PATH_MAX], part[PATH_MAX + 8];
	uint8_t junk[3 * 20 + 7];
	int fd;

	cr_assert(h && keys);
	for (size_t i = 0; i < 200; i++) {
		for (unsigned j = 0; j < DWCP_FPINDEX_ENTRY; j++)
			h[i][j] = (uint8_t)(i * 31 + j);
		keys[i] = (uint32_t)i;
	}
	snprintf(path, sizeof(path), "%s/k.fpi", dir);
	snprintf(part, sizeof(part), "%s.resume", path);
	cr_assert_eq(dwcp_fpindex_begin(&w, path, &err), 0, "%s", err.msg);
	cr_assert_eq(dwcp_fpindex_add(&w, (const uint8_t (*)[DWCP_FPINDEX_ENTRY])h, keys, 200), 0);
	cr_assert_eq(dwcp_fpindex_checkpoint(&w, &cp, part, 100, 0x77, &err), 0, "%s", err.msg);
	dwcp_fpindex_cp_close(&cp);
	memset(junk, 0xee, sizeof(junk));
	fd = open(part, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	cr_assert_eq(dwcp_fpindex_open(&ix, part, &err), 0, "%s", err.msg);
	cr_expect_eq(ix.n_pages, 100);
	for (size_t i = 0; i < 100; i++)
		cr_assert_eq(memcmp(dwcp_fpindex_page(&ix, i), h[i], DWCP_FPINDEX_ENTRY), 0, "page %zu", i);
	dwcp_fpindex_close(&ix);
	dwcp_fpindex_abort(&w);
	free(keys);
	free(h);
}
