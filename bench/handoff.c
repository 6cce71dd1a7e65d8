/* dwcp bench handoff: what one descriptor hop costs.
 *
 * A client process (a DPDK secondary in a client slot) sends descriptors
 * client -> svc-simd (CRC32C of the payload) -> client, and then does the
 * same work over two raw rte_ring SP/SC rings between the same two
 * processes (svc-simd's RAW_ECHO op), in the same run. Throughput comes
 * from a window of descriptors in flight, latency from a window of one
 * (ping-pong). Both are run on a node in the default poll-then-sleep mode
 * and on one in dedicated-poll mode; the raw rings always busy-poll, as a
 * hand-rolled ring would. It prints our figures, the raw ones and the ratio.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rte_pause.h>

#include "cli/cli_internal.h"
#include "common/hist.h"
#include "common/ops/crc32c.h"
#include "common/timeutil.h"
#include "ipc/bench_echo.h"
#include "ipc/client.h"
#include "bench_node.h"

#define MAX_WINDOW 256u
#define BURST      32u
/* Sparse latency: one descriptor every 200 us, longer than the default
 * 50 us spin budget, so in poll-then-sleep mode svc-simd is asleep when
 * each one arrives and the round trip includes the futex wakeup. */
#define SPARSE_N      2000u
#define SPARSE_GAP_NS 200000ull

struct opts {
	unsigned count, size, window;
};

struct phase {
	double desc_per_s;
	uint64_t p50, p99, p999;
	uint64_t simd_sleeps;
	unsigned errors;
};

struct mode_result {
	int ok;
	struct phase link_tp, link_lat, link_sparse, raw_tp, raw_lat, raw_sparse;
	char err[DWCP_ERR_MSG_MAX];
};

struct bench {
	struct dwcp_client c;
	const struct opts *o;
	uint32_t bufs[MAX_WINDOW];
	uint32_t crc[MAX_WINDOW];
	uint64_t t_sent[MAX_WINDOW];
	uint32_t ctl_buf;
	struct rte_ring *req, *rsp;  /* the raw reference rings */
	uint64_t spin_ns;
	int poll_mode;
	struct dwcp_hist *hist;
};

static int slot_of(const struct bench *b, uint32_t idx)
{
	for (unsigned i = 0; i < b->o->window; i++)
		if (b->bufs[i] == idx)
			return (int)i;
	return -1;
}

static void prepare(struct bench *b, uint32_t idx, uint64_t seq)
{
	const uint16_t crc_step[] = { dwcp_prog_step(DWCP_SLOT_SIMD, DWCP_OP_CRC32C) };
	struct dwcp_buf_hdr *h = dwcp_client_hdr(&b->c, idx);

	dwcp_client_set_prog(&b->c, idx, crc_step, 1);
	h->len = b->o->size;
	h->seq = seq;
	h->result = 0;
	h->t_submit_ns = dwcp_now_ns();
}

/* Idle until something is delivered: spin, then sleep (unless poll mode). */
static void idle(struct bench *b, uint64_t *since)
{
	uint64_t now = dwcp_now_ns();

	if (b->poll_mode || now - *since < b->spin_ns) {
		rte_pause();
		return;
	}
	dwcp_client_wait(&b->c, 10000000ull);
	*since = dwcp_now_ns();
}

static void finish(struct bench *b, struct phase *p, uint64_t n, uint64_t t0)
{
	p->desc_per_s = n / ((dwcp_now_ns() - t0) / 1e9);
	p->p50 = dwcp_hist_percentile(b->hist, 50);
	p->p99 = dwcp_hist_percentile(b->hist, 99);
	p->p999 = dwcp_hist_percentile(b->hist, 99.9);
}

static void check(struct bench *b, struct phase *p, uint32_t idx, uint64_t now)
{
	const struct dwcp_buf_hdr *h = dwcp_client_hdr(&b->c, idx);
	int k = slot_of(b, idx);

	if (k < 0 || h->status != DWCP_BUF_OK || h->result != b->crc[k])
		p->errors++;
	dwcp_hist_record(b->hist, now - h->t_submit_ns);
}

/* The two paths under test differ only in how a descriptor goes out and
 * comes back, and in how the client waits. */
struct path {
	unsigned (*submit)(struct bench *b, const uint32_t *idx, unsigned n);
	unsigned (*poll)(struct bench *b, uint32_t *idx, unsigned n);
	void (*idle)(struct bench *b, uint64_t *since);
};

static unsigned link_submit(struct bench *b, const uint32_t *idx, unsigned n)
{
	return dwcp_client_submit(&b->c, idx, n);
}

static unsigned link_poll(struct bench *b, uint32_t *idx, unsigned n)
{
	return dwcp_client_poll(&b->c, idx, n);
}

static unsigned raw_submit(struct bench *b, const uint32_t *idx, unsigned n)
{
	return rte_ring_sp_enqueue_burst_elem(b->req, idx, sizeof(uint32_t), n, NULL);
}

static unsigned raw_poll(struct bench *b, uint32_t *idx, unsigned n)
{
	return rte_ring_sc_dequeue_burst_elem(b->rsp, idx, sizeof(uint32_t), n, NULL);
}

static void raw_idle(struct bench *b, uint64_t *since)
{
	(void)b;
	(void)since;
	rte_pause();   /* a hand-rolled ring busy-polls */
}

static const struct path link_path = { link_submit, link_poll, idle };
static const struct path raw_path = { raw_submit, raw_poll, raw_idle };

static void pause_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };

	nanosleep(&ts, NULL);
}

/* n descriptors, @window in flight; with @gap_ns, the next one goes out
 * that long after the previous came back (so the service may sleep). */
static void run(struct bench *b, const struct path *pa, unsigned window, uint64_t n,
		uint64_t gap_ns, struct phase *p)
{
	uint32_t ready[MAX_WINDOW], got[BURST];
	unsigned n_ready = window;
	uint64_t sent = 0, done = 0, t0, since;
	const struct dwcp_stats *simd = &b->c.at.shm.stats[DWCP_SLOT_SIMD];
	uint64_t sleeps0 = dwcp_stats_read(simd, DWCP_STAT_SLEEPS);

	memcpy(ready, b->bufs, window * sizeof(ready[0]));
	dwcp_hist_reset(b->hist);
	t0 = since = dwcp_now_ns();
	while (done < n) {
		unsigned k = n_ready < n - sent ? n_ready : (unsigned)(n - sent), m;

		for (unsigned i = 0; i < k; i++)
			prepare(b, ready[n_ready - k + i], sent + i);
		m = k ? pa->submit(b, ready + n_ready - k, k) : 0;
		n_ready -= m;
		sent += m;
		m = pa->poll(b, got, BURST);
		if (!m) {
			pa->idle(b, &since);
			continue;
		}
		since = dwcp_now_ns();
		for (unsigned i = 0; i < m; i++) {
			check(b, p, got[i], since);
			ready[n_ready++] = got[i];
		}
		done += m;
		if (gap_ns)
			pause_ns(gap_ns);
	}
	finish(b, p, n, t0);
	p->simd_sleeps = dwcp_stats_read(simd, DWCP_STAT_SLEEPS) - sleeps0;
}

static int start_raw(struct bench *b)
{
	const uint16_t echo_step[] = { dwcp_prog_step(DWCP_SLOT_SIMD, DWCP_OP_BENCH_RAW_ECHO) };
	uint8_t *base = dwcp_client_data(&b->c, b->ctl_buf);
	struct dwcp_buf_hdr *h = dwcp_client_hdr(&b->c, b->ctl_buf);

	b->req = (struct rte_ring *)base;
	b->rsp = (struct rte_ring *)(base + dwcp_bench_rsp_offset());
	if (rte_ring_init(b->req, "bench_req", DWCP_BENCH_RING_DEPTH, RING_F_SP_ENQ | RING_F_SC_DEQ) ||
	    rte_ring_init(b->rsp, "bench_rsp", DWCP_BENCH_RING_DEPTH, RING_F_SP_ENQ | RING_F_SC_DEQ))
		return -EINVAL;
	dwcp_client_set_prog(&b->c, b->ctl_buf, echo_step, 1);
	h->len = dwcp_bench_rings_size();
	return dwcp_client_submit(&b->c, &b->ctl_buf, 1) == 1 ? 0 : -EAGAIN;
}

static void stop_raw(struct bench *b)
{
	uint32_t stop = DWCP_BENCH_STOP, got;

	while (rte_ring_sp_enqueue_elem(b->req, &stop, sizeof(stop)) != 0)
		rte_pause();
	while (dwcp_client_poll(&b->c, &got, 1) == 0)
		dwcp_client_wait(&b->c, 10000000ull);
}

static int setup(struct bench *b, const char *instance, struct dwcp_err *err)
{
	unsigned n = b->o->window + 1;
	uint32_t idx[MAX_WINDOW + 1];
	int rc = dwcp_client_open(&b->c, instance, NULL, "bench-handoff", "dwcp-bench", err);

	if (rc)
		return rc;
	if (dwcp_client_alloc(&b->c, idx, n) != n)
		return dwcp_err_set(err, -ENOMEM, "could not allocate %u buffers", n);
	b->ctl_buf = idx[b->o->window];
	for (unsigned i = 0; i < b->o->window; i++) {
		uint8_t *d = dwcp_client_data(&b->c, idx[i]);

		b->bufs[i] = idx[i];
		for (unsigned k = 0; k < b->o->size; k++)
			d[k] = (uint8_t)rand();
		b->crc[i] = dwcp_crc32c(0, d, b->o->size);
	}
	b->spin_ns = (uint64_t)b->c.at.shm.ctl->spin_us * 1000;
	b->poll_mode = (int)b->c.at.shm.ctl->poll_mode;
	return 0;
}

/* In the forked child: attach, run the four phases. */
static void client_main(const char *instance, const struct opts *o, struct mode_result *r)
{
	struct bench b = { .o = o };
	struct dwcp_err err = { 0 };
	uint64_t lat_n = o->count / 10 ? o->count / 10 : 1;

	b.hist = malloc(sizeof(*b.hist));
	if (!b.hist || setup(&b, instance, &err)) {
		snprintf(r->err, sizeof(r->err), "%s", b.hist ? err.msg : "out of memory");
		return;
	}
	run(&b, &link_path, o->window, o->count, 0, &r->link_tp);
	run(&b, &link_path, 1, lat_n, 0, &r->link_lat);
	run(&b, &link_path, 1, SPARSE_N, SPARSE_GAP_NS, &r->link_sparse);
	if (start_raw(&b)) {
		snprintf(r->err, sizeof(r->err), "could not start the raw echo in svc-simd");
		return;
	}
	run(&b, &raw_path, o->window, o->count, 0, &r->raw_tp);
	run(&b, &raw_path, 1, lat_n, 0, &r->raw_lat);
	run(&b, &raw_path, 1, SPARSE_N, SPARSE_GAP_NS, &r->raw_sparse);
	stop_raw(&b);
	r->ok = 1;
}

static int run_mode(const char *bin_dir, const struct opts *o, int poll_mode, struct mode_result *r)
{
	char instance[32];
	int pfd[2], st = 0;
	pid_t pid;

	snprintf(instance, sizeof(instance), "bench%d%c", (int)getpid(), poll_mode ? 'p' : 's');
	if (bench_node_start(bin_dir, instance, poll_mode, r->err, sizeof(r->err)))
		return -1;
	if (pipe(pfd) == 0 && (pid = fork()) == 0) {
		close(pfd[0]);
		memset(r, 0, sizeof(*r));
		client_main(instance, o, r);
		_exit(write(pfd[1], r, sizeof(*r)) == (ssize_t)sizeof(*r) ? 0 : 1);
	}
	close(pfd[1]);
	if (read(pfd[0], r, sizeof(*r)) != (ssize_t)sizeof(*r) && !r->err[0])
		snprintf(r->err, sizeof(r->err), "the bench client died");
	close(pfd[0]);
	while (wait(&st) < 0 && errno == EINTR)
		;
	bench_node_stop(bin_dir, instance);
	return r->ok ? 0 : -1;
}

static void row(const char *mode, const char *path, const struct phase *tp, const struct phase *lat,
		const struct phase *sp)
{
	printf("%-16s %-18s %9.3f %8.2f %8.2f %8.2f %9.2f %9.2f %6u\n", mode, path,
	       tp->desc_per_s / 1e6, lat->p50 / 1e3, lat->p99 / 1e3, lat->p999 / 1e3, sp->p50 / 1e3,
	       sp->p99 / 1e3, tp->errors + lat->errors + sp->errors);
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0;
}

static void print_mode(const char *mode, const struct mode_result *r, unsigned count)
{
	row(mode, "dwcp link", &r->link_tp, &r->link_lat, &r->link_sparse);
	row(mode, "raw rte_ring SPSC", &r->raw_tp, &r->raw_lat, &r->raw_sparse);
	printf("%-16s %-18s %8.2fx %7.2fx %7.2fx %7.2fx %8.2fx %8.2fx\n", mode, "ratio dwcp/raw",
	       r->link_tp.desc_per_s / r->raw_tp.desc_per_s, ratio(r->link_lat.p50, r->raw_lat.p50),
	       ratio(r->link_lat.p99, r->raw_lat.p99), ratio(r->link_lat.p999, r->raw_lat.p999),
	       ratio(r->link_sparse.p50, r->raw_sparse.p50), ratio(r->link_sparse.p99, r->raw_sparse.p99));
	printf("%-16s (svc-simd slept %.1f times per 1000 descriptors in the throughput run, %.0f per 1000 in the sparse run)\n",
	       "", r->link_tp.simd_sleeps * 1000.0 / count, r->link_sparse.simd_sleeps * 1000.0 / SPARSE_N);
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "count", required_argument, NULL, 'n' }, { "size", required_argument, NULL, 's' },
		{ "window", required_argument, NULL, 'w' }, { NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *end;
		unsigned long v = optarg ? strtoul(optarg, &end, 10) : 0;

		if (c == '?' || *end || v == 0) {
			fprintf(stderr, "dwcp bench handoff: bad option (want --count N --size BYTES --window N)\n");
			return -EINVAL;
		}
		if (c == 'n') o->count = (unsigned)v;
		if (c == 's') o->size = (unsigned)v;
		if (c == 'w') o->window = (unsigned)v;
	}
	if (o->window > MAX_WINDOW || o->size > BENCH_BUF_SIZE) {
		fprintf(stderr, "dwcp bench handoff: --window at most %u, --size at most %u\n",
			MAX_WINDOW, BENCH_BUF_SIZE);
		return -EINVAL;
	}
	return 0;
}

int dwcp_cli_bench_handoff(int argc, char **argv)
{
	struct opts o = { .count = 200000, .size = 1024, .window = 64 };
	struct mode_result sleep_r = { 0 }, poll_r = { 0 };
	char exe[512], *dir;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (parse(argc, argv, &o))
		return 2;
	exe[n > 0 ? n : 0] = '\0';
	dir = dirname(exe);
	printf("dwcp bench handoff: %u descriptors of %u B, client -> svc-simd (crc32c) -> client\n"
	       "throughput with %u in flight; latency = round trip with 1 in flight (%u samples);\n"
	       "sparse = round trip of one descriptor every %llu us (%u samples: the service may sleep)\n\n",
	       o.count, o.size, o.window, o.count / 10, SPARSE_GAP_NS / 1000, SPARSE_N);
	if (run_mode(dir, &o, 0, &sleep_r) || run_mode(dir, &o, 1, &poll_r)) {
		fprintf(stderr, "dwcp bench handoff: %s\n", sleep_r.err[0] ? sleep_r.err : poll_r.err);
		return 1;
	}
	printf("%-16s %-18s %9s %8s %8s %8s %9s %9s %6s\n", "mode", "path", "Mdesc/s", "p50_us",
	       "p99_us", "p99.9_us", "sparse50", "sparse99", "errors");
	print_mode("poll-then-sleep", &sleep_r, o.count);
	print_mode("dedicated-poll", &poll_r, o.count);
	return sleep_r.link_tp.errors || poll_r.link_tp.errors || sleep_r.link_sparse.errors ||
	       poll_r.link_sparse.errors ? 1 : 0;
}
