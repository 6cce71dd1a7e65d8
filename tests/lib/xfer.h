/* Test helpers for transfers between two dwcp nodes: `dwcp send` on one,
 * `dwcp recv` on the other, run as the user runs them (separate
 * processes, their output captured), plus what those tests need around
 * them: test files (a VM-image-like mix of zero, text and random pages,
 * changed a little for a second version), SHA-256 of a file, the JSON
 * summaries, free TCP ports, network namespaces joined by a veth pair,
 * and a guardian that undoes host-level changes (netns, veth, mounts)
 * when the test process dies without cleaning up.
 *
 * Concurrency: one thread; no global state except the netns saved by
 * dwcp_xfer_netns_enter. Never call them from a process that attached as
 * a client (they fork and exec).
 */
#ifndef DWCP_TESTS_LIB_XFER_H
#define DWCP_TESTS_LIB_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "tests/lib/node.h"

/* ---- test files ---- */

/**
 * Write a VM-image-like file of @p size bytes, deterministic from
 * @p seed: 4 KiB pages that are all zero, text, or random, in a mix
 * (about 40 % / 30 % / 30 %); the last page may be short.
 * @return 0 or -errno.
 */
int dwcp_xfer_make_image(const char *path, uint64_t size, uint64_t seed);

/** Write @p size pseudo-random bytes from @p seed. @return 0 or -errno. */
int dwcp_xfer_make_random(const char *path, uint64_t size, uint64_t seed);

/**
 * Change a few bytes (4, at random offsets, each XORed with a non-zero
 * value) in exactly one of every @p one_in 4 KiB pages of @p path, in
 * place (one_in 20 = 5 % of the pages). @p changed receives the number
 * of pages changed. @return 0 or -errno.
 */
int dwcp_xfer_touch_pages(const char *path, unsigned one_in, uint64_t seed, uint64_t *changed);

/** SHA-256 of the file as 64 hex digits. @return 0 or -errno. */
int dwcp_xfer_sha256(const char *path, char hex[65]);

/** Size of @p path; -1 when it does not exist (or cannot be stat'ed). */
long long dwcp_xfer_file_size(const char *path);

/**
 * Bytes `dwcp recv` (pid @p recv_pid) has written so far for output
 * @p out: the size of the largest file other than @p out it holds open
 * in @p out's directory (its temporary, which has no name, or the partial
 * copy it resumes), else the size of @p out once it exists; -1 when
 * neither.
 */
long long dwcp_xfer_recv_bytes(pid_t recv_pid, const char *out);

/* ---- commands in the background ---- */

struct dwcp_xfer_proc {
	pid_t pid;            /* 0 when not started or reaped */
	int status;           /* exit status, 128 + signal, -ETIMEDOUT, -errno */
	bool done;
	char what[64];        /* for messages, e.g. "dwcp send" */
	char out_path[96], err_path[96];
	char *out, *err;      /* captured stdout/stderr after wait (malloc'd, NUL-terminated) */
};

/**
 * Start @p argv (argv[0] a path) in the background, inside network
 * namespace @p netns (a name under /run/netns) unless NULL, stdout and
 * stderr going to files. @return 0 or -errno.
 */
int dwcp_xfer_spawn(struct dwcp_xfer_proc *p, const char *what, const char *netns,
		    char *const argv[]);

/** True while it runs (reaps it when it ended: then wait returns at once). */
bool dwcp_xfer_running(struct dwcp_xfer_proc *p);

/**
 * Wait until it exits, at most @p timeout_ms (a hang guard: then it is
 * killed and the result is -ETIMEDOUT); read its output into p->out and
 * p->err. @return p->status.
 */
int dwcp_xfer_wait(struct dwcp_xfer_proc *p, unsigned timeout_ms);

/** Print what it was, its status and its output to stderr. */
void dwcp_xfer_print(const struct dwcp_xfer_proc *p);

/** Kill it if it still runs, free the captures, remove the files. Idempotent. */
void dwcp_xfer_proc_free(struct dwcp_xfer_proc *p);

/**
 * Hold `dwcp recv` @p rcv (SIGSTOP, every thread stopped: a sink slower
 * than the link, as a busy disk makes one) once it has written at least
 * @p at bytes of @p out (dwcp_xfer_recv_bytes). It is checked only while
 * held, so the transfer cannot end between the check and what the caller
 * does next, however long the test is descheduled: the sender's window
 * fills and waits. @return the bytes written, @p rcv held; or -1, not
 * held, when it or @p other (may be NULL) ended first, or after
 * @p guard_ms. dwcp_xfer_release() lets it go on.
 */
long long dwcp_xfer_hold_recv_at(struct dwcp_xfer_proc *rcv, struct dwcp_xfer_proc *other,
				 const char *out, uint64_t at, unsigned guard_ms);

/** SIGCONT @p p while it runs (a held receiver goes on). */
void dwcp_xfer_release(struct dwcp_xfer_proc *p);

/* ---- dwcp send / recv ---- */

/** "<build>/bin/dwcp". */
const char *dwcp_xfer_cli(void);

/**
 * Start `dwcp recv --instance I --stream S --out OUT --json --timeout T`
 * (in @p netns unless NULL). @return as dwcp_xfer_spawn.
 */
int dwcp_xfer_recv_start(struct dwcp_xfer_proc *p, const char *netns, const char *instance,
			 const char *stream, const char *out, unsigned timeout_s);

/** As dwcp_xfer_recv_start, with the NULL-terminated @p extra arguments (may be NULL). */
int dwcp_xfer_recv_start_extra(struct dwcp_xfer_proc *p, const char *netns, const char *instance,
			       const char *stream, const char *out, unsigned timeout_s,
			       const char *const *extra);

/**
 * Start `dwcp send --instance I --stream S --file F --to PEER --json
 * --timeout T` and the NULL-terminated @p extra arguments (may be NULL).
 */
int dwcp_xfer_send_start(struct dwcp_xfer_proc *p, const char *instance, const char *stream,
			 const char *file, const char *to, unsigned timeout_s,
			 const char *const *extra);

/** The first JSON object in @p text (cJSON_Delete it), or NULL. */
cJSON *dwcp_xfer_json(const char *text);

/** Number @p field of the first JSON object in @p text; -1 when absent. */
double dwcp_xfer_json_num(const char *text, const char *field);

/**
 * Remove the test directory @p dir (rm -rf) and make it "" (so teardown
 * may call this again); a failure is printed, not fatal. "" does nothing.
 */
void dwcp_xfer_rmdir(char *dir);

/* ---- ports, keys, shell ---- */

/**
 * @p n distinct TCP ports, free on every address of this host right now,
 * from 20000 + pid % 20000 upwards (they wrap below 65536).
 */
void dwcp_xfer_ports(int *ports, unsigned n);

/** Run `dwcp keygen PATH` (removing PATH first). @return its exit status. */
int dwcp_xfer_keygen(const char *path);

/**
 * Run a shell command (PATH with the sbin dirs), stdout and stderr
 * captured together into @p out (may be NULL), hang guard 60 s.
 * @return its exit status.
 */
int dwcp_xfer_sh(char *out, size_t out_n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- guardian of host changes ---- */

struct dwcp_xfer_guard {
	pid_t pid;      /* 0 when none */
	int fd;
	char cleanup[1024];
};

/**
 * Fork a guardian that, if the test process ends without calling
 * dwcp_xfer_guard_release, runs the shell command @p cleanup (e.g. ip
 * netns del ...). @return 0 or -errno.
 */
int dwcp_xfer_guard_start(struct dwcp_xfer_guard *g, const char *cleanup);

/** Run the cleanup now and dismiss the guardian. Idempotent. */
void dwcp_xfer_guard_release(struct dwcp_xfer_guard *g);

/* ---- two network namespaces' worth: the root one and one we create ---- */

struct dwcp_xfer_netns {
	char ns[32];            /* under /run/netns */
	char veth_a[16];        /* in the root namespace */
	char veth_b[16];        /* moved into ns */
	char ip_a[20], ip_b[20];
	struct dwcp_xfer_guard guard;
	bool created;
};

/**
 * Create namespace "dwcpN<pid>" and a veth pair, one end in it
 * (10.x.y.2/30, up, with lo up), the other here (10.x.y.1/30, up); x.y
 * from the pid. @return 0, or the failing command's status (printed).
 */
int dwcp_xfer_netns_create(struct dwcp_xfer_netns *n);

/** Remove the veth pair and the namespace. Idempotent. */
void dwcp_xfer_netns_destroy(struct dwcp_xfer_netns *n);

/**
 * Move this thread into namespace @p ns (what it forks from now on
 * starts there) until dwcp_xfer_netns_leave. @return 0 or -errno.
 */
int dwcp_xfer_netns_enter(const char *ns);

/** Back to the namespace of before dwcp_xfer_netns_enter. @return 0 or -errno. */
int dwcp_xfer_netns_leave(void);

/* ---- two nodes ---- */

/* How dwcp_xfer_pair_start sets up nodes A (sender) and B (receiver). */
struct dwcp_xfer_pair_cfg {
	const char *tag;           /* short name for the instances: "xa-<tag>", "xb-<tag>" */
	const char *netns_b;       /* start node B inside this namespace; NULL: here */
	const char *host_a;        /* A's listen address; NULL: 127.0.0.1 */
	const char *host_b;        /* B's listen address; NULL: 127.0.0.1 */
	bool via_extra_port;       /* A's peer "nodeb" is 127.0.0.1:port_extra (a proxy) */
	bool no_b;                 /* start node A only */
	unsigned connections;      /* net.connections; 0: 4 */
	unsigned hugepage_mb;      /* supervisor.hugepage_mb; 0: 512 (the built-in) */
	unsigned cache_mb;         /* mem.delta_cache_mb; 0: the built-in default */
	unsigned cache_mb_b;       /* B's mem.delta_cache_mb alone; 0: as cache_mb */
	const char *key_a, *key_b; /* crypto.key_file of each; NULL: none */
	const char *const *extra;  /* NULL-terminated overrides for both nodes, may be NULL */
	const char *const *extra_a, *const *extra_b;   /* ... for one node, after extra */
};

struct dwcp_xfer_pair {
	struct dwcp_test_node a, b;
	int port_a, port_b, port_extra;   /* three distinct free ports */
	char addr_b[64];                  /* HOST:PORT of B's listener */
	char netns_b[32];                 /* "" when B runs here */
};

/**
 * Pick ports, write both configs (the built-in chunks, window, pool and
 * hugepage memory, [peers] nodeb on A and nodea on B) and
 * start B, then A. Node B's config (and so A's peer address) uses
 * @p c->host_b. @return 0, or which node failed: 'A' or 'B' (its start
 * output printed). dwcp_xfer_pair_stop tears down either way.
 */
int dwcp_xfer_pair_start(struct dwcp_xfer_pair *p, const struct dwcp_xfer_pair_cfg *c);

/** Stop both nodes (idempotent). */
void dwcp_xfer_pair_stop(struct dwcp_xfer_pair *p);

/** Dump both nodes' status and log tails with @p why (after a failure). */
void dwcp_xfer_pair_dump(const struct dwcp_xfer_pair *p, const char *why);

/**
 * Copy both nodes' logs (every *.log of their instance dirs) into
 * @p dest/<instance>/ (created), so that they outlive the teardown.
 */
void dwcp_xfer_pair_save_logs(const struct dwcp_xfer_pair *p, const char *dest);

/* ---- comparing files ---- */

/**
 * Compare @p a and @p b in blocks of @p block bytes. @p first receives the
 * offset of the first differing byte (-1 when none; the shorter length
 * when one is a prefix of the other), @p blocks the number of blocks that
 * differ (a block missing from one file counts). @return 0 equal,
 * 1 different, -errno.
 */
int dwcp_xfer_first_diff(const char *a, const char *b, uint64_t block, long long *first,
			 uint64_t *blocks);

#endif
