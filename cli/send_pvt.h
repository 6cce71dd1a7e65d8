/* `dwcp send`'s state, shared by its files: cli/send.c (options, the
 * pipeline loop, acknowledgements and redos) and cli/send_chunk.c (reading
 * a chunk and giving it its program: kept and moved pages, codec).
 *
 * Concurrency: the send's thread, and its reader (send_read_chunk, on a
 * job_queue's thread): the reader touches only its job, the job's buffer,
 * and what does not change during the run (rd is the reader's while the
 * queue runs).
 */
#ifndef DWCP_CLI_SEND_PVT_H
#define DWCP_CLI_SEND_PVT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/digest.h"
#include "common/ops/hde.h"
#include "ipc/client.h"
#include "ipc/route.h"
#include "codec_auto.h"
#include "send_index.h"
#include "send_moves.h"
#include "file_read.h"
#include "job_queue.h"
#include "xfer.h"

#define PROG "dwcp send"
#define BATCH 32u

struct send_opts {
	const char *instance, *run_dir, *stream, *file, *to;
	bool json, no_progress, no_delta;
	int codec;                 /* -1 = the node's [stream] codec (enum dwcp_cfg_codec) */
	unsigned window;           /* 0 = the node's */
	unsigned threads;          /* 2: chunks are read on a thread of their own (--threads) */
	unsigned timeout_s;
};

/* One chunk read: by the reader (a new chunk) or by the send's thread (a
 * redo); the buffer the send's thread allocated, filled, and what the
 * read found (send_read_chunk_with). */
struct read_job {
	uint64_t seq;
	uint32_t idx, len;
	bool raw, nobase;          /* a redo's kind: raw, or without cache bases (cli/send.c) */
	bool first;                /* its first read, in order: hashes and keys for the index */
	bool keys;                 /* weak keys wanted (the new index is being written) */
	int rc;                    /* 0, -ESTALE (the file changed), or the read's -errno */
	uint8_t ph[DWCP_HDE_MAX_PAGES][DWCP_DIGEST_PAGE_HASH];   /* page hashes, when hashed */
	uint32_t key[DWCP_HDE_MAX_PAGES];                      /* weak keys, when keys */
};

struct sender {
	struct send_opts o;
	struct dwcp_client c;
	int fd;
	struct file_read rd;       /* how fd is read (file_read.h); the reader's */
	struct file_read redo_rd;  /* how the send's thread reads a redo: through the cache */
	double attach_cpu_s;       /* this thread's CPU once attached (xfer_client_open) */
	uint64_t size, n_chunks, next_seq, acked, acked_bytes;
	uint64_t made;             /* new chunks given their program (next_seq counts them read) */
	struct job_queue reads;    /* chunks being read (struct read_job), in order */
	bool read_wait;            /* take_reads found none done with some still being read */
	uint64_t prefix;           /* chunks [0, prefix) are all acknowledged */
	uint64_t cp_prefix, cp_step;   /* the resume index's last checkpoint, and how often */
	uint32_t chunk_size, xfer, window;
	uint64_t id;
	int ent;
	bool seal;
	uint16_t prog[DWCP_PROG_MAX];
	unsigned prog_len;
	unsigned n_redo;
	uint64_t redo_seq[4096];   /* chunks to send again (the receiver lacked a base) */
	uint64_t *unkept_map;      /* bit per chunk: its redo is a kept chunk's: it goes with
	                            * DELTA still (its cache bases may be there), only a
	                            * second refusal goes raw */
	uint64_t *nobase_map;      /* bit per chunk: refused once for a missing delta base
	                            * (EBASE): its redos go through DELTA without cache
	                            * bases, so its kept pages stay kept and only its
	                            * changed pages travel, whole */
	uint64_t *raw_map;         /* bit per chunk: refused so again: its redo goes raw */
	uint32_t unsent[BATCH];    /* filled but not yet accepted by the first link */
	unsigned n_unsent;
	uint64_t inflight;
	uint64_t *acked_map;       /* bit per chunk: acknowledged. A step that writes a new
	                            * buffer can, when its service is killed at the wrong
	                            * instant, leave two copies of a chunk in the pipeline
	                            * (docs/architecture.md); only the first answer counts */
	uint64_t last_progress_ns;
	struct send_auto *codec;   /* the codec of each chunk (cli/codec_auto.h) */
	struct dwcp_digest digest; /* of the data read, in order (common/digest.h) */
	uint64_t digest_next;      /* the chunk the digest takes next */
	uint64_t digest_final;     /* once the last chunk was read; the LAST chunk carries it */
	struct stat st0;           /* the file as opened */
	struct send_index index;   /* previous and new page index (cli/send_index.h) */
	struct send_moves *moves;  /* pages found at other offsets (cli/send_moves.h); NULL: none */
	double cache_share;        /* of the chunks, the share the delta caches remember
	                            * (ipc/dcache.h); 1 = all */
	uint8_t *kept_n, *moved_n; /* per chunk: its pages kept and moved as last sent (a redo
	                            * the receiver refused them for sends them, and says so) */
	struct xfer_summary sum;
};

/* A program step for @p op, naming the service the op table picks
 * (ipc/route.h); DWCP_SLOT_NONE makes a step every hop refuses. */
static inline uint16_t send_step(const struct dwcp_shm *shm, unsigned op)
{
	return dwcp_prog_step(dwcp_route_engine(shm, op), op);
}

/**
 * The reader's part of a chunk, through @p rd: job->seq's bytes into
 * job->idx's buffer, the check that the file did not change, and the page
 * hashes (and weak keys) the send's thread will want. Sets job->rc.
 */
void send_read_chunk_with(struct sender *s, struct file_read *rd, struct read_job *j);

/** send_read_chunk_with through the sender's rd: the reader's job (job_queue.h). */
void send_read_chunk(void *job, void *sender);

/**
 * The rest, on the send's thread, in the order chunks were read: the
 * chunk header, the digest, the page index, kept and moved pages, flags
 * and the program. @p j->rc must be 0.
 * @return 0, or -EINVAL (a chunk of more pages than a chunk may have).
 */
int send_make_chunk(struct sender *s, const struct read_job *j);

#endif
