/* Commands that talk to a running supervisor over its control socket,
 * shared by dwcpctl and `dwcp-supervisor status|stop`. Each returns the
 * process exit status and prints its own messages. */
#ifndef DWCP_SUP_CTL_CLI_H
#define DWCP_SUP_CTL_CLI_H

#include <stdbool.h>

int sup_cli_status(const char *run_dir, const char *instance, bool json);
int sup_cli_restart(const char *run_dir, const char *instance, const char *service);
int sup_cli_stop(const char *run_dir, const char *instance, int timeout_s);

#endif
