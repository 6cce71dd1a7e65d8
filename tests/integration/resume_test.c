/* Resuming an interrupted send (rsync --partial's use: a VM image's
 * migration stopped half way need not start over). Two real nodes holding
 * the same key, `dwcp send` and `dwcp recv` as the user runs them,
 * built-in defaults:
 *
 *  - a send stopped (SIGINT) after the receiver wrote part of the image,
 *    run again while the same `dwcp recv` waits: the pages the receiver
 *    already has do not travel (the sender's kept_pages, the receiver
 *    leaves exactly those), the file arrives bit-identical, and the
 *    resume state is gone afterwards (the next send is a plain delta);
 *  - pages changed in the already-sent part between the two runs travel,
 *    the rest is still kept, the file is exact;
 *  - a receiver that lost the data (its `dwcp recv` killed with SIGKILL
 *    before its first checkpoint, and started again) refuses the kept
 *    pages: they travel, the file is exact; one killed after a checkpoint
 *    resumes from it, and what the sender had delivered past it travels;
 *    one started again while the send runs stops the send (it does not
 *    wait out its timeout), whose rerun resumes;
 *  - a receiver stopped first (SIGTERM) keeps what it wrote beside the
 *    output; started again with the sender, both resume from it, and
 *    nothing is left beside the output afterwards; a kept copy changed
 *    behind dwcp's back is not used (removed; every page travels);
 *  - a send interrupted twice resumes from the second run's prefix; one
 *    killed outright (SIGKILL) resumes from its last checkpoint;
 *  - an interrupted resend keeps the prefix from the interrupted send and
 *    the rest from the previous version: only changed pages travel.
 *
 * Timeouts are hang guards only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cli/recv_fd.h"
#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

#define MIB (1024ull * 1024ull)
#define PAGE 4096ull
#define GUARD_S 600u
#define SIZE (256 * MIB)
/* A receiver's first checkpoint comes once it has written 64 MiB, and
 * vouches for what has landed by then: all but what its write buffers
 * may hold (cli/recv_fd.h: one filling, RECV_FD_QUEUE queued or being
 * written). */
#define FIRST_CHECKPOINT_MIN (64.0 * MIB - (RECV_FD_QUEUE + 1.0) * RECV_FD_BOUNCE)

static struct dwcp_xfer_pair pair;
static struct dwcp_xfer_proc snd, rcv;
static char dir[64];
/* Extra arguments of every send and recv: none (the defaults), or
 * --threads 2 (cli/xfer.h: the default from 8 CPUs) */
static const char *const *extra;
static const char *const two_threads[] = { "--threads", "2", NULL };

static void teardown(void)
{
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_pair_stop(&pair);
	dwcp_xfer_rmdir(dir);
}

/* Two keyed nodes (as deploy/setup.sh makes them: every chunk sealed)
 * and an image of @p size bytes. */
static void setup_size(const char *tag, char src[128], char out[128], uint64_t size)
{
	struct dwcp_xfer_pair_cfg c = { .tag = tag };
	char key[128];
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/dwcp-resume.XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(key, sizeof(key), "%s/node.key", dir);
	cr_assert_eq(dwcp_xfer_keygen(key), 0, "dwcp keygen %s failed", key);
	c.key_a = c.key_b = key;
	rc = dwcp_xfer_pair_start(&pair, &c);
	cr_assert_eq(rc, 0, "node %c did not start", rc);
	snprintf(src, 128, "%s/vm.img", dir);
	snprintf(out, 128, "%s/recv.img", dir);
	cr_assert_eq(dwcp_xfer_make_image(src, size, 101), 0);
}

static void setup(const char *tag, char src[128], char out[128])
{
	setup_size(tag, src, out, SIZE);
}

/* The sender's resume indexes (send_index.h: beside the page index). */
static unsigned resume_files(void)
{
	char pat[PATH_MAX];
	glob_t g;
	unsigned n;

	snprintf(pat, sizeof(pat), "%.*s.index/*.resume", (int)strlen(pair.a.config) - 4,
		 pair.a.config);
	if (glob(pat, 0, NULL, &g))
		return 0;
	n = (unsigned)g.gl_pathc;
	globfree(&g);
	return n;
}

static void start_recv(const char *stream, const char *out)
{
	int rc = dwcp_xfer_recv_start_extra(&rcv, NULL, pair.b.instance, stream, out, GUARD_S, extra);

	cr_assert_eq(rc, 0, "cannot start dwcp recv: %s", strerror(-rc));
}

static void start_send(const char *stream, const char *src)
{
	int rc;

	dwcp_xfer_proc_free(&snd);
	rc = dwcp_xfer_send_start(&snd, pair.a.instance, stream, src, "nodeb", 120, extra);
	cr_assert_eq(rc, 0, "cannot start dwcp send: %s", strerror(-rc));
}

/* Send @p sig to @p victim once the receiver's file holds at least
 * @p at bytes, while the sender runs. The receiver is held meanwhile
 * (dwcp_xfer_hold_recv_at), so the send cannot end first however slowly
 * the test runs, and let go after. @return whether it was sent. */
static bool signal_when_written(struct dwcp_xfer_proc *victim, int sig, const char *out, uint64_t at)
{
	bool sent;

	if (dwcp_xfer_hold_recv_at(&rcv, &snd, out, at, GUARD_S * 1000u) < 0)
		return false;
	sent = kill(victim->pid, sig) == 0;
	dwcp_xfer_release(&rcv);
	return sent;
}

/* Start a send and stop it with SIGINT once the receiver's file holds
 * at least @p at bytes; @return the prefix the sender says the receiver
 * has (its resume index), in bytes. */
static double interrupt_send(const char *stream, const char *src, const char *out, uint64_t at)
{
	const char *has;
	double mib = -1;
	int rs;

	start_send(stream, src);
	cr_assert(signal_when_written(&snd, SIGINT, out, at),
		  "dwcp send ended before %llu bytes were written: %s", (unsigned long long)at,
		  snd.err ? snd.err : "");
	rs = dwcp_xfer_wait(&snd, 60000u);
	fprintf(stderr, "resume: interrupted send: %d %s\n", rs, snd.err);
	cr_assert_eq(rs, 1, "dwcp send stopped by SIGINT exited %d, not 1: %s", rs, snd.err);
	cr_assert_not_null(strstr(snd.err, "stopped by signal 2"), "%s", snd.err);
	cr_assert_not_null(strstr(snd.err, "run this send again"), "the rerun is not named: %s", snd.err);
	has = strstr(snd.err, "its first ");
	cr_assert(has && sscanf(has, "its first %lf MiB are delivered", &mib) == 1 && mib > 0,
		  "no prefix named: %s", snd.err);
	cr_assert_eq(resume_files(), 1, "no resume index was kept");
	cr_assert(dwcp_xfer_running(&rcv), "dwcp recv ended with the sender: %s", rcv.err);
	return mib * MIB;
}

/* Run the send to the end; both exit 0 and @p out is @p src. */
static void complete(const char *what, const char *stream, const char *src, const char *out)
{
	char h_src[65], h_out[65];
	int rs, rr;

	start_send(stream, src);
	rs = dwcp_xfer_wait(&snd, GUARD_S * 1000u);
	rr = dwcp_xfer_wait(&rcv, 60000u);
	fprintf(stderr, "resume: %s: send %d %s %s\n  recv %d %s %s\n", what, rs, snd.out, snd.err, rr,
		rcv.out, rcv.err);
	if (rs || rr)
		dwcp_xfer_pair_dump(&pair, "transfer failed");
	cr_assert_eq(rs, 0, "%s: dwcp send exited %d: %s", what, rs, snd.err);
	cr_assert_eq(rr, 0, "%s: dwcp recv exited %d: %s", what, rr, rcv.err);
	cr_assert_eq(dwcp_xfer_sha256(src, h_src), 0, "cannot read %s", src);
	cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0, "no file at the sink: %s", out);
	cr_assert_str_eq(h_out, h_src, "%s: %s differs from %s", what, out, src);
	cr_expect_eq(resume_files(), 0, "%s: the resume index outlived a completed send", what);
}

static double num(const char *text, const char *field)
{
	return dwcp_xfer_json_num(text, field);
}

static void resumes_where_the_receiver_stopped(void)
{
	char src[128], out[128];
	double prefix, resumed, kept;

	setup("rsm", src, out);
	start_recv("rsm", out);
	prefix = interrupt_send("rsm", src, out, 96 * MIB);
	complete("resumed", "rsm", src, out);
	resumed = num(snd.out, "resumed_bytes");
	kept = num(snd.out, "kept_pages");
	/* (the message rounds to 0.1 MiB) */
	cr_expect(resumed > prefix - 0.1 * MIB && resumed < prefix + 0.1 * MIB,
		  "resumed from %.0f bytes, the interrupted send named %.0f: %s", resumed, prefix, snd.out);
	cr_expect_lt(resumed, (double)SIZE, "%s", snd.out);
	cr_expect_geq(num(rcv.out, "resumed_bytes"), resumed, "the receiver kept less than the sender resumed: %s",
		      rcv.out);
	/* Nothing changed: every page of the prefix is kept (the image has
	 * no repeated pages the sender could find moved instead). */
	cr_expect_eq(kept, resumed / PAGE, "%.0f pages kept of a %.0f-byte prefix: %s", kept, resumed,
		     snd.out);
	cr_expect_eq(num(rcv.out, "kept_pages"), kept, "the receiver left %.0f pages, the sender kept %.0f: %s",
		     num(rcv.out, "kept_pages"), kept, rcv.out);

	/* Afterwards a plain delta: every page kept, nothing resumed. */
	start_recv("rsm", out);
	complete("unchanged, after the resumed send", "rsm", src, out);
	cr_expect_eq(num(snd.out, "resumed_bytes"), 0, "%s", snd.out);
	cr_expect_eq(num(snd.out, "kept_pages"), (double)(SIZE / PAGE), "%s", snd.out);
}

Test(resume, interrupted_send_resumes_where_the_receiver_stopped, .fini = teardown, .timeout = 900)
{
	resumes_where_the_receiver_stopped();
}

/* The same with a second thread on each side: the receiver's checker
 * still holds chunks of the interrupted transfer when the rerun's first
 * chunk comes, and those are written before it starts over (what it keeps
 * is what the sender resumes from). */
Test(resume, interrupted_send_resumes_with_two_threads_per_side, .fini = teardown, .timeout = 900)
{
	extra = two_threads;
	resumes_where_the_receiver_stopped();
}

/* A resend (a previous version at the receiver) interrupted: the rerun
 * keeps the prefix from the interrupted send and the rest from the
 * previous version, so only the pages changed past the prefix travel. */
Test(resume, an_interrupted_resend_still_keeps_the_previous_version, .fini = teardown,
     .timeout = 900)
{
	char src[128], out[128];
	const double pages = (double)(SIZE / PAGE);
	uint64_t changed;
	double resumed, kept;

	setup("rsmdelta", src, out);
	start_recv("rd", out);
	complete("v1", "rd", src, out);
	cr_assert_eq(dwcp_xfer_touch_pages(src, 20, 103, &changed), 0);
	start_recv("rd", out);
	interrupt_send("rd", src, out, 96 * MIB);
	complete("v2, resumed", "rd", src, out);
	resumed = num(snd.out, "resumed_bytes");
	kept = num(snd.out, "kept_pages");
	cr_expect_gt(resumed, 0, "%s", snd.out);
	/* Every page of the prefix, and past it every page v2 did not
	 * change; one page in 20 changed, spread evenly. */
	cr_expect(kept >= pages - (double)changed && kept < pages,
		  "%.0f pages kept of %.0f, %llu changed, prefix %.0f pages: %s", kept, pages,
		  (unsigned long long)changed, resumed / PAGE, snd.out);
	cr_expect_eq(num(rcv.out, "kept_pages"), kept, "%s", rcv.out);
}

/* A send killed outright (SIGKILL: no failure path runs) leaves the
 * resume index as of its last checkpoint (every 1/8 of the file, 64 MiB
 * to 1 GiB: 128 MiB for this 1 GiB image); the rerun resumes from there. */
Test(resume, a_send_killed_outright_resumes_from_its_last_checkpoint, .fini = teardown,
     .timeout = 900)
{
	char src[128], out[128];
	double resumed;

	setup_size("rsmkill", src, out, 1024 * MIB);
	start_recv("kill", out);
	start_send("kill", src);
	cr_assert(signal_when_written(&snd, SIGKILL, out, 640 * MIB),
		  "dwcp send ended before 640 MiB were written");
	dwcp_xfer_wait(&snd, 60000u);
	cr_assert_eq(resume_files(), 1, "a send killed after 640 MiB left no checkpoint");
	complete("rerun after SIGKILL", "kill", src, out);
	resumed = num(snd.out, "resumed_bytes");
	/* Acknowledged lags written by about the window (64 chunks, 16 MiB):
	 * the checkpoints up to 512 MiB or so were passed, none at the end. */
	cr_expect(resumed >= 384.0 * MIB && resumed < 1024.0 * MIB, "resumed from %.0f bytes: %s",
		  resumed, snd.out);
	cr_expect_eq(num(snd.out, "kept_pages"), resumed / PAGE, "%s", snd.out);
	cr_expect_eq(num(rcv.out, "kept_pages"), resumed / PAGE, "%s", rcv.out);
}

Test(resume, pages_changed_since_the_interrupted_send_travel, .fini = teardown, .timeout = 900)
{
	char src[128], out[128];
	uint64_t changed;
	double resumed, kept;

	setup("rsmchg", src, out);
	start_recv("chg", out);
	interrupt_send("chg", src, out, 128 * MIB);
	cr_assert_eq(dwcp_xfer_touch_pages(src, 10, 102, &changed), 0);
	complete("resumed after 10 % of the pages changed", "chg", src, out);
	resumed = num(snd.out, "resumed_bytes");
	kept = num(snd.out, "kept_pages");
	cr_expect_gt(resumed, 0, "%s", snd.out);
	/* One page in ten changed, spread evenly: about a tenth of the
	 * prefix travels again. */
	cr_expect(kept < resumed / PAGE && kept >= 0.8 * resumed / PAGE,
		  "%.0f pages kept of a %.0f-page prefix with 10 %% changed: %s", kept, resumed / PAGE,
		  snd.out);
}

/* Files in the test directory other than the image, the output and the key. */
static unsigned others(char *list, size_t n)
{
	char sh[256];

	snprintf(sh, sizeof(sh), "ls -A %s | grep -v -x -e vm.img -e recv.img -e node.key", dir);
	list[0] = '\0';
	dwcp_xfer_sh(list, n, "%s", sh);
	return (unsigned)strlen(list);
}

Test(resume, a_receiver_that_lost_the_data_gets_every_page, .fini = teardown, .timeout = 900)
{
	char src[128], out[128];

	setup("rsmlost", src, out);
	start_recv("lost", out);
	/* Short of the first checkpoint (64 MiB): killed outright, the
	 * receiver's unnamed temporary goes with it. */
	interrupt_send("lost", src, out, 32 * MIB);
	kill(rcv.pid, SIGKILL);
	dwcp_xfer_wait(&rcv, 60000u);
	dwcp_xfer_proc_free(&rcv);
	start_recv("lost", out);
	complete("resumed to a receiver that lost the data", "lost", src, out);
	cr_expect_gt(num(rcv.out, "rejected"), 0, "kept pages accepted by a receiver without them: %s",
		     rcv.out);
	cr_expect_eq(num(rcv.out, "kept_pages"), 0, "%s", rcv.out);
}

/* The receiver's checkpoint record of @p stream (recv_partial.h). */
static void part_record(char *path, size_t n, const char *stream)
{
	snprintf(path, n, "%.*s.index/%s@%s.part", (int)strlen(pair.b.config) - 4, pair.b.config,
		 pair.b.instance, stream);
}

/* A receiver killed outright (SIGKILL: no failure path runs; as the OOM
 * killer or a crash of its host would) after its first checkpoint: the
 * next receive resumes from the checkpoint's prefix, the pages the
 * sender had delivered past it are refused and travel, the file is
 * exact, and nothing is left beside it. */
Test(resume, a_receiver_killed_outright_resumes_from_its_checkpoint, .fini = teardown,
     .timeout = 900)
{
	char src[128], out[128], rec[PATH_MAX], left[512];
	double prefix, resumed, kept;

	setup("rsmrkill", src, out);
	part_record(rec, sizeof(rec), "rkill");
	start_recv("rkill", out);
	prefix = interrupt_send("rkill", src, out, 96 * MIB);
	/* The checkpoint's record follows its sync, in the receiver's flush
	 * thread: waited for, not assumed. */
	for (unsigned ms = 0; ms < 60000u && dwcp_xfer_file_size(rec) <= 0; ms += 10)
		usleep(10000);
	cr_assert_gt(dwcp_xfer_file_size(rec), 0, "no checkpoint record at %s after 96 MiB", rec);
	kill(rcv.pid, SIGKILL);
	dwcp_xfer_wait(&rcv, 60000u);
	dwcp_xfer_proc_free(&rcv);
	start_recv("rkill", out);
	complete("resumed from the killed receiver's checkpoint", "rkill", src, out);
	resumed = num(rcv.out, "resumed_bytes");
	kept = num(rcv.out, "kept_pages");
	cr_expect_geq(resumed, FIRST_CHECKPOINT_MIN, "the receiver resumed from %.0f bytes: %s", resumed, rcv.out);
	cr_expect_leq(resumed, prefix, "the checkpoint (%.0f bytes) is past what was delivered (%.0f): %s",
		      resumed, prefix, rcv.out);
	cr_expect_eq(kept, resumed / PAGE, "%.0f pages kept of a %.0f-byte checkpoint: %s", kept, resumed,
		     rcv.out);
	if (resumed < prefix - 0.1 * MIB)
		cr_expect_gt(num(rcv.out, "rejected"), 0,
			     "the sender kept %.0f bytes, the checkpoint %.0f, and nothing was refused: %s",
			     prefix, resumed, rcv.out);
	cr_expect_eq(others(left, sizeof(left)), 0, "left beside the output: %s", left);
	cr_expect_leq(dwcp_xfer_file_size(rec), 0, "the checkpoint record outlived the receive: %s", rec);
}

/* A receiver killed outright and started again while the send still
 * runs: the new one holds the checkpoint, not all the send had
 * delivered, so it refuses the running transfer as stale and the sender
 * stops, saying so (or, had it noticed first, that its receiver went
 * away), instead of waiting for acknowledgements until its --timeout;
 * run again, it resumes from the checkpoint. */
Test(resume, a_receiver_started_again_mid_send_stops_the_send_and_the_rerun_resumes,
     .fini = teardown, .timeout = 900)
{
	char src[128], out[128], rec[PATH_MAX];
	double resumed;
	int rs;

	setup_size("rsmagain", src, out, 1024 * MIB);   /* still running at the first checkpoint */
	part_record(rec, sizeof(rec), "again");
	start_recv("again", out);
	start_send("again", src);
	for (unsigned ms = 0; ms < 60000u && dwcp_xfer_file_size(rec) <= 0; ms += 10)
		usleep(10000);
	cr_assert_gt(dwcp_xfer_file_size(rec), 0, "no checkpoint record at %s", rec);
	cr_assert(dwcp_xfer_running(&snd), "the send ended before the receiver was killed: %s", snd.err);
	kill(rcv.pid, SIGKILL);
	dwcp_xfer_wait(&rcv, 60000u);
	dwcp_xfer_proc_free(&rcv);
	start_recv("again", out);
	rs = dwcp_xfer_wait(&snd, GUARD_S * 1000u);
	fprintf(stderr, "resume: receiver started again: send %d %s\n", rs, snd.err);
	cr_assert_eq(rs, 1, "dwcp send exited %d: %s", rs, snd.err);
	cr_expect(strstr(snd.err, "took this transfer for a stale one") ||
		  strstr(snd.err, "went away"),
		  "the send did not stop for the receiver started again: %s", snd.err);
	cr_expect_null(strstr(snd.err, "no progress for"), "it waited out its timeout: %s", snd.err);
	complete("rerun after the receiver was started again", "again", src, out);
	resumed = num(rcv.out, "resumed_bytes");
	cr_expect_geq(resumed, FIRST_CHECKPOINT_MIN, "the receiver resumed from %.0f bytes: %s", resumed, rcv.out);
	cr_expect_eq(num(rcv.out, "kept_pages"), resumed / PAGE, "%s", rcv.out);
}

/* Send @p stream (its receiver started with @p recv_extra, may be NULL)
 * and pause the sender once 16 MiB are written, giving what it sent time
 * to arrive: its next chunks reach the receiver started after this one,
 * none the gap between the two (there the node answers "no receiver" and
 * the sender stops for that, which would test nothing here). */
static void send_then_pause_the_sender(const char *stream, const char *src, const char *out,
				       const char *const *recv_extra)
{
	int rc = dwcp_xfer_recv_start_extra(&rcv, NULL, pair.b.instance, stream, out, GUARD_S,
					    recv_extra);

	cr_assert_eq(rc, 0, "cannot start dwcp recv: %s", strerror(-rc));
	start_send(stream, src);
	cr_assert(signal_when_written(&snd, SIGSTOP, out, 16 * MIB),
		  "the send ended before 16 MiB were written: %s", snd.err ? snd.err : "");
	usleep(500000);
}

/* With the first receiver gone: start another, resume the paused sender;
 * it must stop at once, its transfer refused as stale, not after its
 * --timeout; run again, the send completes (@p what names the case). */
static void restart_the_receiver_and_expect_the_send_stopped(const char *stream, const char *src,
							   const char *out, const char *what)
{
	int rs;

	dwcp_xfer_proc_free(&rcv);
	start_recv(stream, out);
	usleep(1000000);   /* attached, its stream registered */
	kill(snd.pid, SIGCONT);
	rs = dwcp_xfer_wait(&snd, GUARD_S * 1000u);
	fprintf(stderr, "resume: %s, started again: send %d %s\n", what, rs, snd.err);
	cr_assert_eq(rs, 1, "dwcp send exited %d: %s", rs, snd.err);
	cr_expect_not_null(strstr(snd.err, "took this transfer for a stale one"),
			   "the send did not stop for the receiver started again: %s", snd.err);
	cr_expect_null(strstr(snd.err, "no progress for"), "it waited out its timeout: %s", snd.err);
	complete(what, stream, src, out);
}

/* A receiver killed outright before its first checkpoint (it kept
 * nothing) and started again while the send still runs: the new one
 * cannot take the transfer over (its sender goes on past what the killed
 * one acknowledged), so it refuses it as stale and the sender stops
 * at once instead of waiting for acknowledgements until its --timeout;
 * run again, the send completes. */
Test(resume, a_receiver_killed_before_any_checkpoint_and_started_again_stops_the_send,
     .fini = teardown, .timeout = 900)
{
	char src[128], out[128];

	setup_size("rsmearly", src, out, 1024 * MIB);
	send_then_pause_the_sender("early", src, out, NULL);
	kill(rcv.pid, SIGKILL);
	dwcp_xfer_wait(&rcv, 60000u);
	restart_the_receiver_and_expect_the_send_stopped("early", src, out,
							 "receiver killed early");
}

/* The same with a receiver that exits rather than being killed, keeping
 * nothing (--no-partial, SIGTERM): it gives its stream entry back on its
 * way out, and the one started after it still learns which transfer it
 * was writing, so the sender stops at once here too. */
Test(resume, a_receiver_stopped_with_nothing_kept_and_started_again_stops_the_send,
     .fini = teardown, .timeout = 900)
{
	static const char *const no_partial[] = { "--no-partial", NULL };
	char src[128], out[128];
	int rr;

	setup_size("rsmnop", src, out, 1024 * MIB);
	send_then_pause_the_sender("nop", src, out, no_partial);
	kill(rcv.pid, SIGTERM);
	rr = dwcp_xfer_wait(&rcv, 60000u);
	cr_assert_eq(rr, 1, "dwcp recv exited %d on SIGTERM: %s", rr, rcv.err);
	cr_assert_null(strstr(rcv.err, "kept the "), "--no-partial kept something: %s", rcv.err);
	restart_the_receiver_and_expect_the_send_stopped("nop", src, out,
							 "receiver stopped keeping nothing");
}

/* The receiver stops first (SIGTERM, as its node's death or its
 * --timeout end it): it keeps what it wrote beside the output, the sender
 * gives up, and both run again resume from it. */
Test(resume, a_receiver_stopped_keeps_its_data_and_both_resume, .fini = teardown, .timeout = 900)
{
	char src[128], out[128], left[512];
	double resumed, kept;
	int rs, rr;

	setup("rsmrcv", src, out);
	start_recv("rcv", out);
	start_send("rcv", src);
	cr_assert(signal_when_written(&rcv, SIGTERM, out, 96 * MIB),
		  "dwcp send ended before the receiver wrote 96 MiB");
	rr = dwcp_xfer_wait(&rcv, 60000u);
	rs = dwcp_xfer_wait(&snd, GUARD_S * 1000u);
	fprintf(stderr, "resume: receiver stopped: recv %d %s\n  send %d %s\n", rr, rcv.err, rs, snd.err);
	cr_assert_eq(rr, 1, "%s", rcv.err);
	cr_assert_not_null(strstr(rcv.err, "kept the "), "the receiver kept nothing: %s", rcv.err);
	cr_assert_eq(rs, 1, "dwcp send exited %d without its receiver: %s", rs, snd.err);
	cr_assert_eq(resume_files(), 1, "no resume index was kept: %s", snd.err);
	cr_expect_neq(dwcp_xfer_file_size(out), (long long)SIZE, "something is at --out");
	dwcp_xfer_proc_free(&rcv);
	start_recv("rcv", out);
	complete("both run again", "rcv", src, out);
	resumed = num(snd.out, "resumed_bytes");
	kept = num(snd.out, "kept_pages");
	cr_expect_gt(resumed, 64.0 * MIB, "%s", snd.out);
	cr_expect_eq(kept, resumed / PAGE, "%.0f pages kept of a %.0f-byte prefix: %s", kept, resumed,
		     snd.out);
	cr_expect_eq(num(rcv.out, "kept_pages"), kept, "%s", rcv.out);
	cr_expect_geq(num(rcv.out, "resumed_bytes"), resumed, "%s", rcv.out);
	cr_expect_eq(others(left, sizeof(left)), 0, "left beside the output: %s", left);
}

/* A kept partial copy changed behind dwcp's back is not resumed from:
 * removed, every page travels, the file is exact. */
Test(resume, a_partial_copy_changed_since_is_not_used, .fini = teardown, .timeout = 900)
{
	char src[128], out[128], left[512], part[160], sh[512];

	setup("rsmstale", src, out);
	start_recv("stale", out);
	interrupt_send("stale", src, out, 96 * MIB);
	kill(rcv.pid, SIGTERM);
	dwcp_xfer_wait(&rcv, 60000u);
	cr_assert_not_null(strstr(rcv.err, "kept the "), "%s", rcv.err);
	dwcp_xfer_proc_free(&rcv);
	snprintf(part, sizeof(part), "%s/.recv.img.dwcp-partial", dir);
	cr_assert_gt(dwcp_xfer_file_size(part), 0, "no partial copy at %s", part);
	cr_assert_eq(dwcp_xfer_sh(sh, sizeof(sh), "printf x | dd of=%s bs=1 seek=5000 conv=notrunc status=none",
				  part), 0, "%s", sh);
	start_recv("stale", out);
	complete("resumed against a partial copy changed since", "stale", src, out);
	cr_expect_eq(num(rcv.out, "kept_pages"), 0, "%s", rcv.out);
	cr_expect_eq(num(rcv.out, "resumed_bytes"), 0, "%s", rcv.out);
	cr_expect_eq(others(left, sizeof(left)), 0, "left beside the output: %s", left);
}

Test(resume, interrupted_twice_resumes_from_the_second_run, .fini = teardown, .timeout = 900)
{
	char src[128], out[128];
	double first, second, resumed;

	setup("rsm2", src, out);
	start_recv("twice", out);
	first = interrupt_send("twice", src, out, 64 * MIB);
	/* The second run writes in place over the first one's data (and
	 * grows the file past it): stop it further on. */
	second = interrupt_send("twice", src, out, 192 * MIB);
	cr_expect_gt(second, first, "the second run got no further than the first (%.0f, %.0f bytes)",
		     second, first);
	complete("resumed after two interruptions", "twice", src, out);
	resumed = num(snd.out, "resumed_bytes");
	cr_expect(resumed > second - 0.1 * MIB && resumed < second + 0.1 * MIB,
		  "resumed from %.0f bytes, the second run named %.0f: %s", resumed, second, snd.out);
	cr_expect_eq(num(snd.out, "kept_pages"), resumed / PAGE, "%s", snd.out);
}
