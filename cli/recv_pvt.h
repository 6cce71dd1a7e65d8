/* `dwcp recv`'s state, shared by its files: cli/recv.c (options, the
 * wait loop, the commit, and what a failure keeps) and cli/recv_chunk.c
 * (each chunk: kept pages, the reorder window, in-order writing, a
 * sender that ran again).
 *
 * Concurrency: the receive's thread, and its checker (recv_check_chunk,
 * on a job_queue's thread with --threads 2): the checker reads only the
 * chunk its job names and what does not change during the run (dz,
 * xxh3), and writes only pre[] of that chunk's buffer.
 */
#ifndef DWCP_CLI_RECV_PVT_H
#define DWCP_CLI_RECV_PVT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/digest.h"
#include "common/ops/delta.h"
#include "common/ops/hde.h"
#include "common/reorder.h"
#include "ipc/client.h"
#include "recv_base.h"
#include "recv_inplace.h"
#include "recv_out.h"
#include "recv_partial.h"
#include "job_queue.h"
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
	unsigned threads;          /* 2: chunks are checked on a thread of their own (--threads) */
};

/* What the checker found in a chunk as it arrived, kept per buffer until
 * the chunk is written: its page hashes (common/digest.h) and its pages of
 * zeros (recv_zero_pages). Not for a chunk with kept pages: those are
 * filled from the previous copy when written, and hashed then. */
struct recv_pre {
	uint8_t ph[DWCP_HDE_MAX_PAGES][DWCP_DIGEST_PAGE_HASH];
	uint64_t zeros;
	bool ready;
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
	struct job_queue checks;   /* chunks arrived, being checked (buffer indexes), in order */
	struct recv_pre *pre;      /* per buffer index below n_pre: what the checker found */
	uint32_t n_pre;            /* 0 without a checker thread: all found when written */
	struct dwcp_delta_impl dz; /* the checker's zero test */
	struct dwcp_xxh3_impl xxh3;   /* and its page hashes (digest's own is re-made by start_over) */
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

/**
 * Hand buffer @p idx, a copy of a chunk this receive holds already, back
 * to svc-net, which gives back the receive quota it took (the held copy
 * is answered when written). Not freed here: svc-net would count the
 * copy against the stream for as long as this receive runs.
 */
void recv_release(struct receiver *r, uint32_t idx);

/** One chunk delivered by the pipeline. @return 0, or recv_fail's status. */
int recv_on_chunk(struct receiver *r, uint32_t idx);

/**
 * The checker's job (a uint32_t buffer index; possibly on its thread):
 * what recv_pre holds, for the chunk in that buffer.
 */
void recv_check_chunk(void *job, void *receiver);

/** Chunks checked meanwhile, held and written in order. @return 0, or recv_fail's status. */
int recv_take_checked(struct receiver *r);

/** The wait's re-check: the checker finished a chunk. */
int recv_checked_ready(void *receiver);

#endif
