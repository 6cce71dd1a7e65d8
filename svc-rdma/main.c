/* svc-rdma: the RDMA transport (rdma_internal.h). With a verbs device and
 * the node key it registers the node's buffer pool once (rc.h: one MR,
 * remote access only through the memory windows of grants), listens where
 * svc-net listens, and is READY: svc-net then hands it the chunks of every
 * peer it has an RDMA connection to. Without a device, or without a key
 * (RDMA connections prove it), it stays STANDBY and svc-net carries
 * every chunk over TCP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/keyfile.h"
#include "common/log.h"
#include "ipc/streams.h"
#include "ipc/waker.h"
#include "rdma_internal.h"

_Static_assert(DWCP_KEYFILE_KEY_LEN == RDMA_RC_KEY_LEN, "the node key is the RDMA auth key");

/* ---- the waker thread ---- */

/* A completion channel fired (id 1 + connection): the loop drains only
 * those (rdma_conn_poll); the rdma_cm channel (id 0) is read every turn. */
static void waker_event(void *arg, uint64_t id, uint32_t events)
{
	struct rdma_svc *r = arg;

	(void)events;
	if (id >= 1 && id <= RDMA_MAX_CONNS)
		__atomic_fetch_or(&r->cq_ready, 1ull << (id - 1), __ATOMIC_RELEASE);
}

int rdma_waker_watch(struct rdma_svc *r, int fd, uint64_t id)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = id };

	return epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

void rdma_waker_unwatch(struct rdma_svc *r, int fd)
{
	epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- the service ---- */

/* The device, its registration, the key. @return 0 READY, 1 STANDBY (reason). */
static int open_device(struct rdma_svc *r, char *reason, size_t n)
{
	const struct dwcp_shm *shm = &r->ctx->at.shm;
	const char *key_file = shm->ctl->key_file;
	size_t len = (size_t)shm->n_bufs * shm->buf_size;
	struct dwcp_err err = { 0 };
	struct ibv_context **list;
	int count = 0;

	/* librdmacm's own contexts: the ids it makes for connections point
	 * at these, and a QP must be made on the context its id has. */
	list = rdma_get_devices(&count);
	if (!list || count == 0) {
		if (list)
			rdma_free_devices(list);
		snprintf(reason, n, "no RDMA device");
		return 1;
	}
	/* The first device: a connection whose route lies on another is refused (docs/rdma.md). */
	r->verbs = list[0];
	rdma_free_devices(list);
	snprintf(r->dev_name, sizeof(r->dev_name), "%s", ibv_get_device_name(r->verbs->device));
	if (rdma_rc_dev_open(&r->dev, r->verbs, shm->data, len, &err)) {
		snprintf(reason, n, "%.200s", err.msg);
		return 1;
	}
	if (!key_file[0]) {
		snprintf(reason, n, "RDMA device %s: the pool's %zu MiB registered, but no [crypto] key_file: RDMA connections prove the node key, so svc-net carries every chunk over TCP",
			 r->dev_name, len >> 20);
		return 1;
	}
	if (dwcp_keyfile_read(key_file, r->key, &err)) {
		snprintf(reason, n, "%.200s", err.msg);
		return 1;
	}
	r->keyed = true;
	return 0;
}

static int rdma_init(struct dwcp_svc_ctx *ctx, char *reason, size_t n)
{
	const size_t pool_mib = ((size_t)ctx->at.shm.n_bufs * ctx->at.shm.buf_size) >> 20;
	struct rdma_svc *r = calloc(1, sizeof(*r));
	char why[256] = "";
	int rc, fl;

	if (!r)
		return -1;
	ctx->priv = r;
	r->ctx = ctx;
	r->epfd = -1;
	for (unsigned i = 0; i < RDMA_MAX_CONNS; i++) {
		r->conns[i].ent = -1;
		for (unsigned s = 0; s < RDMA_GRANTS; s++)
			r->conns[i].lent[s] = RDMA_NO_BUF;
	}
	r->worker = ctx->at.shm.ctl->slots[ctx->at.slot].sup.worker;
	/* A new generation holds no connection: what the last one published is stale. */
	for (unsigned i = 0; i < DWCP_MAX_PEERS; i++)
		__atomic_fetch_and(&ctx->at.shm.node->peers[i].rdma, ~dwcp_peer_rdma_bit(r->worker),
				   __ATOMIC_RELEASE);
	rc = open_device(r, reason, n);
	if (rc)
		return rc;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->ec = rdma_create_event_channel();
	if (r->epfd < 0 || !r->ec) {
		snprintf(reason, n, "cannot create the rdma_cm event channel: %s", strerror(errno));
		return 1;
	}
	fl = fcntl(r->ec->fd, F_GETFL);
	if (fcntl(r->ec->fd, F_SETFL, fl | O_NONBLOCK) || rdma_waker_watch(r, r->ec->fd, 0)) {
		snprintf(reason, n, "cannot watch the rdma_cm event channel: %s", strerror(errno));
		return 1;
	}
	r->waker = (struct dwcp_waker){ .epfd = r->epfd, .on_event = waker_event, .arg = r,
					 .pending = &r->pending, .shm = &r->ctx->at.shm,
					 .slot = r->ctx->at.slot };
	if (dwcp_waker_start(&r->waker)) {
		snprintf(reason, n, "cannot start the waker thread");
		return 1;
	}
	if (rdma_reaper_start(r))
		DWCP_WARN("svc-rdma: no reaper thread: connection teardowns run on the loop");
	/* One listener per node (rdma_cm has one per port): the first worker.
	 * The others only connect out, each with its own queue pair. */
	if (r->worker == 0 && rdma_conn_listen(r, why, sizeof(why)))
		DWCP_WARN("svc-rdma: %s", why);
	snprintf(reason, n, "RDMA device %s: the pool's %zu MiB registered; %s", r->dev_name, pool_mib,
		 why[0] ? why : "chunks to peers with RDMA travel by RDMA");
	DWCP_INFO("svc-rdma: %s", reason);
	return 0;
}

static int rdma_step(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op, uint32_t *out)
{
	struct rdma_svc *r = ctx->priv;

	(void)out;
	if (op != DWCP_OP_RDMA_WRITE)
		return DWCP_BUF_EBADOP;
	/* Also a chunk an earlier generation was writing: its connection is
	 * gone, so it goes back to svc-net, which sends it over TCP. */
	return rdma_conn_write(r && r->keyed ? r : NULL, idx, h);
}

static unsigned rdma_poll(struct dwcp_svc_ctx *ctx, uint64_t now)
{
	struct rdma_svc *r = ctx->priv;

	if (!r || !r->keyed || !r->waker.running)
		return 0;
	__atomic_store_n(&r->pending, 0, __ATOMIC_SEQ_CST);
	return rdma_conn_poll(r, now);
}

static int rdma_pending(struct dwcp_svc_ctx *ctx)
{
	const struct rdma_svc *r = ctx->priv;

	return r && __atomic_load_n(&r->pending, __ATOMIC_SEQ_CST);
}

static void rdma_fini(struct dwcp_svc_ctx *ctx)
{
	struct rdma_svc *r = ctx->priv;

	if (!r)
		return;
	dwcp_waker_end(&r->waker);
	rdma_conn_close_all(r);
	if (r->ec)
		rdma_destroy_event_channel(r->ec);
	if (r->epfd >= 0)
		close(r->epfd);
	rdma_rc_dev_close(&r->dev);   /* (the context is librdmacm's) */
	free(r);
	ctx->priv = NULL;
}

int main(int argc, char **argv)
{
	static const struct dwcp_svc svc = {
		.name = "svc-rdma", .init = rdma_init, .step = rdma_step, .fini = rdma_fini,
		.poll = rdma_poll, .pending = rdma_pending,
		.ops[DWCP_RANK_SERVE] = DWCP_OP_BIT(DWCP_OP_RDMA_WRITE),
	};

	return dwcp_svc_main(argc, argv, &svc);
}
