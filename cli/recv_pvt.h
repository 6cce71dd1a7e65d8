/* `dwcp recv`'s state, shared by its files: cli/recv.c (options, the
 * wait loop, the commit, and what a failure keeps) and cli/recv_chunk.c
 * (each chunk: kept pages, the reorder window, in-order writing, a
 * sender that ran again).
 *
 * Concurrency: one thread (the receive's).
 */
#ifndef DWCP_CLI_RECV_PVT_H
#define DWCP_CLI_RECV_PVT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/digest.h"
#include "common/reorder.h"
#include "ipc/client.h"
#include "recv_base.h"
#include "recv_inplace.h"
#include "recv_out.h"
#include "recv_partial.h"
#include "xfer.h"

#define PROG "dwcp recv"
#define BATCH 32u
#define AUTH_FAIL_MAX 3    /* consecutive authentication failures before giving up */
#define OLD_XFERS 16       /* transfers left behind whose resends are refused */

struct recv_opts {
	const char *instance, *run_dir, *stream, *out;
	bool json, no_progress;
	bool inplace;              /* --inplace: write into --out itself when it is the base */
	bool no_partial;           /* --no-partial: a failed receive keeps nothing */
	unsigned timeout_s;        /* 0 = wait for the stream as long as it takes */
};

struct receiver {
	struct recv_opts o;
	struct dwcp_client c;
	double attach_cpu_s;       /* this thread's CPU once attached (xfer_client_open) */
	char path[PATH_MAX];
	struct recv_out out;
	struct recv_base base;     /* the previous copy kept pages come from (cli/recv_base.h) */
	bool told_base;            /* the "no base" note was printed */
	struct recv_inplace ip;    /* when r->out.inplace or r->resuming */
	char inplace_why[PATH_MAX + 160];   /* why --inplace fell back to the atomic path */
	struct recv_base resume;   /* an interrupted transfer's data, resumed in place */
	bool resuming;             /* the output is being written in place over resume's data */
	uint64_t resumed_bytes;    /* what the interrupted transfer had written */
	struct recv_partial part;  /* where a failed receive keeps what it wrote */
	uint64_t cp_next;          /* written bytes at the next checkpoint (0: the first) */
	bool bad_data;             /* what was written is known wrong: keep nothing */
	bool filled_from_base;     /* this transfer took pages from base (not from resume) */
	int ent;
	uint32_t xfer;             /* the transfer this sink locked onto (0 = none yet) */
	uint32_t gone_xfer;        /* the one a gone receiver of the stream was writing (0: none) */
	uint32_t old[OLD_XFERS];   /* transfers it left for a newer one (ring) */
	unsigned n_old;
	uint32_t last_idx;         /* the last chunk, acknowledged once the output is committed */
	struct dwcp_reorder *win;
	uint64_t next_seq;         /* the next chunk to write */
	uint64_t written;
	bool done;
	unsigned auth_fails;       /* consecutive */
	uint64_t first_ns, last_progress_ns;
	struct dwcp_digest digest; /* of the data written, in order (common/digest.h) */
	struct xfer_summary sum;
};

/**
 * Say why the receive fails (stderr, the stream named), keep what it
 * wrote for a resume (unless told not to, or it is known wrong), drop the
 * temporary. @return 1 (the command's exit status).
 */
__attribute__((format(printf, 2, 3)))
int recv_fail(struct receiver *r, const char *fmt, ...);

/** Send buffer @p idx back to svc-net: ACK, or NACK with @p why. */
void recv_answer(struct receiver *r, uint32_t idx, unsigned why);

/** One chunk delivered by the pipeline. @return 0, or recv_fail's status. */
int recv_on_chunk(struct receiver *r, uint32_t idx);

#endif
