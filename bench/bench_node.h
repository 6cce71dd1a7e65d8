/* A throw-away node for a benchmark: its own instance, a small config,
 * only svc-simd, started and stopped through dwcp-supervisor itself. */
#ifndef DWCP_BENCH_NODE_H
#define DWCP_BENCH_NODE_H

#include <stddef.h>

#define BENCH_BUF_SIZE 16384u

int bench_node_start(const char *bin_dir, const char *instance, int poll_mode, char *err,
		     size_t err_len);
void bench_node_stop(const char *bin_dir, const char *instance);

#endif
