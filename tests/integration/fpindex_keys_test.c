/* The sender's page index keeps each page's weak key (common/fpindex.h
 * version 2, common/ops/weaksum.h), written by a real `dwcp send` between
 * two real nodes:
 *
 *  - after a send, the index on disk is version 2, and each page's entry
 *    holds that page's XXH3-128 and the weak key of the page as the file
 *    has it (the short last page zero-padded);
 *  - an index written before the keys (version 1, made here from the one
 *    the send wrote) still keeps every page of an unchanged resend, and
 *    that resend leaves a version 2 index with keys.
 *
 * Timeouts are hang guards only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/cpu.h"
#include "common/digest.h"
#include "common/fpindex.h"
#include "common/ops/weaksum.h"
#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

#define GUARD_S 300u
#define SIZE (16u * 1024 * 1024 + 1234)   /* a short last page */

static struct dwcp_xfer_pair pair;
static struct dwcp_xfer_proc snd, rcv;
static char dir[64];

static void teardown(void)
{
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_pair_stop(&pair);
	dwcp_xfer_rmdir(dir);
}

static void setup(const char *tag, char src[128], char out[128])
{
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/dwcp-fpkeys.XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	rc = dwcp_xfer_pair_start(&pair, &(struct dwcp_xfer_pair_cfg){ .tag = tag });
	cr_assert_eq(rc, 0, "node %c did not start", rc);
	snprintf(src, 128, "%s/vm.img", dir);
	snprintf(out, 128, "%s/recv.img", dir);
	cr_assert_eq(dwcp_xfer_make_image(src, SIZE, 3), 0, "cannot write %s", src);
}

/* recv on B, send on A, both exit 0, the copy is bit-identical; @return
 * the send's --json summary field @p field. */
static double transfer_ok(const char *what, const char *src, const char *out, const char *field)
{
	char h_src[65], h_out[65];
	int rs, rr, rc;

	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	rc = dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "keys", out, GUARD_S);
	cr_assert_eq(rc, 0, "cannot start dwcp recv: %s", strerror(-rc));
	rc = dwcp_xfer_send_start(&snd, pair.a.instance, "keys", src, "nodeb", 120, NULL);
	cr_assert_eq(rc, 0, "cannot start dwcp send: %s", strerror(-rc));
	rs = dwcp_xfer_wait(&snd, GUARD_S * 1000u);
	rr = dwcp_xfer_wait(&rcv, 60000u);
	if (rs != 0 || rr != 0) {
		dwcp_xfer_print(&snd);
		dwcp_xfer_print(&rcv);
		dwcp_xfer_pair_dump(&pair, "transfer failed");
	}
	cr_assert_eq(rs, 0, "%s: dwcp send exited %d: %s", what, rs, snd.err);
	cr_assert_eq(rr, 0, "%s: dwcp recv exited %d: %s", what, rr, rcv.err);
	cr_assert_eq(dwcp_xfer_sha256(src, h_src), 0);
	cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0, "no file at the sink: %s", out);
	cr_assert_str_eq(h_out, h_src, "%s: %s differs from %s", what, out, src);
	fprintf(stderr, "fpindex_keys: %s: %s\n", what, snd.out);
	return dwcp_xfer_json_num(snd.out, field);
}

/* The one index of stream "keys" on node A (node.c keeps indexes in
 * /tmp/dwcp-INSTANCE.index). */
static void index_path(char path[PATH_MAX])
{
	char pat[PATH_MAX];
	glob_t g;

	snprintf(pat, sizeof(pat), "/tmp/dwcp-%s.index/*@keys@*.fpi", pair.a.instance);
	cr_assert_eq(glob(pat, 0, NULL, &g), 0, "no page index matches %s", pat);
	cr_assert_eq(g.gl_pathc, 1, "%zu indexes match %s", g.gl_pathc, pat);
	snprintf(path, PATH_MAX, "%s", g.gl_pathv[0]);
	globfree(&g);
}

/* The index at @p path describes @p src page by page, weak keys included. */
static void check_index(const char *path, const char *src)
{
	struct dwcp_cpu_features cpu;
	struct dwcp_weaksum_impl im;
	struct dwcp_xxh3_impl x;
	struct dwcp_fpindex ix;
	struct dwcp_err err = { 0 };
	uint8_t page[DWCP_WEAKSUM_WINDOW], h[1][DWCP_DIGEST_PAGE_HASH];
	int fd = open(src, O_RDONLY);

	dwcp_cpu_detect(&cpu);
	dwcp_weaksum_select(&im, &cpu);
	dwcp_xxh3_select(&x, &cpu);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), 0, "%s", err.msg);
	cr_assert(ix.has_keys, "the index a send wrote has no weak keys (entry %u bytes)", ix.entry_len);
	cr_assert_eq(ix.n_pages, (SIZE + 4095) / 4096);
	for (uint64_t i = 0; i < ix.n_pages; i++) {
		ssize_t k = pread(fd, page, sizeof(page), (off_t)(i * sizeof(page)));
		struct dwcp_weaksum s;
		uint32_t key;

		cr_assert_gt(k, 0);
		dwcp_digest_page_hashes(&x, page, (size_t)k, h);
		memset(page + k, 0, sizeof(page) - (size_t)k);
		im.page(page, &s);
		cr_assert_eq(memcmp(dwcp_fpindex_page(&ix, i), h[0], sizeof(h[0])), 0, "page %llu: strong hash",
			     (unsigned long long)i);
		cr_assert(dwcp_fpindex_key(&ix, i, &key));
		cr_assert_eq(key, dwcp_weaksum_key(&s), "page %llu (%zd bytes): key %08x, the page's %08x",
			     (unsigned long long)i, k, key, dwcp_weaksum_key(&s));
	}
	dwcp_fpindex_close(&ix);
	close(fd);
}

/* Rewrite the version 2 index at @p path as the version 1 file an older
 * dwcp would have written: same header but the version, 16-byte entries. */
static void downgrade(const char *path)
{
	struct dwcp_fpindex ix;
	struct dwcp_err err = { 0 };
	struct dwcp_fpindex_hdr hdr;
	char tmp[PATH_MAX + 8];
	FILE *f;

	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), 0, "%s", err.msg);
	memcpy(&hdr, ix.map, sizeof(hdr));
	hdr.version = 1;   /* x86: little-endian */
	snprintf(tmp, sizeof(tmp), "%s.v1", path);
	f = fopen(tmp, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(&hdr, sizeof(hdr), 1, f), 1);
	for (uint64_t i = 0; i < ix.n_pages; i++)
		cr_assert_eq(fwrite(dwcp_fpindex_page(&ix, i), DWCP_FPINDEX_ENTRY, 1, f), 1);
	cr_assert_eq(fclose(f), 0);
	dwcp_fpindex_close(&ix);
	cr_assert_eq(rename(tmp, path), 0);
	cr_assert_eq(dwcp_fpindex_open(&ix, path, &err), 0, "%s", err.msg);
	cr_assert_not(ix.has_keys);
	dwcp_fpindex_close(&ix);
}

Test(fpindex_keys, a_send_saves_each_pages_weak_key, .fini = teardown, .timeout = 600)
{
	char src[128], out[128], path[PATH_MAX];

	setup("fpkeys", src, out);
	transfer_ok("16 MiB image", src, out, "bytes_wire");
	index_path(path);
	check_index(path, src);
}

Test(fpindex_keys, an_index_from_before_the_keys_still_keeps_pages, .fini = teardown,
     .timeout = 600)
{
	char src[128], out[128], path[PATH_MAX];
	double first, again, kept;

	setup("fpkeyv1", src, out);
	first = transfer_ok("16 MiB image", src, out, "bytes_wire");
	index_path(path);
	downgrade(path);
	again = transfer_ok("unchanged, against a version 1 index", src, out, "bytes_wire");
	kept = dwcp_xfer_json_num(snd.out, "kept_pages");
	cr_expect_eq(kept, (SIZE + 4095) / 4096, "a version 1 index kept %.0f pages: %s", kept, snd.out);
	cr_expect_lt(again, 0.01 * first, "moved %.0f bytes, the first send %.0f", again, first);
	check_index(path, src);   /* written again, with keys */
}
