/* What `dwcp send` and `dwcp recv` share: the summary they print, the
 * progress line, and attaching as a client of a node. */
#ifndef DWCP_CLI_XFER_H
#define DWCP_CLI_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/hist.h"
#include "ipc/client.h"

struct xfer_summary {
	const char *role;          /* "send" / "recv" */
	const char *stream;
	const char *path;
	uint64_t bytes;            /* data bytes read (send) or written (recv) */
	uint64_t bytes_wire;       /* frame bytes of the stream's chunks on the wire, every
	                            * transmission counted (send: sent; recv: received) */
	uint64_t chunks;
	uint64_t resent;           /* send: chunks sent again */
	uint64_t rejected;         /* chunks refused (send: NACKs seen; recv: NACKs sent) */
	uint64_t duplicates;       /* recv: chunks that arrived again and were only acknowledged */
	uint64_t raw_resends;      /* send: chunks sent again because the receiver lacked a delta
	                            * base (without cache bases; raw only if refused twice) */
	uint64_t kept_pages;       /* send: pages found unchanged in the page index (did not
	                            * travel); recv: pages filled from the previous copy */
	uint64_t cloned_pages;     /* recv: of those, shared with the previous file by reflink */
	uint64_t moved_pages;      /* pages found at another offset of the previous version (did
	                            * not travel; recv: read from the previous copy) */
	uint64_t resumed_bytes;    /* the interrupted transfer's prefix this one resumed from
	                            * (send: its resume index; recv: what it had written) */
	bool inplace;              /* recv: written into the output itself (--inplace) */
	uint64_t inplace_written;  /* recv, inplace: pages written (the others were left as they were) */
	uint64_t direct_bytes;     /* bytes read (send) or written (recv) with direct I/O */
	double main_thread_cpu_s;  /* CPU of the thread that moves the data (its serial cost),
	                            * from the moment it was attached to the node */
	double attach_cpu_s;       /* CPU that thread spent before: program start, DPDK's
	                            * initialization, the attach (the same for 1 KiB or 1 TiB) */
	double io_thread_cpu_s;    /* CPU of its disk helper (send: read-ahead, recv: writer) */
	double stage_thread_cpu_s; /* CPU of the thread that takes each chunk's bulk work off the
	                            * main one (send: the reader: the copy from the file and the
	                            * page hashes; recv: the checker: page hashes and zero
	                            * pages); 0: none (--threads 1) */
	double seconds;
	const char *codec;         /* send: the codec most chunks went with; NULL: recv */
	bool codec_auto;           /* send: chosen by `codec = auto` */
	unsigned codec_decisions;  /* send, auto: times the choice was made */
	unsigned codec_probes;     /* send, auto: times the link was timed uncompressed */
	unsigned codec_trials;     /* send, auto: times another codec was tried, to see what it delivers */
	uint64_t codec_chunks[3];  /* send: chunks sent with none, lz4, zstd */
	char codec_note[480];      /* send: why (auto: the last decision and its rates) */
	const char *transport;     /* send: "rdma" when any chunk went by RDMA, else "tcp"; NULL: recv */
	uint64_t rdma_chunks;      /* send: chunk sends svc-rdma wrote into the receiver's memory */
	struct dwcp_hist lat;      /* ns per chunk: send = submit -> acknowledged as written;
	                            * recv = off the wire -> written */
};

/**
 * Catch SIGINT and SIGTERM instead of dying of them, without SA_RESTART
 * (a wait returns at once): the command's loop sees xfer_stop_signal()
 * and ends its way (a receive removes its temporary, a send keeps what
 * a rerun resumes from).
 */
void xfer_catch_stop_signals(void);

/** The signal caught (0: none yet). */
int xfer_stop_signal(void);

/** CPU seconds (user + system) the calling thread has used. */
double xfer_thread_cpu_s(void);

/** Print @p s as text (stdout) or one JSON object. */
void xfer_print_summary(const struct xfer_summary *s, bool json);

/**
 * The progress line on stderr when it is a terminal: bar, percent, rate,
 * ETA and @p note (e.g. "waiting for the receiver"). @p total 0 = unknown.
 */
void xfer_progress(uint64_t done, uint64_t total, double seconds, const char *note);
/** End the progress line (newline) if one was drawn. */
void xfer_progress_end(void);

/**
 * Attach as a client of @p instance; the error is printed. @p attach_cpu_s:
 * the calling thread's CPU once attached (program start and DPDK's
 * initialization included), which the summary leaves out of
 * main_thread_cpu_s: a fixed cost per run, it had been half of what a
 * 256 MiB transfer's main thread spent. @return 0 or -errno.
 */
int xfer_client_open(struct dwcp_client *c, const char *instance, const char *run_dir,
		     const char *label, const char *prog, double *attach_cpu_s);

/**
 * Whether this node's supervisor has died (its pidfd turned readable).
 * Then @p why gets a message naming the node and the command that starts
 * it again, and this client leaves the node (removing its files when it
 * is the last process attached). A client checks it every time it wakes:
 * without a supervisor nothing it waits for can arrive.
 */
bool xfer_supervisor_died(struct dwcp_client *c, const char *instance, char *why, size_t why_n);

/*
 * From this many usable CPUs, `dwcp send` and `dwcp recv` spread one
 * stream's own work over two threads (--threads 2): where a core is
 * spare for it and one stream may run faster than one thread's share of
 * it. Splitting costs CPU: on 2 CPUs shared by both nodes, a 1 GiB
 * transfer spent 0.27-0.32 CPU-s in send's two threads against 0.19-0.22
 * in one (the handoffs, and the copy out of the page cache slower beside
 * the other thread), so below this the nodes' services get the CPUs.
 * The same bar as [runtime] spin_us's (DWCP_CFG_SPIN_MIN_CPUS).
 */
#define XFER_THREADS_MIN_CPUS DWCP_CFG_SPIN_MIN_CPUS

/** --threads' default: 2 from XFER_THREADS_MIN_CPUS usable CPUs, else 1. */
unsigned xfer_threads_auto(void);

/**
 * Parse option @p opt's value @p arg as an integer in 1..@p max into @p out.
 * @return 0, or -EINVAL after printing "PROG: OPT 'ARG': expected 1..MAX WHAT".
 */
int xfer_parse_count(const char *prog, const char *opt, const char *arg, unsigned max,
		     const char *what, unsigned *out);

/** Seconds since @p t0_ns (CLOCK_MONOTONIC). */
double xfer_since(uint64_t t0_ns);

#endif
