/* dwcpctl: the operator's command for a running node. Every command goes
 * through the node's control socket; nothing here attaches to DPDK. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ipc/attach.h"
#include "ctl_cli.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dwcpctl [--instance NAME] [--run-dir DIR] COMMAND\n"
		"commands:\n"
		"  status [--json]   every service: state, pid, generation, restarts, uptime,\n"
		"                    heartbeat age, buffers held, link depths, rates\n"
		"  restart SVC       drain SVC and start a new generation of it\n"
		"  stop              stop the node (same as dwcp-supervisor stop)\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "instance", required_argument, NULL, 'i' }, { "run-dir", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *instance = DWCP_DEFAULT_INSTANCE, *run_dir = NULL, *cmd;
	bool json = false;
	int c;

	dwcp_log_init("dwcpctl", DWCP_LOG_INFO);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'i': instance = optarg; break;
		case 'r': run_dir = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	run_dir = dwcp_attach_run_dir(run_dir);
	cmd = argv[optind];
	if (strcmp(cmd, "status") == 0 && optind + 1 == argc)
		return sup_cli_status(run_dir, instance, json);
	if (strcmp(cmd, "restart") == 0 && optind + 2 == argc)
		return sup_cli_restart(run_dir, instance, argv[optind + 1]);
	if (strcmp(cmd, "stop") == 0 && optind + 1 == argc)
		return sup_cli_stop(run_dir, instance, 60);
	fprintf(stderr, "dwcpctl: bad command line: '%s'%s\n", cmd,
		optind + 1 < argc ? " with unexpected arguments" : "");
	usage(stderr);
	return 2;
}
