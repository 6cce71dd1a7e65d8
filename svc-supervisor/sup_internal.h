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
#include "ipc/ctl_msg.h"
#include "ipc/peers.h"
#include "ipc/shm.h"

/* Control connections (control.c): at most SUP_MAX_CONNS at once, of
 * which one process may hold SUP_CONNS_PER_PID that have not attached; one
 * that has not attached is closed SUP_CTL_IDLE_MS after its last valid
 * request, unless a deferred answer (drain, upgrade) is due to it. */
#define SUP_MAX_CONNS     128
#define SUP_CONNS_PER_PID 8
#define SUP_CTL_IDLE_MS   5000

struct sup;
struct sup_conn;

/* A control request answered when done, not when accepted (DRAIN, RESUME,
 * UPGRADE): one per slot at a time. */
struct sup_pending {
	struct sup_conn *cn;     /* NULL: none; cleared if the caller hangs up */
	int type;                /* enum dwcp_ctl_type */
	uint64_t t0_ns, deadline_ns;
};

enum sup_upgrade_phase {
	UP_NONE = 0,
	UP_ATTACHING,            /* successor spawned; old generation untouched */
	UP_HANDOVER,             /* successor attached; old generation told to drain (SIGTERM) */
	UP_STARTING,             /* old gone, successor told "go"; waiting for READY */
	UP_STANDBY,              /* hot standby: attached, parked until the slot's process dies */
};

/* A planned upgrade in progress (upgrade.c): the successor runs beside the
 * slot's current process until it is told "go". */
struct sup_upgrade {
	enum sup_upgrade_phase phase;
	pid_t pid;               /* the successor; 0 once it is the slot's process */
	int pidfd;
	ev_io pid_w;
	ev_timer attach_w;       /* init_timeout_ms to attach */
	uint32_t gen;            /* the generation it attaches as */
	bool attached;           /* it sent TAKEOVER (status 0) */
	bool old_dead;           /* the old generation is gone (drained, or crashed) */
	bool old_crashed;        /* ... without being told to */
	bool standby;            /* a hot standby ([supervisor] hot_standby), not an upgrade */
	uint64_t standby_next_ns;   /* earliest next standby spawn (after one failed) */
	struct sup_conn *succ_cn;   /* its control connection, for "go" */
	pid_t old_pid;
	uint32_t old_gen;
	uint64_t t_spawn, t_attached, t_term, t_old_dead, t_go;
	char path[DWCP_CTL_TEXT_MAX];   /* the new binary */
	char prev[DWCP_CTL_TEXT_MAX];   /* the binary it replaces */
	char why[DWCP_CTL_TEXT_MAX];    /* the successor's own reason for failing */
};

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
	char kill_why[96];       /* why the supervisor sent SIGKILL, if it did */
	char stuck[512];         /* a hang's kill: where it was (hang_report.h) */
	char last_death[768];    /* the last crash, for dwcpctl status: how and why */
	uint64_t last_death_ns;  /* when; 0 = none since the supervisor started */
	bool recovery_pending;   /* died; waiting for READY to time the recovery */
	uint64_t rate_prev_ops, rate_prev_bytes, rate_prev_ns;
	double ops_per_s, bytes_per_s;
	struct dwcp_hist hist_prev;
	uint64_t p50_ns, p99_ns, p9999_ns;   /* over the last sampling interval */
	char bin[DWCP_CTL_TEXT_MAX];   /* binary it runs; "" = <bin_dir>/<name> */
	uint32_t upgrades;             /* planned upgrades (restarts do not count them) */
	uint64_t blackout_ns;          /* the last upgrade's: SIGTERM of the old -> READY */
	struct sup_pending pending;
	struct sup_upgrade up;
};

struct sup_conn {
	struct sup *sup;
	int fd;
	ev_io w;
	bool used;
	bool attached;           /* its HELLO got a slot (or an upgrade's place): lives with it */
	pid_t pid;               /* SO_PEERCRED at accept */
	uid_t uid;
	uint64_t last_ns;        /* accept, or its last valid request */
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
	bool sd_ready_sent;     /* READY=1 told to systemd */
	uint64_t last_check_ns;  /* the last heartbeat check (children.c) */
	struct sup_child child[DWCP_MAX_SLOTS];
	struct sup_port *port;   /* [net] transport = dpdk (port.c); NULL otherwise */
	/* The peer table's byte counters at the last sampling, for rates. */
	struct sup_peer_rate {
		uint64_t key, tx, rx, ns;
		double tx_per_s, rx_per_s;
	} peer_rate[DWCP_MAX_PEERS];
	struct sup_conn conn[SUP_MAX_CONNS];
	ev_io listen_w;
	ev_timer hb_w, rate_w, stop_w;
	ev_signal sigterm_w, sigint_w;
};

/* node.c: the instance directory, lock, EAL primary and the region. */
int sup_node_lock(struct sup *s, struct dwcp_err *err);
int sup_node_up(struct sup *s, struct dwcp_err *err);
void sup_node_down(struct sup *s);

/* port.c: the DPDK port of [net] transport = dpdk (ipc/port.h). */
struct cJSON;
int sup_port_open(struct sup *s, struct dwcp_err *err);
/** Hugepage bytes the port takes after the region (0 without a DPDK port). */
uint64_t sup_port_hugepage_bytes(const struct sup *s);
/** [net] port names a PCI NIC (EAL must be allowed to probe it at init). */
bool sup_port_pci(const struct dwcp_config *cfg);
void sup_port_close(struct sup *s);
/** Process @p pid died: if it was a consumer of the port, have the port threads reset its rings. */
void sup_port_process_died(struct sup *s, pid_t pid);
void sup_port_sample(struct sup *s);
void sup_port_json(struct sup *s, struct cJSON *root);

/** A service's slot: one of the six, or a further worker of one. */
static inline bool sup_is_service_slot(unsigned slot)
{
	return (slot >= 1 && slot < DWCP_SLOT_CLIENT0) || dwcp_abi_is_worker_slot(slot);
}

/** A slot shown and run as a service: one of the six (enabled or not), or
 * a worker slot given to a service (unused worker slots are neither). */
static inline bool sup_shows_service(const struct sup *s, unsigned slot)
{
	return (slot >= 1 && slot < DWCP_SLOT_CLIENT0) ||
	       (dwcp_abi_is_worker_slot(slot) && s->child[slot].enabled);
}

/* children.c: spawning, the death handler, heartbeats, restarts. */
/** Slots, names, workers and the route table, from the config. */
void sup_children_init(struct sup *s);
/**
 * The service slot named @p name ("svc-simd", or a further worker's
 * "svc-simd.2" as `dwcpctl status` shows it). @return the slot or -EINVAL.
 */
int sup_slot_by_name(const struct sup *s, const char *name);
/** The text naming what @p sup_slot_by_name accepts, for error messages. */
#define SUP_SERVICE_NAMES "svc-net, svc-rdma, svc-gpu, svc-simd, svc-mem, svc-prof, or a worker of one as `dwcpctl status` names it (svc-simd.1)"

int sup_child_spawn(struct sup_child *c);
/** fork+exec @p path for slot @p c (with --takeover when @p takeover);
 * @return 0 with *@p pid / *@p pidfd, or -errno (logged). */
int sup_child_exec(struct sup_child *c, const char *path, bool takeover, pid_t *pid, int *pidfd);
/** The binary slot @p c runs: its upgraded one, or <bin_dir>/<name>. */
const char *sup_child_binary(const struct sup_child *c, char *buf, size_t n);
void sup_child_set_state(struct sup_child *c, enum dwcp_sup_state st, const char *why);
/** SIGTERM now, SIGKILL after the grace period (the drain of an exit). */
void sup_child_terminate(struct sup_child *c);
/** Start the slot again (after backoff if it keeps dying). */
void sup_child_restart_later(struct sup_child *c);
void sup_child_watch(struct sup_child *c, pid_t pid, int pidfd, bool spawned);
void sup_child_request_restart(struct sup_child *c);
void sup_children_stop_all(struct sup *s);
bool sup_children_all_up(const struct sup *s);
bool sup_children_none_alive(const struct sup *s);
void sup_children_check(struct sup *s);
/** Workers service slot @p svc runs: its [..] workers setting, or what auto gives here. */
unsigned sup_workers_wanted(const struct sup *s, unsigned svc);

/* control.c: the control socket. */
int sup_control_listen(struct sup *s, struct dwcp_err *err);
void sup_control_close(struct sup *s);
/** Close connections idle past SUP_CTL_IDLE_MS (heartbeat tick). */
void sup_control_sweep(struct sup *s, uint64_t now);
/** Send @p cn a text reply of @p type. */
void sup_control_reply(struct sup_conn *cn, enum dwcp_ctl_type type, int status,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/** Remember @p cn's request of @p type on @p c, to answer within @p timeout_ms. */
void sup_control_defer(struct sup_child *c, struct sup_conn *cn, enum dwcp_ctl_type type,
		       uint32_t timeout_ms);
/** Answer @p c's deferred request (if its caller is still there) and forget it. */
void sup_control_answer(struct sup_child *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* drain.c: DRAIN and RESUME (the slot's drain flag). */
void sup_drain_request(struct sup_conn *cn, const struct dwcp_ctl_req *req);
void sup_drain_resume(struct sup_conn *cn, const struct dwcp_ctl_req *req);
/** Answer a deferred DRAIN/RESUME once done or timed out (heartbeat tick). */
void sup_drain_check(struct sup_child *c, uint64_t now);

/* upgrade.c: the planned upgrade (dwcpctl upgrade). */
void sup_upgrade_init(struct sup_child *c);
void sup_upgrade_request(struct sup_conn *cn, const struct dwcp_ctl_req_ext *req);
/** The slot whose successor is @p pid, or NULL. */
struct sup_child *sup_upgrade_successor_of(struct sup *s, pid_t pid);
/** Keep @p msg as the reason the successor of @p c failed (a HELLO refusal). */
void sup_upgrade_note(struct sup_child *c, const char *msg);
/** An operator's upgrade (or a standby's takeover) is under way: other commands wait. */
bool sup_upgrade_busy(const struct sup_child *c);
/** The parked hot standby's pid, or 0. */
pid_t sup_upgrade_standby_pid(const struct sup_child *c);
void sup_upgrade_takeover(struct sup_conn *cn, const struct dwcp_ctl_req_ext *req);
/**
 * The death handler's question, after reclaim and the generation bump:
 * does the upgrade decide what comes next? true: the successor takes the
 * slot (now or once it attached), do not restart; false: restart as after
 * any death (no upgrade, or it failed).
 */
bool sup_upgrade_old_died(struct sup_child *c, const char *why);
/** Complete an upgrade whose successor is READY (heartbeat tick). */
void sup_upgrade_check(struct sup_child *c, uint64_t now);
/** The supervisor stops: end the successor too. */
void sup_upgrade_stop(struct sup_child *c);
/** A connection closes: forget it wherever an upgrade or a request waits on it. */
void sup_upgrade_forget_conn(struct sup_child *c, const struct sup_conn *cn);

/* status.c: rates and the status document. */
void sup_status_sample(struct sup *s);
char *sup_status_json(struct sup *s);

/* main.c */
void sup_request_stop(struct sup *s, const char *why);
void sup_report_ready(struct sup *s, const char *msg);

#endif
