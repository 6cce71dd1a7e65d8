/* svc-prof: the profiler service. Today it serves the node's figures
 * (every service's and worker's slot and stats block, the pool, the delta
 * cache, the streams) in the Prometheus text format at [prof] listen
 * (metrics.c, http.c). `svc-prof profile ...` (run by `dwcpctl profile`)
 * is the sampling profiler instead (profile.h).
 *
 * It has no ops: the endpoint runs in its own thread and only reads the
 * region, so a scrape never touches the data path. Without [prof] listen
 * it is READY and serves nothing; when the address cannot be served it is
 * STANDBY with the reason (dwcpctl status shows it), not a crash loop.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "ipc/streams.h"
#include "ipc/svc_runtime.h"
#include "prof_internal.h"
#include "profile.h"

static int prof_init(struct dwcp_svc_ctx *ctx, char *reason, size_t reason_len)
{
	const char *listen_addr = ctx->at.shm.node->conf.prof_listen;
	struct prof_http *h;

	ctx->priv = NULL;
	if (!listen_addr[0]) {
		DWCP_INFO("svc-prof: no [prof] listen: no metrics endpoint");
		return 0;
	}
	h = prof_http_start(listen_addr, &ctx->at.shm, reason, reason_len);
	if (!h) {
		DWCP_ERR("svc-prof: %s", reason);
		return 1;
	}
	ctx->priv = h;
	DWCP_INFO("svc-prof: Prometheus metrics at http://%s/metrics", listen_addr);
	return 0;
}

static void prof_fini(struct dwcp_svc_ctx *ctx)
{
	prof_http_stop(ctx->priv);
	ctx->priv = NULL;
}

int main(int argc, char **argv)
{
	static const struct dwcp_svc svc = { .name = "svc-prof", .init = prof_init, .fini = prof_fini };

	/* `dwcpctl profile` runs the sampler as a command, not as the service. */
	if (argc > 1 && !strcmp(argv[1], "profile"))
		return dwcp_prof_cli(argc - 1, argv + 1);
	return dwcp_svc_main(argc, argv, &svc);
}
