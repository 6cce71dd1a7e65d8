/* The raw reference of `dwcp bench handoff`: two plain rte_ring SP/SC
 * rings of buffer indices, laid out inside one buffer's payload, between
 * the bench client and svc-simd. No ownership words, no wakeups, no
 * routing: what a hand-rolled ring between the same two processes costs.
 * The layout is shared by both sides, so it lives in ipc/.
 */
#ifndef DWCP_IPC_BENCH_ECHO_H
#define DWCP_IPC_BENCH_ECHO_H

#include <stdint.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#define DWCP_BENCH_RING_DEPTH 512u
#define DWCP_BENCH_STOP       UINT32_MAX   /* index that ends the echo loop */

/** Offset of the response ring; the request ring is at offset 0. */
static inline uint32_t dwcp_bench_rsp_offset(void)
{
	ssize_t sz = rte_ring_get_memsize_elem(sizeof(uint32_t), DWCP_BENCH_RING_DEPTH);

	return sz < 0 ? 0 : (uint32_t)((sz + 63) & ~63);
}

/** Bytes the two rings need: the control buffer's len must be at least this. */
static inline uint32_t dwcp_bench_rings_size(void)
{
	return 2 * dwcp_bench_rsp_offset();
}

#endif
