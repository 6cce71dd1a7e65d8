/* `dwcp recv --inplace` (issue 7 item 3: "an explicit in-place mode may
 * trade atomicity for speed, as rsync's --inplace does"). Two real nodes,
 * `dwcp send` on A and `dwcp recv --inplace` on B as the user runs them,
 * the receiver writing to the same --out each time:
 *
 *  - a resend writes the changed pages into the same file (same inode),
 *    bit-identical, and leaves the kept pages alone (the summary's
 *    written_pages is exactly the pages that were not kept); a page of
 *    the output changed behind dwcp's back is never silently kept: with
 *    its mtime changed the base is refused (atomic fallback), with its
 *    mtime put back the whole-file digest fails loudly and the next send
 *    repairs the file;
 *  - the file shrinks and grows in place;
 *  - `dwcp recv --inplace` killed (SIGKILL) while it rewrites the file:
 *    no record vouches for the half-written file, and the next send +
 *    recv --inplace gives the new version bit-identical;
 *  - --inplace with no file at --out falls back to the atomic path, says
 *    so, and works;
 *  - `dwcp recv --inplace` stopped (SIGTERM) after its first checkpoint:
 *    run again with --inplace, it resumes in the same file.
 *
 * Timeouts are hang guards only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

#define MIB (1024ull * 1024ull)
#define PAGE 4096ull
#define GUARD_S 600u

static struct dwcp_xfer_pair pair;
static struct dwcp_xfer_proc snd, rcv;
static char dir[64];
static const char *const inplace[] = { "--inplace", NULL };

static void teardown(void)
{
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_pair_stop(&pair);
	dwcp_xfer_rmdir(dir);
}

/* Two nodes, built-in delta defaults; @p src and @p out in the test's dir. */
static void setup(const char *tag, char src[128], char out[128])
{
	struct dwcp_xfer_pair_cfg c = { .tag = tag };
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/dwcp-inplace.XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	rc = dwcp_xfer_pair_start(&pair, &c);
	cr_assert_eq(rc, 0, "node %c did not start", rc);
	snprintf(src, 128, "%s/vm.img", dir);
	snprintf(out, 128, "%s/recv.img", dir);
}

/* The receiver's record of @p stream (node.c: indexes beside the config). */
static void record_path(char p[256], const char *stream)
{
	snprintf(p, 256, "%.*s.index/%s@%s.rcv", (int)strlen(pair.b.config) - 4, pair.b.config,
		 pair.b.instance, stream);
}

static void start(const char *stream, const char *src, const char *out,
		  const char *const *recv_extra)
{
	int rc;

	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	rc = dwcp_xfer_recv_start_extra(&rcv, NULL, pair.b.instance, stream, out, GUARD_S, recv_extra);
	cr_assert_eq(rc, 0, "cannot start dwcp recv: %s", strerror(-rc));
	rc = dwcp_xfer_send_start(&snd, pair.a.instance, stream, src, "nodeb", 120, NULL);
	cr_assert_eq(rc, 0, "cannot start dwcp send: %s", strerror(-rc));
}

/* Both exit with these statuses (0, 0: and @p out is @p src, bit for bit). */
static void finish(const char *what, const char *src, const char *out, bool ok)
{
	char h_src[65], h_out[65];
	int rs = dwcp_xfer_wait(&snd, GUARD_S * 1000u);
	int rr = dwcp_xfer_wait(&rcv, 60000u);

	fprintf(stderr, "recv_inplace: %s: send %d %s\n  recv %d %s  recv stderr: %s\n", what, rs,
		snd.out, rr, rcv.out, rcv.err);
	if (ok && (rs != 0 || rr != 0))
		dwcp_xfer_pair_dump(&pair, "transfer failed");
	if (!ok) {
		cr_assert_neq(rr, 0, "%s: dwcp recv succeeded: %s", what, rcv.out);
		return;
	}
	cr_assert_eq(rs, 0, "%s: dwcp send exited %d: %s", what, rs, snd.err);
	cr_assert_eq(rr, 0, "%s: dwcp recv exited %d: %s", what, rr, rcv.err);
	cr_assert_eq(dwcp_xfer_sha256(src, h_src), 0, "cannot read %s", src);
	cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0, "no file at the sink: %s", out);
	cr_assert_str_eq(h_out, h_src, "%s: %s differs from %s", what, out, src);
}

static void transfer(const char *what, const char *stream, const char *src, const char *out,
		     const char *const *recv_extra)
{
	start(stream, src, out, recv_extra);
	finish(what, src, out, true);
}

/* The last receive wrote into --out itself (its summary says so). */
static bool in_place(void)
{
	return rcv.out && strstr(rcv.out, "\"inplace\": true");
}

static ino_t inode(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
	return st.st_ino;
}

/* Rewrite one byte of page @p page of @p path in place; with
 * @p keep_mtime its mtime is put back as it was (nothing shows). */
static void scribble(const char *path, uint64_t page, bool keep_mtime)
{
	int fd = open(path, O_RDWR);
	struct stat st;
	uint8_t b;

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(pread(fd, &b, 1, (off_t)(page * PAGE + 100)), 1);
	b ^= 0x5a;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)(page * PAGE + 100)), 1);
	if (keep_mtime)
		cr_assert_eq(futimens(fd, (struct timespec[]){ st.st_atim, st.st_mtim }), 0);
	close(fd);
}

Test(recv_inplace, resend_rewrites_only_changed_pages_of_the_same_file, .fini = teardown,
     .timeout = 900)
{
	char src[128], out[128];
	const double pages = 128.0 * MIB / PAGE;
	double kept, written, rkept;
	uint64_t changed;
	ino_t ino;

	setup("inpl", src, out);
	cr_assert_eq(dwcp_xfer_make_image(src, 128 * MIB, 51), 0);
	transfer("v1 (no --inplace)", "inpl", src, out, NULL);
	ino = inode(out);
	cr_assert_eq(dwcp_xfer_touch_pages(src, 20, 52, &changed), 0);
	transfer("v2, --inplace", "inpl", src, out, inplace);
	kept = dwcp_xfer_json_num(snd.out, "kept_pages");
	written = dwcp_xfer_json_num(rcv.out, "written_pages");
	rkept = dwcp_xfer_json_num(rcv.out, "kept_pages");
	cr_expect_eq(inode(out), ino, "--inplace wrote another file (inode %llu, was %llu)",
		     (unsigned long long)inode(out), (unsigned long long)ino);
	cr_expect(in_place(), "recv did not write in place: %s", rcv.out);
	cr_expect_eq(kept, pages - (double)changed, "every untouched page kept: %s", snd.out);
	/* A chunk whose XOR base the sender's cache lost is resent whole
	 * (raw_resends), its kept pages with it: the receiver keeps at most
	 * what the sender's index kept, and writes exactly the rest. */
	cr_expect(rkept <= kept && rkept >= 0.9 * pages, "the receiver left %.0f pages, the sender kept %.0f",
		  rkept, kept);
	cr_expect_eq(written, pages - rkept, "%.0f pages written in place, but %.0f were not kept",
		     written, pages - rkept);

	/* Behind dwcp's back, mtime changed: the base is refused, the file
	 * replaced atomically, and still arrives whole. */
	scribble(out, 1000, false);
	transfer("unchanged, --inplace, receiver's copy modified", "inpl", src, out, inplace);
	cr_expect_not_null(strstr(rcv.err, "--inplace: the file at the output path is not the one the last receive wrote"),
			   "no fallback message: %s", rcv.err);
	cr_expect_gt(dwcp_xfer_json_num(rcv.out, "rejected"), 0, "kept pages of the modified copy accepted");
	cr_expect_neq(inode(out), ino, "the fallback did not replace the file atomically");

	/* Behind dwcp's back, mtime put back: the record still matches, the
	 * page is left as it is, and the whole-file digest catches it. */
	ino = inode(out);
	scribble(out, 2000, true);
	start("inpl", src, out, inplace);
	finish("unchanged, --inplace, copy modified keeping its mtime", src, out, false);
	cr_expect_not_null(strstr(rcv.err, "whole-file digest"), "no digest error: %s", rcv.err);
	cr_expect_not_null(strstr(rcv.err, "run the send again"), "the fix is not named: %s", rcv.err);
	/* ... and the index no longer vouches for it: the next send repairs it. */
	transfer("unchanged, --inplace, after the digest mismatch", "inpl", src, out, inplace);
	cr_expect_gt(dwcp_xfer_json_num(rcv.out, "rejected"), 0, "kept pages of the bad copy accepted");
	/* ... and the one after that keeps every page again, in place. */
	transfer("unchanged, --inplace, once more", "inpl", src, out, inplace);
	cr_expect(in_place(), "%s", rcv.out);
	cr_expect_eq(dwcp_xfer_json_num(rcv.out, "written_pages"), 0, "%s", rcv.out);
	cr_expect_eq(dwcp_xfer_json_num(rcv.out, "kept_pages"), pages, "%s", rcv.out);
}

/* Append @p zeros zero bytes and then @p rnd random ones to @p path. */
static void grow(const char *path, uint64_t zeros, uint64_t rnd, uint64_t seed)
{
	char tail[160], sh[512];

	snprintf(tail, sizeof(tail), "%s.tail", path);
	cr_assert_eq(dwcp_xfer_make_random(tail, rnd, seed), 0);
	cr_assert_eq(dwcp_xfer_sh(sh, sizeof(sh), "truncate -s +%llu %s && cat %s >> %s && rm %s",
				  (unsigned long long)zeros, path, tail, path, tail), 0, "%s", sh);
}

Test(recv_inplace, file_shrinks_and_grows_in_place, .fini = teardown, .timeout = 600)
{
	char src[128], out[128], sh[512];
	ino_t ino;

	setup("inplsz", src, out);
	cr_assert_eq(dwcp_xfer_make_image(src, 32 * MIB, 61), 0);
	transfer("32 MiB", "sz", src, out, NULL);
	ino = inode(out);
	cr_assert_eq(dwcp_xfer_sh(sh, sizeof(sh), "truncate -s %llu %s", 20 * MIB + 1234, src), 0, "%s", sh);
	transfer("shrunk to 20 MiB + 1234, --inplace", "sz", src, out, inplace);
	cr_expect_eq(dwcp_xfer_file_size(out), (long long)(20 * MIB + 1234));
	cr_expect_eq(inode(out), ino, "the shrink was not in place");
	cr_expect(in_place(), "%s", rcv.out);
	grow(src, 8 * MIB + 100, 8 * MIB + 77, 62);
	transfer("grown by 8 MiB of zeros and 8 MiB of random bytes, --inplace", "sz", src, out, inplace);
	cr_expect_eq(inode(out), ino, "the growth was not in place");
	cr_expect(in_place(), "%s", rcv.out);
	cr_expect_gt(dwcp_xfer_json_num(rcv.out, "kept_pages"), 0, "%s", rcv.out);
}

Test(recv_inplace, killed_while_rewriting_then_resend_is_whole, .fini = teardown, .timeout = 900)
{
	char src[128], out[128], rec[256], h_old[65], h_mid[65];
	uint64_t changed;
	bool killed = false;
	struct stat st0;

	setup("inplkill", src, out);
	record_path(rec, "kill");
	cr_assert_eq(dwcp_xfer_make_image(src, 256 * MIB, 71), 0);
	transfer("256 MiB", "kill", src, out, NULL);
	cr_assert_eq(access(rec, F_OK), 0, "no receiver record at %s", rec);
	cr_assert_eq(dwcp_xfer_sha256(out, h_old), 0);
	/* Half the pages change: the in-place rewrite lasts long enough to be killed. */
	cr_assert_eq(dwcp_xfer_touch_pages(src, 2, 72, &changed), 0);
	cr_assert_eq(stat(out, &st0), 0);
	start("kill", src, out, inplace);
	/* The record goes before the first byte is rewritten; kill once the
	 * file's mtime says bytes were rewritten too. */
	for (unsigned ms = 0; ms < GUARD_S * 1000u && dwcp_xfer_running(&rcv); ms++) {
		struct stat st;

		if (access(rec, F_OK) != 0 && stat(out, &st) == 0 &&
		    (st.st_mtim.tv_sec != st0.st_mtim.tv_sec || st.st_mtim.tv_nsec != st0.st_mtim.tv_nsec)) {
			killed = kill(rcv.pid, SIGKILL) == 0;
			break;
		}
		usleep(1000);
	}
	cr_assert(killed, "dwcp recv --inplace ended before it could be killed while rewriting: %s",
		  dwcp_xfer_running(&rcv) ? "" : "it exited");
	dwcp_xfer_wait(&rcv, 60000u);
	dwcp_xfer_proc_free(&snd);   /* its receiver is gone: stop it */
	cr_expect_neq(access(rec, F_OK), 0, "a record vouches for the half-written %s", out);
	cr_assert_eq(dwcp_xfer_sha256(out, h_mid), 0);
	cr_expect_str_neq(h_mid, h_old, "killed after rewriting, yet %s is the old version", out);
	transfer("after the kill, --inplace", "kill", src, out, inplace);
	cr_expect_not_null(strstr(rcv.err, "--inplace: no record"), "no fallback message: %s", rcv.err);
	cr_expect_gt(dwcp_xfer_json_num(rcv.out, "rejected"), 0,
		     "the receiver kept pages of the half-written file: %s", rcv.out);
	cr_expect_eq(access(rec, F_OK), 0, "no record after a complete receive");
}

Test(recv_inplace, missing_output_falls_back_and_works, .fini = teardown, .timeout = 600)
{
	char src[128], out[128];

	setup("inplnew", src, out);
	cr_assert_eq(dwcp_xfer_make_image(src, 8 * MIB, 81), 0);
	transfer("8 MiB, --inplace to a missing --out", "new", src, out, inplace);
	cr_expect_not_null(strstr(rcv.err, "--inplace: no previous copy at the output path; writing a new file and replacing"),
			   "no fallback message: %s", rcv.err);
	cr_expect(!in_place(), "%s", rcv.out);
	/* The next one has a base: in place. */
	transfer("8 MiB again, --inplace", "new", src, out, inplace);
	cr_expect(in_place(), "%s", rcv.out);
	cr_expect_eq(dwcp_xfer_json_num(rcv.out, "written_pages"), 0, "%s", rcv.out);
}

/* The sender is killed while the receiver rewrites in place, and run
 * again with the upgrade rolled back (the first version again, so every
 * page is "unchanged" for the sender's index): the waiting `dwcp recv
 * --inplace` starts over and keeps nothing from the half-rewritten file
 * (whose rewritten pages are no longer the first version's), and ends
 * with the first version, bit-identical, in the same file. */
Test(recv_inplace, sender_rerun_mid_rewrite_keeps_nothing_from_the_half_written_file,
     .fini = teardown, .timeout = 900)
{
	char src[128], out[128], rec[256], sh[512];
	uint64_t changed;
	bool killed = false;
	struct stat st0;
	ino_t ino;
	int rc;

	setup("inplrerun", src, out);
	record_path(rec, "rerun");
	cr_assert_eq(dwcp_xfer_make_image(src, 256 * MIB, 91), 0);
	transfer("256 MiB", "rerun", src, out, NULL);
	cr_assert_eq(dwcp_xfer_sh(sh, sizeof(sh), "cp %s %s.v1", src, src), 0, "%s", sh);
	ino = inode(out);
	cr_assert_eq(dwcp_xfer_touch_pages(src, 2, 92, &changed), 0);
	cr_assert_eq(stat(out, &st0), 0);
	start("rerun", src, out, inplace);
	for (unsigned ms = 0; ms < GUARD_S * 1000u && dwcp_xfer_running(&snd); ms++) {
		struct stat st;

		if (access(rec, F_OK) != 0 && stat(out, &st) == 0 &&
		    (st.st_mtim.tv_sec != st0.st_mtim.tv_sec || st.st_mtim.tv_nsec != st0.st_mtim.tv_nsec)) {
			killed = kill(snd.pid, SIGKILL) == 0;
			break;
		}
		usleep(1000);
	}
	cr_assert(killed, "dwcp send ended before the receiver rewrote anything in place");
	dwcp_xfer_wait(&snd, 60000u);
	dwcp_xfer_proc_free(&snd);
	cr_assert_eq(dwcp_xfer_sh(sh, sizeof(sh), "cp %s.v1 %s", src, src), 0, "%s", sh);
	rc = dwcp_xfer_send_start(&snd, pair.a.instance, "rerun", src, "nodeb", 120, NULL);
	cr_assert_eq(rc, 0, "cannot start dwcp send again: %s", strerror(-rc));
	finish("sender rerun (first version again) during an in-place receive", src, out, true);
	/* Had the receiver kept the pages the sender's index calls unchanged,
	 * the pages the killed run rewrote would hold the upgrade: the
	 * whole-file digest would have failed above. */
	cr_expect(in_place(), "%s", rcv.out);
	cr_expect_eq(inode(out), ino, "not in place");
	cr_expect_gt(dwcp_xfer_json_num(rcv.out, "rejected"), 0,
		     "kept pages of the half-rewritten file were accepted: %s", rcv.out);
	cr_expect_eq(access(rec, F_OK), 0, "no record after a complete receive");
}

/* A `dwcp recv --inplace` stopped (SIGTERM) while it rewrites: the file
 * is its own partial copy, its prefix recorded; run again with the
 * sender, it resumes in the same file: what it had written does not
 * travel again, and the file ends bit-identical. */
Test(recv_inplace, an_interrupted_inplace_receive_resumes_in_place, .fini = teardown,
     .timeout = 900)
{
	char src[128], out[128], part[256];
	uint64_t changed;
	ino_t ino;
	int rs, rr;

	setup("inplrsm", src, out);
	snprintf(part, sizeof(part), "%.*s.index/%s@rsm.part", (int)strlen(pair.b.config) - 4,
		 pair.b.config, pair.b.instance);
	cr_assert_eq(dwcp_xfer_make_image(src, 256 * MIB, 101), 0);
	transfer("256 MiB", "rsm", src, out, NULL);
	ino = inode(out);
	cr_assert_eq(dwcp_xfer_touch_pages(src, 2, 102, &changed), 0);
	start("rsm", src, out, inplace);
	/* Stopped after its first checkpoint (64 MiB written). */
	for (unsigned ms = 0; ms < GUARD_S * 1000u && dwcp_xfer_running(&rcv) &&
	     dwcp_xfer_file_size(part) <= 0; ms += 2)
		usleep(2000);
	cr_assert_gt(dwcp_xfer_file_size(part), 0, "no checkpoint record at %s", part);
	kill(rcv.pid, SIGTERM);
	rr = dwcp_xfer_wait(&rcv, 60000u);
	rs = dwcp_xfer_wait(&snd, GUARD_S * 1000u);
	fprintf(stderr, "recv_inplace: stopped: recv %d %s\n  send %d %s\n", rr, rcv.err, rs, snd.err);
	cr_assert_eq(rr, 1, "%s", rcv.err);
	cr_assert_not_null(strstr(rcv.err, "dwcp recv --inplace --stream rsm` again"), "%s", rcv.err);
	cr_assert_eq(rs, 1, "%s", snd.err);

	transfer("resumed in place", "rsm", src, out, inplace);
	cr_expect(in_place(), "%s", rcv.out);
	cr_expect_eq(inode(out), ino, "not in the same file");
	cr_expect_geq(dwcp_xfer_json_num(rcv.out, "resumed_bytes"), 64.0 * MIB, "%s", rcv.out);
	cr_expect_gt(dwcp_xfer_json_num(rcv.out, "kept_pages"), 0, "%s", rcv.out);
	cr_expect_eq(dwcp_xfer_json_num(rcv.out, "kept_pages"), dwcp_xfer_json_num(snd.out, "kept_pages"),
		     "%s\n%s", rcv.out, snd.out);
	cr_expect_leq(dwcp_xfer_file_size(part), 0, "the record outlived the receive: %s", part);
}
