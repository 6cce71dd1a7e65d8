/* The references `dwcp bench transfer` sets the pipeline beside, measured
 * in the same run on the same image:
 *   - the same library calls in one thread, back to back, per 64 KiB
 *     chunk: HDE encode (no base) -> zstd-1 -> AES-256-GCM seal ->
 *     CRC32C, then crc check -> open -> decompress -> HDE decode: what the
 *     pipeline would cost without IPC, services or network;
 *   - raw kernel TCP over as many loopback connections as the nodes use,
 *     with 16 MiB socket buffers, carrying the same bytes.
 * Each is the median of RUNS runs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/cpu.h"
#include "common/err.h"
#include "common/ops/aead.h"
#include "common/ops/compress.h"
#include "common/timeutil.h"
#include "ipc/chunk.h"
#include "common/ops/hde.h"
#include "transfer_pvt.h"

#define TCP_BUF     (16u * MIB)
#define TCP_IO      (1u * MIB)      /* bytes per send()/recv() call */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_xfer_median(double *v, unsigned n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return v[n / 2];
}

/* ---- the same library calls in one thread ------------------------- */

const char *const bench_xfer_step_names[N_STEPS] = {
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

static uint64_t lap(struct inproc *x, enum bench_xfer_step s, uint64_t t0)
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
	/* C11 aligned_alloc wants a size that is a multiple of the alignment
	 * (glibc does not care; ASan aborts). */
	x->dec = malloc(x->cap);
	x->wire = aligned_alloc(64, (DWCP_CHUNK_HDR_LEN + x->cap + 64 + 63) & ~(size_t)63);
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
void bench_xfer_run_inproc(const uint8_t *img, size_t n, uint8_t *out, struct bench_xfer_inproc *r)
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
	r->gbs = bench_xfer_median(gbs, RUNS);
	r->wire_bytes = x.wire_bytes;
	for (unsigned s = 0; s < N_STEPS; s++)
		r->step_share[s] = (double)x.step_ns[s] / (double)total_ns;
	r->ok = 1;
out:
	if (!r->ok)
		snprintf(r->err, sizeof(r->err), "%s", x.err.msg[0] ? x.err.msg : "set-up failed");
	inproc_teardown(&x);
}

/* ---- raw TCP over loopback ---------------------------------------- */

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
double bench_xfer_run_tcp(const uint8_t *img, size_t n, unsigned conns, int *eff_buf)
{
	double gbs[RUNS];

	for (unsigned r = 0; r < RUNS; r++)
		if ((gbs[r] = tcp_run(img, n, conns, eff_buf)) < 0)
			return -1.0;
	return bench_xfer_median(gbs, RUNS);
}
