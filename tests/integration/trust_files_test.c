/* What `dwcp send` and `dwcp recv` do with files they must not trust, and
 * with deaths around them (two real nodes, the commands run as separate
 * processes, as a user runs them):
 *
 *  - safe output: a symlink, a directory, a character device or a FIFO
 *    at --out, and "." / ".." as stream names without --out, are refused
 *    before the stream is registered: recv fails with a message naming
 *    the fix, nothing is written anywhere (a symlink's target keeps its
 *    bytes), and the sender is never told "delivered". Symlinks planted at
 *    the names an older receiver used (PATH.partial) are left alone while
 *    the file arrives; an existing --out is replaced whole. When the final
 *    step fails (a directory appears at --out during the transfer), the
 *    sender gets the error, not "delivered";
 *  - consistent input: a FIFO (no writer), a directory or a device as
 *    --file is refused at once; a 256 MiB file rewritten during the send
 *    never lands at --out as a mix of two versions (the send fails, and
 *    its ABORT chunk ends the waiting recv);
 *  - deaths: kill -9 of the receiving node's supervisor ends a waiting
 *    or a receiving recv naming its node (and leaves no file at --out); kill -9 of the sending node's supervisor ends
 *    send naming its own node; dwcp send killed mid-transfer and run
 *    again delivers the file bit-identical; SIGTERM of recv mid-transfer
 *    leaves no temporary file in the output directory, only its partial
 *    copy (private, mode 0600), and nothing at all with --no-partial
 *    (so does the death of the receiving node's supervisor); kill -9 of recv
 *    mid-transfer leaves none either, dwcp send stops at once saying to
 *    start recv and send again, and doing so delivers the file.
 *
 * Timeouts are hang guards only.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

#define MIB (1024ull * 1024ull)

static struct dwcp_xfer_pair pair;
static struct dwcp_xfer_proc snd, rcv;
static char dir[64], outdir[96];

static void teardown(void)
{
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_pair_stop(&pair);
	if (dir[0])
		dwcp_xfer_sh(NULL, 0, "rm -rf '%s'", dir);
	dir[0] = '\0';
}

/* dir: sources, keys; outdir = dir/out: what the receiver writes, and
 * nothing else, so that a leftover shows. */
static void make_dirs(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dwcp-trust-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(outdir, sizeof(outdir), "%s/out", dir);
	cr_assert_eq(mkdir(outdir, 0755), 0);
}

static void in_dir(char *out, size_t n, const char *d, const char *name)
{
	snprintf(out, n, "%s/%s", d, name);
}

static void start_pair(const char *tag, const char *const *extra)
{
	static char key[128];
	struct dwcp_xfer_pair_cfg c = { .tag = tag, .extra = extra };
	int rc;

	in_dir(key, sizeof(key), dir, "k.key");
	cr_assert_eq(dwcp_xfer_keygen(key), 0, "dwcp keygen %s failed", key);
	c.key_a = c.key_b = key;
	rc = dwcp_xfer_pair_start(&pair, &c);
	cr_assert_eq(rc, 0, "node %c did not start", rc);
}

static bool has(const char *text, const char *what)
{
	return text && strcasestr(text, what) != NULL;
}

/* Names in @p d except @p keep (may be NULL), space-separated into @p out. */
static unsigned list_dir(const char *d, const char *keep, char *out, size_t n)
{
	DIR *dd = opendir(d);
	struct dirent *e;
	unsigned count = 0;

	out[0] = '\0';
	while (dd && (e = readdir(dd)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    (keep && !strcmp(e->d_name, keep)))
			continue;
		count++;
		strncat(out, e->d_name, n - strlen(out) - 2);
		strncat(out, " ", n - strlen(out) - 1);
	}
	if (dd)
		closedir(dd);
	return count;
}

static void print_both(const char *why)
{
	dwcp_xfer_print(&snd);
	dwcp_xfer_print(&rcv);
	dwcp_xfer_pair_dump(&pair, why);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

static void expect_text(const char *path, const char *text)
{
	char buf[256] = "";
	FILE *f = fopen(path, "re");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_expect_eq(fread(buf, 1, sizeof(buf) - 1, f), strlen(text));
	fclose(f);
	cr_expect_str_eq(buf, text, "%s changed", path);
}

/* A recv that must be refused: it exits non-zero by itself, saying
 * @p word, and the node lists no receiver (so no sender can be told
 * anything). */
static void expect_recv_refused(char *const argv[], const char *word)
{
	int rr;

	cr_assert_eq(dwcp_xfer_spawn(&rcv, "dwcp recv", NULL, argv), 0);
	rr = dwcp_xfer_wait(&rcv, 30000);
	fprintf(stderr, "refused as expected? status %d: %s", rr, rcv.err);
	cr_expect(rr != 0 && rr != -ETIMEDOUT && rr < 128, "dwcp recv exited %d (want a refusal)", rr);
	cr_expect(has(rcv.err, word), "dwcp recv's message does not say '%s': %s", word, rcv.err);
	cr_expect(has(rcv.err, "nothing was received") || has(rcv.err, "give --out"),
		  "dwcp recv's message names no consequence or fix: %s", rcv.err);
	dwcp_xfer_proc_free(&rcv);
}

static void recv_out_argv(char **argv, const char *stream, const char *out)
{
	char *const v[] = { (char *)dwcp_xfer_cli(), "recv", "--instance", pair.b.instance,
			    "--stream", (char *)stream, "--out", (char *)out, "--timeout", "20", NULL };

	memcpy(argv, v, sizeof(v));
}

/* ---- safe output ---- */

Test(trust_files, bad_outputs_are_refused_before_the_stream_is_registered, .fini = teardown,
     .timeout = 300)
{
	char recv_extra[160], target[128], link[128], sub[128], dev[128], fifo[128], src[128];
	char left[512], *argv[12];
	const char *extra[] = { recv_extra, NULL };
	int rs;

	make_dirs();
	/* The [recv] dir is outdir/r: ".." would be outdir, "." outdir/r. */
	snprintf(recv_extra, sizeof(recv_extra), "recv.dir = %s/r", outdir);
	start_pair("tfout", extra);
	in_dir(target, sizeof(target), dir, "target");
	in_dir(link, sizeof(link), outdir, "link");
	in_dir(sub, sizeof(sub), outdir, "sub");
	in_dir(dev, sizeof(dev), outdir, "null");
	in_dir(fifo, sizeof(fifo), outdir, "fifo");
	in_dir(src, sizeof(src), dir, "src");
	write_text(target, "the symlink's target\n");
	cr_assert_eq(symlink(target, link), 0);
	cr_assert_eq(mkdir(sub, 0755), 0);
	cr_assert_eq(mknod(dev, S_IFCHR | 0666, makedev(1, 3)), 0, "mknod: %s", strerror(errno));
	cr_assert_eq(mkfifo(fifo, 0644), 0);

	recv_out_argv(argv, "tfout", link);
	expect_recv_refused(argv, "symlink");
	recv_out_argv(argv, "tfout", sub);
	expect_recv_refused(argv, "directory");
	recv_out_argv(argv, "tfout", dev);
	expect_recv_refused(argv, "character device");
	recv_out_argv(argv, "tfout", fifo);
	expect_recv_refused(argv, "FIFO");
	for (unsigned i = 0; i < 2; i++) {
		char *const v[] = { (char *)dwcp_xfer_cli(), "recv", "--instance", pair.b.instance,
				    "--stream", i ? ".." : ".", "--timeout", "20", NULL };

		expect_recv_refused(v, "cannot be a file name");
	}

	expect_text(target, "the symlink's target\n");
	cr_expect_eq(dwcp_xfer_file_size(dev), 0, "the device node was replaced");
	cr_expect_eq(list_dir(sub, NULL, left, sizeof(left)), 0, "written into the directory: %s", left);
	cr_expect_eq(list_dir(outdir, NULL, left, sizeof(left)), 4, "left in %s: %s", outdir, left);

	/* Nobody receives "tfout": a sender is never told "delivered". */
	cr_assert_eq(dwcp_xfer_make_random(src, 1 * MIB, 1), 0);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, "tfout", src, "nodeb", 3, NULL), 0);
	rs = dwcp_xfer_wait(&snd, 60000);
	cr_expect(rs != 0 && rs != -ETIMEDOUT && rs < 128, "dwcp send with no receiver exited %d", rs);
	cr_expect(has(snd.err, "waiting for `dwcp recv"), "dwcp send: %s", snd.err);
	cr_expect(dwcp_xfer_json_num(snd.out, "bytes_in") < 0, "dwcp send printed a summary: %s",
		  snd.out);
}

Test(trust_files, planted_symlinks_are_never_followed_and_out_is_replaced_whole,
     .fini = teardown, .timeout = 300)
{
	char target[128], src[128], out[128], plant[160], left[512], h_src[65], h_out[65];
	const char *names[] = { "%s.partial", "%s.tmp", ".%s.partial" };
	int rs, rr;

	make_dirs();
	start_pair("tfplant", NULL);
	in_dir(target, sizeof(target), dir, "target");
	in_dir(src, sizeof(src), dir, "src");
	in_dir(out, sizeof(out), outdir, "o.img");
	write_text(target, "planted target\n");
	write_text(out, "the old version of o.img\n");
	for (unsigned i = 0; i < 3; i++) {
		char name[64];

		snprintf(name, sizeof(name), names[i], "o.img");
		in_dir(plant, sizeof(plant), outdir, name);
		cr_assert_eq(symlink(target, plant), 0);
	}
	cr_assert_eq(dwcp_xfer_make_image(src, 8 * MIB, 7), 0);
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "tfplant", out, 120), 0);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, "tfplant", src, "nodeb", 60, NULL), 0);
	rs = dwcp_xfer_wait(&snd, 180000);
	rr = dwcp_xfer_wait(&rcv, 60000);
	if (rs || rr)
		print_both("transfer beside planted symlinks");
	cr_assert_eq(rs, 0, "dwcp send exited %d: %s", rs, snd.err);
	cr_assert_eq(rr, 0, "dwcp recv exited %d: %s", rr, rcv.err);
	cr_assert_eq(dwcp_xfer_sha256(src, h_src), 0);
	cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0);
	cr_expect_str_eq(h_out, h_src, "--out differs from the source");
	expect_text(target, "planted target\n");
	cr_expect_eq(list_dir(outdir, NULL, left, sizeof(left)), 4,
		     "want o.img and the 3 planted links, got: %s", left);
}

Test(trust_files, a_failed_final_step_is_not_reported_delivered, .fini = teardown, .timeout = 300)
{
	char src[128], out[128], inner[160];
	int rs, rr;

	make_dirs();
	start_pair("tfcommit", NULL);
	in_dir(src, sizeof(src), dir, "src");
	in_dir(out, sizeof(out), outdir, "o");
	snprintf(inner, sizeof(inner), "%s/keep", out);
	cr_assert_eq(dwcp_xfer_make_random(src, 4 * MIB, 2), 0);
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "tfcommit", out, 120), 0);
	/* --out was free when recv checked it; a non-empty directory there
	 * now makes the final rename fail. */
	cr_assert_eq(mkdir(out, 0755), 0);
	write_text(inner, "keep\n");
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, "tfcommit", src, "nodeb", 60, NULL), 0);
	rs = dwcp_xfer_wait(&snd, 180000);
	rr = dwcp_xfer_wait(&rcv, 60000);
	print_both("final rename over a directory (expected to fail)");
	cr_expect(rr != 0 && rr != -ETIMEDOUT && rr < 128, "dwcp recv exited %d", rr);
	cr_expect(has(rcv.err, "nothing delivered"), "dwcp recv: %s", rcv.err);
	cr_expect(rs != 0 && rs != -ETIMEDOUT && rs < 128, "dwcp send exited %d: told delivered?", rs);
	cr_expect(has(snd.err, "refused"), "dwcp send: %s", snd.err);
	expect_text(inner, "keep\n");
}

/* ---- consistent input ---- */

Test(trust_files, non_regular_files_are_refused_at_once, .timeout = 120)
{
	char fifo[128], out[4096], err[4096];
	int rc;

	make_dirs();
	in_dir(fifo, sizeof(fifo), dir, "fifo");
	cr_assert_eq(mkfifo(fifo, 0644), 0);
	for (unsigned i = 0; i < 3; i++) {
		const char *file = i == 0 ? fifo : i == 1 ? dir : "/dev/zero";
		const char *word = i == 0 ? "FIFO" : i == 1 ? "directory" : "character device";
		char *const argv[] = { (char *)dwcp_xfer_cli(), "send", "--instance", "tf-none",
				       "--stream", "s", "--file", (char *)file, "--to", "127.0.0.1:1",
				       NULL };

		/* A FIFO without a writer would block a plain open(): the hang
		 * guard catches that as -ETIMEDOUT. */
		rc = dwcp_test_run(argv, out, sizeof(out), err, sizeof(err), 20000);
		fprintf(stderr, "send --file %s: %d: %s", file, rc, err);
		cr_expect(rc == 1, "dwcp send --file %s exited %d", file, rc);
		cr_expect(has(err, word) && has(err, "not a regular file"),
			  "dwcp send --file %s: message does not say %s: %s", file, word, err);
	}
	dwcp_xfer_sh(NULL, 0, "rm -rf '%s'", dir);
	dir[0] = '\0';
}

/* Hold the receiver (dwcp_xfer_hold_recv_at) once @p at bytes of @p out
 * arrived, both ends running: what the test does next happens
 * mid-transfer whatever the speed of the machine. */
static void hold_receiver_at(const char *out, uint64_t at)
{
	long long seen = dwcp_xfer_hold_recv_at(&rcv, &snd, out, at, 120000);

	cr_assert_geq(seen, 0, "the transfer ended (or hung) before %llu bytes arrived: send: %s recv: %s",
		      (unsigned long long)at, snd.err ? snd.err : "", rcv.err ? rcv.err : "");
}

Test(trust_files, a_file_rewritten_during_the_send_never_arrives_mixed, .fini = teardown,
     .timeout = 600)
{
	const uint64_t size = 256 * MIB;
	char src[128], v2[128], out[128], h_v1[65], h_v2[65], h_out[65], cmd[512];
	int rs, rr;

	make_dirs();
	start_pair("tfchange", NULL);
	in_dir(src, sizeof(src), dir, "src");
	in_dir(v2, sizeof(v2), dir, "v2");
	in_dir(out, sizeof(out), outdir, "o");
	cr_assert_eq(dwcp_xfer_make_random(src, size, 21), 0);
	cr_assert_eq(dwcp_xfer_make_random(v2, size, 22), 0);
	cr_assert_eq(dwcp_xfer_sha256(src, h_v1), 0);
	cr_assert_eq(dwcp_xfer_sha256(v2, h_v2), 0);
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "tfchange", out, 300), 0);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, "tfchange", src, "nodeb", 60, NULL), 0);
	hold_receiver_at(out, 8 * MIB);
	fprintf(stderr, "rewriting the source in place with the receiver held\n");
	/* In place (conv=notrunc): same inode, same size, other bytes. */
	snprintf(cmd, sizeof(cmd), "dd if='%s' of='%s' bs=1M conv=notrunc status=none", v2, src);
	rs = dwcp_xfer_sh(NULL, 0, "%s", cmd);
	dwcp_xfer_release(&rcv);
	cr_assert_eq(rs, 0, "%s failed", cmd);
	rs = dwcp_xfer_wait(&snd, 300000);
	rr = dwcp_xfer_wait(&rcv, 120000);
	print_both("source rewritten during the send");
	if (rs == 0) {
		/* The whole send read one version: --out must be exactly it. */
		cr_assert_eq(rr, 0, "dwcp send succeeded, dwcp recv exited %d", rr);
		cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0);
		cr_expect(!strcmp(h_out, h_v1) || !strcmp(h_out, h_v2),
			  "--out is neither version of the source: a mix");
		return;
	}
	cr_expect(rs != -ETIMEDOUT && rs < 128, "dwcp send exited %d", rs);
	cr_expect(has(snd.err, "changed during the send"), "dwcp send: %s", snd.err);
	/* Told by the sender's ABORT chunk, long before its --timeout. */
	cr_expect(rr != 0 && rr != -ETIMEDOUT && rr < 128, "dwcp recv exited %d after the send failed", rr);
	cr_expect(has(rcv.err, "gave up"), "dwcp recv: %s", rcv.err);
	cr_expect_eq(dwcp_xfer_file_size(out), -1, "a file appeared at --out after a failed send");
}

/* ---- deaths ---- */

Test(trust_files, receiving_supervisor_killed_ends_a_waiting_recv, .fini = teardown,
     .timeout = 300)
{
	char out[128], left[512];
	int rr;

	make_dirs();
	start_pair("tfsupb", NULL);
	in_dir(out, sizeof(out), outdir, "o");
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "tfsupb", out, 3600), 0);
	cr_assert(dwcp_xfer_running(&rcv), "dwcp recv ended early");
	cr_assert_gt(pair.b.sup_pid, 0);
	cr_assert_eq(kill(pair.b.sup_pid, SIGKILL), 0);
	/* Its --timeout outlasts the hang guard: only the death can end it. */
	rr = dwcp_xfer_wait(&rcv, 60000);
	dwcp_xfer_print(&rcv);
	cr_expect(rr != 0 && rr != -ETIMEDOUT && rr < 128, "dwcp recv exited %d", rr);
	cr_expect(has(rcv.err, pair.b.instance) && has(rcv.err, "dwcp-supervisor") &&
		  has(rcv.err, "died"), "dwcp recv's message names neither its node nor the supervisor: %s",
		  rcv.err);
	cr_expect_eq(list_dir(outdir, NULL, left, sizeof(left)), 0, "left in %s: %s", outdir, left);
}

/* The output directory holds only the partial copy of output @p name
 * (cli/recv_partial.h), readable by its owner alone. */
static void expect_only_partial(const char *name)
{
	char left[512], part[64], path[256];
	struct stat st;

	snprintf(part, sizeof(part), ".%s.dwcp-partial", name);
	cr_expect_eq(list_dir(outdir, part, left, sizeof(left)), 0, "left in %s: %s", outdir, left);
	snprintf(path, sizeof(path), "%s/%s", outdir, part);
	cr_assert_eq(lstat(path, &st), 0, "no partial copy %s: %s", path, strerror(errno));
	cr_expect(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600, "%s: mode %o", path,
		  st.st_mode & 07777);
}

Test(trust_files, receiving_supervisor_killed_mid_transfer_ends_recv_and_leaves_only_its_partial_copy,
     .fini = teardown, .timeout = 300)
{
	char src[128], out[128];
	int rr, rs;

	make_dirs();
	start_pair("tfsupb2", NULL);
	in_dir(src, sizeof(src), dir, "src");
	in_dir(out, sizeof(out), outdir, "o");
	cr_assert_eq(dwcp_xfer_make_random(src, 256 * MIB, 8), 0);
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "tfsupb2", out, 3600), 0);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, "tfsupb2", src, "nodeb", 20, NULL), 0);
	hold_receiver_at(out, 4 * MIB);
	cr_assert_eq(kill(pair.b.sup_pid, SIGKILL), 0);
	dwcp_xfer_release(&rcv);
	rr = dwcp_xfer_wait(&rcv, 60000);
	dwcp_xfer_print(&rcv);
	cr_expect(rr != 0 && rr != -ETIMEDOUT && rr < 128, "dwcp recv exited %d", rr);
	cr_expect(has(rcv.err, pair.b.instance) && has(rcv.err, "died"),
		  "dwcp recv's message does not name its node's supervisor: %s", rcv.err);
	/* Nothing at --out; what it wrote is kept, private, for a resume. */
	expect_only_partial("o");
	rs = dwcp_xfer_wait(&snd, 120000);
	cr_expect(rs != 0 && rs != -ETIMEDOUT, "dwcp send exited %d although its receiver died", rs);
}

Test(trust_files, sending_supervisor_killed_ends_send_naming_its_own_node, .fini = teardown,
     .timeout = 300)
{
	char src[128], out[128];
	int rs;

	make_dirs();
	start_pair("tfsupa", NULL);
	in_dir(src, sizeof(src), dir, "src");
	in_dir(out, sizeof(out), outdir, "o");
	cr_assert_eq(dwcp_xfer_make_random(src, 256 * MIB, 3), 0);
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "tfsupa", out, 30), 0);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, "tfsupa", src, "nodeb", 60, NULL), 0);
	hold_receiver_at(out, 4 * MIB);
	cr_assert_eq(kill(pair.a.sup_pid, SIGKILL), 0);
	dwcp_xfer_release(&rcv);
	rs = dwcp_xfer_wait(&snd, 60000);
	dwcp_xfer_print(&snd);
	cr_expect(rs != 0 && rs != -ETIMEDOUT && rs < 128, "dwcp send exited %d", rs);
	cr_expect(has(snd.err, pair.a.instance) && has(snd.err, "dwcp-supervisor") &&
		  has(snd.err, "died"), "dwcp send's message names neither its node nor the supervisor: %s",
		  snd.err);
	cr_expect(!has(snd.err, "receiver"), "dwcp send blames the receiver: %s", snd.err);
}

Test(trust_files, send_killed_and_run_again_delivers_the_file, .fini = teardown, .timeout = 600)
{
	char src[128], out[128], h_src[65], h_out[65];
	int rs, rr;

	make_dirs();
	start_pair("tfagain", NULL);
	in_dir(src, sizeof(src), dir, "src");
	in_dir(out, sizeof(out), outdir, "o");
	cr_assert_eq(dwcp_xfer_make_image(src, 128 * MIB, 4), 0);
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "tfagain", out, 120), 0);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, "tfagain", src, "nodeb", 60, NULL), 0);
	hold_receiver_at(out, 8 * MIB);
	kill(snd.pid, SIGKILL);
	dwcp_xfer_wait(&snd, 30000);
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_release(&rcv);
	cr_assert(dwcp_xfer_running(&rcv), "dwcp recv ended with its sender: %s", rcv.err);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, "tfagain", src, "nodeb", 60, NULL), 0);
	rs = dwcp_xfer_wait(&snd, 300000);
	rr = dwcp_xfer_wait(&rcv, 120000);
	if (rs || rr)
		print_both("send run again after a kill -9");
	cr_assert_eq(rs, 0, "dwcp send run again exited %d: %s", rs, snd.err);
	cr_assert_eq(rr, 0, "dwcp recv exited %d: %s", rr, rcv.err);
	cr_assert_eq(dwcp_xfer_sha256(src, h_src), 0);
	cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0);
	cr_expect_str_eq(h_out, h_src, "--out differs from the source");
}

/* SIGTERM of recv mid-transfer: with --no-partial nothing is left in the
 * output directory; by default only the private partial copy. */
static void sigterm_mid_transfer(const char *stream, const char *const *extra)
{
	char src[128], out[128];
	int rr;

	in_dir(src, sizeof(src), dir, "src");
	in_dir(out, sizeof(out), outdir, "o");
	cr_assert_eq(dwcp_xfer_make_random(src, 128 * MIB, 5), 0);
	cr_assert_eq(dwcp_xfer_recv_start_extra(&rcv, NULL, pair.b.instance, stream, out, 60, extra), 0);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, stream, src, "nodeb", 10, NULL), 0);
	hold_receiver_at(out, 4 * MIB);
	kill(rcv.pid, SIGTERM);
	dwcp_xfer_release(&rcv);
	rr = dwcp_xfer_wait(&rcv, 30000);
	dwcp_xfer_print(&rcv);
	cr_expect(rr != 0 && rr != -ETIMEDOUT, "dwcp recv exited %d after SIGTERM", rr);
	dwcp_xfer_wait(&snd, 120000);
	cr_expect(snd.status != 0, "dwcp send succeeded although its receiver was stopped");
}

Test(trust_files, sigterm_of_recv_leaves_no_temporary_file, .fini = teardown, .timeout = 300)
{
	static const char *const no_partial[] = { "--no-partial", NULL };
	char left[512];

	make_dirs();
	start_pair("tfterm", NULL);
	sigterm_mid_transfer("tfterm", no_partial);
	cr_expect_eq(list_dir(outdir, NULL, left, sizeof(left)), 0, "left in %s: %s", outdir, left);
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	sigterm_mid_transfer("tfterm2", NULL);
	expect_only_partial("o");
}

Test(trust_files, recv_killed_leaves_nothing_and_send_says_to_run_both_again, .fini = teardown,
     .timeout = 600)
{
	char src[128], out[128], left[512], h_src[65], h_out[65];
	int rs, rr;

	make_dirs();
	start_pair("tfrkill", NULL);
	in_dir(src, sizeof(src), dir, "src");
	in_dir(out, sizeof(out), outdir, "o");
	cr_assert_eq(dwcp_xfer_make_image(src, 128 * MIB, 6), 0);
	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "tfrkill", out, 120), 0);
	/* --timeout 60: far beyond "at once"; the message must come first. */
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, "tfrkill", src, "nodeb", 60, NULL), 0);
	hold_receiver_at(out, 8 * MIB);
	kill(rcv.pid, SIGKILL);   /* held or not, it dies */
	dwcp_xfer_wait(&rcv, 30000);
	cr_expect_eq(list_dir(outdir, NULL, left, sizeof(left)), 0, "left in %s after kill -9: %s",
		     outdir, left);
	rs = dwcp_xfer_wait(&snd, 120000);
	dwcp_xfer_print(&snd);
	cr_expect(rs != 0 && rs != -ETIMEDOUT && rs < 128, "dwcp send exited %d", rs);
	cr_expect(has(snd.err, "went away") && has(snd.err, "again") && !has(snd.err, "no progress"),
		  "dwcp send does not say what to do: %s", snd.err);
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);

	cr_assert_eq(dwcp_xfer_recv_start(&rcv, NULL, pair.b.instance, "tfrkill", out, 120), 0);
	cr_assert_eq(dwcp_xfer_send_start(&snd, pair.a.instance, "tfrkill", src, "nodeb", 60, NULL), 0);
	rs = dwcp_xfer_wait(&snd, 300000);
	rr = dwcp_xfer_wait(&rcv, 120000);
	if (rs || rr)
		print_both("both run again after recv was killed");
	cr_assert_eq(rs, 0, "dwcp send run again exited %d: %s", rs, snd.err);
	cr_assert_eq(rr, 0, "dwcp recv run again exited %d: %s", rr, rcv.err);
	cr_assert_eq(dwcp_xfer_sha256(src, h_src), 0);
	cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0);
	cr_expect_str_eq(h_out, h_src, "--out differs from the source");
}
