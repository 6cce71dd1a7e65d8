/* dwcp-supervisor: the DPDK primary of a dwcp node.
 *
 * `start` forks a daemon and waits, on a pipe, for it to say that every
 * enabled service reached READY or STANDBY (or why it could not), so the
 * command's exit status means something; `--foreground` runs in place
 * (systemd, Type=notify). `stop` and `status` talk to a running one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/timeutil.h"
#include "ipc/attach.h"
#include "ipc/route.h"
#include "ctl_cli.h"
#include "sup_config.h"
#include "sup_internal.h"


struct opts {
	const char *cmd;
	const char *config;
	const char *instance;
	const char *run_dir;
	const char *listen;
	bool foreground;
	bool json;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dwcp-supervisor [--instance NAME] [--config FILE] [--run-dir DIR] COMMAND\n"
		"commands:\n"
		"  start [--foreground] [--listen HOST:PORT]\n"
		"                        bring the node up: hugepage memory, links, all services;\n"
		"                        --listen overrides [net] listen (\"\" = accept no transfers)\n"
		"  stop                  stop every service, remove hugepage and runtime files\n"
		"  status [--json]       show every service (same as dwcpctl status)\n"
		"options:\n"
		"  --instance NAME  node name: DPDK file-prefix, runtime dir, control socket (default dwcp)\n"
		"  --config FILE    INI config (default " SYSTEM_CONFIG_DIR "/NAME.ini if it exists, else built-in\n"
		"                   defaults, which encrypt with " DEFAULT_KEY_FILE " if it exists)\n"
		"  --run-dir DIR    runtime directory root (default /run/dwcp)\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "instance", required_argument, NULL, 'i' }, { "config", required_argument, NULL, 'c' },
		{ "run-dir", required_argument, NULL, 'r' }, { "foreground", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' }, { "verbose", no_argument, NULL, 'v' },
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'i': o->instance = optarg; break;
		case 'c': o->config = optarg; break;
		case 'r': o->run_dir = optarg; break;
		case 'f': o->foreground = true; break;
		case 'j': o->json = true; break;
		case 'l': o->listen = optarg; break;
		case 'v': dwcp_log_init("dwcp-supervisor", DWCP_LOG_DEBUG); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, optind < argc ? "dwcp-supervisor: one command expected\n" :
						"dwcp-supervisor: no command given\n");
		usage(stderr);
		return -EINVAL;
	}
	o->cmd = argv[optind];
	return 0;
}

static int load_config(struct dwcp_config *cfg, const struct opts *o, struct dwcp_err *err)
{
	int rc = sup_config_resolve(cfg, o->config, o->instance, err);

	if (rc)
		return rc;
	if (o->listen) {
		char host[DWCP_ADDR_MAX];
		uint16_t port;

		if (*o->listen && dwcp_addr_split(o->listen, host, &port, err))
			return dwcp_err_set(err, -EINVAL, "--listen: %s", err->msg);
		snprintf(cfg->net_listen, sizeof(cfg->net_listen), "%s", o->listen);
	}
	if (o->run_dir)
		snprintf(cfg->run_dir, sizeof(cfg->run_dir), "%s", o->run_dir);
	else if (getenv("DWCP_RUN_DIR") && *getenv("DWCP_RUN_DIR"))
		snprintf(cfg->run_dir, sizeof(cfg->run_dir), "%s", getenv("DWCP_RUN_DIR"));
	return dwcp_config_validate(cfg, err);
}

void sup_report_ready(struct sup *s, const char *msg)
{
	if (s->ready_fd >= 0) {
		if (write(s->ready_fd, msg, strlen(msg)) < 0) {
			/* the waiting parent is gone; nothing to tell */
		}
		close(s->ready_fd);
		s->ready_fd = -1;
	}
}

void sup_request_stop(struct sup *s, const char *why)
{
	if (s->stopping)
		return;
	DWCP_INFO("stopping instance '%s': %s", s->cfg.instance, why);
	s->stopping = true;
	sd_notify(0, "STOPPING=1");
	sup_children_stop_all(s);
	if (sup_children_none_alive(s))
		ev_break(s->loop, EVBREAK_ALL);
}

static void on_hb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sup *s = w->data;

	(void)loop;
	(void)revents;
	sup_children_check(s);
	sup_control_sweep(s, dwcp_now_ns());
	if (!s->all_up_once && sup_children_all_up(s)) {
		s->all_up_once = true;
		DWCP_INFO("instance '%s': all services up", s->cfg.instance);
		sup_report_ready(s, "ok");
	}
	/* In systemd mode the services' units start After= this one is
	 * active: waiting for them before READY=1 would deadlock until
	 * TimeoutStartSec (systemd_mode_test). The instance is up, they can
	 * attach. */
	if (!s->sd_ready_sent && (s->all_up_once || s->cfg.systemd_services)) {
		s->sd_ready_sent = true;
		sd_notify(0, "READY=1");
	}
	sd_notify(0, "WATCHDOG=1");
}

static void on_rate(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	sup_status_sample(w->data);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	sup_request_stop(w->data, w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void find_bin_dir(struct sup *s)
{
	char exe[DWCP_PATH_MAX];
	ssize_t n;

	if (s->cfg.bin_dir[0]) {
		snprintf(s->bin_dir, sizeof(s->bin_dir), "%s", s->cfg.bin_dir);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	snprintf(s->bin_dir, sizeof(s->bin_dir), "%s", n > 0 ? dirname(exe) : ".");
}

static void start_watchers(struct sup *s)
{
	ev_timer_init(&s->hb_w, on_hb, 0, s->cfg.heartbeat_ms / 1000.0);
	s->hb_w.data = s;
	ev_timer_start(s->loop, &s->hb_w);
	ev_timer_init(&s->rate_w, on_rate, 1.0, 1.0);
	s->rate_w.data = s;
	ev_timer_start(s->loop, &s->rate_w);
	ev_signal_init(&s->sigterm_w, on_signal, SIGTERM);
	s->sigterm_w.data = s;
	ev_signal_start(s->loop, &s->sigterm_w);
	ev_signal_init(&s->sigint_w, on_signal, SIGINT);
	s->sigint_w.data = s;
	ev_signal_start(s->loop, &s->sigint_w);
}

static void redirect_log(const struct sup *s)
{
	char p[DWCP_PATH_MAX + DWCP_NAME_MAX + 32];
	int fd, nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

	snprintf(p, sizeof(p), "%s/supervisor.log", s->inst_dir);
	fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (nul >= 0)
		dup2(nul, 0);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	if (nul > 2)
		close(nul);
}

/* Say why start-up failed once: to the waiting `start` parent, else to the log. */
static void fail(struct sup *s, const char *msg)
{
	if (s->ready_fd >= 0)
		sup_report_ready(s, msg);
	else
		DWCP_ERR("%s", msg);
}

/* svc-net workers share [net] listen with SO_REUSEPORT, and so would
 * another process of this user that sets it (another node given the same
 * port): the kernel would hand it some of our connections, silently.
 * Before any worker listens, the port must take a socket without the
 * option. A node killed just before may still be closing its sockets:
 * a few tries. */
static int net_listen_check(const struct sup *s, struct dwcp_err *err)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = -1, one = 1;

	if (!s->cfg.net_listen[0] || dwcp_route_workers(&s->shm, DWCP_SLOT_NET) < 2 ||
	    !s->child[DWCP_SLOT_NET].enabled || dwcp_addr_resolve(s->cfg.net_listen, &ss, &len, err))
		return 0;   /* an address svc-net cannot use: it says so itself */
	for (int tries = 0; tries < 20; tries++) {
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return 0;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&ss, len) == 0 || errno != EADDRINUSE) {
			close(fd);
			return 0;
		}
		close(fd);
		usleep(100000);
	}
	return dwcp_err_set(err, -EADDRINUSE,
			    "[net] listen = %s is in use by another process (another node given the same port?): svc-net's %u workers would share it with that process; stop it, or give this node another port",
			    s->cfg.net_listen, dwcp_route_workers(&s->shm, DWCP_SLOT_NET));
}

static int run(struct sup *s, bool daemon_child)
{
	struct dwcp_err err = { 0 };
	int rc;

	signal(SIGPIPE, SIG_IGN);
	rc = sup_node_lock(s, &err);
	if (rc == 0 && daemon_child)
		redirect_log(s);
	if (rc == 0)
		rc = sup_node_up(s, &err);
	if (rc) {
		fail(s, err.msg);
		return 1;
	}
	find_bin_dir(s);
	/* Not the default loop: it would install a SIGCHLD handler that reaps
	 * our children before waitid(P_PIDFD) can read how they died. */
	s->loop = ev_loop_new(EVFLAG_AUTO);
	sup_children_init(s);
	if (net_listen_check(s, &err) || sup_control_listen(s, &err)) {
		fail(s, err.msg);
		sup_node_down(s);
		return 1;
	}
	start_watchers(s);
	DWCP_INFO("instance '%s' up: pid %d, %u buffers of %u bytes, services from %s",
		  s->cfg.instance, (int)getpid(), s->shm.n_bufs, s->shm.buf_size, s->bin_dir);
	for (unsigned i = 1; i < DWCP_MAX_SLOTS && !s->cfg.systemd_services; i++)
		if (sup_is_service_slot(i) && s->child[i].enabled && sup_child_spawn(&s->child[i]) != 0)
			sup_child_request_restart(&s->child[i]);
	ev_run(s->loop, 0);
	sup_control_close(s);
	sup_node_down(s);
	return 0;
}

/* The `start` parent: wait for the daemon's verdict, then show status. */
static int wait_daemon(int fd, const struct dwcp_config *cfg)
{
	char msg[1024] = "";
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int timeout = (int)cfg->init_timeout_ms + 20000;
	ssize_t n = 0;

	if (poll(&p, 1, timeout) == 1)
		n = read(fd, msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	if (n <= 0) {
		fprintf(stderr,
			"dwcp-supervisor: the node did not come up within %d s; see %s/%s/supervisor.log\n",
			timeout / 1000, cfg->run_dir, cfg->instance);
		return 1;
	}
	if (strcmp(msg, "ok") != 0) {
		fprintf(stderr, "dwcp-supervisor: %s\n", msg);
		return 1;
	}
	return sup_cli_status(cfg->run_dir, cfg->instance, false);
}

static int cmd_start(struct sup *s, const struct opts *o)
{
	int pfd[2];
	pid_t pid;

	if (o->foreground)
		return run(s, false);
	if (pipe2(pfd, O_CLOEXEC))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid > 0) {
		close(pfd[1]);
		return wait_daemon(pfd[0], &s->cfg);
	}
	close(pfd[0]);
	setsid();
	s->ready_fd = pfd[1];
	exit(run(s, true));
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct dwcp_err err = { 0 };
	static struct sup s;

	dwcp_log_init("dwcp-supervisor", DWCP_LOG_INFO);
	if (parse(argc, argv, &o))
		return 2;
	if (load_config(&s.cfg, &o, &err)) {
		fprintf(stderr, "dwcp-supervisor: %s\n", err.msg);
		return 2;
	}
	s.ready_fd = -1;
	s.listen_fd = -1;
	s.lock_fd = -1;
	if (strcmp(o.cmd, "start") == 0)
		return cmd_start(&s, &o);
	if (strcmp(o.cmd, "stop") == 0)
		return sup_cli_stop(s.cfg.run_dir, s.cfg.instance, 60);
	if (strcmp(o.cmd, "status") == 0)
		return sup_cli_status(s.cfg.run_dir, s.cfg.instance, o.json);
	fprintf(stderr, "dwcp-supervisor: unknown command '%s'\n", o.cmd);
	usage(stderr);
	return 2;
}
