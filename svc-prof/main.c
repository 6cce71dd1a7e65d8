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
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ipc/streams.h"
#include "ipc/svc_runtime.h"
#include "prof_internal.h"
#include "profile.h"

struct prof {
	struct prof_http *http;
	struct prof_cont *cont;
};

static int prof_init(struct dwcp_svc_ctx *ctx, char *reason, size_t reason_len)
{
	const struct dwcp_node_conf *conf = &ctx->at.shm.node->conf;
	struct prof *p = calloc(1, sizeof(*p));

	ctx->priv = p;
	if (!p)
		return -ENOMEM;
	if (!conf->prof_listen[0]) {
		DWCP_INFO("svc-prof: no [prof] listen: no metrics endpoint, no continuous profile");
		return 0;
	}
	/* Only where it can be read: the endpoint serves it. */
	if (conf->prof_sample_hz)
		p->cont = prof_cont_start(&ctx->at.shm, conf->prof_sample_hz);
	p->http = prof_http_start(conf->prof_listen, &ctx->at.shm, p->cont, reason, reason_len);
	if (!p->http) {
		DWCP_ERR("svc-prof: %s", reason);
		prof_cont_stop(p->cont);
		p->cont = NULL;
		return 1;
	}
	DWCP_INFO("svc-prof: Prometheus metrics at http://%s/metrics%s", conf->prof_listen,
		  p->cont ? ", continuous profile (sample_hz) at /profile and /profile.svg" : "");
	return 0;
}

static void prof_fini(struct dwcp_svc_ctx *ctx)
{
	struct prof *p = ctx->priv;

	if (p) {
		prof_http_stop(p->http);   /* first: it reads the profile */
		prof_cont_stop(p->cont);
		free(p);
	}
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
