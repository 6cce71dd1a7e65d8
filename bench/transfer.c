/* dwcp bench transfer: what the whole data path moves, beside what its
 * parts could move, all measured in this run on this machine.
 *
 * One deterministic VM-like image (4 KiB pages, a third each zero, text
 * and random, in a pseudo-random order) goes these ways:
 *   1. end to end (transfer_run.c): `dwcp send` -> `dwcp recv` between two
 *      throw-away nodes on loopback, on built-in defaults, once with
 *      --codec zstd (zstd-1, to compare with the one-thread pipeline) and
 *      once with the node's default codec (auto);
 *   2. the same library calls in one thread (transfer_ref.c);
 *   3. raw kernel TCP over as many loopback connections (transfer_ref.c).
 * (1)/(2) is what the multi-process pipeline gains or costs over its
 * compute, (1)/(3) how close it comes to the wire it runs on. (2) does
 * sender and receiver steps in turn on one core, where the pipeline runs
 * them in separate processes at once, so (1)/(2) may come out either
 * side of 1. Each reference is the median of RUNS runs; a transfer is
 * run once, on a stream name of its own (a second send of a stream is a
 * delta send).
 *
 * --workers N adds a scaling table: for w = 1, 2, 4, ... and N, a fresh
 * node pair with [simd] workers = w and one zstd-1 transfer each.
 * --net-workers N gives every node [net] workers = N (else auto).
 *
 * Delta part: a few bytes of 5% of the pages change and the codec-auto
 * stream is sent again, on the built-in delta cache (smaller than the
 * default 256 MiB image); its bytes on the wire are set beside the first
 * send's and beside zstd -1 of the whole new image (what a transfer
 * without delta encoding would move).
 *
 * --json prints one object with every figure instead of the tables.
 * Everything this bench creates (nodes, key, image, indexes, received
 * files, the children's output) is removed at the end, on failure and on
 * SIGINT/SIGTERM/SIGHUP/SIGPIPE too; --keep leaves the last node pair and the files for
 * debugging and says how to remove them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "cli/cli_internal.h"
#include "common/config.h"
#include "common/cpu.h"
#include "bench_data.h"
#include "transfer_pvt.h"

volatile sig_atomic_t bench_xfer_stop;

static void on_signal(int sig)
{
	bench_xfer_stop = sig;
}

/* ---- the image ------------------------------------------------------ */

/* Kinds in a pseudo-random order rather than a fixed period, so neither
 * zstd's window nor HDE meets a pattern a real image would not have.
 * With @p extents, each kind comes in a run of 1 to 512 pages (2 MiB),
 * as a file system lays out files and free space; page by page, no run
 * of data is long enough for dwcp recv to write it direct, which is the
 * worst case of the receive, not the usual one. */
static void make_image(uint8_t *p, size_t n, bool extents)
{
	uint64_t s = 0x9E3779B97F4A7C15ull;
	size_t left = 0;
	unsigned kind = 0;

	for (size_t at = 0; at < n; at += PAGE) {
		if (!left) {
			kind = (unsigned)(bench_rand(&s) % 3);
			left = extents ? 1 + (size_t)(bench_rand(&s) % 512) : 1;
		}
		left--;
		switch (kind) {
		case 0:
			memset(p + at, 0, PAGE);
			break;
		case 1:
			bench_fill_text(p + at, PAGE, &s);
			break;
		default:
			for (size_t i = 0; i < PAGE; i += 8) {
				uint64_t r = bench_rand(&s);

				memcpy(p + at + i, &r, 8);
			}
		}
	}
}

/* Change DIRTY_BYTES bytes of about DIRTY_PCT % of the pages: each in its
 * own 1/DIRTY_BYTES of the page and XORed with a non-zero value, so every
 * chosen page really changes. @return the pages changed. */
static size_t dirty_image(uint8_t *p, size_t n)
{
	const size_t span = PAGE / DIRTY_BYTES;
	uint64_t s = 0xD1B54A32D192ED03ull;
	size_t count = 0;

	for (size_t at = 0; at < n; at += PAGE) {
		if (bench_rand(&s) % 100 >= DIRTY_PCT)
			continue;
		for (unsigned k = 0; k < DIRTY_BYTES; k++) {
			uint64_t r = bench_rand(&s);

			p[at + k * span + r % span] ^= (uint8_t)((r >> 32) | 1);
		}
		count++;
	}
	return count;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t done = 0;

	if (fd < 0)
		return -errno;
	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? -errno : -EIO;

			close(fd);
			return e;
		}
		done += (size_t)w;
	}
	return close(fd) ? -errno : 0;
}

/* zstd -1 of @p n bytes in one frame, as `zstd -1 -c | wc -c` counts it. */
static double zstd1_size(const uint8_t *p, size_t n)
{
	size_t cap = ZSTD_compressBound(n), r;
	void *dst = malloc(cap);

	if (!dst)
		return NAN;
	r = ZSTD_compress(dst, cap, p, n, 1);
	free(dst);
	return ZSTD_isError(r) ? NAN : (double)r;
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* Whoever read our output went away (a pipe through tee whose shell
	 * was killed): stop the same way, rather than die with the nodes up. */
	sigaction(SIGPIPE, &sa, NULL);
}

/* ---- driver --------------------------------------------------------- */

/* --workers takes an optional N, also as the next word ("--workers 2",
 * which getopt leaves alone for an optional argument); no N, 0 or a
 * word that is not a number means the CPU count. */
static unsigned workers_arg(int argc, char **argv, const char *arg)
{
	unsigned long v = 0;
	char *end = NULL;

	if (!arg && optind < argc && argv[optind][0] != '-')
		arg = argv[optind++];
	if (arg)
		v = strtoul(arg, &end, 10);
	if (!arg || !end || *end || v == 0) {
		if (arg)
			fprintf(stderr, "dwcp bench transfer: --workers '%s': not a count, using the CPU "
					"count (%u)\n", arg, dwcp_cpu_usable());
		return dwcp_cpu_usable();
	}
	if (v > DWCP_CFG_MAX_WORKERS) {
		fprintf(stderr, "dwcp bench transfer: --workers %lu: at most %u, using %u\n", v,
			DWCP_CFG_MAX_WORKERS, DWCP_CFG_MAX_WORKERS);
		return DWCP_CFG_MAX_WORKERS;
	}
	return (unsigned)v;
}

static int parse(int argc, char **argv, struct bench_xfer_opts *o)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' }, { "connections", required_argument, NULL, 'c' },
		{ "workers", optional_argument, NULL, 'w' }, { "json", no_argument, NULL, 'j' },
		{ "keep", no_argument, NULL, 'k' }, { "history", required_argument, NULL, 'H' },
		{ "label", required_argument, NULL, 'L' }, { "sampling", no_argument, NULL, 'S' },
		{ "net-workers", required_argument, NULL, 'n' }, { "extents", no_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	/* "+": no reordering, so workers_arg may take the next word. */
	while ((ch = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		char *end = NULL;
		unsigned long v = 0;

		if (ch == 'H' || ch == 'L') {
			if (ch == 'H')
				o->history = optarg;
			else
				o->label = optarg;
			continue;
		}
		if (ch == 'k' || ch == 'j' || ch == 'w' || ch == 'S' || ch == 'e') {
			if (ch == 'S')
				o->sampling = 1;
			else if (ch == 'e')
				o->extents = 1;
			else if (ch == 'k')
				o->keep = 1;
			else if (ch == 'j')
				o->json = 1;
			else
				o->workers = workers_arg(argc, argv, optarg);
			continue;
		}
		if (ch != '?')
			v = strtoul(optarg, &end, 10);
		if (ch == '?' || !end || *end || v == 0 || (ch == 's' && v > 16384) ||
		    (ch == 'c' && v > MAX_CONN) || (ch == 'n' && v > DWCP_CFG_MAX_NET_WORKERS)) {
			fprintf(stderr, "dwcp bench transfer: bad option (want --size MiB (1..16384) "
					"--connections N (1..%u) --workers [N] --net-workers N (1..%u) "
					"--extents --sampling --json --keep --history FILE --label L)\n", MAX_CONN,
				DWCP_CFG_MAX_NET_WORKERS);
			return -EINVAL;
		}
		if (ch == 's')
			o->size_mb = (unsigned)v;
		if (ch == 'c')
			o->connections = (unsigned)v;
		if (ch == 'n')
			o->net_workers = (unsigned)v;
	}
	if (optind < argc) {
		fprintf(stderr, "dwcp bench transfer: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static int write_image(const struct bench_xfer_ctx *c, const uint8_t *img)
{
	char p[128];
	int rc;

	snprintf(p, sizeof(p), "%s/image", c->dir);
	if ((rc = write_file(p, img, c->n)) != 0)
		fprintf(stderr, "dwcp bench transfer: cannot write %s: %s\n", p, strerror(-rc));
	return rc;
}

static int run_ok(const struct bench_xfer_run *x)
{
	return x->ok && x->identical;
}

/* The scaling table: w = 1, 2, 4, ... below N, then N; a fresh node pair
 * for each, so a row's workers are the only thing that changes. */
static int run_scaling(struct bench_xfer_ctx *c, struct bench_xfer_report *r)
{
	unsigned n = c->o->workers;
	int bad = 0;

	for (unsigned w = 1; r->n_rows < MAX_ROWS; w = w * 2 < n ? w * 2 : n) {
		struct bench_xfer_row *row = &r->rows[r->n_rows++];
		char stream[32], out[32];

		row->workers = w;
		snprintf(stream, sizeof(stream), "bench-w%u", w);
		snprintf(out, sizeof(out), "out-w%u", w);
		if (!c->o->json)
			fprintf(stderr, "dwcp bench transfer: [simd] workers = %u ...\n", w);
		if (bench_xfer_stop || bench_xfer_start_pair(c, w))
			return -1;
		bench_xfer_run_one(c, stream, out, "zstd", stream, &row->x);
		bench_xfer_unlink(c, out);   /* 1 GiB images need not sit twice in /tmp */
		bench_xfer_stop_pair(c);
		bad |= !run_ok(&row->x);
		if (w == n)
			break;
	}
	return bad ? -1 : 0;
}

/* The default pair: zstd-1, codec auto, and the delta resend of the
 * codec-auto stream after changing the image. */
static int run_default(struct bench_xfer_ctx *c, uint8_t *img, struct bench_xfer_report *r)
{
	if (!c->o->json)
		fprintf(stderr, "dwcp bench transfer: [simd] workers = auto (built-in default) ...\n");
	if (bench_xfer_stop || bench_xfer_start_pair(c, 0))
		return -1;
	bench_xfer_run_one(c, "bench-zstd", "out-zstd", "zstd", "zstd", &r->main);
	bench_xfer_unlink(c, "out-zstd");
	if (bench_xfer_stop)
		return -1;
	bench_xfer_run_one(c, "bench-auto", "out-auto", NULL, "auto", &r->autoc);
	if (!r->autoc.ok || bench_xfer_stop)
		return -1;
	r->dirty = dirty_image(img, c->n);
	if (write_image(c, img))
		return -1;
	/* Same stream, same --out: the receiver rebuilds from its last copy. */
	bench_xfer_run_one(c, "bench-auto", "out-auto", NULL, "delta", &r->delta);
	r->zstd_bytes = zstd1_size(img, c->n);
	return run_ok(&r->main) && run_ok(&r->autoc) && run_ok(&r->delta) ? 0 : -1;
}

static int run_pipeline(struct bench_xfer_ctx *c, uint8_t *img, struct bench_xfer_report *r)
{
	int rc = 0;

	if (write_image(c, img) || bench_xfer_prepare(c))
		return -1;
	/* The references that need the image file or the bench's disk. */
	if ((r->disk = bench_xfer_run_disk(c)) < 0)
		fprintf(stderr, "dwcp bench transfer: output disk reference failed: %s\n", strerror(errno));
	if ((r->zstd_cli = bench_xfer_run_zstd_cli(c)) == -1.0)
		fprintf(stderr, "dwcp bench transfer: zstd CLI reference failed\n");
	if (bench_xfer_stop)
		return -1;
	if (c->o->workers)
		rc = run_scaling(c, r);
	if (bench_xfer_stop)
		return -1;
	if (c->o->sampling && bench_xfer_run_sampling(c, &r->samp))
		rc = -1;
	if (bench_xfer_stop)
		return -1;
	return run_default(c, img, r) || rc ? -1 : 0;
}

/* Where the dwcp binaries are: beside this one. */
static void find_bin_dir(struct bench_xfer_ctx *c)
{
	ssize_t n = readlink("/proc/self/exe", c->bin_dir, sizeof(c->bin_dir) - 1);
	char *dir;

	c->bin_dir[n > 0 ? n : 0] = '\0';
	dir = dirname(c->bin_dir);   /* may point into bin_dir itself */
	memmove(c->bin_dir, dir, strlen(dir) + 1);
}

static void references(const struct bench_xfer_ctx *c, uint8_t *img, uint8_t *out,
		       struct bench_xfer_report *r)
{
	bench_xfer_run_inproc(img, c->n, out, &r->ip);
	if (!r->ip.ok)
		fprintf(stderr, "dwcp bench transfer: one-thread reference failed: %s\n", r->ip.err);
	r->tcp = -1.0;
	if (!bench_xfer_stop &&
	    (r->tcp = bench_xfer_run_tcp(img, c->n, c->o->connections, &r->tcp_buf)) < 0)
		fprintf(stderr, "dwcp bench transfer: raw TCP reference failed\n");
}

int dwcp_cli_bench_transfer(int argc, char **argv)
{
	struct bench_xfer_opts o = { .size_mb = 256, .connections = 4 };
	struct bench_xfer_ctx c = { .o = &o };
	struct bench_xfer_report *r = calloc(1, sizeof(*r));
	uint8_t *img, *out;
	int rc;

	if (!r || parse(argc, argv, &o)) {
		free(r);
		return 2;
	}
	find_bin_dir(&c);
	c.n = (size_t)o.size_mb * MIB;
	snprintf(c.inst_a, sizeof(c.inst_a), "xfer%da", (int)getpid());
	snprintf(c.inst_b, sizeof(c.inst_b), "xfer%db", (int)getpid());
	snprintf(c.dir, sizeof(c.dir), "/tmp/dwcp-transfer-XXXXXX");
	img = malloc(c.n), out = malloc(c.n);
	if (!img || !out || !mkdtemp(c.dir)) {
		fprintf(stderr, "dwcp bench transfer: set-up failed: %s\n", strerror(errno));
		free(img), free(out), free(r);
		return 1;
	}
	catch_signals();
	make_image(img, c.n, o.extents);
	c.img = img;
	r->c = &c;
	r->zstd_bytes = NAN;
	r->disk = r->zstd_cli = -1.0;
	if (!o.json) {
		char nw[16] = "auto";

		if (o.net_workers)
			snprintf(nw, sizeof(nw), "%u", o.net_workers);
		printf("dwcp bench transfer: %u MiB image (4 KiB pages, 1/3 each zero, text, random, %s), "
		       "%u KiB chunks,\nHDE + zstd-1 or codec auto + AES-256-GCM + CRC32C, %u connections, "
		       "[net] workers %s; GB/s = 10^9 input bytes per second\n\n", o.size_mb,
		       o.extents ? "in runs of 1-512 pages" : "page by page", CHUNK / 1024, o.connections, nw);
		fflush(stdout);
	}
	references(&c, img, out, r);
	free(out);
	rc = bench_xfer_stop ? -1 : run_pipeline(&c, img, r);
	if (o.json)
		bench_xfer_print_json(r);
	else
		bench_xfer_print_text(r);
	bench_xfer_cleanup(&c);
	free(img);
	if (bench_xfer_stop)
		fprintf(stderr, "dwcp bench transfer: interrupted; nodes and files cleaned up\n");
	rc = rc || !r->ip.ok || r->tcp < 0 || bench_xfer_stop ? 1 : 0;
	free(r);
	return rc;
}
