/* Transfers between two dwcp nodes, as a user runs them: two supervisors
 * (instances "xa-..." and "xb-...") linked by kernel TCP, `dwcp recv` on
 * node B and `dwcp send` on node A as separate processes, and the file at
 * the sink compared with the source by SHA-256.
 *
 *  - a 256 MiB VM-image-like file (zero, text and random 4 KiB pages),
 *    sent twice: the second time with a few bytes changed in 5 % of its
 *    pages, which must arrive bit-identical too while moving less than
 *    2 % of the first send's wire bytes (HDE, DESIGN §5);
 *  - an empty file, a 1-byte file, exactly one chunk, and a size that is
 *    not a multiple of the chunk size;
 *  - random data, as a disk image's long runs, not in the page cache:
 *    read and written with direct I/O where the file system offers it;
 *  - over a veth pair into a network namespace the test creates (node B
 *    and its `dwcp recv` run inside it), then again with netem loss,
 *    reordering and delay on both ends (skipped where the kernel has no
 *    netem).
 *
 * Each test has its own two nodes, keys, ports and files, torn down in
 * .fini even when it fails. Timeouts are hang guards, never speed limits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

#define MIB (1024ull * 1024ull)

static struct dwcp_xfer_pair pair;
static struct dwcp_xfer_netns ns;
static struct dwcp_xfer_proc snd, rcv;
static char dir[64];

static void teardown(void)
{
	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	dwcp_xfer_pair_stop(&pair);
	dwcp_xfer_netns_destroy(&ns);
	if (dir[0])
		dwcp_xfer_sh(NULL, 0, "rm -rf '%s'", dir);
	dir[0] = '\0';
}

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dwcp-xfer-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void path_in_dir(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static void start_pair(struct dwcp_xfer_pair_cfg *c, bool with_key)
{
	static char key[128];
	int rc;

	if (with_key) {
		path_in_dir(key, sizeof(key), "shared.key");
		cr_assert_eq(dwcp_xfer_keygen(key), 0, "dwcp keygen %s failed", key);
		c->key_a = c->key_b = key;
	}
	rc = dwcp_xfer_pair_start(&pair, c);
	cr_assert_eq(rc, 0, "node %c did not start", rc);
}

/*
 * Not a failure (a resend is how a stall is survived), but over a link
 * that loses nothing a resend means a chunk or its ack waited
 * net.resend_ms somewhere: leave the evidence for whoever looks.
 */
static void note_resends(const char *what)
{
	if (dwcp_xfer_json_num(snd.out, "resent") <= 0)
		return;
	fprintf(stderr, "note: %s: %.0f chunks were resent over a link that loses nothing\n", what,
		dwcp_xfer_json_num(snd.out, "resent"));
	dwcp_xfer_print(&snd);
	dwcp_xfer_print(&rcv);
	dwcp_xfer_pair_dump(&pair, "resends on a lossless link");
}

/*
 * recv on B (inside @p netns_b unless NULL) and send on A; both must exit
 * 0, and @p out must hold the same bytes as @p src. Hang guard @p guard_s
 * for each command.
 */
static void transfer_ok2(const char *stream, const char *src, const char *out, const char *to,
			 const char *netns_b, unsigned guard_s, const char *const *send_extra,
			 const char *const *recv_extra)
{
	char h_src[65], h_out[65];
	int rs, rr, rc;

	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	rc = dwcp_xfer_recv_start_extra(&rcv, netns_b, pair.b.instance, stream, out, guard_s,
					recv_extra);
	cr_assert_eq(rc, 0, "cannot start dwcp recv: %s", strerror(-rc));
	rc = dwcp_xfer_send_start(&snd, pair.a.instance, stream, src, to, 60, send_extra);
	cr_assert_eq(rc, 0, "cannot start dwcp send: %s", strerror(-rc));
	rs = dwcp_xfer_wait(&snd, guard_s * 1000u);
	/* Once send has seen every chunk acknowledged as written, recv has
	 * only its rename and summary left: a minute is a hang guard. */
	rr = dwcp_xfer_wait(&rcv, rs == 0 ? 60000u : guard_s * 1000u);
	if (rs != 0 || rr != 0) {
		dwcp_xfer_print(&snd);
		dwcp_xfer_print(&rcv);
		dwcp_xfer_pair_dump(&pair, "transfer failed");
	}
	cr_assert_eq(rs, 0, "dwcp send of %s (stream %s) exited %d: %s", src, stream, rs, snd.err);
	cr_assert_eq(rr, 0, "dwcp recv of stream %s exited %d: %s", stream, rr, rcv.err);
	cr_assert_eq(dwcp_xfer_sha256(src, h_src), 0, "cannot read %s", src);
	cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0, "no file at the sink: %s", out);
	cr_assert_str_eq(h_out, h_src, "%s (%lld bytes) differs from %s (%lld bytes)", out,
			 dwcp_xfer_file_size(out), src, dwcp_xfer_file_size(src));
	cr_expect_eq(dwcp_xfer_json_num(snd.out, "bytes_in"), (double)dwcp_xfer_file_size(src),
		     "send --json bytes_in: %s", snd.out);
	cr_expect_eq(dwcp_xfer_json_num(rcv.out, "bytes_out"), (double)dwcp_xfer_file_size(src),
		     "recv --json bytes_out: %s", rcv.out);
}

static void transfer_ok(const char *stream, const char *src, const char *out, const char *to,
			const char *netns_b, unsigned guard_s, const char *const *send_extra)
{
	transfer_ok2(stream, src, out, to, netns_b, guard_s, send_extra, NULL);
}

Test(transfer, vm_image_twice_second_send_moves_only_deltas, .fini = teardown, .timeout = 600)
{
	struct dwcp_xfer_pair_cfg c = { .tag = "img", .hugepage_mb = 768, .cache_mb = 320 };
	char src[128], out1[128], out2[128];
	double wire1, wire2, chunks1, chunks2, sec1, sec2, resent1, resent2;
	uint64_t changed;

	make_dir();
	path_in_dir(src, sizeof(src), "vm42.img");
	path_in_dir(out1, sizeof(out1), "recv-v1.img");
	path_in_dir(out2, sizeof(out2), "recv-v2.img");
	cr_assert_eq(dwcp_xfer_make_image(src, 256 * MIB, 42), 0, "cannot write %s", src);
	start_pair(&c, true);

	transfer_ok("vm42", src, out1, "nodeb", NULL, 420, NULL);
	wire1 = dwcp_xfer_json_num(snd.out, "bytes_wire");
	chunks1 = dwcp_xfer_json_num(snd.out, "chunks");
	sec1 = dwcp_xfer_json_num(snd.out, "seconds");
	resent1 = dwcp_xfer_json_num(snd.out, "resent");
	note_resends("vm image, first send");
	cr_assert_gt(wire1, 0, "send --json has no bytes_wire: %s", snd.out);
	unlink(out1);

	cr_assert_eq(dwcp_xfer_touch_pages(src, 20, 4242, &changed), 0, "cannot modify %s", src);
	transfer_ok("vm42", src, out2, "nodeb", NULL, 420, NULL);
	wire2 = dwcp_xfer_json_num(snd.out, "bytes_wire");
	chunks2 = dwcp_xfer_json_num(snd.out, "chunks");
	sec2 = dwcp_xfer_json_num(snd.out, "seconds");
	resent2 = dwcp_xfer_json_num(snd.out, "resent");
	note_resends("vm image, second send");

	fprintf(stderr,
		"transfer vm image: 256 MiB, first send bytes_wire %.0f (%.0f chunks, %.0f resent, "
		"%.3f s); second send after changing %llu of %llu pages: bytes_wire %.0f (%.0f chunks, "
		"%.0f resent, %.3f s) = %.3f %% of the first\n",
		wire1, chunks1, resent1, sec1, (unsigned long long)changed,
		(unsigned long long)(256 * MIB / 4096), wire2, chunks2, resent2, sec2,
		100.0 * wire2 / wire1);
	cr_expect_geq(wire2, 0, "second send --json has no bytes_wire: %s", snd.out);
	cr_expect_lt(wire2, 0.02 * wire1,
		     "second send moved %.0f bytes on the wire, the first %.0f: not < 2 %%", wire2,
		     wire1);
}

/* Where the host has the CPUs (--threads' default, xfer.h), dwcp send
 * reads chunks on a second thread and dwcp recv checks them on one: a
 * first send, and a resend whose chunks keep most pages (filled from the
 * previous copy on the receiving side, which the checker leaves alone),
 * arrive bit-identical, the second threads report their CPU, and only
 * the changed pages travel. Here with --threads 2 on any host. */
Test(transfer, two_threads_per_side_send_an_image_and_its_delta, .fini = teardown, .timeout = 600)
{
	struct dwcp_xfer_pair_cfg c = { .tag = "thr" };
	const char *const two[] = { "--threads", "2", NULL };
	char src[128], out[128];
	double wire1, wire2;
	uint64_t changed;

	make_dir();
	path_in_dir(src, sizeof(src), "vm7.img");
	path_in_dir(out, sizeof(out), "recv.img");
	cr_assert_eq(dwcp_xfer_make_image(src, 96 * MIB + 12345, 7), 0, "cannot write %s", src);
	start_pair(&c, true);
	for (int round = 0; round < 2; round++) {
		if (round)
			cr_assert_eq(dwcp_xfer_touch_pages(src, 20, 77, &changed), 0, "cannot modify %s", src);
		transfer_ok2("vm7", src, out, "nodeb", NULL, 420, two, two);
		cr_expect_gt(dwcp_xfer_json_num(snd.out, "stage_thread_cpu_s"), 0,
			     "send --threads 2: no reader thread's CPU: %s", snd.out);
		/* (the resend's chunks nearly all keep pages: the checker leaves
		 * those to the writing thread, and may spend next to nothing) */
		if (!round)
			cr_expect_gt(dwcp_xfer_json_num(rcv.out, "stage_thread_cpu_s"), 0,
				     "recv --threads 2: no checker thread's CPU: %s", rcv.out);
		if (!round)
			wire1 = dwcp_xfer_json_num(snd.out, "bytes_wire");
	}
	wire2 = dwcp_xfer_json_num(snd.out, "bytes_wire");
	fprintf(stderr, "transfer --threads 2: first send %.0f bytes on the wire, the resend after changing %llu pages %.0f (%.2f %%), %.0f pages kept\n",
		wire1, (unsigned long long)changed, wire2, 100.0 * wire2 / wire1,
		dwcp_xfer_json_num(rcv.out, "kept_pages"));
	cr_expect_gt(dwcp_xfer_json_num(rcv.out, "kept_pages"), 0, "the resend kept no page: %s", rcv.out);
	cr_expect_lt(wire2, 0.1 * wire1, "the resend moved %.0f bytes, the first send %.0f", wire2, wire1);
}

Test(transfer, empty_one_byte_and_odd_sizes_arrive_bit_identical, .fini = teardown, .timeout = 400)
{
	struct dwcp_xfer_pair_cfg c = { .tag = "small" };
	const unsigned long long sizes[] = { 0, 1, 65536, 3 * 65536 + 4097 };

	make_dir();
	start_pair(&c, true);
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char src[128], out[128], stream[32];

		snprintf(src, sizeof(src), "%s/src-%llu", dir, sizes[i]);
		snprintf(out, sizeof(out), "%s/out-%llu", dir, sizes[i]);
		snprintf(stream, sizeof(stream), "small%u", i);
		cr_assert_eq(dwcp_xfer_make_image(src, sizes[i], 7 + i), 0, "cannot write %s", src);
		transfer_ok(stream, src, out, "nodeb", NULL, 120, NULL);
		cr_expect_eq(dwcp_xfer_file_size(out), (long long)sizes[i]);
		fprintf(stderr, "transfer %llu bytes: ok, bytes_wire %.0f\n", sizes[i],
			dwcp_xfer_json_num(snd.out, "bytes_wire"));
	}
}

/* Whether @p file's file system offers direct I/O, as dwcp recv asks it
 * (cli/recv_fd.h); ext4 answers for regular files only. */
static bool direct_io_here(const char *file)
{
	struct statx sx;

	return statx(AT_FDCWD, file, 0, STATX_DIOALIGN, &sx) == 0 &&
	       (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align &&
	       4096 % sx.stx_dio_offset_align == 0 && sx.stx_dio_mem_align &&
	       sx.stx_dio_mem_align <= 4096;
}

/* Whether this kernel has cachestat(2) (6.5), which dwcp send asks
 * before it reads by direct I/O (cli/file_read.h). */
static bool cachestat_here(const char *file)
{
	uint64_t range[2] = { 0, 4096 }, cs[5];
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	bool yes = fd >= 0 && syscall(451, fd, range, cs, 0) == 0;

	if (fd >= 0)
		close(fd);
	return yes;
}

/* Sync @p file and drop it from the page cache: a VM image that nobody
 * read lately, as most are when they are sent. */
static void evict(const char *file)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0, "open %s: %s", file, strerror(errno));
	cr_assert_eq(fdatasync(fd), 0);
	cr_assert_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
}

/* A disk image's data (long runs, no holes), not in the page cache: the
 * sender reads it by direct I/O, the receiver writes it by direct I/O
 * (the short last chunk's whole page too, as it continues the run before
 * it; its last byte through the page cache), bit-identical. */
Test(transfer, a_cold_image_is_read_and_written_with_direct_io, .fini = teardown, .timeout = 400)
{
	struct dwcp_xfer_pair_cfg c = { .tag = "dio" };
	const unsigned long long size = 48 * MIB + 4097;
	char src[128], out[128];
	double written_direct, read_direct;

	make_dir();
	path_in_dir(src, sizeof(src), "disk.img");
	path_in_dir(out, sizeof(out), "recv.img");
	cr_assert_eq(dwcp_xfer_make_random(src, size, 99), 0, "cannot write %s", src);
	evict(src);
	start_pair(&c, true);
	transfer_ok("disk", src, out, "nodeb", NULL, 240, NULL);
	/* The main thread's CPU is the transfer's; starting (DPDK's
	 * initialization, the attach: always some) is a figure of its own. */
	cr_expect_gt(dwcp_xfer_json_num(snd.out, "attach_cpu_s"), 0, "no start CPU: %s", snd.out);
	cr_expect_gt(dwcp_xfer_json_num(rcv.out, "attach_cpu_s"), 0, "no start CPU: %s", rcv.out);
	cr_expect_gt(dwcp_xfer_json_num(snd.out, "main_thread_cpu_s"), 0, "no main thread CPU: %s", snd.out);
	cr_expect_gt(dwcp_xfer_json_num(rcv.out, "main_thread_cpu_s"), 0, "no main thread CPU: %s", rcv.out);
	written_direct = dwcp_xfer_json_num(rcv.out, "direct_bytes");
	read_direct = dwcp_xfer_json_num(snd.out, "direct_bytes");
	fprintf(stderr, "transfer %llu random bytes: %.0f read direct, %.0f written direct\n", size,
		read_direct, written_direct);
	if (!direct_io_here(out)) {
		cr_expect_eq(written_direct, 0, "direct writes where statx offers none: %s", rcv.out);
		cr_expect_eq(read_direct, 0, "direct reads where statx offers none: %s", snd.out);
		printf("skipped: no direct I/O on the file system of %s\n", dir);
		cr_skip_test("no direct I/O on the file system of %s", dir);
	}
	cr_expect_eq(written_direct, (double)(48 * MIB + 4096),
		     "%.0f bytes written direct, not the 48 MiB + 4096 of whole pages: %s", written_direct,
		     rcv.out);
	/* 12 full bounce buffers: written by recv's writer thread */
	cr_expect_gt(dwcp_xfer_json_num(rcv.out, "io_thread_cpu_s"), 0, "no writer thread's CPU: %s", rcv.out);
	if (!cachestat_here(src)) {
		printf("skipped: no cachestat(2) in this kernel: dwcp send reads through the page cache\n");
		cr_skip_test("no cachestat(2) in this kernel");
	}
	cr_expect_eq(read_direct, (double)size,
		     "%.0f bytes read direct of a file not in the page cache: %s", read_direct, snd.out);
	/* windows after the first: read ahead by send's helper thread */
	cr_expect_gt(dwcp_xfer_json_num(snd.out, "io_thread_cpu_s"), 0, "no read-ahead thread's CPU: %s", snd.out);
}

/* Nodes on both sides of a veth pair: A here, B (and its dwcp recv) in a
 * namespace of its own; A sends to B's address on the veth. */
static void veth_transfer(bool netem)
{
	struct dwcp_xfer_pair_cfg c = { .tag = netem ? "netem" : "veth" };
	char src[128], out[128], to[64], msg[2048];
	int rc;

	make_dir();
	rc = dwcp_xfer_netns_create(&ns);
	if (rc) {
		fprintf(stderr, "skipped: no network namespaces (ip netns add / veth failed)\n");
		teardown();   /* Criterion runs no .fini after a skip */
		cr_skip_test("skipped: no network namespaces");
	}
	if (netem) {
		rc = dwcp_xfer_sh(msg, sizeof(msg),
				  "tc qdisc add dev %s root netem loss 2%% reorder 25%% 50%% delay 1ms"
				  " && ip netns exec %s tc qdisc add dev %s root netem loss 2%% reorder 25%% 50%% delay 1ms",
				  ns.veth_a, ns.ns, ns.veth_b);
		if (rc) {
			fprintf(stderr, "skipped: no netem (tc qdisc add ... netem: %s)\n", msg);
			teardown();   /* Criterion runs no .fini after a skip */
			cr_skip_test("skipped: no netem");
		}
	}
	c.netns_b = ns.ns;
	c.host_a = ns.ip_a;
	c.host_b = ns.ip_b;
	start_pair(&c, true);
	path_in_dir(src, sizeof(src), "veth.img");
	path_in_dir(out, sizeof(out), "veth-recv.img");
	cr_assert_eq(dwcp_xfer_make_image(src, 32 * MIB, 99), 0, "cannot write %s", src);
	snprintf(to, sizeof(to), "%s", pair.addr_b);   /* HOST:PORT, not a [peers] name */
	transfer_ok("veth", src, out, to, ns.ns, 300, NULL);
	fprintf(stderr, "transfer over veth%s: 32 MiB, bytes_wire %.0f, resent %.0f, %.3f s\n",
		netem ? " with netem" : "", dwcp_xfer_json_num(snd.out, "bytes_wire"),
		dwcp_xfer_json_num(snd.out, "resent"), dwcp_xfer_json_num(snd.out, "seconds"));
	if (!netem)
		note_resends("veth");
}

Test(transfer, over_veth_between_network_namespaces, .fini = teardown, .timeout = 400)
{
	veth_transfer(false);
}

Test(transfer, over_veth_with_loss_reordering_and_delay, .fini = teardown, .timeout = 400)
{
	veth_transfer(true);
}
