/* svc-rdma: the RDMA service. With a verbs device it registers the node's
 * buffer pool on it once (rc.h: one MR, remote access only through the
 * memory windows of grants) and reports what it holds; the RC transport
 * (rc.c) is not routed chunks yet, so it stays STANDBY and svc-net carries
 * every transfer. Without a device: STANDBY, "no RDMA device".
 */
#include <stdio.h>
#include <stdlib.h>

#include <infiniband/verbs.h>

#include "common/log.h"
#include "ipc/svc_runtime.h"
#include "rc.h"

struct rdma_svc {
	struct ibv_context *verbs;
	struct rdma_rc_dev dev;
};

static int rdma_init(struct dwcp_svc_ctx *ctx, char *reason, size_t n)
{
	const struct dwcp_shm *shm = &ctx->at.shm;
	size_t len = (size_t)shm->n_bufs * shm->buf_size;
	struct dwcp_err err = { 0 };
	struct ibv_device **list;
	struct rdma_svc *r;
	int count = 0;

	list = ibv_get_device_list(&count);
	if (!list || count == 0) {
		if (list)
			ibv_free_device_list(list);
		snprintf(reason, n, "no RDMA device");
		return 1;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		ibv_free_device_list(list);
		return -1;
	}
	ctx->priv = r;
	/* The first device; rdma_cm will pick by address once peers connect. */
	r->verbs = ibv_open_device(list[0]);
	if (!r->verbs) {
		snprintf(reason, n, "RDMA device %s: cannot open it", ibv_get_device_name(list[0]));
	} else if (rdma_rc_dev_open(&r->dev, r->verbs, shm->data, len, &err)) {
		snprintf(reason, n, "%.200s", err.msg);
	} else {
		snprintf(reason, n, "RDMA device %s: the pool's %zu MiB registered; not routed chunks yet (svc-net carries them)",
			 ibv_get_device_name(list[0]), len >> 20);
		DWCP_INFO("svc-rdma: %s", reason);
	}
	ibv_free_device_list(list);
	return 1;
}

static void rdma_fini(struct dwcp_svc_ctx *ctx)
{
	struct rdma_svc *r = ctx->priv;

	if (!r)
		return;
	rdma_rc_dev_close(&r->dev);
	if (r->verbs)
		ibv_close_device(r->verbs);
	free(r);
	ctx->priv = NULL;
}

int main(int argc, char **argv)
{
	static const struct dwcp_svc svc = { .name = "svc-rdma", .init = rdma_init, .fini = rdma_fini };

	return dwcp_svc_main(argc, argv, &svc);
}
