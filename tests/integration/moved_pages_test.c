/* Moved pages (cli/send_moves.h, common/ops/hde.h version 3): content of the
 * previous version that a resend finds at other, unaligned offsets does
 * not travel. Two real nodes on built-in defaults, `dwcp send` on A and
 * `dwcp recv` on B as a user runs them.
 *
 * The images mimic what a package upgrade does to a file-system image:
 * "files" of the first version are rewritten into free space (zeros) with
 * a 39-byte line in front, so every old byte lands 39 bytes off its page
 * boundary, and the old blocks keep their bytes. The file data is random,
 * so it does not compress: without moved pages the resend would carry
 * every rewritten byte.
 *
 *  - atomic receive: the resend is bit-identical, most rewritten pages
 *    are reported moved, and the wire carries a small share of them;
 *  - --inplace receive, where the old blocks are also overwritten: a
 *    source that an earlier chunk of the same resend rewrote is never
 *    used (that content is gone from the file by then), one that a later
 *    chunk rewrites is; the result is bit-identical either way.
 *
 * Timeouts are hang guards only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/lib/node.h"
#include "tests/lib/xfer.h"

#define MIB (1024ull * 1024ull)
#define PAGE 4096ull
#define GUARD_S 600u
#define HEADER "upgraded by moved_pages_test, version 2\n"   /* 39 bytes + NUL */

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

/* Two nodes on built-in defaults but for one shared key (as
 * ./deploy/setup.sh leaves a node): chunks sealed, connections proven. */
static void setup(const char *tag)
{
	static char key[96];
	struct dwcp_xfer_pair_cfg c = { .tag = tag, .key_a = key, .key_b = key };
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/dwcp-moved.XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(key, sizeof(key), "%s/dwcp.key", dir);
	cr_assert_eq(dwcp_xfer_keygen(key), 0, "dwcp keygen %s failed", key);
	rc = dwcp_xfer_pair_start(&pair, &c);
	cr_assert_eq(rc, 0, "node %c did not start", rc);
}

/* @p mib MiB: random "file data" in the first @p data_mib, zeros (free
 * space) after. */
static void make_v1(const char *path, unsigned mib, unsigned data_mib, uint64_t seed)
{
	cr_assert_eq(dwcp_xfer_make_random(path, (uint64_t)data_mib * MIB, seed), 0);
	cr_assert_eq(truncate(path, (off_t)((uint64_t)mib * MIB)), 0, "truncate: %s", strerror(errno));
}

/* The file at @p fd: @p len old bytes at @p from rewritten at @p to with
 * HEADER in front (as dpkg writes a new version of a file beside the old
 * one). @return the bytes written. */
static uint64_t rewrite(int fd, uint64_t from, uint64_t len, uint64_t to)
{
	const size_t h = strlen(HEADER);
	uint8_t *buf = malloc(len + h);

	cr_assert_not_null(buf);
	memcpy(buf, HEADER, h);
	cr_assert_eq(pread(fd, buf + h, len, (off_t)from), (ssize_t)len);
	cr_assert_eq(pwrite(fd, buf, len + h, (off_t)to), (ssize_t)(len + h));
	free(buf);
	return len + h;
}

/* Fresh random bytes over [at, at + len) (the old blocks reused). */
static void overwrite(int fd, uint64_t at, uint64_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len);

	cr_assert_not_null(buf);
	for (uint64_t i = 0; i < len; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		buf[i] = (uint8_t)(seed >> 56);
	}
	cr_assert_eq(pwrite(fd, buf, len, (off_t)at), (ssize_t)len);
	free(buf);
}

static void transfer(const char *what, const char *stream, const char *src, const char *out,
		     const char *const *recv_extra)
{
	char h_src[65], h_out[65];
	int rs, rr, rc;

	dwcp_xfer_proc_free(&snd);
	dwcp_xfer_proc_free(&rcv);
	rc = dwcp_xfer_recv_start_extra(&rcv, NULL, pair.b.instance, stream, out, GUARD_S, recv_extra);
	cr_assert_eq(rc, 0, "cannot start dwcp recv: %s", strerror(-rc));
	rc = dwcp_xfer_send_start(&snd, pair.a.instance, stream, src, "nodeb", 120, NULL);
	cr_assert_eq(rc, 0, "cannot start dwcp send: %s", strerror(-rc));
	rs = dwcp_xfer_wait(&snd, GUARD_S * 1000u);
	rr = dwcp_xfer_wait(&rcv, 60000u);
	fprintf(stderr, "moved_pages: %s: send %d %s\n  recv %d %s  recv stderr: %s\n", what, rs,
		snd.out, rr, rcv.out, rcv.err);
	if (rs != 0 || rr != 0)
		dwcp_xfer_pair_dump(&pair, "transfer failed");
	cr_assert_eq(rs, 0, "%s: dwcp send exited %d: %s", what, rs, snd.err);
	cr_assert_eq(rr, 0, "%s: dwcp recv exited %d: %s", what, rr, rcv.err);
	cr_assert_eq(dwcp_xfer_sha256(src, h_src), 0, "cannot read %s", src);
	cr_assert_eq(dwcp_xfer_sha256(out, h_out), 0, "no file at the sink: %s", out);
	cr_assert_str_eq(h_out, h_src, "%s: %s differs from %s", what, out, src);
}

Test(moved_pages, rewritten_files_shifted_into_free_space_do_not_travel, .fini = teardown,
     .timeout = 900)
{
	char src[128], out[128];
	uint64_t rewritten = 0, pages = 0;
	double moved, rmoved, wire;
	int fd;

	setup("mvd");
	snprintf(src, sizeof(src), "%s/vm.img", dir);
	snprintf(out, sizeof(out), "%s/recv.img", dir);
	/* A 1 GiB image, 768 MiB of it data. */
	make_v1(src, 1024, 768, 71);
	transfer("v1", "mvd", src, out, NULL);
	/* Eight "files" of 256 KiB .. 1.3 MiB (odd lengths) rewritten from
	 * all over the data area into the free area, 39 bytes off their
	 * pages. */
	fd = open(src, O_RDWR);
	cr_assert_geq(fd, 0);
	for (unsigned r = 0; r < 8; r++) {
		uint64_t len = 256 * 1024 + r * 150 * 1024 + 777;

		rewritten += rewrite(fd, 3 * MIB + r * 95 * MIB, len, 800 * MIB + r * 25 * MIB);
		pages += len / PAGE;
	}
	close(fd);
	transfer("v2, atomic", "mvd", src, out, NULL);
	moved = dwcp_xfer_json_num(snd.out, "moved_pages");
	rmoved = dwcp_xfer_json_num(rcv.out, "moved_pages");
	wire = dwcp_xfer_json_num(snd.out, "bytes_wire");
	fprintf(stderr, "moved_pages: %.0f moved of %llu rewritten pages (%llu bytes); wire %.0f\n",
		moved, (unsigned long long)pages, (unsigned long long)rewritten, wire);
	cr_expect_eq(rmoved, moved, "the receiver filled %.0f moved pages, the sender sent %.0f",
		     rmoved, moved);
	/* Each file loses its first and last page (partly the header, partly
	 * what follows it) and a page where a chunk boundary cuts a run. */
	cr_expect_geq(moved, (double)pages * 3 / 4, "only %.0f of %llu shifted pages found moved",
		      moved, (unsigned long long)pages);
	cr_expect_leq(moved, (double)pages, "more pages moved (%.0f) than were rewritten (%llu)", moved,
		      (unsigned long long)pages);
	cr_expect_lt(wire, (double)rewritten / 4,
		     "the resend carried %.0f bytes for %llu rewritten (incompressible) bytes", wire,
		     (unsigned long long)rewritten);
}

Test(moved_pages, in_place_never_reads_a_source_it_already_rewrote, .fini = teardown,
     .timeout = 900)
{
	char src[128], out[128];
	const uint64_t len_x = 1024 * 1024 + 300, len_y = 1024 * 1024 + 500;
	double moved;
	int fd;

	setup("mvi");
	snprintf(src, sizeof(src), "%s/vm.img", dir);
	snprintf(out, sizeof(out), "%s/recv.img", dir);
	make_v1(src, 64, 40, 72);
	transfer("v1", "mvi", src, out, NULL);
	fd = open(src, O_RDWR);
	cr_assert_geq(fd, 0);
	/* X: old at 20 MiB, rewritten earlier in the file (2 MiB), its old
	 * blocks then reused: when the receiver writes 2 MiB, 20 MiB still
	 * holds the old bytes. Y: old at 6 MiB, rewritten later (48 MiB),
	 * its old blocks reused: by the time 48 MiB is written, 6 MiB has
	 * been rewritten in place. */
	rewrite(fd, 20 * MIB, len_x, 2 * MIB);
	rewrite(fd, 6 * MIB, len_y, 48 * MIB);
	overwrite(fd, 20 * MIB, len_x + PAGE, 73);
	overwrite(fd, 6 * MIB, len_y + PAGE, 74);
	close(fd);
	transfer("v2, --inplace", "mvi", src, out, inplace);
	cr_assert(rcv.out && strstr(rcv.out, "\"inplace\": true"), "not received in place: %s",
		  rcv.out);
	moved = dwcp_xfer_json_num(snd.out, "moved_pages");
	fprintf(stderr, "moved_pages: %.0f moved; X has %llu pages, Y %llu\n", moved,
		(unsigned long long)(len_x / PAGE), (unsigned long long)(len_y / PAGE));
	cr_expect_geq(moved, (double)(len_x / PAGE) * 3 / 4, "X (source not yet rewritten) not moved");
	cr_expect_leq(moved, (double)(len_x / PAGE), "pages of Y moved from a source already rewritten");
}

/* Copy @p n pages at @p from to @p to, page-aligned (a journal logging
 * the blocks it is about to write). */
static void copy_pages(int fd, uint64_t from, uint64_t to, uint64_t n)
{
	uint8_t *buf = malloc(n * PAGE);

	cr_assert_not_null(buf);
	cr_assert_eq(pread(fd, buf, n * PAGE, (off_t)from), (ssize_t)(n * PAGE));
	cr_assert_eq(pwrite(fd, buf, n * PAGE, (off_t)to), (ssize_t)(n * PAGE));
	free(buf);
}

Test(moved_pages, a_changed_page_carried_twice_travels_once, .fini = teardown, .timeout = 900)
{
	char src[128], out_a[128], out_i[128];
	const uint64_t n = 300, near = 64;
	const char *stream[2] = { "mvj", "mvji" };
	const char *outs[2] = { out_a, out_i };
	int fd;

	setup("mvj");
	snprintf(src, sizeof(src), "%s/vm.img", dir);
	snprintf(out_a, sizeof(out_a), "%s/recv.img", dir);
	snprintf(out_i, sizeof(out_i), "%s/recv-inplace.img", dir);
	make_v1(src, 64, 40, 75);
	for (unsigned i = 0; i < 2; i++)
		transfer("v1", stream[i], src, outs[i], NULL);
	/* n pages rewritten at 4 MiB with new random data, then the same n
	 * pages copied into the free area at 50 MiB; and `near` pages
	 * rewritten at 16 MiB, copied right behind themselves: when the
	 * receiver reads those back from its output, the chunk before
	 * (written with the unchanged pages around it, in one long run) may
	 * still wait in its write buffer, and must be written first. */
	fd = open(src, O_RDWR);
	cr_assert_geq(fd, 0);
	overwrite(fd, 4 * MIB, n * PAGE, 76);
	copy_pages(fd, 4 * MIB, 50 * MIB, n);
	overwrite(fd, 16 * MIB, near * PAGE, 77);
	copy_pages(fd, 16 * MIB, 16 * MIB + near * PAGE, near);
	close(fd);
	for (unsigned i = 0; i < 2; i++) {
		double moved, wire;

		transfer(i ? "v2, --inplace" : "v2, atomic", stream[i], src, outs[i], i ? inplace : NULL);
		moved = dwcp_xfer_json_num(snd.out, "moved_pages");
		wire = dwcp_xfer_json_num(snd.out, "bytes_wire");
		fprintf(stderr, "moved_pages: %s: %.0f moved, wire %.0f for 2 x %llu new pages\n",
			stream[i], moved, wire, (unsigned long long)(n + near));
		cr_expect_geq(moved, (double)(n + near), "the copies did not travel as moved pages");
		cr_expect_lt(wire, 1.5 * (double)((n + near) * PAGE),
			     "%.0f bytes on the wire: the %llu new random pages travelled twice", wire,
			     (unsigned long long)(n + near));
	}
}
