/* dwcp-supervisor internals: the private half of every slot (MINIX's
 * rproc beside the public rprocpub in shared memory) and the node. Only
 * files of svc-supervisor/ include this. */
#ifndef DWCP_SUP_INTERNAL_H
#define DWCP_SUP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include "common/config.h"
#include "common/err.h"
#include "ipc/shm.h"

#define SUP_MAX_CONNS 64

struct sup;

struct sup_child {
	struct sup *sup;
	unsigned slot;
	bool enabled;            /* a service the config runs */
	bool is_client;
	pid_t pid;               /* 0 when no process */
	int pidfd;
	bool spawned;            /* our child (reap with waitid) */
	ev_io pid_w;
	ev_timer restart_w;
	ev_timer kill_w;         /* SIGTERM -> SIGKILL escalation */
	uint32_t backoff_ms;     /* next delay after a quick death */
	bool restart_now;        /* a planned restart (dwcpctl restart) */
	bool kill_sent;
	bool recovery_pending;   /* died; waiting for READY to time the recovery */
	uint64_t rate_prev_ops, rate_prev_bytes, rate_prev_ns;
	double ops_per_s, bytes_per_s;
	struct dwcp_hist hist_prev;
	uint64_t p50_ns, p99_ns, p9999_ns;   /* over the last sampling interval */
};

struct sup_conn {
	struct sup *sup;
	int fd;
	ev_io w;
	bool used;
};

struct sup {
	struct dwcp_config cfg;
	struct ev_loop *loop;
	struct dwcp_shm shm;
	char inst_dir[DWCP_PATH_MAX + DWCP_NAME_MAX + 2];
	char bin_dir[DWCP_PATH_MAX];
	int lock_fd;
	int listen_fd;
	int ready_fd;            /* pipe to the `start` parent; -1 when told */
	bool stopping;
	bool all_up_once;
	struct sup_child child[DWCP_MAX_SLOTS];
	struct sup_conn conn[SUP_MAX_CONNS];
	ev_io listen_w;
	ev_timer hb_w, rate_w, stop_w;
	ev_signal sigterm_w, sigint_w;
};

/* node.c: the instance directory, lock, EAL primary and the region. */
int sup_node_lock(struct sup *s, struct dwcp_err *err);
int sup_node_up(struct sup *s, struct dwcp_err *err);
void sup_node_down(struct sup *s);

/* children.c: spawning, the death handler, heartbeats, restarts. */
void sup_children_init(struct sup *s);
int sup_child_spawn(struct sup_child *c);
void sup_child_watch(struct sup_child *c, pid_t pid, int pidfd, bool spawned);
void sup_child_request_restart(struct sup_child *c);
void sup_children_stop_all(struct sup *s);
bool sup_children_all_up(const struct sup *s);
bool sup_children_none_alive(const struct sup *s);
void sup_children_check(struct sup *s);

/* control.c: the control socket. */
int sup_control_listen(struct sup *s, struct dwcp_err *err);
void sup_control_close(struct sup *s);

/* status.c: rates and the status document. */
void sup_status_sample(struct sup *s);
char *sup_status_json(struct sup *s);

/* main.c */
void sup_request_stop(struct sup *s, const char *why);
void sup_report_ready(struct sup *s, const char *msg);

#endif
