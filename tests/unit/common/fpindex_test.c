/* The sender's page index (common/fpindex.h): what is written reads back,
 * the per-page entries are the digest's own page hashes, a failed or
 * unfinished write leaves the previous index, and a damaged file is no
 * index. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/fpindex.h"

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

/* Write an index of @p n bytes of @p p, fed in pieces of @p cut bytes
 * (as `dwcp send` feeds chunks); @return the digest. */
static uint64_t write_index(const char *path, const uint8_t *p, size_t n, size_t cut)
{
	struct dwcp_fpindex_writer w;
	struct dwcp_err err = { 0 };
	struct dwcp_digest d;
	uint8_t (*h)[DWCP_FPINDEX_ENTRY] = calloc(cut / DWCP_DIGEST_PAGE + 1, DWCP_FPINDEX_ENTRY);
	uint64_t v;

	cr_assert_not_null(h);
	cr_assert_eq(dwcp_digest_init(&d), 0);
	cr_assert_eq(dwcp_fpindex_begin(&w, path, &err), 0, "%s", err.msg);
	for (size_t off = 0; off < n; off += cut) {
		size_t k = n - off < cut ? n - off : cut;

		dwcp_digest_update_pages(&d, p + off, k, h);
		cr_assert_eq(dwcp_fpindex_add(&w, (const uint8_t (*)[DWCP_FPINDEX_ENTRY])h,
					      (k + DWCP_DIGEST_PAGE - 1) / DWCP_DIGEST_PAGE), 0);
	}
	v = dwcp_digest_final(&d);
	cr_assert_eq(dwcp_fpindex_commit(&w, n, v, &err), 0, "%s", err.msg);
	dwcp_digest_fini(&d);
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
	/* Every entry is the page's XXH3-128 as the digest takes it. */
	cr_assert_eq(dwcp_digest_init(&d), 0);
	for (uint64_t i = 0; i < ix.n_pages; i++) {
		uint8_t h[1][DWCP_FPINDEX_ENTRY];
		size_t k = n - i * 4096 < 4096 ? n - i * 4096 : 4096;

		dwcp_digest_update_pages(&d, p + i * 4096, k, h);
		cr_assert_not_null(dwcp_fpindex_page(&ix, i));
		cr_assert_eq(memcmp(dwcp_fpindex_page(&ix, i), h[0], DWCP_FPINDEX_ENTRY), 0, "page %llu",
			     (unsigned long long)i);
	}
	cr_assert_eq(dwcp_digest_final(&d), v, "the index's digest is the whole-file digest");
	cr_assert_null(dwcp_fpindex_page(&ix, ix.n_pages));
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
	cr_assert_eq(dwcp_fpindex_add(&w, (const uint8_t (*)[DWCP_FPINDEX_ENTRY])h, 1), 0);
	dwcp_fpindex_abort(&w);
	dwcp_fpindex_abort(&w);
	cr_assert_eq(dwcp_fpindex_begin(&w, path, &err), 0);
	cr_assert_eq(dwcp_fpindex_add(&w, (const uint8_t (*)[DWCP_FPINDEX_ENTRY])h, 1), 0);
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
	const uint32_t v2 = 2;

	snprintf(path, sizeof(path), "%s/d.fpi", dir);
	write_index(path, p, 40000, 65536);
	damage(path, 0, NULL, 0, 64 + 16 * 9);   /* cut short by a page */
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), -EBADMSG);
	cr_assert_null(ix.map);
	cr_assert(strstr(err.msg, "cut short"), "%s", err.msg);

	write_index(path, p, 40000, 65536);
	damage(path, offsetof(struct dwcp_fpindex_hdr, file_size), &big, 8, -1);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), -EBADMSG);

	write_index(path, p, 40000, 65536);
	damage(path, offsetof(struct dwcp_fpindex_hdr, version), &v2, 4, -1);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), -EBADMSG);

	write_index(path, p, 40000, 65536);
	damage(path, offsetof(struct dwcp_fpindex_hdr, digest), &zero, 8, -1);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), -EBADMSG);

	write_index(path, p, 40000, 65536);
	damage(path, 0, NULL, 0, 10);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), -EBADMSG);
	free(p);
}
