/* The service runtime: what every dwcp service process runs around its
 * own steps. A service's main() fills a struct dwcp_svc and calls
 * dwcp_svc_main(); the runtime attaches (ipc/attach.h), adopts the work
 * its dead predecessor left (buffers reclaimed as WORK(slot, this gen)),
 * reports READY or STANDBY, and loops:
 *
 *   take a burst from every input link -> do each buffer's steps that name
 *   this slot -> forward it to the next step's slot (or park it while that
 *   link is full) -> heartbeat -> when idle for spin_us, sleep on the
 *   wakeup word (ipc/link.h) for at most one heartbeat period.
 *
 * With poll_mode the loop never sleeps (a dedicated core). SIGTERM drains:
 * state DRAINING, no new input once the parked outputs are gone, exit 0
 * within a bounded time. The supervisor's death ends the service too.
 */
#ifndef DWCP_IPC_SVC_RUNTIME_H
#define DWCP_IPC_SVC_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "ipc/attach.h"
#include "ipc/buf_hdr.h"
#include "ipc/route.h"
#include "ipc/stats.h"

struct dwcp_svc_ctx {
	struct dwcp_attach at;         /* shm, slot, gen */
	struct dwcp_stats *stats;      /* this slot's block */
	uint32_t alloc_cursor;         /* private scan position of dwcp_svc_alloc */
	void *priv;                    /* the service's own state */
	/* The ops it runs, by rank (DWCP_OP_BIT masks; ipc/route.h): the
	 * service's, which init may change (an engine without a kernel for
	 * an op); published when init returns. */
	uint32_t ops[DWCP_RANK_N];
};

struct dwcp_svc {
	const char *name;              /* "svc-simd": must be one of the six */
	/* The ops step() runs, by rank (DWCP_OP_BIT masks; ipc/route.h): what
	 * programs may name this service for. */
	uint32_t ops[DWCP_RANK_N];
	/**
	 * Bring the engine up. @return 0 = READY; 1 = STANDBY with the
	 * reason written to @p reason ("no CUDA device"); <0 = fatal.
	 */
	int (*init)(struct dwcp_svc_ctx *ctx, char *reason, size_t reason_len);
	/**
	 * Do one step @p op on buffer @p h (owned by this service).
	 * A step that writes its result to a new buffer (compress, encrypt)
	 * takes one with dwcp_svc_alloc(), fills its payload and len, and sets
	 * @p *out to it; the runtime copies the descriptor over, sends the new
	 * buffer on, and frees the input only once the output has left — so
	 * a crash before that frees the output and re-delivers the input, and
	 * the step must never modify its input.
	 * @return DWCP_BUF_OK or a DWCP_BUF_* status to stamp on the buffer;
	 *         -EAGAIN to be called again later (no buffer free).
	 * NULL: the service has no ops yet (every step fails EBADOP).
	 */
	int (*step)(struct dwcp_svc_ctx *ctx, uint32_t idx, struct dwcp_buf_hdr *h, unsigned op,
		    uint32_t *out);
	void (*fini)(struct dwcp_svc_ctx *ctx);
	/**
	 * The service's own I/O (sockets, timers), called every loop turn.
	 * @return units of work done (0 lets the loop go idle). NULL: none.
	 */
	unsigned (*poll)(struct dwcp_svc_ctx *ctx, uint64_t now_ns);
	/**
	 * Checked right before the loop sleeps, after it announced it may:
	 * nonzero = poll has work, do not sleep. A service whose events come
	 * from elsewhere (a socket) sets a flag from a thread that watches
	 * them and then calls dwcp_link_notify() on its own slot, so an event
	 * between the last poll and the sleep is never lost. NULL: none.
	 */
	int (*pending)(struct dwcp_svc_ctx *ctx);
};

/* step() result: the service keeps the buffer (it stays WORK(slot, gen),
 * so if the process dies the next generation gets it again and redoes the
 * step) and passes it on later with dwcp_svc_pass(). */
#define DWCP_SVC_KEEP 0x10000

/**
 * Go on with a buffer a step kept: stamp @p status (DWCP_BUF_OK leaves it
 * as it is), advance past the kept step and run/forward the rest of the
 * program. Concurrency: the service's own thread, outside step().
 */
void dwcp_svc_pass(struct dwcp_svc_ctx *ctx, uint32_t idx, int status);

/**
 * dwcp_svc_pass() for a kept step that wrote its result to a buffer of
 * its own, @p out (from dwcp_svc_alloc(), its len set; @p out == @p idx:
 * none): the descriptor moves there and @p idx is freed once @p out has
 * left, as for a step that returns an output. Until this call a crash
 * re-delivers @p idx and frees @p out (it is only HELD).
 */
void dwcp_svc_pass_out(struct dwcp_svc_ctx *ctx, uint32_t idx, uint32_t out, int status);

/**
 * Start a buffer this service took with dwcp_svc_alloc() and filled
 * (payload, len, program, pc) on its program, from outside step() — a
 * chunk that arrived from the network. Ownership becomes WORK first, so
 * from this call on a crash re-delivers it rather than freeing it.
 */
void dwcp_svc_submit(struct dwcp_svc_ctx *ctx, uint32_t idx);

/**
 * Outputs the runtime holds because their next link was full, plus steps
 * waiting to be retried. A service that injects work (dwcp_svc_submit)
 * stops taking more from outside while this is nonzero.
 */
unsigned dwcp_svc_backlog(const struct dwcp_svc_ctx *ctx);

/**
 * Take a buffer (HELD by this service) for a step's output.
 * @return 0 or -EAGAIN when the pool is empty.
 */
int dwcp_svc_alloc(struct dwcp_svc_ctx *ctx, uint32_t *idx);

/** Give back a buffer from dwcp_svc_alloc() that a step did not use. */
void dwcp_svc_free(struct dwcp_svc_ctx *ctx, uint32_t idx);

/**
 * Say "alive" from inside a long step (the loop does it between steps).
 * Concurrency: the service's own thread.
 */
void dwcp_svc_heartbeat(struct dwcp_svc_ctx *ctx);

/**
 * Parse the common options (--instance, --run-dir, --verbose, --help),
 * attach, run the loop until SIGTERM or the supervisor's death.
 * @return the process exit status.
 */
int dwcp_svc_main(int argc, char **argv, const struct dwcp_svc *svc);

#endif
