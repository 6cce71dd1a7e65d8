/* dwcpctl: the operator's command for a running node. Every node command
 * goes through the node's control socket; nothing here attaches to DPDK.
 * `tune` is the exception that needs no node: it checks the host's
 * kernel network settings (tune.c). */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
		"  upgrade SVC --binary PATH\n"
		"                    replace SVC by the binary PATH without stopping the node:\n"
		"                    PATH attaches beside the running SVC, which then drains\n"
		"                    and hands over; prints the pause it caused. A binary that\n"
		"                    cannot attach (another ABI) is refused, SVC keeps running.\n"
		"  SVC               a service (svc-net ... svc-prof): upgrade, restart, drain\n"
		"                    and resume act on each of its workers (svc-simd, svc-simd.1,\n"
		"                    ...) one after the other; SVC.N (svc-simd.1) on that one\n"
		"  drain SVC [--timeout SEC]\n"
		"                    SVC takes no new input and finishes what it holds; returns\n"
		"                    when it holds no buffers (error after SEC, default 30)\n"
		"  resume SVC        undo drain: SVC takes input again\n"
		"  top [--once] [--count N] [--interval SEC] [--json]\n"
		"                    live view, redrawn every SEC (default 1): each service and\n"
		"                    worker (state, restarts, steps/s, MB/s, step p50/p99,\n"
		"                    buffers, link depths) and each stream (chunks/s, MB/s);\n"
		"                    --once = --count 1; --json: one object per frame\n"
		"  profile SVC|all --out FILE.svg [--seconds N] [--hz HZ]\n"
		"                    sample the call stacks of SVC (every worker) or of all\n"
		"                    services for N seconds (default 10) at HZ (default 99):\n"
		"                    SVG flame graph, FILE.folded, and the hottest functions\n"
		"  doctor [--config FILE] [--json]\n"
		"                    check this host for what the node needs (hugepages, memlock,\n"
		"                    leftover runtime files, the key file, sysctls, devices, clock,\n"
		"                    the running node's services): each failure with the command\n"
		"                    that fixes it; exit 1 if something must be fixed\n"
		"  stop              stop the node (same as dwcp-supervisor stop)\n"
		"  tune --check [--json]\n"
		"                    this host's network sysctls beside dwcp's recommendation,\n"
		"                    with the command that sets each; exit 1 if any differs\n"
		"                    (limits count as OK at or above the recommended value)\n"
		"  tune --print-conf the recommendation as a sysctl.d file\n"
		"                    (deploy/sysctl.d/90-dwcp-net.conf)\n");
}

/* `tune` takes exactly one of --check and --print-conf; --json only
 * with --check. */
static int tune(bool check, bool print_conf, bool json)
{
	if (check == print_conf || (print_conf && json)) {
		fprintf(stderr, "dwcpctl tune: expected --check [--json] or --print-conf\n");
		usage(stderr);
		return 2;
	}
	return check ? sup_cli_tune_check(json) : sup_cli_tune_print_conf();
}

/* `dwcpctl [--instance X] [--run-dir D] profile ARGS...`: the sampler is
 * svc-prof's (the profiler room); run the svc-prof binary beside this one
 * as a command with the node options and ARGS. @return -1 when argv is
 * not a profile command line, else what exec failed with. */
static int profile(int argc, char **argv)
{
	char self[PATH_MAX], exe[PATH_MAX + 16], *args[64];
	int k = 1, n = 0;
	ssize_t len;

	while (k + 1 < argc && (!strcmp(argv[k], "--instance") || !strcmp(argv[k], "--run-dir")))
		k += 2;
	if (k >= argc || strcmp(argv[k], "profile") || argc - k + 8 > (int)(sizeof(args) / sizeof(args[0])))
		return -1;
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[len > 0 ? len : 0] = '\0';
	snprintf(exe, sizeof(exe), "%s/svc-prof", dirname(self));
	args[n++] = exe;
	args[n++] = "profile";
	for (int i = 1; i < k; i++)
		args[n++] = argv[i];
	for (int i = k + 1; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	execv(exe, args);
	fprintf(stderr, "dwcpctl profile: cannot run %s: %s (it is installed beside dwcpctl)\n", exe,
		strerror(errno));
	return 1;
}

struct one {
	const char *run_dir, *instance, *cmd, *binary;
	int timeout_s;
};

static int one_slot(const struct one *o, const char *svc)
{
	if (!strcmp(o->cmd, "upgrade"))
		return sup_cli_upgrade(o->run_dir, o->instance, svc, o->binary);
	if (!strcmp(o->cmd, "drain"))
		return sup_cli_drain(o->run_dir, o->instance, svc, o->timeout_s);
	if (!strcmp(o->cmd, "resume"))
		return sup_cli_resume(o->run_dir, o->instance, svc);
	return sup_cli_restart(o->run_dir, o->instance, svc);
}

/* A service named without a worker number means all its workers, the
 * service's own slot first and then one worker at a time, so that the
 * others serve while each one is upgraded or restarted; "svc-simd.2" is
 * that worker alone. */
static int each_worker(const struct one *o, const char *svc)
{
	char names[64][32];
	int rc = one_slot(o, svc), n;

	if (rc || strchr(svc, '.'))
		return rc;
	n = sup_cli_workers_of(o->run_dir, o->instance, svc, names, 64);
	for (int i = 0; i < n; i++) {
		rc = one_slot(o, names[i]);
		if (rc) {
			fprintf(stderr, "dwcpctl %s %s: stopped at %s (%d of its workers done before it): "
					"`dwcpctl %s %s%s%s` for it and the workers after it once the cause "
					"above is fixed\n", o->cmd, svc, names[i], i + 1, o->cmd, names[i],
				o->binary ? " --binary " : "", o->binary ? o->binary : "");
			return rc;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "instance", required_argument, NULL, 'i' }, { "run-dir", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ "check", no_argument, NULL, 'c' }, { "print-conf", no_argument, NULL, 'p' },
		{ "binary", required_argument, NULL, 'b' }, { "timeout", required_argument, NULL, 't' },
		{ "once", no_argument, NULL, 'o' }, { "count", required_argument, NULL, 'n' },
		{ "interval", required_argument, NULL, 'I' }, { "config", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	const char *instance = DWCP_DEFAULT_INSTANCE, *run_dir = NULL, *cmd, *binary = NULL, *config = NULL;
	bool json = false, check = false, print_conf = false, top_opts = false, instance_given = false;
	int c, timeout_s = 30;
	unsigned count = 0, interval_ms = 1000;
	double d;
	char *end;

	dwcp_log_init("dwcpctl", DWCP_LOG_INFO);
	if ((c = profile(argc, argv)) >= 0)
		return c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'i': instance = optarg, instance_given = true; break;
		case 'r': run_dir = optarg; break;
		case 'j': json = true; break;
		case 'c': check = true; break;
		case 'p': print_conf = true; break;
		case 'b': binary = optarg; break;
		case 't':
			timeout_s = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || timeout_s < 1 || timeout_s > 3600) {
				fprintf(stderr, "dwcpctl: --timeout '%s': give 1..3600 seconds\n",
					optarg);
				return 2;
			}
			break;
		case 'o': count = 1, top_opts = true; break;
		case 'C': config = optarg; break;
		case 'n':
			d = strtod(optarg, &end);
			if (*end || end == optarg || d < 1 || d > 1e6 || d != (unsigned)d) {
				fprintf(stderr, "dwcpctl: --count '%s': give a number of frames, 1..1000000\n", optarg);
				return 2;
			}
			count = (unsigned)d, top_opts = true;
			break;
		case 'I':
			d = strtod(optarg, &end);
			if (*end || end == optarg || !(d >= 0.1 && d <= 3600)) {
				fprintf(stderr, "dwcpctl: --interval '%s': give 0.1..3600 seconds\n", optarg);
				return 2;
			}
			interval_ms = (unsigned)(d * 1000), top_opts = true;
			break;
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
	if (strcmp(cmd, "tune") == 0 && optind + 1 == argc)
		return tune(check, print_conf, json);
	if ((check || print_conf) && strcmp(cmd, "tune") != 0) {
		fprintf(stderr, "dwcpctl: --check and --print-conf go with the tune command only\n");
		usage(stderr);
		return 2;
	}
	if ((binary != NULL) != (strcmp(cmd, "upgrade") == 0)) {
		fprintf(stderr, "dwcpctl: upgrade takes --binary PATH, and --binary goes with upgrade only\n");
		usage(stderr);
		return 2;
	}
	if (optind + 2 == argc && (!strcmp(cmd, "upgrade") || !strcmp(cmd, "drain") ||
				   !strcmp(cmd, "resume") || !strcmp(cmd, "restart"))) {
		struct one o = { run_dir, instance, cmd, binary, timeout_s };

		return each_worker(&o, argv[optind + 1]);
	}
	if (top_opts && strcmp(cmd, "top") != 0) {
		fprintf(stderr, "dwcpctl: --once, --count and --interval go with the top command only\n");
		usage(stderr);
		return 2;
	}
	if (config && strcmp(cmd, "doctor") != 0) {
		fprintf(stderr, "dwcpctl: --config goes with the doctor command only\n");
		usage(stderr);
		return 2;
	}
	if (strcmp(cmd, "doctor") == 0 && optind + 1 == argc)
		return sup_cli_doctor(run_dir, instance, !instance_given, config, json);
	if (strcmp(cmd, "top") == 0 && optind + 1 == argc)
		return sup_cli_top(run_dir, instance, json, count, interval_ms);
	if (strcmp(cmd, "status") == 0 && optind + 1 == argc)
		return sup_cli_status(run_dir, instance, json);
	if (strcmp(cmd, "stop") == 0 && optind + 1 == argc)
		return sup_cli_stop(run_dir, instance, 60);
	fprintf(stderr, "dwcpctl: bad command line: '%s'%s\n", cmd,
		optind + 1 < argc ? " with unexpected arguments" : "");
	usage(stderr);
	return 2;
}
