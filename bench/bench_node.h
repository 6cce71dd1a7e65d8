/* A throw-away node for a benchmark: its own instance, a small config,
 * only svc-simd, started and stopped through dwcp-supervisor itself. */
#ifndef DWCP_BENCH_NODE_H
#define DWCP_BENCH_NODE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define BENCH_BUF_SIZE 16384u

int bench_node_start(const char *bin_dir, const char *instance, int poll_mode, char *err,
		     size_t err_len);
void bench_node_stop(const char *bin_dir, const char *instance);

/* A node shaped by the caller (bench transfer: svc-net and svc-mem, a
 * delta cache, peers): [supervisor] hugepage_mb and [services] enable are
 * written here (the latter only when given), @p extra (whole INI sections of its own, NULL for none)
 * is appended verbatim; every other key keeps its built-in default, so the
 * node runs the pool the data path was sized for. Same errors as
 * bench_node_start; stop it with bench_node_stop. */
struct bench_node_cfg {
	unsigned hugepage_mb;
	const char *services;   /* [services] enable; NULL: all (the built-in default) */
	const char *extra;
};

int bench_node_start_cfg(const char *bin_dir, const char *instance,
			 const struct bench_node_cfg *c, char *err, size_t err_len);

/* The node's status document, the JSON `dwcpctl status --json` prints,
 * read over the control socket (so the caller stays unattached and may
 * still fork clients); NULL when the supervisor does not answer.
 * cJSON_Delete it. */
cJSON *bench_node_status(const char *instance);

#endif
