/* svc-simd's own files: its per-process engine state and its steps. */
#ifndef DWCP_SIMD_INTERNAL_H
#define DWCP_SIMD_INTERNAL_H

#include <stdint.h>

#include "ipc/svc_runtime.h"

/** DWCP_OP_BENCH_RAW_ECHO: run the raw ring echo until the client says stop. */
int simd_bench_raw_echo(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h);

#endif
