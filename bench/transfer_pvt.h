/* What the parts of `dwcp bench transfer` share, and nothing else:
 * transfer.c drives (image, options, the order of runs), transfer_run.c
 * runs nodes and the send/recv children and reads their figures,
 * transfer_cpu.c counts the CPU time of both nodes and of the children,
 * transfer_ref.c measures the one-thread and raw-TCP references,
 * transfer_out.c prints it all as tables or one JSON object. No other
 * file includes this header.
 */
#ifndef DWCP_BENCH_TRANSFER_PVT_H
#define DWCP_BENCH_TRANSFER_PVT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define MIB         (1024u * 1024u)
#define PAGE        4096u
#define CHUNK       262144u         /* stream.chunk_size, and the baseline's chunk */
#define RUNS        3u              /* references: median of this many */
#define MAX_CONN    64u
#define MAX_ROWS    8u              /* scaling rows: 1, 2, 4, ... 32 and N itself */
#define DIRTY_PCT   5u              /* delta part: pages changed, percent */
#define DIRTY_BYTES 8u              /* bytes changed in each such page */

/* Set by the SIGINT/SIGTERM/SIGHUP handler; every wait checks it. */
extern volatile sig_atomic_t bench_xfer_stop;

struct bench_xfer_opts {
	unsigned size_mb, connections;
	unsigned workers;               /* --workers N: the scaling table up to N; 0: none */
	unsigned net_workers;           /* --net-workers N: [net] workers of every node; 0: auto */
	int keep, json;
	int sampling;                   /* --sampling: the continuous profile's cost */
	int extents;                    /* --extents: the kinds in runs, not page by page */
	const char *history, *label;    /* --history FILE, --label L (bench/history.h) */
};

/* ---- the references (transfer_ref.c) ----------------------------- */

enum bench_xfer_step {
	S_DELTA, S_COMPRESS, S_SEAL, S_CRC, S_CHECK, S_OPEN, S_DECOMPRESS, S_UNDELTA, N_STEPS
};

extern const char *const bench_xfer_step_names[N_STEPS];

struct bench_xfer_inproc {
	double gbs;
	uint64_t wire_bytes;
	double step_share[N_STEPS];   /* of the run's time */
	int ok;
	char err[DWCP_ERR_MSG_MAX];
};

/* RUNS passes of the pipeline's library calls in one thread over @p img,
 * each decoded into @p out and checked; @p r->ok says whether it worked. */
void bench_xfer_run_inproc(const uint8_t *img, size_t n, uint8_t *out, struct bench_xfer_inproc *r);

/* Median GB/s of RUNS raw loopback TCP runs over @p conns connections;
 * < 0 when any failed. @p eff_buf: SO_SNDBUF as granted. */
double bench_xfer_run_tcp(const uint8_t *img, size_t n, unsigned conns, int *eff_buf);

double bench_xfer_median(double *v, unsigned n);

/* ---- the nodes and one transfer (transfer_run.c) ------------------ */

struct bench_xfer_ctx {
	const struct bench_xfer_opts *o;
	char bin_dir[512];
	char dir[64];                 /* our temporary directory: everything we write */
	char inst_a[32], inst_b[32];
	int a_up, b_up;
	const uint8_t *img;
	size_t n;
	unsigned hugepage_mb;
	unsigned prof_port_a, prof_port_b;   /* each node's [prof] listen on 127.0.0.1 */
	unsigned sample_hz;           /* [prof] sample_hz of the next pair, if sample_hz_set */
	int sample_hz_set;
};

/* What one side's --json said; NAN where a key was missing. */
struct bench_xfer_side {
	double bytes, wire, seconds, chunks, p50, p99, p999;
	double raw_resends, rejected;   /* chunks resent after the receiver lacked a base */
	double kept_pages;
	char codec[16], codec_why[480];
	double codec_chunks[3];         /* chunks sent with none, lz4, zstd */
	double thread_cpu_s;            /* the main thread's CPU once attached (its serial cost) */
	double attach_cpu_s;            /* what it spent before: start, DPDK, attach (NAN: an
	                                 * older binary, whose thread_cpu_s includes it) */
	double io_cpu_s;                /* its disk helper thread's (read-ahead, writer) */
	double stage_cpu_s;             /* its second data thread's (--threads 2: send's reader);
	                                 * 0: none, NAN: an older binary */
};

/* The busiest threads of a transfer (node threads and send's and recv's
 * main threads): the serial points no number of cores can spread. */
#define BUSIEST 3u
struct bench_xfer_busy {
	char name[40];
	double s;                       /* CPU seconds over the transfer */
};

/* One `dwcp send` -> `dwcp recv`, and what it cost. CPU: utime+stime
 * from /proc/<pid>/stat of every process of both nodes (supervisors and
 * services, not our children), before and after; the send and recv
 * processes, which are our children, from getrusage(RUSAGE_CHILDREN). */
struct bench_xfer_run {
	struct bench_xfer_side snd, rcv;
	double wall_s;
	double node_cpu_s, client_cpu_s;
	double prof_cpu_s, prof_samples;  /* svc-prof's continuous profile during it, both nodes */
	unsigned simd_workers;          /* svc-simd workers node A runs */
	unsigned net_workers;           /* svc-net workers node A runs */
	double dcache_bytes;            /* node B's delta cache */
	struct bench_xfer_busy busiest[BUSIEST];   /* most CPU first; s 0: none */
	int identical, ok;
};

/* ---- the output disk and the zstd CLI (transfer_io.c) ------------- */

/* Median GB/s of RUNS writes of the image as dwcp recv writes it (holes
 * for zero pages), each fsync'd, in the bench's directory; < 0: failed. */
double bench_xfer_run_disk(const struct bench_xfer_ctx *c);

/* Median GB/s (wall) of RUNS `zstd -1 -T1` of the image file written in
 * the bench's directory; -2: no zstd on PATH, -1: it failed. */
double bench_xfer_run_zstd_cli(const struct bench_xfer_ctx *c);

/* Both nodes' svc-prof sampler CPU seconds and samples so far, from
 * their /metrics (transfer_prof.c); NAN where a node did not answer. */
void bench_xfer_prof_read(const struct bench_xfer_ctx *c, double *cpu_s, double *samples);

/* ---- CPU time (transfer_cpu.c) ------------------------------------ */

#define MAX_PIDS 160u               /* both nodes: supervisors, services, standbys */
#define MAX_THREADS 1024u           /* their threads */

/* Both nodes' processes at one moment, and what their status says. */
struct bench_xfer_probe {
	struct {
		pid_t pid;
		double s;               /* utime + stime so far */
	} p[MAX_PIDS];
	unsigned n;
	struct bench_xfer_thread {
		pid_t tid;
		double s;               /* utime + stime so far */
		char name[40];          /* "B svc-net.1/svc-net" (node, process, thread) */
	} t[MAX_THREADS];
	unsigned nt;
	unsigned simd_workers;          /* svc-simd workers running on node A */
	unsigned net_workers;           /* svc-net workers running on node A */
	double dcache_bytes;            /* node B's delta cache */
};

void bench_xfer_probe_pair(const struct bench_xfer_ctx *c, struct bench_xfer_probe *pr);
/** The same for nodes @p inst_a (the sender) and @p inst_b. */
void bench_xfer_probe_nodes(const char *inst_a, const char *inst_b, struct bench_xfer_probe *pr);

/* CPU seconds both nodes spent between two probes. A process that
 * appeared in between counts whole; one restarted in between loses what
 * it spent (a bench node that restarts a service has a problem of its own). */
/* The BUSIEST threads between two probes, beside @p snd_s and @p
 * rcv_s, the main threads of dwcp send and recv, most CPU first. */
void bench_xfer_probe_busiest(const struct bench_xfer_probe *before, const struct bench_xfer_probe *after,
			      double snd_s, double rcv_s, struct bench_xfer_busy out[BUSIEST]);

double bench_xfer_probe_cpu_s(const struct bench_xfer_probe *before,
			      const struct bench_xfer_probe *after);

/* utime + stime of our waited-for children so far (getrusage). */
double bench_xfer_children_cpu_s(void);

/* The key file, the index directory and the nodes' hugepage size, for the
 * pairs to come. @return 0 or -1 (said on stderr). */
int bench_xfer_prepare(struct bench_xfer_ctx *c);

/* Nodes A and B, B listening, A knowing B as peer "b", on built-in
 * defaults but for @p workers ([simd] workers; 0: the default, auto) and
 * the bench's temporary [stream] index_dir. @return 0 or -1 (said). */
int bench_xfer_start_pair(struct bench_xfer_ctx *c, unsigned workers);
void bench_xfer_stop_pair(struct bench_xfer_ctx *c);

/* One transfer of the file "image" in the temp directory as @p stream,
 * into the temp file @p out; @p codec: "zstd", ... or NULL for the
 * node's default. @p tag names the children's output files. */
void bench_xfer_run_one(struct bench_xfer_ctx *c, const char *stream, const char *out,
			const char *codec, const char *tag, struct bench_xfer_run *x);

/* Remove @p name from the temporary directory. */
void bench_xfer_unlink(const struct bench_xfer_ctx *c, const char *name);

/* Nodes stopped, the temporary directory removed (unless --keep). */
void bench_xfer_cleanup(struct bench_xfer_ctx *c);

/* ---- everything measured, and its output (transfer_out.c) --------- */

struct bench_xfer_row {
	unsigned workers;
	struct bench_xfer_run x;
};

/* ---- the continuous profile's cost (transfer_sampling.c) -------- */

#define SAMP_HZ     1000u   /* the highest [prof] sample_hz: where its cost is measurable */
#define SAMP_RUNS   2u      /* zstd-1 transfers per block */
#define SAMP_BLOCKS 2u      /* off, SAMP_HZ, off, SAMP_HZ */

struct bench_xfer_sampling {
	int done;
	unsigned default_hz;            /* the built-in [prof] sample_hz */
	unsigned n[2];                  /* runs [0] profile off, [1] at SAMP_HZ */
	double gbs[2][SAMP_RUNS * SAMP_BLOCKS];
	double cpu_gb[2][SAMP_RUNS * SAMP_BLOCKS];     /* nodes' and clients' CPU-s per GB */
	double samples_s[2][SAMP_RUNS * SAMP_BLOCKS];  /* both nodes' samples per second */
};

struct cJSON;
int bench_xfer_run_sampling(struct bench_xfer_ctx *c, struct bench_xfer_sampling *s);
void bench_xfer_print_sampling(const struct bench_xfer_sampling *s);
void bench_xfer_sampling_json(struct cJSON *root, const struct bench_xfer_sampling *s);

struct bench_xfer_report {
	const struct bench_xfer_ctx *c;
	struct bench_xfer_inproc ip;
	double tcp;                     /* GB/s; < 0: failed */
	double disk;                    /* GB/s of the output disk; < 0: failed */
	double zstd_cli;                /* GB/s of `zstd -1 -T1`; -2: not installed, -1: failed */
	int tcp_buf;
	struct bench_xfer_row rows[MAX_ROWS];
	unsigned n_rows;
	struct bench_xfer_run main, autoc, delta;   /* zstd-1, codec auto, its delta resend */
	size_t dirty;                   /* pages changed for the delta send */
	double zstd_bytes;              /* zstd -1 of the changed image */
	struct bench_xfer_sampling samp; /* --sampling */
};

double bench_xfer_gbs(const struct bench_xfer_run *x, size_t n);
void bench_xfer_print_text(const struct bench_xfer_report *r);
void bench_xfer_print_json(const struct bench_xfer_report *r);

#endif
