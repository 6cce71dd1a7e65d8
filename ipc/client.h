/* The C client API: how an agent (`dwcp send`, the benchmarks, a
 * migration agent) submits work to a node. A client is a DPDK secondary
 * in a client slot; it allocates buffers, fills payload and descriptor,
 * submits them to the first step's service, and polls for those whose
 * program reached its DELIVER step.
 *
 * If a client dies, the supervisor frees everything it held and drains
 * its input links (reclaim.h, redeliver = false); a new client in the same
 * slot first discards anything still arriving for its predecessor.
 *
 * Concurrency: one thread per client handle.
 */
#ifndef DWCP_IPC_CLIENT_H
#define DWCP_IPC_CLIENT_H

#include <stdint.h>

#include "common/err.h"
#include "ipc/attach.h"

struct dwcp_client {
	struct dwcp_attach at;
	struct dwcp_stats *stats;
	uint32_t cursor;            /* allocator scan position */
	uint32_t route_cursor;      /* round-robin position of dwcp_route_pick */
};

/**
 * Attach to @p instance as a client labelled @p label.
 * @return 0 or -errno with the reason (attach.h lists them).
 */
int dwcp_client_open(struct dwcp_client *c, const char *instance, const char *run_dir,
		     const char *label, const char *prog, struct dwcp_err *err);

/** Allocate up to @p n buffers (HELD by this client). @return count. */
unsigned dwcp_client_alloc(struct dwcp_client *c, uint32_t *idx, unsigned n);

static inline struct dwcp_buf_hdr *dwcp_client_hdr(const struct dwcp_client *c, uint32_t idx)
{
	return dwcp_shm_hdr(&c->at.shm, idx);
}
static inline void *dwcp_client_data(const struct dwcp_client *c, uint32_t idx)
{
	return dwcp_shm_data(&c->at.shm, idx);
}

/**
 * Set a buffer's program: @p steps run in order, then DELIVER back here.
 * @return 0 or -E2BIG when there are more than DWCP_PROG_MAX - 1 steps.
 */
int dwcp_client_set_prog(struct dwcp_client *c, uint32_t idx, const uint16_t *steps,
			 unsigned n);

/**
 * Submit buffers to the service of their first step (all @p idx must
 * share it). @return how many were accepted (the link may be full).
 */
unsigned dwcp_client_submit(struct dwcp_client *c, const uint32_t *idx, unsigned n);

/** Take up to @p n delivered buffers (owned by this client again). */
unsigned dwcp_client_poll(struct dwcp_client *c, uint32_t *idx, unsigned n);

/**
 * Sleep until something is delivered or @p timeout_ns passes; first poll
 * for the node's [runtime] spin_us, as its services do (0 on small hosts:
 * DWCP_CFG_SPIN_MIN_CPUS), so that on a large host a send's or receive's
 * thread takes the next burst without a futex sleep and wake-up.
 */
void dwcp_client_wait(struct dwcp_client *c, uint64_t timeout_ns);

/**
 * As dwcp_client_wait, and the wait also ends (or is not begun) when
 * @p also(@p arg) is nonzero (@p also may be NULL): input of the
 * client's own, from a thread of its process that publishes it and then
 * calls dwcp_client_notify() (ipc/link.h's protocol: @p also is the
 * re-check after announcing sleep).
 */
void dwcp_client_wait_or(struct dwcp_client *c, uint64_t timeout_ns, int (*also)(void *arg), void *arg);

/**
 * From another thread of the client's process, after publishing what
 * dwcp_client_wait_or's @p also looks at: wake the client's thread if it
 * sleeps there.
 */
void dwcp_client_notify(const struct dwcp_client *c);

/** Give a buffer back to the pool. */
void dwcp_client_free(struct dwcp_client *c, uint32_t idx);

#endif
