/* Delta at any size (issue 7 item 3): unchanged pages never travel,
 * whatever the delta cache holds. Two real nodes with the BUILT-IN delta
 * cache (224 MiB, far smaller than the images), `dwcp send` on A and
 * `dwcp recv` on B as the user runs them, the receiver writing to the
 * same output path each time (its previous copy is the base):
 *
 *  - a 1 GiB VM-like image sent, 5 % of its pages touched, sent again:
 *    the second send moves <= 6 % of the first's wire bytes, the file is
 *    bit-identical (SHA-256); a third send of the unchanged file (a new
 *    `dwcp send` process: the page index persisted) moves < 1 %; the
 *    first send made both delta caches copy about as many pages as they
 *    hold (a sample of the image's chunks), not all 262,144, and the
 *    second found bases for some changed pages on both nodes;
 *  - a stale base: the receiver's output modified between two sends (a
 *    page rewritten in place): the kept chunks are refused (EBASE) and
 *    redone, and the file still arrives bit-identical;
 *  - --no-delta keeps nothing (every page travels), yet saves the index.
 *
 * The summaries' numbers are printed. Timeouts are hang guards only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

#define MIB (1024ull * 1024ull)
#define GUARD_S 600u

static struct dwcp_xfer_pair pair;
static struct dwcp_xfer_proc snd, rcv;
static char dir[64];
static struct dwcp_xfer_guard mnt_guard;   /* the XFS loop mount of the reflink test */

static void teardown(void)
{
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_pair_stop(&pair);
	dwcp_xfer_guard_release(&mnt_guard);
	dwcp_xfer_rmdir(dir);
}

static void setup_pair_cfg(const struct dwcp_xfer_pair_cfg *c)
{
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/dwcp-anysize.XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	rc = dwcp_xfer_pair_start(&pair, c);
	cr_assert_eq(rc, 0, "node %c did not start", rc);
}

static void setup_pair(const char *tag)
{
	/* Built-in defaults for the delta cache: cache_mb 0. */
	setup_pair_cfg(&(struct dwcp_xfer_pair_cfg){ .tag = tag });
}

/* In the test's dir: @p src, an image of @p mib MiB (VM-like, or random
 * bytes), and the path @p out beside it. */
static void make_files(char src[128], char out[128], unsigned mib, uint64_t seed, bool random)
{
	int rc;

	snprintf(src, 128, "%s/vm.img", dir);
	snprintf(out, 128, "%s/recv.img", dir);
	rc = random ? dwcp_xfer_make_random(src, mib * MIB, seed) :
		      dwcp_xfer_make_image(src, mib * MIB, seed);
	cr_assert_eq(rc, 0, "cannot write %s", src);
}

struct figures {
	double wire, seconds, kept, raw_resends, recv_rejected;
};

/* recv on B, send on A; both exit 0 and @p out is bit-identical to @p src. */
static struct figures transfer_ok(const char *what, const char *stream, const char *src,
				  const char *out, const char *const *send_extra)
{
	char h_src[65], h_out[65];
	struct figures f;
	int rs, rr, rc;

	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	rc = dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, stream, out, GUARD_S);
	cr_assert_eq(rc, 0, "cannot start dwcp recv: %s", strerror(-rc));
	rc = dwcp_xfer_send_start(&snd, pair.a.instance, stream, src, "nodeb", 120, send_extra);
	cr_assert_eq(rc, 0, "cannot start dwcp send: %s", strerror(-rc));
	rs = dwcp_xfer_wait(&snd, GUARD_S * 1000u);
	rr = dwcp_xfer_wait(&rcv, 60000u);   /* send is done: recv has its rename left, or waits in vain */
	if (rs != 0 || rr != 0) {
		dwcp_xfer_print(&snd);
		dwcp_xfer_print(&rcv);
		dwcp_xfer_pair_dump(&pair, "transfer failed");
	}
	cr_assert_eq(rs, 0, "%s: dwcp send exited %d: %s", what, rs, snd.err);
	cr_assert_eq(rr, 0, "%s: dwcp recv exited %d: %s", what, rr, rcv.err);
	cr_assert_eq(dwcp_xfer_sha256(src, h_src), 0, "cannot read %s", src);
	cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0, "no file at the sink: %s", out);
	cr_assert_str_eq(h_out, h_src, "%s: %s differs from %s", what, out, src);
	f = (struct figures){
		.wire = dwcp_xfer_json_num(snd.out, "bytes_wire"),
		.seconds = dwcp_xfer_json_num(snd.out, "seconds"),
		.kept = dwcp_xfer_json_num(snd.out, "kept_pages"),
		.raw_resends = dwcp_xfer_json_num(snd.out, "raw_resends"),
		.recv_rejected = dwcp_xfer_json_num(rcv.out, "rejected"),
	};
	cr_assert_gt(f.wire, 0, "%s: send --json has no bytes_wire: %s", what, snd.out);
	fprintf(stderr, "delta_any_size: %s: %s\n", what, snd.out);
	return f;
}

/* Figure @p field of node @p n's delta cache (dwcpctl status --json); -1 if absent. */
static double dcache_num(const struct dwcp_test_node *n, const char *field)
{
	cJSON *st = dwcp_test_status(n->instance, NULL);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "delta_cache"),
							  field);
	double x = cJSON_IsNumber(v) ? v->valuedouble : -1;

	cJSON_Delete(st);
	return x;
}

Test(delta_any_size, one_gib_image_resent_moves_only_changed_pages, .fini = teardown,
     .timeout = 900)
{
	const struct dwcp_test_node *node[2] = { &pair.a, &pair.b };
	char src[128], out[128];
	struct figures f1, f2, f3;
	uint64_t changed;

	setup_pair("any1g");
	make_files(src, out, 1024, 77, false);

	f1 = transfer_ok("1 GiB, first send", "vm1g", src, out, NULL);
	cr_expect_eq(f1.kept, 0, "a first send has nothing to keep");
	/* The caches hold ~56,000 pages of the 262,144: copying the rest in
	 * only to evict it was the first send's costliest step after the
	 * codecs. A sample of the chunks (0.9 of what fits) is remembered. */
	for (unsigned k = 0; k < 2; k++) {
		double cap = dcache_num(node[k], "pages"), ins = dcache_num(node[k], "inserts");

		fprintf(stderr, "delta_any_size: node %c's delta cache after the first send: %.0f pages "
			"copied in, %.0f held\n", 'A' + k, ins, cap);
		cr_assert_gt(cap, 0, "node %c reports no delta cache", 'A' + k);
		cr_expect(ins >= 0.7 * cap && ins <= 1.05 * cap,
			  "node %c copied %.0f pages into a cache of %.0f (a sample about 0.9 of it expected)",
			  'A' + k, ins, cap);
	}
	cr_assert_eq(dwcp_xfer_touch_pages(src, 20, 99, &changed), 0);
	f2 = transfer_ok("1 GiB, 5 % of pages touched", "vm1g", src, out, NULL);
	for (unsigned k = 0; k < 2; k++)
		cr_expect_gt(dcache_num(node[k], "hits"), 0,
			     "node %c: no changed page found its base in the cache", 'A' + k);
	f3 = transfer_ok("1 GiB, unchanged", "vm1g", src, out, NULL);
	fprintf(stderr,
		"delta_any_size: 1 GiB image, built-in cache: first send %.0f wire bytes (%.2f s); "
		"after touching %llu of %llu pages: %.0f (%.3f %% of the first, %.2f s, %.0f pages kept); "
		"unchanged: %.0f (%.3f %%, %.2f s)\n",
		f1.wire, f1.seconds, (unsigned long long)changed, (unsigned long long)(1024 * MIB / 4096),
		f2.wire, 100.0 * f2.wire / f1.wire, f2.seconds, f2.kept, f3.wire,
		100.0 * f3.wire / f1.wire, f3.seconds);
	cr_expect_leq(f2.wire, 0.06 * f1.wire, "second send moved %.0f bytes, the first %.0f: not <= 6 %%",
		      f2.wire, f1.wire);
	cr_expect_eq(f2.kept, (double)(1024 * MIB / 4096 - changed),
		     "every untouched page kept (%llu touched)", (unsigned long long)changed);
	cr_expect_lt(f3.wire, 0.01 * f1.wire, "an unchanged resend moved %.0f bytes, the first %.0f",
		     f3.wire, f1.wire);
	cr_expect_eq(f3.kept, (double)(1024 * MIB / 4096), "every page kept");
}

/* Rewrite one byte of page @p page of @p path in place (its mtime changes). */
static void scribble(const char *path, uint64_t page)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(pread(fd, &b, 1, (off_t)(page * 4096 + 100)), 1);
	b ^= 0x5a;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)(page * 4096 + 100)), 1);
	close(fd);
}

Test(delta_any_size, stale_base_is_refused_and_the_file_still_arrives_whole, .fini = teardown,
     .timeout = 600)
{
	char src[128], out[128];
	struct figures f1, f2, f3;
	uint64_t changed;

	setup_pair("anystale");
	make_files(src, out, 128, 5, false);
	f1 = transfer_ok("128 MiB, first send", "stale", src, out, NULL);
	cr_assert_eq(dwcp_xfer_touch_pages(src, 20, 3, &changed), 0);
	/* Behind the receiver's back: its copy is no longer what it wrote. */
	scribble(out, 1000);
	f2 = transfer_ok("128 MiB, receiver's copy modified", "stale", src, out, NULL);
	fprintf(stderr, "delta_any_size: stale base: first %.0f wire bytes, second %.0f (%.1f %%), "
		"%.0f kept chunks refused by the receiver, %.0f raw resends\n",
		f1.wire, f2.wire, 100.0 * f2.wire / f1.wire, f2.recv_rejected, f2.raw_resends);
	cr_expect_gt(f2.recv_rejected, 0, "the receiver refused no kept chunk: %s", rcv.out);
	/* That receive recorded the new copy: the next send keeps again. */
	f3 = transfer_ok("128 MiB, unchanged after the stale one", "stale", src, out, NULL);
	cr_expect_eq(f3.recv_rejected, 0, "%s", rcv.out);
	cr_expect_lt(f3.wire, 0.01 * f1.wire, "an unchanged resend moved %.0f bytes, the first %.0f",
		     f3.wire, f1.wire);
}

Test(delta_any_size, no_delta_keeps_nothing_but_saves_the_index, .fini = teardown, .timeout = 600)
{
	static const char *const no_delta[] = { "--no-delta", NULL };
	char src[128], out[128];
	struct figures f1, f2, f3;

	setup_pair("anynod");
	make_files(src, out, 32, 8, true);
	f1 = transfer_ok("32 MiB random, --no-delta", "nod", src, out, no_delta);
	f2 = transfer_ok("32 MiB random, --no-delta again", "nod", src, out, no_delta);
	cr_expect_eq(f2.kept, 0, "--no-delta kept pages: %s", snd.out);
	cr_expect_geq(f2.wire, 0.99 * f1.wire, "--no-delta moved %.0f, the first %.0f", f2.wire, f1.wire);
	f3 = transfer_ok("32 MiB random, with delta", "nod", src, out, NULL);
	cr_expect_eq(f3.kept, 32.0 * MIB / 4096, "the index saved by --no-delta sends: %s", snd.out);
	cr_expect_lt(f3.wire, 0.01 * f1.wire, "moved %.0f, the first %.0f", f3.wire, f1.wire);
}

/* The sender's index describes another version than the receiver's copy
 * (an old index put back on the sender): the trailer's digest differs from
 * the receiver's record, the kept chunks are refused, and the file still
 * arrives bit-identical. */
Test(delta_any_size, index_of_another_version_is_refused_by_digest, .fini = teardown,
     .timeout = 600)
{
	char src[128], out[128], sh[1024];
	struct figures f;
	uint64_t changed;

	setup_pair("anydig");
	make_files(src, out, 32, 11, false);
	transfer_ok("v1", "dig", src, out, NULL);
	/* The sender's index of v1, kept aside (node.c puts indexes in /tmp/dwcp-INSTANCE.index). */
	cr_assert_eq(dwcp_xfer_sh(sh, sizeof(sh), "cp /tmp/dwcp-%s.index/*@dig@*.fpi %s/v1.fpi",
				  pair.a.instance, dir), 0, "%s", sh);
	cr_assert_eq(dwcp_xfer_touch_pages(src, 20, 12, &changed), 0);
	transfer_ok("v2", "dig", src, out, NULL);
	cr_assert_eq(dwcp_xfer_sh(sh, sizeof(sh), "for f in /tmp/dwcp-%s.index/*@dig@*.fpi; do cp %s/v1.fpi \"$f\"; done",
				  pair.a.instance, dir), 0, "%s", sh);
	cr_assert_eq(dwcp_xfer_touch_pages(src, 20, 13, &changed), 0);
	f = transfer_ok("v3 against v1's index", "dig", src, out, NULL);
	fprintf(stderr, "delta_any_size: another version's index: %.0f kept chunks refused, %.0f pages kept\n",
		f.recv_rejected, f.kept);
	cr_expect_gt(f.recv_rejected, 0, "the receiver refused no kept chunk: %s", rcv.out);
	/* Every kept page was refused and sent again: the summary must not
	 * claim that any stayed home. */
	cr_expect_eq(f.kept, 0, "the sender reports %.0f pages kept that travelled: %s", f.kept, snd.out);
}

/* An image the built-in cache holds (32 MiB < 64 MiB): unchanged pages are
 * kept and the touched ones travel as XOR deltas against the cached
 * bases, so the resend moves < 2 % of the first send's wire bytes. */
Test(delta_any_size, cached_bases_changed_pages_travel_as_xor, .fini = teardown, .timeout = 600)
{
	char src[128], out[128];
	struct figures f1, f2;
	uint64_t changed;

	setup_pair("anyxor");
	make_files(src, out, 32, 21, false);
	f1 = transfer_ok("32 MiB, first send", "xor", src, out, NULL);
	cr_assert_eq(dwcp_xfer_touch_pages(src, 20, 22, &changed), 0);
	f2 = transfer_ok("32 MiB, 5 % touched", "xor", src, out, NULL);
	fprintf(stderr, "delta_any_size: 32 MiB image (cache holds it): first %.0f wire bytes, "
		"second %.0f (%.3f %%), %.0f pages kept, %llu touched\n", f1.wire, f2.wire,
		100.0 * f2.wire / f1.wire, f2.kept, (unsigned long long)changed);
	cr_expect_lt(f2.wire, 0.02 * f1.wire, "second send moved %.0f bytes, the first %.0f: not < 2 %%",
		     f2.wire, f1.wire);
}

/* The receiver's delta cache (1 MiB) cannot hold the bases the sender's
 * (the built-in 64 MiB) encodes against: every chunk with an XOR record
 * is refused (EBASE) and sent again without cache bases. Its kept pages
 * must stay kept, so the resend still moves only the changed pages. */
Test(delta_any_size, a_receiver_lacking_the_bases_still_gets_only_changed_pages, .fini = teardown,
     .timeout = 600)
{
	char src[128], out[128];
	struct figures f1, f2;
	uint64_t changed;

	setup_pair_cfg(&(struct dwcp_xfer_pair_cfg){ .tag = "anynob", .cache_mb_b = 1 });
	make_files(src, out, 32, 23, false);
	f1 = transfer_ok("32 MiB, first send", "nob", src, out, NULL);
	cr_assert_eq(dwcp_xfer_touch_pages(src, 20, 24, &changed), 0);
	f2 = transfer_ok("32 MiB, 5 % touched, receiver cache 1 MiB", "nob", src, out, NULL);
	fprintf(stderr, "delta_any_size: receiver lacking bases: first %.0f wire bytes, second %.0f "
		"(%.3f %%), %.0f chunks sent again for a missing base, %.0f pages kept\n", f1.wire,
		f2.wire, 100.0 * f2.wire / f1.wire, f2.raw_resends, f2.kept);
	cr_expect_gt(f2.raw_resends, 0, "the receiver never lacked a base: the case under test did not happen");
	cr_expect_eq(f2.kept, (double)(32 * MIB / 4096 - changed), "every untouched page kept");
	cr_expect_leq(f2.wire, 0.06 * f1.wire, "second send moved %.0f bytes, the first %.0f: not <= 6 %%",
		      f2.wire, f1.wire);
}

static double used_bytes(const char *path)
{
	struct statvfs v;

	cr_assert_eq(statvfs(path, &v), 0, "statvfs %s: %s", path, strerror(errno));
	return (double)(v.f_blocks - v.f_bfree) * (double)v.f_frsize;
}

static void skip(const char *why)
{
	fprintf(stderr, "skipped: %s\n", why);
	teardown();   /* Criterion runs no .fini after a skip */
	cr_skip_test("skipped: %s", why);
}

/* Where the receiver's file system can share blocks (XFS with reflink, as
 * btrfs), a new version's unchanged pages are cloned from the previous
 * file instead of written again: a second version costs the disk only its
 * pages that were not kept, and the previous version (kept here by a hard
 * link, as a user keeps a snapshot) is not touched. Zero pages in runs
 * (here 16 MiB of them, as a file system's free space) are left holes.
 * (allocsize=4k turns XFS's speculative preallocation off, which
 * would otherwise fill holes behind sequential writes.) */
Test(delta_any_size, on_a_reflink_file_system_kept_pages_share_the_previous_blocks,
     .fini = teardown, .timeout = 600)
{
	char img[128], mnt[128], src[128], out[160], v1[160], h1[65], h1_after[65], msg[512];
	double before, grown, kept, cloned;
	uint64_t changed;

	setup_pair("reflink");
	if (access("/usr/sbin/mkfs.xfs", X_OK) != 0 && access("/sbin/mkfs.xfs", X_OK) != 0)
		skip("no xfs (mkfs.xfs from xfsprogs)");
	snprintf(img, sizeof(img), "%s/xfs.img", dir);
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	cr_assert_eq(mkdir(mnt, 0700), 0, "mkdir %s: %s", mnt, strerror(errno));
	if (dwcp_xfer_sh(msg, sizeof(msg), "truncate -s 1G %s && mkfs.xfs -q -m reflink=1 %s", img, img))
		skip("no xfs (mkfs.xfs -m reflink=1 failed)");
	snprintf(msg, sizeof(msg), "umount -l %s", mnt);
	cr_assert_eq(dwcp_xfer_guard_start(&mnt_guard, msg), 0);
	if (dwcp_xfer_sh(msg, sizeof(msg), "mount -o loop,allocsize=4k %s %s", img, mnt))
		skip("no loop device (mount -o loop failed)");
	snprintf(src, sizeof(src), "%s/vm.img", dir);
	snprintf(out, sizeof(out), "%s/vm.img", mnt);
	snprintf(v1, sizeof(v1), "%s/vm.v1", mnt);
	cr_assert_eq(dwcp_xfer_make_image(src, 128 * MIB, 41), 0, "cannot write %s", src);
	cr_assert_eq(dwcp_xfer_sh(msg, sizeof(msg), "dd if=/dev/zero of=%s bs=1M seek=32 count=16 conv=notrunc status=none",
				  src), 0, "%s", msg);
	before = used_bytes(mnt);
	transfer_ok("xfs, first send", "rfl", src, out, NULL);
	grown = used_bytes(mnt) - before;
	fprintf(stderr, "delta_any_size: reflink: the first version took %.1f MiB of disk\n", grown / MIB);
	/* The image's scattered zero pages are written with the data around
	 * them (cli/recv_fd.h: RECV_FD_HOLE_MIN), its 16 MiB run is a hole. */
	cr_expect_lt(grown, 116.0 * MIB, "the first version took %.1f MiB: its 16 MiB of zeros were written, not left a hole",
		     grown / MIB);
	cr_assert_eq(link(out, v1), 0, "ln %s %s: %s", out, v1, strerror(errno));
	cr_assert_eq(dwcp_xfer_sha256(v1, h1), 0);
	cr_assert_eq(dwcp_xfer_touch_pages(src, 20, 31, &changed), 0);
	before = used_bytes(mnt);
	transfer_ok("xfs, 5 % of pages touched", "rfl", src, out, NULL);
	grown = used_bytes(mnt) - before;
	kept = dwcp_xfer_json_num(rcv.out, "kept_pages");
	cloned = dwcp_xfer_json_num(rcv.out, "cloned_pages");
	fprintf(stderr, "delta_any_size: reflink: %.0f kept pages, %.0f cloned, disk grew %.1f MiB for a 128 MiB version\n",
		kept, cloned, grown / MIB);
	cr_expect_gt(kept, 0, "nothing was kept: %s", rcv.out);
	cr_expect_geq(cloned, kept - 1, "only %.0f of %.0f kept pages were shared (the last may be partial)",
		      cloned, kept);
	/* The kept pages take no new space; the rest (changed pages, and zero
	 * pages where XFS's speculative preallocation fills the holes) may. */
	cr_expect_lt(grown, 128.0 * MIB - kept * 4096 + 16.0 * MIB,
		     "the second version took %.1f MiB of disk, more than its %.1f MiB of pages not kept: its kept pages were written again",
		     grown / MIB, (128.0 * MIB - kept * 4096) / MIB);
	cr_assert_eq(dwcp_xfer_sha256(v1, h1_after), 0);
	cr_expect_str_eq(h1_after, h1, "the previous version changed when the new one shared its blocks");
}
