/* dwcp bench transfer: what the whole data path moves, beside what its
 * parts could move, all measured in this run on this machine.
 *
 * One deterministic VM-like image (4 KiB pages, a third each zero, text
 * and random, in a pseudo-random order) goes three ways:
 *   1. end to end: two throw-away nodes on loopback (A with peers.b, B
 *      listening), `dwcp recv` on B and `dwcp send` on A as separate
 *      processes, exactly as an operator runs them; the figures come from
 *      their --json output, and the received file is compared with the
 *      image byte for byte;
 *   2. the same library calls in one thread, back to back, per 64 KiB
 *      chunk: HDE encode (no base) -> zstd-1 -> AES-256-GCM seal -> CRC32C,
 *      then crc check -> open -> decompress -> HDE decode: what the
 *      pipeline would cost without IPC, services or network;
 *   3. raw kernel TCP over as many loopback connections as the nodes use,
 *      with 16 MiB socket buffers, carrying the same bytes.
 * (1)/(2) is what the multi-process pipeline costs over its compute, and
 * (1)/(3) how close it comes to the wire it runs on. (2) does sender and
 * receiver steps in turn on one core, where the pipeline runs them in
 * separate processes at once, and (2) keeps no delta cache (svc-mem
 * stores every page on both sides), so (1)/(2) may come out either side
 * of 1. Its wire bytes (headers included) should match send's bytes_wire. Each reference is
 * the median of RUNS runs; the transfer itself is run once, because a
 * second send of the same stream is a delta send (that is the HDE part).
 *
 * HDE part: a few bytes of 5% of the pages change, the same stream is
 * sent again, and its bytes on the wire are set beside zstd -1 of the
 * whole new image (what a transfer without delta encoding would move).
 *
 * Everything this bench creates (nodes, key, image, received files, the
 * children's output) is removed at the end, on failure and on SIGINT/
 * SIGTERM too; --keep leaves nodes and files for debugging and says how
 * to remove them.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zstd.h>

#include "cli/cli_internal.h"
#include "common/config.h"
#include "common/cpu.h"
#include "common/ops/aead.h"
#include "common/ops/compress.h"
#include "common/timeutil.h"
#include "ipc/attach.h"
#include "ipc/chunk.h"
#include "ipc/dcache.h"
#include "ipc/hde.h"
#include "ipc/shm.h"
#include "bench_data.h"
#include "bench_node.h"

#define MIB         (1024u * 1024u)
#define PAGE        4096u
#define CHUNK       65536u          /* stream.chunk_size, and the baseline's chunk */
#define RUNS        3u              /* references: median of this many */
#define STREAM_NAME "bench"
#define TCP_BUF     (16u * MIB)
#define TCP_IO      (1u * MIB)      /* bytes per send()/recv() call */
#define MAX_CONN    64u
#define DIRTY_PCT   5u              /* HDE part: pages changed, percent */
#define DIRTY_BYTES 8u              /* bytes changed in each such page */
#define RECV_SETTLE_MS 500u         /* let recv attach before send starts */
/* The services an operator's node runs: all (the built-in default). */
#define NODE_SERVICES NULL
/* Room in hugepage memory beyond the region itself (EAL's own heap and
 * segment rounding). */
#define HUGE_SLACK_MB 128u

struct opts {
	unsigned size_mb, connections;
	int keep;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	g_stop = sig;
}

static double now_s(void)
{
	return (double)dwcp_now_ns() / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return v[n / 2];
}

/* ---- the image ------------------------------------------------------ */

/* Kinds in a pseudo-random order rather than a fixed period, so neither
 * zstd's window nor HDE meets a pattern a real image would not have. */
static void make_image(uint8_t *p, size_t n)
{
	uint64_t s = 0x9E3779B97F4A7C15ull;

	for (size_t at = 0; at < n; at += PAGE) {
		switch (bench_rand(&s) % 3) {
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

/* 1 when the file at @p path is exactly the @p n bytes at @p p. */
static int same_as_file(const char *path, const uint8_t *p, size_t n)
{
	uint8_t *buf = malloc(TCP_IO);
	int fd = open(path, O_RDONLY | O_CLOEXEC), same = buf && fd >= 0;
	size_t at = 0;

	while (same) {
		ssize_t r = read(fd, buf, TCP_IO);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || at + (size_t)r > n || memcmp(buf, p + at, (size_t)r) != 0)
			break;
		at += (size_t)r;
	}
	same = same && at == n;
	if (fd >= 0)
		close(fd);
	free(buf);
	return same;
}

/* ---- (2) the same library calls in one thread ----------------------- */

enum step {
	S_DELTA, S_COMPRESS, S_SEAL, S_CRC, S_CHECK, S_OPEN, S_DECOMPRESS, S_UNDELTA, N_STEPS
};

static const char *const step_names[N_STEPS] = {
	"hde", "zstd-1", "seal", "crc32c", "crc check", "open", "unzstd", "hde decode",
};

struct inproc {
	struct dwcp_hde_codec hde;
	struct dwcp_compress_ctx *cc;
	struct dwcp_aead_key *key;
	uint8_t *hde_body, *comp, *wire, *plain, *dec;
	size_t cap;                 /* of each of them (wire: plus the header) */
	uint64_t nonce_ctr;
	uint64_t step_ns[N_STEPS];
	uint64_t wire_bytes;
	struct dwcp_err err;
};

struct inproc_result {
	double gbs;
	uint64_t wire_bytes;
	double step_share[N_STEPS];   /* of the run's time */
	int ok;
	char err[DWCP_ERR_MSG_MAX];
};

static uint64_t lap(struct inproc *x, enum step s, uint64_t t0)
{
	uint64_t t = dwcp_now_ns();

	x->step_ns[s] += t - t0;
	return t;
}

/* The sender's steps, as svc-mem and svc-simd record them in the chunk
 * header, with the wire image of the chunk left in x->wire. */
static int inproc_send(struct inproc *x, const uint8_t *src, uint64_t seq, uint64_t off)
{
	struct dwcp_chunk_hdr *h = (struct dwcp_chunk_hdr *)x->wire, aad;
	struct dwcp_hde_summary sum;
	uint64_t t = dwcp_now_ns();
	ssize_t n;

	dwcp_chunk_init(h, 1, seq, off, CHUNK);
	n = dwcp_hde_encode(&x->hde, src, CHUNK, NULL, x->hde_body, x->cap, &sum);
	if (n < 0)
		return dwcp_err_set(&x->err, (int)n, "hde encode: %s", strerror((int)-n));
	h->flags |= DWCP_CHUNK_F_DELTA;
	h->base_hash = sum.base_hash;
	h->body_len = (uint32_t)n;
	t = lap(x, S_DELTA, t);
	n = dwcp_compress(x->cc, DWCP_CODEC_ZSTD, 1, x->hde_body, h->body_len, x->comp, x->cap);
	if (n < 0)
		return dwcp_err_set(&x->err, (int)n, "zstd: %s", strerror((int)-n));
	h->codec = DWCP_CODEC_ZSTD;
	h->inner_len = h->body_len;
	h->body_len = (uint32_t)n;
	t = lap(x, S_COMPRESS, t);
	h->flags |= DWCP_CHUNK_F_SEALED;
	memcpy(h->nonce, &x->nonce_ctr, sizeof(x->nonce_ctr));   /* unique per chunk */
	x->nonce_ctr++;
	dwcp_chunk_aad(h, &aad);
	if (dwcp_aead_seal(x->key, h->nonce, &aad, sizeof(aad), x->comp, h->body_len,
			   dwcp_chunk_body(h), h->tag))
		return dwcp_err_set(&x->err, -EIO, "seal failed");
	t = lap(x, S_SEAL, t);
	h->crc = dwcp_chunk_crc(h);
	lap(x, S_CRC, t);
	x->wire_bytes += DWCP_CHUNK_HDR_LEN + h->body_len;
	return 0;
}

/* The receiver's inverse, from x->wire into @p dst. */
static int inproc_recv(struct inproc *x, uint8_t *dst)
{
	struct dwcp_chunk_hdr *h = (struct dwcp_chunk_hdr *)x->wire, aad;
	uint64_t t = dwcp_now_ns();
	ssize_t n;

	if (dwcp_chunk_check(h, DWCP_CHUNK_HDR_LEN + h->body_len, (uint32_t)x->cap, &x->err))
		return -EBADMSG;
	if (dwcp_chunk_crc(h) != h->crc)
		return dwcp_err_set(&x->err, -EBADMSG, "crc mismatch");
	t = lap(x, S_CHECK, t);
	dwcp_chunk_aad(h, &aad);
	if (dwcp_aead_open(x->key, h->nonce, &aad, sizeof(aad), dwcp_chunk_body(h), h->body_len,
			   h->tag, x->plain))
		return dwcp_err_set(&x->err, -EBADMSG, "open: authentication failed");
	t = lap(x, S_OPEN, t);
	n = dwcp_decompress(x->cc, (enum dwcp_codec)h->codec, x->plain, h->body_len, x->dec,
			    h->inner_len);
	if (n < 0)
		return dwcp_err_set(&x->err, (int)n, "unzstd: %s", strerror((int)-n));
	t = lap(x, S_DECOMPRESS, t);
	n = dwcp_hde_decode(&x->hde, x->dec, h->inner_len, h->orig_len, h->base_hash, NULL, dst);
	if (n < 0)
		return dwcp_err_set(&x->err, (int)n, "hde decode: %s", strerror((int)-n));
	lap(x, S_UNDELTA, t);
	return 0;
}

static int inproc_setup(struct inproc *x, const uint8_t key[DWCP_AEAD_KEY_LEN])
{
	struct dwcp_cpu_features cpu;

	dwcp_cpu_detect(&cpu);
	dwcp_hde_codec_init(&x->hde, &cpu);
	x->cap = dwcp_compress_bound(DWCP_CODEC_ZSTD, DWCP_HDE_BOUND(CHUNK)) + DWCP_ZSTD_HEADROOM;
	x->hde_body = malloc(x->cap), x->comp = malloc(x->cap), x->plain = malloc(x->cap);
	x->dec = malloc(x->cap), x->wire = aligned_alloc(64, DWCP_CHUNK_HDR_LEN + x->cap + 64);
	x->cc = dwcp_compress_ctx_create();
	x->key = dwcp_aead_key_create(DWCP_AEAD_BACKEND_DEFAULT, key, &cpu);
	if (!x->hde_body || !x->comp || !x->plain || !x->dec || !x->wire || !x->cc || !x->key)
		return dwcp_err_set(&x->err, -ENOMEM, "set-up failed (memory, or no AES-NI)");
	return 0;
}

static void inproc_teardown(struct inproc *x)
{
	free(x->hde_body), free(x->comp), free(x->plain), free(x->dec), free(x->wire);
	dwcp_compress_ctx_destroy(x->cc);
	dwcp_aead_key_destroy(x->key);
}

/* RUNS passes over the image, each checked against it; GB/s of input. */
static void run_inproc(const uint8_t *img, size_t n, uint8_t *out, struct inproc_result *r)
{
	struct inproc x = { 0 };
	uint8_t key[DWCP_AEAD_KEY_LEN];
	double gbs[RUNS];
	uint64_t total_ns = 0;

	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	if (inproc_setup(&x, key))
		goto out;
	for (unsigned run = 0; run < RUNS; run++) {
		uint64_t t0 = dwcp_now_ns(), ns;

		memset(x.step_ns, 0, sizeof(x.step_ns));
		x.wire_bytes = 0;
		for (size_t off = 0; off < n; off += CHUNK)
			if (inproc_send(&x, img + off, off / CHUNK, off) || inproc_recv(&x, out + off))
				goto out;
		ns = dwcp_now_ns() - t0;
		gbs[run] = (double)n / (double)ns;
		total_ns = ns;
		if (memcmp(out, img, n) != 0) {
			dwcp_err_set(&x.err, -EIO, "the decoded image differs from the input");
			goto out;
		}
	}
	r->gbs = median(gbs, RUNS);
	r->wire_bytes = x.wire_bytes;
	for (unsigned s = 0; s < N_STEPS; s++)
		r->step_share[s] = (double)x.step_ns[s] / (double)total_ns;
	r->ok = 1;
out:
	if (!r->ok)
		snprintf(r->err, sizeof(r->err), "%s", x.err.msg[0] ? x.err.msg : "set-up failed");
	inproc_teardown(&x);
}

/* ---- (3) raw TCP over loopback -------------------------------------- */

/* Threads wait here until every connection is up, so the clock starts
 * with all of them ready; abort sends them home when set-up failed. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open, abort;
};

struct tcp_side {
	int fd;
	const uint8_t *src;         /* sender: its share of the image */
	size_t n;
	struct gate *g;
	uint64_t t_end;
	int err;
};

static int gate_pass(struct gate *g)
{
	int abort;

	pthread_mutex_lock(&g->mu);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	abort = g->abort;
	pthread_mutex_unlock(&g->mu);
	return abort ? -1 : 0;
}

static void gate_open(struct gate *g, int abort)
{
	pthread_mutex_lock(&g->mu);
	g->open = 1;
	g->abort = abort;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* As large as asked: the FORCE variants pass net.core.[rw]mem_max when
 * we may (root), the plain ones are capped by it otherwise. */
static void set_bufs(int fd)
{
	int v = (int)TCP_BUF;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

static void *tcp_sender(void *arg)
{
	struct tcp_side *t = arg;
	size_t done = 0;

	if (gate_pass(t->g))
		return NULL;
	while (done < t->n) {
		size_t k = t->n - done < TCP_IO ? t->n - done : TCP_IO;
		ssize_t w = send(t->fd, t->src + done, k, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			t->err = w < 0 ? errno : EIO;
			break;
		}
		done += (size_t)w;
	}
	t->t_end = dwcp_now_ns();
	return NULL;
}

static void *tcp_receiver(void *arg)
{
	struct tcp_side *t = arg;
	uint8_t *buf = malloc(TCP_IO);
	size_t done = 0;

	if (gate_pass(t->g)) {
		free(buf);
		return NULL;
	}
	while (buf && done < t->n) {
		ssize_t r = recv(t->fd, buf, TCP_IO, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			t->err = r < 0 ? errno : EPIPE;
			break;
		}
		done += (size_t)r;
	}
	if (!buf)
		t->err = ENOMEM;
	t->t_end = dwcp_now_ns();
	free(buf);
	return NULL;
}

static int tcp_listener(struct sockaddr_in *a, unsigned backlog)
{
	socklen_t len = sizeof(*a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	set_bufs(fd);   /* before listen: accepted sockets inherit it and its window scale */
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)a, sizeof(*a)) || listen(fd, (int)backlog) ||
	    getsockname(fd, (struct sockaddr *)a, &len)) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* Connect @p conns pairs; tx[i] sends to rx[i]. */
static int tcp_connect_all(unsigned conns, struct tcp_side *tx, struct tcp_side *rx)
{
	struct sockaddr_in a;
	int lfd = tcp_listener(&a, conns), rc = 0;

	if (lfd < 0)
		return lfd;
	for (unsigned i = 0; i < conns && !rc; i++) {
		tx[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (tx[i].fd < 0) {
			rc = -errno;
			break;
		}
		set_bufs(tx[i].fd);
		if (connect(tx[i].fd, (struct sockaddr *)&a, sizeof(a)) ||
		    (rx[i].fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			rc = -errno;
	}
	close(lfd);
	return rc;
}

/* One run: the image split over @p conns connections, a sender and a
 * receiver thread each; GB/s from the open gate to the last byte
 * received, or < 0 on any failure. @p eff_buf: SO_SNDBUF as granted. */
static double tcp_run(const uint8_t *img, size_t n, unsigned conns, int *eff_buf)
{
	struct tcp_side tx[MAX_CONN], rx[MAX_CONN];
	struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	pthread_t th[2 * MAX_CONN];
	unsigned started = 0;
	uint64_t t0, t_end = 0;
	socklen_t sl = sizeof(*eff_buf);
	size_t per = n / conns;
	int bad;

	memset(tx, 0, sizeof(tx)), memset(rx, 0, sizeof(rx));
	for (unsigned i = 0; i < MAX_CONN; i++)
		tx[i].fd = rx[i].fd = -1;
	bad = tcp_connect_all(conns, tx, rx) != 0;
	for (unsigned i = 0; i < conns && !bad; i++) {
		tx[i].src = img + per * i;
		tx[i].n = rx[i].n = i + 1 == conns ? n - per * i : per;
		tx[i].g = rx[i].g = &g;
		getsockopt(tx[i].fd, SOL_SOCKET, SO_SNDBUF, eff_buf, &sl);
		if (pthread_create(&th[started], NULL, tcp_sender, &tx[i]) == 0)
			started++;
		else
			bad = 1;
		if (!bad && pthread_create(&th[started], NULL, tcp_receiver, &rx[i]) == 0)
			started++;
		else
			bad = 1;
	}
	t0 = dwcp_now_ns();
	gate_open(&g, bad);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < conns; i++) {
		if (tx[i].err || rx[i].err)
			bad = 1;
		if (rx[i].t_end > t_end)
			t_end = rx[i].t_end;
		if (tx[i].fd >= 0)
			close(tx[i].fd);
		if (rx[i].fd >= 0)
			close(rx[i].fd);
	}
	return bad || t_end <= t0 ? -1.0 : (double)n / (double)(t_end - t0);
}

/* Median of RUNS runs; < 0 when any failed. */
static double run_tcp(const uint8_t *img, size_t n, unsigned conns, int *eff_buf)
{
	double gbs[RUNS];

	for (unsigned r = 0; r < RUNS; r++)
		if ((gbs[r] = tcp_run(img, n, conns, eff_buf)) < 0)
			return -1.0;
	return median(gbs, RUNS);
}

/* ---- (1) dwcp send -> dwcp recv between two nodes ------------------- */

struct ctx {
	const struct opts *o;
	char bin_dir[512];
	char dir[64];                 /* our temporary directory */
	char inst_a[32], inst_b[32];
	int a_up, b_up;
	const uint8_t *img;
	size_t n;
	unsigned dcache_mb, hugepage_mb;
};

/* What one side's --json said; NAN where a key was missing. */
struct side {
	double bytes, wire, seconds, chunks, p50, p99, p999;
	double raw_resends, rejected;   /* chunks resent raw after the receiver lacked a base */
};

struct xfer {
	struct side snd, rcv;
	double wall_s;
	int identical, ok;
};

/* Every name this bench may create in ctx.dir, so clean-up is a list. */
static const char *const tmp_names[] = {
	"key", "image", "out1", "out2", "send1.json", "send1.err", "recv1.json", "recv1.err",
	"send2.json", "send2.err", "recv2.json", "recv2.err", "keygen.out", "probe.out",
};

static void path_of(const struct ctx *c, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", c->dir, name);
}

/* bin_dir/dwcp with @p argv; stdout and stderr to files in our directory
 * (a pipe could fill and stall the child). @return its pid or -1. */
static pid_t spawn_dwcp(const struct ctx *c, char *const argv[], const char *out_name,
			const char *err_name)
{
	char exe[600], out[128], err[128];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	snprintf(exe, sizeof(exe), "%s/dwcp", c->bin_dir);
	path_of(c, out_name, out, sizeof(out));
	path_of(c, err_name, err, sizeof(err));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	rc = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return rc ? -1 : pid;
}

/* Wait for our child @p pid at most @p timeout_ms; past it, or when a
 * signal asked us to stop, kill it (it is ours, by pid).
 * @return its exit status; -ETIMEDOUT or -EINTR after killing it;
 *         -ECHILD when it died by a signal. */
static int wait_child(pid_t pid, unsigned timeout_ms)
{
	uint64_t deadline = dwcp_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct timespec ts = { 0, 10000000 };
	int st = 0;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -ECHILD;
		if (r < 0 && errno != EINTR)
			return -ECHILD;
		if (g_stop || dwcp_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return g_stop ? -EINTR : -ETIMEDOUT;
		}
		nanosleep(&ts, NULL);
	}
}

static const char *status_text(int rc, char *buf, size_t len)
{
	if (rc == -ETIMEDOUT)
		snprintf(buf, len, "timed out (killed)");
	else if (rc == -EINTR)
		snprintf(buf, len, "interrupted (killed)");
	else if (rc == -ECHILD)
		snprintf(buf, len, "died by a signal");
	else
		snprintf(buf, len, "exit status %d", rc);
	return buf;
}

/* The last @p lines lines of a file of ours, indented, to stderr. */
static void show_tail(const char *path, unsigned lines)
{
	char buf[4096];
	FILE *f = fopen(path, "re");
	size_t n;
	unsigned seen = 0;

	if (!f)
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	if (n == sizeof(buf) - 1) {   /* long file: the end is what matters */
		fseek(f, -(long)(sizeof(buf) - 1), SEEK_END);
		n = fread(buf, 1, sizeof(buf) - 1, f);
	}
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	while (n > 0 && seen < lines)
		if (buf[--n] == '\n')
			seen++;
	if (n == 0)
		fprintf(stderr, "    (empty)\n");
	else
		fprintf(stderr, "    | %s\n", buf + (seen == lines ? n + 1 : 0));
}

static void show_failure(const struct ctx *c, const char *what, int rc, const char *err_name,
			 const char *out_name)
{
	char p[128], st[64];

	fprintf(stderr, "dwcp bench transfer: `%s` failed: %s\n", what, status_text(rc, st, sizeof(st)));
	path_of(c, err_name, p, sizeof(p));
	fprintf(stderr, "  stderr (end):\n");
	show_tail(p, 15);
	path_of(c, out_name, p, sizeof(p));
	fprintf(stderr, "  stdout (end):\n");
	show_tail(p, 5);
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The --json object a child printed (the first one in its output). */
static int read_side(const struct ctx *c, const char *name, const char *bytes_key, struct side *s)
{
	char p[128], buf[65536], *brace;
	FILE *f;
	size_t n;
	cJSON *root;

	path_of(c, name, p, sizeof(p));
	f = fopen(p, "re");
	if (!f)
		return -ENOENT;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	brace = strchr(buf, '{');
	root = brace ? cJSON_Parse(brace) : NULL;
	if (!root)
		return -EBADMSG;
	s->bytes = num(root, bytes_key), s->wire = num(root, "bytes_wire");
	s->seconds = num(root, "seconds"), s->chunks = num(root, "chunks");
	s->p50 = num(root, "p50_us"), s->p99 = num(root, "p99_us"), s->p999 = num(root, "p999_us");
	s->raw_resends = num(root, "raw_resends"), s->rejected = num(root, "rejected");
	cJSON_Delete(root);
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000l };

	while (nanosleep(&ts, &ts) && errno == EINTR && !g_stop)
		;
}

/* One transfer of the image file: recv on B in the background, then send
 * on A; @p k (1, 2) names its files. */
static void run_xfer(struct ctx *c, unsigned k, struct xfer *x)
{
	char out[128], img[128], s_json[16], s_err[16], r_json[16], r_err[16], cmd[512];
	unsigned send_ms = 60000u + c->o->size_mb * 500u;
	pid_t rpid, spid;
	int rc;
	double t0;

	snprintf(s_json, sizeof(s_json), "send%u.json", k), snprintf(s_err, sizeof(s_err), "send%u.err", k);
	snprintf(r_json, sizeof(r_json), "recv%u.json", k), snprintf(r_err, sizeof(r_err), "recv%u.err", k);
	snprintf(out, sizeof(out), "%s/out%u", c->dir, k);
	path_of(c, "image", img, sizeof(img));
	rpid = spawn_dwcp(c, (char *const[]){ "dwcp", "recv", "--instance", c->inst_b, "--stream",
					      STREAM_NAME, "--out", out, "--json", NULL },
			  r_json, r_err);
	snprintf(cmd, sizeof(cmd), "dwcp recv --instance %s --stream %s --out %s --json", c->inst_b,
		 STREAM_NAME, out);
	if (rpid < 0) {
		fprintf(stderr, "dwcp bench transfer: cannot start `%s`\n", cmd);
		return;
	}
	/* No readiness signal is specified for recv, so give it time to
	 * attach; if it already gave up, say so rather than send into nothing. */
	sleep_ms(RECV_SETTLE_MS);
	if (waitpid(rpid, &rc, WNOHANG) == rpid) {
		show_failure(c, cmd, WIFEXITED(rc) ? WEXITSTATUS(rc) : -ECHILD, r_err, r_json);
		return;
	}
	t0 = now_s();
	spid = spawn_dwcp(c, (char *const[]){ "dwcp", "send", "--instance", c->inst_a, "--stream",
					      STREAM_NAME, "--file", img, "--to", "b", "--json", NULL },
			  s_json, s_err);
	rc = spid < 0 ? -ECHILD : wait_child(spid, send_ms);
	if (rc != 0) {
		snprintf(cmd, sizeof(cmd), "dwcp send --instance %s --stream %s --file %s --to b --json",
			 c->inst_a, STREAM_NAME, img);
		show_failure(c, cmd, rc, s_err, s_json);
		wait_child(rpid, 0);
		return;
	}
	rc = wait_child(rpid, 30000);
	x->wall_s = now_s() - t0;
	if (rc != 0) {
		show_failure(c, cmd, rc, r_err, r_json);
		return;
	}
	if (read_side(c, s_json, "bytes_in", &x->snd) || read_side(c, r_json, "bytes_out", &x->rcv)) {
		fprintf(stderr, "dwcp bench transfer: send or recv printed no JSON object (see below)\n");
		show_failure(c, "dwcp send / recv --json", 0, s_json, r_json);
		return;
	}
	x->identical = same_as_file(out, c->img, c->n);
	x->ok = 1;
}

/* A port nobody listens on now (the node binds it a moment later). */
static unsigned free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unsigned port = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* A delta cache that keeps every base the second send needs, and the
 * hugepage memory for it beside the default pool. The cache is a FIFO
 * ring and each side re-inserts every page it passes, so the second
 * send's inserts evict the first send's entries a ring length earlier in
 * *that side's* processing order. The sender goes in sequence order; the
 * receiver's order is permuted by up to a window of chunks (striping over
 * connections), so an image-sized cache (measured: +1.6 % pages) made
 * the receiver evict bases it had not used yet, and tens of chunks per
 * 64 MiB went again raw. Hence room for the image, a quarter more, and
 * twice a window of chunks. */
static void size_nodes(struct ctx *c)
{
	uint64_t pages = c->n / PAGE, need;
	struct dwcp_config d;
	struct dwcp_shm_params p;

	dwcp_config_defaults(&d);
	need = pages + pages / 4 + 2ull * d.window * (CHUNK / PAGE) + 64;
	c->dcache_mb = c->o->size_mb;
	while (dwcp_dcache_capacity((uint64_t)c->dcache_mb << 20) < need)
		c->dcache_mb++;
	p = (struct dwcp_shm_params){
		.n_bufs = d.pool_buffers, .buf_size = d.pool_buf_size, .link_depth = d.link_depth,
		.heartbeat_ms = d.heartbeat_ms, .spin_us = d.spin_us, .poll_mode = d.poll_mode,
		.dcache_size = (uint64_t)c->dcache_mb << 20, .instance = "size",
	};
	c->hugepage_mb = (unsigned)(dwcp_shm_size(&p) >> 20) + HUGE_SLACK_MB;
}

static void show_node_log(const char *instance)
{
	char p[300];

	snprintf(p, sizeof(p), "%s/%s/supervisor.log", dwcp_attach_run_dir(NULL), instance);
	fprintf(stderr, "  %s (end):\n", p);
	show_tail(p, 15);
}

static int start_node(struct ctx *c, const char *instance, const char *net, int *up)
{
	char extra[1024], key[128], err[256];
	struct bench_node_cfg nc = { c->hugepage_mb, NODE_SERVICES, extra };

	path_of(c, "key", key, sizeof(key));
	snprintf(extra, sizeof(extra),
		 "%s[stream]\nchunk_size = 64K\ncodec = zstd\n[crypto]\nkey_file = %s\n"
		 "[mem]\ndelta_cache_mb = %u\n",
		 net, key, c->dcache_mb);
	if (bench_node_start_cfg(c->bin_dir, instance, &nc, err, sizeof(err)) == 0) {
		*up = 1;
		return 0;
	}
	fprintf(stderr, "dwcp bench transfer: %s\n  its config:\n[supervisor]\nhugepage_mb = %u\n%s",
		err, c->hugepage_mb, extra);
	show_node_log(instance);
	/* A failed start may leave the run directory (log, lock) behind. */
	bench_node_stop(c->bin_dir, instance);
	return -1;
}

/* Key, both nodes (B listens, A knows B as peer "b"). */
static int start_nodes(struct ctx *c)
{
	char key[128], net[256];
	unsigned port_a = free_port(), port_b = free_port();
	pid_t pid;
	int rc;

	path_of(c, "key", key, sizeof(key));
	pid = spawn_dwcp(c, (char *const[]){ "dwcp", "keygen", key, NULL }, "keygen.out", "keygen.out");
	rc = pid < 0 ? -ECHILD : wait_child(pid, 10000);
	if (rc != 0) {
		show_failure(c, "dwcp keygen", rc, "keygen.out", "keygen.out");
		return -1;
	}
	if (!port_a || !port_b || port_a == port_b) {
		fprintf(stderr, "dwcp bench transfer: no free loopback port\n");
		return -1;
	}
	size_nodes(c);
	snprintf(net, sizeof(net), "[net]\nlisten = 127.0.0.1:%u\nconnections = %u\n[peers]\na = 127.0.0.1:%u\n",
		 port_b, c->o->connections, port_a);
	if (start_node(c, c->inst_b, net, &c->b_up))
		return -1;
	/* A listens too, on a port of its own: two nodes on one host must
	 * not both take a default port. */
	snprintf(net, sizeof(net), "[net]\nlisten = 127.0.0.1:%u\nconnections = %u\n[peers]\nb = 127.0.0.1:%u\n",
		 port_a, c->o->connections, port_b);
	return start_node(c, c->inst_a, net, &c->a_up);
}

/* `dwcp send --help` works once the send command exists in this build. */
static int send_available(const struct ctx *c)
{
	pid_t pid = spawn_dwcp(c, (char *const[]){ "dwcp", "send", "--help", NULL }, "probe.out",
			       "probe.out");

	return pid >= 0 && wait_child(pid, 10000) == 0;
}

static void cleanup(struct ctx *c)
{
	char p[128];

	if (c->o->keep) {
		if (c->a_up || c->b_up)
			printf("\n--keep: nodes left running; stop them with\n"
			       "  %s/dwcp-supervisor --instance %s stop; %s/dwcp-supervisor --instance %s stop\n",
			       c->bin_dir, c->inst_a, c->bin_dir, c->inst_b);
		printf("--keep: files left in %s (remove with rm -r %s)\n", c->dir, c->dir);
		return;
	}
	if (c->a_up)
		bench_node_stop(c->bin_dir, c->inst_a);
	if (c->b_up)
		bench_node_stop(c->bin_dir, c->inst_b);
	for (size_t i = 0; i < sizeof(tmp_names) / sizeof(tmp_names[0]); i++) {
		path_of(c, tmp_names[i], p, sizeof(p));
		unlink(p);
	}
	rmdir(c->dir);
}

/* ---- output --------------------------------------------------------- */

static void cell(double v, int width, int prec)
{
	if (isnan(v))
		printf(" %*s", width, "-");
	else
		printf(" %*.*f", width, prec, v);
}

static void row(const char *name, double gbs, double wire, const struct side *lat)
{
	printf("%-44s", name);
	cell(gbs, 8, 3);
	cell(wire / MIB, 10, 1);
	cell(lat ? lat->p50 : NAN, 9, 1);
	cell(lat ? lat->p99 : NAN, 9, 1);
	cell(lat ? lat->p999 : NAN, 9, 1);
	printf("\n");
}

static void ratio_row(const char *name, double a, double b)
{
	printf("%-44s", name);
	if (isnan(a) || isnan(b) || b <= 0)
		printf(" %8s\n", "-");
	else
		printf(" %7.3fx\n", a / b);
}

static double xfer_gbs(const struct xfer *x, size_t n)
{
	double bytes = isnan(x->snd.bytes) ? (double)n : x->snd.bytes;

	return x->ok && x->snd.seconds > 0 ? bytes / x->snd.seconds / 1e9 : NAN;
}

static void print_main(const struct ctx *c, const struct xfer *x, const struct inproc_result *ip,
		       double tcp, int tcp_buf)
{
	char name[64];
	double e2e = xfer_gbs(x, c->n), ipg = ip->ok ? ip->gbs : NAN, tg = tcp > 0 ? tcp : NAN;

	printf("%-44s %8s %10s %9s %9s %9s\n", "path", "GB/s", "wire MiB", "p50_us", "p99_us",
	       "p99.9_us");
	row("dwcp send -> dwcp recv (two nodes, loopback)", e2e, x->ok ? x->snd.wire : NAN,
	    x->ok ? &x->snd : NULL);
	row("same ops in one thread (no IPC, no network)", ipg, ip->ok ? (double)ip->wire_bytes : NAN,
	    NULL);
	snprintf(name, sizeof(name), "raw TCP, %u loopback connections", c->o->connections);
	row(name, tg, tcp > 0 ? (double)c->n : NAN, NULL);
	ratio_row("ratio dwcp / one thread", e2e, ipg);
	ratio_row("ratio dwcp / raw TCP", e2e, tg);
	if (x->ok) {
		printf("(send: %.0f chunks in %.3f s, %.0f resent raw; recv: %.3f s, latency "
		       "p50/p99/p99.9 %.1f/%.1f/%.1f us;\n wall time from send's start to both "
		       "exiting %.3f s; received file bit-identical: %s)\n",
		       x->snd.chunks, x->snd.seconds, x->snd.raw_resends, x->rcv.seconds, x->rcv.p50,
		       x->rcv.p99, x->rcv.p999, x->wall_s, x->identical ? "yes" : "NO");
		printf("(the pipeline runs sender and receiver steps in separate processes at once; "
		       "the one-thread figure does both in turn)\n");
	}
	if (ip->ok) {
		printf("(one thread, share of its time:");
		for (unsigned s = 0; s < N_STEPS; s++)
			printf(" %s %.0f%%", step_names[s], 100.0 * ip->step_share[s]);
		printf(")\n");
	}
	if (tcp > 0)
		printf("(raw TCP: a sender and a receiver thread per connection; socket buffers asked "
		       "%u MiB, SO_SNDBUF reads %d MiB: Linux doubles it for its bookkeeping)\n",
		       TCP_BUF / MIB, tcp_buf / (int)MIB);
}

static void print_hde(const struct ctx *c, const struct xfer *x, size_t dirty, double zstd_bytes)
{
	printf("\nHDE: the same stream sent again after changing %u bytes in each of %zu pages "
	       "(%.1f %% of %zu 4 KiB pages)\n", DIRTY_BYTES, dirty, 100.0 * (double)dirty /
	       (double)(c->n / PAGE), c->n / PAGE);
	printf("%-44s %14s %10s\n", "", "bytes", "MiB");
	printf("%-44s", "dwcp delta send, bytes on the wire");
	cell(x->ok ? x->snd.wire : NAN, 14, 0);
	cell(x->ok ? x->snd.wire / MIB : NAN, 10, 2);
	printf("\n%-44s", "zstd -1 of the whole new image");
	cell(zstd_bytes, 14, 0);
	cell(zstd_bytes / MIB, 10, 2);
	printf("\n");
	ratio_row("ratio dwcp / zstd -1", x->ok ? x->snd.wire : NAN, zstd_bytes);
	if (x->ok)
		printf("(delta send: %.3f GB/s, %.3f s, %.0f chunks resent raw for want of a base at "
		       "the receiver; received file bit-identical: %s)\n",
		       xfer_gbs(x, c->n), x->snd.seconds, x->snd.raw_resends,
		       x->identical ? "yes" : "NO");
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

/* ---- driver --------------------------------------------------------- */

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' }, { "connections", required_argument, NULL, 'c' },
		{ "keep", no_argument, NULL, 'k' }, { NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *end = NULL;
		unsigned long v = 0;

		if (ch == 'k') {
			o->keep = 1;
			continue;
		}
		if (ch != '?')
			v = strtoul(optarg, &end, 10);
		if (ch == '?' || !end || *end || v == 0 || (ch == 's' && v > 16384) ||
		    (ch == 'c' && v > MAX_CONN)) {
			fprintf(stderr, "dwcp bench transfer: bad option (want --size MiB (1..16384) "
					"--connections N (1..%u) --keep)\n", MAX_CONN);
			return -EINVAL;
		}
		if (ch == 's')
			o->size_mb = (unsigned)v;
		if (ch == 'c')
			o->connections = (unsigned)v;
	}
	if (optind < argc) {
		fprintf(stderr, "dwcp bench transfer: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* The two transfers and the zstd reference; 0 when both went through
 * and both received files are the image. */
static int run_pipeline(struct ctx *c, uint8_t *img, struct xfer *x1, struct xfer *x2,
			size_t *dirty, double *zstd_bytes)
{
	char p[128];
	int rc;

	path_of(c, "image", p, sizeof(p));
	if (!send_available(c)) {
		fprintf(stderr, "dwcp bench transfer: `dwcp send --help` fails in this build: "
				"end-to-end figures skipped\n");
		return -1;
	}
	if ((rc = write_file(p, img, c->n)) != 0) {
		fprintf(stderr, "dwcp bench transfer: cannot write %s: %s\n", p, strerror(-rc));
		return -1;
	}
	if (g_stop || start_nodes(c))
		return -1;
	run_xfer(c, 1, x1);
	if (!x1->ok || g_stop)
		return -1;
	*dirty = dirty_image(img, c->n);
	if ((rc = write_file(p, img, c->n)) != 0) {
		fprintf(stderr, "dwcp bench transfer: cannot write %s: %s\n", p, strerror(-rc));
		return -1;
	}
	run_xfer(c, 2, x2);
	*zstd_bytes = zstd1_size(img, c->n);
	return x2->ok && x1->identical && x2->identical ? 0 : -1;
}

int dwcp_cli_bench_transfer(int argc, char **argv)
{
	struct opts o = { .size_mb = 256, .connections = 4, .keep = 0 };
	struct ctx c = { .o = &o };
	struct inproc_result ip = { 0 };
	struct xfer x1 = { 0 }, x2 = { 0 };
	double tcp = -1.0, zstd_bytes = NAN;
	size_t dirty = 0;
	int tcp_buf = 0, rc;
	uint8_t *img, *out;
	char *dir;
	ssize_t n = readlink("/proc/self/exe", c.bin_dir, sizeof(c.bin_dir) - 1);

	if (parse(argc, argv, &o))
		return 2;
	c.bin_dir[n > 0 ? n : 0] = '\0';
	dir = dirname(c.bin_dir);   /* may point into bin_dir itself */
	memmove(c.bin_dir, dir, strlen(dir) + 1);
	c.n = (size_t)o.size_mb * MIB;
	snprintf(c.inst_a, sizeof(c.inst_a), "xfer%da", (int)getpid());
	snprintf(c.inst_b, sizeof(c.inst_b), "xfer%db", (int)getpid());
	snprintf(c.dir, sizeof(c.dir), "/tmp/dwcp-transfer-XXXXXX");
	img = malloc(c.n), out = malloc(c.n);
	if (!img || !out || !mkdtemp(c.dir)) {
		fprintf(stderr, "dwcp bench transfer: set-up failed: %s\n", strerror(errno));
		free(img), free(out);
		return 1;
	}
	catch_signals();
	make_image(img, c.n);
	c.img = img;
	printf("dwcp bench transfer: %u MiB image (4 KiB pages, 1/3 each zero, text, random), "
	       "%u KiB chunks,\nHDE + zstd-1 + AES-256-GCM + CRC32C, %u connections; "
	       "GB/s = 10^9 input bytes per second\n\n", o.size_mb, CHUNK / 1024, o.connections);
	fflush(stdout);
	run_inproc(img, c.n, out, &ip);
	if (!ip.ok)
		fprintf(stderr, "dwcp bench transfer: one-thread reference failed: %s\n", ip.err);
	free(out);
	if (!g_stop && (tcp = run_tcp(img, c.n, o.connections, &tcp_buf)) < 0)
		fprintf(stderr, "dwcp bench transfer: raw TCP reference failed\n");
	rc = g_stop ? -1 : run_pipeline(&c, img, &x1, &x2, &dirty, &zstd_bytes);
	print_main(&c, &x1, &ip, tcp, tcp_buf);
	if (x1.ok)
		print_hde(&c, &x2, dirty, zstd_bytes);
	cleanup(&c);
	free(img);
	if (g_stop)
		fprintf(stderr, "dwcp bench transfer: interrupted; nodes and files cleaned up\n");
	return rc || !ip.ok || tcp < 0 || g_stop ? 1 : 0;
}
