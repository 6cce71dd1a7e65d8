/* Commands that talk to a running supervisor over its control socket,
 * shared by dwcpctl and `dwcp-supervisor status|stop`. Each returns the
 * process exit status and prints its own messages. */
#ifndef DWCP_SUP_CTL_CLI_H
#define DWCP_SUP_CTL_CLI_H

#include <stdbool.h>

int sup_cli_status(const char *run_dir, const char *instance, bool json);
int sup_cli_restart(const char *run_dir, const char *instance, const char *service);
/* dwcpctl top: the status figures (rates over the supervisor's last 1 s
 * sample) redrawn every @p interval_ms until SIGINT, or @p count frames
 * (0: no limit); @p json: one object per frame instead of the table. */
int sup_cli_top(const char *run_dir, const char *instance, bool json, unsigned count,
		unsigned interval_ms);
int sup_cli_stop(const char *run_dir, const char *instance, int timeout_s);
/* Answered when done: drain once SVC holds no buffers (or an error after
 * @p timeout_s), resume once it is READY, upgrade once the new binary is
 * READY (with the pause it caused) or refused (with the reason). */
int sup_cli_drain(const char *run_dir, const char *instance, const char *service, int timeout_s);
int sup_cli_resume(const char *run_dir, const char *instance, const char *service);
int sup_cli_upgrade(const char *run_dir, const char *instance, const char *service,
		    const char *binary);
/* The further workers of @p service ("svc-simd.1", ...) that status lists,
 * in order, into @p names. @return how many, or -1 when status did not
 * answer. */
int sup_cli_workers_of(const char *run_dir, const char *instance, const char *service,
		       char names[][32], int max);

/* tune.c, for dwcpctl (dwcp-supervisor's wildcard build links it too but
 * never calls it); these need no running node: check this host's
 * network sysctls against dwcp's recommendation (0 all as recommended,
 * 1 something to change), or print the recommendation as a sysctl.d file. */
int sup_cli_tune_check(bool json);
/* doctor.c, for dwcpctl: this host checked for what a node of @p instance
 * (its config: @p config, else as dwcp-supervisor finds it) needs, each
 * failure with the command that fixes it; @p all: leftovers of every
 * instance under @p run_dir too (no --instance given). 0 healthy (warnings allowed),
 * 1 something to fix, 2 a bad config. */
int sup_cli_doctor(const char *run_dir, const char *instance, bool all, const char *config, bool json);
int sup_cli_tune_print_conf(void);

#endif
