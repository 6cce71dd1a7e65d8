/* Disks as the source and the target: VM disks on LVM volumes, raw disks
 * or partitions are block devices, and `dwcp send --file /dev/...` and
 * `dwcp recv --out /dev/...` move them as they move image files. Two real
 * nodes holding one key, loop devices standing for the disks:
 *
 *  - a disk sent to a larger one: the target's first bytes are the
 *    source's, zero pages included (the target held other data), and its
 *    tail is left as it was; a resend after 5 % of the pages changed
 *    moves only those, and the target is exact again; --out named through
 *    a udev-style link under /dev (as /dev/VG/LV is) reaches the device;
 *  - a send to a disk stopped part way resumes from what the disk holds,
 *    whether its receiver still waits or was killed outright (from the
 *    last checkpoint then);
 *  - a target in use (held exclusively, as a mount holds it) is refused
 *    before anything is sent, naming the fix; one smaller than the
 *    stream fails, saying so; a link to it where anyone may plant one
 *    (/dev/shm) is refused as any symlink is.
 *
 * Needs root and loop devices; without them it prints "skipped: no loop
 * device". Timeouts are hang guards only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

#define MIB (1024ull * 1024ull)
#define SIZE (256 * MIB)
#define GUARD_S 600u

static struct dwcp_xfer_pair pair;
static struct dwcp_xfer_proc snd, rcv;
static struct dwcp_xfer_guard guard;
static char dir[64], loops[2][32], link_dir[64];

static void teardown(void)
{
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_pair_stop(&pair);
	dwcp_xfer_guard_release(&guard);
	dwcp_xfer_rmdir(dir);
}

/* Loop device @p i over the file diskI of the test directory, into
 * loops[@p i]. @return 0, or -1 (no loop device here). */
static int make_disk(unsigned i)
{
	char out[256];

	if (dwcp_xfer_sh(out, sizeof(out), "losetup -f --show %s/disk%u", dir, i) ||
	    strncmp(out, "/dev/loop", 9))
		return -1;
	out[strcspn(out, "\n")] = '\0';
	snprintf(loops[i], sizeof(loops[i]), "%.31s", out);
	return 0;
}

/* Nodes, the source disk holding a VM-like image of SIZE bytes and a
 * target of @p target bytes holding random data. @return false (after
 * saying so) where there are no loop devices. */
static bool setup(const char *tag, uint64_t target)
{
	struct dwcp_xfer_pair_cfg c = { .tag = tag };
	char key[128], img[128], cleanup[512], out[256];
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/dwcp-blk.XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(link_dir, sizeof(link_dir), "/dev/dwcp-test-%s-%d", tag, (int)getpid());
	/* Whatever happens to this process: the loop devices and the link go. */
	snprintf(cleanup, sizeof(cleanup),
		 "for f in %s/disk0 %s/disk1; do losetup -j $f -O NAME -n | xargs -r losetup -d; done; rm -rf %s",
		 dir, dir, link_dir);
	cr_assert_eq(dwcp_xfer_guard_start(&guard, cleanup), 0);
	snprintf(img, sizeof(img), "%s/disk0", dir);
	cr_assert_eq(dwcp_xfer_make_image(img, SIZE, 211), 0);
	if (getuid() != 0 || make_disk(0)) {
		fprintf(stderr, "skipped: no loop device\n");
		return false;
	}
	cr_assert_eq(dwcp_xfer_sh(out, sizeof(out), "head -c %llu /dev/urandom > %s/disk1",
				  (unsigned long long)target, dir), 0, "%s", out);
	cr_assert_eq(make_disk(1), 0, "a second loop device: none free?");
	snprintf(key, sizeof(key), "%s/node.key", dir);
	cr_assert_eq(dwcp_xfer_keygen(key), 0, "dwcp keygen %s failed", key);
	c.key_a = c.key_b = key;
	rc = dwcp_xfer_pair_start(&pair, &c);
	cr_assert_eq(rc, 0, "node %c did not start", rc);
	return true;
}

/* SHA-256 of the first @p n bytes of @p path. */
static void sha_head(const char *path, uint64_t n, char hex[65])
{
	char out[256];

	cr_assert_eq(dwcp_xfer_sh(out, sizeof(out), "head -c %llu %s | sha256sum | cut -c1-64",
				  (unsigned long long)n, path), 0, "%s", out);
	snprintf(hex, 65, "%.64s", out);
}

/* Send the source disk as @p stream to @p out; @return the two exit statuses. */
static void transfer(const char *stream, const char *out, int *rs, int *rr)
{
	int rc = dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, stream, out, GUARD_S);

	cr_assert_eq(rc, 0, "cannot start dwcp recv: %s", strerror(-rc));
	rc = dwcp_xfer_send_start(&snd, pair.a.instance, stream, loops[0], "nodeb", 120, NULL);
	cr_assert_eq(rc, 0, "cannot start dwcp send: %s", strerror(-rc));
	*rs = dwcp_xfer_wait(&snd, GUARD_S * 1000u);
	*rr = dwcp_xfer_wait(&rcv, 60000u);
	fprintf(stderr, "block: %s: send %d %s %s\n  recv %d %s %s\n", stream, *rs, snd.out, snd.err,
		*rr, rcv.out, rcv.err);
}

static void transfer_ok(const char *stream, const char *out)
{
	int rs, rr;

	transfer(stream, out, &rs, &rr);
	cr_assert_eq(rs, 0, "dwcp send exited %d: %s", rs, snd.err);
	cr_assert_eq(rr, 0, "dwcp recv exited %d: %s", rr, rcv.err);
}

Test(block_device, a_disk_goes_to_a_disk_and_a_resend_moves_only_changed_pages,
     .fini = teardown, .timeout = 900)
{
	char h_src[65], h_dst[65], tail0[65], tail1[65], out[320], link[160];
	const uint64_t target = SIZE + 32 * MIB;
	uint64_t changed;
	double first_wire, wire;

	if (!setup("blk", target))
		cr_skip_test("skipped: no loop device");
	cr_assert_eq(dwcp_xfer_sh(out, sizeof(out), "tail -c %llu %s | sha256sum | cut -c1-64",
				  (unsigned long long)(32 * MIB), loops[1]), 0, "%s", out);
	snprintf(tail0, sizeof(tail0), "%.64s", out);
	/* The target named as LVM names a volume: a link under /dev. */
	snprintf(link, sizeof(link), "%s/vm-disk", link_dir);
	cr_assert_eq(dwcp_xfer_sh(out, sizeof(out), "mkdir -p %s && ln -s %s %s", link_dir, loops[1],
				  link), 0, "%s", out);

	transfer_ok("disk", link);
	cr_expect_not_null(strstr(rcv.out, "\"inplace\": true"), "not written in place: %s", rcv.out);
	sha_head(loops[0], SIZE, h_src);
	sha_head(loops[1], SIZE, h_dst);
	cr_assert_str_eq(h_dst, h_src, "the target's first %llu bytes are not the source",
			 (unsigned long long)SIZE);
	cr_assert_eq(dwcp_xfer_sh(out, sizeof(out), "tail -c %llu %s | sha256sum | cut -c1-64",
				  (unsigned long long)(32 * MIB), loops[1]), 0, "%s", out);
	snprintf(tail1, sizeof(tail1), "%.64s", out);
	cr_expect_str_eq(tail1, tail0, "the target's tail past the stream changed");
	first_wire = dwcp_xfer_json_num(snd.out, "bytes_wire");

	/* 5 % of the source's pages change (in the file under the loop
	 * device, whose own cache of it is dropped then, as a VM's writes
	 * reach the volume). */
	snprintf(link, sizeof(link), "%s/disk0", dir);
	cr_assert_eq(dwcp_xfer_touch_pages(link, 20, 212, &changed), 0);
	cr_assert_gt(changed, 0);
	cr_assert_eq(dwcp_xfer_sh(out, sizeof(out), "blockdev --flushbufs %s", loops[0]), 0, "%s", out);
	snprintf(link, sizeof(link), "%s/vm-disk", link_dir);
	transfer_ok("disk", link);
	sha_head(loops[0], SIZE, h_src);
	sha_head(loops[1], SIZE, h_dst);
	cr_assert_str_eq(h_dst, h_src, "after the resend, the target is not the source");
	wire = dwcp_xfer_json_num(snd.out, "bytes_wire");
	cr_expect_lt(wire, 0.1 * first_wire, "the resend moved %.0f bytes, the first send %.0f: %s", wire,
		     first_wire, snd.out);
	cr_expect_geq(dwcp_xfer_json_num(rcv.out, "kept_pages"), (double)(SIZE / 4096 - changed) * 0.99,
		      "%s", rcv.out);
	cr_expect_lt(dwcp_xfer_json_num(rcv.out, "kept_pages"), (double)(SIZE / 4096), "%s", rcv.out);
	cr_expect_geq(dwcp_xfer_json_num(rcv.out, "written_pages"), (double)changed, "%s", rcv.out);
}

/* The receiving node's checkpoint record of @p stream (cli/recv_partial.h). */
static void part_record(char *path, size_t n, const char *stream)
{
	snprintf(path, n, "%.*s.index/%s@%s.part", (int)strlen(pair.b.config) - 4, pair.b.config,
		 pair.b.instance, stream);
}

/* Start the send of the source disk as @p stream and stop it (SIGINT)
 * once the receiver recorded its first checkpoint (64 MiB written). */
static void interrupt_send(const char *stream)
{
	char rec[PATH_MAX];
	int rs;

	part_record(rec, sizeof(rec), stream);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, stream, loops[0], "nodeb", 120, NULL), 0);
	for (unsigned ms = 0; ms < 60000u && dwcp_xfer_file_size(rec) <= 0 && dwcp_xfer_running(&snd);
	     ms += 5)
		usleep(5000);
	cr_assert_gt(dwcp_xfer_file_size(rec), 0, "no checkpoint record at %s: %s", rec, snd.err);
	kill(snd.pid, SIGINT);
	rs = dwcp_xfer_wait(&snd, 60000u);
	fprintf(stderr, "block: interrupted: %d %s\n", rs, snd.err);
	cr_assert_eq(rs, 1, "dwcp send stopped by SIGINT exited %d: %s", rs, snd.err);
	dwcp_xfer_proc_free(&snd);
}

/* The data on the disk is what is resumed from: */
static void expect_resumed(const char *what)
{
	char h_src[65], h_dst[65];
	const double resumed = dwcp_xfer_json_num(rcv.out, "resumed_bytes");

	sha_head(loops[0], SIZE, h_src);
	sha_head(loops[1], SIZE, h_dst);
	cr_assert_str_eq(h_dst, h_src, "%s: the target is not the source", what);
	cr_expect_geq(resumed, 64.0 * MIB, "%s: resumed from %.0f bytes: %s", what, resumed, rcv.out);
	cr_expect_gt(dwcp_xfer_json_num(rcv.out, "kept_pages"), 0, "%s: %s", what, rcv.out);
	cr_expect_eq(dwcp_xfer_json_num(rcv.out, "kept_pages"), dwcp_xfer_json_num(snd.out, "kept_pages"),
		     "%s: %s\n%s", what, rcv.out, snd.out);
	cr_expect_leq(dwcp_xfer_json_num(rcv.out, "kept_pages"), resumed / 4096, "%s: %s", what, rcv.out);
}

/* A send to a disk stopped part way, run again: while the receiver still
 * waits, and after it too was killed outright (its last checkpoint is on
 * the disk), the rerun keeps what the disk holds. */
Test(block_device, an_interrupted_send_to_a_disk_resumes, .fini = teardown, .timeout = 900)
{
	int rs, rr;

	if (!setup("blkrsm", SIZE))
		cr_skip_test("skipped: no loop device");
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "rsm", loops[1], GUARD_S), 0);
	interrupt_send("rsm");
	cr_assert(dwcp_xfer_running(&rcv), "dwcp recv ended with the sender: %s", rcv.err);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, "rsm", loops[0], "nodeb", 120, NULL), 0);
	rs = dwcp_xfer_wait(&snd, GUARD_S * 1000u);
	rr = dwcp_xfer_wait(&rcv, 60000u);
	fprintf(stderr, "block: resumed: send %d %s %s\n  recv %d %s %s\n", rs, snd.out, snd.err, rr,
		rcv.out, rcv.err);
	cr_assert(rs == 0 && rr == 0, "send %d, recv %d", rs, rr);
	expect_resumed("the receiver waited");
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);

	/* Again from the start (another stream), the receiver killed outright. */
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "kill", loops[1], GUARD_S), 0);
	interrupt_send("kill");
	kill(rcv.pid, SIGKILL);
	dwcp_xfer_wait(&rcv, 60000u);
	dwcp_xfer_proc_free(&rcv);
	transfer_ok("kill", loops[1]);
	expect_resumed("the receiver was killed");
}

Test(block_device, a_target_in_use_or_too_small_is_refused_naming_why, .fini = teardown,
     .timeout = 900)
{
	char shm_link[64];
	int rs, rr, held;

	if (!setup("blkbad", SIZE / 4))
		cr_skip_test("skipped: no loop device");
	/* Held exclusively, as a mounted file system holds its device. */
	held = open(loops[1], O_RDONLY | O_EXCL | O_CLOEXEC);
	cr_assert_geq(held, 0, "open %s O_EXCL: %s", loops[1], strerror(errno));
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "busy", loops[1], 5), 0);
	rr = dwcp_xfer_wait(&rcv, 60000u);
	cr_expect_eq(rr, 1, "%s", rcv.err);
	cr_expect_not_null(strstr(rcv.err, "is in use"), "%s", rcv.err);
	cr_expect_not_null(strstr(rcv.err, "nothing was received"), "%s", rcv.err);
	close(held);
	dwcp_xfer_proc_free(&rcv);

	/* A link to the device where anyone may plant one (/dev/shm) is no
	 * udev link: refused as any symlink is, the device untouched. */
	snprintf(shm_link, sizeof(shm_link), "/dev/shm/dwcp-test-%d", (int)getpid());
	cr_assert_eq(symlink(loops[1], shm_link), 0, "symlink %s: %s", shm_link, strerror(errno));
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "planted", shm_link, 5), 0);
	rr = dwcp_xfer_wait(&rcv, 60000u);
	unlink(shm_link);
	fprintf(stderr, "block: planted link: %d %s\n", rr, rcv.err);
	cr_expect_eq(rr, 1, "%s", rcv.err);
	cr_expect_not_null(strstr(rcv.err, "is a symlink"), "%s", rcv.err);
	dwcp_xfer_proc_free(&rcv);

	/* A quarter of the stream's size. */
	transfer("small", loops[1], &rs, &rr);
	cr_expect_eq(rr, 1, "%s", rcv.err);
	cr_expect_not_null(strstr(rcv.err, "larger than the block device"), "%s", rcv.err);
	cr_expect_eq(rs, 1, "dwcp send exited %d: %s", rs, snd.err);
	cr_expect_not_null(strstr(snd.err, "a block device smaller than this file"),
			   "the sender does not say what to fix: %s", snd.err);
}
